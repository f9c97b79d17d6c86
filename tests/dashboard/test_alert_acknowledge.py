"""Alerts acknowledged with a comment, and their history (issue 16): through the real app,
on a database migrated to d0008, an alert opened by the real loop (a stuck button) is
acknowledged by a district official with a comment, which the alerts page then shows with
who and when; the history lists its opening, the acknowledgement and, once the button is
free again, its end. A unit official cannot acknowledge another unit's alert; an empty
comment or a foreign form is refused and records nothing. District officials set the
unhappy-votes rule's thresholds on the page; a bad value is refused, naming the field."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from district.dashboard import alerts
from district.db import terminal_health, write_transaction


def _stuck(engine, stuck: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.delete().where(terminal_health.c.terminal_id == "t-p2"))
        conn.execute(terminal_health.insert().values(
            terminal_id="t-p2", received_at=now, sent_at=now, clock_offset_ms=0, backlog=0,
            software_version="0.1.0", clock_synced=True, stuck_buttons=stuck))
    alerts.refresh(engine, now, alerts.AlertSettings(silent_hours=10**6))


def _events(engine) -> list[tuple[str, str, str]]:
    e = alerts.alert_events.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(e.kind, e.who, e.comment).where(e.rule == "stuck_button",
                                                       e.subject == "t-p2")
            .order_by(e.pk))]


def test_acknowledge_with_a_comment_then_history(dataset, client_for):
    engine, _votes = dataset
    _stuck(engine, "2")
    try:
        district = client_for("district")
        page = district.get("/dashboard/alerts?unit=q").text
        assert 'data-subject="t-p2"' in page and 'action="/dashboard/alerts/acknowledge"' in page
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"rule": "stuck_button", "subject": "t-p2", "unit": "q", "csrf_token": token}

        # refused: no comment, a foreign form, another unit's official; nothing recorded
        assert district.post("/dashboard/alerts/acknowledge",
                              data={**form, "comment": "  "}).status_code == 400
        assert district.post("/dashboard/alerts/acknowledge",
                              data={**form, "comment": "x", "csrf_token": "no"}
                              ).status_code == 403
        ward = client_for("ward1")
        wtoken = ward.get("/dashboard/alerts").text.split(
            'name="csrf_token" value="')[1].split('"')[0]
        r = ward.post("/dashboard/alerts/acknowledge",
                      data={**form, "unit": "", "csrf_token": wtoken, "comment": "xem"})
        assert r.status_code == 400
        assert [k for k, _w, _c in _events(engine)] == ["opened"]

        r = district.post("/dashboard/alerts/acknowledge",
                          data={**form, "comment": "Đã gọi kỹ thuật viên thay nút"})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/alerts?unit=q"
        page = district.get("/dashboard/alerts?unit=q").text
        assert 'data-acknowledged="district"' in page
        assert "Đã gọi kỹ thuật viên thay nút" in page
        assert '<a href="/dashboard/units/p2">Phường Vĩnh Tuy</a>' in page

        _stuck(engine, "")  # the button is free: the alert ends
        assert _events(engine) == [("opened", "", ""),
                                   ("acknowledged", "district", "Đã gọi kỹ thuật viên thay nút"),
                                   ("closed", "", "")]
        page = district.get("/dashboard/alerts?unit=q").text
        history = page.split('id="alert-history"')[1].split("</table>")[0]
        assert [k.split('"')[0] for k in history.split('data-kind="')[1:]] == \
            ["closed", "acknowledged", "opened"]
        # a unit official sees only their units' history
        assert "· t-p2" in history and "· t-p2" not in ward.get("/dashboard/alerts").text
    finally:
        with write_transaction(engine) as conn:
            conn.execute(alerts.alert_events.delete())


def test_district_officials_set_the_rule(dataset, client_for):
    engine, _votes = dataset
    district = client_for("district")
    page = district.get("/dashboard/alerts").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    try:
        for bad, field in (({"negative_percent": "150"}, "negative_percent"),
                           ({"min_votes": "2.5"}, "min_votes"),
                           ({"window_hours": "abc"}, "window_hours")):
            form = {"negative_percent": "40", "min_votes": "6", "window_hours": "3",
                    "csrf_token": token, **bad}
            r = district.post("/dashboard/alerts/rules", data=form)
            assert r.status_code == 400 and field in r.text
        with engine.connect() as conn:
            assert alerts.effective_settings(conn) == alerts.AlertSettings.from_env()
        r = district.post("/dashboard/alerts/rules", data={
            "negative_percent": "40", "min_votes": "6", "window_hours": "2,5",
            "csrf_token": token})
        assert r.status_code == 303
        with engine.connect() as conn:
            cfg = alerts.effective_settings(conn)
        assert (cfg.negative_percent, cfg.min_votes, cfg.window_hours) == (40.0, 6, 2.5)
        page = district.get("/dashboard/alerts").text
        assert 'name="negative_percent" value="40"' in page
        assert 'name="min_votes" value="6"' in page and 'name="window_hours" value="2,5"' in page
        ward = client_for("ward1")
        wtoken = ward.get("/dashboard/alerts").text.split(
            'name="csrf_token" value="')[1].split('"')[0]
        assert 'action="/dashboard/alerts/rules"' not in ward.get("/dashboard/alerts").text
        assert ward.post("/dashboard/alerts/rules", data={
            "negative_percent": "1", "min_votes": "1", "window_hours": "1",
            "csrf_token": wtoken}).status_code == 403
        with engine.connect() as conn:
            assert alerts.effective_settings(conn).min_votes == 6
    finally:
        from district.dashboard.tables import settings

        with write_transaction(engine) as conn:
            conn.execute(settings.delete().where(settings.c.key == alerts.RULES_KEY))

