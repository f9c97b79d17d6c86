"""How the dashboard's pages are written: Jinja2 templates (autoescaped) per language, the
filters they use, the security headers of every answer, and the links that keep a page's
filters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ballot.i18n import LANGUAGES, translation
from district.dashboard import aggregates as agg
from district.dashboard import alerts as alert_rules
from district.dashboard import exports
from district.dashboard.accounts import Official
from district.dashboard.figures import ATTENTION_MIN_VOTES
from district.dashboard.periods import KINDS, Period
from district.dashboard.scope import Scope
from district.rollups import LOCAL_TZ

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DOMAIN = "district_web"  # the dashboard's gettext catalog
LANG_COOKIE = "hl_lang"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def gettext_for(lang: str):
    return translation(DOMAIN, lang).gettext


def ago(moment: dt.datetime, ngettext) -> str:
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


def signed(value, digits: int = 1, lang: str = "vi") -> str:
    if value is None:
        return "–"
    text = agg.format_number(abs(value), digits, lang)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def environments() -> dict[str, jinja2.Environment]:
    """One template environment per language (its catalog and number format built in)."""
    return {lang: _environment(lang) for lang in LANGUAGES}


def _environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)
    catalog = translation(DOMAIN, lang)
    env.install_gettext_translations(catalog, newstyle=False)
    env.filters["ago"] = lambda moment, _n=catalog.ngettext: ago(moment, _n)
    env.filters["label"] = lambda period, _g=catalog.gettext: period.label(_g)
    env.globals["describe_alert"] = (
        lambda alert, names, _l=lang: alert_rules.describe(alert, names, _l))
    env.filters["num"] = lambda v, d=0, _l=lang: agg.format_number(v, d, _l)
    env.filters["signed"] = lambda v, d=1, _l=lang: signed(v, d, _l)
    env.globals["lang"] = lang
    env.globals["tz"] = LOCAL_TZ
    env.globals["reason_names"] = exports.REASON_NAMES
    env.globals["attention_min"] = ATTENTION_MIN_VOTES
    return env


def secure_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    return resp


class Renderer:
    """Writes pages for one request, in the official's language; a language chosen with
    ``?lang=`` is remembered in a cookie."""

    def __init__(self, request: Request, envs: dict[str, jinja2.Environment], lang: str,
                 remember: bool):
        self.request, self.env, self.lang, self.remember = request, envs[lang], lang, remember
        self.gettext = gettext_for(lang)

    def page(self, template: str, status: int = 200, **ctx) -> HTMLResponse:
        request = self.request
        # (the query goes back into the pager's and the language switch's links)
        html = self.env.get_template(template).render(
            request_path=request.url.path, query=dict(request.query_params),
            other_lang="en" if self.lang == "vi" else "vi", **ctx)
        resp = secure_headers(HTMLResponse(html, status_code=status))
        if self.remember:
            resp.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax",
                            httponly=True)
        return resp

    def error(self, status: int, message: str) -> HTMLResponse:
        return self.page("error.html", status=status, who=None, message=message)


def period_query(unit: str, period: Period, **extra) -> str:
    """The query string of a link to ``unit`` over the same period."""
    params = {"unit": unit, "period": period.kind}
    if period.kind == "custom":
        params.update({"from": period.start.isoformat(), "to": period.end.isoformat()})
    else:
        params["date"] = period.start.isoformat()
    params.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(params)


def frame(who: Official, scope: Scope, unit: str, period: Period) -> dict:
    """What every dashboard page shows around its figures: who is signed in, the unit
    selector, the period filter and the links that keep them."""
    return {"who": who, "unit": unit, "unit_name": scope.tree.names[unit],
            "units": scope.unit_choices(unit), "offer_find": scope.is_large(),
            "period": period, "kinds": KINDS,
            "qs": period_query(unit, period), "period_query": period_query,
            "names": scope.tree.names, "children": scope.tree.children}
