"""The rollups: votes counted per unit and ancestor, terminal, counter and officer, per
local day, month and hour, kept by the ingest transaction itself.

Storage, not dashboard: the ingest (``district.ingest``) and the unit loader
(``district.fleet``) keep them, the dashboard (``district.dashboard.aggregates``) reads
them; this module imports neither. What each count column counts is defined once in
``district.counting``.

``add_votes`` runs in the transaction of the vote INSERT, with the rows that
``INSERT … ON CONFLICT DO NOTHING RETURNING`` stored (duplicates are never counted), and
adds them with **one grouped upsert per rollup table per batch**
(``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``, rows in key order; on
PostgreSQL the seven are CTEs of one statement). So:

- a rolled-back batch leaves nothing; two processes ingesting at once both add (the upsert
  takes the row lock; one key order everywhere, and the ingest retries a deadlock);
- there is no "last processed id" watermark that could miss a vote committed out of order;
- a batch of 500 votes costs a handful of small statements instead of 2 upserts per vote
  (the per-row trigger ``dash_rollup_vote`` of revision d0001, dropped by d0002).

The unit rollups count each vote in its unit and every ancestor (``units.parent_id``),
read with a recursive query inside the same transaction (no cache to invalidate). When a
unit moves (``district units load`` changes a parent), ``district.fleet.load_units`` calls
``rebuild`` in its transaction. Votes are never updated or deleted by the server;
``rebuild`` recomputes everything from ``votes`` (after a bulk load, or if ``district
rollups check`` finds a difference). The migrations carry their own copy of the SQL they
ran (a revision never changes), so this module is only today's.

Buckets are local Vietnamese time (Asia/Ho_Chi_Minh is UTC+7 all year, no DST): the hour
bucket is ``floor((epoch_seconds + 25200) / 3600)``, the day bucket the same over 86400,
the month bucket (year − 1970) × 12 + month − 1 of the local day.

A vote whose time is unknown (``time_uncertain``, district.clock) has no hour, day or month:
it is counted in the bucket ``UNKNOWN`` (−1: day, month and hour alike), which no period
reaches (every period starts in 1970 or later), so heat maps, trends and period figures
leave it out, while a sum over every bucket (a terminal's lifetime) still has it. Re-dating
(``move_votes``, district.redating) moves a vote between buckets, ``UNKNOWN`` included, in
the transaction that changes its time.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district import attribution_rollups
from district.counting import COUNT_COLUMNS, LEVEL_COLUMNS, count_sql, vote_counts
from district.db import MAX_UNIT_DEPTH, dialect_insert

# --- the tables (created by migrations d0002 and d0004) ------------------------------------
#
# Buckets are local (Asia/Ho_Chi_Minh, UTC+7, no DST) days / hours since 1970-01-01 00:00
# local, or months since January 1970.
#
# ``dash_unit_day`` / ``dash_unit_month``: one row per (unit, bucket, scale, own) for EVERY
# ancestor-or-self unit of the vote's unit (a commune's vote counts in the commune, its
# district and its province); ``own`` = 1 for the vote's own unit, 0 for the ancestors, so a
# unit's own terminals are ``own = 1`` and its whole subtree is both. A province's year is
# 12 (or 365) rows per scale, whatever the number of terminals.
# ``dash_unit_hour``: the same per local hour (the hour × weekday heat map), levels only.
# ``dash_terminal_day`` / ``dash_terminal_month``: per terminal (and the unit it voted in),
# for the terminal lists.
# ``dash_officer_day`` / ``dash_officer_month``: per unit and (counter, officer on duty) as
# the kiosk recorded them ("" for none), the votes' own unit only.
# The count columns: ``district.counting.COUNTS``.

metadata = sa.MetaData()


def _counts(columns: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in columns]


def _key(name: str, kind=sa.Integer) -> sa.Column:
    return sa.Column(name, kind, primary_key=True, autoincrement=False)


def _unit_rollup(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger), _key("own", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
    )


def _terminal_rollup(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
        sa.Index(f"ix_{name}_unit_{bucket}", "unit_id", bucket),
        sa.Index(f"ix_{name}_{bucket}", bucket),
    )


def _officer_rollup(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("counter", sa.String(100), primary_key=True),
        sa.Column("officer", sa.String(200), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
        sa.Index(f"ix_{name}_unit_{bucket}", "unit_id", bucket),
        # one officer's page (d0010): their rows only, not every officer's of the units
        sa.Index(f"ix_{name}_officer_{bucket}", "officer", bucket),
    )


unit_day = _unit_rollup("dash_unit_day", "day")
unit_month = _unit_rollup("dash_unit_month", "month")
unit_hour = sa.Table(
    "dash_unit_hour", metadata,
    sa.Column("unit_id", sa.String(64), primary_key=True),
    _key("hour"), _key("scale", sa.SmallInteger),
    *_counts(LEVEL_COLUMNS),
)
terminal_day = _terminal_rollup("dash_terminal_day", "day")
terminal_month = _terminal_rollup("dash_terminal_month", "month")
officer_day = _officer_rollup("dash_officer_day", "day")
officer_month = _officer_rollup("dash_officer_month", "month")
ROLLUPS = (terminal_day, terminal_month, unit_day, unit_month, unit_hour, officer_day,
           officer_month)
ROLLUP_TABLES = {t.name: t for t in ROLLUPS}

# --- local time buckets --------------------------------------------------------------------

UTC_OFFSET_S = 7 * 3600
LOCAL_TZ = dt.timezone(dt.timedelta(seconds=UTC_OFFSET_S), "ICT")
EPOCH_LOCAL = dt.date(1970, 1, 1)


def local_day(d: dt.date) -> int:
    return (d - EPOCH_LOCAL).days


def day_date(day: int) -> dt.date:
    return EPOCH_LOCAL + dt.timedelta(days=day)


def month_index(d: dt.date) -> int:
    return (d.year - 1970) * 12 + d.month - 1


def month_start(month: int) -> dt.date:
    return dt.date(1970 + month // 12, month % 12 + 1, 1)


def local_hour_of(moment: dt.datetime) -> int:
    return (int(moment.timestamp()) + UTC_OFFSET_S) // 3600


UNKNOWN = -1  # the bucket (hour, day and month) of votes whose time is unknown


def hour_bucket(row: dict) -> int:
    """A vote row's local hour, or ``UNKNOWN`` when its time is uncertain."""
    return UNKNOWN if row.get("time_uncertain") else local_hour_of(row["corrected_at"])


