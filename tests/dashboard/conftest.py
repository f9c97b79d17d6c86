"""Fixtures of the dashboard tests: a migrated database (SQLite, or PostgreSQL when marked),
a generated data set with known answers, officials, and a signed-in client."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass

import pytest

from district.db import create_db_engine, migrate
from district.fleet import load_units, register_terminal
from district.ingest import Delivery, ingest_batch
from tests.helpers import fresh_database

PASSWORD = "correct horse battery"
EVIL = '<script>alert("x")</script> & "Phường" \'O\''
ICT = dt.timezone(dt.timedelta(hours=7))
# "today" of the data set: every vote is in Sept–Oct 2025 (local time)
TODAY = dt.date(2025, 10, 20)

FLEET = {
    "fleet": {"name": "test"},
    "units": [
        {"id": "q", "name": "Quận Hai Bà Trưng", "kind": "Quận"},
        {"id": "p1", "name": "Phường Bạch Mai", "kind": "Phường", "parent": "q"},
        {"id": "p2", "name": "Phường Vĩnh Tuy", "kind": "Phường", "parent": "q"},
        {"id": "p3", "name": EVIL, "kind": "Phường", "parent": "q"},
        {"id": "p1a", "name": "Tổ dân phố 1", "kind": "Tổ", "parent": "p1"},
    ],
}
TERMINALS = [("t-q", "q", 3), ("t-p1", "p1", 3), ("t-p1a", "p1a", 5), ("t-p2", "p2", 3),
             ("t-p3", "p3", 4)]


@dataclass
class GenVote:
    terminal_id: str
    unit_id: str
    level: int
    scale: int
    at: dt.datetime  # UTC
    flags: list[str]
    reasons: list[str]
    counter: str = ""
    officer: str = ""

    @property
    def local(self) -> dt.datetime:
        return self.at.astimezone(ICT)


def on_duty(terminal_id: str, day: int) -> tuple[str, str]:
    """(counter, officer) the terminal showed: two officers take turns at Bạch Mai's counter,
    one sits at Vĩnh Tuy's, the other terminals show none."""
    if terminal_id == "t-p1":
        return "Quầy 1", "Nguyễn Văn An" if day % 2 == 0 else "Trần Thị Bình"
    if terminal_id == "t-p2":
        return "Quầy 2", "Lê Văn Cường"
    return "", ""


def generate_votes(seed: int = 7) -> list[GenVote]:
    rnd = random.Random(seed)
    out = []
    start = dt.datetime(2025, 9, 1, tzinfo=ICT)
    for terminal_id, unit_id, scale in TERMINALS:
        weights = {"t-p2": [5, 3, 2], "t-q": [1, 3, 6]}.get(terminal_id)
        for day in range(50):
            for _ in range(rnd.randint(0, 9)):
                at = start + dt.timedelta(days=day, hours=rnd.randint(7, 17),
                                          minutes=rnd.randint(0, 59), seconds=rnd.randint(0, 59))
                level = rnd.choices(range(1, scale + 1), weights=weights)[0] if weights \
                    and scale == 3 else rnd.randint(1, scale)
                roll = rnd.random()
                flags = ["test"] if roll < 0.04 else ["suspected_misuse"] if roll < 0.08 else \
                    ["test", "suspected_misuse"] if roll < 0.09 else \
                    ["stuck_button"] if roll < 0.10 else []
                reasons = rnd.sample(["waiting_time", "too_many_trips", "unclear_guidance",
                                      "officer_attitude", "other"], rnd.randint(1, 2)) \
                    if level == 1 else []
                out.append(GenVote(terminal_id, unit_id, level, scale, at.astimezone(dt.UTC),
                                   flags, reasons, *on_duty(terminal_id, day)))
    return out


def load_votes(engine, generated: list[GenVote]) -> None:
    by_terminal: dict[str, list[dict]] = {}
    for g in generated:
        batch = by_terminal.setdefault(g.terminal_id, [])
        batch.append({"id": str(uuid.uuid4()), "seq": len(batch) + 1, "level": g.level,
                      "scale": g.scale, "source": "gpio", "recorded_at": g.at.isoformat(),
                      "clock_synced": True, "boot_id": "boot-1",
                      "monotonic_ns": len(batch) * 10**9, "flags": g.flags,
                      "reasons": g.reasons, "counter": g.counter or None,
                      "officer": g.officer or None})
    now = dt.datetime.now(dt.UTC)
    unit_of = {t: u for t, u, _s in TERMINALS}
    for terminal_id, batch in by_terminal.items():
        for i in range(0, len(batch), 1000):
            accepted, _dup, rejected = ingest_batch(
                engine, terminal_id, unit_of[terminal_id], batch[i:i + 1000],
                Delivery(received_at=now, via="api"))
            assert not rejected and len(accepted) == len(batch[i:i + 1000])


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres",
                                                                 marks=pytest.mark.postgres)])
def db_url(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp("dash"), "dash_test") as url:
        yield url


@pytest.fixture(scope="session")
def dataset(db_url):
    """A migrated database holding the generated votes, terminals and officials."""
    from district.dashboard.accounts import add_user

    engine = create_db_engine(db_url)
    migrate(engine)
    load_units(engine, FLEET)
    for terminal_id, unit_id, _scale in TERMINALS:
        register_terminal(engine, terminal_id, unit_id, f"Quầy {terminal_id}")
    generated = generate_votes()
    load_votes(engine, generated)
    add_user(engine, "district", PASSWORD, "district")
    add_user(engine, "ward1", PASSWORD, "unit", "p1")
    add_user(engine, "ward2", PASSWORD, "unit", "p2")
    yield engine, generated
    engine.dispose()


@pytest.fixture(scope="session")
def app(dataset):
    os.environ["DISTRICT_ALERT_INTERVAL_S"] = "0"
    from district.app import create_app

    engine, _generated = dataset
    return create_app(engine=engine)


@pytest.fixture
def client_for(app, monkeypatch):
    """client_for(username) → a TestClient signed in as that official ("" = signed out)."""
    from fastapi.testclient import TestClient

    from district.dashboard import periods

    monkeypatch.setattr(periods, "today_local", lambda now=None: TODAY)
    clients = []

    def make(username: str = "district"):
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if username:
            r = client.post("/login", data={"username": username, "password": PASSWORD})
            assert r.status_code == 303, r.text
        return client
    yield make
    for c in clients:
        c.close()
