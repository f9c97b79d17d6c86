"""Fixtures for the district server: real SQLite files, a real PostgreSQL, real uvicorn.

``backend`` runs a test once on SQLite and once on PostgreSQL. PostgreSQL tests need the
local server (postgresql://postgres@127.0.0.1:5432, trust auth); when it is unreachable they
are skipped locally but FAIL when ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from district import db
from district.fleet import register_terminal

# district_helpers beside this file (pytest runs with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).parent))
from district_helpers import iso, utcnow  # noqa: E402

PG_ADMIN_URL = os.environ.get("HL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[2]


def _pg_unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unreachable: {reason}")


@pytest.fixture(scope="session")
def pg_server_url():
    """A fresh database ``hl_test_<random>`` for the session, dropped afterwards."""
    import psycopg

    name = f"hl_test_{secrets.token_hex(4)}"
    admin = PG_ADMIN_URL
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _pg_unavailable(str(exc).strip())
    yield admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``district serve`` in a subprocess on a loopback port."""

    def __init__(self, db_url: str, workers: int = 1, env: dict | None = None,
                 args: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(self.port) if a == "PORT" else a for a in args or []]
        cmd = args or [sys.executable, "-m", "district.cli", "--db", db_url, "serve",
                       "--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, path: str = "/openapi.json", timeout: float = 30) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()}")
            try:
                httpx.get(self.url + path, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Backend:
    name: str
    db_url: str
    engine: sa.Engine
    server: Server


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
    server = Server(url).wait_ready()
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
