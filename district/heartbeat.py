"""Storing a terminal's heartbeat: the history row, the latest state per terminal (fleet
health) and what it teaches about the terminal's clock (``district.clock``).

Every terminal sends one every few minutes, so at 10,000 terminals this is the most frequent
write the server does. On PostgreSQL it is therefore **one statement in autocommit**: the
token check and the three writes are CTEs of a single ``SELECT`` (one round trip instead of
seven: BEGIN, token, clock, history, health, COMMIT and the pool's ping). The writes read the
terminal from the token CTE, so a wrong token or a token of another terminal writes nothing.
SQLite (one district, a handful of terminals) runs the same steps as separate statements in
one transaction.

The clock: a heartbeat's BOOTTIME is checked like a vote batch's (``district.clock``) and,
when believed, may tighten its boot's bound; the boot's stored votes are then re-dated at
once (``district.redating``: votes, rollups and history in one transaction), not at the
boot's next delivery of votes. On PostgreSQL the single statement reads the boot's evidence;
only a heartbeat that beats it (its boot's first, or a faster transit than any before: a few
times in a boot's life) costs a second transaction, an empty delivery (``ingest_batch``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ballot.wire import STEERING_FIELDS, Heartbeat
from district import clock
from district.auth import hash_token, terminal_for_token
from district.db import (
    dialect_insert,
    heartbeats,
    terminal_boots,
    terminal_health,
    terminals,
    write_transaction,
)
from district.ingest import Delivery, ingest_batch, store_votes
from district.redating import boot_dating
from district.steering import terminal as steering

log = logging.getLogger(__name__)
# PostgreSQL: a heartbeat takes the second transaction only when it beats its boot's bound
# by this much (a bound tightened by microseconds is not worth a transaction; docs/sync.md)
HEARTBEAT_MIN_GAIN_US = 1000

HEALTH_COLUMNS = [c.name for c in terminal_health.columns if c.name != "terminal_id"]


def heartbeat_row(beat: Heartbeat, received_at: dt.datetime) -> dict:
    """The columns of ``heartbeats`` / ``terminal_health`` for one heartbeat."""
    # (what it says of the steering is district.steering's, not the health tables')
    row = beat.model_dump(exclude={"terminal_id", "stuck_buttons", *STEERING_FIELDS})
    row.update(terminal_id=beat.terminal_id, received_at=received_at,
               clock_offset_ms=round((beat.sent_at - received_at).total_seconds() * 1000),
               stuck_buttons=";".join(str(level) for level in beat.stuck_buttons))
    return row


def beat_and_answer(engine: Engine, token: str, beat: Heartbeat, received_at: dt.datetime
                    ) -> tuple[str | None, steering.SteeringAnswer | None]:
    """``store_heartbeat``, then the steering's answer (``district.steering.terminal``) when
    the token is the terminal's: on PostgreSQL from what the heartbeat's own statement read
    (most heartbeats cost that one round trip and nothing more)."""
    owner, known = _store(engine, token, beat, received_at)
    if owner != beat.terminal_id:
        return owner, None
    return owner, steering.on_heartbeat(engine, beat, received_at, known)


def store_heartbeat(engine: Engine, token: str, beat: Heartbeat,
                    received_at: dt.datetime) -> str | None:
    """Store ``beat`` if ``token`` is the current token of ``beat.terminal_id``.

    Returns the id of the token's terminal (None: no such token); nothing is written unless
    it is the terminal the heartbeat speaks for.
    """
    return _store(engine, token, beat, received_at)[0]


def _store(engine: Engine, token: str, beat: Heartbeat, received_at: dt.datetime
           ) -> tuple[str | None, steering.Known | None]:
    row = heartbeat_row(beat, received_at)
    delivery = Delivery(received_at=received_at, via="api", sent_at=beat.sent_at,
                        boot_id=beat.boot_id, monotonic_ns=beat.monotonic_ns)
    if engine.dialect.name == "postgresql":
        return _store_pg(engine, token, row, delivery)
    with write_transaction(engine) as conn:
        terminal = terminal_for_token(conn, token)
        if terminal is None or terminal.id != beat.terminal_id:
            return terminal and terminal.id, None
        if beat.boot_id is not None and beat.monotonic_ns is not None:
            # checked, learned and applied to the boot's stored votes as an empty batch is
            store_votes(conn, terminal.id, terminal.unit_id, [], delivery)
        conn.execute(heartbeats.insert(), row)
        conn.execute(_health_upsert(conn.dialect.name), row)
        return terminal.id, None


def _store_pg(engine: Engine, token: str, row: dict, delivery: Delivery
              ) -> tuple[str | None, steering.Known | None]:
    bound = None if delivery.monotonic_ns is None else clock.epoch_upper_bound_us(
        delivery.received_at, delivery.monotonic_ns)
    # every name prefixed: a name of a column of terminal_boots would join its UPDATE's SET
    params = {f"hb_{name}": value for name, value in row.items()}
    params.update(hb_token_hash=hash_token(token), hb_bound_us=bound)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        found = conn.execute(_pg_statement(), params).first()
    if found is None:
        return None, None
    if found.id == row["terminal_id"] and _teaches(found, delivery):
        ingest_batch(engine, found.id, found.unit_id, [], delivery)
    return found.id, steering.Known.from_row(found)


def _teaches(boot, delivery: Delivery) -> bool:
    """Whether the heartbeat's R - M is believed of its boot (``boot``: the evidence the
    statement read) and tighter than what is known: then it goes the way of an empty
    batch, which checks it again inside its transaction and re-dates the boot's votes."""
    if delivery.boot_id is None or delivery.monotonic_ns is None:
        return False
    bound = clock.epoch_upper_bound_us(delivery.received_at, delivery.monotonic_ns)
    state = clock.BootClock(boot.epoch_us, boot.synced_epoch_us, boot.epoch_max_us)
    why = state.refuses_request(bound, delivery.monotonic_ns)
    if why:
        log.warning("terminal %s, boot %s: heartbeat BOOTTIME not believed (%s)",
                    boot.id, delivery.boot_id, why)
        return False
    return state.epoch_us is None or bound <= state.epoch_us - HEARTBEAT_MIN_GAIN_US


