"""End to end: `kiosk vote` → `kiosk sync` → the real district server → `district stats`."""

from __future__ import annotations

import json
import signal

import pytest

from tests.helpers.proxy import FaultProxy
from tests.sync.sync_helpers import (
    TERMINAL_ID,
    DistrictServer,
    assert_server_holds_exactly,
    kiosk,
    kiosk_environment,
    kiosk_popen,
    make_votes,
    store_of,
    wait_for,
)


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_votes_from_kiosk_vote_are_counted_by_district_stats(backend, request, tmp_path):
    db_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    server = DistrictServer(db_url, tmp_path)
    server.register(TERMINAL_ID)
    server.start()
    try:
        env = kiosk_environment(tmp_path, url=server.url, token=server.tokens[TERMINAL_ID])
        made = []
        for level in (3, 1, 2, 3):
            out = kiosk(env, "vote", str(level))
            assert out.returncode == 0, out.stderr
            made.append(out.stdout.strip().splitlines()[-1])

        out = kiosk(env, "sync", "--once")
        assert out.returncode == 0, out.stderr
        assert "4 votes sent" in out.stdout

        stats = server.stats()
        assert stats["votes_total"] == 4
        assert stats["by_terminal"] == {TERMINAL_ID: 4}
        assert sorted(server.vote_ids()) == sorted(made)
        assert_server_holds_exactly(server, env)

        status = json.loads(kiosk(env, "status", "--json").stdout)
        assert status["votes_synced"] == 4 and status["votes_pending"] == 0
        assert status["last_sync_at"] and status["last_sync_error"] is None
        # --once ends with a heartbeat: the server knows the terminal is alive, backlog 0
        beats = server.heartbeats()
        assert beats and beats[-1]["backlog"] == 0

        # Nothing left: a second run sends nothing and still exits 0.
        again = kiosk(env, "sync", "--once")
        assert again.returncode == 0 and "0 votes sent" in again.stdout
        assert server.stats()["votes_total"] == 4
    finally:
        server.stop()


def test_service_mode_uploads_new_votes_heartbeats_and_stops_on_sigterm(kiosk_env, server,
                                                                        proxy, tmp_path):
    """`kiosk sync` (the systemd service) picks up votes as they are made, sends heartbeats,
    and leaves cleanly on SIGTERM."""
    env = {**kiosk_env, "KIOSK_SYNC__HEARTBEAT_INTERVAL_S": "0.5"}
    agent = kiosk_popen(env, "sync", log=tmp_path / "agent.log")
    try:
        for level in (1, 2, 3):
            assert kiosk(env, "vote", str(level)).returncode == 0
        wait_for(lambda: len(server.vote_ids()) == 3, what="3 votes on the server")
        wait_for(lambda: len(server.heartbeats()) >= 2, what="heartbeats")
        assert kiosk(env, "vote", "2").returncode == 0
        wait_for(lambda: len(server.vote_ids()) == 4, what="the 4th vote")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    assert_server_holds_exactly(server, env)


def test_once_moves_a_backlog_in_batches_and_ignores_other_terminals_rows(kiosk_env, server):
    with store_of(kiosk_env) as store:
        make_votes(store, 260)  # batch size 50 in tests: 6 batches
    out = kiosk(kiosk_env, "sync", "--once")
    assert out.returncode == 0, out.stderr
    assert "260 votes sent (260 new, 0 already on the server)" in out.stdout
    assert_server_holds_exactly(server, kiosk_env)


def test_unused_proxy_fixture_is_transparent(proxy, server):
    # sanity of the test tool itself: a request through the proxy reaches the server
    import requests
    assert requests.get(proxy.url + "/healthz", timeout=5).status_code == 200
    assert proxy.hits["pass"] == 1
    assert isinstance(proxy, FaultProxy)


def test_capture_is_not_slowed_while_the_agent_uploads(kiosk_env, server, proxy, tmp_path):
    """The UI's commit of a vote never waits on the network: the agent holds the SQLite
    write lock only for its short claim/settle transactions, never across a request."""
    import time

    from kiosk import clock
    from kiosk.vote import Source, new_vote

    with store_of(kiosk_env) as store:
        make_votes(store, 1500)
    proxy.default = "delay"  # every upload takes 50 ms+ while inflight rows exist
    agent = kiosk_popen(kiosk_env, "sync", "--once", log=tmp_path / "agent.log")
    slowest = 0.0
    try:
        with store_of(kiosk_env) as ui_store:
            wait_for(lambda: proxy.active, what="an upload in flight")
            for _ in range(20):
                started = time.perf_counter()
                ui_store.record(new_vote(3, 3, Source.GPIO, clock.now()))
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.02)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    assert slowest < 0.5, f"a vote waited {slowest:.3f} s for the store"
    out = kiosk(kiosk_env, "sync", "--once")  # votes made after the agent's last claim
    assert out.returncode == 0
    assert_server_holds_exactly(server, kiosk_env)
