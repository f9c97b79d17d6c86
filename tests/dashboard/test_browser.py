"""The dashboard in headless Chromium (Debian's, driven by Playwright): sign in, every page,
period and unit switches, every download opened and checked. Screenshots go to
tests/artifacts/dashboard/ (the main ones are copied to docs/screenshots/)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.dashboard.conftest import PASSWORD
from tests.dashboard.expected import figures
from tests.helpers import REPO, require

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SHOTS = REPO / "tests" / "artifacts" / "dashboard"
SUBTREE_P1 = {"p1", "p1a"}


@pytest.fixture(scope="module")
def server(app, dataset):
    import uvicorn

    from district.dashboard import alerts
    from district.db import terminal_health, write_transaction

    engine, _votes = dataset
    if engine.dialect.name != "sqlite":
        pytest.skip("one browser run is enough (SQLite)")
    now = dt.datetime.now(dt.UTC)  # fleet health is judged against the real clock
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.delete())
        for tid, minutes, stuck in (("t-q", 3, ""), ("t-p1", 4, ""), ("t-p1a", 2, "3"),
                                    ("t-p2", 60 * 40, ""), ("t-p3", 1, "")):
            at = now - dt.timedelta(minutes=minutes)
            conn.execute(terminal_health.insert().values(
                terminal_id=tid, received_at=at, sent_at=at, clock_offset_ms=850, backlog=0,
                software_version="0.1.0", clock_synced=True, stuck_buttons=stuck))
    alerts.refresh(engine, now, alerts.AlertSettings())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def sign_in(browser, server, username="district"):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 900},
                              locale="vi-VN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/dashboard")
    assert "/login" in page.url
    shot(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/dashboard")
    return ctx, page, errors


def test_district_official_walks_every_page(browser, server, dataset):
    _engine, votes = dataset
    ctx, page, errors = sign_in(browser, server)
    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-10-01")
    page.wait_for_function("document.querySelector('#chart-units').height > 0")
    assert page.locator("h1").inner_text() == "Quận Hai Bà Trưng"
    want = figures(votes, {"q", "p1", "p1a", "p2", "p3"}, dt.date(2025, 10, 1),
                   dt.date(2025, 10, 31))
    assert page.locator("[data-kpi=votes]").get_attribute("data-value") == str(want["votes"])
    assert page.locator(".alertlist li").count() >= 2
    shot(page, "overview")

    # switch the period with the form: quarter
    page.select_option("select[name=period]", "quarter")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**period=quarter**")
    # the month shown was 10/2025, so the date in the form is 2025-10-01: the fourth quarter
    assert "Quý 4/2025 · so với Quý 3/2025" in page.locator(".period").inner_text()

    # switch the unit with the form
    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-09-01")
    page.select_option("select[name=unit]", "p1")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**unit=p1**")
    sep = figures(votes, SUBTREE_P1, dt.date(2025, 9, 1), dt.date(2025, 9, 30))
    assert page.locator("[data-kpi=votes]").get_attribute("data-value") == str(sep["votes"])

    # unit page with charts and heat map
    page.click("table#ranking a >> nth=0")
    page.wait_for_url("**/dashboard/units/**")
    page.goto(f"{server}/dashboard/units/p1?period=month&date=2025-09-01")
    page.wait_for_function("document.querySelector('#chart-trend').height > 0")
    cells = page.locator("#heatmap td[data-votes]")
    assert cells.count() == 7 * 24
    total = sum(int(v) for v in cells.evaluate_all("els => els.map(e => e.dataset.votes)"))
    assert total == sep["votes"]
    shot(page, "unit")
    page.click(".steps a >> text=theo tuần")
    page.wait_for_url("**step=week**")

    page.click("nav.mainnav >> text=Tình trạng thiết bị")
    page.wait_for_url("**/dashboard/fleet**")
    page.goto(f"{server}/dashboard/fleet?unit=q&per_page=3")
    assert page.locator("tr.fault").count() == 2  # t-p2 silent, t-p1a stuck button: first
    assert page.locator("#fleet-summary").get_attribute("data-total") == "5"
    assert "Trang 1/2" in page.locator("nav.pager >> nth=0").inner_text()
    shot(page, "fleet")
    page.click("nav.pager >> nth=0 >> a[rel=next]")
    page.wait_for_url("**page=2**")
    assert page.locator("#terminals tbody tr").count() == 2
    assert page.locator("tr.fault").count() == 0
    page.goto(f"{server}/dashboard/alerts?unit=q")
    shot(page, "alerts")
    page.goto(f"{server}/dashboard/find?q=phuong")  # the unit search, accents optional
    assert page.locator("#found li").count() == 3
    shot(page, "find")

    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-10-01&lang=en")
    assert page.locator("nav.mainnav").inner_text().startswith("Overview")
    shot(page, "overview-en")
    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-10-01&lang=vi")
    assert not errors, errors
    ctx.close()


def test_downloads_open_with_right_numbers(browser, server, dataset, tmp_path):
    _engine, votes = dataset
    ctx, page, _errors = sign_in(browser, server)
    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-09-01")
    sep = (dt.date(2025, 9, 1), dt.date(2025, 9, 30))
    files = {}
    for label in ("summary.xlsx", "summary.csv", "votes.xlsx", "votes.csv", "monthly.xlsx"):
        with page.expect_download() as info:
            page.click(f"a[href*='/export/{label}'] >> nth=0")  # (not the ";" CSV)
        path = tmp_path / label
        info.value.save_as(path)
        files[label] = path
    ws = load_workbook(files["summary.xlsx"], read_only=True).active
    rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["p2"][3] == figures(votes, {"p2"}, *sep)["votes"]
    text = files["summary.csv"].read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and "Phường Vĩnh Tuy".encode() in text
    allvotes = [v for v in votes if sep[0] <= v.local.date() <= sep[1]]
    ws = load_workbook(files["votes.xlsx"], read_only=True).active
    assert sum(1 for _ in ws.iter_rows(min_row=2)) == len(allvotes)
    assert len(list(csv.reader(io.StringIO(files["votes.csv"].read_text("utf-8-sig"))))) \
        == len(allvotes) + 1
    wb = load_workbook(files["monthly.xlsx"], read_only=True)
    assert wb.sheetnames[0] == "Tổng hợp" and len(wb.sheetnames) == 5
    ctx.close()


def test_unit_official_in_browser(browser, server):
    ctx, page, _errors = sign_in(browser, server, "ward1")
    assert "Phường Bạch Mai" in page.locator("h1").inner_text()
    options = page.locator("select[name=unit] option").all_inner_texts()
    assert len(options) == 2 and not any("Vĩnh Tuy" in o for o in options)
    resp = page.goto(f"{server}/dashboard/units/p2")
    assert resp.status == 404
    shot(page, "refused")
    page.goto(f"{server}/dashboard")
    page.click("button:has-text('Đăng xuất')")
    page.wait_for_url("**/login")
    assert page.goto(f"{server}/api/v1/dashboard/overview").status == 401
    ctx.close()


def teardown_module(_module):
    if os.environ.get("UPDATE_SCREENSHOTS") and SHOTS.exists():
        out = REPO / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("overview", "unit", "fleet", "alerts", "overview-en", "login"):
            src = SHOTS / f"dashboard-{name}.png"
            if src.exists():
                shutil.copy(src, out / src.name)
