"""Storage of the district server: SQLAlchemy Core tables and the engine factory.

One schema for SQLite (the embedded default for one district) and PostgreSQL (a city or a
country behind several app processes). The tables here describe the schema at the head
migration; ``district/migrations`` creates and evolves it (``migrate(engine)``).

Later issues extend this module (officials, reports): add tables here *and* a new Alembic
revision, never edit an applied revision.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
MAX_UNIT_DEPTH = 64  # a unit tree deeper than this is an error (load_units refuses cycles)


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware UTC datetime on both databases.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC text and come back with ``tzinfo=UTC``. Naive datetimes are refused on the way in:
    every time in this server is explicit UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use UTC-aware datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData()

# The unit tree (district → wards, or province → communes), loaded from the fleet file.
units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False, server_default=""),
    sa.Column("parent_id", sa.String(64), sa.ForeignKey("units.id"), nullable=True, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One row per rating terminal; the token is kept only as its SHA-256 (see district.auth).
terminals = sa.Table(
    "terminals",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("token_issued_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# Every vote exactly once: unique on (terminal_id, vote_id). The kiosk's fields are kept as
# sent (recorded_at_raw is the exact text); the server adds received_at, corrected_at and
# time_uncertain. unit_id is copied from the terminal at ingest so that a terminal moved to
# another unit later does not move its past votes.
votes = sa.Table(
    "votes",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), nullable=False),
    sa.Column("vote_id", sa.String(36), nullable=False),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("scale", sa.SmallInteger, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at_raw", sa.String(64), nullable=False),
    sa.Column("clock_synced", sa.Boolean, nullable=False),
    sa.Column("boot_id", sa.String(64), nullable=False),
    sa.Column("monotonic_ns", sa.BigInteger, nullable=False),
    sa.Column("flags", sa.String(200), nullable=False, server_default=""),  # ';'-joined
    sa.Column("reasons", sa.String(200), nullable=False, server_default=""),  # ';'-joined
    sa.Column("counter", sa.String(100), nullable=True),
    sa.Column("officer", sa.String(200), nullable=True),
    sa.Column("dossier_code", sa.String(100), nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("corrected_at", UTCDateTime, nullable=False),
    sa.Column("time_method", sa.String(16), nullable=False),  # see district.clock
    sa.Column("time_uncertain", sa.Boolean, nullable=False),
    sa.Column("via", sa.String(16), nullable=False),  # "api" or "import"
    sa.UniqueConstraint("terminal_id", "vote_id", name="uq_votes_terminal_vote"),
    sa.Index("ix_votes_unit_corrected", "unit_id", "corrected_at"),
    sa.Index("ix_votes_corrected", "corrected_at"),
    sa.Index("ix_votes_terminal_boot", "terminal_id", "boot_id"),
)

# What the server learned about each boot of each terminal's clock (district.clock).
terminal_boots = sa.Table(
    "terminal_boots",
    metadata,
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), primary_key=True),
    sa.Column("boot_id", sa.String(64), primary_key=True),
    # Upper bound of the boot's wall-clock epoch (µs since 1970): min(received_at - mono).
    sa.Column("epoch_us", sa.BigInteger, nullable=True),
    # Epoch from a vote recorded while the kiosk clock was NTP-synchronised (recorded - mono).
    sa.Column("synced_epoch_us", sa.BigInteger, nullable=True),
    sa.Column("samples", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
)

# Heartbeat history (cheap: one row a few minutes per terminal) ...
heartbeats = sa.Table(
    "heartbeats",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("clock_offset_ms", sa.BigInteger, nullable=False),  # kiosk clock - server clock
    sa.Column("boot_id", sa.String(64), nullable=True),
    sa.Column("monotonic_ns", sa.BigInteger, nullable=True),
    sa.Column("backlog", sa.BigInteger, nullable=True),
    sa.Column("rejected", sa.BigInteger, nullable=True),
    sa.Column("software_version", sa.String(64), nullable=True),
    sa.Column("clock_synced", sa.Boolean, nullable=True),
    sa.Column("disk_free_bytes", sa.BigInteger, nullable=True),
    sa.Column("uptime_s", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("stuck_buttons", sa.String(100), nullable=False, server_default=""),
    sa.Index("ix_heartbeats_terminal_received", "terminal_id", "received_at"),
)

# ... and the latest heartbeat per terminal, which the fleet-health page reads.
terminal_health = sa.Table(
    "terminal_health",
    metadata,
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), primary_key=True),
    *[sa.Column(c.name, c.type, nullable=c.nullable,
                server_default=c.server_default.arg if c.server_default else None)
      for c in heartbeats.columns
      if c.name not in ("pk", "terminal_id")],
)

# Votes the server refused (validation), for audit and `district stats`; never re-counted.
rejected_votes = sa.Table(
    "rejected_votes",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), nullable=False,
              index=True),
    sa.Column("vote_id", sa.String(100), nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

# API tokens for machines and administrators (GET /api/v1/stats) until officials' accounts
# exist (dashboard issue); hashed like terminal tokens.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("scope", sa.String(32), nullable=False, server_default="admin"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` / ``postgres://`` to the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_db_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and full fsync."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                  **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = sa.create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


# A pooled connection unused for longer than this is pinged before use. SQLAlchemy's
# ``pool_pre_ping`` pings on *every* checkout: one more round trip per request, as many as
# a whole heartbeat makes on PostgreSQL now (district/heartbeat.py). A connection in steady
# use cannot have gone stale unnoticed for long; if PostgreSQL restarted within the last
# seconds, the request fails once (the kiosk retries), SQLAlchemy drops the whole pool, and
# the next one reconnects.
PING_AFTER_IDLE_S = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since >= PING_AFTER_IDLE_S:
            ping(dbapi_conn)


def ping(dbapi_conn) -> None:
    """One round trip; a connection that cannot make it is replaced (by the pool)."""
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as exc:  # any failure: this connection is not usable
        raise sa.exc.DisconnectionError(str(exc)) from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # We emit BEGIN ourselves (below): the sqlite3 module's implicit transactions cannot
        # be made IMMEDIATE, and a deferred transaction that reads then writes fails with
        # SQLITE_BUSY at once (no busy wait) when another process wrote in between.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: an acknowledged vote must survive a power cut of the server too.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock up front (waits, never fails
    with a stale snapshot); on PostgreSQL a plain transaction."""
    with engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            yield conn


