"""The settings page in headless Chromium (Debian's, driven by Playwright) against a real
server: a district official changes one unit's question with the form; the terminals of that
unit (their real sync agents) take it, the others do not; a value the kiosk's model refuses
is refused on the form with the reason. Screenshots go to tests/artifacts/steering/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, fresh_database, require
from tests.steering.steering_helpers import District, Terminal, wait_for

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SHOTS = REPO / "tests" / "artifacts" / "steering"
QUESTION = "Ông/Bà có hài lòng với cán bộ Phường Bạch Mai không?"


def test_a_unit_question_changed_in_chromium_reaches_that_units_terminals(tmp_path):
    require(Path(CHROMIUM).exists(), f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with fresh_database("sqlite", tmp_path) as url:
        d = District(url, tmp_path)
        d.register("bm-1", "p1")
        d.register("tn-1", "p2")
        d.server.start()
        d.official("chief").close()  # the account (and one sign-in, by httpx)
        ours = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"]).start()
        other = Terminal(tmp_path / "tn-1", "tn-1", d.server.url, d.tokens["tn-1"]).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1366, "height": 900},
                                        locale="vi-VN")
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{d.server.url}/login")
                page.fill("input[name=username]", "chief")
                page.fill("input[name=password]", "correct horse battery")
                page.click("form[action='/login'] button[type=submit]")
                page.wait_for_url("**/dashboard")
                page.click("nav.mainnav a[href^='/dashboard/settings']")
                page.wait_for_url("**/dashboard/settings**")
                page.select_option("select[name=unit]", "p1")
                page.click("form.filters button[type=submit]")
                page.wait_for_url("**unit=p1**")

                # refused by the kiosk's model: the reason beside the field, nothing stored
                page.fill("input[name='rules.lockout_s']", "75")
                page.click("#save")
                page.wait_for_selector("[data-error='rules.lockout_s']")
                reason = page.locator("[data-error='rules.lockout_s']").inner_text()
                assert "60" in reason, reason
                assert d.rows("SELECT * FROM settings_versions") == []
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "settings-refused.png"), full_page=True)

                page.fill("input[name='rules.lockout_s']", "")
                page.fill("input[name='scale.question_vi']", QUESTION)
                page.click("#save")
                page.wait_for_selector("#saved")
                assert QUESTION in page.locator("#preview").inner_text()
                page.screenshot(path=str(SHOTS / "settings-saved.png"), full_page=True)
                assert not errors, errors
                browser.close()
            wait_for(lambda: (s := ours.stored()) and s["settings"].get("scale", {})
                     .get("question_vi") == QUESTION, what="the question on bm-1")
            wait_for(lambda: (d.steering("bm-1") or {}).get("applied_version") == 1,
                     what="bm-1 reports version 1 applied")
            assert other.stored()["settings"] == {}
            assert (d.steering("tn-1") or {}).get("applied_version") == 0
        finally:
            ours.stop()
            other.stop()
            d.server.stop()
