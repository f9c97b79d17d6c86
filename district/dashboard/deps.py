"""The dashboard's FastAPI dependencies: the dashboard of the app, the language, the
signed-in official, what they may see, and the filters and paging of a request.

Routes declare what they need (``who: SignedIn``, ``filters: Filtered``…) and FastAPI
resolves it, in the order of the route's parameters, once per request: no route reads the
query itself or repeats the sign-in check. Query parameters are read as text and parsed
here, so a bad value is a 400 with the reason in the official's language (a page or JSON,
``district.dashboard.errors``) rather than FastAPI's 422; the OpenAPI document still gives
their types and values (``text_query``).
"""

# (no postponed annotations: the paging dependency's are built per default order)
from dataclasses import dataclass
from typing import Annotated, NamedTuple

from fastapi import Cookie, Depends, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from district import audit
from district import auth as terminal_auth
from district.dashboard import aggregates as agg
from district.dashboard import periods
from district.dashboard.accounts import COOKIE, Official, SessionStore
from district.dashboard.health import MAX_PER_PAGE, PER_PAGE
from district.dashboard.periods import KINDS
from district.dashboard.render import LANG_COOKIE, LANGUAGES, Renderer, environments
from district.dashboard.scope import Scope
from district.errors import N_, DistrictError

STEPS = ("day", "week", "month")
ORDERS = ("faults", "unit")


class SignedOut(Exception):
    """No valid session cookie nor admin token: the sign-in page, or 401 on the API."""


class BadFilter(Exception):
    """A query parameter the dashboard cannot use (400, with the reason)."""

    def __init__(self, error: DistrictError):
        super().__init__(str(error))
        self.error = error


def checked(fn, *args):
    """``fn(*args)``, its DistrictError (a reason for the official) as a BadFilter."""
    try:
        return fn(*args)
    except DistrictError as exc:
        raise BadFilter(exc) from exc


