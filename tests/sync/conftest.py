"""Fixtures for the sync agent: a real ``district serve`` on a loopback port, a real fault
proxy in front of it, real SQLite vote stores, and (marked tests) a real PostgreSQL.

How the tests find the server: each test starts its own ``district serve --port P`` in a
subprocess (``sync_helpers.DistrictServer``), on a fresh SQLite file in ``tmp_path`` or a
throwaway PostgreSQL database, registers its terminal with ``district terminals add``
(``tests.helpers.add_terminal``), and points the kiosk at the proxy through ``KIOSK_SERVER__*``
environment variables.
"""

from __future__ import annotations

import pytest

from tests.helpers import fresh_database
from tests.helpers.proxy import FaultProxy
from tests.sync.sync_helpers import TERMINAL_ID, DistrictServer, kiosk_environment


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'district.db'}"


@pytest.fixture
def pg_url():
    """A throwaway database ``hl_sync_<random>``, dropped afterwards."""
    with fresh_database("postgres", prefix="hl_sync") as url:
        yield url


@pytest.fixture
def server(sqlite_url, tmp_path):
    srv = DistrictServer(sqlite_url, tmp_path)
    srv.register(TERMINAL_ID)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(server):
    with FaultProxy(server.port, hang_s=30) as p:  # longer than the agent's timeout
        yield p


@pytest.fixture
def kiosk_env(tmp_path, server, proxy) -> dict[str, str]:
    """Environment for `kiosk …` subprocesses: own store, the proxy as server, small timeouts."""
    return kiosk_environment(tmp_path, url=proxy.url, token=server.tokens[TERMINAL_ID])
