"""The audit log's page (``/dashboard/audit``), for district officials only: who signed in
(or failed to), exported what, changed which account or token, when and from where; the
newest first, 100 a page, filtered by person or kind of action. Only reading: nothing in
the server changes or deletes an entry (district/audit.py), and no route writes one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from district import audit
from district.dashboard import periods
from district.dashboard.deps import DashboardDep, Page, SignedIn, text_query
from district.dashboard.render import frame
from district.dashboard.scope import NotVisible
from district.errors import N_

PER_PAGE = 100
# The words the page shows for each action (district_web catalog).
ACTION_NAMES = {
    "signin": N_("signed in"), "signin_failed": N_("sign-in failed"),
    "signin_refused": N_("sign-in refused (too many failures)"), "signout": N_("signed out"),
    "export": N_("downloaded"), "user_added": N_("account created"),
    "password_changed": N_("password changed"), "user_disabled": N_("account disabled"),
    "token_created": N_("API token created"), "tokens_revoked": N_("API tokens revoked"),
    "settings_changed": N_("terminal settings changed"),
    "settings_restored": N_("terminal settings returned to an earlier version"),
    "doctor_requested": N_("a terminal's doctor report asked for"),
    "ui_restart_requested": N_("a terminal's screen restart asked for"),
    "button_test_requested": N_("a terminal's button test asked for"),
    "terminal_added": N_("terminal registered"),
    "terminal_token_rotated": N_("terminal given a new token"),
    "terminal_revoked": N_("terminal's token revoked"),
    "server_set_up": N_("server set up (district setup)"),
    "report_schedule_added": N_("scheduled report added"),
    "report_schedule_changed": N_("scheduled report changed"),
    "report_schedule_removed": N_("scheduled report removed"),
    "officer_added": N_("officer added"), "officer_changed": N_("officer's name or unit changed"),
    "officer_photo_set": N_("officer's photo replaced"),
    "officer_disabled": N_("officer disabled (badge refused)"),
    "officer_enabled": N_("officer enabled (new badge number)"),
    "officer_badge_reissued": N_("officer's badge reissued"),
    "badges_printed": N_("badge sheet downloaded"),
    "release_published": N_("software release published"),
    "rollout_started": N_("software release rolled out"),
    "rollout_paused": N_("software rollout paused"),
    "rollout_resumed": N_("software rollout resumed"),
    "rollout_stopped": N_("software rollout stopped"),
}

router = APIRouter(include_in_schema=False)


async def page_frame(dash, who) -> dict:
    """The menu around the page: the official's top unit this month, or, on a server with
    no units loaded yet (the log matters from the first sign-in), the menu alone."""
    scope = await run_in_threadpool(dash.scope, who)
    try:
        unit = scope.resolve(None)
    except NotVisible:
        return {"who": who, "unit": "", "qs": ""}
    return frame(who, scope, unit, periods.parse_period("month", None))


def audit_filter(value: str | None, limit: int) -> str:
    return (value or "")[:limit]


@router.get("/dashboard/audit")
async def audit_page(dash: DashboardDep, who: SignedIn, html: Page,
                     actor: Annotated[str, text_query("only this person's entries")] = None,
                     action: Annotated[str, text_query("only this kind of action")] = None,
                     before: Annotated[str, text_query("entries older than this one")] = None):
    if who.role != "district":  # a unit official does not read the district's log
        raise NotVisible()
    action = action if action in ACTION_NAMES else ""
    older = int(before) if before and before.isdigit() and len(before) < 19 else None
    rows = await run_in_threadpool(lambda: audit.entries(
        dash.engine, before=older, limit=PER_PAGE + 1, actor=audit_filter(actor, 100),
        action=action))
    more = len(rows) > PER_PAGE
    return html.page("audit.html", **await page_frame(dash, who),
                     entries=rows[:PER_PAGE], more=more, actor=audit_filter(actor, 100),
                     action=action, actions=ACTION_NAMES, page="audit")
