"""Fixtures of the trust tests: the real ``district serve`` on loopback with small limits
(so a test needs a few hundred hostile connections, not thousands), plain HTTP and HTTPS
(a district set up for real, as tests/setup does), and raw sockets for the hostile side."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from district import db
from district.dashboard.accounts import add_user
from district.fleet import register_terminal
from tests.helpers import DistrictServer, clean_env, fresh_database
from tests.helpers.district_setup import HOST, District, district_root, installed  # noqa: F401

PASSWORD = "mot-mat-khau-dai"
# Small limits and short timeouts: the attacks of the issue, at a test's scale.
SMALL = {"DISTRICT_MAX_CONNECTIONS": "40", "DISTRICT_HEAD_TIMEOUT_S": "1.5",
         "DISTRICT_BODY_TIMEOUT_S": "2", "DISTRICT_TLS_HANDSHAKE_TIMEOUT_S": "1.5",
         "DISTRICT_ALERT_INTERVAL_S": "0"}


def start(url: str, tmp_path, **env: str) -> DistrictServer:
    return DistrictServer(url, env=clean_env(**{**SMALL, **env}),
                          log=tmp_path / "serve.log").start(timeout=120)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request) -> str:
    return request.param


@dataclass
class Database:
    url: str
    engine: sa.Engine
    token: str  # terminal t-1's


@pytest.fixture
def database(tmp_path) -> Iterator[Database]:
    """A migrated SQLite database with an official ``chief`` and a terminal ``t-1``."""
    with fresh_database("sqlite", tmp_path) as url:
        engine = db.create_db_engine(url)
        db.migrate(engine)
        add_user(engine, "chief", PASSWORD, "district")
        token = register_terminal(engine, "t-1", "unit-1", "Quầy 1")
        yield Database(url, engine, token)
        engine.dispose()


@pytest.fixture
def server_on(database, tmp_path):
    """server_on(**env) → a running server on ``database`` with those settings."""
    servers = []

    def make(**env: str) -> DistrictServer:
        servers.append(start(database.url, tmp_path, **env))
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def https(installed: District):  # noqa: F811
    """``district serve`` on HTTPS (a district set up for real) with the small limits."""
    installed.env.update(SMALL)
    yield installed.serve()
    installed.stop()


def raw(port: int, tls_ca=None) -> socket.socket:
    """A client socket to the server, TLS (verified by the district's CA) when asked."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if tls_ca is None:
        return sock
    context = ssl.create_default_context(cafile=str(tls_ca))
    return context.wrap_socket(sock, server_hostname="localhost")


def answer_of(sock: socket.socket) -> bytes:
    """What the server sends until it closes (b"" when it closed without a word)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, ssl.SSLError):
        pass
    finally:
        sock.close()
    return b"".join(chunks)


__all__ = ["HOST", "PASSWORD", "answer_of", "raw", "start"]
