"""Rate limits with ``district serve --workers 2`` (issue 14, item 3 of the follow-up): the
sign-in counts live in one file both worker processes share, so a guesser whose tries land
on either worker is locked out after the same five failures as with one process; the ingest
limit, kept in each worker's memory, is divided between them (district/limits.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from limits.storage import MemoryStorage
from prometheus_client.mmap_dict import MmapedDict

from district import limits
from tests.helpers import DistrictServer, clean_env
from tests.trust.conftest import PASSWORD, SMALL

LOGIN_SAMPLE = "hailong_http_request_duration_seconds_sum"


def one_try(server, password: str) -> int:
    """A sign-in on a connection of its own: the kernel hands each new connection to one of
    the workers."""
    with httpx.Client(base_url=server.url, timeout=30, headers={"Connection": "close"}) as c:
        return c.post("/login", data={"username": "chief", "password": password}).status_code


def workers_that_answered(folder: Path) -> set[str]:
    """The worker processes (their pids) that counted a POST /login, from each one's own
    file of prometheus_client's multiprocess mode."""
    pids = set()
    for path in folder.glob("histogram_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == LOGIN_SAMPLE and labels.get("route") == "/login" and value:
                pids.add(path.stem.split("_", 1)[1])
    return pids


@pytest.fixture
def two_workers(database, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()  # (prometheus_client opens its files there at import)
    server = DistrictServer(database.url, workers=2, log=tmp_path / "serve.log",
                            env=clean_env(**SMALL, PROMETHEUS_MULTIPROC_DIR=str(metrics)))
    server.start(timeout=120)
    server.metrics = metrics
    yield server
    server.stop()


def test_the_sign_in_lockout_holds_across_workers(two_workers):
    server = two_workers
    answers = [one_try(server, "wrong password") for _ in range(5)]
    assert answers == [401] * 5
    # In memory per process, the worker that saw fewer than five failures would let the
    # right password in; shared, every worker refuses it.
    tries = []
    while len(workers_that_answered(server.metrics)) < 2 or len(tries) < 10:
        tries.append(one_try(server, PASSWORD))
        assert len(tries) < 60, "the tries never reached the second worker"
    assert set(tries) == {429}, tries
    assert len(workers_that_answered(server.metrics)) == 2


def test_each_worker_allows_a_terminal_the_whole_ingest_rate(monkeypatch):
    """A sync agent's one keep-alive connection meets one worker: a share of the rate per
    worker would slow every terminal by the number of workers."""
    monkeypatch.setenv("DISTRICT_INGEST_PER_TERMINAL", "20/second")
    for count in ("1", "2", "64"):
        monkeypatch.setenv(limits.WORKERS_ENV, count)
        ingest = limits.IngestLimits()
        assert ingest.per_terminal.amount == 20
        assert [ingest.refusal("token-a") for _ in range(20)] == [None] * 20
        assert ingest.refusal("token-a") is not None  # the 21st within the second
        assert ingest.refusal("token-b") is None  # another terminal's own count


def test_one_worker_keeps_its_counts_in_memory(monkeypatch):
    monkeypatch.setenv(limits.WORKERS_ENV, "2")  # (restored by monkeypatch afterwards)
    monkeypatch.setenv(limits.SHARED_FILE_ENV, "/nowhere/limits.db")
    limits.prepare_processes(1)
    assert limits.SHARED_FILE_ENV not in os.environ and limits.workers() == 1
    assert isinstance(limits.SigninLimits().window.storage, MemoryStorage)
