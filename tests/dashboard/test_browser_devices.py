"""The dashboard on every browser and phone (issue 16), in Debian's Chromium via Playwright:
every page at 1366 and 390 px is no wider than the window and has no serious or critical
axe-core finding (axe-core 4.14.1 vendored from npm in tests/dashboard/vendor/axe-core);
dates are typed day first in an en-US browser and give the right period, a date that is no
day is refused in the page and never becomes another one; From/To show only for a custom
period; a page printed to PDF keeps its header and tables and drops the controls."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.dashboard.conftest import PASSWORD
from tests.dashboard.test_browser import ARGS, CHROMIUM, SHOTS, server  # noqa: F401
from tests.helpers import require

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PAGES = ["/dashboard?unit=q&period=month&date=2025-10-01",
         "/dashboard/units/p1?period=month&date=2025-09-01",
         "/dashboard/fleet?unit=q",
         "/dashboard/alerts?unit=q",
         "/dashboard/find?q=phuong",
         "/dashboard/officers?unit=q&period=month&date=2025-10-01",
         "/dashboard/audit",
         "/dashboard/compare?unit=q&a=2025-09&b=2025-10",
         "/dashboard/indices?unit=q&period=custom&from=01/09/2025&to=31/10/2025",
         "/dashboard/schedules?unit=q"]
WIDTHS = [1366, 390, 360]


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def signed_in(browser, server, width: int, locale: str = "vi-VN"):  # noqa: F811
    # (bypass_csp: axe-core is added to the page as a script of its own)
    ctx = browser.new_context(viewport={"width": width, "height": 800}, locale=locale,
                              accept_downloads=True, bypass_csp=True)
    page = ctx.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "district")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/dashboard")
    return ctx, page


def widest(page) -> tuple[int, list[str]]:
    """The document's width and the elements sticking out of the window (for the message)."""
    return page.evaluate("""() => {
        const w = document.documentElement.clientWidth, out = [];
        for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > w + 1 && !el.closest('.tablewrap, .heatwrap') && r.width)
                out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
        }
        return [document.documentElement.scrollWidth, out.slice(0, 14)];
    }""")


def axe_findings(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_window_and_axe_finds_nothing_serious(browser, server,  # noqa: F811
                                                                       width):
    require(AXE.exists(), "axe-core vendored in tests/dashboard/vendor")
    ctx, page = signed_in(browser, server, width)
    problems = {}
    for path in ["/login-page", *PAGES]:
        if path == "/login-page":
            anon = browser.new_context(viewport={"width": width, "height": 800},
                                       bypass_csp=True)
            p = anon.new_page()
            p.goto(f"{server}/login")
        else:
            p = page
            p.goto(server + path)
        p.wait_for_load_state("networkidle")
        assert p.locator("h1").count() == 1, path  # the page itself, not a half-drawn one
        scroll, sticking = widest(p)
        if scroll > width:
            problems[f"{path} width"] = (scroll, sticking)
        if width != 360:
            found = axe_findings(p)
            if found:
                problems[f"{path} axe"] = found
        name = re.sub(r"\W+", "-", path.split("?")[0]).strip("-") or "overview"
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SHOTS / f"device-{width}-{name}.png"), full_page=True)
        if path == "/login-page":
            anon.close()
    ctx.close()
    assert not problems, problems


def test_dates_typed_day_first_in_an_english_browser(browser, server, dataset):  # noqa: F811
    from tests.dashboard.expected import figures

    _engine, votes = dataset
    ctx, page = signed_in(browser, server, 1366, locale="en-US")
    page.goto(f"{server}/dashboard?unit=q&period=week&date=2025-09-01&lang=en")
    field = page.locator("input[name=date]")
    assert field.get_attribute("type") == "text"
    assert field.input_value() == "01/09/2025"
    # 15/09/2025 is a Monday: the week 15–21 September, never 9 March or 11 September
    field.fill("15092025")
    field.blur()
    assert field.input_value() == "15/09/2025"  # shown as it will be read
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**date=15%2F09%2F2025**")
    assert "15/09/2025 – 21/09/2025" in page.locator(".period").inner_text()
    import datetime as dt

    want = figures(votes, {"q", "p1", "p1a", "p2", "p3"}, dt.date(2025, 9, 15),
                   dt.date(2025, 9, 21))
    assert page.locator("[data-kpi=votes]").get_attribute("data-value") == str(want["votes"])

    # a day that does not exist is refused in the page: nothing is sent, the field says why
    field = page.locator("input[name=date]")
    field.fill("31/02/2025")
    url = page.url
    page.click("form.filters button[type=submit]")
    assert page.url == url
    assert field.evaluate("e => e.validationMessage")
    assert field.get_attribute("aria-invalid") == "true"
    # and the server refuses it too when a script sends it anyway
    r = page.request.get(f"{server}/dashboard?unit=q&period=day&date=31/02/2025")
    assert r.status == 400
    ctx.close()


def test_from_and_to_only_for_a_custom_period(browser, server):  # noqa: F811
    ctx, page = signed_in(browser, server, 390)
    page.goto(f"{server}/dashboard?unit=q&period=month&date=2025-10-01")
    assert page.locator("input[name=from]").is_hidden()
    assert page.locator("input[name=date]").is_visible()
    page.select_option("select[name=period]", "custom")
    assert page.locator("input[name=from]").is_visible()
    assert page.locator("input[name=date]").is_hidden()
    page.fill("input[name=from]", "05/10/2025")
    page.fill("input[name=to]", "12/10/2025")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**period=custom**")
    assert "date=" not in page.url  # the hidden field is not sent
    assert "05/10/2025 – 12/10/2025" in page.locator(".period").inner_text()
    assert page.locator("input[name=from]").is_visible()
    ctx.close()


def test_printed_pages_keep_header_and_tables_without_controls(browser, server, tmp_path):  # noqa: F811
    ctx, page = signed_in(browser, server, 1366)
    for path in PAGES[:3]:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        page.emulate_media(media="print")
        assert page.locator("form.filters").count() == 0 or \
            page.locator("form.filters").is_hidden()
        assert page.locator("header.topbar .brand").is_visible()
        assert page.locator("h1").is_visible()
        pdf = tmp_path / "page.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "Hài Lòng" in text and page.locator("h1").inner_text() in text
        heads = page.locator("table.data th").all_inner_texts()
        for head in heads[:3]:
            assert head.strip().split()[0] in text, head
        for control in ("Xem", "Đăng xuất"):  # the form's button, the sign-out button
            assert control not in text, (path, control)
        page.emulate_media(media="screen")
    ctx.close()
