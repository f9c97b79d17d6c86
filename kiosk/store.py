"""The vote store: one SQLite file on the terminal, shared by the capture process (the UI or
``kiosk vote``) and the sync agent.

Why it is safe:

- WAL mode lets the sync agent read while the UI writes; ``synchronous=FULL`` makes every
  commit fsync the WAL, so a vote acknowledged to a citizen survives a power cut.
- Every write is one ``BEGIN IMMEDIATE`` transaction: the write lock is taken up front, so two
  processes never deadlock upgrading a read lock, and a busy timeout waits for the other.
- ``seq`` is the rowid, declared ``AUTOINCREMENT``: SQLite keeps the highest value ever used
  in ``sqlite_sequence``, so it never goes back, even after rows are removed or a crash.

The outbox: every vote has a ``status`` the sync agent moves along::

    held ──(follow-up answered or timed out)──> pending ──claim──> inflight ──> synced
                                                   ▲                  │    └──> rejected
                                                   └──(agent restart)─┘
"""

from __future__ import annotations

import csv
import errno
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ballot import spreadsheet
from ballot.usb import EXPORT_COLUMNS
from kiosk.vote import Flag, Reason, Source, Vote, iso

BUSY_TIMEOUT_MS = 10_000
STATUSES = ("held", "pending", "inflight", "synced", "rejected")
# The backlog: votes not yet accepted or refused by the server (``VoteStore.backlog``)
BACKLOG_STATUSES = ("held", "pending", "inflight")

migrations = Migrations("kiosk-votes")


@migrations()
def m001_votes(db: Database) -> None:
    db.execute("""
        CREATE TABLE votes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            terminal_id TEXT NOT NULL,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND scale),
            scale INTEGER NOT NULL CHECK (scale BETWEEN 2 AND 10),
            source TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            monotonic_ns INTEGER NOT NULL,
            flags TEXT NOT NULL DEFAULT '',
            reasons TEXT NOT NULL DEFAULT '',
            counter TEXT,
            officer TEXT,
            dossier_code TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('held', 'pending', 'inflight', 'synced', 'rejected')),
            reject_error TEXT
        )""")
    # Only unsynced rows are indexed: the outbox scan stays small after years of votes.
    db.execute("CREATE INDEX votes_outbox ON votes (status, seq) WHERE status != 'synced'")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migrations()
def m002_attribution(db: Database) -> None:
    """Who served (docs/attribution.md): duty periods and their outbox, the unit's roster
    (from ``GET /api/v1/officers``) and the dossiers rated here. A period is to be sent
    while ``synced_version < version``: signing out bumps ``version``, so an open period
    already sent is sent again with its end (kiosk.duty, kiosk.sync.duty)."""
    db.execute("""
        CREATE TABLE duty_periods (
            id TEXT PRIMARY KEY,
            officer TEXT NOT NULL,
            counter TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            end_reason TEXT,
            clock_synced INTEGER NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            synced_version INTEGER NOT NULL DEFAULT 0,
            reject_error TEXT
        )""")
    db.execute("CREATE INDEX duty_outbox ON duty_periods (started_at)"
               " WHERE synced_version < version")
    # one officer on duty at a time at this terminal's counter
    db.execute("CREATE UNIQUE INDEX duty_one_open ON duty_periods (ended_at IS NULL)"
               " WHERE ended_at IS NULL")
    db.execute("""
        CREATE TABLE officers (
            code TEXT PRIMARY KEY,
            full_name TEXT NOT NULL,
            badge_issue INTEGER NOT NULL,
            active INTEGER NOT NULL,
            photo BLOB,
            photo_type TEXT
        )""")
    db.execute("CREATE INDEX votes_dossier ON votes (dossier_code)"
               " WHERE dossier_code IS NOT NULL")


class StorageError(Exception):
    """The vote could not be made durable. ``kind`` is one of ``full``, ``read_only``,
    ``unavailable``, ``corrupt``: the UI shows its out-of-order screen, never a thank-you."""

    def __init__(self, kind: str, path: Path, detail: str):
        super().__init__(f"{kind}: {path}: {detail}")
        self.kind = kind
        self.path = path
        self.detail = detail


def _classify(exc: BaseException, path: Path) -> str:
    """What kind of failure, in the UI's and doctor's terms. SQLite's own message is often
    just "unable to open database file", so the filesystem is asked too."""
    try:
        fs = os.statvfs(path.parent if path.parent.exists() else "/")
        if fs.f_flag & os.ST_RDONLY:
            return "read_only"
    except OSError:
        pass
    text = str(exc).lower()
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return "full"
    if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == errno.EROFS:
        return "read_only"
    if "malformed" in text or "not a database" in text:
        return "corrupt"
    return "unavailable"


