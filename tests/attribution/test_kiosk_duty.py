"""The terminal's attribution core with a real store, the real sync agent and the real
district server (docs/attribution.md): duty periods and votes reach the server exactly once
through the fault proxy (an open period sent, then its end); one rating per dossier on the
terminal; the voting window; the end of the working day; the staff screen's roster."""

from __future__ import annotations

import datetime as dt
import threading
import time
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from district.badges import public_key_text, sign
from district.officers import add_officer
from kiosk.capture import Capture
from kiosk.config import KioskConfig
from kiosk.duty import Desk
from kiosk.status import status_report
from kiosk.store import VoteStore
from kiosk.sync.agent import SyncAgent
from kiosk.vote import Source
from tests.helpers.proxy import FaultProxy

KEY = ed25519.Ed25519PrivateKey.generate()
RECEIPT = "000.00.00.H00-241201-0042"
FAULTS = ["reset", "drop_response", "500", "429", "hang", "pass", "drop_response", "reset"]


class Heard:
    """A capture listener: what the screen would be told."""

    def __init__(self):
        self.answers, self.outside = [], []

    def scan_answered(self, answer, on_duty):
        self.answers.append(answer)

    def press_outside_window(self, vote):
        self.outside.append(vote)


def config(tmp_path, url: str = "", token: str = "", **attribution) -> KioskConfig:
    return KioskConfig.model_validate({
        "terminal": {"id": "a-2", "unit": "p-a"},
        "scale": {"levels": 5},
        "storage": {"path": str(tmp_path / "votes.db")},
        "server": {"url": url, "token": token, "timeout_s": 2},
        "sync": {"max_backoff_s": 1, "batch_size": 2},
        "rules": {"lockout_s": 0, "debounce_ms": 0, "misuse_max_votes": 1000},
        "followup": {"enabled": False},
        "ui": {"counter": "Quầy 5", "officer": "fixed-name"},
        "attribution": {"badge_public_key": public_key_text(KEY), **attribution}})


def running(cfg: KioskConfig) -> tuple[Capture, Heard]:
    heard = Heard()
    capture = Capture(cfg, lambda: VoteStore(cfg.storage.path, cfg.terminal.id),
                      listeners=[heard])
    capture.start()
    return capture, heard


def settled(capture: Capture) -> None:
    """Everything queued so far has been handled (a hang guard, not a speed limit)."""
    done = threading.Event()
    capture.events.put(done.set)
    assert done.wait(30)


def vote(capture: Capture, level: int) -> None:
    capture.press(level, Source.TOUCH)
    settled(capture)


def local_votes(cfg) -> list:
    with VoteStore(cfg.storage.path, cfg.terminal.id) as store:
        return store.conn.execute("SELECT id, officer, dossier_code, flags FROM votes"
                                  " ORDER BY seq").fetchall()


def sync_through(proxy: FaultProxy, cfg: KioskConfig, faults: list[str]) -> None:
    """The real agent, through the proxy's faults, until nothing is left to send."""
    proxy.fail_next(faults)
    agent = SyncAgent(cfg, notify=lambda state: None)
    try:
        agent.start()
        deadline = time.monotonic() + 120
        while True:
            try:
                agent.upload_backlog(once=True)
            except Exception:  # noqa: BLE001 - a fault outlasted the tries: again
                pass
            with VoteStore(cfg.storage.path, cfg.terminal.id) as store:
                if store.backlog() == 0 and store.duty_backlog() == 0:
                    return
            assert time.monotonic() < deadline, "the backlog never emptied"
    finally:
        agent.close()


def with_roster(cfg: KioskConfig, *officers: tuple[str, str, int]) -> None:
    """The unit's roster in the store, as the agent brings it: (code, name, active)."""
    with VoteStore(cfg.storage.path, cfg.terminal.id) as store:
        store.conn.executemany("INSERT INTO officers (code, full_name, badge_issue, active)"
                               " VALUES (?, ?, 1, ?)", officers)


