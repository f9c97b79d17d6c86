"""The attribution routes of the API (docs/attribution.md), under /api/v1:

- ``POST /api/v1/duty`` (a terminal's token): duty periods, exactly once, like votes;
- ``GET /api/v1/officers`` (a terminal's token): its unit's officers (name, badge issue,
  active), so the terminal shows who serves and refuses revoked badges;
  ``GET /api/v1/officers/{code}/photo``: an officer's photo, for a terminal of their unit;
- ``POST /api/v1/dossiers`` (an admin token, ``district officials token``): a one-stop
  system pushes dossiers, the rows of ``district dossiers import``, all or nothing.

The helpers (token checks, bodies, errors) are the ingest API's (``district.api``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from district import api, dossiers, duty, officers
from district.attribution import OFFICER_CODE
from district.db import utcnow, write_transaction
from district.errors import DistrictError
from district.models import (
    MAX_BATCH_VOTES,
    DutyBatch,
    DutyBatchDocumented,
    DutyBatchResult,
)

router = APIRouter(tags=["attribution"])
MAX_DOSSIERS_PER_PUSH = 5000


class OfficerEntry(BaseModel):
    code: str
    full_name: str
    unit_id: str
    badge_issue: int
    has_photo: bool
    active: bool


class Roster(BaseModel):
    officers: list[OfficerEntry]
    server_time: Any


class DossierPush(BaseModel):
    """``POST /api/v1/dossiers``: the columns of the import file, one object per dossier."""

    model_config = ConfigDict(extra="forbid")

    unit: str | None = Field(None, description="every dossier must be of this unit or below")
    dossiers: Annotated[list[dict[str, Any]], Field(max_length=MAX_DOSSIERS_PER_PUSH)]


class DossierPushResult(BaseModel):
    added: int
    updated: int
    unchanged: int


def _parse_duty(data: Any) -> DutyBatch:
    if isinstance(data, dict) and isinstance(data.get("periods"), list) \
            and len(data["periods"]) > MAX_BATCH_VOTES:
        raise api.ApiError(422, "batch_too_large", f"send at most {MAX_BATCH_VOTES} periods",
                           [{"loc": ["periods"], "msg": "too many periods"}])
    return api.parse_model(DutyBatch, data)


@router.post("/api/v1/duty", response_model=DutyBatchResult, responses=api.ERRORS,
             summary="Upload duty periods (exactly once)",
             openapi_extra=api._body_schema(DutyBatchDocumented))
async def post_duty(request: Request, ingest: api.IngestDep, credentials: api.Credentials):
    """Accepted ids are stored now, duplicate ids were stored before (an open period's end
    is set), rejected periods are invalid and never stored."""
    received_at = utcnow()
    token, batch = await api.terminal_body(request, ingest, credentials, _parse_duty)
    valid, rejected = duty.check_periods(batch.periods)

    def store():
        with write_transaction(ingest.engine) as conn:
            terminal = api._own_terminal(conn, token, batch.terminal_id)
            return duty.store_periods(conn, terminal.id, terminal.unit_id, valid, received_at)

    accepted, duplicate = await ingest.in_thread(store)
    return api._json(DutyBatchResult(accepted=accepted, duplicate=duplicate,
                                     rejected=rejected, server_time=utcnow()))


@router.get("/api/v1/officers", response_model=Roster,
            responses={401: api.ERRORS[401]}, summary="The officers of the terminal's unit")
async def get_roster(ingest: api.IngestDep, credentials: api.Credentials):
    terminal = await api.current_terminal(ingest, credentials)
    listed = await run_in_threadpool(officers.list_officers, ingest.engine, {terminal.unit_id})
    return api._json(Roster(officers=[OfficerEntry(**o.as_json()) for o in listed],
                            server_time=utcnow()))


@router.get("/api/v1/officers/{code}/photo", responses={
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the photo"},
    401: api.ERRORS[401],
    404: {"model": api.ErrorResponse, "description": "no such officer in the unit, or no photo"}},
    summary="An officer's photo, for a terminal of their unit")
async def get_photo(code: str, ingest: api.IngestDep, credentials: api.Credentials):
    terminal = await api.current_terminal(ingest, credentials)
    officer = (await run_in_threadpool(officers.get_officer, ingest.engine, code)
               if OFFICER_CODE.match(code) else None)
    photo = (await run_in_threadpool(officers.photo_of, ingest.engine, code)
             if officer and officer.unit_id == terminal.unit_id else None)
    if photo is None:
        raise api.ApiError(404, "not_found", "no such officer in this unit, or no photo")
    return Response(photo[0], media_type=photo[1], headers={"Cache-Control": "no-store"})


@router.post("/api/v1/dossiers", response_model=DossierPushResult, responses={
    **api.ERRORS, 422: {"model": api.ErrorResponse, "description": "a bad dossier: details "
                        "name [index + 1, column] of each; nothing stored"}},
    summary="Push dossiers from a one-stop system (all or nothing)",
    openapi_extra=api._body_schema(DossierPush))
async def post_dossiers(request: Request, ingest: api.IngestDep, credentials: api.Credentials):
    await api.admin(ingest, credentials)
    push = api.parse_model(DossierPush, await api.read_json(request))
    fields = list(dossiers.HEADERS)
    table = [fields] + [[item.get(f) if isinstance(item, dict) else None for f in fields]
                        for item in push.dossiers]
    unknown = sorted({k for item in push.dossiers if isinstance(item, dict) for k in item}
                     - set(fields))
    if unknown:
        raise api.ApiError(422, "invalid_body", "unknown field(s): " + ", ".join(unknown),
                           [{"loc": ["dossiers", k], "msg": "unknown field"} for k in unknown])

    def store():
        rows = dossiers.parse_rows(table, "body")
        return dossiers.import_dossiers(ingest.engine, rows, "body", push.unit)

    try:
        summary = await ingest.in_thread(store)
    except dossiers.DossierErrors as exc:
        raise api.ApiError(422, "invalid_dossiers", f"{len(exc.problems)} problem(s), nothing "
                           "stored; each detail's loc is [line, column], line 2 the first "
                           "dossier", exc.as_details()) from None
    except DistrictError as exc:
        raise api.ApiError(422, "invalid_dossiers", exc.translated(str)) from None
    return api._json(DossierPushResult(added=summary.added, updated=summary.updated,
                                       unchanged=summary.unchanged))


REQUEST_BODIES = (DutyBatchDocumented, DossierPush)  # parsed by the routes themselves
