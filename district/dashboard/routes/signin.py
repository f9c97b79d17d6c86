"""Signing in and out (``/login``, ``/logout``): a server-side session in a signed cookie,
``Secure`` when the request came over HTTPS (or ``DISTRICT_SECURE_COOKIES=1``, for a
proxy elsewhere that ends TLS).

Against guessing: failed sign-ins are counted per account and address, per address, and per
account from anywhere (``district.limits.SigninLimits``); a limit reached refuses tries with
429 until its moving window has passed, without checking the password. A browser that
signed in to an account before carries a signed "known browser" cookie for it, which the
count from anywhere leaves alone, so nobody can keep an official out of their own browser.

Against cross-site requests: every POST of the dashboard must come from one of its own
pages (``same_origin``: the Origin header, else the Referer, names this server; a browser
always sends one of them with a form from another site), besides the session's own CSRF
token on the forms of a signed-in official.

Every sign-in, failed or refused sign-in and sign-out goes to the audit log.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from district import audit
from district.dashboard.accounts import COOKIE, SESSION_HOURS, authenticate, csrf_ok
from district.dashboard.deps import DashboardDep, Page, SignedIn, session_cookie
from district.errors import N_
from district.limits import SigninLimits

SESSION_COOKIE_S = SESSION_HOURS * 3600  # the cookie lives as long as the session row
KNOWN_COOKIE = "hl_known"
KNOWN_COOKIE_S = 365 * 86400
SECURE_COOKIES_ENV = "DISTRICT_SECURE_COOKIES"
# A refused try is answered after this pause: a guesser that waits for each answer (as
# the 8 parallel guessers did) then costs the server one cheap answer a second,
# instead of as many as it can send.
REFUSAL_DELAY_S = 1.0
FOREIGN_FORM = N_("The form expired or did not come from this site. Go back, reload the page "
                  "and try again.")

router = APIRouter(include_in_schema=False)


class CrossSite(Exception):
    """A POST to the dashboard from a page of another site (403)."""


def same_origin(request: Request) -> None:
    """A dependency of the whole app: a POST outside the bearer-token API must come from
    this server's own pages. Requests with neither Origin nor Referer (scripts, the
    command line) pass: a browser sends one of them on every cross-site form."""
    if request.method != "POST" or request.url.path.startswith("/api/"):
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise CrossSite()


async def on_cross_site(request: Request, _exc: CrossSite):
    from district.dashboard.errors import json_error, renderer_for, wants_json

    if wants_json(request):
        return json_error(403, "cross_site", "this request did not come from this site")
    page = renderer_for(request)
    return page.error(403, page.gettext(FOREIGN_FORM))


def secure_cookies(request: Request) -> bool:
    """HTTPS here, or a proxy said so (X-Forwarded-Proto from an allowed address, read by
    uvicorn), or the server is told that a proxy elsewhere ends TLS."""
    return request.url.scheme == "https" or os.environ.get(SECURE_COOKIES_ENV, "") in (
        "1", "true", "yes")


def safe_next(value: str | None) -> str:
    """Only same-site paths (no //host, no scheme) may follow a sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def limits_of(request: Request) -> SigninLimits:
    state = request.app.state
    if getattr(state, "signin_limits", None) is None:
        state.signin_limits = SigninLimits()
    return state.signin_limits


def address_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def known_signer(dash) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(dash.store.signer.secret_key, salt="hl-known-browser")


def is_known_browser(request: Request, dash, username: str) -> bool:
    cookie = request.cookies.get(KNOWN_COOKIE)
    if not cookie:
        return False
    try:
        return known_signer(dash).loads(cookie, max_age=KNOWN_COOKIE_S) == username.lower()
    except BadSignature:
        return False


@router.get("/login")
async def login_form(html: Page, next: Annotated[str | None, Query()] = None):
    return html.page("login.html", error=None, username="", next=safe_next(next))


@router.post("/login")
async def login(request: Request, dash: DashboardDep, html: Page,
                username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = ""):
    username, password, nxt = username[:64], password[:256], safe_next(next)
    address, limits = address_of(request), limits_of(request)
    actor = audit.Actor(username or "?", address)
    known = await run_in_threadpool(is_known_browser, request, dash, username)
    refusal = limits.refusal(username, address, known)
    if refusal is not None:
        if limits.should_record_refusal(address):
            await run_in_threadpool(audit.record_now, dash.engine, actor, "signin_refused",
                                    username, {"retry_after_s": refusal.retry_after_s})
        await asyncio.sleep(REFUSAL_DELAY_S)  # a guesser waits, at no cost to others
        minutes = -(-refusal.retry_after_s // 60)
        resp = html.page("login.html", status=429, username=username, next=nxt,
                         error=html.gettext(
                             "Too many failed sign-ins. Try again in {minutes} minute(s), "
                             "or ask the server's administrator.").format(minutes=minutes))
        resp.headers["Retry-After"] = str(refusal.retry_after_s)
        return resp
    who = await run_in_threadpool(authenticate, dash.engine, username, password)
    if who is None:
        limits.failed(username, address, known)
        await run_in_threadpool(audit.record_now, dash.engine, actor, "signin_failed",
                                username, _client_detail(request))
        return html.page("login.html", status=401, username=username, next=nxt,
                         error=html.gettext("Wrong user name or password."))
    limits.succeeded(username, address)
    cookie = await run_in_threadpool(dash.store.open, who)
    await run_in_threadpool(audit.record_now, dash.engine,
                            audit.Actor(who.username, address), "signin", who.username,
                            _client_detail(request))
    resp = RedirectResponse(nxt or "/dashboard", status_code=303)
    secure = secure_cookies(request)
    resp.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=secure,
                    max_age=SESSION_COOKIE_S)
    resp.set_cookie(KNOWN_COOKIE, known_signer(dash).dumps(who.username.lower()),
                    httponly=True, samesite="lax", secure=secure, max_age=KNOWN_COOKIE_S)
    return resp


def _client_detail(request: Request) -> dict:
    return {"user_agent": request.headers.get("user-agent", "")[:200]}


@router.post("/logout")
async def logout(request: Request, dash: DashboardDep, who: SignedIn, html: Page,
                 cookie: Annotated[str | None, Depends(session_cookie)],
                 csrf_token: Annotated[str, Form()] = ""):
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext(FOREIGN_FORM))
    await run_in_threadpool(dash.store.close, cookie)
    await run_in_threadpool(audit.record_now, dash.engine,
                            audit.Actor(who.username, address_of(request)), "signout",
                            who.username)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp
