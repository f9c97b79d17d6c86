"""Sooner on the server: the sync agent against a real ``district serve`` on loopback.

- While it backs off from a server it cannot reach, it probes ``/healthz`` and tries again
  as soon as the server is back, not when the (grown) backoff ends.
- Between passes it notices a vote that became pending — a new one, or a held one whose
  follow-up was just answered — and uploads it at once, not after ``interval_s``.

The waits here are an hour long; the hang guards are a minute: what arrives arrived because
the agent woke, on any machine's speed.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from kiosk import clock
from kiosk.config import KioskConfig
from kiosk.store import VoteStore
from kiosk.sync.agent import SyncAgent
from kiosk.sync.client import (
    MSG_BUSY,
    MSG_TOKEN,
    MSG_UNREACHABLE,
    PermanentError,
    TransientError,
)
from kiosk.vote import Reason, Source, new_vote
from tests.helpers import DistrictServer, add_terminal, clean_env, free_port

TERMINAL = "wake-test"
HOUR = 3600.0


@pytest.fixture
def district(tmp_path):
    db = f"sqlite:///{tmp_path / 'district.db'}"
    env = clean_env(DISTRICT_DB=db, DISTRICT_LANG="en")
    server = DistrictServer(db, port=free_port(), env=env, cwd=tmp_path,
                            log=tmp_path / "serve.log")
    server.token = add_terminal(None, TERMINAL, "ward-wake", env=env, cwd=tmp_path)
    yield server
    server.kill()


def stored_ids(server) -> set[str]:
    engine = sa.create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT vote_id FROM votes")).scalars())
    finally:
        engine.dispose()


def agent_for(server, tmp_path, **sync) -> SyncAgent:
    config = KioskConfig.model_validate({
        "terminal": {"id": TERMINAL}, "storage": {"path": str(tmp_path / "votes.db")},
        "gpio": {"pin_factory": "mock"}, "followup": {"enabled": True},
        "server": {"url": server.url, "token": server.token, "timeout_s": 5},
        "sync": {"interval_s": HOUR, "max_backoff_s": HOUR,
                 "heartbeat_interval_s": HOUR, **sync}})
    return SyncAgent(config, language="en", notify=lambda state: None)


def vote(store: VoteStore, level: int, *, held: bool = False):
    return store.record(new_vote(level, 3, Source.GPIO, clock.now()), held=held)


def wait_for(predicate, timeout=60.0) -> bool:
    """A hang guard, not a speed limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_backoff_ends_when_the_server_answers_again(district, tmp_path):
    agent = agent_for(district, tmp_path)
    try:
        assert not agent.client.probe()  # not started yet: unreachable
        agent._probing = True  # as after a failed upload to an unreachable server
        done = threading.Event()
        threading.Thread(target=lambda: (agent.idle(HOUR), done.set()), daemon=True).start()
        time.sleep(1)
        assert not done.is_set()  # still backing off: nothing answers
        district.start()
        assert done.wait(60), "the backoff did not end when the server came back"
    finally:
        agent.stop_event.set()
        agent.close()


def test_only_an_absent_or_failing_server_is_probed(district, tmp_path):
    agent = agent_for(district, tmp_path)
    try:
        for error, probes in ((TransientError(MSG_UNREACHABLE, url="x"), True),
                              (TransientError(MSG_BUSY, status=429, retry_after=30), False),
                              (PermanentError(MSG_TOKEN, status=401), False)):
            state = type("State", (), {"outcome": None, "next_action": None,
                                       "attempt_number": 1})()
            state.outcome = type("Outcome", (), {"exception": lambda self, e=error: e})()
            agent._on_failure(state)
            assert agent._probing is probes, error
        with VoteStore(agent.store.path, TERMINAL) as store:
            assert store.meta("server_reachable") is True  # the 401 was an answer
            assert store.meta("last_sync_problem")["message"] == MSG_TOKEN
    finally:
        agent.close()


def test_new_and_answered_votes_go_at_once_not_after_the_interval(district, tmp_path):
    district.start()
    agent = agent_for(district, tmp_path)
    runner = threading.Thread(target=agent.run_forever, daemon=True)
    with VoteStore(tmp_path / "votes.db", TERMINAL) as store:
        held = vote(store, 1, held=True)  # its follow-up is open: not sent yet
        runner.start()
        try:
            assert wait_for(lambda: store.meta("server_reachable") is True)  # a first pass
            assert held.id not in stored_ids(district)
            fresh = vote(store, 3)
            assert wait_for(lambda: fresh.id in stored_ids(district)), "new vote not sent"
            assert held.id not in stored_ids(district)
            store.add_reasons(held.id, [Reason.WAITING_TIME])  # the citizen answered
            assert wait_for(lambda: held.id in stored_ids(district)), "answered vote waits"
        finally:
            agent.stop_event.set()
            runner.join(30)
            agent.close()