class Dashboard:
    """What the dashboard's routes of one process share (``app.state.dashboard``)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._store: SessionStore | None = None
        self.envs = environments()

    @property
    def store(self) -> SessionStore:
        if self._store is None:  # the secret is created on first use (database migrated)
            self._store = SessionStore(self.engine)
        return self._store

    def scope(self, official: Official) -> Scope:
        with self.engine.connect() as conn:
            return Scope(official, agg.UnitTree.cached(conn))

    def is_admin_token(self, token: str) -> bool:
        with self.engine.connect() as conn:
            return terminal_auth.is_admin_token(conn, token)


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


DashboardDep = Annotated[Dashboard, Depends(dashboard)]


def text_query(description: str, alias: str | None = None, **schema):
    """A query parameter read as text (parsed by a dependency below). ``schema`` gives its
    values in the OpenAPI document only where every request is held to exactly them ("" is
    the default); the others are described in words, as a date used by some periods only or
    a number ``int()`` reads ("+2" too): schemathesis checks that whatever the document
    refuses, the server refuses too."""
    return Query(alias=alias, description=description, json_schema_extra=schema or None)


# --- language --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Language:
    code: str  # vi or en
    asked: bool  # chosen with ?lang= (the pages then remember it in a cookie)


def choose_language(asked: str | None, remembered: str | None) -> Language:
    """``?lang=`` first, then the cookie, else Vietnamese (also for an unknown language)."""
    code = asked or remembered or "vi"
    return Language(code if code in LANGUAGES else "vi", asked in LANGUAGES)


def language(lang: Annotated[str, text_query(
                 "language of the pages and of error messages: vi or en (anything else: vi)"
             )] = None,
             hl_lang: Annotated[str | None, Cookie(include_in_schema=False)] = None
             ) -> Language:
    return choose_language(lang, hl_lang)


def language_of(request: Request) -> Language:
    """The language of a request, for the error handlers (which get no dependencies)."""
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


Lang = Annotated[Language, Depends(language)]


def renderer(request: Request, dash: DashboardDep, lang: Lang) -> Renderer:
    return Renderer(request, dash.envs, lang.code, lang.asked)


Page = Annotated[Renderer, Depends(renderer)]


# --- who is signed in, and what they may see ------------------------------------------------

session_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="session",
                              description="the session of an official signed in at /login")
admin_bearer = HTTPBearer(auto_error=False, scheme_name="adminToken",
                          description="an admin token (`district officials token`)")


async def signed_in_official(
        dash: DashboardDep, cookie: Annotated[str | None, Depends(session_cookie)],
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)]
) -> Official:
    """The official of the session cookie, or, for scripts, an admin token's pseudo-official
    (a district official)."""
    who = await run_in_threadpool(dash.store.official, cookie) if cookie else None
    if who is None and token is not None and await run_in_threadpool(
            dash.is_admin_token, token.credentials.strip()):
        who = Official(0, "api-token", "district", None)
    if who is None:
        raise SignedOut()
    return who


SignedIn = Annotated[Official, Depends(signed_in_official)]


async def visible_scope(dash: DashboardDep, who: SignedIn) -> Scope:
    return await run_in_threadpool(dash.scope, who)


VisibleScope = Annotated[Scope, Depends(visible_scope)]


def unit_asked(scope: VisibleScope, unit: Annotated[str, text_query(
        "a unit id within the official's units (default: their top unit); any other is a "
        "404")] = None) -> str:
    return scope.resolve(unit)


def unit_in_path(scope: VisibleScope, unit_id: str) -> str:
    return scope.resolve(unit_id)


VisibleUnit = Annotated[str, Depends(unit_asked)]
PathUnit = Annotated[str, Depends(unit_in_path)]


# --- filters --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """The unit asked for (within the official's scope) and the period."""

    unit: str
    period: periods.Period


def filters(unit: VisibleUnit,
            period: Annotated[str, text_query(
                "kind of period (default month)", enum=["", *KINDS])] = None,
            date: Annotated[str, text_query(
                "a day of the period, like 2025-01-31 (default today; not used by a custom "
                "period)")] = None,
            start: Annotated[str, text_query(
                "first day of a custom period, like 2025-01-01 (only used by one)",
                alias="from")] = None,
            end: Annotated[str, text_query(
                "last day of a custom period, like 2025-03-31, at most 3 years after from "
                "(only used by one)", alias="to")] = None) -> Filters:
    # (today is read when asked: periods.today_local, which the tests set)
    return Filters(unit, checked(periods.parse_period, period, date or None, start, end))


def this_month(unit: VisibleUnit) -> Filters:
    """The pages without a period filter (terminal health, search, alerts) start from the
    current month."""
    return Filters(unit, periods.parse_period("month", None))


def report_month(unit: VisibleUnit, month: Annotated[str, text_query(
        "the month of the report (default this month)", pattern=r"^\d{4}-\d{2}$")] = None
                 ) -> Filters:
    return Filters(unit, checked(periods.month_period, month))


Filtered = Annotated[Filters, Depends(filters)]
ThisMonth = Annotated[Filters, Depends(this_month)]
ReportMonth = Annotated[Filters, Depends(report_month)]


def trend_step(filtered: Filtered, step: Annotated[str, text_query(
        "the trend's step (default: by the period's length)", enum=["", *STEPS])] = None) -> str:
    step = step or agg.default_step(filtered.period)
    if step not in STEPS:
        raise BadFilter(DistrictError(N_("unknown step {step!r}: use day, week or month"),
                                      step=step[:20]))
    return step


Step = Annotated[str, Depends(trend_step)]


# --- paging ---------------------------------------------------------------------------------

class PageAsked(NamedTuple):
    page: int
    per_page: int
    faults_first: bool


def paging_by(default_order: str):
    """``page`` (1-based), ``per_page`` (1–500, default 50) and the order of a terminal list:
    ``order=faults`` (faulty first; the pages' default) or ``order=unit`` (by unit and id;
    the API's default, stable between pages)."""
    def paging(
            page: Annotated[str, text_query(
                "page, a whole number from 1 (past the last: the last)")] = None,
            per_page: Annotated[str, text_query(
                f"terminals a page, 1 to {MAX_PER_PAGE} (default {PER_PAGE})")] = None,
            order: Annotated[str, text_query(
                f"faults (faulty first) or unit (by unit and id); default {default_order}",
                enum=["", *ORDERS])] = None) -> PageAsked:
        try:
            number, size = int(page or 1), int(per_page or PER_PAGE)
        except ValueError:
            number = size = 0
        if number < 1 or not 1 <= size <= MAX_PER_PAGE:
            raise BadFilter(DistrictError(
                N_("page must be a number from 1 and per_page from 1 to {max}"),
                max=MAX_PER_PAGE))
        order = order or default_order
        if order not in ORDERS:
            raise BadFilter(DistrictError(N_("unknown order {order!r}: use faults or unit"),
                                          order=order[:20]))
        return PageAsked(number, size, order == "faults")
    return paging


PagesPaging = Annotated[PageAsked, Depends(paging_by("faults"))]
ApiPaging = Annotated[PageAsked, Depends(paging_by("unit"))]


def actor_of(request: Request, who: Official) -> audit.Actor:
    """The signed-in official and the address they came from, as the audit log records."""
    return audit.Actor(who.username, request.client.host if request.client else "?")
