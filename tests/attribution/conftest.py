"""Fixtures of the attribution tests: a fresh database per backend (SQLite file, real
PostgreSQL) with a small unit tree, and a real server on it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from district import db
from district.fleet import load_units, register_terminal
from tests.helpers import DistrictServer, fresh_database, iso, utcnow

UNITS = [
    {"id": "q1", "name": "Quận Một", "kind": "district"},
    {"id": "p-a", "name": "Phường Bạch Mai", "kind": "ward", "parent": "q1"},
    {"id": "p-b", "name": "Phường Đồng Nhân", "kind": "ward", "parent": "q1"},
]


@dataclass
class System:
    backend: str
    url: str
    db_url: str
    engine: sa.Engine
    tokens: dict[str, str]

    def post(self, path: str, body: dict, terminal: str) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.tokens[terminal]}"})

    def votes(self, terminal: str, votes: list[dict]) -> httpx.Response:
        return self.post("/api/v1/votes", {"terminal_id": terminal, "sent_at": iso(utcnow()),
                                           "votes": votes}, terminal)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def system(request, tmp_path_factory):
    """Units q1 > p-a, p-b; terminals a-1, a-2 (p-a) and b-1 (p-b); a server on loopback."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = db.create_db_engine(url)
        db.migrate(engine)
        load_units(engine, {"units": UNITS})
        tokens = {t: register_terminal(engine, t, unit, t)
                  for t, unit in (("a-1", "p-a"), ("a-2", "p-a"), ("b-1", "p-b"))}
        server = DistrictServer(url).start()
        try:
            yield System(request.param, server.url, url, engine, tokens)
        finally:
            server.stop()
            engine.dispose()