def server(system, table: str) -> list:
    with system.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT * FROM {table} WHERE terminal_id = 'a-2'")).all()


def test_duty_periods_and_votes_reach_the_server_exactly_once_through_faults(system,
                                                                             tmp_path):
    for code, name in (("CB-5", "Trần Văn Bình"), ("CB-6", "Lê Thu Hà")):
        with system.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM officers WHERE code = :c"), {"c": code})
        add_officer(system.engine, code, name, "p-a")
    port = urlparse(system.url).port
    with FaultProxy(port, hang_s=5) as proxy:
        cfg = config(tmp_path, proxy.url, system.tokens["a-2"])
        capture, heard = running(cfg)
        try:
            capture.scan(sign(KEY, "CB-5", 1))
            for level in (3, 4, 5):
                vote(capture, level)
            sync_through(proxy, cfg, FAULTS)  # CB-5 still on duty: the period goes open
            open_period = server(system, "duty_periods")
            assert [(p.officer, p.ended_at) for p in open_period] == [("CB-5", None)]
            capture.scan(sign(KEY, "CB-6", 1))  # the next officer: CB-5 out
            vote(capture, 2)
            capture.staff_sign_out()  # CB-6 out from the staff screen
            vote(capture, 1)  # nobody on duty: kiosk.toml's fixed name, as before
            settled(capture)
        finally:
            capture.stop()
        assert [a.kind for a in heard.answers] == ["signed_in", "signed_in"]
        waiting = status_report(cfg)  # CB-5's end and CB-6's period, for kiosk status
        assert waiting["duty_periods_pending"] == 2 and waiting["votes_pending"] == 2
        sync_through(proxy, cfg, FAULTS)
        sync_through(proxy, cfg, ["pass"])  # again: nothing more is sent, nothing doubles
    here = local_votes(cfg)
    assert [v["officer"] for v in here] == ["CB-5", "CB-5", "CB-5", "CB-6", "fixed-name"]
    assert status_report(cfg)["duty_periods_pending"] == 0
    there = server(system, "votes")
    assert sorted(v.vote_id for v in there) == sorted(v["id"] for v in here)  # each once
    assert {v.vote_id: v.officer for v in there} == {v["id"]: v["officer"] for v in here}
    periods = sorted(server(system, "duty_periods"), key=lambda p: p.started_at)
    assert [(p.officer, p.counter, p.end_reason) for p in periods] == [
        ("CB-5", "Quầy 5", "next_officer"), ("CB-6", "Quầy 5", "staff_screen")]
    assert all(p.ended_at is not None for p in periods)


def test_one_rating_per_dossier_on_the_terminal(tmp_path):
    cfg = config(tmp_path, dossier_s=60)
    capture, heard = running(cfg)
    try:
        capture.scan(RECEIPT)
        vote(capture, 4)
        capture.scan(RECEIPT)  # already rated here: refused kindly, nothing bound
        vote(capture, 1)
        capture.scan("not a code")
        vote(capture, 2)
    finally:
        capture.stop()
    assert [a.kind for a in heard.answers] == ["dossier", "dossier_rated", "unreadable"]
    rated = heard.answers[1].text(str)
    assert RECEIPT in rated and "already been rated" in rated
    assert [v["dossier_code"] for v in local_votes(cfg)] == [RECEIPT, None, None]


def test_a_dossier_binds_only_a_vote_within_its_time(tmp_path):
    cfg = config(tmp_path, dossier_s=0.2)
    capture, _heard = running(cfg)
    try:
        capture.scan(RECEIPT)
        settled(capture)
        time.sleep(0.5)  # longer than dossier_s: the vote rates no dossier
        vote(capture, 3)
    finally:
        capture.stop()
    assert [v["dossier_code"] for v in local_votes(cfg)] == [None]


