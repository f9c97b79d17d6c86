"""The district server's app, in one place: ``create_app()`` puts together the ingest API
(``district.api``) and the dashboard (``district.dashboard``), registers the error handlers
once and runs the alert loop for the app's lifetime.

The app is stateless but for an engine: several uvicorn processes (``district serve
--workers N``, or ``uvicorn --factory district.app:app_from_env``) serve one PostgreSQL
database.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from sqlalchemy.engine import Engine

from district import api
from district.config import resolve_db_url
from district.db import create_db_engine

DESCRIPTION = ("Ingest API for satisfaction-rating terminals and the dashboard's JSON API. "
               "Every vote is stored once: unique (terminal, vote id). See docs/sync.md.")


def create_app(db_url: str | None = None, engine: Engine | None = None) -> FastAPI:
    """The server on ``db_url`` (or an existing engine). The database must be migrated
    already (``district serve`` does it: ``district.db.migrate``)."""
    engine = engine or create_db_engine(resolve_db_url(db_url))
    app = FastAPI(title="Hài Lòng district server", version=api.API_VERSION,
                  description=DESCRIPTION)
    app.state.engine = engine
    app.state.ingest = api.Ingest(engine)
    app.include_router(api.router)
    app.add_exception_handler(api.ApiError, api.on_api_error)
    app.add_exception_handler(RequestValidationError, api.on_validation_error)
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def on_http_error(_request, exc):
        return api.http_error_response(exc)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    from district.dashboard.web import register as register_dashboard
    register_dashboard(app)
    app.openapi = lambda: openapi_document(app)
    return app


def openapi_document(app: FastAPI) -> dict:
    """FastAPI's document plus the request bodies the ingest routes parse themselves."""
    if not app.openapi_schema:
        app.openapi_schema = api.add_request_schemas(get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes))
    return app.openapi_schema


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / several workers: database from $DISTRICT_DB."""
    return create_app(os.environ.get("DISTRICT_DB"))
