"""The index and scheduled-report pages (issue 16) in Debian's Chromium, as every other
page is tested in test_browser_devices.py: no wider than the window at 1366, 390 and
360 px, and no serious or critical axe-core finding at 1366 and 390 px."""

from __future__ import annotations

import pytest

from tests.dashboard.test_browser import server  # noqa: F401
from tests.dashboard.test_browser_devices import (  # noqa: F401
    AXE,
    WIDTHS,
    axe_findings,
    browser,
    signed_in,
    widest,
)
from tests.helpers import require

pytestmark = pytest.mark.browser
PAGES = ["/dashboard/indices?unit=q&period=custom&from=01/09/2025&to=31/10/2025",
         "/dashboard/schedules?unit=q"]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_pages_fit_and_axe_finds_nothing_serious(browser, server, width):  # noqa: F811
    require(AXE.exists(), "axe-core vendored in tests/dashboard/vendor")
    ctx, page = signed_in(browser, server, width)
    problems = {}
    for path in PAGES:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1
        scroll, sticking = widest(page)
        if scroll > width:
            problems[f"{path} width"] = (scroll, sticking)
        if width != 360:
            found = axe_findings(page)
            if found:
                problems[f"{path} axe"] = found
    ctx.close()
    assert not problems, problems
