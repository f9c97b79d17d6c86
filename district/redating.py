"""Re-dating votes already stored when better evidence of their boot's clock arrives, and
what the checks of ``district.clock`` leave behind: each marked vote's reason, each re-dated
vote's former times.

``district.clock.date_batch`` dates the votes of one delivery from what is known of their
boots; this module keeps, per (terminal, boot), the epoch the boot's stored votes were
dated with (``boot_dating``). When a delivery tightens the boot's bound by more than
``REDATE_MIN_GAIN_US`` or brings its first synchronised vote, the boot's earlier
unsynchronised votes get the new time — ``UPDATE votes``, the rollups moved from the old
bucket to the new one (``district.rollups.move_votes``, by the ingest, with the delivery's
new votes in the same upserts), the former time appended to ``vote_time_history`` — all in
the transaction of the delivery. Votes marked by a check
(any reason but ``boot_unknown``) keep their mark: better evidence of the boot does not make
an impossible value possible. A vote of a boot nobody knew (``boot_unknown``) loses its
mark when its boot becomes known.

Costs: one SELECT joined to the boot read the ingest does anyway; writes only when a
boot's dating changes (its first delivery, a tighter bound, the first synchronised vote):
a few times per boot, each re-dating the votes of that boot only (bench/redating.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district import clock, dossiers
from district.db import UTCDateTime, dialect_insert, terminal_boots, votes

metadata = sa.MetaData()

# How the stored unsynchronised votes of a boot were dated, and the highest R - M believed
# (the lower end of the boot's interval, district.clock.BootClock.epoch_max_us).
boot_dating = sa.Table(
    "boot_dating", metadata,
    sa.Column("terminal_id", sa.String(64), primary_key=True),
    sa.Column("boot_id", sa.String(64), primary_key=True),
    sa.Column("epoch_max_us", sa.BigInteger, nullable=True),
    sa.Column("dated_epoch_us", sa.BigInteger, nullable=True),
    sa.Column("dated_method", sa.String(16), nullable=True),
    # the boot's stored order (district.clock.BootClock.seq_max, revision d0014)
    sa.Column("seq_max", sa.BigInteger, nullable=True),
    sa.Column("seq_max_mono_ns", sa.BigInteger, nullable=True),
    sa.ForeignKeyConstraint(["terminal_id", "boot_id"],
                            ["terminal_boots.terminal_id", "terminal_boots.boot_id"],
                            ondelete="CASCADE"),
)

# Why a vote's time is uncertain (district.clock.VOTE_REASONS): one row per marked vote.
vote_time_marks = sa.Table(
    "vote_time_marks", metadata,
    sa.Column("terminal_id", sa.String(64), primary_key=True),
    sa.Column("vote_id", sa.String(36), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("marked_at", UTCDateTime, nullable=False),
    sa.ForeignKeyConstraint(["terminal_id", "vote_id"], ["votes.terminal_id", "votes.vote_id"],
                            ondelete="CASCADE"),
)

# Every change of a stored vote's time: what it was, what it became, why and when.
vote_time_history = sa.Table(
    "vote_time_history", metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("vote_id", sa.String(36), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("cause", sa.String(32), nullable=False),  # REDATE_CAUSES
    sa.Column("corrected_at", UTCDateTime, nullable=False),
    sa.Column("time_method", sa.String(16), nullable=False),
    sa.Column("time_uncertain", sa.Boolean, nullable=False),
    sa.Column("new_corrected_at", UTCDateTime, nullable=False),
    sa.Column("new_time_method", sa.String(16), nullable=False),
    sa.Column("new_time_uncertain", sa.Boolean, nullable=False),
    sa.ForeignKeyConstraint(["terminal_id", "vote_id"], ["votes.terminal_id", "votes.vote_id"],
                            ondelete="CASCADE"),
    sa.Index("ix_vote_time_history_vote", "terminal_id", "vote_id"),
)

TIGHTER_BOUND = "tighter_bound"    # a request with a smaller transit time (method boot)
SYNCED_VOTE = "synced_vote"        # the boot's first synchronised vote (method boot_ntp)
FIRST_EVIDENCE = "first_evidence"  # the boot was unknown, or dated by the offset
REDATE_CAUSES = (TIGHTER_BOUND, SYNCED_VOTE, FIRST_EVIDENCE)
EPOCH_MAX_STEP_US = 1_000_000  # epoch_max_us is written when it rises by more than this


_READY: set[str] = set()  # databases (URLs) known to have this module's tables


def available(conn: Connection) -> bool:
    """Whether the database has the tables of revision d0007 and the columns of d0014 (a
    database still at an older revision is checked each time, one with them once per
    process)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    if key in _READY:
        return True
    inspector = sa.inspect(conn)
    if inspector.has_table(boot_dating.name) and "seq_max" in {
            c["name"] for c in inspector.get_columns(boot_dating.name)}:
        _READY.add(key)
        return True
    return False