def dialect_insert(conn: Connection | str, table: sa.Table):
    """The dialect's ``insert(table)``, which has ``on_conflict_do_nothing/do_update``
    (``INSERT … ON CONFLICT``, the same SQL on SQLite and PostgreSQL). ``conn`` is a
    connection or a dialect name (for statements built once and kept)."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def migrate(engine: Engine) -> None:
    """Bring the database to the head revision (every command and ``serve`` call this first)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Several app processes may start at once: one migrates, the others wait.
            conn.exec_driver_sql("SELECT pg_advisory_lock(7246152)")
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            # "heads": the server chain and the dashboard branch (label "dashboard", d0001…)
            command.upgrade(cfg, "heads")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_unlock(7246152)")
                conn.commit()


def open_engine(url: str) -> Engine:
    """The database at ``url``, migrated to the head revision: what every ``district`` verb
    starts with. A database that cannot be opened or reached is a one-line
    :class:`~district.errors.DistrictError` saying what to do (never a traceback)."""
    from district.errors import N_, DistrictError

    shown = shown_url(url)
    folder = sqlite_folder(url)
    if folder is not None and not folder.is_dir():
        raise DistrictError(N_("the database {url} cannot be opened: the folder {folder} does "
                               "not exist. Fix: run `district setup`, or check --db / "
                               "DISTRICT_DB"), url=shown, folder=folder)
    try:
        engine = create_db_engine(url)
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        raise DistrictError(N_("{url} is not a database URL the server can use ({error}). "
                               "Fix: give sqlite:///PATH or postgresql://USER@HOST/NAME (--db, "
                               "DISTRICT_DB or [database] url of district.toml)"),
                            url=shown, error=str(exc).splitlines()[0]) from None
    try:
        migrate(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if folder is not None:
            raise DistrictError(N_("the database {url} cannot be opened: {error}. Fix: run the "
                                   "command as the service's user (sudo -u district district "
                                   "…), or check --db / DISTRICT_DB"),
                                url=shown, error=error) from None
        raise DistrictError(N_("the database {url} cannot be reached: {error}. Fix: check that "
                               "the database server runs and the URL (--db, DISTRICT_DB or "
                               "[database] url of district.toml)"),
                            url=shown, error=error) from None
    return engine


def shown_url(url: str) -> str:
    """The URL as a message may show it: without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite file URL; None for PostgreSQL and in-memory SQLite."""
    try:
        parsed = sa.engine.make_url(normalize_url(url))
    except sa.exc.ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).parent


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
