"""`kiosk status` and the technician screen read times as local dd/mm/yyyy HH:MM and the
last sync problem in the reader's language, whatever language the agent wrote it in."""

from __future__ import annotations

import time

import pytest

from kiosk.status import local_time, status_report, sync_problem_text
from kiosk.store import VoteStore
from kiosk.sync.client import MSG_REFUSED, MSG_UNREACHABLE


@pytest.fixture
def hanoi(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_utc_iso_becomes_local_day_month_year(hanoi):
    assert local_time("2026-12-01T18:40:06.990276Z") == "02/12/2026 01:40"
    assert local_time("2026-12-01T18:40:06+00:00") == "02/12/2026 01:40"
    assert local_time(None) is None
    assert local_time("not a time") == "not a time"  # shown as it is, never a traceback


def test_the_problem_is_said_in_the_readers_language(make_config):
    config = make_config()
    with VoteStore(config.storage.path, config.terminal.id) as store:
        store.set_meta(last_sync_error="Cannot reach the server http://x: check …",
                       last_sync_problem={"message": MSG_UNREACHABLE,
                                          "params": {"status": None, "url": "http://x"}})
    vi = status_report(config, "vi")["last_sync_error"]
    assert vi.startswith("Không kết nối được máy chủ http://x")
    assert status_report(config, "en")["last_sync_error"].startswith("Cannot reach the server")
    assert status_report(config)["last_sync_error"].startswith("Cannot reach")  # as stored


def test_the_servers_own_words_stay_quoted_inside_the_sentence():
    said = sync_problem_text({"message": MSG_REFUSED,
                              "params": {"status": 422, "reason": "batch is empty"}}, "vi")
    assert said == 'Máy chủ từ chối yêu cầu (HTTP 422); máy chủ trả lời: "batch is empty"'
