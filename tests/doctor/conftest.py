"""The district server the doctor tests talk to (one per test run of this folder)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from doctor_helpers import Fleet, add_terminal, start_server  # noqa: E402


@pytest.fixture(scope="module")
def district_fleet(tmp_path_factory) -> Fleet:
    folder = tmp_path_factory.mktemp("district")
    db_url = f"sqlite:///{folder / 'district.db'}"
    tokens = {tid: add_terminal(db_url, tid, "u-doctor") for tid in ("t-doctor", "t-other")}
    server = start_server(db_url)
    yield Fleet(server, tokens)
    server.stop()


