"""The printed report as a download: ``/dashboard/export/report.pdf``, ``report.docx`` and
its workbook ``report.xlsx``
with the filters of every download (``unit``, ``period``, ``date``, ``from``, ``to``) and,
optionally, what the official would otherwise fill in by hand (``number``, ``place``,
``signer``, ``position``). Included by ``downloads`` (same prefix, same audit record),
before its catch-all for unknown names.

``pages`` (included by ``routes.pages``): the index figures (``/dashboard/indices``; as JSON
in ``routes.json_api``) and the scheduled reports (``/dashboard/schedules``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from district.dashboard import indices as legal
from district.dashboard import report
from district.dashboard import schedules as plans
from district.dashboard.accounts import csrf_ok
from district.dashboard.deps import (
    BadFilter,
    DashboardDep,
    Filtered,
    Page,
    SignedIn,
    ThisMonth,
    VisibleScope,
    actor_of,
    text_query,
)
from district.dashboard.render import frame, secure_headers
from district.dashboard.report_data import Signature
from district.errors import N_, DistrictError

router = APIRouter()
pages = APIRouter(include_in_schema=False)
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


@pages.get("/dashboard/indices")
async def indices_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                       filters: Filtered, html: Page):
    ix = await run_in_threadpool(legal.indices, dash.engine, scope.tree, filters.unit,
                                 filters.period)
    return html.page("report_indices.html", **frame(who, scope, filters.unit, filters.period),
                     ix=ix, indicators=legal.INDICATORS, grade=legal.grade_words(html.gettext),
                     page="indices")


# --- scheduled reports (district.dashboard.schedules) -------------------------------------

def _local(moment):
    from district.rollups import LOCAL_TZ

    return "–" if moment is None else f"{moment.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}"


@pages.get("/dashboard/schedules")
async def schedules_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                         month: ThisMonth, html: Page):
    from district.dashboard.alerts import AlertSettings

    listed, sent = await run_in_threadpool(plans.listed, dash.engine,
                                           scope.tree.subtree(month.unit))
    return html.page(
        "report_schedules.html", **frame(who, scope, month.unit, month.period),
        schedules=listed, sent=sent, can_edit=who.role == "district",
        frequencies=plans.FREQUENCIES, frequency_names=plans.FREQUENCY_NAMES,
        send_hour=plans.SEND_HOUR, retry_minutes=round(plans.retry_after().total_seconds() / 60),
        attempts=plans.ATTEMPTS, max_recipients=plans.MAX_RECIPIENTS,
        smtp=bool(AlertSettings.from_env().smtp_host), local=_local, page="schedules")


async def _changed(html, who, csrf_token: str, unit: str, work) -> Response:
    """A schedule form sent: CSRF and role checked, ``work`` run, back to the page; bad
    values are a 400 page saying what is wrong (nothing stored)."""
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext("The form has expired: open the page again."))
    if who.role != "district":
        return html.error(403, html.gettext("Only district officials schedule reports."))
    try:
        await run_in_threadpool(work)
    except plans.NoSuchSchedule as exc:
        return html.error(404, exc.translated(html.gettext))
    except DistrictError as exc:
        return html.error(400, exc.translated(html.gettext))
    return secure_headers(RedirectResponse(
        "/dashboard/schedules?" + urlencode({"unit": unit}), status_code=303))


@pages.post("/dashboard/schedules")
async def add_schedule(request: Request, dash: DashboardDep, who: SignedIn,
                       scope: VisibleScope, html: Page, unit: Annotated[str, Form()] = "",
                       frequency: Annotated[str, Form()] = "",
                       recipients: Annotated[str, Form()] = "",
                       lang: Annotated[str, Form()] = "vi",
                       csrf_token: Annotated[str, Form()] = ""):
    top = scope.resolve(unit or None)
    return await _changed(html, who, csrf_token, top, lambda: plans.add(
        dash.engine, actor_of(request, who), top, frequency, recipients, lang,
        dt.datetime.now(dt.UTC)))


@pages.post("/dashboard/schedules/{schedule_id}")
async def change_schedule(request: Request, dash: DashboardDep, who: SignedIn,
                          scope: VisibleScope, html: Page, schedule_id: int,
                          frequency: Annotated[str, Form()] = "",
                          recipients: Annotated[str, Form()] = "",
                          lang: Annotated[str, Form()] = "vi",
                          csrf_token: Annotated[str, Form()] = ""):
    units = scope.tree.subtree(scope.resolve(None))
    return await _changed(html, who, csrf_token, scope.resolve(None), lambda: plans.change(
        dash.engine, actor_of(request, who), schedule_id, units, frequency, recipients, lang,
        dt.datetime.now(dt.UTC)))


@pages.post("/dashboard/schedules/{schedule_id}/delete")
async def remove_schedule(request: Request, dash: DashboardDep, who: SignedIn,
                          scope: VisibleScope, html: Page, schedule_id: int,
                          csrf_token: Annotated[str, Form()] = ""):
    units = scope.tree.subtree(scope.resolve(None))
    return await _changed(html, who, csrf_token, scope.resolve(None), lambda: plans.remove(
        dash.engine, actor_of(request, who), schedule_id, units, dt.datetime.now(dt.UTC)))
