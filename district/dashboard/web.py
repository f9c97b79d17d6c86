"""The dashboard's routes: pages (Jinja2, autoescaped), exports and the JSON API.

``register(app)`` mounts everything on the server's FastAPI app. Every route resolves the
signed-in official first and every unit parameter through ``Scope.resolve``: a unit official
gets 404 for any unit outside their subtree, whatever the URL or query says.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from district import auth as terminal_auth
from district.dashboard import aggregates as agg
from district.dashboard import alerts as alert_rules
from district.dashboard import exports
from district.dashboard.accounts import COOKIE, Official, SessionStore, authenticate, csrf_ok
from district.dashboard.health import (
    FAULTS,
    MAX_PER_PAGE,
    PER_PAGE,
    backlog_fault,
    fleet_page,
    fleet_summary,
    paging,
    silent_hours,
)
from district.dashboard.periods import KINDS, Period, month_period, parse_period, today_local
from district.dashboard.rollup import LOCAL_TZ
from district.dashboard.tables import REASON_CODES
from district.db import utcnow
from district.errors import N_, DistrictError
from kiosk.i18n import LANGUAGES, translation

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LANG_COOKIE = "hl_lang"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALL_UNITS_UP_TO = 300  # a unit selector longer than this shows the way to the current unit
FIND_LIMIT = 50  # units listed by a search
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class NotVisible(Exception):
    """The unit does not exist or is outside the official's units (both answer 404)."""


class SignedOut(Exception):
    pass


class BadFilter(Exception):
    """A query parameter the dashboard cannot use (400, with the reason)."""

    def __init__(self, error: DistrictError):
        super().__init__(str(error))
        self.error = error


def checked(fn, *args):
    try:
        return fn(*args)
    except DistrictError as exc:
        raise BadFilter(exc) from exc


