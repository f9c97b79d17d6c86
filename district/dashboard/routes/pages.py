"""The dashboard's pages (Jinja2, autoescaped): overview, unit, terminal health, unit search
and alerts. Each route names what it needs (the signed-in official, their scope, the
filters, paging, the page writer) and writes the page from one worker-thread read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from district.dashboard import aggregates as agg
from district.dashboard import alerts as alert_rules
from district.dashboard import figures
from district.dashboard.deps import (
    DashboardDep,
    Filtered,
    Page,
    PagesPaging,
    PathUnit,
    SignedIn,
    Step,
    ThisMonth,
    VisibleScope,
)
from district.dashboard.health import FAULTS, backlog_fault, silent_hours
from district.dashboard.render import frame, trend_label
from district.dashboard.routes import alert_actions, reports
from district.dashboard.routes import settings as settings_pages
from district.dashboard.tables import REASON_CODES
from district.releases.store import reports as release_reports
from district.steering.terminal import steering_of

FIND_LIMIT = 50  # units listed by a search
FIND_TEXT_MAX = 100  # characters of a search kept

router = APIRouter(include_in_schema=False)
router.include_router(settings_pages.router)  # settings, help from afar (docs/steering.md)


@router.get("/")
async def root():
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/favicon.ico")
async def favicon():
    return Response(status_code=204)


@router.get("/dashboard")
async def overview_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                        filters: Filtered, html: Page):
    unit, period = filters.unit, filters.period
    data = await run_in_threadpool(figures.overview_data, dash.engine, scope, unit, period)
    ov: agg.Overview = data["overview"]
    voted = [r for r in ov.rows if r.counts.votes]
    chart = {"labels": [r.name for r in voted],
             "index": [round(r.counts.index, 1) for r in voted],
             "satisfaction": [round(r.counts.satisfaction, 1) for r in voted]}
    return html.page("overview.html", **frame(who, scope, unit, period), ov=ov,
                     alerts=data["alerts"], attention=data["attention"], chart=chart,
                     page="overview")


@router.get("/dashboard/units/{unit_id}")
async def unit_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope, unit: PathUnit,
                    filters: Filtered, step: Step, paging: PagesPaging, html: Page):
    period = filters.period
    d = await run_in_threadpool(figures.unit_data, dash.engine, scope, unit, period, step,
                                paging)
    heat_max = max((c.votes for day in d["heat"] for c in day), default=0)
    return html.page("unit.html", **frame(who, scope, unit, period), d=d, step=step,
                     chart=unit_chart(d, html.gettext), heat_max=heat_max,
                     weekdays=figures.WEEKDAYS, level_names=agg.LEVEL_NAMES,
                     reasons=REASON_CODES, page="unit", path=scope.tree.ancestors(unit),
                     faults=FAULTS)


def unit_chart(d: dict, _) -> dict:
    """The unit page's chart data (embedded as JSON, drawn by the page's script)."""
    trend = d["trend"]
    return {
        "trend": {"labels": [trend_label(k, _) for k, _c in trend],
                  "votes": [c.votes for _k, c in trend],
                  "index": [None if c.index is None else round(c.index, 1) for _k, c in trend],
                  "satisfaction": [None if c.satisfaction is None else round(c.satisfaction, 1)
                                   for _k, c in trend]},
        "levels": {str(s): v for s, v in d["total"].distribution().items()},
        "level_names": {str(s): [_(n) for n in names] for s, names in agg.LEVEL_NAMES.items()},
    }


@router.get("/dashboard/fleet")
async def fleet_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                     month: ThisMonth, paging: PagesPaging, html: Page):
    d = await run_in_threadpool(figures.fleet_data, dash.engine, scope, month.unit, paging)
    shown = [t.id for t in d["terminals"]]
    steering = await run_in_threadpool(steering_of, dash.engine, shown)
    releases = await run_in_threadpool(release_reports, dash.engine, shown)
    return html.page("fleet.html", **frame(who, scope, month.unit, month.period), d=d,
                     steering=steering, releases=releases,
                     silent_hours=silent_hours(), backlog_fault=backlog_fault(),
                     faults=FAULTS, page="fleet")


@router.get("/dashboard/find")
async def find_page(who: SignedIn, scope: VisibleScope, month: ThisMonth, html: Page,
                    q: Annotated[str | None, Query()] = None):
    text = (q or "")[:FIND_TEXT_MAX]
    found = scope.find(text)
    shown = found[:FIND_LIMIT]
    return html.page("find.html", **frame(who, scope, month.unit, month.period), search=text,
                     found=shown, more=len(found) > FIND_LIMIT,
                     paths={u: scope.tree.ancestors(u) for u in shown}, page="find")


@router.get("/dashboard/alerts")
async def alerts_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                      month: ThisMonth, html: Page):
    rows = await run_in_threadpool(figures.open_alerts, dash.engine, scope, month.unit)

    def past():  # the history of the unit's alerts, the rules in force (issue 16)
        with dash.engine.connect() as conn:
            return (alert_rules.history(conn, scope.tree.subtree(month.unit)),
                    alert_rules.effective_settings(conn))
    history, rules = await run_in_threadpool(past)
    return html.page("alerts.html", **frame(who, scope, month.unit, month.period),
                     alerts=rows, settings=rules,
                     page="alerts", ack_forms=True, history=history,
                     rule_titles=alert_rules.RULE_TITLES)


@router.get("/dashboard/compare")
async def compare_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                       month: ThisMonth, html: Page, a: str | None = None,
                       b: str | None = None):
    """Two periods side by side (issue 16); by default last month and this one."""
    from district.dashboard.deps import checked
    from district.dashboard.periods import report_period, report_text
    from district.dashboard.report_compare import compare

    second = checked(report_period, b)
    first = checked(report_period, a) if a else second.previous()
    rows, total = await run_in_threadpool(compare, dash.engine, scope.tree, month.unit,
                                          first, second)
    return html.page("report_compare.html", **frame(who, scope, month.unit, month.period),
                     a=first, b=second, a_text=report_text(first),
                     b_text=report_text(second), rows=rows, total=total,
                     page="compare")


# acknowledging an alert with a comment (issue 16)
router.include_router(alert_actions.router)
# the index figures and the scheduled reports (issue 16)
router.include_router(reports.pages)
