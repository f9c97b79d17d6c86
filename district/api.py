"""The ingest API of the district server (FastAPI), versioned under /api/v1: votes,
heartbeats, stats and /healthz — what terminals and scripts call.

``router`` holds the routes and ``district.app.create_app`` mounts them. Every process holds
only an engine (``Ingest``, on ``app.state.ingest``), so several uvicorn processes can serve
one PostgreSQL database. This module knows nothing of the dashboard.
"""


import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from district import auth, metrics
from district.db import utcnow
from district.heartbeat import beat_and_answer
from district.ingest import Delivery, ingest_batch_for
from district.models import (
    MAX_BATCH_VOTES,
    MAX_BODY_BYTES,
    ErrorResponse,
    Health,
    Heartbeat,
    Stats,
    VoteBatch,
    VoteBatchEnvelope,
    VoteBatchResult,
)
from district.stats import vote_stats
from district.steering import terminal as steering

API_VERSION = "1"
# Threads per server process for the ingest's database work (votes and heartbeats). More do
# not make the database faster on a few cores: they fight over the GIL and the rollups' row
# locks, and the tail latency grows (bench/fleet_load.py, 10,000 terminals on 2 cores: p99
# 722 ms with Starlette's default 40 threads, 42–153 ms with 4; bench/RESULTS-ingest.md).
INGEST_THREADS = int(os.environ.get("DISTRICT_INGEST_THREADS", "4"))
bearer = HTTPBearer(auto_error=False, description="a terminal token (`district terminals add`) "
                    "or, for /api/v1/stats, an admin token (`district officials token`)")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

ERRORS = {
    400: {"model": ErrorResponse, "description": "the body is not JSON"},
    401: {"model": ErrorResponse, "description": "missing, wrong or revoked token"},
    403: {"model": ErrorResponse, "description": "the token belongs to another terminal"},
    413: {"model": ErrorResponse, "description": f"body over {MAX_BODY_BYTES} bytes"},
    429: {"model": ErrorResponse, "description": "this terminal sent too many requests a "
          "second (error rate_limited); wait the Retry-After header's seconds"},
    422: {"model": ErrorResponse, "description": "the body does not have the documented shape "
          f"(error invalid_body), or over {MAX_BATCH_VOTES} votes (error batch_too_large)"},
}
REQUEST_BODIES = (VoteBatch, Heartbeat)  # parsed by the routes themselves (see _body_schema)

router = APIRouter()


@dataclass
class Ingest:
    """What the ingest routes of one process share: the engine and a few threads."""

    engine: Engine
    threads: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(INGEST_THREADS))

    async def in_thread(self, fn, *args):
        """Run ``fn`` on one of this process's few ingest threads (waiting in the event
        loop, at no cost, while they are busy)."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.threads)


def ingest_of(request: Request) -> Ingest:
    return request.app.state.ingest


IngestDep = Annotated[Ingest, Depends(ingest_of)]


class ApiError(Exception):
    """An error answer: status, machine code, message and where (JSON path)."""

    def __init__(self, status: int, error: str, message: str, details: list | None = None,
                 retry_after_s: int | None = None):
        self.status, self.error, self.message, self.details = status, error, message, details or []
        self.retry_after_s = retry_after_s


def error_response(status: int, error: str, message: str, details=(), headers=None):
    """The JSON of every error of the API: ``{"error", "message", "details"}``."""
    body = ErrorResponse(error=error, message=message, details=list(details))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def on_api_error(_request: Request, exc: ApiError) -> Response:
    metrics.request_refused(exc.error)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.retry_after_s:
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(exc.status, exc.error, exc.message, exc.details, headers)


async def on_validation_error(_request: Request, exc: RequestValidationError) -> Response:
    return error_response(422, "invalid_request", "the request is not valid",
                          _validation_details(exc))


def http_error_response(exc: StarletteHTTPException) -> Response:
    """An unknown address, a wrong method…: JSON like the API's other errors."""
    return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail),
                          headers=getattr(exc, "headers", None))


def _validation_details(exc: ValidationError | RequestValidationError) -> list[dict]:
    return [{"loc": [p for p in e["loc"] if isinstance(p, str | int)], "msg": e["msg"]}
            for e in exc.errors()]