def _age(moment: dt.datetime, ngettext) -> str:
    """How long ago, for a silent terminal: whole hours under two days, then whole days."""
    hours = max(0, int((dt.datetime.now(dt.UTC) - moment).total_seconds() // 3600))
    if hours < 48:
        return ngettext("{n} hour ago", "{n} hours ago", hours).format(n=hours)
    days = hours // 24
    return ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def trend_label(key: str, _) -> str:
    """A trend bucket as officials write it: day ``01/09``, week ``tuần 36/2025``, month
    ``09/2025``. The keys stay ISO (``2025-09-01``, ``2025-W36``, ``2025-09``) in the API."""
    year, _dash, rest = key.partition("-")
    if rest.startswith("W"):
        return _("week {week}/{year}").format(week=int(rest[1:]), year=year)
    month, _dash, day = rest.partition("-")
    return f"{day}/{month}" if day else f"{month}/{year}"


def _signed(value, digits: int = 1, lang: str = "vi") -> str:
    if value is None:
        return "–"
    text = agg.format_number(abs(value), digits, lang)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def _environments() -> dict[str, jinja2.Environment]:
    envs = {}
    for lang in LANGUAGES:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
            extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
            undefined=jinja2.StrictUndefined)
        catalog = translation("district_web", lang)
        env.install_gettext_translations(catalog, newstyle=False)
        env.filters["ago"] = lambda moment, _n=catalog.ngettext: _age(moment, _n)
        env.filters["label"] = lambda period, _g=catalog.gettext: period.label(_g)
        env.globals["describe_alert"] = (
            lambda alert, names, _l=lang: alert_rules.describe(alert, names, _l))
        env.filters["num"] = lambda v, d=0, _l=lang: agg.format_number(v, d, _l)
        env.filters["signed"] = lambda v, d=1, _l=lang: _signed(v, d, _l)
        env.globals["lang"] = lang
        env.globals["tz"] = LOCAL_TZ
        env.globals["reason_names"] = exports.REASON_NAMES
        env.globals["attention_min"] = ATTENTION_MIN_VOTES
        envs[lang] = env
    return envs


@dataclass
class Scope:
    """What an official may see: ``top`` and every unit below it."""

    official: Official
    tree: agg.UnitTree

    @property
    def top(self) -> str | None:
        return self.official.unit_id if self.official.role == "unit" else None

    def tops(self) -> list[str]:
        return [self.top] if self.top else self.tree.roots()

    def resolve(self, unit_id: str | None) -> str:
        if not unit_id:
            tops = self.tops()
            if not tops:
                raise NotVisible()
            return tops[0]
        if unit_id not in self.tree.names:
            raise NotVisible()
        if self.top and not self.tree.is_within(unit_id, self.top):
            raise NotVisible()
        return unit_id

    def unit_choices(self, current: str) -> list[tuple[str, str, int]]:
        """(id, name, depth) for the unit selector: every unit the official may see, or, when
        that is more than ``ALL_UNITS_UP_TO`` (a province has 10,101), the way down to
        ``current``, its siblings and its children, so the select stays short and one can
        walk the tree from any page."""
        if not self.is_large():
            return [(u, self.tree.names[u], d)
                    for top in self.tops() for u, d in self.tree.depth_first(top)]
        path = [u for u in self.tree.ancestors(current)
                if self.top is None or self.tree.is_within(u, self.top)]
        around = self.tree.children.get(path[-1], []) if path else self.tops()
        out = [(u, self.tree.names[u], d) for d, u in enumerate(path)]
        for u in around:
            out.append((u, self.tree.names[u], len(path)))
            if u == current:
                out.extend((c, self.tree.names[c], len(path) + 1)
                           for c in self.tree.children.get(u, []))
        return out

    def is_large(self) -> bool:
        """More units than the selector lists whole (then it offers a search too)."""
        return sum(len(self.tree.depth_first(t)) for t in self.tops()) > ALL_UNITS_UP_TO

    def find(self, text: str) -> list[str]:
        """The visible units whose name or id contains ``text``, accents and case ignored,
        in tree order."""
        needle = agg.fold(text.strip())
        if not needle:
            return []
        folded = self.tree.folded_names()
        return [u for top in self.tops() for u, _d in self.tree.depth_first(top)
                if needle in folded[u]]

    def visible_units(self) -> list[str] | None:
        return None if not self.top else self.tree.subtree(self.top)


class Dashboard:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._store: SessionStore | None = None
        self.envs = _environments()

    @property
    def store(self) -> SessionStore:
        if self._store is None:  # the secret is created on first use (database migrated)
            self._store = SessionStore(self.engine)
        return self._store

    # -- request helpers ---------------------------------------------------------------
    def lang(self, request: Request) -> str:
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "vi"
        return lang if lang in LANGUAGES else "vi"

    def gettext(self, lang: str):
        return translation("district_web", lang).gettext

    async def official(self, request: Request) -> Official:
        cookie = request.cookies.get(COOKIE)
        who = await run_in_threadpool(self.store.official, cookie) if cookie else None
        if who is None:
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer ") and await run_in_threadpool(
                    self._admin, header[7:].strip()):
                who = Official(0, "api-token", "district", None)
        if who is None:
            raise SignedOut()
        return who

    def _admin(self, token: str) -> bool:
        with self.engine.connect() as conn:
            return terminal_auth.is_admin_token(conn, token)

    def scope(self, official: Official) -> Scope:
        with self.engine.connect() as conn:
            return Scope(official, agg.UnitTree.cached(conn))

    def page(self, request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
        lang = ctx.pop("lang", None) or self.lang(request)
        html = self.envs[lang].get_template(template).render(
            request_path=request.url.path, query=dict(request.query_params),
            other_lang="en" if lang == "vi" else "vi", **ctx)
        resp = HTMLResponse(html, status_code=status)
        secure_headers(resp)
        if request.query_params.get("lang") in LANGUAGES:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                            httponly=True)
        return resp


def secure_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def filters_of(request: Request, scope: Scope) -> tuple[str, Period]:
    q = request.query_params
    unit = scope.resolve(q.get("unit"))
    period = checked(parse_period, q.get("period"), q.get("date") or None, q.get("from"),
                     q.get("to"), today_local())
    return unit, period


def step_of(request: Request, period: Period) -> str:
    step = request.query_params.get("step") or agg.default_step(period)
    if step not in ("day", "week", "month"):
        raise BadFilter(DistrictError(N_("unknown step {step!r}: use day, week or month"),
                                      step=step[:20]))
    return step