# --- kept by the ingest ---------------------------------------------------------------------

_ANCESTORS = sa.text(
    "WITH RECURSIVE chain(id, depth) AS ("
    " SELECT CAST(:unit AS VARCHAR(64)), 0"
    " UNION ALL SELECT u.parent_id, chain.depth + 1 FROM chain JOIN units u ON u.id = chain.id"
    f" WHERE u.parent_id IS NOT NULL AND chain.depth < {MAX_UNIT_DEPTH})"
    " SELECT id FROM chain ORDER BY depth")


def ancestors_or_self(conn: Connection, unit_id: str) -> list[str]:
    """The unit, its parent, … up to the root, as the units table says now."""
    return list(conn.execute(_ANCESTORS, {"unit": unit_id}).scalars())


def _add(acc: dict, key: tuple, vec: Sequence[int], times: int = 1) -> None:
    cur = acc.get(key)
    if cur is None:
        acc[key] = [x * times for x in vec]
    else:
        for i, x in enumerate(vec):
            cur[i] += x * times


_STATEMENTS: dict[tuple[str, str], sa.Insert] = {}


def _upsert_statement(conn: Connection, table: sa.Table) -> sa.Insert:
    key = (conn.dialect.name, table.name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        counts = [c.name for c in table.columns if not c.primary_key]
        ins = dialect_insert(conn, table)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={c: table.c[c] + ins.excluded[c] for c in counts})
        _STATEMENTS[key] = stmt
    return stmt


