"""The HTTP API of the district server (FastAPI), versioned under /api/v1.

``create_app(db_url)`` builds a stateless app: every process holds only an engine, so several
uvicorn processes can serve one PostgreSQL database. The dashboard (a later issue) mounts its
routes on the same app.
"""


import json
import os
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from district import auth
from district.config import resolve_db_url
from district.db import create_db_engine, utcnow
from district.heartbeat import store_heartbeat
from district.ingest import Delivery, ingest_batch_for
from district.models import (
    MAX_BATCH_VOTES,
    MAX_BODY_BYTES,
    ErrorResponse,
    Health,
    Heartbeat,
    HeartbeatResult,
    Stats,
    VoteBatch,
    VoteBatchEnvelope,
    VoteBatchResult,
)
from district.stats import vote_stats

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
    422: {"model": ErrorResponse, "description": "the body does not have the documented shape "
          f"(error invalid_body), or over {MAX_BATCH_VOTES} votes (error batch_too_large)"},
}


class ApiError(Exception):
    """An error answer: status, machine code, message and where (JSON path)."""

    def __init__(self, status: int, error: str, message: str, details: list | None = None):
        self.status, self.error, self.message, self.details = status, error, message, details or []


def _error_response(status: int, error: str, message: str, details=(), headers=None):
    body = ErrorResponse(error=error, message=message, details=list(details))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _validation_details(exc: ValidationError | RequestValidationError) -> list[dict]:
    return [{"loc": [p for p in e["loc"] if isinstance(p, str | int)], "msg": e["msg"]}
            for e in exc.errors()]


async def read_json(request: Request) -> Any:
    """The request body as JSON, refusing more than MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
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


def create_app(db_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    """The API on ``db_url`` (or an existing engine). The database must be migrated already
    (``district serve`` does it: ``district.db.migrate``)."""
    engine = engine or create_db_engine(resolve_db_url(db_url))
    app = FastAPI(
        title="Hài Lòng district server", version=API_VERSION,
        description="Ingest API for satisfaction-rating terminals. Every vote is stored once: "
                    "unique (terminal, vote id). See docs/sync.md.")
    app.state.engine = engine
    ingest_threads = anyio.CapacityLimiter(INGEST_THREADS)

    async def in_thread(fn, *args):
        """Run ``fn`` on one of this process's few ingest threads (waiting in the event
        loop, at no cost, while they are busy)."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=ingest_threads)

    @app.exception_handler(ApiError)
    async def on_api_error(_request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error_response(exc.status, exc.error, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request, exc: RequestValidationError):
        return _error_response(422, "invalid_request", "the request is not valid",
                               _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request, exc: StarletteHTTPException):
        return _error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail),
                               headers=getattr(exc, "headers", None))

    async def current_terminal(credentials: Credentials) -> auth.AuthenticatedTerminal:
        terminal = None
        if credentials is not None:
            terminal = await run_in_threadpool(_terminal_for, engine, credentials.credentials)
        if terminal is None:
            raise ApiError(401, "unauthorized", "missing, wrong or revoked terminal token")
        return terminal

    async def terminal_body(request: Request, credentials: Credentials,
                            parse: Callable[[Any], Any]) -> tuple[str, Any]:
        """(token, parsed body). The token is checked later, in the write transaction (one
        connection and one round trip less per request); a body that cannot be used is
        answered only after the token was checked, so a stranger learns nothing (401)."""
        if credentials is None:
            raise ApiError(401, "unauthorized", "missing, wrong or revoked terminal token")
        try:
            return credentials.credentials, parse(await read_json(request))
        except ApiError:
            await current_terminal(credentials)
            raise

    async def admin(credentials: Credentials) -> None:
        ok = credentials is not None and await run_in_threadpool(
            _is_admin, engine, credentials.credentials)
        if not ok:
            raise ApiError(401, "unauthorized", "missing, wrong or revoked admin token")

    @app.post("/api/v1/votes", response_model=VoteBatchResult, responses=ERRORS,
              summary="Upload a batch of votes (exactly once)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/VoteBatch"}}}}})
    async def post_votes(request: Request, credentials: Credentials):
        """Accepted ids are stored now, duplicate ids were stored before, rejected votes are
        invalid (with the reason) and never stored. A malformed body stores nothing."""
        received_at = utcnow()
        token, envelope = await terminal_body(request, credentials, parse_vote_batch)
        delivery = Delivery(received_at=received_at, via="api", sent_at=envelope.sent_at,
                            boot_id=envelope.boot_id, monotonic_ns=envelope.monotonic_ns)

        def identify(conn) -> auth.AuthenticatedTerminal:
            return _own_terminal(conn, token, envelope.terminal_id)

        accepted, duplicate, rejected = await in_thread(
            ingest_batch_for, engine, identify, envelope.votes, delivery)
        return _json(VoteBatchResult(accepted=accepted, duplicate=duplicate, rejected=rejected,
                                     server_time=utcnow()))

    @app.post("/api/v1/heartbeat", response_model=HeartbeatResult, responses=ERRORS,
              summary="Report a terminal's health",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Heartbeat"}}}}})
    async def post_heartbeat(request: Request, credentials: Credentials):
        """Keeps the latest heartbeat per terminal (fleet health) and the history."""
        received_at = utcnow()
        token, beat = await terminal_body(
            request, credentials, lambda data: parse_model(Heartbeat, data))
        owner = await in_thread(store_heartbeat, engine, token, beat, received_at)
        _check_owner(owner, beat.terminal_id)
        return _json(HeartbeatResult(server_time=utcnow()))

    @app.get("/api/v1/stats", response_model=Stats, responses={401: ERRORS[401]},
             dependencies=[Depends(admin)], summary="Vote counts (same as district stats)")
    async def get_stats():
        return await run_in_threadpool(vote_stats, engine)

    @app.get("/healthz", response_model=Health, summary="Can the server reach its database?",
             responses={503: {"model": Health, "description": "the database does not answer"}})
    async def healthz():
        if await run_in_threadpool(_database_answers, engine):
            return Health(status="ok", database="ok")
        return JSONResponse(Health(status="unavailable", database="unreachable").model_dump(),
                            status_code=503)

    # dashboard (issue 5): pages, exports, /api/v1/dashboard/…, /static, alert loop
    from district.dashboard.web import register as register_dashboard
    register_dashboard(app)

    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the request-body schemas the ingest routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (VoteBatch, Heartbeat):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    app.openapi_schema = doc
    return doc


def _terminal_for(engine: Engine, token: str) -> auth.AuthenticatedTerminal | None:
    with engine.connect() as conn:
        return auth.terminal_for_token(conn, token)


def _is_admin(engine: Engine, token: str) -> bool:
    with engine.connect() as conn:
        return auth.is_admin_token(conn, token)


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
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


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / several workers: database from $DISTRICT_DB."""
    return create_app(os.environ.get("DISTRICT_DB"))