def test_the_voting_window_counts_only_votes_after_a_scan_or_service_finished(tmp_path):
    cfg = config(tmp_path, voting_window_s=30)
    capture, heard = running(cfg)
    try:
        vote(capture, 5)  # nobody finished a service: stored, flagged, not counted
        capture.service_finished()
        vote(capture, 4)  # counted, and the window closes: one service, one vote
        vote(capture, 5)
        capture.scan(RECEIPT)
        vote(capture, 2)  # the dossier's vote
    finally:
        capture.stop()
    rows = local_votes(cfg)
    assert [v["flags"] for v in rows] == ["suspected_misuse;outside_window", "",
                                          "suspected_misuse;outside_window", ""]
    assert [v["dossier_code"] for v in rows] == [None, None, None, RECEIPT]
    assert len(heard.outside) == 2


def test_a_press_before_the_window_opens_does_not_lock_out_the_answer_after(tmp_path):
    cfg = config(tmp_path, voting_window_s=30)
    # a long lock-out: the answer comes well within it
    cfg = cfg.model_copy(update={"rules": cfg.rules.model_copy(update={"lockout_s": 30})})
    capture, heard = running(cfg)
    try:
        vote(capture, 5)  # too early: stored, flagged, and it arms the lock-out
        capture.service_finished()
        vote(capture, 3)  # the citizen's answer, right after: counted
        vote(capture, 1)  # a second press: the lock-out of the counted vote holds
    finally:
        capture.stop()
    rows = local_votes(cfg)
    assert [v["flags"] for v in rows] == ["suspected_misuse;outside_window", ""]
    assert len(heard.outside) == 1


def test_the_vote_a_service_opens_is_that_officers_even_after_the_next_one_badges_in(
        tmp_path):
    cfg = config(tmp_path, voting_window_s=60)
    capture, heard = running(cfg)
    try:
        capture.scan(sign(KEY, "CB-5", 1))
        capture.service_finished()  # CB-5 finished the citizen's service
        capture.scan(sign(KEY, "CB-6", 1))  # CB-6 takes the counter before the citizen rates
        vote(capture, 4)  # the citizen's rating of CB-5's service
        capture.service_finished()
        vote(capture, 2)  # CB-6's first service
    finally:
        capture.stop()
    assert [(v["officer"], v["flags"]) for v in local_votes(cfg)] == [("CB-5", ""),
                                                                      ("CB-6", "")]


def test_the_end_of_the_working_day_signs_out_at_that_time(tmp_path):
    cfg = config(tmp_path, day_end="17:30")
    with VoteStore(cfg.storage.path, cfg.terminal.id) as store:
        desk = Desk(store, cfg)
        morning = dt.datetime.now().astimezone().replace(hour=8, minute=0) - dt.timedelta(days=1)
        desk.sign_in("CB-9", morning.astimezone(dt.UTC), True)
        assert not desk.end_day_if_due(morning.astimezone(dt.UTC) + dt.timedelta(hours=2))
        assert desk.end_day_if_due(dt.datetime.now(dt.UTC))
        row = store.conn.execute("SELECT ended_at, end_reason FROM duty_periods").fetchone()
    ended = dt.datetime.fromisoformat(row["ended_at"]).astimezone()
    assert (ended.hour, ended.minute, row["end_reason"]) == (17, 30, "day_end")
    assert desk.on_duty is None


def test_a_restart_keeps_the_officer_on_duty_and_the_staff_screen_takes_the_roster(tmp_path):
    cfg = config(tmp_path, day_end="")
    with_roster(cfg, ("CB-1", "Nguyễn Văn An", 1), ("CB-2", "Phạm Thị Bé", 0))
    capture, heard = running(cfg)
    try:
        capture.staff_sign_in("CB-2")  # disabled: not on the roster's active list
        capture.staff_sign_in("CB-1")
        settled(capture)
    finally:
        capture.stop()
    assert [a.kind for a in heard.answers] == ["unknown_officer", "signed_in"]
    assert heard.answers[1].text(str) == "Nguyễn Văn An is now serving at this counter."
    with VoteStore(cfg.storage.path, cfg.terminal.id) as store:  # the screen restarted
        assert Desk(store, cfg).on_duty.officer == "CB-1"


