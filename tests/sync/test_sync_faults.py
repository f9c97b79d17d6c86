"""Faults between the agent and the server, injected by a real TCP proxy (proxy.py), a real
server SIGKILLed and restarted, and a real agent SIGKILLed. After each, once the faults stop
and `kiosk sync --once` runs, the server holds exactly the kiosk's votes."""

from __future__ import annotations

import json
import signal
import time

from tests.sync.sync_helpers import (
    assert_server_holds_exactly,
    kiosk,
    kiosk_popen,
    make_votes,
    store_of,
    wait_for,
)

VOTES = "/api/v1/votes"


def test_resets_dropped_answers_timeouts_500_and_429_lose_and_double_nothing(
        kiosk_env, server, proxy):
    with store_of(kiosk_env) as store:
        make_votes(store, 300)  # 6 batches of 50
    # The first batch meets every fault in a row, then goes through; later batches meet
    # more. Once-mode allows 8 tries a batch, so the run must still succeed.
    proxy.fail_next(["reset", "drop_response", "500", "429", "hang", "pass",
                     "drop_response", "pass", "reset", "500", "pass", "429", "pass"])
    out = kiosk(kiosk_env, "sync", "--once")  # its timeout: a hang guard, not a speed limit
    assert out.returncode == 0, out.stdout + out.stderr
    assert proxy.pending_faults() == 0
    for mode in ("reset", "drop_response", "500", "429", "hang"):
        assert proxy.hits[mode] >= 1, mode
    # Each dropped answer came after the server had stored the batch: those 100 votes were
    # sent again and came back "duplicate", which the agent counts as synced.
    assert "300 votes sent (200 new, 100 already on the server)" in out.stdout, out.stdout
    assert_server_holds_exactly(server, kiosk_env)


def test_connection_refused_gives_up_in_bounded_time_then_catches_up(kiosk_env, server, proxy):
    with store_of(kiosk_env) as store:
        make_votes(store, 120)
    proxy.down()
    out = kiosk(kiosk_env, "sync", "--once")  # it gives up: else kiosk()'s timeout fails it
    assert out.returncode == 1  # votes are left: not a success
    assert "120 left to send" in out.stdout
    with store_of(kiosk_env) as store:
        counts = store.counts()
        assert counts["pending"] == 120 and counts["inflight"] == 0  # all returned
        assert "Cannot reach the server" in store.meta("last_sync_error")
    status = json.loads(kiosk(kiosk_env, "status", "--json").stdout)
    assert status["votes_pending"] == 120 and status["last_sync_at"] is None

    proxy.up()
    out = kiosk(kiosk_env, "sync", "--once")
    assert out.returncode == 0, out.stderr
    assert_server_holds_exactly(server, kiosk_env)
    with store_of(kiosk_env) as store:
        assert store.meta("last_sync_error") is None


def test_server_killed_and_restarted_mid_batch(kiosk_env, server, proxy, tmp_path):
    with store_of(kiosk_env) as store:
        make_votes(store, 2000)  # 40 batches
    proxy.default = "delay"  # 50 ms a request: the upload takes a few seconds
    # --once gives up after 8 tries in a row: waits of up to 5 s between them outlast a
    # restart on any machine (the test waits for the restart, it never times it)
    env = {**kiosk_env, "KIOSK_SYNC__MAX_BACKOFF_S": "5"}
    agent = kiosk_popen(env, "sync", "--once", log=tmp_path / "agent.log")
    try:
        wait_for(lambda: proxy.active and len(server.vote_ids()) >= 300,
                 what="the upload to be under way")
        server.kill()  # SIGKILL, a request in flight
        time.sleep(0.5)  # the agent meets connection errors meanwhile
        server.start()
        # It rides out the restart: retries with backoff, then finishes the backlog.
        assert agent.wait(60) == 0, (tmp_path / "agent.log").read_text()[-2000:]
    finally:
        if agent.poll() is None:
            agent.kill()
    said = (tmp_path / "agent.log").read_text()
    # each failed try is one line in the technician's language, not an English log record
    assert "Try 1 failed, next try in" in said and "WARNING" not in said
    proxy.default = "pass"
    out = kiosk(kiosk_env, "sync", "--once")  # whatever the first run left
    assert out.returncode == 0, out.stderr
    assert_server_holds_exactly(server, kiosk_env)


def test_agent_sigkilled_mid_batch_then_rerun(kiosk_env, server, proxy, tmp_path):
    with store_of(kiosk_env) as store:
        make_votes(store, 1000)
    proxy.default = "delay"
    agent = kiosk_popen(kiosk_env, "sync", "--once", log=tmp_path / "agent.log")
    try:
        wait_for(lambda: len(server.vote_ids()) >= 100 and proxy.active,
                 what="an upload in flight")
        agent.send_signal(signal.SIGKILL)
        assert agent.wait(60) == -signal.SIGKILL
    finally:
        if agent.poll() is None:
            agent.kill()
    with store_of(kiosk_env) as store:
        counts = store.counts()
    assert counts["inflight"] == 50, counts  # the batch it was sending when killed
    assert counts["synced"] + counts["inflight"] + counts["pending"] == 1000

    proxy.default = "pass"
    out = kiosk(kiosk_env, "sync", "--once")  # return_inflight() first, then everything
    assert out.returncode == 0, out.stderr
    assert_server_holds_exactly(server, kiosk_env)


def test_service_rides_out_an_outage_and_stops_on_sigterm(kiosk_env, server, proxy, tmp_path):
    proxy.down()
    agent = kiosk_popen(kiosk_env, "sync", log=tmp_path / "agent.log")
    try:
        for level in (1, 2, 3):
            assert kiosk(kiosk_env, "vote", str(level)).returncode == 0

        def error_recorded():
            with store_of(kiosk_env) as store:
                return store.meta("last_sync_error")
        assert "Cannot reach the server" in wait_for(error_recorded, what="the error")
        proxy.up()
        wait_for(lambda: len(server.vote_ids()) == 3, what="votes after the outage")
        wait_for(lambda: error_recorded() is None, what="the error cleared")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    assert_server_holds_exactly(server, kiosk_env)
