"""Storing a terminal's heartbeat: the history row, the latest state per terminal (fleet
health) and what it teaches about the terminal's clock (``district.clock``).

Every terminal sends one every few minutes, so at 10,000 terminals this is the most frequent
write the server does. On PostgreSQL it is therefore **one statement in autocommit**: the
token check and the three writes are CTEs of a single ``SELECT`` (one round trip instead of
seven: BEGIN, token, clock, history, health, COMMIT and the pool's ping). The writes read the
terminal from the token CTE, so a wrong token or a token of another terminal writes nothing.
SQLite (one district, a handful of terminals) runs the same steps as separate statements in
one transaction.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ballot.wire import STEERING_FIELDS, Heartbeat
from district.auth import hash_token, terminal_for_token
from district.db import (
    dialect_insert,
    heartbeats,
    terminal_boots,
    terminal_health,
    terminals,
    write_transaction,
)
from district.ingest import Delivery, boot_clock_rows, learn_boot_clocks, on_boot_clock_conflict

HEALTH_COLUMNS = [c.name for c in terminal_health.columns if c.name != "terminal_id"]


def heartbeat_row(beat: Heartbeat, received_at: dt.datetime) -> dict:
    """The columns of ``heartbeats`` / ``terminal_health`` for one heartbeat."""
    # (what it says of the steering is district.steering's, not the health tables')
    row = beat.model_dump(exclude={"terminal_id", "stuck_buttons", *STEERING_FIELDS})
    row.update(terminal_id=beat.terminal_id, received_at=received_at,
               clock_offset_ms=round((beat.sent_at - received_at).total_seconds() * 1000),
               stuck_buttons=";".join(str(level) for level in beat.stuck_buttons))
    return row


def store_heartbeat(engine: Engine, token: str, beat: Heartbeat,
                    received_at: dt.datetime) -> str | None:
    """Store ``beat`` if ``token`` is the current token of ``beat.terminal_id``.

    Returns the id of the token's terminal (None: no such token); nothing is written unless
    it is the terminal the heartbeat speaks for.
    """
    row = heartbeat_row(beat, received_at)
    delivery = Delivery(received_at=received_at, via="api", sent_at=beat.sent_at,
                        boot_id=beat.boot_id, monotonic_ns=beat.monotonic_ns)
    if engine.dialect.name == "postgresql":
        return _store_pg(engine, token, row, delivery)
    with write_transaction(engine) as conn:
        terminal = terminal_for_token(conn, token)
        if terminal is None or terminal.id != beat.terminal_id:
            return terminal and terminal.id
        learn_boot_clocks(conn, beat.terminal_id, [], delivery)  # heartbeats teach the clock
        conn.execute(heartbeats.insert(), row)
        conn.execute(_health_upsert(conn.dialect.name), row)
        return terminal.id


def _store_pg(engine: Engine, token: str, row: dict, delivery: Delivery) -> str | None:
    params = dict(row, token_hash=hash_token(token))
    boots = boot_clock_rows(row["terminal_id"], [], delivery)
    boot = boots[0] if boots else {"boot_id": None, "epoch_us": None}
    params.update(boot_id_learned=boot["boot_id"], epoch_us=boot["epoch_us"])
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(_pg_statement(), params).scalar()


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
    SELECT t.id``; built once, compiled once (SQLAlchemy's cache), prepared by psycopg."""
    token = (sa.select(terminals.c.id)
             .where(terminals.c.token_hash == sa.bindparam("token_hash"),
                    terminals.c.revoked_at.is_(None))
             .cte("t"))
    ok = sa.select(token.c.id).where(token.c.id == sa.bindparam("terminal_id")).cte("ok")
    values = [sa.bindparam(name, type_=terminal_health.c[name].type) for name in HEALTH_COLUMNS]
    columns = ["terminal_id", *HEALTH_COLUMNS]
    hist = heartbeats.insert().from_select(columns, sa.select(ok.c.id, *values)).cte("hist")
    health = dialect_insert("postgresql", terminal_health).from_select(
        columns, sa.select(ok.c.id, *values))
    health = health.on_conflict_do_update(
        index_elements=["terminal_id"],
        set_={name: health.excluded[name] for name in HEALTH_COLUMNS}).cte("health")
    received = sa.bindparam("received_at", type_=terminal_health.c.received_at.type)
    boot = dialect_insert("postgresql", terminal_boots).from_select(
        ["terminal_id", "boot_id", "epoch_us", "synced_epoch_us", "samples", "first_seen",
         "last_seen"],
        sa.select(ok.c.id, sa.bindparam("boot_id_learned", type_=sa.String(64)),
                  sa.bindparam("epoch_us", type_=sa.BigInteger), sa.null(), sa.literal(1),
                  received, received)
        .where(sa.bindparam("boot_id_learned", type_=sa.String(64)).is_not(None)))
    boot = on_boot_clock_conflict(boot).cte("boot")
    return sa.select(token.c.id).add_cte(boot, hist, health)
