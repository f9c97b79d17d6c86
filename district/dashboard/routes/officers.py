"""Attribution on the dashboard (docs/attribution.md): the officers of a unit with their
votes, hours on duty and coverage, the votes during no one's duty, the procedures and their
satisfaction; one officer's page; and the same figures as JSON under /api/v1/dashboard/.

Every route goes through the official's scope: a unit official sees the officers of their
unit and the units below it, and an officer elsewhere answers 404 like one that does not
exist, by any URL (``officer_figures.officer_data``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ballot.i18n import translation
from district import audit
from district import officers as officer_store
from district.attribution import MAX_PHOTO_BYTES, OFFICER_CODE
from district.dashboard import officer_figures as figures
from district.dashboard.accounts import csrf_ok
from district.dashboard.deps import (
    DashboardDep,
    Filtered,
    Page,
    SignedIn,
    VisibleScope,
    actor_of,
    language,
    text_query,
)
from district.dashboard.periods import parse_period
from district.dashboard.render import Renderer, frame, secure_headers
from district.dashboard.routes.json_api import ERRORS
from district.dashboard.scope import NotVisible
from district.dashboard.tables import REASON_CODES
from district.errors import N_, DistrictError

router = APIRouter()


# --- pages --------------------------------------------------------------------------------

@router.get("/dashboard/officers", include_in_schema=False)
async def officers_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                        filters: Filtered, html: Page):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period)
    return html.page("officers.html", **frame(who, scope, filters.unit, filters.period), d=d,
                     page="officers")


@router.get("/dashboard/officers/{code}", include_in_schema=False)
async def officer_page(code: str, dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                       filters: Filtered, html: Page):
    d = await run_in_threadpool(figures.officer_data, dash.engine, scope, code,
                                filters.period)
    return html.page("officer.html", **frame(who, scope, filters.unit, filters.period), d=d,
                     reasons=REASON_CODES, page="officers")


# --- JSON ---------------------------------------------------------------------------------

api = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"], responses=ERRORS,
                dependencies=[Depends(language)])
Figures = dict[str, Any]


def answer(data: dict) -> JSONResponse:
    return secure_headers(JSONResponse(data))


@api.get("/officers", response_model=Figures,
         summary="Officers of a unit's subtree: votes, index, hours on duty, coverage")
async def officers_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("officers",))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "min_votes": d["min_votes"],
                   "ranked": [r.as_json() for r in d["ranked"]],
                   "unranked": [r.as_json() for r in d["unranked"]],
                   "no_duty": {"total": d["no_duty_total"].as_json(),
                               "by_unit": {u: c.as_json() for u, c in d["no_duty"].items()}}})


@api.get("/officers/{code}", response_model=Figures,
         summary="One officer: votes, trend per day, counters, hours on duty, coverage")
async def officer_json(code: str, dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officer_data, dash.engine, scope, code,
                                filters.period)
    return answer({**d["officer"].as_json(), "badge_issue": d["badge_issue"],
                   "period": filters.period.as_json(),
                   "trend": [{"day": day.isoformat(), **c.as_json()} for day, c in d["trend"]],
                   "counters": [{"unit_id": u, "counter": counter, **c.as_json()}
                                for (u, counter), c in sorted(d["by_counter"].items())]})


@api.get("/procedures", response_model=Figures,
         summary="Procedures of a unit's subtree: the counted ratings of their dossiers")
async def procedures_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("procedures",))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "procedures": [p.as_json() for p in d["procedures"]]})


@api.get("/coverage", response_model=Figures,
         summary="Coverage: rated finished dossiers ÷ finished dossiers, per unit and officer")
async def coverage_json(dash: DashboardDep, scope: VisibleScope, filters: Filtered):
    d = await run_in_threadpool(figures.officers_data, dash.engine, scope, filters.unit,
                                filters.period, ("coverage", "officers"))
    return answer({"unit_id": filters.unit, "period": filters.period.as_json(),
                   "total": d["coverage_total"].as_json(),
                   "by_unit": {u: c.as_json() for u, c in d["coverage"].items()},
                   "by_officer": {r.code: r.coverage.as_json()
                                  for r in [*d["ranked"], *d["unranked"]]}})


# --- managing officers (district officials; unit officials read their units') ------------
#
# /dashboard/manage/officers lists the officers of a unit's subtree with their badge number
# and photo. District officials add officers, change a name or unit, replace a photo,
# disable or enable an officer, reissue a badge and download a unit's badge sheet; a unit
# official sees the same list for their units, read-only (no form; a POST answers 403),
# and any officer or unit outside them answers 404 like one that does not exist. Every
# form carries the session's CSRF token (and the app checks the Origin); every change goes
# to the audit log in its own transaction (district.officers). Bad input: the page again
# with a message, nothing changed.

MANAGE = "/dashboard/manage/officers"
DONE = {"added": N_("Officer {code} added."), "changed": N_("Officer {code} changed."),
        "photo": N_("The photo of {code} was replaced."),
        "disabled": N_("Officer {code} disabled: their badge is refused from now on."),
        "enabled": N_("Officer {code} enabled: print their new badge (the old one stays "
                      "refused)."),
        "reissued": N_("Officer {code} has a new badge number: print it; the old badge is "
                       "refused."),
        "unchanged": N_("Nothing to change for {code}.")}
FORM_EXPIRED = N_("The form expired or did not come from this site. Go back, reload the page "
                  "and try again.")
READ_ONLY = N_("Only district officials manage officers; unit officials see them.")
NO_UNIT = N_("Choose one of your units for the officer.")


def _district_gettext(html: Renderer):
    """The page's catalog, then the server's (district.officers' messages are there)."""
    other = translation("district", html.lang).gettext

    def gettext(message: str) -> str:
        said = html.gettext(message)
        return said if said != message else other(message)
    return gettext


def manage_data(engine, scope, unit: str) -> dict:
    listed = officer_store.list_officers(engine, set(scope.tree.subtree(unit)))
    return {"officers": listed,
            "units_with_active": sorted({o.unit_id for o in listed if not o.disabled})}


async def _manage_page(html: Renderer, dash, who, scope, unit: str, *, status: int = 200,
                       error: str = "", done: str = "", form: dict | None = None):
    data = await run_in_threadpool(manage_data, dash.engine, scope, unit)
    return html.page("officer_admin.html", status=status,
                     **frame(who, scope, unit, parse_period("month", None)), m=data,
                     error=error, done=done, form=form or {}, can_edit=who.role == "district",
                     targets=[(u, n, d) for u, n, d in scope.unit_choices(unit)],
                     max_kib=MAX_PHOTO_BYTES // 1024, page="officers")


async def _refused(html: Renderer, dash, who, scope, unit: str, exc: DistrictError,
                   form: dict | None = None):
    """Bad input: the page again, saying what is wrong (nothing was changed)."""
    return await _manage_page(html, dash, who, scope, unit, status=422, form=form,
                              error=exc.translated(_district_gettext(html)))


@router.get(MANAGE, include_in_schema=False)
async def manage_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope, html: Page,
                      unit: Annotated[str, text_query("the unit")] = None,
                      done: Annotated[str, text_query("what was just done")] = None,
                      code: Annotated[str, text_query("to which officer")] = None):
    top = scope.resolve(unit)
    said = ""
    if done in DONE and code and OFFICER_CODE.match(code):
        said = html.gettext(DONE[done]).format(code=code)
    return await _manage_page(html, dash, who, scope, top, done=said)


def _officer_in_scope(engine, scope, code: str) -> officer_store.Officer:
    """The officer, when the official may see them; else 404 as for one that does not
    exist."""
    if not OFFICER_CODE.match(code or ""):
        raise NotVisible()
    officer = officer_store.get_officer(engine, code)
    if officer is None:
        raise NotVisible()
    scope.resolve(officer.unit_id)
    return officer


def _back(unit: str, done: str, code: str) -> RedirectResponse:
    query = urlencode({"unit": unit, "done": done, "code": code})
    return secure_headers(RedirectResponse(f"{MANAGE}?{query}#officer-{code}",
                                           status_code=303))


async def _photo_of(upload: UploadFile | None) -> tuple[bytes, str] | None:
    """The uploaded photo checked (type by its first bytes, size), or None when no file
    was chosen."""
    if upload is None or not upload.filename:
        return None
    data = await upload.read(MAX_PHOTO_BYTES + 1)
    return officer_store.check_photo(data, upload.filename[:100])


async def _changing(request: Request, dash, who, scope, html: Renderer, csrf_token: str,
                    code: str | None, page_unit: str):
    """The checks every change passes, in this order: the form is this session's, the
    officer (if any) is one the official may see (else 404), the official may change
    (district). Returns (the page's unit, the officer) or a response to send."""
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext(FORM_EXPIRED)), None
    officer = None
    if code is not None:
        officer = await run_in_threadpool(_officer_in_scope, dash.engine, scope, code)
    try:
        top = scope.resolve(page_unit or (officer.unit_id if officer else None))
    except NotVisible:
        top = scope.resolve(None)
    if who.role != "district":
        return html.error(403, html.gettext(READ_ONLY)), None
    return top, officer


def _target_unit(scope, unit_id: str) -> str:
    if not unit_id or unit_id not in scope.tree.names:
        raise DistrictError(NO_UNIT)
    try:
        return scope.resolve(unit_id)
    except NotVisible:
        raise DistrictError(NO_UNIT) from None


@router.post(f"{MANAGE}/add", include_in_schema=False)
async def add_officer(request: Request, dash: DashboardDep, who: SignedIn, scope: VisibleScope,
                      html: Page, code: Annotated[str, Form()] = "",
                      full_name: Annotated[str, Form()] = "",
                      unit_id: Annotated[str, Form()] = "",
                      unit: Annotated[str, Form()] = "",
                      photo: Annotated[UploadFile | None, File()] = None,
                      csrf_token: Annotated[str, Form()] = ""):
    top, _none = await _changing(request, dash, who, scope, html, csrf_token, None, unit)
    if not isinstance(top, str):
        return top
    code, form = code.strip()[:100], {"code": code[:100], "full_name": full_name[:300],
                                      "unit_id": unit_id[:64]}
    try:
        target = _target_unit(scope, unit_id)
        picture = await _photo_of(photo)
        await run_in_threadpool(lambda: officer_store.add_officer(
            dash.engine, code, full_name, target, photo_data=picture,
            actor=actor_of(request, who)))
    except DistrictError as exc:
        return await _refused(html, dash, who, scope, top, exc, form)
    return _back(top, "added", code)


