"""Storing votes exactly once, from the API (``POST /api/v1/votes``) and from CSV imports.

Exactly-once rests on the unique constraint (terminal_id, vote_id) and on
``INSERT … ON CONFLICT DO NOTHING RETURNING vote_id``: whatever the database returns was stored
by this request (accepted); every other valid vote was already there (duplicate). That holds
with several app processes writing at once, on SQLite and on PostgreSQL. The same
transaction adds exactly the stored votes to the rollups the dashboard reads
(``district.rollups.add_votes``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from ballot import spreadsheet
from ballot.usb import EXPORT_COLUMNS, OPTIONAL_TEXT_COLUMNS, REQUIRED_COLUMNS
from ballot.validation import validation_details
from ballot.wire import INT64_MAX
from district import clock, dossiers, redating, rollups
from district.auth import AuthenticatedTerminal
from district.db import (
    dialect_insert,
    rejected_votes,
    terminal_boots,
    terminals,
    utcnow,
    votes,
    write_transaction,
)
from district.errors import N_, DistrictError
from district.models import RejectedVote, Vote

# Rows per INSERT statement: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
INSERT_CHUNK = 500
# A boot's R - M never drops by more than this at once (district.clock: TRANSIT_MAX + the
# drift of a year's BOOTTIME, rounded up)
EPOCH_GUARD_US = 3600 * 1_000_000
log = logging.getLogger(__name__)
DEADLOCK_RETRIES = 3


@dataclass
class CheckedVote:
    """A valid vote, with the id and recorded_at exactly as the kiosk sent them."""

    vote: Vote
    sent_id: str
    recorded_at_raw: str


@dataclass
class CheckedBatch:
    valid: list[CheckedVote] = field(default_factory=list)
    rejected: list[RejectedVote] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # same id twice in the batch


def describe_errors(exc: ValidationError) -> str:
    """``field: message; …`` — short enough for a JSON answer and a terminal's log.

    pydantic's English, always: the sync agent reads it (``district import`` shows a
    translated description, see ``RowErrors``)."""
    return validation_details(exc.errors(include_url=False, include_input=False))


def check_votes(raw_votes: Iterable[Any]) -> CheckedBatch:
    """Validate votes one by one: a bad vote is rejected alone; a repeated id counts once."""
    batch = CheckedBatch()
    seen: set[str] = set()
    for raw in raw_votes:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        sent_id = raw_id[:100] if isinstance(raw_id, str) else None
        try:
            vote = Vote.model_validate(raw)
        except ValidationError as exc:
            batch.rejected.append(RejectedVote(id=sent_id, error=describe_errors(exc)))
            continue
        if vote.id in seen:
            batch.repeated.append(sent_id)
            continue
        seen.add(vote.id)
        raw_time = raw.get("recorded_at")
        batch.valid.append(CheckedVote(
            vote, sent_id, raw_time if isinstance(raw_time, str) else vote.recorded_at.isoformat()))
    return batch


@dataclass(frozen=True)
class Delivery:
    """How votes reached the server: one HTTP request, or one CSV import."""

    received_at: dt.datetime
    via: str  # "api" | "import"
    sent_at: dt.datetime | None = None
    boot_id: str | None = None
    monotonic_ns: int | None = None

    @property
    def clock_offset(self) -> dt.timedelta | None:
        """Kiosk clock minus server clock when the request was sent (transit included)."""
        return self.sent_at - self.received_at if self.sent_at else None

    def request(self) -> clock.Request:
        return clock.Request(self.received_at, self.sent_at, self.boot_id, self.monotonic_ns)


@functools.cache
def _boot_clock_upsert(dialect: str) -> sa.Insert:
    """Built once per dialect: building ``excluded`` and the CASE costs more than running it."""
    return on_boot_clock_conflict(dialect_insert(dialect, terminal_boots))


def on_boot_clock_conflict(stmt):
    """``stmt`` (an INSERT into terminal_boots) merging into the boot's existing row."""
    old, new = terminal_boots.c, stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["terminal_id", "boot_id"],
        set_={
            # min(R - M): the smallest transit time gives the tightest upper bound; one more
            # than an hour below it is a BOOTTIME that lies (district.clock checks vote
            # batches closer; this guards every writer, heartbeats included)
            "epoch_us": sa.case(
                (old.epoch_us.is_(None), new.epoch_us),
                (new.epoch_us.is_(None), old.epoch_us),
                (sa.and_(new.epoch_us < old.epoch_us,
                         new.epoch_us >= old.epoch_us - EPOCH_GUARD_US), new.epoch_us),
                else_=old.epoch_us),
            "synced_epoch_us": sa.func.coalesce(old.synced_epoch_us, new.synced_epoch_us),
            "samples": old.samples + new.samples,
            "last_seen": new.last_seen,
        })