def paging_of(request: Request, api: bool = False) -> tuple[int, int, bool]:
    """``page`` (1-based), ``per_page`` (1–500, default 50) and the order of a terminal list:
    ``order=faults`` (faulty first; the pages' default) or ``order=unit`` (by unit and id;
    the API's default, stable between pages)."""
    q = request.query_params
    try:
        page = int(q.get("page") or 1)
        per_page = int(q.get("per_page") or PER_PAGE)
    except ValueError:
        page = per_page = 0
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise BadFilter(DistrictError(
            N_("page must be a number from 1 and per_page from 1 to {max}"), max=MAX_PER_PAGE))
    order = q.get("order") or ("unit" if api else "faults")
    if order not in ("faults", "unit"):
        raise BadFilter(DistrictError(N_("unknown order {order!r}: use faults or unit"),
                                      order=order[:20]))
    return page, per_page, order == "faults"


def period_query(unit: str, period: Period, **extra) -> str:
    params = {"unit": unit, "period": period.kind}
    if period.kind == "custom":
        params.update({"from": period.start.isoformat(), "to": period.end.isoformat()})
    else:
        params["date"] = period.start.isoformat()
    params.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(params)


# --- computations (threads) ----------------------------------------------------------------

ATTENTION_ROWS = 10  # counters and officers listed on the overview, lowest index first
ATTENTION_MIN_VOTES = 10  # fewer counted votes in the period say too little to rank


def overview_data(engine: Engine, scope: Scope, unit: str, period: Period) -> dict:
    with engine.connect() as conn:
        ov = agg.overview(conn, scope.tree, unit, period)
        subtree = scope.tree.subtree(unit)
        alerts = alert_rules.open_alerts(conn, subtree)
        # (the whole tree needs no unit filter: a province's 10,000 ids cost more than it)
        everything = len(subtree) == len(scope.tree.names)
        lowest = agg.lowest_officers(conn, period, None if everything else subtree,
                                     ATTENTION_ROWS, ATTENTION_MIN_VOTES)
    return {"overview": ov, "alerts": alerts,
            "attention": [(u, counter, officer, c) for (u, counter, officer), c in lowest]}


def terminal_list(conn, ids: list[str], page: tuple[int, int, bool],
                  period: Period | None = None) -> dict:
    """Status counts of every terminal of ``ids`` and one page of them (with their votes
    in ``period``, read for the shown terminals only)."""
    now = utcnow()
    summary = fleet_summary(conn, ids, now)
    pg = paging(page[0], page[1], summary.total)
    rows = fleet_page(conn, ids, now, pg.offset, pg.per_page, page[2])
    votes = agg.counts_by_terminal(conn, period, None, [t.id for t in rows]) if period else {}
    return {"summary": summary, "paging": pg, "terminals": rows, "by_terminal": votes}


def unit_data(engine: Engine, scope: Scope, unit: str, period: Period, step: str,
              page: tuple[int, int, bool], subtree_terminals: bool = False) -> dict:
    """The unit's figures, one row per direct sub-unit (and its own terminals), and one
    page of terminals: the unit's own (page) or its whole subtree's (API)."""
    ids = scope.tree.subtree(unit) if subtree_terminals else [unit]
    with engine.connect() as conn:
        by_day = agg.counts_by_day(conn, period, unit)
        heat = agg.heatmap(conn, period, unit)
        ov = agg.overview(conn, scope.tree, unit, period)
        terms = terminal_list(conn, ids, page, period)
        officers = agg.counts_by_officer(conn, period, [unit])
    total = agg.Counts()
    for c in by_day.values():
        total.merge(c)
    return {"total": total, "previous": ov.total.previous,
            "trend": agg.trend(by_day, period, step), "heat": heat, "ov": ov,
            "officers": officers_first_needing_attention(officers), **terms}


def officers_first_needing_attention(by_officer: dict[tuple[str, str, str], agg.Counts]
                                     ) -> list[tuple[str, str, agg.Counts]]:
    """(counter, officer, counts) of one unit: lowest index first (those with no counted
    vote last), then by counter and officer."""
    return sorted(((counter, officer, c) for (_unit, counter, officer), c in by_officer.items()),
                  key=lambda r: (r[2].index is None, r[2].index or 0, r[0], r[1]))


