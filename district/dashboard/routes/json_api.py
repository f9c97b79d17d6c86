"""The dashboard's JSON API (``/api/v1/dashboard/…``): the figures of the pages for
programs, signed in with the session cookie or an admin token (``Authorization: Bearer``).
Documented in ``/openapi.json`` (``district.dashboard.api_models``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from district.dashboard import aggregates as agg
from district.dashboard import api_models as answers
from district.dashboard import figures
from district.dashboard import indices as legal
from district.dashboard.deps import (
    ApiPaging,
    DashboardDep,
    Filtered,
    PathUnit,
    Step,
    VisibleScope,
    VisibleUnit,
    language,
)
from district.dashboard.health import backlog_fault, silent_hours
from district.dashboard.periods import Period
from district.dashboard.render import secure_headers
from district.dashboard.scope import Scope
from district.models import ErrorResponse

ERRORS = {
    400: {"model": ErrorResponse, "description": "a filter or paging parameter that cannot "
          "be used (error invalid_request; the message in the asked language)"},
    401: {"model": ErrorResponse, "description": "no session and no admin token"},
    404: {"model": ErrorResponse, "description": "no such unit, or not one of the official's"},
}

# (the language of error messages, for every route)
router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"], responses=ERRORS,
                   dependencies=[Depends(language)])


def answer(data: dict) -> JSONResponse:
    """The figures' JSON as they are (the response model documents it)."""
    return secure_headers(JSONResponse(data))


@router.get("/overview", response_model=answers.Overview,
            summary="Overview of a unit's sub-units for a period")
async def overview(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    data = await run_in_threadpool(figures.overview_data, dash.engine, scope, filters.unit,
                                   filters.period)
    return answer({**data["overview"].as_json(),
                   "alerts": [a.as_json() for a in data["alerts"]],
                   "officers_needing_attention": [
                       {"unit_id": u, "counter": counter, "officer": officer, **c.as_json()}
                       for u, counter, officer, c in data["attention"]]})


@router.get("/units/{unit_id}", response_model=answers.Unit,
            summary="A unit: trend, levels, heat map, reasons, terminals")
async def unit(dash: DashboardDep, scope: VisibleScope, unit: PathUnit, filters: Filtered,
               step: Step, paging: ApiPaging):
    d = await run_in_threadpool(figures.unit_data, dash.engine, scope, unit, filters.period,
                                step, paging, True)
    return answer(unit_json(scope, unit, filters.period, step, d))


def unit_json(scope: Scope, unit: str, period: Period, step: str, d: dict) -> dict:
    row = agg.Row(unit, scope.tree.names[unit], False, d["total"], d["previous"])
    return {
        "unit_id": unit, "name": scope.tree.names[unit], "period": period.as_json(),
        "previous_period": period.previous().as_json(), **row.as_json(),
        "units": [r.as_json() for r in d["ov"].rows],
        "trend": {"step": step, "points": [{"bucket": k, **c.as_json()} for k, c in d["trend"]]},
        "heatmap": {"weekdays": list(figures.WEEKDAYS), "hours": list(range(24)),
                    "votes": [[c.votes for c in day] for day in d["heat"]],
                    "negative": [[c.negative for c in day] for day in d["heat"]]},
        "terminal_summary": d["summary"].as_json(), "paging": d["paging"].as_json(),
        "terminals": [{**t.as_json(), "votes": d["by_terminal"].get(t.id, agg.Counts()).votes}
                      for t in d["terminals"]],
        "officers": [{"counter": counter, "officer": officer, **c.as_json()}
                     for counter, officer, c in d["officers"]],
        # votes whose time is unknown (docs/dashboard.md): in no period, trend or heat map
        "time_unknown": d["time_unknown"].as_json(),
    }


@router.get("/fleet", response_model=answers.Fleet,
            summary="Health of a unit's subtree: counts per status, terminals paged")
async def fleet(dash: DashboardDep, scope: VisibleScope, unit: VisibleUnit, paging: ApiPaging):
    d = await run_in_threadpool(figures.fleet_data, dash.engine, scope, unit, paging)
    return answer({"unit_id": unit, "silent_hours": silent_hours(),
                   "backlog_fault": backlog_fault(), "summary": d["summary"].as_json(),
                   "paging": d["paging"].as_json(),
                   "terminals": [t.as_json() for t in d["terminals"]]})


@router.get("/alerts", response_model=answers.Alerts, summary="Open alerts of a unit's subtree")
async def alerts(dash: DashboardDep, scope: VisibleScope, unit: VisibleUnit):
    rows = await run_in_threadpool(figures.open_alerts, dash.engine, scope, unit)
    return answer({"unit_id": unit, "alerts": [a.as_json() for a in rows]})



@router.get("/indices", response_model=answers.Indices,
            summary="Circular 01/2018 indicators and Decision 766 ratio of a unit and period")
async def indices(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    ix = await run_in_threadpool(legal.indices, dash.engine, scope.tree, filters.unit,
                                 filters.period)
    return answer(ix.as_json())
