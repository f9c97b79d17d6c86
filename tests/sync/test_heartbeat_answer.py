"""The heartbeat's answer, now read by the heartbeat's own statement (PostgreSQL) and with
the settings version kept between heartbeats: through a real ``district serve`` on loopback,
on SQLite and PostgreSQL, the answer always names what the terminal should run now (the
version and tag the settings store computes from scratch) however the settings, the unit
tree or the terminal's unit change, and carries the open requests until answered."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import sqlalchemy as sa

from district import audit, db
from district.fleet import load_units, register_terminal
from district.steering import store
from district.steering import terminal as steering
from tests.helpers import iso
from tests.sync.test_clock_truth import district  # noqa: F401 (a server per database)

ACTOR = audit.Actor("tests", "cli")


def beat(url: str, terminal: str, token: str, **fields) -> dict:
    body = {"terminal_id": terminal, "sent_at": iso(dt.datetime.now(dt.UTC)),
            "boot_id": "boot-1", "monotonic_ns": 3600 * 10**9, **fields}
    r = httpx.post(f"{url}/api/v1/heartbeat", json=body,
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def assert_runs_what_the_store_says(url, engine, terminal, token) -> dict:
    """Two heartbeats in a row (the second from what the first left behind) both name
    what ``district.steering.store`` computes from scratch."""
    truth = store.effective(engine, store.Scope(store.TERMINAL, terminal))
    for _ in range(2):
        answer = beat(url, terminal, token, settings_applied=truth.version)
        assert (answer["settings_version"], answer["settings_etag"]) == (truth.version,
                                                                          truth.etag)
    return answer


def test_the_answer_follows_every_change_of_settings_tree_and_unit(district):  # noqa: F811
    url, engine = district
    tag = secrets.token_hex(3)
    top, left, right = f"top-{tag}", f"left-{tag}", f"right-{tag}"
    load_units(engine, {"units": [{"id": top, "name": top},
                                  {"id": left, "name": left, "parent": top},
                                  {"id": right, "name": right}]})
    terminal = f"t-{tag}"
    token = register_terminal(engine, terminal, left, terminal)
    assert_runs_what_the_store_says(url, engine, terminal, token)  # nothing set yet

    store.change(engine, store.Scope(store.UNIT, left), {"scale.question_vi": "Trái?"}, ACTOR)
    store.change(engine, store.Scope(store.UNIT, right), {"scale.question_vi": "Phải?"}, ACTOR)
    store.change(engine, store.Scope(store.UNIT, top), {"followup.enabled": True}, ACTOR)
    first = assert_runs_what_the_store_says(url, engine, terminal, token)

    store.change(engine, store.Scope(store.UNIT, left), {"scale.question_vi": "Mới?"}, ACTOR)
    changed = assert_runs_what_the_store_says(url, engine, terminal, token)
    assert changed["settings_etag"] != first["settings_etag"]

    with engine.begin() as conn:  # the terminal moves to another unit (no version written)
        conn.execute(db.terminals.update().where(db.terminals.c.id == terminal)
                     .values(unit_id=right))
    moved = assert_runs_what_the_store_says(url, engine, terminal, token)
    assert moved["settings_etag"] != changed["settings_etag"]

    # the unit tree changes (no version written): "right" now inherits the follow-up
    load_units(engine, {"units": [{"id": top, "name": top},
                                  {"id": right, "name": right, "parent": top}]})
    regrafted = assert_runs_what_the_store_says(url, engine, terminal, token)
    assert regrafted["settings_etag"] != moved["settings_etag"]


def test_open_requests_ride_on_every_answer_until_answered(district):  # noqa: F811
    url, engine = district
    terminal = f"t-{secrets.token_hex(3)}"
    token = register_terminal(engine, terminal, f"u-{terminal}", terminal)
    assert beat(url, terminal, token)["requests"] == []
    asked = [steering.ask(engine, terminal, action, ACTOR)
             for action in ("doctor", "button_test")]
    for _ in range(2):
        assert beat(url, terminal, token)["requests"] == [
            {"id": asked[0], "action": "doctor"}, {"id": asked[1], "action": "button_test"}]
    answer = beat(url, terminal, token, answers=[{"id": asked[0], "ok": True, "text": "{}"}])
    assert answer["requests"] == [{"id": asked[1], "action": "button_test"}]
    assert beat(url, terminal, token)["requests"] == [{"id": asked[1], "action": "button_test"}]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(steering.terminal_requests.c.pk)
                            .where(steering.terminal_requests.c.terminal_id == terminal,
                                   steering.terminal_requests.c.answered_at.is_not(None))
                            ).scalars().all()
    assert rows == [asked[0]]