def unit_json(scope: Scope, unit: str, period: Period, step: str, d: dict) -> dict:
    row = agg.Row(unit, scope.tree.names[unit], False, d["total"], d["previous"])
    return {
        "unit_id": unit, "name": scope.tree.names[unit], "period": period.as_json(),
        "previous_period": period.previous().as_json(), **row.as_json(),
        "units": [r.as_json() for r in d["ov"].rows],
        "trend": {"step": step, "points": [{"bucket": k, **c.as_json()} for k, c in d["trend"]]},
        "heatmap": {"weekdays": list(WEEKDAYS), "hours": list(range(24)),
                    "votes": [[c.votes for c in day] for day in d["heat"]],
                    "negative": [[c.negative for c in day] for day in d["heat"]]},
        "terminal_summary": d["summary"].as_json(), "paging": d["paging"].as_json(),
        "terminals": [{**t.as_json(), "votes": d["by_terminal"].get(t.id, agg.Counts()).votes}
                      for t in d["terminals"]],
        "officers": [{"counter": counter, "officer": officer, **c.as_json()}
                     for counter, officer, c in d["officers"]],
    }


def fleet_data(engine: Engine, scope: Scope, unit: str, page: tuple[int, int, bool]) -> dict:
    with engine.connect() as conn:
        return terminal_list(conn, scope.tree.subtree(unit), page)


# --- routes --------------------------------------------------------------------------------

