"""The PostgreSQL pool pings only connections that sat idle (``district.db``), and still
recovers from connections that PostgreSQL closed: real backends, really terminated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from district import db

pytestmark = pytest.mark.postgres


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(admin: sa.Engine, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


@pytest.fixture
def pings(monkeypatch) -> list[int]:
    """One entry per ping the pool makes (``district.db.ping``, still really run)."""
    made: list[int] = []
    real_ping = db.ping
    monkeypatch.setattr(db, "ping", lambda conn: made.append(1) or real_ping(conn))
    return made


@pytest.fixture
def engines(pg_server_url):
    engine = db.create_db_engine(pg_server_url, pool_size=1, max_overflow=0)
    admin = db.create_db_engine(pg_server_url)
    yield engine, admin
    engine.dispose()
    admin.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(engines, pings, monkeypatch):
    engine, admin = engines
    pid = _backend_pid(engine)
    _terminate(admin, pid)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # "idle long enough" now
    assert _backend_pid(engine) != pid  # the ping failed, the pool connected anew
    assert pings


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(engines, pings):
    engine, admin = engines
    pid = _backend_pid(engine)
    assert _backend_pid(engine) == pid and not pings  # reused at once: no ping round trip
    _terminate(admin, pid)
    with pytest.raises(sa.exc.OperationalError):  # within the idle window: one failure …
        _backend_pid(engine)
    assert _backend_pid(engine) != pid  # … then SQLAlchemy's fresh pool connects anew
