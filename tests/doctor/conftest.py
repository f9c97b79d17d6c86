"""The district server the doctor tests talk to (one per test run of this folder)."""

from __future__ import annotations

import pytest

from tests.doctor.doctor_helpers import Fleet
from tests.helpers import DistrictServer, add_terminal


@pytest.fixture(scope="module")
def district_fleet(tmp_path_factory) -> Fleet:
    folder = tmp_path_factory.mktemp("district")
    db_url = f"sqlite:///{folder / 'district.db'}"
    tokens = {tid: add_terminal(db_url, tid, "u-doctor") for tid in ("t-doctor", "t-other")}
    server = DistrictServer(db_url).start()
    yield Fleet(server, tokens)
    server.stop()