@router.post(MANAGE + "/{code}/change", include_in_schema=False)
async def change_officer(request: Request, code: str, dash: DashboardDep, who: SignedIn,
                         scope: VisibleScope, html: Page,
                         full_name: Annotated[str, Form()] = "",
                         unit_id: Annotated[str, Form()] = "",
                         unit: Annotated[str, Form()] = "",
                         csrf_token: Annotated[str, Form()] = ""):
    top, officer = await _changing(request, dash, who, scope, html, csrf_token, code, unit)
    if not isinstance(top, str):
        return top
    try:
        target = _target_unit(scope, unit_id)
        changes = await run_in_threadpool(officer_store.change_officer, dash.engine,
                                          officer.code, full_name, target,
                                          actor_of(request, who))
    except DistrictError as exc:
        return await _refused(html, dash, who, scope, top, exc)
    return _back(top, "changed" if changes else "unchanged", officer.code)


@router.post(MANAGE + "/{code}/photo", include_in_schema=False)
async def replace_photo(request: Request, code: str, dash: DashboardDep, who: SignedIn,
                        scope: VisibleScope, html: Page,
                        photo: Annotated[UploadFile | None, File()] = None,
                        unit: Annotated[str, Form()] = "",
                        csrf_token: Annotated[str, Form()] = ""):
    top, officer = await _changing(request, dash, who, scope, html, csrf_token, code, unit)
    if not isinstance(top, str):
        return top
    try:
        picture = await _photo_of(photo)
        if picture is None:
            raise DistrictError(N_("Choose a photo (JPEG or PNG, at most 512 KiB)."))
        await run_in_threadpool(officer_store.set_photo, dash.engine, officer.code, picture,
                                actor_of(request, who))
    except DistrictError as exc:
        return await _refused(html, dash, who, scope, top, exc)
    return _back(top, "photo", officer.code)


