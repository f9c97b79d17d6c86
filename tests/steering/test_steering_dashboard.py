"""The settings page and the requests from afar, through a real server: the form refuses
what the kiosk's model refuses, with the reason, and stores nothing; history and a return to
an earlier version; a unit official reads their unit's settings only and cannot act on
another unit's terminals; a doctor report asked on the fleet page appears there after the
terminal's next heartbeats."""

from __future__ import annotations

import re

from tests.steering.steering_helpers import Terminal, wait_for


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def form_of(page: str) -> dict:
    """Every field of the settings form as the page fills it."""
    fields = dict(re.findall(r'<input id="f-([a-z_.]+)" name="[^"]+" value="([^"]*)"', page))
    for key, body in re.findall(r'<select id="f-([a-z_.]+)" name="[^"]+"[^>]*>(.*?)</select>',
                                page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        fields[key] = chosen.group(1) if chosen else ""
    for key, body in re.findall(r'<textarea id="f-([a-z_.]+)"[^>]*>(.*?)</textarea>', page,
                                re.S):
        fields[key] = body
    return fields


def test_the_form_validates_keeps_history_and_returns_to_a_version(district_server):
    d = district_server
    d.register("bm-1", "p1")
    d.server.start()
    chief = d.official("chief")
    page = chief.get("/dashboard/settings", params={"unit": "p1"})
    assert page.status_code == 200
    assert "Ông/Bà có hài lòng với sự phục vụ hôm nay không?" in page.text  # the preview
    fields = form_of(page.text)
    assert set(fields) >= {"scale.question_vi", "followup.enabled", "rules.lockout_s"}

    # a value the kiosk's model refuses: the reason beside the field, nothing stored
    bad = dict(fields, **{"rules.lockout_s": "90", "csrf_token": csrf(page.text),
                          "unit": "p1"})
    refused = chief.post("/dashboard/settings", data=bad)
    assert refused.status_code == 422
    assert 'data-error="rules.lockout_s"' in refused.text
    assert "60" in re.search(r'data-error="rules.lockout_s">([^<]*)<', refused.text).group(1)
    assert d.rows("SELECT * FROM settings_versions") == []

    good = dict(fields, **{"scale.question_vi": "Câu hỏi của phường?", "rules.lockout_s": "5",
                           "csrf_token": csrf(page.text), "unit": "p1", "note": "thử"})
    saved = chief.post("/dashboard/settings", data=good, follow_redirects=True)
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    assert "Câu hỏi của phường?" in saved.text.split('id="preview"')[1].split("</section>")[0]
    second = dict(form_of(saved.text), **{"scale.question_vi": "Câu thứ hai?",
                                          "csrf_token": csrf(saved.text), "unit": "p1"})
    chief.post("/dashboard/settings", data=second)
    versions = d.rows("SELECT version, author, document FROM settings_versions ORDER BY 1")
    assert [v["author"] for v in versions] == ["chief", "chief"]

    # one click back to the first version: a third version with its document
    page = chief.get("/dashboard/settings", params={"unit": "p1"})
    assert page.text.count('class="restore"') == 1
    back = chief.post("/dashboard/settings/restore",
                      data={"version": str(versions[0]["version"]),
                            "csrf_token": csrf(page.text)}, follow_redirects=True)
    assert back.status_code == 200
    rows = d.rows("SELECT document, restores FROM settings_versions ORDER BY version")
    assert rows[-1]["document"] == rows[0]["document"]
    assert rows[-1]["restores"] == versions[0]["version"]
    audit = [r["action"] for r in d.rows("SELECT action FROM audit_log ORDER BY pk")]
    assert audit.count("settings_changed") == 2 and audit.count("settings_restored") == 1

    # a form from another site is refused
    foreign = chief.post("/dashboard/settings", data=dict(good, csrf_token="x"))
    assert foreign.status_code == 403


def test_unit_officials_read_their_units_and_act_on_their_terminals_only(district_server,
                                                                          tmp_path):
    d = district_server
    d.register("bm-1", "p1")
    d.register("tn-1", "p2")
    d.server.start()
    d.cli_ok("settings", "set", "scale.question_vi=Câu của quận?")
    officer = d.official("bachmai", role="unit", unit="p1")
    page = officer.get("/dashboard/settings")
    assert page.status_code == 200 and 'id="read-only"' in page.text
    assert "Câu của quận?" in page.text
    assert officer.get("/dashboard/settings", params={"unit": "p2"}).status_code == 404
    assert officer.get("/dashboard/settings", params={"terminal": "tn-1"}).status_code == 404
    token = csrf(page.text)
    change = officer.post("/dashboard/settings", data={"csrf_token": token, "unit": "p1",
                                                       "scale.question_vi": "Của tôi?"})
    assert change.status_code == 403
    assert len(d.rows("SELECT * FROM settings_versions")) == 1

    other = officer.post("/dashboard/terminals/tn-1/ask",
                         data={"action": "restart_ui", "csrf_token": token})
    assert other.status_code == 404
    assert d.rows("SELECT * FROM terminal_requests") == []

    # on their own terminal: the request, the terminal's answer on the fleet page
    t = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"]).start()
    try:
        asked = officer.post("/dashboard/terminals/bm-1/ask",
                             data={"action": "doctor", "csrf_token": token})
        assert asked.status_code == 303
        assert [r["asked_by"] for r in d.rows("SELECT * FROM terminal_requests")] == [
            "bachmai"]
        fleet = wait_for(lambda: (p := officer.get("/dashboard/fleet", params={"lang": "en"}).text)
                         and "doctor-checks" in p and p, timeout=180,
                         what="the doctor report on the fleet page")
        row = fleet.split('id="steer-bm-1"')[1].split("</tr>\n")[0]
        assert "runs version" in row
        assert "tn-1" not in fleet.split('id="steering"')[1]
        audit = d.rows("SELECT actor, target FROM audit_log WHERE action = 'doctor_requested'")
        assert audit == [{"actor": "bachmai", "target": "bm-1"}]
    finally:
        t.stop()


def test_the_fleet_page_shows_each_terminals_software_update(district_server):
    """What a terminal's heartbeat says of its last update (kept, rolled back with the
    reason) is on the fleet page, in the official's language; a unit official sees their
    unit's terminals only."""
    import datetime as dt

    import httpx

    d = district_server
    d.register("bm-1", "p1")
    d.register("tn-1", "p2")
    d.server.start()
    reason = "kiosk.service: the screen did not report ready (READY=1) (back to 0.1.0-1)"
    beats = {"bm-1": {"release_version": "0.1.0-1+bookworm", "release_outcome": "rolled_back",
                      "release_outcome_version": "0.1.0-3+bookworm", "release_reason": reason},
             "tn-1": {"release_version": "0.1.0-2+bookworm", "release_outcome": "kept",
                      "release_outcome_version": "0.1.0-2+bookworm"}}
    for terminal_id, release in beats.items():
        sent = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        answer = httpx.post(f"{d.server.url}/api/v1/heartbeat", timeout=30,
                            headers={"Authorization": f"Bearer {d.tokens[terminal_id]}"},
                            json={"terminal_id": terminal_id, "sent_at": sent, **release})
        assert answer.status_code == 200, answer.text
    chief = d.official("chief")
    english = chief.get("/dashboard/fleet", params={"lang": "en"}).text
    cell = english.split('id="steer-bm-1"')[1].split('data-col="doctor"')[0]
    assert "runs 0.1.0-1+bookworm" in cell
    assert "0.1.0-3+bookworm rolled back" in cell and "READY=1" in cell
    kept = english.split('id="steer-tn-1"')[1].split('data-col="doctor"')[0]
    assert "0.1.0-2+bookworm kept: it proved healthy" in kept
    vietnamese = chief.get("/dashboard/fleet", params={"lang": "vi"}).text
    assert "0.1.0-3+bookworm đã quay về bản cũ" in vietnamese
    ward = d.official("bachmai", role="unit", unit="p1").get("/dashboard/fleet").text
    assert 'id="steer-bm-1"' in ward and "tn-1" not in ward.split('id="steering"')[1]
