"""What an official does with an alert: acknowledge it with a comment (``POST
/dashboard/alerts/acknowledge``, a form of the alerts page). The comment, who and when go to
the alert's history (``dash_alert_events``, migration d0008), shown on the alerts page.
Included by ``pages``."""

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