def vote_rows(terminal_id: str, unit_id: str, checked: Sequence[CheckedVote],
              delivery: Delivery, fixes: Sequence[clock.Correction]) -> list[dict]:
    """The ``votes`` rows, each with its checked time (``fixes``, same order)."""
    rows = []
    for item, fix in zip(checked, fixes, strict=True):
        vote = item.vote
        rows.append({
            "terminal_id": terminal_id, "vote_id": vote.id, "unit_id": unit_id,
            "seq": vote.seq, "level": vote.level, "scale": vote.scale, "source": vote.source,
            "recorded_at": vote.recorded_at, "recorded_at_raw": item.recorded_at_raw[:64],
            "clock_synced": vote.clock_synced, "boot_id": vote.boot_id,
            "monotonic_ns": vote.monotonic_ns, "flags": ";".join(dict.fromkeys(vote.flags)),
            "reasons": ";".join(dict.fromkeys(vote.reasons)), "counter": vote.counter,
            "officer": vote.officer, "dossier_code": vote.dossier_code,
            "received_at": delivery.received_at, "corrected_at": fix.corrected_at,
            "time_method": fix.method, "time_uncertain": fix.uncertain, "via": delivery.via,
        })
    rows.sort(key=lambda r: r["vote_id"])  # one lock order: concurrent batches cannot deadlock
    return rows


def store_votes(conn: Connection, terminal_id: str, unit_id: str,
                checked: Sequence[CheckedVote], delivery: Delivery,
                unit_chain: Sequence[str] = ()) -> set[str]:
    """Insert the votes that are new; returns the (canonical) ids stored by this call.
    ``unit_chain`` (the unit up to the root), when the caller read it already, spares the
    rollups a query."""
    # The clock (district.clock, district.redating): what is known of the boots, every time
    # checked, the evidence believed learned, earlier votes re-dated if it moved their boot.
    chains = {unit_id: list(unit_chain)} if unit_chain else None
    known = redating.read_boots(conn, terminal_id, {c.vote.boot_id for c in checked}
                                | ({delivery.boot_id} if delivery.boot_id else set()))
    dating = clock.date_batch([_vote_time(c.vote) for c in checked], delivery.request(),
                              {b: k.clock for b, k in known.items()})
    for boot_id, why in dating.refused:
        log.warning("terminal %s, boot %s: request BOOTTIME not believed (%s)",
                    terminal_id, boot_id, why)
    if boot_rows := redating.boot_rows(terminal_id, dating, delivery.received_at):
        conn.execute(_boot_clock_upsert(conn.dialect.name),
                     boot_rows[0] if len(boot_rows) == 1 else boot_rows)
    moves = redating.keep_dating(conn, terminal_id, known, dating, delivery.received_at)
    rows = vote_rows(terminal_id, unit_id, checked, delivery, dating.corrections)
    if not rows:
        if moves.before:
            rollups.move_votes(conn, moves.before, moves.after, chains)
        return set()
    claimed = dossiers.claim(conn, rows)  # one counted rating per dossier (repeat_dossier)
    stored = _insert_votes(conn, rows)
    if claimed:
        dossiers.release_unstored(conn, claimed, rows, stored)
    if stored:
        redating.mark_votes(conn, terminal_id, [
            (c.vote.id, fix.reason) for c, fix in zip(checked, dating.corrections, strict=True)
            if fix.reason and c.vote.id in stored], delivery.received_at)
    # The rollups, in this transaction, for exactly the votes stored now (one grouped
    # upsert per rollup table, not a per-row trigger), and the earlier votes re-dated moved
    # to their new buckets in the same upserts (one lock order for the transaction).
    new = [r for r in rows if r["vote_id"] in stored]
    if moves.before:
        rollups.move_votes(conn, moves.before, moves.after + new, chains)
    elif new:
        rollups.add_votes(conn, new, chains)
    return stored