class VoteStore:
    """All reads and writes of the terminal's votes. One instance per thread."""

    def __init__(self, path: str | Path, terminal_id: str):
        self.path = Path(path)
        self.terminal_id = terminal_id
        with self._guard():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self.conn = conn
            self.db = Database(conn)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            with self.write():
                migrations.apply(self.db)

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite and OS errors into a StorageError the UI and CLI can explain."""
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError, ValueError) as exc:
            # (ValueError: a path SQLite cannot take, such as one with a NUL byte)
            raise StorageError(_classify(exc, self.path), self.path, str(exc)) from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, lock taken up front; committed (and fsynced) on exit."""
        with self._guard():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> VoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- capture side -----------------------------------------------------------------

    def record(self, vote: Vote, *, held: bool = False) -> Vote:
        """Commit one vote; returns it with its ``seq``. When this returns, the vote is on
        disk. ``held`` keeps it from the sync agent until its follow-up answer is in."""
        with self.write() as conn:
            cursor = conn.execute(
                "INSERT INTO votes (id, terminal_id, level, scale, source, recorded_at,"
                " clock_synced, boot_id, monotonic_ns, flags, reasons, counter, officer,"
                " dossier_code, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (vote.id, self.terminal_id, vote.level, vote.scale, str(vote.source),
                 iso(vote.recorded_at), int(vote.clock_synced), vote.boot_id,
                 vote.monotonic_ns, _join(vote.flags), _join(vote.reasons), vote.counter,
                 vote.officer, vote.dossier_code, "held" if held else "pending"))
            seq = cursor.lastrowid
        return replace(vote, seq=seq)

    def add_reasons(self, vote_id: str, reasons: Iterable[Reason]) -> None:
        """The follow-up answer: stored on the held vote, which then becomes pending."""
        with self.write() as conn:
            conn.execute("UPDATE votes SET reasons = ?, status = 'pending'"
                         " WHERE id = ? AND status = 'held'", (_join(reasons), vote_id))

    def release(self, vote_id: str | None = None) -> int:
        """Held votes (one, or all when the capture process starts) become pending."""
        with self.write() as conn:
            if vote_id is None:
                cur = conn.execute("UPDATE votes SET status = 'pending' WHERE status = 'held'")
            else:
                cur = conn.execute("UPDATE votes SET status = 'pending'"
                                   " WHERE id = ? AND status = 'held'", (vote_id,))
            return cur.rowcount

    def flag_unsynced(self, vote_id: str, flag: Flag) -> bool:
        """Add a flag to a vote the server has not seen yet (a vote already uploaded is
        never changed: the heartbeat then carries the fact instead)."""
        with self.write() as conn:
            row = conn.execute("SELECT flags FROM votes WHERE id = ? AND status IN"
                               " ('held', 'pending')", (vote_id,)).fetchone()
            if row is None or str(flag) in _split(row[0]):
                return False
            conn.execute("UPDATE votes SET flags = ? WHERE id = ?",
                         (_join([*_split(row[0]), flag]), vote_id))
            return True

    # -- sync side --------------------------------------------------------------------

    def return_inflight(self) -> int:
        """At sync-agent start: rows claimed by a run that died go back to pending."""
        with self.write() as conn:
            return conn.execute("UPDATE votes SET status = 'pending'"
                                " WHERE status = 'inflight'").rowcount

    def claim(self, limit: int, *, held_older_than_s: float | None = None,
              boot_id: str = "", monotonic_ns: int = 0) -> list[Vote]:
        """Mark up to ``limit`` pending votes in-flight and return them, oldest first.

        Held votes whose follow-up has surely timed out (the capture process died before
        releasing them) are taken too: same boot and older than ``held_older_than_s`` by the
        monotonic clock, or from an earlier boot. Wall time is not trusted for this."""
        held_sql, params = "0", []
        if held_older_than_s is not None:
            held_sql = "(status = 'held' AND (boot_id != ? OR monotonic_ns < ?))"
            params = [boot_id, monotonic_ns - int(held_older_than_s * 1e9)]
        votes = []
        with self.write() as conn:
            rows = conn.execute(
                "UPDATE votes SET status = 'inflight' WHERE seq IN ("
                f" SELECT seq FROM votes WHERE status = 'pending' OR {held_sql}"
                " ORDER BY seq LIMIT ?) RETURNING *", (*params, limit)).fetchall()
            for row in rows:
                try:
                    votes.append(_from_row(row))
                except (ValueError, TypeError) as exc:
                    # A row this software cannot read (edited by hand, or written by a newer
                    # version) must not block every vote queued behind it: keep it, rejected.
                    conn.execute("UPDATE votes SET status = 'rejected', reject_error = ?"
                                 " WHERE seq = ?", (f"unreadable on the terminal: {exc}",
                                                    row["seq"]))
        return sorted(votes, key=lambda v: v.seq)

    def settle(self, synced: Iterable[str], rejected: Iterable[tuple[str, str]]) -> None:
        """One transaction for a whole server answer: no half-applied batch after a crash."""
        with self.write() as conn:
            conn.executemany("UPDATE votes SET status = 'synced', reject_error = NULL"
                             " WHERE id = ?", [(vid,) for vid in synced])
            conn.executemany("UPDATE votes SET status = 'rejected', reject_error = ?"
                             " WHERE id = ?", [(err, vid) for vid, err in rejected])

    def unclaim(self, vote_ids: Iterable[str]) -> None:
        """An upload failed: these votes go back to pending for the next try."""
        with self.write() as conn:
            conn.executemany("UPDATE votes SET status = 'pending' WHERE id = ?"
                             " AND status = 'inflight'", [(vid,) for vid in vote_ids])

    # -- reading ----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._guard():
            rows = self.conn.execute("SELECT status, count(*) FROM votes GROUP BY status")
            found = dict(rows.fetchall())
        counts = {status: found.get(status, 0) for status in STATUSES}
        counts["total"] = sum(found.values())
        return counts

    def backlog(self, counts: dict[str, int] | None = None) -> int:
        """Votes still to be sent (held, pending or in flight): what ``kiosk status`` calls
        waiting, the heartbeat's ``backlog``. ``counts`` (from ``counts()``) spares a read."""
        if counts is None:
            counts = self.counts()
        return sum(counts[status] for status in BACKLOG_STATUSES)

    def duty_backlog(self) -> int:
        """Duty periods still to be sent (a new one, or an end not sent yet): they say who
        served, and are lost with the card like the votes waiting."""
        with self._guard():
            return self.conn.execute("SELECT count(*) FROM duty_periods"
                                     " WHERE synced_version < version").fetchone()[0]

    def get(self, vote_id: str) -> Vote | None:
        with self._guard():
            row = self.conn.execute("SELECT * FROM votes WHERE id = ?", (vote_id,)).fetchone()
        return _from_row(row) if row else None

    def status_of(self, vote_id: str) -> str | None:
        with self._guard():
            row = self.conn.execute("SELECT status FROM votes WHERE id = ?",
                                    (vote_id,)).fetchone()
        return row[0] if row else None

    def all_ids(self) -> set[str]:
        with self._guard():
            return {r[0] for r in self.conn.execute("SELECT id FROM votes")}

    def rejected(self) -> list[tuple[str, str]]:
        with self._guard():
            return [(r[0], r[1]) for r in self.conn.execute(
                "SELECT id, reject_error FROM votes WHERE status = 'rejected' ORDER BY seq")]

    def integrity_ok(self) -> bool:
        with self._guard():
            return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- small shared facts (last sync, stuck buttons) ---------------------------------

    def set_meta(self, **values: object) -> None:
        with self.write() as conn:
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                             " DO UPDATE SET value = excluded.value",
                             [(k, json.dumps(v)) for k, v in values.items()])

    def meta(self, key: str, default: object = None) -> object:
        with self._guard():
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- USB collection ---------------------------------------------------------------

    def export_csv(self, out: IO[str]) -> int:
        """Every local vote, whatever its status, as the CSV ``district import`` reads."""
        # CRLF ends a line (RFC 4180, what Excel writes): the csv module then quotes a text
        # holding a CR too, which with "\n" alone would break its row in two
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        with self._guard():
            for row in self.conn.execute(f"SELECT {', '.join(EXPORT_COLUMNS)} FROM votes"
                                         " ORDER BY seq"):
                writer.writerow(["" if v is None else _inert(v) for v in row])
                count += 1
        return count


# Texts a spreadsheet would compute get an apostrophe, reversibly (ballot.spreadsheet).
_inert = spreadsheet.inert


def _join(items: Iterable[object]) -> str:
    return ";".join(str(item) for item in items)


def _split(text: str) -> list[str]:
    return [part for part in (text or "").split(";") if part]


def _from_row(row: sqlite3.Row) -> Vote:
    return Vote(id=row["id"], seq=row["seq"], level=row["level"], scale=row["scale"],
                source=Source(row["source"]),
                recorded_at=datetime.fromisoformat(row["recorded_at"]),
                clock_synced=bool(row["clock_synced"]), boot_id=row["boot_id"],
                monotonic_ns=row["monotonic_ns"],
                flags=tuple(Flag(f) for f in _split(row["flags"])),
                reasons=tuple(Reason(r) for r in _split(row["reasons"])),
                counter=row["counter"], officer=row["officer"], dossier_code=row["dossier_code"])
