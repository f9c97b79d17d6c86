"""``GET /metrics``: what the district's monitoring scrapes, in Prometheus' text format
(prometheus_client, the official client library).

Counted as it happens, in every server process (with ``--workers N`` through
prometheus_client's multiprocess mode, so one scrape sees them all):

- ``hailong_ingest_batches_total``, ``hailong_ingest_votes_total{outcome}`` (``accepted``,
  ``duplicate``, ``rejected``), ``hailong_ingest_rejected_votes_total{reason}`` (the vote's
  field that was wrong), ``hailong_ingest_refused_requests_total{reason}`` (the API's error
  code: ``unauthorized``, ``invalid_body``, ``rate_limited``…), ``hailong_heartbeats_total``;
- ``hailong_http_request_duration_seconds{route,method}``: a latency histogram per route;
- ``hailong_database_errors_total``: requests that failed on the database, and health checks
  that did not reach it.

Read from the database at each scrape: ``hailong_terminals`` (registered, not revoked) and
``hailong_terminals_silent`` (no heartbeat for ``DISTRICT_SILENT_HOURS``, 24, like the
dashboard's alert).

Who may scrape: a request from this machine (127.0.0.1, ::1: a Prometheus or an agent on the
server, or a proxy that says nothing of the client), or anyone with a metrics token
(``district officials token --metrics``, ``Authorization: Bearer …``). Anything else: 404,
as if there were no such page.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import tempfile
import time

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from district import auth
from district.db import terminal_health, terminals

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

INGEST_BATCHES = Counter("hailong_ingest_batches", "Vote batches stored (POST /api/v1/votes)")
INGEST_VOTES = Counter("hailong_ingest_votes", "Votes received, by outcome", ["outcome"])
REJECTED_VOTES = Counter("hailong_ingest_rejected_votes",
                         "Votes rejected as invalid, by the field that was wrong", ["reason"])
REFUSED = Counter("hailong_ingest_refused_requests",
                  "Ingest API requests refused, by the API's error code", ["reason"])
HEARTBEATS = Counter("hailong_heartbeats", "Heartbeats stored")
DB_ERRORS = Counter("hailong_database_errors",
                    "Requests that failed on the database, and failed health checks")
LATENCY = Histogram("hailong_http_request_duration_seconds",
                    "Time from a request's arrival to the end of its answer",
                    ["route", "method"],
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))

_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,31}")


def prepare_processes(workers: int) -> None:
    """Before uvicorn starts its worker processes: a fresh folder where each keeps its
    counters (prometheus_client's multiprocess mode), unless one is given."""
    if workers <= 1:
        return
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)  # counters of an earlier run
        os.makedirs(folder, exist_ok=True)
    else:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="district-metrics-")


# --- counting -------------------------------------------------------------------------------

def batch_stored(accepted: int, duplicate: int, rejected: list) -> None:
    INGEST_BATCHES.inc()
    INGEST_VOTES.labels("accepted").inc(accepted)
    INGEST_VOTES.labels("duplicate").inc(duplicate)
    INGEST_VOTES.labels("rejected").inc(len(rejected))
    for vote in rejected:
        REJECTED_VOTES.labels(reject_reason(getattr(vote, "error", ""))).inc()


def reject_reason(error: str) -> str:
    """The field a rejection names first (``level: …`` → ``level``): few distinct values,
    as Prometheus labels must be."""
    field = (error or "").split(":", 1)[0].strip().split(".")[0]
    return field if _FIELD.fullmatch(field) else "other"


def request_refused(reason: str) -> None:
    REFUSED.labels(reason if _FIELD.fullmatch(reason or "") else "other").inc()


def heartbeat_stored() -> None:
    HEARTBEATS.inc()


def database_error() -> None:
    DB_ERRORS.inc()


class LatencyMiddleware:
    """Times every request (ASGI): its route's path template as the label, never the raw
    path (one series per route, whatever clients ask for)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def timed_send(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - start)

        await self.app(scope, receive, timed_send)


# --- the page ------------------------------------------------------------------------------

async def metrics_page(request: Request):
    """A plain Starlette route (``app.add_route``), out of the OpenAPI document and away
    from the dashboard's sign-in: its own check (``may_scrape``) guards it."""
    engine = request.app.state.engine
    if not await may_scrape(request, engine):
        return Response('{"error":"not_found","message":"Not Found","details":[]}',
                        status_code=404, media_type="application/json")
    body = await run_in_threadpool(exposition, engine)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def may_scrape(request: Request, engine) -> bool:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        return await run_in_threadpool(_is_metrics_token, engine, token)
    return is_loopback(request.client.host if request.client else "")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_metrics_token(engine, token: str) -> bool:
    with engine.connect() as conn:
        return auth.token_has_scope(conn, token, "metrics")


def exposition(engine) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY
        registry = REGISTRY
    text = generate_latest(registry)
    fleet = CollectorRegistry()
    fleet.register(FleetCollector(engine))
    return text + generate_latest(fleet)


def silent_hours() -> float:
    """``$DISTRICT_SILENT_HOURS`` (default 24), read as the dashboard reads it
    (district.dashboard.health; not imported: the ingest side stays without the dashboard)."""
    try:
        return float(os.environ.get("DISTRICT_SILENT_HOURS", "24"))
    except ValueError:
        return 24.0


class FleetCollector:
    """The terminals and votes as the database has them at the scrape."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=silent_hours())
        active = terminals.c.revoked_at.is_(None)
        try:
            with self.engine.connect() as conn:
                total = conn.execute(sa.select(sa.func.count()).select_from(terminals)
                                     .where(active)).scalar_one()
                heard = conn.execute(
                    sa.select(sa.func.count()).select_from(terminals.join(
                        terminal_health, terminal_health.c.terminal_id == terminals.c.id))
                    .where(active, terminal_health.c.received_at >= since)).scalar_one()
        except sa.exc.SQLAlchemyError:
            database_error()
            return
        yield GaugeMetricFamily("hailong_terminals", "Registered terminals (not revoked)",
                                value=total)
        yield GaugeMetricFamily("hailong_terminals_silent",
                                "Terminals with no heartbeat for DISTRICT_SILENT_HOURS",
                                value=total - heard)
