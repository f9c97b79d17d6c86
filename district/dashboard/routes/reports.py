"""The printed report as a download: ``/dashboard/export/report.pdf``, ``report.docx`` and
its workbook ``report.xlsx``
with the filters of every download (``unit``, ``period``, ``date``, ``from``, ``to``) and,
optionally, what the official would otherwise fill in by hand (``number``, ``place``,
``signer``, ``position``). Included by ``downloads`` (same prefix, same audit record),
before its catch-all for unknown names.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from district.dashboard import report
from district.dashboard.deps import (
    BadFilter,
    DashboardDep,
    Filtered,
    Page,
    VisibleScope,
    text_query,
)
from district.dashboard.render import secure_headers
from district.dashboard.report_data import Signature
from district.errors import N_, DistrictError

router = APIRouter()
MAX_FIELD = 200  # characters of a number, place, signer or position


def _field(name: str, value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > MAX_FIELD or any(ord(ch) < 32 for ch in value):
        raise BadFilter(DistrictError(
            N_("{field}: at most {n} characters on one line"), field=name, n=MAX_FIELD))
    return value


def signature(number: Annotated[str, text_query("the report's number, as 12/BC-UBND")] = None,
              place: Annotated[str, text_query("the place of the date line")] = None,
              signer: Annotated[str, text_query("the name of who signs")] = None,
              position: Annotated[str, text_query("their position")] = None) -> Signature:
    return Signature(_field("number", number), _field("place", place),
                     _field("signer", signer), _field("position", position))


async def _report(fmt: str, dash, scope, filters, html, sig: Signature) -> Response:
    data = await run_in_threadpool(report.make, dash.engine, scope.tree, filters.unit,
                                   filters.period, fmt, html.lang, sig, None, dash.envs)
    resp = Response(data, media_type=report.FORMATS[fmt])
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{report.filename(filters.unit, filters.period, fmt)}"')
    return secure_headers(resp)


Signed = Annotated[Signature, Depends(signature)]


@router.get("/report.pdf")
async def report_pdf(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page,
                     sig: Signed):
    return await _report("pdf", dash, scope, filters, html, sig)


@router.get("/report.docx")
async def report_docx(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page,
                      sig: Signed):
    return await _report("docx", dash, scope, filters, html, sig)


@router.get("/report.xlsx")
async def report_xlsx(dash: DashboardDep, scope: VisibleScope, filters: Filtered, html: Page):
    return await _report("xlsx", dash, scope, filters, html, Signature())
