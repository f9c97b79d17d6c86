"""The HTTP API of the district server (FastAPI), versioned under /api/v1.

``create_app(db_url)`` builds a stateless app: every process holds only an engine, so several
uvicorn processes can serve one PostgreSQL database. The dashboard (a later issue) mounts its
routes on the same app.
"""


import json
import os
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from district import auth
from district.config import resolve_db_url
from district.db import create_db_engine, dialect_insert, heartbeats, terminal_health, utcnow
from district.ingest import Delivery, ingest_batch, learn_boot_clocks
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


def create_app(db_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    """The API on ``db_url`` (or an existing engine). The database must be migrated already
    (``district serve`` does it: ``district.db.migrate``)."""
    engine = engine or create_db_engine(resolve_db_url(db_url))
    app = FastAPI(
        title="Hài Lòng district server", version=API_VERSION,
        description="Ingest API for satisfaction-rating terminals. Every vote is stored once: "
                    "unique (terminal, vote id). See docs/sync.md.")
    app.state.engine = engine

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

    async def admin(credentials: Credentials) -> None:
        ok = credentials is not None and await run_in_threadpool(
            _is_admin, engine, credentials.credentials)
        if not ok:
            raise ApiError(401, "unauthorized", "missing, wrong or revoked admin token")

    def own_terminal(terminal: auth.AuthenticatedTerminal, claimed: str) -> None:
        if claimed != terminal.id:
            raise ApiError(403, "wrong_terminal",
                           f"this token belongs to terminal {terminal.id!r}, not {claimed!r}",
                           [{"loc": ["terminal_id"], "msg": "does not match the token"}])

    @app.post("/api/v1/votes", response_model=VoteBatchResult, responses=ERRORS,
              summary="Upload a batch of votes (exactly once)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/VoteBatch"}}}}})
    async def post_votes(request: Request,
                         terminal: Annotated[auth.AuthenticatedTerminal,
                                             Depends(current_terminal)]):
        """Accepted ids are stored now, duplicate ids were stored before, rejected votes are
        invalid (with the reason) and never stored. A malformed body stores nothing."""
        received_at = utcnow()
        data = await read_json(request)
        if isinstance(data, dict) and isinstance(data.get("votes"), list) \
                and len(data["votes"]) > MAX_BATCH_VOTES:
            raise ApiError(422, "batch_too_large",
                           f"{len(data['votes'])} votes: send at most {MAX_BATCH_VOTES} a batch",
                           [{"loc": ["votes"], "msg": "too many votes"}])
        envelope = parse_model(VoteBatchEnvelope, data)
        own_terminal(terminal, envelope.terminal_id)
        delivery = Delivery(received_at=received_at, via="api", sent_at=envelope.sent_at,
                            boot_id=envelope.boot_id, monotonic_ns=envelope.monotonic_ns)
        accepted, duplicate, rejected = await run_in_threadpool(
            ingest_batch, engine, terminal.id, terminal.unit_id, envelope.votes, delivery)
        return VoteBatchResult(accepted=accepted, duplicate=duplicate, rejected=rejected,
                               server_time=utcnow())

    @app.post("/api/v1/heartbeat", response_model=HeartbeatResult, responses=ERRORS,
              summary="Report a terminal's health",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Heartbeat"}}}}})
    async def post_heartbeat(request: Request,
                             terminal: Annotated[auth.AuthenticatedTerminal,
                                             Depends(current_terminal)]):
        """Keeps the latest heartbeat per terminal (fleet health) and the history."""
        received_at = utcnow()
        beat = parse_model(Heartbeat, await read_json(request))
        own_terminal(terminal, beat.terminal_id)
        await run_in_threadpool(_store_heartbeat, engine, beat, received_at)
        return HeartbeatResult(server_time=utcnow())

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


def _store_heartbeat(engine: Engine, beat: Heartbeat, received_at) -> None:
    from district.db import write_transaction

    offset = beat.sent_at - received_at
    row = beat.model_dump(exclude={"terminal_id", "stuck_buttons"})
    row.update(terminal_id=beat.terminal_id, received_at=received_at,
               clock_offset_ms=round(offset.total_seconds() * 1000),
               stuck_buttons=";".join(str(level) for level in beat.stuck_buttons))
    delivery = Delivery(received_at=received_at, via="api", sent_at=beat.sent_at,
                        boot_id=beat.boot_id, monotonic_ns=beat.monotonic_ns)
    with write_transaction(engine) as conn:
        learn_boot_clocks(conn, beat.terminal_id, [], delivery)  # heartbeats teach the clock too
        conn.execute(heartbeats.insert().values(**row))
        stmt = dialect_insert(conn, terminal_health).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["terminal_id"],
            set_={k: stmt.excluded[k] for k in row if k != "terminal_id"})
        conn.execute(stmt)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / several workers: database from $DISTRICT_DB."""
    return create_app(os.environ.get("DISTRICT_DB"))
