"""The district server's app, in one place: ``create_app()`` puts together the ingest API
(``district.api``) and the dashboard (``district.dashboard``: sign-in, pages, downloads,
JSON API, /static), registers every error handler once and runs the alert loop for the
app's lifetime.

The app is stateless but for an engine: several uvicorn processes (``district serve
--workers N``, or ``uvicorn --factory district.app:app_from_env``) serve one PostgreSQL
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from district import api, attribution_api, limits, metrics
from district.config import resolve_db_url
from district.dashboard import alerts as alert_rules
from district.dashboard import errors as dash_errors
from district.dashboard.deps import BadFilter, Dashboard, SignedOut
from district.dashboard.render import STATIC
from district.dashboard.routes import audit as audit_page
from district.dashboard.routes import downloads, json_api, pages, signin
from district.dashboard.routes import officers as officer_routes
from district.dashboard.scope import NotVisible
from district.db import create_db_engine
from district.releases.repository import WEB_PATH, repository_dir

log = logging.getLogger(__name__)
DESCRIPTION = ("Ingest API for satisfaction-rating terminals (votes, heartbeats, stats) and "
               "the dashboard's JSON API. Every vote is stored once: unique (terminal, vote "
               "id). See docs/sync.md and docs/dashboard.md.")


def create_app(db_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    """The server on ``db_url`` (or an existing engine). The database must be migrated
    already (``district serve`` does it: ``district.db.migrate``)."""
    engine = engine or create_db_engine(resolve_db_url(db_url))
    app = FastAPI(title="Hài Lòng district server", version=api.API_VERSION,
                  description=DESCRIPTION, lifespan=lifespan,
                  # every POST of the dashboard comes from its own pages (CSRF)
                  dependencies=[Depends(signin.same_origin)])
    app.state.engine = engine
    app.state.ingest = api.Ingest(engine)
    app.state.dashboard = Dashboard(engine)
    app.state.alert_interval_s = alert_interval()
    # request-rate limits of this process (district/limits.py)
    app.state.signin_limits = limits.SigninLimits()
    app.state.ingest_limits = limits.IngestLimits()
    app.include_router(api.router)
    app.include_router(attribution_api.router)  # duty, officers, dossiers (issue 12)
    app.add_route("/metrics", metrics.metrics_page, include_in_schema=False)
    app.add_middleware(metrics.LatencyMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # the district's signed apt repository, for its terminals' updates (docs/updates.md)
    app.mount(WEB_PATH, StaticFiles(directory=repository_dir(str(engine.url)),
                                    check_dir=False), name="apt")
    for area in (signin, pages, downloads, json_api, audit_page):
        app.include_router(area.router)
    app.include_router(officer_routes.router)  # attribution (issue 12)
    app.include_router(officer_routes.api)
    install_error_handlers(app)
    app.openapi = lambda: openapi_document(app)
    return app


def install_error_handlers(app: FastAPI) -> None:
    """One handler per kind of error, for the whole server: pages get pages, the rest JSON."""
    app.add_exception_handler(api.ApiError, api.on_api_error)
    app.add_exception_handler(RequestValidationError, api.on_validation_error)
    app.add_exception_handler(SignedOut, dash_errors.on_signed_out)
    app.add_exception_handler(NotVisible, dash_errors.on_not_visible)
    app.add_exception_handler(BadFilter, dash_errors.on_bad_filter)
    app.add_exception_handler(signin.CrossSite, signin.on_cross_site)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_fault)


async def on_http_error(request: Request, exc: StarletteHTTPException):
    """An unknown address or a wrong method: a page in the official's language on the
    dashboard's addresses, the API's JSON error elsewhere."""
    if dash_errors.is_page(request):
        return dash_errors.http_error_page(request, exc)
    return api.http_error_response(exc)


async def on_fault(request: Request, _exc: Exception):
    # (Starlette still logs the traceback after this answer)
    if isinstance(_exc, sa.exc.SQLAlchemyError):
        metrics.database_error()
    if dash_errors.is_page(request):
        return dash_errors.fault_page(request)
    return dash_errors.fault_json()


def openapi_document(app: FastAPI) -> dict:
    """FastAPI's document plus the request bodies the ingest routes parse themselves."""
    if not app.openapi_schema:
        app.openapi_schema = api.add_request_schemas(get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes), (*api.REQUEST_BODIES, *attribution_api.REQUEST_BODIES))
    return app.openapi_schema


# --- the alert loop -------------------------------------------------------------------------

def alert_interval() -> float:
    """``DISTRICT_ALERT_INTERVAL_S`` (default 60; 0 turns the loop off, e.g. in tests that
    call ``alerts.refresh`` themselves, or with ``district alerts check`` from cron)."""
    return float(os.environ.get("DISTRICT_ALERT_INTERVAL_S", "60") or 0)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    interval = app.state.alert_interval_s
    task = asyncio.create_task(alert_loop(app.state.engine, interval)) if interval > 0 else None
    # the scheduled reports (issue 16): each due one sent by the process that claims it
    every = report_interval()
    reports_task = (asyncio.create_task(report_loop(app.state.engine, every))
                    if every > 0 else None)
    try:
        yield
    finally:
        for t in (task, reports_task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t


async def alert_loop(engine: Engine, interval: float) -> None:
    """Evaluate the alert rules every ``interval`` seconds, in one of the server processes
    each time (``alerts.claim_evaluation``); a failed round is logged and the next tried."""
    while True:
        try:
            now = dt.datetime.now(dt.UTC)
            if await run_in_threadpool(alert_rules.claim_evaluation, engine, now, interval):
                await run_in_threadpool(alert_rules.refresh, engine, now)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("alert evaluation failed: %s", exc)
        await asyncio.sleep(interval)


def report_interval() -> float:
    """``DISTRICT_REPORT_INTERVAL_S``: how often each process looks for a scheduled report
    due (default 60; 0 turns the loop off)."""
    try:
        return float(os.environ.get("DISTRICT_REPORT_INTERVAL_S", "60") or 0)
    except ValueError:
        return 60.0


async def report_loop(engine: Engine, interval: float) -> None:
    """Send the scheduled reports that are due (``schedules.send_due``: one process claims
    each); a failed round is logged and the next tried."""
    from district.dashboard import schedules

    while True:
        try:
            await run_in_threadpool(schedules.send_due, engine, dt.datetime.now(dt.UTC))
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("scheduled reports failed: %s", exc)
        await asyncio.sleep(interval)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / several workers: database from $DISTRICT_DB."""
    return create_app(os.environ.get("DISTRICT_DB"))
