"""Fixtures of the steering tests: a district on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers import fresh_database
from tests.steering.steering_helpers import District


@pytest.fixture(params=["sqlite", "postgres"])
def district_server(request, tmp_path):
    with fresh_database(request.param, tmp_path, prefix="hl_steer") as url:
        d = District(url, tmp_path)
        yield d
        d.server.stop()