@dataclass(frozen=True)
class KnownBoot:
    """One boot as stored: its clock evidence and how its votes were dated."""

    clock: clock.BootClock
    dated: tuple[int, str] | None
    has_dating: bool


def read_boots(conn: Connection, terminal_id: str, boot_ids: Iterable[str]
               ) -> dict[str, KnownBoot]:
    ids = sorted(set(boot_ids))
    if not ids:
        return {}
    tb, bd = terminal_boots, boot_dating
    if not available(conn):  # an older schema: the evidence alone
        return {r.boot_id: KnownBoot(clock.BootClock(r.epoch_us, r.synced_epoch_us), None, False)
                for r in conn.execute(sa.select(tb.c.boot_id, tb.c.epoch_us, tb.c.synced_epoch_us)
                                      .where(tb.c.terminal_id == terminal_id,
                                             tb.c.boot_id.in_(ids)))}
    rows = conn.execute(
        sa.select(tb.c.boot_id, tb.c.epoch_us, tb.c.synced_epoch_us, bd.c.epoch_max_us,
                  bd.c.seq_max, bd.c.seq_max_mono_ns, bd.c.dated_epoch_us, bd.c.dated_method,
                  bd.c.boot_id.label("dating"))
        .select_from(tb.outerjoin(bd, sa.and_(bd.c.terminal_id == tb.c.terminal_id,
                                              bd.c.boot_id == tb.c.boot_id)))
        .where(tb.c.terminal_id == terminal_id, tb.c.boot_id.in_(ids)))
    return {r.boot_id: KnownBoot(
                clock.BootClock(r.epoch_us, r.synced_epoch_us, r.epoch_max_us, r.seq_max,
                                r.seq_max_mono_ns),
                (r.dated_epoch_us, r.dated_method) if r.dated_method else None,
                r.dating is not None)
            for r in rows}


def boot_rows(terminal_id: str, dating: clock.BatchDating, now: dt.datetime) -> list[dict]:
    """The ``terminal_boots`` rows of what the delivery taught (believed evidence only)."""
    return [{"terminal_id": terminal_id, "boot_id": boot_id, "epoch_us": bound,
             "synced_epoch_us": synced, "samples": int(bound is not None),
             "first_seen": now, "last_seen": now}
            for boot_id, (bound, synced) in sorted(dating.learned.items())]


def needs_redating(best: tuple[int, str], dated: tuple[int, str] | None) -> str | None:
    """Why the boot's stored votes must be dated again with ``best``, or None."""
    if dated is None or dated[1] not in (clock.BOOT, clock.BOOT_NTP):
        return FIRST_EVIDENCE
    if best[1] != dated[1]:
        return SYNCED_VOTE
    if abs(best[0] - dated[0]) >= clock.REDATE_MIN_GAIN_US:
        return TIGHTER_BOUND if best[1] == clock.BOOT else SYNCED_VOTE
    return None


@dataclass
class Moves:
    """Re-dated votes as the rollups counted them (``before``) and as they must count them
    now (``after``): the caller applies both with the delivery's new votes in one grouped
    upsert per table (``district.rollups.move_votes``), one lock order for the whole
    transaction."""

    before: list[dict]
    after: list[dict]


