"""Scheduled reports (issue 16, item 4): a district official adds a schedule on the dashboard
(audited), the server mails the PDF and the workbook of the period just ended to a real
local SMTP receiver (aiosmtpd); a failing SMTP server gives a failed sending the page shows
and a retry that delivers; with two server processes (``district serve --workers 2``) one
mail only."""

from __future__ import annotations

import datetime as dt
import re
import time
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa

from district import audit
from district.dashboard import schedules
from district.dashboard.alerts import AlertSettings
from district.rollups import LOCAL_TZ
from tests.helpers import DistrictServer, clean_env, free_port
from tests.helpers.smtp import smtp_receiver

DUE = dt.datetime(2025, 11, 1, 7, tzinfo=LOCAL_TZ)  # the 1st: October's report
FILES = {"hailong-q-20251001-20251031-report.pdf", "hailong-q-20251001-20251031-report.xlsx"}


def _clear(engine) -> None:
    with engine.begin() as conn:
        conn.execute(schedules.sendings.delete())
        conn.execute(schedules.schedules.delete())


@pytest.fixture
def engine(dataset):
    """The data set's database, without schedules before and after (no other test's
    server may find one due)."""
    engine, _generated = dataset
    _clear(engine)
    yield engine
    _clear(engine)


def csrf(client) -> str:
    page = client.get("/dashboard/schedules?unit=q")
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def add_on_the_page(client, recipients="noivu@example.vn, vanphong@example.vn",
                    frequency="monthly") -> int:
    r = client.post("/dashboard/schedules", data={
        "unit": "q", "frequency": frequency, "recipients": recipients, "lang": "vi",
        "csrf_token": csrf(client)})
    assert r.status_code == 303, r.text[:500]
    listed, _sent = schedules.listed(client.app.state.engine, ["q"])
    return listed[-1].id


def make_due(engine, schedule_id: int, at: dt.datetime = DUE) -> None:
    with engine.begin() as conn:
        conn.execute(schedules.schedules.update().where(schedules.schedules.c.id == schedule_id)
                     .values(next_run_at=at))


def mail_to(port: int) -> AlertSettings:
    return AlertSettings(smtp_host="127.0.0.1", smtp_port=port, mail_from="hailong@example.vn")


def attachments(msg) -> dict[str, bytes]:
    return {p.get_filename(): p.get_payload(decode=True) for p in msg.walk() if p.get_filename()}


def test_a_schedule_set_on_the_dashboard_delivers_both_files(engine, client_for):
    client = client_for("district")
    schedule_id = add_on_the_page(client)
    s = schedules.listed(engine, ["q"])[0][0]
    assert s.recipients == ("noivu@example.vn", "vanphong@example.vn")
    assert s.next_run_at.astimezone(LOCAL_TZ).day == 1  # the next 1st, 07:00
    assert s.next_run_at.astimezone(LOCAL_TZ).hour == schedules.SEND_HOUR
    make_due(engine, schedule_id)
    now = DUE.astimezone(dt.UTC) + dt.timedelta(minutes=1)
    with smtp_receiver() as (controller, received):
        sent = schedules.send_due(engine, now, mail_to(controller.port))
        assert [x.status for x in sent] == ["sent"]
        assert schedules.send_due(engine, now, mail_to(controller.port)) == []  # not twice
    assert len(received) == 1
    msg = received[0]
    assert msg["To"] == "noivu@example.vn, vanphong@example.vn"
    assert str(make_header(decode_header(msg["Subject"]))) == \
        "Báo cáo Hài Lòng: Quận Hai Bà Trưng, tháng 10/2025"
    files = attachments(msg)
    assert set(files) == FILES
    assert files["hailong-q-20251001-20251031-report.pdf"].startswith(b"%PDF")
    assert files["hailong-q-20251001-20251031-report.xlsx"].startswith(b"PK")
    s = schedules.listed(engine, ["q"])[0][0]
    assert s.last_status == "sent" and s.attempts == 0 and s.pending_period is None
    assert s.next_run_at == dt.datetime(2025, 12, 1, 7, tzinfo=LOCAL_TZ)
    page = client.get("/dashboard/schedules?unit=q").text
    assert 'data-status="sent"' in page and "2025-10" in page


def test_a_failing_smtp_server_shows_and_is_retried(engine, client_for, monkeypatch, caplog):
    monkeypatch.setenv("DISTRICT_REPORT_RETRY_S", "600")
    client = client_for("district")
    schedule_id = add_on_the_page(client, "noivu@example.vn")
    make_due(engine, schedule_id)
    nobody = free_port()  # nothing listens there
    now = DUE.astimezone(dt.UTC) + dt.timedelta(minutes=1)
    sent = schedules.send_due(engine, now, mail_to(nobody))
    assert [x.status for x in sent] == ["failed"]
    assert f"127.0.0.1:{nobody}" in sent[0].error
    assert any("not mailed, attempt 1 of 3" in r.getMessage() for r in caplog.records)
    s = schedules.listed(engine, ["q"])[0][0]
    assert s.last_status == "failed" and s.attempts == 1 and s.pending_period == "2025-10"
    assert s.next_run_at == now + dt.timedelta(seconds=600)
    page = client.get("/dashboard/schedules?unit=q").text
    assert f'data-schedule="{schedule_id}" data-status="failed"' in page
    assert "thất bại" in page and f"127.0.0.1:{nobody}" in page
    # not yet due again; then, the receiver up, the retry delivers October's report
    with smtp_receiver() as (controller, received):
        assert schedules.send_due(engine, now + dt.timedelta(seconds=60),
                                  mail_to(controller.port)) == []
        later = now + dt.timedelta(seconds=601)
        sent = schedules.send_due(engine, later, mail_to(controller.port))
    assert [(x.status, x.attempt, x.period) for x in sent] == [("sent", 2, "2025-10")]
    assert len(received) == 1 and set(attachments(received[0])) == FILES
    s = schedules.listed(engine, ["q"])[0][0]
    assert s.last_status == "sent" and s.attempts == 0 and s.pending_period is None
    _listed, history = schedules.listed(engine, ["q"])
    assert [x.status for x in history] == ["sent", "failed"]


def test_three_failed_sendings_give_the_period_up(engine, client_for, monkeypatch):
    monkeypatch.setattr(schedules, "retry_after", lambda: dt.timedelta(seconds=1))
    from district.dashboard import report_mail

    monkeypatch.setattr(report_mail, "ATTEMPTS", 1)  # (one SMTP try a sending: quicker)
    client = client_for("district")
    schedule_id = add_on_the_page(client, "noivu@example.vn", "weekly")
    monday = dt.datetime(2025, 10, 13, 7, tzinfo=LOCAL_TZ)
    make_due(engine, schedule_id, monday)
    at = monday.astimezone(dt.UTC)
    statuses = []
    for _ in range(schedules.ATTEMPTS):
        at += dt.timedelta(seconds=2)
        statuses += [(x.status, x.period) for x in schedules.send_due(engine, at,
                                                                       mail_to(free_port()))]
    assert statuses == [("failed", "W2025-10-06"), ("failed", "W2025-10-06"),
                        ("given_up", "W2025-10-06")]
    s = schedules.listed(engine, ["q"])[0][0]
    assert s.pending_period is None and s.next_run_at == dt.datetime(2025, 10, 20, 7,
                                                                     tzinfo=LOCAL_TZ)
    assert "bỏ qua" in client.get("/dashboard/schedules?unit=q").text


def test_changes_are_checked_and_audited(engine, client_for):
    client = client_for("district")
    schedule_id = add_on_the_page(client)
    token = csrf(client)
    bad = client.post("/dashboard/schedules", data={
        "unit": "q", "frequency": "monthly", "recipients": "noivu@example.vn, not an address",
        "lang": "vi", "csrf_token": token})
    assert bad.status_code == 400 and "not an address" in bad.text
    bad = client.post(f"/dashboard/schedules/{schedule_id}", data={
        "frequency": "daily", "recipients": "a@example.vn", "csrf_token": token})
    assert bad.status_code == 400 and "daily" in bad.text
    missing = client.post(f"/dashboard/schedules/{schedule_id + 1000}", data={
        "frequency": "weekly", "recipients": "a@example.vn", "csrf_token": token})
    assert missing.status_code == 404
    assert len(schedules.listed(engine, ["q"])[0]) == 1  # nothing stored
    r = client.post(f"/dashboard/schedules/{schedule_id}", data={
        "frequency": "weekly", "recipients": "vp@example.vn", "lang": "en",
        "csrf_token": token})
    assert r.status_code == 303
    s = schedules.listed(engine, ["q"])[0][0]
    assert (s.frequency, s.recipients, s.lang) == ("weekly", ("vp@example.vn",), "en")
    assert s.next_run_at.astimezone(LOCAL_TZ).weekday() == 0
    assert client.post(f"/dashboard/schedules/{schedule_id}/delete",
                       data={"csrf_token": token}).status_code == 303
    assert schedules.listed(engine, ["q"])[0] == []
    entries = [e for e in audit.entries(engine, limit=20) if e.action.startswith("report_sch")]
    assert [e.action for e in entries][:3] == ["report_schedule_removed",
                                               "report_schedule_changed",
                                               "report_schedule_added"]
    changed = entries[1]
    assert changed.actor == "district" and changed.target == "q"
    assert changed.detail["before"]["frequency"] == "monthly"
    assert changed.detail["after"] == {"frequency": "weekly", "recipients": ["vp@example.vn"],
                                       "lang": "en"}
    # a ward official sees the page but changes nothing; a form without its token neither
    ward = client_for("ward1")
    assert ward.get("/dashboard/schedules?unit=p1").status_code == 200
    assert ward.post("/dashboard/schedules", data={
        "unit": "p1", "frequency": "monthly", "recipients": "a@example.vn",
        "csrf_token": csrf_of(ward, "p1")}).status_code == 403
    assert client.post("/dashboard/schedules", data={
        "unit": "q", "frequency": "monthly", "recipients": "a@example.vn",
        "csrf_token": "forged"}).status_code == 403
    assert schedules.listed(engine, ["q", "p1"])[0] == []


def csrf_of(client, unit: str) -> str:
    page = client.get(f"/dashboard/schedules?unit={unit}").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_two_server_processes_send_one_mail(engine, db_url, tmp_path):
    """``district serve --workers 2``: both processes run the report loop every half
    second; the claim lets one of them send."""
    actor = audit.Actor("test", "127.0.0.1")
    schedule_id = schedules.add(engine, actor, "q", "monthly", "noivu@example.vn", "vi",
                                dt.datetime.now(dt.UTC))
    make_due(engine, schedule_id, dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    with smtp_receiver() as (controller, received):
        env = {**clean_env(), "DISTRICT_SMTP_HOST": "127.0.0.1",
               "DISTRICT_SMTP_PORT": str(controller.port), "DISTRICT_ALERT_INTERVAL_S": "0",
               "DISTRICT_REPORT_INTERVAL_S": "0.5"}
        server = DistrictServer(db_url, workers=2, env=env, log=tmp_path / "server.log")
        server.start()
        try:
            deadline = time.monotonic() + 120
            while not received and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # both processes have looked again meanwhile
        finally:
            server.stop()
    assert len(received) == 1, (tmp_path / "server.log").read_text()[-2000:]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schedules.sendings.c.status)).scalars().all()
    assert rows == ["sent"]
