"""Which release a terminal's heartbeat answer names (district/releases/store.py), on a real
migrated database: the newest rollout that takes the terminal in decides; paused holds it;
once that rollout is stopped the terminal keeps what it runs, and an older rollout — a
district's return to an earlier version with --allow-older included — never comes back by
itself."""

from __future__ import annotations

import pytest

from district import db
from district.audit import Actor
from district.fleet import load_units, register_terminal
from district.releases import store
from tests.helpers import fresh_database

V1, V2, V3 = "0.1.0-1+bookworm", "0.1.0-2+bookworm", "0.1.0-3+bookworm"
TECHNICIAN = Actor("cli:ky.thuat", "cli@test")


@pytest.fixture
def engine(tmp_path):
    with fresh_database("sqlite", tmp_path) as url:
        engine = db.create_db_engine(url)
        db.migrate(engine)
        load_units(engine, {"units": [{"id": "q", "name": "Quận"},
                                      {"id": "p1", "name": "Phường 1", "parent": "q"},
                                      {"id": "p2", "name": "Phường 2", "parent": "q"}]})
        for terminal, unit in (("t-1", "p1"), ("t-2", "p2")):
            register_terminal(engine, terminal, unit)
        yield engine
        engine.dispose()


def targets(engine) -> dict[str, tuple | None]:
    store._CACHE.clear()  # what a server process sees once its 2 s copy is old
    found = {}
    for terminal, unit in (("t-1", "p1"), ("t-2", "p2")):
        t = store.target_for(engine, terminal, unit)
        found[terminal] = None if t is None else (t.version, t.paused, t.allow_older)
    return found


def test_the_newest_rollout_that_takes_a_terminal_decides(engine):
    assert targets(engine) == {"t-1": None, "t-2": None}
    store.start(engine, V2, "all", "", TECHNICIAN)
    store.start(engine, V3, "unit", "p1", TECHNICIAN)
    assert targets(engine) == {"t-1": (V3, False, False), "t-2": (V2, False, False)}
    assert store.set_state(engine, store.PAUSED, TECHNICIAN, V3) == 1
    assert targets(engine) == {"t-1": (V3, True, False), "t-2": (V2, False, False)}
    store.set_state(engine, store.ACTIVE, TECHNICIAN, V3)
    # stopped: t-1 keeps what it runs; V2's rollout, older, does not take it back
    assert store.set_state(engine, store.STOPPED, TECHNICIAN, V3) == 1
    assert targets(engine) == {"t-1": None, "t-2": (V2, False, False)}


def test_stopping_a_release_never_sends_the_fleet_back_to_an_older_one(engine):
    store.start(engine, V3, "all", "", TECHNICIAN)
    store.start(engine, V1, "all", "", TECHNICIAN, allow_older=True)  # the district goes back
    assert targets(engine) == {"t-1": (V1, False, True), "t-2": (V1, False, True)}
    store.start(engine, V2, "all", "", TECHNICIAN)  # a fix, for everyone
    assert targets(engine)["t-1"] == (V2, False, False)
    store.set_state(engine, store.STOPPED, TECHNICIAN, V2)
    assert targets(engine) == {"t-1": None, "t-2": None}  # not V1 with allow_older
    store.start(engine, V1, "terminal", "t-2", TECHNICIAN, allow_older=True)  # asked anew
    assert targets(engine) == {"t-1": None, "t-2": (V1, False, True)}