def _rows(table: sa.Table, acc: dict) -> list[dict]:
    keys = [c.name for c in table.primary_key.columns]
    counts = [c.name for c in table.columns if not c.primary_key]
    return [dict(zip(keys, k, strict=True)) | dict(zip(counts, v, strict=True))
            for k, v in sorted(acc.items())]  # key order: one lock order in every process


def _upsert(conn: Connection, table: sa.Table, acc: dict) -> None:
    if not acc:
        return
    rows = _rows(table, acc)
    # one row (a small batch within one hour) is a plain execute, not an executemany
    conn.execute(_upsert_statement(conn, table), rows[0] if len(rows) == 1 else rows)


@functools.cache
def _pg_upsert_all(tables: tuple[str, ...]) -> sa.TextClause:
    """PostgreSQL: every rollup in one statement (one round trip instead of seven), each
    table's rows as one JSON parameter read by ``json_populate_recordset`` (binding one text
    is far cheaper than a dozen arrays). PostgreSQL promises no order among data-modifying
    CTEs; every process runs this same statement on rows sorted by key, and should two
    batches still deadlock, the ingest retries (``DEADLOCK_RETRIES``)."""
    parts = []
    for i, name in enumerate(tables):
        table = ROLLUP_TABLES[name]
        keys = [c.name for c in table.primary_key.columns]
        counts = [c.name for c in table.columns if not c.primary_key]
        cols = ", ".join(keys + counts)
        adds = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in counts)
        parts.append(
            f"u{i} AS (INSERT INTO {name} ({cols}) SELECT {cols} FROM json_populate_recordset("
            f"NULL::{name}, CAST(:r{i} AS json)) ON CONFLICT ({', '.join(keys)}) "
            f"DO UPDATE SET {adds})")
    return sa.text("WITH " + ", ".join(parts) + " SELECT 1")


def _upsert_all_pg(conn: Connection, accs) -> None:
    live = [(table, acc) for table, acc in accs if acc]
    if not live:
        return
    stmt = _pg_upsert_all(tuple(table.name for table, _acc in live))
    conn.execute(stmt, {f"r{i}": json.dumps(_rows(table, acc), separators=(",", ":"))
                        for i, (table, acc) in enumerate(live)})


def _vote_key(r: dict) -> tuple:
    return (r["terminal_id"], r["unit_id"], hour_bucket(r), r["scale"], r["level"],
            r["flags"] or "", r["reasons"] or "", r.get("counter") or "", r.get("officer") or "")


def add_votes(conn: Connection, rows: Iterable[dict],
              chains: dict[str, list[str]] | None = None) -> int:
    """Count stored vote rows (dicts of ``votes`` columns) into every rollup; returns how
    many. Call it in the transaction that inserted them, with only the rows it inserted.
    ``chains`` (unit → unit, parent, … root) may bring chains already read in this
    transaction; the others are read here."""
    # First the distinct (terminal, unit, hour, scale, level, flags, reasons) with their
    # number of votes (a C-level Counter: a batch of 500 has a few dozen), then the buckets.
    same = Counter(_vote_key(r) for r in rows)
    _count(conn, same, chains)
    return sum(same.values())


def move_votes(conn: Connection, before: Iterable[dict], after: Iterable[dict],
               chains: dict[str, list[str]] | None = None) -> int:
    """Votes re-dated: take ``before`` (their rows as they were counted) out of the rollups
    and count ``after`` (the same votes, new time) in, in one pass; a vote that stays in
    its hour costs nothing. Returns how many (vote, bucket) changes there were."""
    delta = Counter(_vote_key(r) for r in after)
    delta.subtract(_vote_key(r) for r in before)
    delta = Counter({k: n for k, n in delta.items() if n})
    _count(conn, delta, chains)
    return sum(abs(n) for n in delta.values())


