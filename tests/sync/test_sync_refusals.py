"""What the server refuses: a vote it rejects (kept, never resent, reported) and a wrong
token (401: the agent says so and does not hammer the server)."""

from __future__ import annotations

import json
import signal
import time
import uuid

from tests.sync.sync_helpers import kiosk, kiosk_popen, make_votes, store_of, wait_for

VOTES = "/api/v1/votes"


def _craft_bad_vote(env) -> str:
    """A row the kiosk accepts but the server must reject: a counter name of 150 characters
    (the protocol allows 100). Written straight into the kiosk's SQLite file."""
    vote_id = str(uuid.uuid4())
    with store_of(env) as store, store.write() as conn:
        conn.execute(
            "INSERT INTO votes (id, terminal_id, level, scale, source, recorded_at,"
            " clock_synced, boot_id, monotonic_ns, counter) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (vote_id, env["KIOSK_TERMINAL__ID"], 2, 3, "gpio", "2025-03-04T08:00:00.000000Z",
             1, "boot-x", 5_000_000_000, "Q" * 150))
    return vote_id


def test_a_rejected_vote_is_kept_reported_and_never_resent(kiosk_env, server, proxy):
    with store_of(kiosk_env) as store:
        make_votes(store, 20)
    bad = _craft_bad_vote(kiosk_env)
    with store_of(kiosk_env) as store:
        make_votes(store, 20)

    out = kiosk(kiosk_env, "sync", "--once")
    assert out.returncode == 0, out.stderr  # nothing left pending: rejected is final
    assert "1 rejected" in out.stdout
    with store_of(kiosk_env) as store:
        assert store.status_of(bad) == "rejected"
        [(vote_id, error)] = store.rejected()
        ids = store.all_ids()
    assert vote_id == bad and "counter" in error
    server_ids = server.vote_ids()
    assert set(server_ids) == ids - {bad} and len(server_ids) == 40
    status = json.loads(kiosk(kiosk_env, "status", "--json").stdout)
    assert status["votes_rejected"] == 1 and status["votes_pending"] == 0
    assert status["votes_synced"] == 40
    assert status["rejected_votes"] == [{"id": bad, "error": error}]
    # the technician reads the reason in `kiosk status`, as the agent told them to
    shown = kiosk(kiosk_env, "status").stdout  # (these tests run the kiosk in English)
    assert "Rejected votes (the latest 1) and the server's reason:" in shown
    assert f"  {bad}: {error}" in shown.splitlines()
    assert server.heartbeats()[-1]["rejected"] == 1  # officials see it too

    posts = proxy.paths[VOTES]
    again = kiosk(kiosk_env, "sync", "--once")
    assert again.returncode == 0
    assert proxy.paths[VOTES] == posts  # not sent again
    assert len(server.vote_ids()) == 40


def test_wrong_token_is_reported_and_not_hammered(kiosk_env, server, proxy, tmp_path):
    with store_of(kiosk_env) as store:
        make_votes(store, 10)
    env = {**kiosk_env, "KIOSK_SERVER__TOKEN": "not-the-token",
           "KIOSK_SYNC__MAX_BACKOFF_S": "30", "KIOSK_SYNC__INTERVAL_S": "0.1"}

    # --once: one refused request, then it stops and says why.
    out = kiosk(env, "sync", "--once")
    assert out.returncode == 1
    assert proxy.paths[VOTES] == 1
    assert "token" in out.stderr

    # The service: one try, then it waits the longest backoff, not the 0.1 s interval.
    agent = kiosk_popen(env, "sync", log=tmp_path / "agent.log")
    try:
        wait_for(lambda: proxy.paths[VOTES] >= 2, what="the service's first try")
        time.sleep(3)
        assert proxy.paths[VOTES] == 2
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    status = json.loads(kiosk(env, "status", "--json").stdout)
    assert "token" in status["last_sync_error"] and "401" in status["last_sync_error"]
    assert status["votes_pending"] == 10 and status["votes_synced"] == 0
    with store_of(env) as store:
        assert store.counts()["inflight"] == 0
    assert server.stats()["votes_total"] == 0

    # With the right token the same backlog goes through.
    assert kiosk(kiosk_env, "sync", "--once").returncode == 0
    assert server.stats()["votes_total"] == 10
