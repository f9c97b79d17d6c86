"""The district's settings reach the terminals of the unit they were set for, and only
those, through the real server and the real sync agent; a refusal and a damaged file are
reported; a doctor report asked from afar comes back with the next heartbeat."""

from __future__ import annotations

import json

import httpx

from tests.steering.steering_helpers import Terminal, wait_for

QUESTION = "Ông/Bà có hài lòng với Phường Bạch Mai hôm nay không?"


def test_a_unit_question_reaches_that_units_terminals_only(district_server, tmp_path):
    d = district_server
    d.register("bm-1", "p1")
    d.register("tn-1", "p2")
    d.server.start()
    ours = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"]).start()
    other = Terminal(tmp_path / "tn-1", "tn-1", d.server.url, d.tokens["tn-1"]).start()
    try:
        # both follow the (empty) settings first: version 0
        for t in (ours, other):
            wait_for(lambda t=t: t.stored() is not None, what=f"{t.folder.name} settings")
        d.cli_ok("settings", "set", f"scale.question_vi={QUESTION}", "followup.enabled=true",
                 "--unit", "p1", "--note", "câu hỏi của phường")
        version = d.rows("SELECT max(version) AS v FROM settings_versions")[0]["v"]
        stored = wait_for(lambda: (s := ours.stored()) and s["version"] == version and s,
                          what="the unit's settings on its terminal")
        assert stored["settings"] == {"followup": {"enabled": True},
                                      "scale": {"question_vi": QUESTION}}
        # the terminal reports it applied, with a later heartbeat
        wait_for(lambda: (d.steering("bm-1") or {}).get("applied_version") == version,
                 what="the applied version on the server")
        # the other unit's terminal heard of no change: same (empty) settings, no question
        assert other.stored()["settings"] == {}
        assert (d.steering("tn-1") or {}).get("applied_version") == 0
        # and the settings never carry what identifies or secures a terminal
        answer = httpx.get(d.server.url + "/api/v1/settings",
                           headers={"Authorization": f"Bearer {d.tokens['bm-1']}"})
        assert answer.status_code == 200
        assert "server" not in answer.json()["settings"]
        again = httpx.get(d.server.url + "/api/v1/settings",
                          headers={"Authorization": f"Bearer {d.tokens['bm-1']}",
                                   "If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304
        assert httpx.get(d.server.url + "/api/v1/settings").status_code == 401
    finally:
        ours.stop()
        other.stop()


def test_settings_the_terminal_cannot_run_are_refused_with_the_reason(district_server,
                                                                       tmp_path):
    d = district_server
    d.register("bm-1", "p1")
    d.server.start()
    # three buttons wired by hand: a five-level scale has no button for levels 4 and 5
    t = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"],
                 gpio__button_pins="[4, 12, 16]").start()
    try:
        wait_for(lambda: t.stored() is not None, what="the first settings")
        d.cli_ok("settings", "set", "scale.levels=5", "--terminal", "bm-1")
        row = wait_for(lambda: (s := d.steering("bm-1")) and s["refused_version"] and s,
                       what="the refusal on the server")
        assert "button_pins" in row["refusal"], row
        assert row["applied_version"] == 0
        assert t.stored()["settings"] == {}  # the last good settings stay
    finally:
        t.stop()


def test_a_damaged_settings_file_falls_back_to_the_last_good_one_and_says_so(
        district_server, tmp_path):
    d = district_server
    d.register("bm-1", "p1")
    d.server.start()
    d.cli_ok("settings", "set", "rules.lockout_s=5", "--unit", "p1")
    t = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"]).start()
    wait_for(lambda: (s := t.stored()) and s["settings"], what="the unit's settings")
    t.stop()
    good = t.stored()
    (t.folder / "settings.json").write_text('{"version": 1, "etag": "x", "settin')  # cut
    t.start()
    try:
        row = wait_for(lambda: (s := d.steering("bm-1")) and "damaged" in (s["refusal"] or "")
                       and s, what="the damaged file reported")
        assert row["applied_version"] == good["version"]
        # and the terminal runs the last good version: kiosk config show says so
        from kiosk.config import load
        from kiosk.remote_settings import effective

        config, stored, problem = effective(load(environ=t.env))
        assert config.rules.lockout_s == 5 and stored.version == good["version"]
    finally:
        t.stop()


def test_a_doctor_report_asked_from_afar_arrives_with_the_next_heartbeat(district_server,
                                                                         tmp_path):
    d = district_server
    d.register("bm-1", "p1")
    d.server.start()
    t = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"]).start()
    try:
        wait_for(lambda: t.stored() is not None, what="the first heartbeat")
        d.cli_ok("terminals", "ask-doctor", "bm-1")
        row = wait_for(lambda: (r := d.rows("SELECT * FROM terminal_requests"))
                       and r[0]["answered_at"] and r[0], what="the doctor's answer",
                       timeout=180)
        answer = json.loads(row["answer"])
        report = json.loads(answer["text"])
        assert report["doctor"]["terminal_id"] == "bm-1"
        assert {c["check"] for c in report["doctor"]["checks"]}
        assert isinstance(report["journal"], list)
        audit = d.rows("SELECT * FROM audit_log WHERE action = 'doctor_requested'")
        assert audit and audit[0]["target"] == "bm-1"
    finally:
        t.stop()