def _count(conn: Connection, same: Counter, chains: dict[str, list[str]] | None) -> None:
    """Add ``same`` ({vote key: number of votes, maybe negative}) to every rollup."""
    chains = dict(chains or {})
    t_day: dict = {}
    t_month: dict = {}
    u_day: dict = {}
    u_month: dict = {}
    u_hour: dict = {}
    o_day: dict = {}
    o_month: dict = {}
    months: dict[int, int] = {}
    for (terminal, unit, hour, scale, level, flags, reasons, counter, officer), n in same.items():
        chain = chains.get(unit)
        if chain is None:
            chain = chains[unit] = ancestors_or_self(conn, unit) or [unit]
        vec = vote_counts(level, flags, reasons)
        day = hour // 24 if hour != UNKNOWN else UNKNOWN
        month = months.get(day)
        if month is None:
            month = months[day] = month_index(day_date(day)) if day != UNKNOWN else UNKNOWN
        _add(t_day, (terminal, unit, day, scale), vec, n)
        _add(t_month, (terminal, unit, month, scale), vec, n)
        _add(o_day, (unit, counter, officer, day, scale), vec, n)
        _add(o_month, (unit, counter, officer, month, scale), vec, n)
        levels = vec[:5]
        for u in chain:
            own = int(u == unit)
            _add(u_day, (u, day, scale, own), vec, n)
            _add(u_month, (u, month, scale, own), vec, n)
            _add(u_hour, (u, hour, scale), levels, n)
    accs = ((terminal_day, t_day), (terminal_month, t_month), (unit_day, u_day),
            (unit_month, u_month), (unit_hour, u_hour), (officer_day, o_day),
            (officer_month, o_month))
    if conn.dialect.name == "postgresql":
        _upsert_all_pg(conn, accs)
    else:
        for table, acc in accs:
            _upsert(conn, table, acc)


# --- recomputation from votes (rebuild, check) ----------------------------------------------

