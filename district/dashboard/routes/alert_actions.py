"""What an official does with an alert: acknowledge it with a comment (``POST
/dashboard/alerts/acknowledge``, a form of the alerts page; the comment, who and when go to
the alert's history, ``dash_alert_events``, migration d0008), and, for district officials,
set the thresholds of the rules (``POST /dashboard/alerts/rules``). Included by ``pages``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from district.dashboard import alerts as alert_rules
from district.dashboard.accounts import csrf_ok
from district.dashboard.deps import DashboardDep, Page, SignedIn, VisibleScope
from district.dashboard.render import secure_headers
from district.errors import DistrictError

router = APIRouter(include_in_schema=False)


@router.post("/dashboard/alerts/acknowledge")
async def acknowledge(dash: DashboardDep, who: SignedIn, scope: VisibleScope, html: Page,
                      rule: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "",
                      comment: Annotated[str, Form()] = "", unit: Annotated[str, Form()] = "",
                      csrf_token: Annotated[str, Form()] = ""):
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext("The form has expired: open the page again."))
    top = scope.resolve(unit or None)
    try:
        await run_in_threadpool(alert_rules.acknowledge, dash.engine, rule, subject,
                                scope.tree.subtree(top), who.username, comment,
                                dt.datetime.now(dt.UTC))
    except DistrictError as exc:
        return html.error(400, exc.translated(html.gettext))
    return secure_headers(RedirectResponse(
        "/dashboard/alerts?" + urlencode({"unit": top}), status_code=303))


@router.post("/dashboard/alerts/rules")
async def set_rules(dash: DashboardDep, who: SignedIn, html: Page,
                    window_hours: Annotated[str, Form()] = "",
                    min_votes: Annotated[str, Form()] = "",
                    negative_percent: Annotated[str, Form()] = "",
                    csrf_token: Annotated[str, Form()] = ""):
    """District officials set the thresholds of the unhappy-votes rule (validated; the
    environment's values stay the defaults until then)."""
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext("The form has expired: open the page again."))
    if who.role != "district":
        return html.error(403, html.gettext("Only district officials change the alert rules."))
    try:
        values = alert_rules.parse_rules({"window_hours": window_hours, "min_votes": min_votes,
                                          "negative_percent": negative_percent})
    except DistrictError as exc:
        return html.error(400, exc.translated(html.gettext))
    await run_in_threadpool(alert_rules.save_rules, dash.engine, values)
    return secure_headers(RedirectResponse("/dashboard/alerts", status_code=303))