def _vote_time(vote: Vote) -> clock.VoteTime:
    return clock.VoteTime(vote.seq, vote.recorded_at, vote.clock_synced, vote.boot_id,
                          vote.monotonic_ns)


def _insert_votes(conn: Connection, rows: list[dict]) -> set[str]:
    if conn.dialect.name == "postgresql":
        return _insert_votes_unnest(conn, rows)
    # executemany of one cached statement: SQLAlchemy's "insertmanyvalues" sends it as
    # multi-row INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING RETURNING vote_id pages
    # (compiling a literal 500-row VALUES each time would cost more than the insert).
    stmt = (dialect_insert(conn, votes)
            .on_conflict_do_nothing(index_elements=["terminal_id", "vote_id"])
            .returning(votes.c.vote_id))
    result = conn.execution_options(insertmanyvalues_page_size=INSERT_CHUNK).execute(stmt, rows)
    return set(result.scalars())


# PostgreSQL: one INSERT … SELECT FROM unnest(column arrays): the query text is the same
# whatever the batch size (psycopg caches and prepares it), and 22 array parameters bind far
# faster than 11,000 scalar ones.
_PG_ARRAY_TYPES = {sa.String: "text", sa.BigInteger: "bigint", sa.SmallInteger: "smallint",
                   sa.Boolean: "boolean", sa.DateTime: "timestamptz"}


def _pg_array_type(column: sa.Column) -> str:
    impl = getattr(column.type, "impl", column.type)
    for kind, name in _PG_ARRAY_TYPES.items():
        if isinstance(impl, kind):
            return name + "[]"
    raise TypeError(f"no array type for {column.name}")


_VOTE_COLUMNS = [c for c in votes.columns if c.name != "pk"]
_PG_UNNEST_INSERT = sa.text(
    f"INSERT INTO votes ({', '.join(c.name for c in _VOTE_COLUMNS)}) "
    f"SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c.name} AS {_pg_array_type(c)})" for c in _VOTE_COLUMNS)
    + ") ON CONFLICT (terminal_id, vote_id) DO NOTHING RETURNING vote_id")


def _insert_votes_unnest(conn: Connection, rows: list[dict]) -> set[str]:
    stored: set[str] = set()
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        params = {c.name: [row[c.name] for row in chunk] for c in _VOTE_COLUMNS}
        stored.update(conn.execute(_PG_UNNEST_INSERT, params).scalars())
    return stored


# Who is sending, found inside the write transaction. The API's version checks the token
# there (one connection, one round trip less) and raises to refuse.
Identify = Callable[[Connection], AuthenticatedTerminal]


def ingest_batch(engine: Engine, terminal_id: str, unit_id: str, raw_votes: list[Any],
                 delivery: Delivery) -> tuple[list[str], list[str], list[RejectedVote]]:
    """One batch of a terminal already known: returns (accepted, duplicate, rejected)."""
    terminal = AuthenticatedTerminal(terminal_id, unit_id)
    return ingest_batch_for(engine, lambda _conn: terminal, raw_votes, delivery)