@router.post(MANAGE + "/{code}/{action}", include_in_schema=False)
async def officer_action(request: Request, code: str, action: str, dash: DashboardDep,
                         who: SignedIn, scope: VisibleScope, html: Page,
                         unit: Annotated[str, Form()] = "",
                         csrf_token: Annotated[str, Form()] = ""):
    """disable, enable, reissue (a new badge number)."""
    if action not in ("disable", "enable", "reissue"):
        raise NotVisible()
    top, officer = await _changing(request, dash, who, scope, html, csrf_token, code, unit)
    if not isinstance(top, str):
        return top
    act = {"disable": officer_store.disable_officer, "enable": officer_store.enable_officer,
           "reissue": officer_store.reissue_badge}[action]
    result = await run_in_threadpool(act, dash.engine, officer.code, actor_of(request, who))
    done = {"disable": "disabled", "enable": "enabled", "reissue": "reissued"}[action]
    return _back(top, done if result else "unchanged", officer.code)


@router.get(MANAGE + "/{code}/photo", include_in_schema=False)
async def officer_photo(code: str, dash: DashboardDep, who: SignedIn, scope: VisibleScope):
    officer = await run_in_threadpool(_officer_in_scope, dash.engine, scope, code)
    photo = await run_in_threadpool(officer_store.photo_of, dash.engine, officer.code)
    if photo is None:
        raise NotVisible()
    return secure_headers(Response(photo[0], media_type=photo[1],
                                   headers={"Cache-Control": "private, max-age=60"}))


@router.get(MANAGE + "/badges.pdf", include_in_schema=False)
async def badge_sheet(request: Request, dash: DashboardDep, who: SignedIn,
                      scope: VisibleScope, html: Page,
                      unit: Annotated[str, text_query("the unit")] = None):
    """The unit's badge sheet (its own active officers, as ``district officers badges``),
    for district officials; recorded in the audit log."""
    top = scope.resolve(unit)
    if who.role != "district":
        return html.error(403, html.gettext(READ_ONLY))
    try:
        pdf, count = await run_in_threadpool(_sheet, dash.engine, top, html)
    except DistrictError as exc:
        return await _refused(html, dash, who, scope, top, exc)
    await run_in_threadpool(audit.record_now, dash.engine, actor_of(request, who),
                            "badges_printed", top, {"cards": count})
    name = f"the-can-bo-{top}.pdf"
    return secure_headers(Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"'}))


def _sheet(engine, unit: str, html: Renderer) -> tuple[bytes, int]:
    from district import badges, config

    try:
        key = badges.load_key(config.load_settings())
    except (OSError, DistrictError) as exc:
        detail = exc.translated(_district_gettext(html)) if isinstance(exc, DistrictError) \
            else (exc.strerror or str(exc))
        raise DistrictError(N_("The server cannot read the badge key ({error}): print the "
                               "badges on the server with `district officers badges --unit "
                               "{unit} --out FILE.pdf`."), error=detail, unit=unit) from None
    return badges.unit_sheet(engine, key, unit, None, _district_gettext(html))