def _epoch(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(floor(extract(epoch from {column})) AS bigint)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def bucket_sql(dialect: str, column: str, seconds: int) -> str:
    # epochs are positive (votes are after 1970), so integer division is floor
    return f"(({_epoch(dialect, column)} + {UTC_OFFSET_S}) / {seconds})"


def vote_bucket_sql(dialect: str, v: str, seconds: int) -> str:
    """The bucket of the ``votes`` row ``v``: ``UNKNOWN`` when its time is uncertain."""
    return (f"(CASE WHEN {v}.time_uncertain THEN {UNKNOWN} "
            f"ELSE {bucket_sql(dialect, f'{v}.corrected_at', seconds)} END)")


def month_of_day_sql(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        d = f"(date '1970-01-01' + CAST({day} AS integer))"
        return (f"CAST((extract(year from {d}) - 1970) * 12 + extract(month from {d}) - 1"
                " AS integer)")
    d = f"({day}) * 86400, 'unixepoch'"
    return (f"((CAST(strftime('%Y', {d}) AS INTEGER) - 1970) * 12"
            f" + CAST(strftime('%m', {d}) AS INTEGER) - 1)")


_CLOSURE = (
    "WITH RECURSIVE anc(unit_id, ancestor_id, depth) AS ("
    " SELECT id, id, 0 FROM units"
    " UNION ALL SELECT anc.unit_id, u.parent_id, anc.depth + 1 FROM anc"
    " JOIN units u ON u.id = anc.ancestor_id"
    f" WHERE u.parent_id IS NOT NULL AND anc.depth < {MAX_UNIT_DEPTH}) ")


# The rollups keyed by a vote's own columns (column, SQL over ``votes v``), before the bucket
_TERMINAL_KEYS = (("terminal_id", "v.terminal_id"), ("unit_id", "v.unit_id"))
_OFFICER_KEYS = (("unit_id", "v.unit_id"), ("counter", "COALESCE(v.counter, '')"),
                 ("officer", "COALESCE(v.officer, '')"))
_OWN_KEYS = {terminal_day.name: _TERMINAL_KEYS, terminal_month.name: _TERMINAL_KEYS,
             officer_day.name: _OFFICER_KEYS, officer_month.name: _OFFICER_KEYS}


def _fresh_sql(dialect: str, table: sa.Table) -> str:
    """A SELECT computing ``table``'s rows (in column order) from ``votes``."""
    exprs = count_sql("v")
    cols = [c for c in exprs if c in table.c]
    vote_sums = ", ".join(f"SUM({exprs[c]}) AS {c}" for c in cols)
    re_sum = ", ".join(f"SUM(g.{c})" for c in cols)
    bucket = vote_bucket_sql(dialect, "v", 3600 if table is unit_hour else 86400)
    monthly = "month" in table.c
    keys = _OWN_KEYS.get(table.name)
    if keys:  # keyed by the vote's own columns, no ancestors
        select = ", ".join(f"{expr} AS {name}" for name, expr in keys)
        group = ", ".join(expr for _name, expr in keys)
        inner = (f"SELECT {select}, {bucket} AS b, v.scale, {vote_sums} FROM votes v "
                 f"GROUP BY {group}, {bucket}, v.scale")
        if not monthly:
            return inner
        m = month_of_day_sql(dialect, "g.b")
        names = ", ".join(f"g.{name}" for name, _expr in keys)
        return (f"SELECT {names}, {m}, g.scale, {re_sum} FROM ({inner}) g "
                f"GROUP BY {names}, {m}, g.scale")
    inner = (f"SELECT v.unit_id, {bucket} AS b, v.scale, {vote_sums} FROM votes v "
             f"GROUP BY v.unit_id, {bucket}, v.scale")
    b = month_of_day_sql(dialect, "g.b") if monthly else "g.b"
    if table is unit_hour:
        return (f"{_CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {re_sum} FROM ({inner}) g "
                f"JOIN anc a ON a.unit_id = g.unit_id GROUP BY a.ancestor_id, {b}, g.scale")
    own = "CASE WHEN a.ancestor_id = g.unit_id THEN 1 ELSE 0 END"
    return (f"{_CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {own}, {re_sum} FROM ({inner}) g "
            f"JOIN anc a ON a.unit_id = g.unit_id "
            f"GROUP BY a.ancestor_id, {b}, g.scale, {own}")


def rebuild(conn: Connection, tables: Sequence[sa.Table] = ROLLUPS) -> None:
    """Recompute the rollups (every one, or ``tables``) from ``votes`` inside the caller's
    transaction; a table that does not exist (yet) is skipped.

    On PostgreSQL the votes table is locked against inserts meanwhile (SHARE mode), so the
    result is exact; SQLite's write transaction already excludes other writers.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE votes IN SHARE MODE")
    existing = set(sa.inspect(conn).get_table_names())
    for table in (t for t in tables if t.name in existing):
        conn.execute(table.delete())
        cols = ", ".join(c.name for c in table.columns)
        conn.execute(sa.text(f"INSERT INTO {table.name} ({cols}) {_fresh_sql(dialect, table)}"))
    if tables is ROLLUPS:  # and the dossiers' (coverage, procedures: district.attribution_rollups)
        attribution_rollups.rebuild(conn)


def differences(conn: Connection) -> list[tuple]:
    """(table, row…) where a rollup differs from a fresh computation (empty = exact). A row
    of zeros is no difference (kept: every vote of it re-dated elsewhere; either: votes
    none of its counts counts)."""
    dialect = conn.dialect.name
    out = []
    for table in ROLLUPS:
        n_keys = len(table.primary_key.columns)
        fresh = {tuple(r) for r in conn.execute(sa.text(_fresh_sql(dialect, table)))
                 if any(r[n_keys:])}
        kept = {tuple(r) for r in conn.execute(sa.select(table)) if any(r[n_keys:])}
        out.extend((table.name, *r) for r in fresh ^ kept)
    out.extend(attribution_rollups.differences(conn))
    return sorted(out, key=repr)