@functools.cache
def _health_upsert(dialect: str) -> sa.Insert:
    """The latest heartbeat per terminal; built once (``excluded`` is costly to build)."""
    stmt = dialect_insert(dialect, terminal_health)
    return stmt.on_conflict_do_update(
        index_elements=["terminal_id"],
        set_={name: stmt.excluded[name] for name in HEALTH_COLUMNS})


@functools.cache
def _pg_statement() -> sa.Select:
    """``WITH t (token's terminal), ok (t if it is the claimed one), boot, hist, health
    SELECT t.id, t.unit_id``, the evidence of the heartbeat's boot and what the steering
    needs (``district.steering.terminal.known_columns``); built once, compiled once
    (SQLAlchemy's cache), prepared by psycopg."""
    token = (sa.select(terminals.c.id, terminals.c.unit_id)
             .where(terminals.c.token_hash == sa.bindparam("hb_token_hash"),
                    terminals.c.revoked_at.is_(None))
             .cte("t"))
    ok = sa.select(token.c.id).where(token.c.id == sa.bindparam("hb_terminal_id")).cte("ok")
    values = [sa.bindparam(f"hb_{name}", type_=terminal_health.c[name].type)
              for name in HEALTH_COLUMNS]
    columns = ["terminal_id", *HEALTH_COLUMNS]
    hist = heartbeats.insert().from_select(columns, sa.select(ok.c.id, *values)).cte("hist")
    health = dialect_insert("postgresql", terminal_health).from_select(
        columns, sa.select(ok.c.id, *values))
    health = health.on_conflict_do_update(
        index_elements=["terminal_id"],
        set_={name: health.excluded[name] for name in HEALTH_COLUMNS}).cte("health")
    tb, bd = terminal_boots, boot_dating
    boot_id = sa.bindparam("hb_boot_id", type_=sa.String(64))
    # a heartbeat that teaches nothing new is counted in its boot's row here; one that
    # does (no row yet, or a smaller R - M) is counted by the empty batch that checks it
    boot = sa.update(tb).where(
        tb.c.terminal_id == sa.select(ok.c.id).scalar_subquery(), tb.c.boot_id == boot_id,
        tb.c.epoch_us - sa.literal_column(str(HEARTBEAT_MIN_GAIN_US), sa.BigInteger)
        < sa.bindparam("hb_bound_us", type_=sa.BigInteger)).values(
        samples=tb.c.samples + sa.literal_column("1", sa.Integer),
        last_seen=sa.bindparam("hb_received_at", type_=terminal_health.c.received_at.type)
    ).cte("boot")
    evidence = token.outerjoin(tb, sa.and_(tb.c.terminal_id == token.c.id,
                                           tb.c.boot_id == boot_id)) \
        .outerjoin(bd, sa.and_(bd.c.terminal_id == tb.c.terminal_id,
                               bd.c.boot_id == tb.c.boot_id))
    return sa.select(token.c.id, token.c.unit_id, tb.c.epoch_us, tb.c.synced_epoch_us,
                     bd.c.epoch_max_us, *steering.known_columns(token.c.id)) \
        .select_from(evidence).add_cte(boot, hist, health)
