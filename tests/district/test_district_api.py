"""The ingest API against a real server on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sys

import httpx
import sqlalchemy as sa

from district import db
from district.auth import create_admin_token
from district.fleet import register_terminal, revoke_terminal, rotate_token
from tests.helpers import iso, make_vote, utcnow


def test_accepted_then_duplicate(api):
    votes = [make_vote(seq=i) for i in range(1, 4)]
    first = api.post_votes(votes)
    assert first.status_code == 200, first.text
    body = first.json()
    assert sorted(body["accepted"]) == sorted(v["id"] for v in votes)
    assert body["duplicate"] == [] and body["rejected"] == []
    assert "server_time" in body
    again = api.post_votes(votes).json()
    assert again["accepted"] == [] and sorted(again["duplicate"]) == sorted(v["id"] for v in votes)
    assert api.vote_count() == 3


def test_one_bad_vote_is_rejected_alone(api):
    good = [make_vote(seq=1), make_vote(seq=2)]
    bad = [make_vote(seq=3, level=5),                 # above the scale of 3
           make_vote(seq=4, id="not-a-uuid"),
           make_vote(seq=5, flags=["bogus"]),
           make_vote(seq=6, unexpected=True)]         # unknown field in a vote
    body = api.post_votes([good[0], *bad, good[1]]).json()
    assert sorted(body["accepted"]) == sorted(v["id"] for v in good)
    rejected = {r["id"]: r["error"] for r in body["rejected"]}
    assert set(rejected) == {v["id"] for v in bad}
    # pydantic's English exactly, whatever the CLI shows in Vietnamese: the sync agent reads it
    assert rejected[bad[0]["id"]] == "Value error, level 5 is above the scale 3"
    assert rejected["not-a-uuid"] == "id: Value error, must be a UUID like 0b7c…-…"
    assert rejected[bad[2]["id"]] == ("flags.0: Input should be 'test', 'suspected_misuse', "
                                      "'stuck_button' or 'outside_window'")
    assert rejected[bad[3]["id"]] == "unexpected: Extra inputs are not permitted"
    assert api.vote_count() == 2


def test_same_vote_twice_in_a_batch_counts_once(api):
    vote = make_vote()
    body = api.post_votes([vote, vote]).json()
    assert body["accepted"] == [vote["id"]] and body["duplicate"] == [vote["id"]]
    assert api.vote_count() == 1


def test_kiosk_fields_kept_and_server_fields_added(api):
    vote = make_vote(recorded_at="2025-03-04T05:06:07.123456Z", flags=["test"],
                     reasons=["waiting_time", "officer_attitude"], officer="Nguyễn Văn A",
                     dossier_code="000.00.12.H26-250304-0001")
    api.post_votes([vote])
    with api.engine.connect() as conn:
        row = conn.execute(sa.select(db.votes)).one()
    assert row.vote_id == vote["id"] and row.terminal_id == "t-1" and row.unit_id == "unit-1"
    assert row.recorded_at_raw == "2025-03-04T05:06:07.123456Z"
    assert row.recorded_at.isoformat() == "2025-03-04T05:06:07.123456+00:00"
    assert row.corrected_at == row.recorded_at and not row.time_uncertain
    assert row.flags == "test" and row.reasons == "waiting_time;officer_attitude"
    assert row.officer == "Nguyễn Văn A" and row.via == "api"
    assert row.received_at <= utcnow()


def _post_raw(api, content: bytes, token=None, content_type="application/json"):
    return httpx.post(f"{api.url}/api/v1/votes", content=content, timeout=30, headers={
        "Authorization": f"Bearer {token or api.token}", "Content-Type": content_type})


def _assert_error(response, status: int, error: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["message"]
    return body


def test_malformed_bodies_are_clear_4xx_and_store_nothing(api):
    api.post_votes([make_vote()])
    vote = make_vote()
    envelope = {"terminal_id": api.terminal_id, "sent_at": iso(utcnow()), "votes": [vote]}

    _assert_error(_post_raw(api, b'{"terminal_id": "t-1", "votes": ['), 400, "invalid_json")
    _assert_error(_post_raw(api, b"\xff\xfe garbage"), 400, "invalid_json")

    wrong_type = _assert_error(_post_raw(api, json.dumps({**envelope, "votes": "many"}).encode()),
                               422, "invalid_body")
    assert wrong_type["details"][0]["loc"] == ["votes"]
    bad_time = _assert_error(_post_raw(api, json.dumps({**envelope, "sent_at": 12}).encode()),
                             422, "invalid_body")
    assert bad_time["details"][0]["loc"] == ["sent_at"]
    unknown = _assert_error(_post_raw(api, json.dumps({**envelope, "extra": 1}).encode()),
                            422, "invalid_body")
    assert unknown["details"][0]["loc"] == ["extra"]
    _assert_error(_post_raw(api, b"[1, 2, 3]"), 422, "invalid_body")

    too_many = {**envelope, "votes": [make_vote(seq=i + 1) for i in range(1001)]}
    _assert_error(_post_raw(api, json.dumps(too_many).encode()), 422, "batch_too_large")
    huge = json.dumps({**envelope, "padding": "x" * (3 * 1024 * 1024)}).encode()
    _assert_error(_post_raw(api, huge), 413, "body_too_large")

    other = _assert_error(_post_raw(api, json.dumps({**envelope, "terminal_id": "t-2"}).encode()),
                          403, "wrong_terminal")
    assert other["details"][0]["loc"] == ["terminal_id"]

    wrong = _assert_error(_post_raw(api, json.dumps(envelope).encode(), token="not-a-token"),
                          401, "unauthorized")
    assert wrong["message"]
    no_auth = httpx.post(f"{api.url}/api/v1/votes", json=envelope)
    _assert_error(no_auth, 401, "unauthorized")
    assert api.vote_count() == 1


def test_token_of_another_terminal_is_forbidden(api):
    other_token = register_terminal(api.engine, "t-2", "unit-2")
    response = api.post_votes([make_vote()], token=other_token)  # body says terminal t-1
    _assert_error(response, 403, "wrong_terminal")
    assert api.vote_count() == 0


def test_revoked_and_rotated_tokens(api):
    revoke_terminal(api.engine, api.terminal_id)
    _assert_error(api.post_votes([make_vote()]), 401, "unauthorized")
    new_token = rotate_token(api.engine, api.terminal_id)
    _assert_error(api.post_votes([make_vote()]), 401, "unauthorized")  # the old one stays dead
    assert api.post_votes([make_vote()], token=new_token).status_code == 200
    assert api.vote_count() == 1


def test_heartbeat_keeps_latest_and_history(api):
    beat = {"terminal_id": api.terminal_id, "sent_at": iso(utcnow()), "boot_id": "boot-a",
            "monotonic_ns": 5_000_000_000, "backlog": 12, "rejected": 1,
            "software_version": "0.1.0", "clock_synced": False, "disk_free_bytes": 10**9,
            "uptime_s": 5.0, "last_error": None, "stuck_buttons": [2]}
    headers = {"Authorization": f"Bearer {api.token}"}
    for backlog in (12, 3):
        response = httpx.post(f"{api.url}/api/v1/heartbeat", json={**beat, "backlog": backlog},
                              headers=headers)
        assert response.status_code == 200, response.text
        assert "server_time" in response.json()
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.heartbeats)).scalar() == 2
        latest = conn.execute(sa.select(db.terminal_health)).one()
        boots = conn.execute(sa.select(db.terminal_boots)).one()
    assert latest.backlog == 3 and latest.stuck_buttons == "2"
    assert latest.software_version == "0.1.0"
    # both clocks are this machine's: the offset is within the request's transit time,
    # which a loaded machine may stretch to seconds
    assert abs(latest.clock_offset_ms) < 60_000
    assert boots.boot_id == "boot-a" and boots.epoch_us is not None
    assert boots.samples == 2  # both heartbeats merged into the boot's one row
    bad = httpx.post(f"{api.url}/api/v1/heartbeat", json={**beat, "backlog": -1}, headers=headers)
    _assert_error(bad, 422, "invalid_body")
    other = httpx.post(f"{api.url}/api/v1/heartbeat", json={**beat, "terminal_id": "x"},
                       headers=headers)
    _assert_error(other, 403, "wrong_terminal")
    stranger = httpx.post(f"{api.url}/api/v1/heartbeat", json=beat,
                          headers={"Authorization": "Bearer not-a-token"})
    _assert_error(stranger, 401, "unauthorized")
    with api.engine.connect() as conn:  # refused heartbeats wrote nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(db.heartbeats)).scalar() == 2
        assert conn.execute(sa.select(db.terminal_health.c.backlog)).scalar_one() == 3
        assert conn.execute(sa.select(db.terminal_boots.c.samples)).scalar_one() == 2


def test_stats_need_an_admin_token(api):
    api.post_votes([make_vote(), make_vote(level=1)])
    assert httpx.get(f"{api.url}/api/v1/stats").status_code == 401
    terminal_auth = {"Authorization": f"Bearer {api.token}"}
    assert httpx.get(f"{api.url}/api/v1/stats", headers=terminal_auth).status_code == 401
    admin = create_admin_token(api.engine, "test")
    stats = httpx.get(f"{api.url}/api/v1/stats", headers={"Authorization": f"Bearer {admin}"})
    assert stats.status_code == 200
    body = stats.json()
    assert body["votes_total"] == 2 and body["by_terminal"] == {"t-1": 2}
    assert body["by_unit"] == {"unit-1": 2}


def test_healthz_and_openapi(api):
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok", "database": "ok"}
    doc = httpx.get(f"{api.url}/openapi.json").json()
    assert {"/api/v1/votes", "/api/v1/heartbeat", "/api/v1/stats", "/healthz"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    votes_op = doc["paths"]["/api/v1/votes"]["post"]
    assert {"200", "400", "401", "403", "413", "422"} <= set(votes_op["responses"])
    assert votes_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/VoteBatch")
    assert "Vote" in doc["components"]["schemas"]


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path):
    from tests.helpers import DistrictServer, clean_env

    unreachable = f"sqlite:///{tmp_path}/missing/dir/district.db"
    server = DistrictServer(unreachable, env=clean_env(DISTRICT_DB=unreachable), cmd=[
        sys.executable, "-m", "uvicorn", "--factory", "district.app:app_from_env",
        "--port", "PORT"])
    try:
        server.start(ready_path="/openapi.json")
        response = httpx.get(f"{server.url}/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "unreachable"}
    finally:
        server.stop()
