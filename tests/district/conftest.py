"""Fixtures for the district server: real SQLite files, a real PostgreSQL, real uvicorn.

``backend`` runs a test once on SQLite and once on PostgreSQL. PostgreSQL tests need the
local server (postgresql://postgres@127.0.0.1:5432, trust auth); when it is unreachable they
are skipped locally but FAIL when ``CI=true``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from district import db
from district.fleet import register_terminal
from tests.helpers import DistrictServer, fresh_database, iso, utcnow


@pytest.fixture(scope="session")
def pg_server_url():
    """A fresh database ``hl_test_<random>`` for the session, dropped afterwards."""
    with fresh_database("postgres") as url:
        yield url


@dataclass
class Backend:
    name: str
    db_url: str
    engine: sa.Engine
    server: DistrictServer


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def backend(request, tmp_path_factory):
    """A migrated database and a real server on it, shared by the tests of a session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'district.db'}"
    else:
        url = request.getfixturevalue("pg_server_url")
    engine = db.create_db_engine(url)
    db.migrate(engine)
    server = DistrictServer(url).start()
    yield Backend(request.param, url, engine, server)
    server.stop()
    engine.dispose()


def wipe(engine: sa.Engine) -> None:
    """Empty every table (children first) so each test starts from a known state."""
    from district.dashboard.tables import ROLLUPS

    with db.write_transaction(engine) as conn:
        for table in ROLLUPS:  # the dashboard's counts of the votes deleted below
            conn.execute(table.delete())
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@dataclass
class Api:
    """A clean database behind a running server, with one registered terminal."""

    url: str
    engine: sa.Engine
    terminal_id: str
    token: str
    backend: str

    def post_votes(self, votes: list[dict], token: str | None = None, **envelope):
        body = {"terminal_id": self.terminal_id, "sent_at": iso(utcnow()), "votes": votes,
                **envelope}
        return httpx.post(f"{self.url}/api/v1/votes", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {token or self.token}"})

    def vote_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(db.votes)).scalar_one()


@pytest.fixture
def api(backend) -> Api:
    wipe(backend.engine)
    token = register_terminal(backend.engine, "t-1", "unit-1", "Terminal one")
    return Api(backend.server.url, backend.engine, "t-1", token, backend.name)
