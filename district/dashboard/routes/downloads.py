"""Downloads of the dashboard: the votes and the summary of a unit and period (CSV, Excel)
and the monthly report workbook, streamed, in the official's language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from district import audit
from district.dashboard import aggregates as agg
from district.dashboard import exports, figures
from district.dashboard.deps import (
    BadFilter,
    DashboardDep,
    Filtered,
    Filters,
    Page,
    ReportMonth,
    SignedIn,
    VisibleScope,
    actor_of,
)
from district.dashboard.render import secure_headers
from district.dashboard.routes import reports
from district.dashboard.scope import NotVisible, Scope
from district.errors import N_, DistrictError

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"



async def recorded(request: Request, dash: DashboardDep, who: SignedIn):
    """Every download that was answered goes to the audit log: who, from where, which file
    with which filters (after the route: a refused one is not a download)."""
    yield
    await run_in_threadpool(
        audit.record_now, dash.engine,
        actor_of(request, who), "export",
        request.url.path.removeprefix("/dashboard/export/"), {"query": request.url.query})


router = APIRouter(prefix="/dashboard/export", include_in_schema=False,
                   dependencies=[Depends(recorded)])


def stem(filters: Filters) -> str:
    p = filters.period
    return f"hailong-{filters.unit}-{p.start:%Y%m%d}-{p.end:%Y%m%d}"


def csv_dialect(dialect: str | None = None) -> str:
    """``dialect=semicolon`` for Excel set to Vietnamese (";" and decimal ","); the default
    ``comma`` for every other program (exports.CSV_DIALECTS)."""
    dialect = dialect or "comma"
    if dialect not in exports.CSV_DIALECTS:
        raise BadFilter(DistrictError(N_("unknown CSV dialect {dialect!r}: use comma or "
                                         "semicolon"), dialect=dialect[:20]))
    return dialect


Dialect = Annotated[str, Depends(csv_dialect)]


@router.get("/votes.csv")
async def votes_csv(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page,
                    dialect: Dialect):
    _ = html.gettext
    rows = _vote_rows(dash, scope, filters, _)
    body = exports.csv_stream(exports.vote_header(_), exports.csv_vote_rows(rows), dialect)
    return download(StreamingResponse(body, media_type=CSV), f"{stem(filters)}-votes.csv")


@router.get("/votes.xlsx")
async def votes_xlsx(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page):
    _ = html.gettext
    rows = _vote_rows(dash, scope, filters, _)
    fh = await run_in_threadpool(exports.votes_xlsx, exports.vote_header(_), rows, _("Votes"))
    return download(StreamingResponse(chunks(fh), media_type=XLSX),
                    f"{stem(filters)}-votes.xlsx")


def _vote_rows(dash, scope: Scope, filters: Filters, _):
    """The votes of the unit's subtree, read lazily while the answer is sent."""
    ids = scope.tree.subtree(filters.unit)
    return exports.vote_rows(dash.engine, scope.tree, ids, filters.period, _)


@router.get("/summary.csv")
async def summary_csv(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page,
                      dialect: Dialect):
    _ = html.gettext
    rows = exports.summary_rows(await _overview(dash, scope, filters), _)
    body = exports.csv_stream(exports.summary_header(_), rows, dialect)
    return download(StreamingResponse(body, media_type=CSV), f"{stem(filters)}-summary.csv")


@router.get("/summary.xlsx")
async def summary_xlsx(dash: DashboardDep, scope: VisibleScope, filters: Filtered,
                       html: Page):
    _ = html.gettext
    rows = exports.summary_rows(await _overview(dash, scope, filters), _)
    fh = await run_in_threadpool(exports.xlsx_file, [(
        _("Summary"), exports.summary_header(_), rows)])
    return download(StreamingResponse(chunks(fh), media_type=XLSX),
                    f"{stem(filters)}-summary.xlsx")


async def _overview(dash, scope: Scope, filters: Filters) -> agg.Overview:
    data = await run_in_threadpool(figures.overview_data, dash.engine, scope, filters.unit,
                                   filters.period)
    return data["overview"]


@router.get("/monthly.xlsx")
async def monthly_xlsx(dash: DashboardDep, scope: VisibleScope, month: ReportMonth,
                       html: Page):
    unit, period = month.unit, month.period

    def build():
        with dash.engine.connect() as conn:
            ov = agg.overview(conn, scope.tree, unit, period)
        return exports.monthly_workbook(dash.engine, scope.tree, ov, html.gettext)
    fh = await run_in_threadpool(build)
    return download(StreamingResponse(chunks(fh), media_type=XLSX),
                    f"hailong-{unit}-{period.start:%Y-%m}-report.xlsx")


# the printed report, PDF and DOCX (issue 16): before the catch-all below
router.include_router(reports.router)


@router.get("/{name}")
async def unknown_download(_filters: Filtered):
    """No such download (after the filters were checked, as for the known ones)."""
    raise NotVisible()


def chunks(fh, size: int = 1 << 20):
    """A spooled workbook in 1 MiB pieces (iterating the file itself would cut the zip
    at every newline byte: ~80,000 tiny chunks for a 20 MB export), closed at the end."""
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()


def download(resp: Response, filename: str) -> Response:
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return secure_headers(resp)