def build_router(dash: Dashboard) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    api = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])
    engine = dash.engine

    @router.get("/")
    async def root():
        return RedirectResponse("/dashboard", status_code=303)

    @router.get("/favicon.ico")
    async def favicon():
        return Response(status_code=204)

    @router.get("/login")
    async def login_form(request: Request):
        return dash.page(request, "login.html", error=None, username="",
                         next=_safe_next(request.query_params.get("next")))

    @router.post("/login")
    async def login(request: Request):
        form = await request.form()
        username = str(form.get("username", ""))[:64]
        password = str(form.get("password", ""))[:256]
        nxt = _safe_next(str(form.get("next", "")))
        who = await run_in_threadpool(authenticate, engine, username, password)
        if who is None:
            _ = dash.gettext(dash.lang(request))
            return dash.page(request, "login.html", status=401, username=username, next=nxt,
                             error=_("Wrong user name or password."))
        cookie = await run_in_threadpool(dash.store.open, who)
        resp = RedirectResponse(nxt or "/dashboard", status_code=303)
        resp.set_cookie(COOKIE, cookie, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=12 * 3600)
        return resp

    @router.post("/logout")
    async def logout(request: Request):
        who = await dash.official(request)
        form = await request.form()
        if not csrf_ok(who, str(form.get("csrf_token", ""))):
            return _forbidden(dash, request)
        await run_in_threadpool(dash.store.close, request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @router.get("/dashboard")
    async def overview_page(request: Request):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit, period = filters_of(request, scope)
        data = await run_in_threadpool(overview_data, engine, scope, unit, period)
        ov: agg.Overview = data["overview"]
        chart = {"labels": [r.name for r in ov.rows if r.counts.votes],
                 "index": [round(r.counts.index, 1) for r in ov.rows if r.counts.votes],
                 "satisfaction": [round(r.counts.satisfaction, 1) for r in ov.rows
                                  if r.counts.votes]}
        return dash.page(request, "overview.html", **_common(who, scope, unit, period),
                         ov=ov, alerts=data["alerts"], attention=data["attention"],
                         chart=chart, page="overview")

    @router.get("/dashboard/units/{unit_id}")
    async def unit_page(request: Request, unit_id: str):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit = scope.resolve(unit_id)
        _unit, period = filters_of(request, scope)
        step = step_of(request, period)
        page = paging_of(request)
        d = await run_in_threadpool(unit_data, engine, scope, unit, period, step, page)
        _ = dash.gettext(dash.lang(request))
        heat_max = max((c.votes for day in d["heat"] for c in day), default=0)
        chart = {
            "trend": {"labels": [trend_label(k, _) for k, _c in d["trend"]],
                      "votes": [c.votes for _k, c in d["trend"]],
                      "index": [None if c.index is None else round(c.index, 1)
                                for _k, c in d["trend"]],
                      "satisfaction": [None if c.satisfaction is None
                                       else round(c.satisfaction, 1) for _k, c in d["trend"]]},
            "levels": {str(s): v for s, v in d["total"].distribution().items()},
            "level_names": {str(s): [_(n) for n in names]
                            for s, names in agg.LEVEL_NAMES.items()},
        }
        return dash.page(request, "unit.html", **_common(who, scope, unit, period), d=d,
                         step=step, chart=chart, heat_max=heat_max, weekdays=WEEKDAYS,
                         level_names=agg.LEVEL_NAMES, reasons=REASON_CODES, page="unit",
                         path=scope.tree.ancestors(unit), faults=FAULTS)

    async def unit_this_month(request: Request) -> tuple[Official, Scope, str, Period]:
        """The signed-in official, their scope, the unit asked for (checked against the
        scope) and the current month: what the pages without a period filter start from."""
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit = scope.resolve(request.query_params.get("unit"))
        return who, scope, unit, parse_period("month", None, today=today_local())

    @router.get("/dashboard/fleet")
    async def fleet_page(request: Request):
        who, scope, unit, period = await unit_this_month(request)
        d = await run_in_threadpool(fleet_data, engine, scope, unit, paging_of(request))
        return dash.page(request, "fleet.html", **_common(who, scope, unit, period), d=d,
                         silent_hours=silent_hours(), backlog_fault=backlog_fault(),
                         faults=FAULTS, page="fleet")

    @router.get("/dashboard/find")
    async def find_page(request: Request):
        who, scope, unit, period = await unit_this_month(request)
        text = (request.query_params.get("q") or "")[:100]
        found = scope.find(text)
        return dash.page(request, "find.html", **_common(who, scope, unit, period), search=text,
                         found=found[:FIND_LIMIT], more=len(found) > FIND_LIMIT,
                         paths={u: scope.tree.ancestors(u) for u in found[:FIND_LIMIT]},
                         page="find")

    @router.get("/dashboard/alerts")
    async def alerts_page(request: Request):
        who, scope, unit, period = await unit_this_month(request)

        def load():
            with engine.connect() as conn:
                return alert_rules.open_alerts(conn, scope.tree.subtree(unit))
        rows = await run_in_threadpool(load)
        return dash.page(request, "alerts.html", **_common(who, scope, unit, period),
                         alerts=rows, settings=alert_rules.AlertSettings.from_env(),
                         page="alerts")

    # -- exports ---------------------------------------------------------------------------
    @router.get("/dashboard/export/{name}")
    async def export(request: Request, name: str):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        _ = dash.gettext(dash.lang(request))
        if name == "monthly.xlsx":
            unit = scope.resolve(request.query_params.get("unit"))
            period = checked(month_period, request.query_params.get("month"), today_local())
        else:
            unit, period = filters_of(request, scope)
        stem = f"hailong-{unit}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
        if name in ("votes.csv", "votes.xlsx"):
            ids = scope.tree.subtree(unit)
            rows = exports.vote_rows(engine, scope.tree, ids, period, _)
            if name == "votes.csv":
                body = exports.csv_stream(exports.vote_header(_), exports.csv_vote_rows(rows))
                return _download(StreamingResponse(body, media_type="text/csv; charset=utf-8"),
                                 f"{stem}-votes.csv")
            fh = await run_in_threadpool(exports.votes_xlsx, exports.vote_header(_), rows,
                                         _("Votes"))
            return _download(StreamingResponse(_chunks(fh), media_type=XLSX),
                             f"{stem}-votes.xlsx")
        if name in ("summary.csv", "summary.xlsx"):
            ov = (await run_in_threadpool(overview_data, engine, scope, unit, period))["overview"]
            rows = exports.summary_rows(ov, _)
            if name == "summary.csv":
                body = exports.csv_stream(exports.summary_header(_), rows)
                return _download(StreamingResponse(body, media_type="text/csv; charset=utf-8"),
                                 f"{stem}-summary.csv")
            fh = await run_in_threadpool(exports.xlsx_file, [(
                _("Summary"), exports.summary_header(_), rows)])
            return _download(StreamingResponse(_chunks(fh), media_type=XLSX),
                             f"{stem}-summary.xlsx")
        if name == "monthly.xlsx":
            def build():
                with engine.connect() as conn:
                    ov = agg.overview(conn, scope.tree, unit, period)
                return exports.monthly_workbook(engine, scope.tree, ov, _)
            fh = await run_in_threadpool(build)
            return _download(StreamingResponse(_chunks(fh), media_type=XLSX),
                             f"hailong-{unit}-{period.start:%Y-%m}-report.xlsx")
        raise NotVisible()

    # -- JSON API ----------------------------------------------------------------------------
    @api.get("/overview", summary="Overview of a unit's sub-units for a period")
    async def api_overview(request: Request):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit, period = filters_of(request, scope)
        data = await run_in_threadpool(overview_data, engine, scope, unit, period)
        return _json({**data["overview"].as_json(),
                      "alerts": [a.as_json() for a in data["alerts"]],
                      "officers_needing_attention": [
                          {"unit_id": u, "counter": counter, "officer": officer,
                           **c.as_json()} for u, counter, officer, c in data["attention"]]})

    @api.get("/units/{unit_id}", summary="A unit: trend, levels, heat map, reasons, terminals")
    async def api_unit(request: Request, unit_id: str):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit = scope.resolve(unit_id)
        _, period = filters_of(request, scope)
        step = step_of(request, period)
        d = await run_in_threadpool(unit_data, engine, scope, unit, period, step,
                                    paging_of(request, api=True), True)
        return _json(unit_json(scope, unit, period, step, d))

    @api.get("/fleet", summary="Health of a unit's subtree: counts per status, terminals "
             "paged (page, per_page, order)")
    async def api_fleet(request: Request):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit = scope.resolve(request.query_params.get("unit"))
        d = await run_in_threadpool(fleet_data, engine, scope, unit,
                                    paging_of(request, api=True))
        return _json({"unit_id": unit, "silent_hours": silent_hours(),
                      "backlog_fault": backlog_fault(), "summary": d["summary"].as_json(),
                      "paging": d["paging"].as_json(),
                      "terminals": [t.as_json() for t in d["terminals"]]})

    @api.get("/alerts", summary="Open alerts of a unit's subtree")
    async def api_alerts(request: Request):
        who = await dash.official(request)
        scope = await run_in_threadpool(dash.scope, who)
        unit = scope.resolve(request.query_params.get("unit"))

        def load():
            with engine.connect() as conn:
                return alert_rules.open_alerts(conn, scope.tree.subtree(unit))
        return _json({"unit_id": unit, "alerts": [a.as_json() for a in await run_in_threadpool(
            load)]})

    router.include_router(api)
    return router


def _common(who: Official, scope: Scope, unit: str, period: Period) -> dict:
    return {"who": who, "unit": unit, "unit_name": scope.tree.names[unit],
            "units": scope.unit_choices(unit), "offer_find": scope.is_large(),
            "period": period, "kinds": KINDS,
            "qs": period_query(unit, period), "period_query": period_query,
            "names": scope.tree.names, "children": scope.tree.children}


def _json(data: dict) -> JSONResponse:
    return secure_headers(JSONResponse(data))


def _chunks(fh, size: int = 1 << 20):
    """A spooled workbook in 1 MiB pieces (iterating the file itself would cut the zip
    at every newline byte: ~80,000 tiny chunks for a 20 MB export), closed at the end."""
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()


def _download(resp: Response, filename: str) -> Response:
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return secure_headers(resp)


def _safe_next(value: str | None) -> str:
    """Only same-site paths (no //host, no scheme) may follow a sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def _forbidden(dash: Dashboard, request: Request) -> Response:
    _ = dash.gettext(dash.lang(request))
    return dash.page(request, "error.html", status=403, who=None,
                     message=_("The form expired or did not come from this site. "
                               "Go back, reload the page and try again."))


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


PAGE_PATHS = ("/", "/login", "/logout")


def _is_page(request: Request) -> bool:
    """An address a person opens in a browser (not the API, /healthz or /static)."""
    path = request.url.path
    return path in PAGE_PATHS or path == "/dashboard" or path.startswith("/dashboard/")


def register(app: FastAPI, engine: Engine | None = None) -> Dashboard:
    """Mount the dashboard on the server's app (pages, exports, /api/v1/dashboard/…,
    /static) and start the alert loop with the app."""
    dash = Dashboard(engine or app.state.engine)
    app.state.dashboard = dash
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(build_router(dash))

    @app.exception_handler(SignedOut)
    async def on_signed_out(request: Request, _exc: SignedOut):
        if _wants_json(request):
            return JSONResponse({"error": "unauthorized", "message": "sign in first",
                                 "details": []}, status_code=401)
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": nxt}), status_code=303)

    @app.exception_handler(NotVisible)
    async def on_not_visible(request: Request, _exc: NotVisible):
        if _wants_json(request):
            return JSONResponse({"error": "not_found", "message": "no such unit or page",
                                 "details": []}, status_code=404)
        _ = dash.gettext(dash.lang(request))
        return dash.page(request, "error.html", status=404, who=None,
                         message=_("This page does not exist or is not part of your units."))

    @app.exception_handler(BadFilter)
    async def on_bad_filter(request: Request, exc: BadFilter):
        lang = dash.lang(request)
        message = exc.error.translated(dash.gettext(lang))
        if _wants_json(request):
            return JSONResponse({"error": "invalid_request", "message": message,
                                 "details": []}, status_code=400)
        return dash.page(request, "error.html", status=400, who=None, message=message)

    _page_errors(app, dash)
    _start_alert_loop(app, dash)
    return dash


def _page_errors(app: FastAPI, dash: Dashboard) -> None:
    """An official who follows an old bookmark, or meets a server fault, gets a page in
    their language; the API keeps its JSON errors (the handler it registered)."""
    api_http_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        if not _is_page(request):
            return await api_http_error(request, exc)
        _ = dash.gettext(dash.lang(request))
        message = {
            404: _("This page does not exist or is not part of your units."),
            405: _("This address cannot be opened this way. Use the dashboard's links and "
                   "buttons."),
        }.get(exc.status_code, _("The server cannot answer this request (HTTP {status})."
                                 ).format(status=exc.status_code))
        page = dash.page(request, "error.html", status=exc.status_code, who=None,
                         message=message)
        page.headers.update(getattr(exc, "headers", None) or {})  # e.g. 405's Allow
        return page

    @app.exception_handler(Exception)
    async def on_fault(request: Request, exc: Exception):
        # (Starlette still logs the traceback after this answer)
        if not _is_page(request):
            return JSONResponse({"error": "internal_error", "message": "the server failed; "
                                 "try again later", "details": []}, status_code=500)
        _ = dash.gettext(dash.lang(request))
        return dash.page(request, "error.html", status=500, who=None, message=_(
            "The server has a problem right now (its database may be out of reach). Try "
            "again in a minute; if it stays, tell the server's administrator."))


def _start_alert_loop(app: FastAPI, dash: Dashboard) -> None:
    """Evaluate the alert rules every ``DISTRICT_ALERT_INTERVAL_S`` seconds (default 60; 0
    turns the loop off, e.g. in tests that call ``alerts.refresh`` themselves), in one of the
    server processes each time (``alerts.claim_evaluation``)."""
    interval = float(os.environ.get("DISTRICT_ALERT_INTERVAL_S", "60") or 0)
    if interval <= 0:
        return
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async def loop():
            while True:
                try:
                    now = dt.datetime.now(dt.UTC)
                    if await run_in_threadpool(alert_rules.claim_evaluation, dash.engine, now,
                                               interval):
                        await run_in_threadpool(alert_rules.refresh, dash.engine, now)
                except (sa.exc.SQLAlchemyError, OSError) as exc:
                    log.warning("alert evaluation failed: %s", exc)
                await asyncio.sleep(interval)
        task = asyncio.create_task(loop())
        try:
            async with inner(a) as state:
                yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.router.lifespan_context = lifespan
