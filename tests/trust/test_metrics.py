"""``/metrics`` (issue 14, item 7): Prometheus' text format, parsed back with
prometheus_client's own parser, counting what the ingest did (votes by outcome, rejects by
reason, refused requests, heartbeats, silent terminals, latency per route, database
errors), for this machine or a metrics token only; with --workers 2 one scrape sees every
process's counts."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from district.auth import create_admin_token
from district.fleet import register_terminal
from tests.helpers import DistrictServer, clean_env, make_vote
from tests.trust.conftest import SMALL


def scrape(url: str, **headers) -> dict[tuple, float]:
    answer = httpx.get(url + "/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def post_votes(url: str, token: str, votes: list[dict]) -> httpx.Response:
    body = {"terminal_id": "t-1", "sent_at": "2026-12-02T01:00:00+00:00", "votes": votes}
    return httpx.post(url + "/api/v1/votes", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})


def exercise(url: str, token: str) -> None:
    """3 new votes, 1 duplicate, 1 rejected (level above its scale), a wrong token, a
    heartbeat."""
    first = make_vote(seq=1)
    assert post_votes(url, token, [first, make_vote(seq=2)]).status_code == 200
    again = post_votes(url, token, [first, make_vote(seq=3), make_vote(seq=4, level=9)])
    assert again.status_code == 200 and len(again.json()["rejected"]) == 1
    assert post_votes(url, "not-a-token", [make_vote(seq=5)]).status_code == 401
    beat = {"terminal_id": "t-1", "sent_at": "2026-12-02T01:00:00+00:00", "boot_id": "b",
            "monotonic_ns": 1}
    assert httpx.post(url + "/api/v1/heartbeat", json=beat, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_metrics_count_what_the_ingest_did(server_on, database):
    register_terminal(database.engine, "t-2", "unit-1", "never heard from")
    server = server_on()
    exercise(server.url, database.token)
    samples = scrape(server.url)
    assert value(samples, "hailong_ingest_batches_total") == 2
    assert value(samples, "hailong_ingest_votes_total", outcome="accepted") == 3
    assert value(samples, "hailong_ingest_votes_total", outcome="duplicate") == 1
    assert value(samples, "hailong_ingest_votes_total", outcome="rejected") == 1
    assert sum(v for (name, _l), v in samples.items()
               if name == "hailong_ingest_rejected_votes_total") == 1
    assert value(samples, "hailong_ingest_refused_requests_total", reason="unauthorized") == 1
    assert value(samples, "hailong_heartbeats_total") == 1
    assert value(samples, "hailong_terminals") == 2
    assert value(samples, "hailong_terminals_silent") == 1  # t-2
    assert value(samples, "hailong_http_request_duration_seconds_count",
                 route="/api/v1/votes", method="POST") == 3
    assert value(samples, "hailong_database_errors_total") == 0
    assert not [k for k in samples if "/api/v1/votes?" in str(k)]  # routes, never raw paths


def test_only_this_machine_or_a_metrics_token_may_scrape(server_on, database):
    server = server_on()
    # through a proxy on this machine that names the client (uvicorn trusts 127.0.0.1)
    outside = {"X-Forwarded-For": "203.0.113.7"}
    assert httpx.get(server.url + "/metrics", headers=outside, timeout=30).status_code == 404
    admin = create_admin_token(database.engine, "not for metrics")
    metrics = create_admin_token(database.engine, "prometheus", scope="metrics")
    assert httpx.get(server.url + "/metrics", timeout=30, headers={
        **outside, "Authorization": f"Bearer {admin}"}).status_code == 404
    assert scrape(server.url, **outside, Authorization=f"Bearer {metrics}")
    # and the metrics token is no admin token
    assert httpx.get(server.url + "/api/v1/stats", timeout=30, headers={
        "Authorization": f"Bearer {metrics}"}).status_code == 401


def test_the_cli_makes_a_metrics_token(database):
    from tests.helpers import BIN

    done = subprocess.run([str(BIN / "district"), "--db", database.url, "--lang", "en",
                           "officials", "token", "--metrics"], capture_output=True, text=True,
                          env=clean_env(), timeout=60, check=False)
    assert done.returncode == 0 and "GET /metrics" in done.stdout


def test_a_database_that_stops_answering_is_counted(tmp_path):
    from district import db
    from district.dashboard.accounts import add_user  # noqa: F401 (a database to break)
    from tests.helpers import fresh_pg_database

    try:
        with fresh_pg_database() as url:
            engine = db.create_db_engine(url)
            db.migrate(engine)
            engine.dispose()
            server = DistrictServer(url, env=clean_env(**SMALL)).start(timeout=120)
            try:
                import psycopg

                from tests.helpers import PG_ADMIN_URL
                name = url.rsplit("/", 1)[1]
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = %s", (name,))
                assert httpx.get(server.url + "/healthz", timeout=30).status_code == 503
                samples = scrape(server.url)
                assert value(samples, "hailong_database_errors_total") >= 1
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            finally:
                server.stop()
    except Exception as exc:  # noqa: BLE001
        if type(exc).__name__ == "PostgresUnavailable":
            pytest.skip("PostgreSQL unreachable")
        raise


def test_one_scrape_sees_every_worker(database, tmp_path):
    server = DistrictServer(database.url, workers=2, env=clean_env(**SMALL),
                            log=tmp_path / "serve.log").start(timeout=120)
    try:
        for n in range(20):  # new connections: spread over both processes
            httpx.get(server.url + "/healthz", timeout=30, headers={"Connection": "close"})
            assert n >= 0
        counts = [value(scrape(server.url), "hailong_http_request_duration_seconds_count",
                        route="/healthz", method="GET") for _ in range(4)]
    finally:
        server.stop()
    # whichever process answered each scrape, it counted the other's requests too
    assert min(counts) >= 20