def keep_dating(conn: Connection, terminal_id: str, known: dict[str, KnownBoot],
                dating: clock.BatchDating, now: dt.datetime) -> Moves:
    """Call before the delivery's votes are inserted: re-dates the earlier votes of every
    boot whose best epoch moved (their rollup moves returned, to apply), and records how
    each boot is dated now."""
    moves = Moves([], [])
    if not available(conn):
        return moves
    dating_rows = []
    for boot_id in sorted(set(dating.learned) | set(known)):
        state = dating.boots.get(boot_id)
        best = state.best_epoch_us() if state else None
        if best is None:
            continue
        before = known.get(boot_id)
        why = needs_redating(best, before.dated if before else None)
        if why:
            redate_boot(conn, terminal_id, boot_id, best, why, now, moves)
        old_max = before.clock.epoch_max_us if before else None
        max_rose = state.epoch_max_us is not None and (
            old_max is None or state.epoch_max_us > old_max + EPOCH_MAX_STEP_US)
        if why or max_rose or boot_id in dating.ordered or not (before and before.has_dating):
            dated = best if why else before.dated
            dating_rows.append({"terminal_id": terminal_id, "boot_id": boot_id,
                                "epoch_max_us": state.epoch_max_us,
                                "seq_max": state.seq_max,
                                "seq_max_mono_ns": state.seq_max_mono_ns,
                                "dated_epoch_us": dated[0] if dated else None,
                                "dated_method": dated[1] if dated else None})
    if dating_rows:
        conn.execute(_dating_upsert(conn.dialect.name),
                     dating_rows[0] if len(dating_rows) == 1 else dating_rows)
    return moves


@functools.cache
def _dating_upsert(dialect: str) -> sa.Insert:
    stmt = dialect_insert(dialect, boot_dating)
    old, new = boot_dating.c, stmt.excluded
    # a concurrent delivery of the same boot may have moved the order further: the higher
    # seq wins, with its own BOOTTIME (SET's expressions all read the old row)
    later = sa.or_(old.seq_max.is_(None), new.seq_max > old.seq_max)
    return stmt.on_conflict_do_update(
        index_elements=["terminal_id", "boot_id"],
        set_={"epoch_max_us": sa.case((old.epoch_max_us.is_(None), new.epoch_max_us),
                                      (new.epoch_max_us > old.epoch_max_us, new.epoch_max_us),
                                      else_=old.epoch_max_us),
              "seq_max": sa.case((later, new.seq_max), else_=old.seq_max),
              "seq_max_mono_ns": sa.case((later, new.seq_max_mono_ns),
                                         else_=old.seq_max_mono_ns),
              "dated_epoch_us": new.dated_epoch_us, "dated_method": new.dated_method})


_REDATABLE = (clock.BOOT, clock.BOOT_NTP, clock.OFFSET, clock.NONE)
_ROLLUP_COLUMNS = ("terminal_id", "unit_id", "scale", "level", "flags", "reasons", "counter",
                   "officer", "corrected_at", "time_uncertain")


