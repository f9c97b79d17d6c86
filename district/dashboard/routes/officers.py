"""Attribution on the dashboard (docs/attribution.md): the officers of a unit with their
votes, hours on duty and coverage, the votes during no one's duty, the procedures and their
satisfaction; one officer's page; and the same figures as JSON under /api/v1/dashboard/.

Every route goes through the official's scope: a unit official sees the officers of their
unit and the units below it, and an officer elsewhere answers 404 like one that does not
exist, by any URL (``officer_figures.officer_data``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from district.dashboard import officer_figures as figures
from district.dashboard.deps import DashboardDep, Filtered, Page, SignedIn, VisibleScope, language
from district.dashboard.render import frame, secure_headers
from district.dashboard.routes.json_api import ERRORS
from district.dashboard.tables import REASON_CODES

router = APIRouter()


# --- pages --------------------------------------------------------------------------------

@router.get("/dashboard/officers", include_in_schema=False)
async def officers_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                        filters: Filtered, html: Page):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period)
    return html.page("officers.html", **frame(who, scope, filters.unit, filters.period), d=d,
                     page="officers")


@router.get("/dashboard/officers/{code}", include_in_schema=False)
async def officer_page(code: str, dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                       filters: Filtered, html: Page):
    d = await run_in_threadpool(figures.officer_data, dash.engine, scope, code,
                                filters.period)
    return html.page("officer.html", **frame(who, scope, filters.unit, filters.period), d=d,
                     reasons=REASON_CODES, page="officers")


# --- JSON ---------------------------------------------------------------------------------

api = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"], responses=ERRORS,
                dependencies=[Depends(language)])
Figures = dict[str, Any]


def answer(data: dict) -> JSONResponse:
    return secure_headers(JSONResponse(data))


@api.get("/officers", response_model=Figures,
         summary="Officers of a unit's subtree: votes, index, hours on duty, coverage")
async def officers_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("officers",))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "min_votes": d["min_votes"],
                   "ranked": [r.as_json() for r in d["ranked"]],
                   "unranked": [r.as_json() for r in d["unranked"]],
                   "no_duty": {"total": d["no_duty_total"].as_json(),
                               "by_unit": {u: c.as_json() for u, c in d["no_duty"].items()}}})


@api.get("/officers/{code}", response_model=Figures,
         summary="One officer: votes, trend per day, counters, hours on duty, coverage")
async def officer_json(code: str, dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officer_data, dash.engine, scope, code,
                                filters.period)
    return answer({**d["officer"].as_json(), "badge_issue": d["badge_issue"],
                   "period": filters.period.as_json(),
                   "trend": [{"day": day.isoformat(), **c.as_json()} for day, c in d["trend"]],
                   "counters": [{"unit_id": u, "counter": counter, **c.as_json()}
                                for (u, counter), c in sorted(d["by_counter"].items())]})


@api.get("/procedures", response_model=Figures,
         summary="Procedures of a unit's subtree: the counted ratings of their dossiers")
async def procedures_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("procedures",))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "procedures": [p.as_json() for p in d["procedures"]]})


@api.get("/coverage", response_model=Figures,
         summary="Coverage: rated finished dossiers ÷ finished dossiers, per unit and officer")
async def coverage_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("coverage", "officers"))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "total": d["coverage_total"].as_json(),
                   "by_unit": {u: c.as_json() for u, c in d["coverage"].items()},
                   "by_officer": {r.code: r.coverage.as_json()
                                  for r in [*d["ranked"], *d["unranked"]]}})