def ingest_batch_for(engine: Engine, identify: Identify, raw_votes: list[Any],
                     delivery: Delivery) -> tuple[list[str], list[str], list[RejectedVote]]:
    """One API batch: returns (accepted, duplicate, rejected), ids as the kiosk sent them.

    ``identify`` runs first in the write transaction; whatever it raises refuses the batch
    with nothing stored."""
    checked = check_votes(raw_votes)
    for attempt in range(DEADLOCK_RETRIES):
        try:
            with write_transaction(engine) as conn:
                terminal = identify(conn)
                stored = store_votes(conn, terminal.id, terminal.unit_id, checked.valid,
                                     delivery, terminal.unit_chain)
                if checked.rejected:
                    conn.execute(rejected_votes.insert(), [
                        {"terminal_id": terminal.id, "vote_id": r.id, "error": r.error[:2000],
                         "received_at": delivery.received_at} for r in checked.rejected])
            break
        except sa.exc.OperationalError as exc:
            # PostgreSQL deadlock (40P01) / serialization failure (40001): nothing was stored,
            # so trying again is safe. Anything else is a real error.
            code = getattr(exc.orig, "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    accepted = [c.sent_id for c in checked.valid if c.vote.id in stored]
    duplicate = [c.sent_id for c in checked.valid if c.vote.id not in stored] + checked.repeated
    return accepted, duplicate, checked.rejected


# --- CSV import (`kiosk export` → `district import`) ----------------------------------------

# The columns are ballot.usb's: the ones `kiosk export` writes
CSV_COLUMNS = EXPORT_COLUMNS
CSV_REQUIRED = REQUIRED_COLUMNS
CSV_OPTIONAL_TEXT = OPTIONAL_TEXT_COLUMNS
CSV_MAX_ERRORS = 10
ASCII_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    duplicates: int
    by_terminal: dict[str, int]


def _csv_row_to_vote(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the JSON-like dict the API receives (same validation afterwards)."""
    vote: dict[str, Any] = {k: row[k] for k in CSV_COLUMNS if k in row and k != "terminal_id"}
    for name in ("flags", "reasons"):
        text = vote.get(name) or ""
        vote[name] = [part.strip() for part in text.split(";") if part.strip()]
    synced = (vote.get("clock_synced") or "").strip().lower()
    vote["clock_synced"] = {"1": True, "0": False, "true": True, "false": False}.get(synced, synced)
    for name in ("seq", "level", "scale", "monotonic_ns"):
        text = (vote.get(name) or "").strip()
        # ASCII digits only: str.isdigit() and int() also take "²" (then fail) and "٣"
        # (as 3). Else left as text, and validation names the column.
        if ASCII_INTEGER.fullmatch(text):
            # past int64 (up to the 5,000-digit ones int() refuses): a number the range
            # check refuses, so the message says how large it may be
            vote[name] = int(text) if len(text) <= 20 else (INT64_MAX + 1) * (
                -1 if text.startswith("-") else 1)
    for name in CSV_OPTIONAL_TEXT:
        vote[name] = from_spreadsheet(vote.get(name) or "") or None
    return vote


# What kiosk export did to a text a spreadsheet would compute, undone once.
from_spreadsheet = spreadsheet.restore


def read_export_csv(path: str | Path) -> dict[str, list[CheckedVote]]:
    """Parse and validate a ``kiosk export`` file: votes grouped by terminal id.

    Raises ``DistrictError`` naming the line and column of the first bad rows.
    """
    path = Path(path)
    errors: list[tuple[int, str, str]] = []  # (line, column, problem)
    by_terminal: dict[str, list[CheckedVote]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            twice = sorted({c for c in header if header.count(c) > 1})
            if twice:  # DictReader would keep the last one and silently drop the other
                raise DistrictError(
                    N_("{path}, line 1: the header names {columns} more than once; each "
                       "column must appear once, as kiosk export writes it; nothing "
                       "imported"), path=path, columns=",".join(twice))
            missing = [c for c in CSV_REQUIRED if c not in header]
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if missing or unknown:
                raise DistrictError(
                    N_("{path}, line 1: the header must be {expected} (missing: {missing}; "
                       "unknown: {unknown})"), path=path, expected=",".join(CSV_COLUMNS),
                    missing=",".join(missing) or "-", unknown=",".join(unknown) or "-")
            for row in reader:
                line = reader.line_num
                problem = _check_csv_row(row, by_terminal)
                if problem:
                    errors.append((line, *problem))
                    if len(errors) >= CSV_MAX_ERRORS:
                        break
    except OSError as exc:
        raise DistrictError(N_("cannot read {path}: {error}"), path=path, error=exc.strerror) \
            from exc
    except UnicodeDecodeError as exc:
        raise DistrictError(N_("{path} is not UTF-8 text: {error}"), path=path, error=exc) \
            from exc
    except csv.Error as exc:
        raise DistrictError(N_("{path}: not a valid CSV file: {error}"), path=path, error=exc) \
            from exc
    if errors:
        raise CsvRowsError(path, errors)
    return by_terminal


class RowErrors(str):
    """A bad row's problems: ``describe_errors``' English text, and pydantic's errors to say
    them in the reader's language (``translated``)."""

    errors: list

    def __new__(cls, exc: ValidationError) -> RowErrors:
        self = super().__new__(cls, describe_errors(exc))
        self.errors = exc.errors(include_url=False, include_input=False)
        return self

    def translated(self, gettext) -> str:
        return validation_details(self.errors, gettext)


class CsvRowsError(DistrictError):
    """Bad rows of an import file, each with its line and column; nothing was imported."""

    def __init__(self, path: Path, rows: list[tuple[int, str, str]]):
        self.rows = rows
        text = "\n".join(f"line {line}, column {column}: {problem}"
                         for line, column, problem in rows)
        super().__init__(N_("{path}: nothing imported, bad rows:\n{errors}"),
                         path=path, errors=text)

    def translated(self, gettext) -> str:
        lines = [gettext("line {line}, column {column}: {problem}").format(
                     line=line, column=column,
                     problem=problem.translated(gettext) if isinstance(problem, RowErrors)
                     else gettext(problem))
                 for line, column, problem in self.rows]
        return gettext(self.message).format(path=self.params["path"], errors="\n".join(lines))


def _check_csv_row(row: dict, by_terminal: dict[str, list[CheckedVote]]
                   ) -> tuple[str, str] | None:
    """Validate one row into ``by_terminal``; returns (column, problem) when bad."""
    if None in row or any(v is None for v in row.values()):
        return "*", N_("the row does not have the header's number of columns")
    terminal_id = row["terminal_id"].strip()
    if not terminal_id:
        return "terminal_id", N_("empty")
    try:
        vote = Vote.model_validate(_csv_row_to_vote(row))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        column = str(first["loc"][0]) if first["loc"] else "*"
        return column, RowErrors(exc)
    by_terminal.setdefault(terminal_id, []).append(
        CheckedVote(vote, row["id"], row["recorded_at"]))
    return None


def import_csv(engine: Engine, path: str | Path) -> ImportSummary:
    """Import a ``kiosk export`` CSV all-or-nothing; votes already stored count as duplicates."""
    by_terminal = read_export_csv(path)
    with engine.connect() as conn:
        units_of = dict(conn.execute(
            sa.select(terminals.c.id, terminals.c.unit_id)
            .where(terminals.c.id.in_(sorted(by_terminal)))).all())
    unknown = sorted(set(by_terminal) - set(units_of))
    if unknown:
        raise DistrictError(
            N_("{path}: unknown terminal(s) {terminals}: register them first with "
               "'district terminals add'; nothing imported"),
            path=path, terminals=", ".join(unknown))
    delivery = Delivery(received_at=utcnow(), via="import")
    imported = duplicates = 0
    counts: dict[str, int] = {}
    with write_transaction(engine) as conn:
        for terminal_id, checked in sorted(by_terminal.items()):
            unique = {c.vote.id: c for c in checked}
            stored = store_votes(conn, terminal_id, units_of[terminal_id],
                                 list(unique.values()), delivery)
            counts[terminal_id] = len(stored)
            imported += len(stored)
            duplicates += len(checked) - len(stored)
    return ImportSummary(imported, duplicates, counts)