def redate_boot(conn: Connection, terminal_id: str, boot_id: str, best: tuple[int, str],
                cause: str, now: dt.datetime, moves: Moves) -> int:
    """Give the stored unsynchronised votes of one boot the time ``best`` (epoch, method)
    says, adding their rollup moves to ``moves``; returns how many changed."""
    v, m = votes, vote_time_marks
    query = (
        sa.select(v.c.pk, v.c.vote_id, v.c.monotonic_ns, v.c.received_at, v.c.time_method,
                  v.c.dossier_code, m.c.reason,
                  *(v.c[c] for c in _ROLLUP_COLUMNS if c != "terminal_id"))
        .select_from(v.outerjoin(m, sa.and_(m.c.terminal_id == v.c.terminal_id,
                                            m.c.vote_id == v.c.vote_id)))
        .where(v.c.terminal_id == terminal_id, v.c.boot_id == boot_id,
               v.c.clock_synced.is_(False), v.c.time_method.in_(_REDATABLE))
        .order_by(v.c.pk))
    if conn.dialect.name == "postgresql":
        # a concurrent delivery re-dating the same votes waits, then reads their new times
        # (so it never moves a vote out of a bucket it already left); SQLite's write
        # transaction excludes it already
        query = query.with_for_update(of=v)
    rows = conn.execute(query).mappings().all()
    before, after, updates, history, lifted, marked, rated = [], [], [], [], [], [], []
    for r in rows:
        if r["reason"] not in (None, clock.BOOT_UNKNOWN):
            continue  # a check found its value impossible: better evidence does not change it
        at, method, uncertain, reason = _redated(r, best)
        if (at, method, uncertain) == (r["corrected_at"], r["time_method"], r["time_uncertain"]):
            continue
        old_row = {c: r[c] for c in _ROLLUP_COLUMNS if c != "terminal_id"}
        old_row["terminal_id"] = terminal_id
        before.append(old_row)
        after.append(dict(old_row, corrected_at=at, time_uncertain=uncertain))
        updates.append({"p": r["pk"], "c": at, "m": method, "u": uncertain})
        history.append({"terminal_id": terminal_id, "vote_id": r["vote_id"], "changed_at": now,
                        "cause": cause, "corrected_at": r["corrected_at"],
                        "time_method": r["time_method"], "time_uncertain": r["time_uncertain"],
                        "new_corrected_at": at, "new_time_method": method,
                        "new_time_uncertain": uncertain})
        if r["dossier_code"] and at != r["corrected_at"]:
            rated.append({"d": r["dossier_code"], "t": terminal_id, "v": r["vote_id"], "c": at})
        if r["reason"] == clock.BOOT_UNKNOWN:
            lifted.append(r["vote_id"])
        if reason:
            marked.append((r["vote_id"], reason))
    if not updates:
        return 0
    moves.before.extend(before)
    moves.after.extend(after)
    conn.execute(sa.update(v).where(v.c.pk == sa.bindparam("p"))
                 .values(corrected_at=sa.bindparam("c"), time_method=sa.bindparam("m"),
                         time_uncertain=sa.bindparam("u")), updates)
    conn.execute(vote_time_history.insert(), history)
    dossiers.redated(conn, rated)  # a dossier's counted rating keeps its vote's time
    if lifted:
        conn.execute(m.delete().where(m.c.terminal_id == terminal_id, m.c.vote_id.in_(lifted)))
    if marked:
        mark_votes(conn, terminal_id, marked, now)
    return len(updates)


def _redated(row, best: tuple[int, str]) -> tuple[dt.datetime, str, bool, str | None]:
    """(corrected_at, method, uncertain, reason) of a stored vote dated with ``best``; a
    time the server had not reached when it got the vote (or before 2020) is kept, marked."""
    at_us = best[0] + row["monotonic_ns"] // 1000
    if at_us > clock.to_us(row["received_at"]) + clock.NTP_TOLERANCE_US:
        return row["corrected_at"], clock.NONE, True, clock.AFTER_RECEIPT
    if at_us < clock.EARLIEST_BOOT_US:
        return row["corrected_at"], clock.NONE, True, clock.BEFORE_EARLIEST
    return clock.from_us(at_us), best[1], False, None


def mark_votes(conn: Connection, terminal_id: str, reasons: Sequence[tuple[str, str]],
               now: dt.datetime) -> None:
    """Store (vote id, reason) of votes kept with an uncertain time."""
    if not reasons or not available(conn):
        return
    rows = [{"terminal_id": terminal_id, "vote_id": vote_id, "reason": reason,
             "marked_at": now} for vote_id, reason in sorted(reasons)]
    stmt = dialect_insert(conn, vote_time_marks)
    stmt = stmt.on_conflict_do_update(index_elements=["terminal_id", "vote_id"],
                                      set_={"reason": stmt.excluded.reason,
                                            "marked_at": stmt.excluded.marked_at})
    conn.execute(stmt, rows[0] if len(rows) == 1 else rows)


def reasons_of(conn: Connection, terminal_id: str, vote_ids: Iterable[str]) -> dict[str, str]:
    """vote id → reason of its uncertain time (for tests, audits and exports)."""
    ids = sorted(set(vote_ids))
    if not ids:
        return {}
    m = vote_time_marks
    return dict(conn.execute(sa.select(m.c.vote_id, m.c.reason)
                             .where(m.c.terminal_id == terminal_id, m.c.vote_id.in_(ids))).all())
