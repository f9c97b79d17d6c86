"""Two server processes writing the same votes to one PostgreSQL at once: every vote is
stored exactly once and accepted exactly once, and counted exactly once in the dashboard's
rollups (kept by the ingest transaction)."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from district import db
from district.fleet import register_terminal
from tests.district.conftest import wipe
from tests.helpers import DistrictServer, iso, make_vote, utcnow

pytestmark = pytest.mark.postgres


def test_two_servers_overlapping_batches_lose_and_duplicate_nothing(pg_server_url):
    engine = db.create_db_engine(pg_server_url)
    db.migrate(engine)
    wipe(engine)
    tokens = {t: register_terminal(engine, t, "unit-c") for t in ("c-1", "c-2")}
    servers = [DistrictServer(pg_server_url), DistrictServer(pg_server_url)]
    try:
        for server in servers:
            server.start()
        votes = {t: [make_vote(seq=i + 1) for i in range(600)] for t in tokens}
        # 40 batches per terminal, each an overlapping random sample: every vote is sent
        # several times, to both servers, concurrently.
        rng = random.Random(4)
        jobs = []
        for terminal, own in votes.items():
            chunks = [own[i:i + 100] for i in range(0, 600, 100)]
            for n in range(40):
                batch = rng.sample(own, 80) if n >= len(chunks) else chunks[n]
                jobs.append((servers[n % 2].url, terminal, batch))
        rng.shuffle(jobs)

        def send(job):
            url, terminal, batch = job
            response = httpx.post(
                f"{url}/api/v1/votes", timeout=60,
                headers={"Authorization": f"Bearer {tokens[terminal]}"},
                json={"terminal_id": terminal, "sent_at": iso(utcnow()), "votes": batch})
            assert response.status_code == 200, response.text
            return terminal, response.json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(send, jobs))
    finally:
        for server in servers:
            server.stop()

    accepted = Counter((t, vid) for t, body in results for vid in body["accepted"])
    assert all(n == 1 for n in accepted.values()), "a vote was accepted twice"
    expected = {(t, v["id"]) for t, own in votes.items() for v in own}
    assert set(accepted) == expected
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.votes.c.terminal_id, db.votes.c.vote_id)).all()
    assert len(rows) == len(expected) and {tuple(r) for r in rows} == expected
    # the dashboard's rollups, kept by both processes' ingest transactions, are exact
    from district import rollups as rollup

    with engine.connect() as conn:
        assert rollup.differences(conn) == []
        day_total = conn.execute(sa.text(
            "SELECT SUM(n1 + n2 + n3 + n4 + n5 + n_test + n_misuse) FROM dash_terminal_day"
        )).scalar()
    assert day_total == len(expected)
    engine.dispose()
