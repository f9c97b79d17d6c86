"""Alert rules, open/close states, and delivery to a real SMTP server (aiosmtpd) and a
local webhook endpoint."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from district.dashboard import alerts
from district.db import terminal_health, write_transaction
from district.fleet import register_terminal
from district.ingest import Delivery, ingest_batch
from tests.helpers import fresh_engine
from tests.helpers.smtp import smtp_receiver

NOW = dt.datetime(2025, 10, 15, 3, 0, tzinfo=dt.UTC)  # 10:00 in Hanoi


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    with fresh_engine(request.param, tmp_path, [
            {"id": "q", "name": "Quận"},
            {"id": "w", "name": "Phường <b>Mai</b>", "parent": "q"}]) as eng:
        register_terminal(eng, "t-w", "w")
        register_terminal(eng, "t-q", "q")
        yield eng


def vote(level: int, minutes_ago: int, flags=()):
    return {"id": str(uuid.uuid4()), "seq": 1, "level": level, "scale": 3, "source": "gpio",
            "recorded_at": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(),
            "clock_synced": True, "boot_id": "b", "monotonic_ns": 1, "flags": list(flags)}


def beat(engine, terminal_id: str, at: dt.datetime, stuck: str = "") -> None:
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.insert().values(
            terminal_id=terminal_id, received_at=at, sent_at=at, clock_offset_ms=0,
            stuck_buttons=stuck, backlog=0, software_version="0.1.0"))


def store(engine, votes):
    ingest_batch(engine, "t-w", "w", votes, Delivery(received_at=NOW, via="api"))


def test_negative_share_rule_thresholds(engine):
    cfg = alerts.AlertSettings()
    # 2 negative of 4 in the window (50 %) → alert; test-flagged and older votes ignored
    store(engine, [vote(1, 10), vote(1, 30), vote(3, 50), vote(2, 100),
                   vote(1, 20, ["test"]), vote(1, 130)])
    with engine.connect() as conn:
        found = [a for a in alerts.current_conditions(conn, NOW, cfg)
                 if a.rule == "negative_share"]
    assert [(a.subject, a.detail["votes"], a.detail["negative"]) for a in found] == [("w", 4, 2)]
    with engine.connect() as conn:  # 3 votes only → no alert
        assert not [a for a in alerts.current_conditions(
            conn, NOW, alerts.AlertSettings(min_votes=5)) if a.rule == "negative_share"]


def test_alert_opens_once_closes_and_reopens(engine):
    beat(engine, "t-w", NOW - dt.timedelta(hours=1), stuck="2")
    beat(engine, "t-q", NOW - dt.timedelta(hours=30))
    cfg = alerts.AlertSettings()
    opened = alerts.refresh(engine, NOW, cfg)
    assert {(a.rule, a.subject) for a in opened} == {("stuck_button", "t-w"),
                                                      ("terminal_silent", "t-q")}
    assert alerts.refresh(engine, NOW, cfg) == []  # still open: not sent again
    with engine.connect() as conn:
        assert len(alerts.open_alerts(conn, ["w"])) == 1  # scope filter
    later = NOW + dt.timedelta(hours=1)
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.update().values(received_at=later, stuck_buttons=""))
    assert alerts.refresh(engine, later, cfg) == []
    with engine.connect() as conn:
        assert alerts.open_alerts(conn, None) == []
    beat_later = later + dt.timedelta(hours=25)
    assert {a.subject for a in alerts.refresh(engine, beat_later, cfg)} == {"t-w", "t-q"}


def test_open_alert_follows_its_condition_without_being_sent_again(engine):
    """A steady evaluation writes only what changed: the detail of a still-open alert is
    brought up to date, and the alert is not opened (nor announced) a second time."""
    cfg = alerts.AlertSettings()
    store(engine, [vote(1, 10), vote(1, 20), vote(3, 30), vote(3, 40)])
    assert [(a.rule, a.detail["negative"]) for a in alerts.refresh(engine, NOW, cfg)
            if a.rule == "negative_share"] == [("negative_share", 2)]
    store(engine, [vote(1, 5)])
    assert [a for a in alerts.refresh(engine, NOW, cfg) if a.rule == "negative_share"] == []
    with engine.connect() as conn:
        [alert] = [a for a in alerts.open_alerts(conn, None) if a.rule == "negative_share"]
    assert (alert.detail["votes"], alert.detail["negative"]) == (5, 3)
    assert alert.opened_at == NOW


def test_fleet_rule_reads_only_the_terminals_at_fault(engine):
    """``fleet_health(only=…)`` lets the database pick the silent and stuck terminals; the
    answer equals judging every terminal in Python."""
    from district.dashboard.health import fleet_health

    register_terminal(engine, "t-backlog", "w")
    register_terminal(engine, "t-fine", "w")
    beat(engine, "t-w", NOW - dt.timedelta(hours=1), stuck="2")
    beat(engine, "t-q", NOW - dt.timedelta(hours=30))
    beat(engine, "t-fine", NOW)
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.insert().values(
            terminal_id="t-backlog", received_at=NOW, sent_at=NOW, clock_offset_ms=0,
            backlog=10_000))
    with engine.connect() as conn:
        every = fleet_health(conn, None, NOW, 24)
        picked = fleet_health(conn, None, NOW, 24, only=("silent", "stuck button"))
    assert {t.id for t in every} == {"t-w", "t-q", "t-backlog", "t-fine"}
    assert picked == [t for t in every if {"silent", "stuck button"} & set(t.faults)]
    assert [t.id for t in picked] == ["t-q", "t-w"]


def test_alerts_check_command_names_new_alerts_in_vietnamese(engine):
    """``district alerts check`` (for cron), the real console script: each newly opened
    alert in the words of the pages, then the count; a second run finds nothing new."""
    import subprocess

    from tests.helpers import BIN, clean_env

    now = dt.datetime.now(dt.UTC)
    beat(engine, "t-w", now, stuck="2")
    beat(engine, "t-q", now)
    command = [str(BIN / "district"), "--db", engine.url.render_as_string(False),
               "alerts", "check"]
    first = subprocess.run(command, env=clean_env(), capture_output=True, text=True,
                           timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "Kẹt nút: thiết bị t-w (Phường <b>Mai</b>): nút 2 bị kẹt", "1 cảnh báo mới"]
    again = subprocess.run(command, env=clean_env(DISTRICT_LANG="en"), capture_output=True,
                           text=True, timeout=60)
    assert again.stdout.splitlines() == ["0 new alert(s)"], again.stderr


@pytest.fixture
def smtp_server():
    with smtp_receiver() as (controller, received):
        yield controller, received


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_notifications_by_smtp_and_webhook(engine, smtp_server, webhook):
    controller, mails = smtp_server
    url, posts = webhook
    store(engine, [vote(1, 5), vote(1, 6), vote(1, 7), vote(3, 8)])
    beat(engine, "t-w", NOW)
    beat(engine, "t-q", NOW)
    cfg = alerts.AlertSettings(smtp_host="127.0.0.1", smtp_port=controller.port,
                               mail_to=("noivu@example.vn",), webhook=url)
    opened = alerts.refresh(engine, NOW, cfg)
    assert [a.rule for a in opened] == ["negative_share"]
    assert len(mails) == 1 and len(posts) == 1
    mail = message_from_bytes(mails[0].as_bytes(), policy=policy.default)
    # Vietnamese first (the subject and the first line), English second
    vi = ("Nhiều đánh giá chưa hài lòng: Phường <b>Mai</b>: 3/4 lượt không hài lòng (75 %) "
          "trong 2 giờ qua")
    en = "Many unhappy votes: Phường <b>Mai</b>: 3 of 4 votes negative (75 %) in the last 2 hours"
    assert mail["Subject"] == f"[Hài Lòng] {vi}"
    body = mail.get_content()
    assert body.index(vi) < body.index(en)
    assert json.loads(body[body.index("{"):])["detail"]["negative"] == 3
    assert mail["To"] == "noivu@example.vn"
    assert posts[0]["rule"] == "negative_share" and posts[0]["detail"]["negative"] == 3
    assert (posts[0]["text"], posts[0]["text_en"]) == (vi, en)
    assert alerts.refresh(engine, NOW, cfg) == [] and len(mails) == 1  # no repeat


def test_failed_delivery_is_recorded(engine):
    from district.dashboard.tables import alert_states

    beat(engine, "t-w", NOW, stuck="1")
    beat(engine, "t-q", NOW)
    cfg = alerts.AlertSettings(webhook="http://127.0.0.1:9/nothing-listens")
    assert len(alerts.refresh(engine, NOW, cfg)) == 1
    with engine.connect() as conn:
        row = conn.execute(alert_states.select()).one()
    assert row.notified_at is None and "webhook" in row.notify_error


def test_one_process_evaluates_the_rules_per_interval(engine):
    """Every server process runs the alert loop; one claim per interval wins, also when
    eight of them ask at the same moment (real threads, real database)."""
    from concurrent.futures import ThreadPoolExecutor

    def claims(at: dt.datetime) -> int:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: alerts.claim_evaluation(engine, at, 60),
                                 range(8))).count(True)

    assert claims(NOW) == 1
    assert not alerts.claim_evaluation(engine, NOW + dt.timedelta(seconds=20), 60)
    assert claims(NOW + dt.timedelta(seconds=55)) == 1  # 0.8 of the interval passed


def test_votes_of_unknown_time_raise_no_alert(engine):
    """Their stored time is the kiosk's own clock (docs/dashboard.md): in no window."""
    from district.db import votes

    store(engine, [vote(1, 10), vote(1, 20), vote(1, 30), vote(1, 40), vote(3, 50)])
    with engine.connect() as conn:
        assert [a for a in alerts.current_conditions(conn, NOW, alerts.AlertSettings())
                if a.rule == "negative_share"]
    with write_transaction(engine) as conn:  # as the clock checks store such votes
        conn.execute(votes.update().values(time_uncertain=True))
    with engine.connect() as conn:
        assert not [a for a in alerts.current_conditions(conn, NOW, alerts.AlertSettings())
                    if a.rule == "negative_share"]
