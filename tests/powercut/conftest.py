"""Fixtures of the power-cut tests: FUSE must work here (it does in CI, as root with
Debian's fuse3; ``require`` makes its absence a failure there), and a real district server
on an ordinary disk for the terminal's sync agent to upload to."""

from __future__ import annotations

import pytest

from tests.helpers import DistrictServer, add_terminal, require
from tests.helpers.powercut_fs import fuse_available


@pytest.fixture(scope="session", autouse=True)
def fuse():
    problem = fuse_available()
    require(problem is None, f"FUSE can mount here ({problem})")


@pytest.fixture(scope="module")
def district_server(tmp_path_factory):
    """A running server; ``register(terminal)`` gives a terminal's token."""
    folder = tmp_path_factory.mktemp("powercut-server")
    db = folder / "district.db"
    url = f"sqlite:///{db}"
    server = DistrictServer(url, log=folder / "server.log").start()
    server.db_path = db
    server.register = lambda terminal: add_terminal(url, terminal, "pc-unit")
    yield server
    server.stop()