@pytest.mark.parametrize("system", ["sqlite"], indirect=True)
def test_the_agent_brings_the_units_roster_and_a_revoked_badge_is_refused(system, tmp_path):
    from district.officers import disable_officer
    with system.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM officers WHERE code = 'CB-7'"))
    add_officer(system.engine, "CB-7", "Đỗ Minh Châu", "p-a")
    cfg = config(tmp_path, system.url, system.tokens["a-2"])
    agent = SyncAgent(cfg, notify=lambda state: None)
    try:
        agent.refresh_roster()
        capture, heard = running(cfg)
        capture.scan(sign(KEY, "CB-7", 1))
        capture.scan(sign(KEY, "CB-7", 1))  # the same badge again: signed out
        settled(capture)
        disable_officer(system.engine, "CB-7")
        agent.refresh_roster()
        capture.scan(sign(KEY, "CB-7", 1))
        settled(capture)
        capture.stop()
    finally:
        agent.close()
    assert [a.kind for a in heard.answers] == ["signed_in", "signed_out", "badge_revoked"]
    assert heard.answers[0].params == {"name": "Đỗ Minh Châu"}


def test_the_officers_name_and_photo_replace_the_code_once_the_roster_comes(tmp_path):
    cfg = config(tmp_path)
    with VoteStore(cfg.storage.path, cfg.terminal.id) as store:
        desk = Desk(store, cfg)
        desk.sign_in("CB-3", dt.datetime.now(dt.UTC), True)  # before the agent's roster
        assert desk.on_duty.name == "CB-3" and not desk.refresh()
        store.conn.execute("INSERT INTO officers (code, full_name, badge_issue, active, photo,"
                           " photo_type) VALUES ('CB-3', 'Vũ Thị Lan', 1, 1, x'89', 'image/png')")
        assert desk.refresh() and desk.on_duty.name == "Vũ Thị Lan"
        assert not desk.refresh()  # told once


def test_kiosk_run_starts_the_configured_reader_and_waits_for_a_missing_device(tmp_path):
    from kiosk.hardware.scanner import EvdevScanner, SerialScanner, open_reader
    scans: list[str] = []
    assert open_reader(config(tmp_path).attribution, scans.append) is None  # window keys
    for kind, cls in (("evdev", EvdevScanner), ("serial", SerialScanner)):
        section = config(tmp_path, scanner=kind,
                         scanner_device=str(tmp_path / "unplugged")).attribution
        reader = open_reader(section, scans.append)
        try:
            assert isinstance(reader, cls) and reader._thread.is_alive()
            assert not reader.connected.wait(0.5)  # not there: it keeps trying, never fails
        finally:
            reader.close()
    assert scans == []


def test_after_a_storage_recovery_the_counter_reads_the_reopened_store(tmp_path):
    """The probe reopens the store after a failure: the counter's state (roster, the
    end-of-day look, the screen's names and photos) must read that store, not the one the
    probe closed (which raised at each refresh and put the screen out of order again)."""
    from kiosk.store import StorageError

    cfg = config(tmp_path, day_end="")
    with_roster(cfg, ("CB-1", "Nguyễn Văn An", 1))
    capture, heard = running(cfg)
    try:
        capture.staff_sign_in("CB-1")
        settled(capture)
        closed = capture.store
        failure = StorageError("unavailable", tmp_path / "votes.db", "a card that came back")
        capture.events.put(lambda: capture._storage_failed(failure))
        deadline = time.monotonic() + 60  # the probe comes every 2 s: a hang guard
        while capture.storage_error is not None or capture.store is closed:
            assert time.monotonic() < deadline, "storage never recovered"
            time.sleep(0.1)
        assert capture.desk.log.store is capture.store
        names = []  # read on the capture thread, as the screen's roster is
        capture.events.put(lambda: names.append(capture.desk.log.name_of("CB-1")))
        settled(capture)
        assert names == ["Nguyễn Văn An"]
        vote(capture, 4)
        assert capture.storage_error is None
    finally:
        capture.stop()
    assert [v["officer"] for v in local_votes(cfg)] == ["CB-1"]