async def read_json(request: Request) -> Any:
    """The request body as JSON, refusing more than MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise ApiError(413, "body_too_large",
                               f"the body is over {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:  # gone, or closed for sending too slowly (district/limits.py)
        raise ApiError(400, "client_disconnected", "the body did not arrive") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc


def parse_model(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_body", "the body does not have the documented shape",
                       _validation_details(exc)) from exc


def parse_vote_batch(data: Any) -> VoteBatchEnvelope:
    if isinstance(data, dict) and isinstance(data.get("votes"), list) \
            and len(data["votes"]) > MAX_BATCH_VOTES:
        raise ApiError(422, "batch_too_large",
                       f"{len(data['votes'])} votes: send at most {MAX_BATCH_VOTES} a batch",
                       [{"loc": ["votes"], "msg": "too many votes"}])
    return parse_model(VoteBatchEnvelope, data)


def _json(model: BaseModel) -> Response:
    """A model as the JSON answer, skipping FastAPI's second validation of the return value
    (the route's ``response_model`` still documents it)."""
    return Response(model.model_dump_json(), media_type="application/json")


def _body_schema(model: type[BaseModel]) -> dict:
    """The request body the route reads itself (to refuse oversized bodies unread), named
    for the OpenAPI document (``add_request_schemas`` puts the schema there)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


# --- who is calling -------------------------------------------------------------------------

async def current_terminal(ingest: Ingest, credentials: HTTPAuthorizationCredentials | None
                           ) -> auth.AuthenticatedTerminal:
    terminal = None
    if credentials is not None:
        terminal = await run_in_threadpool(_terminal_for, ingest.engine, credentials.credentials)
    if terminal is None:
        raise ApiError(401, "unauthorized", "missing, wrong or revoked terminal token")
    return terminal


async def terminal_body(request: Request, ingest: Ingest,
                        credentials: HTTPAuthorizationCredentials | None,
                        parse: Callable[[Any], Any]) -> tuple[str, Any]:
    """(token, parsed body). The token is checked later, in the write transaction (one
    connection and one round trip less per request); a body that cannot be used is
    answered only after the token was checked, so a stranger learns nothing (401)."""
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing, wrong or revoked terminal token")
    refusal = request.app.state.ingest_limits.refusal(credentials.credentials)
    if refusal is not None:  # before any database work (district/limits.py)
        raise ApiError(429, "rate_limited", "too many requests from this terminal; wait "
                       f"{refusal.retry_after_s} s", retry_after_s=refusal.retry_after_s)
    try:
        return credentials.credentials, parse(await read_json(request))
    except ApiError:
        await current_terminal(ingest, credentials)
        raise


async def admin(ingest: IngestDep, credentials: Credentials) -> None:
    ok = credentials is not None and await run_in_threadpool(
        _is_admin, ingest.engine, credentials.credentials)
    if not ok:
        raise ApiError(401, "unauthorized", "missing, wrong or revoked admin token")


# --- routes -------------------------------------------------------------------------------

@router.post("/api/v1/votes", response_model=VoteBatchResult, responses=ERRORS,
             summary="Upload a batch of votes (exactly once)",
             openapi_extra=_body_schema(VoteBatch))
async def post_votes(request: Request, ingest: IngestDep, credentials: Credentials):
    """Accepted ids are stored now, duplicate ids were stored before, rejected votes are
    invalid (with the reason) and never stored. A malformed body stores nothing."""
    received_at = utcnow()
    token, envelope = await terminal_body(request, ingest, credentials, parse_vote_batch)
    delivery = Delivery(received_at=received_at, via="api", sent_at=envelope.sent_at,
                        boot_id=envelope.boot_id, monotonic_ns=envelope.monotonic_ns)

    def identify(conn) -> auth.AuthenticatedTerminal:
        return _own_terminal(conn, token, envelope.terminal_id)

    accepted, duplicate, rejected = await ingest.in_thread(
        ingest_batch_for, ingest.engine, identify, envelope.votes, delivery)
    metrics.batch_stored(len(accepted), len(duplicate), rejected)
    return _json(VoteBatchResult(accepted=accepted, duplicate=duplicate, rejected=rejected,
                                 server_time=utcnow()))


@router.post("/api/v1/heartbeat", response_model=steering.HeartbeatAnswer, responses=ERRORS,
             summary="Report a terminal's health", openapi_extra=_body_schema(Heartbeat))
async def post_heartbeat(request: Request, ingest: IngestDep, credentials: Credentials):
    """Keeps the latest heartbeat per terminal (fleet health) and the history; answers
    with the settings version the terminal should run and the officials' open requests
    (docs/steering.md)."""
    received_at = utcnow()
    token, beat = await terminal_body(
        request, ingest, credentials, lambda data: parse_model(Heartbeat, data))
    owner, steered = await ingest.in_thread(beat_and_answer, ingest.engine, token, beat,
                                            received_at)
    _check_owner(owner, beat.terminal_id)
    metrics.heartbeat_stored()
    return _json(steering.HeartbeatAnswer(server_time=utcnow(), **steered.model_dump()))


@router.get("/api/v1/settings", response_model=steering.SettingsAnswer,
            responses={401: ERRORS[401], 304: {"description": "If-None-Match is the tag of "
                                                "the settings: nothing changed"}},
            summary="The settings this terminal should run (ETag)")
async def get_settings(request: Request, ingest: IngestDep, credentials: Credentials):
    """Only the keys its fleet, units or itself set; the rest stays as its kiosk.toml says.
    What identifies and secures a terminal is never among them."""
    terminal = await current_terminal(ingest, credentials)
    answer = await ingest.in_thread(_settings_for, ingest.engine, terminal.id)
    tag = f'"{answer.etag}"'
    if request.headers.get("if-none-match", "").strip() == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(answer.model_dump_json(), media_type="application/json",
                    headers={"ETag": tag, "Cache-Control": "no-cache"})


@router.get("/api/v1/stats", response_model=Stats, responses={401: ERRORS[401]},
            dependencies=[Depends(admin)], summary="Vote counts (same as district stats)")
async def get_stats(ingest: IngestDep):
    return await run_in_threadpool(vote_stats, ingest.engine)


@router.get("/healthz", response_model=Health, summary="Can the server reach its database?",
            responses={503: {"model": Health, "description": "the database does not answer"}})
async def healthz(ingest: IngestDep):
    if await run_in_threadpool(_database_answers, ingest.engine):
        return Health(status="ok", database="ok")
    return JSONResponse(Health(status="unavailable", database="unreachable").model_dump(),
                        status_code=503)


def add_request_schemas(doc: dict, models=REQUEST_BODIES) -> dict:
    """Put the request bodies the ingest routes parse themselves into an OpenAPI document."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return doc


# --- database work (threads) ----------------------------------------------------------------

def _terminal_for(engine: Engine, token: str) -> auth.AuthenticatedTerminal | None:
    with engine.connect() as conn:
        return auth.terminal_for_token(conn, token)


def _settings_for(engine: Engine, terminal_id: str) -> steering.SettingsAnswer:
    with engine.connect() as conn:
        return steering.settings_answer(conn, terminal_id)


def _is_admin(engine: Engine, token: str) -> bool:
    with engine.connect() as conn:
        return auth.is_admin_token(conn, token)


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        metrics.database_error()
        return False


def _own_terminal(conn, token: str, claimed: str) -> auth.AuthenticatedTerminal:
    """The token's terminal (with its unit chain, for the rollups), which must be the one
    the body speaks for (else 401 / 403)."""
    terminal = auth.terminal_for_token(conn, token, with_chain=True)
    _check_owner(terminal and terminal.id, claimed)
    return terminal


def _check_owner(owner: str | None, claimed: str) -> None:
    if owner is None:
        raise ApiError(401, "unauthorized", "missing, wrong or revoked terminal token")
    if claimed != owner:
        raise ApiError(403, "wrong_terminal",
                       f"this token belongs to terminal {owner!r}, not {claimed!r}",
                       [{"loc": ["terminal_id"], "msg": "does not match the token"}])
