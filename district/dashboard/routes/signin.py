"""Signing in and out (``/login``, ``/logout``): a server-side session in a signed cookie,
``Secure`` when the request came over HTTPS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from district.dashboard.accounts import COOKIE, SESSION_HOURS, authenticate, csrf_ok
from district.dashboard.deps import DashboardDep, Page, SignedIn, session_cookie

SESSION_COOKIE_S = SESSION_HOURS * 3600  # the cookie lives as long as the session row

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only same-site paths (no //host, no scheme) may follow a sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


@router.get("/login")
async def login_form(html: Page, next: Annotated[str | None, Query()] = None):
    return html.page("login.html", error=None, username="", next=safe_next(next))


@router.post("/login")
async def login(request: Request, dash: DashboardDep, html: Page,
                username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = ""):
    username, password, nxt = username[:64], password[:256], safe_next(next)
    who = await run_in_threadpool(authenticate, dash.engine, username, password)
    if who is None:
        return html.page("login.html", status=401, username=username, next=nxt,
                         error=html.gettext("Wrong user name or password."))
    cookie = await run_in_threadpool(dash.store.open, who)
    resp = RedirectResponse(nxt or "/dashboard", status_code=303)
    resp.set_cookie(COOKIE, cookie, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https", max_age=SESSION_COOKIE_S)
    return resp


@router.post("/logout")
async def logout(dash: DashboardDep, who: SignedIn, html: Page,
                 cookie: Annotated[str | None, Depends(session_cookie)],
                 csrf_token: Annotated[str, Form()] = ""):
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext(
            "The form expired or did not come from this site. Go back, reload the page and "
            "try again."))
    await run_in_threadpool(dash.store.close, cookie)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp
