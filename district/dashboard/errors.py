"""The dashboard's error answers. An official who is signed out, asks for a unit outside
their scope, sends a bad filter, follows an old bookmark or meets a server fault gets a page
in their language; the JSON API (``/api/…``) gets ``{"error", "message", "details"}``.

``district.app`` registers these handlers, once, for the whole server."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from district.dashboard.deps import BadFilter, Dashboard, SignedOut, language_of
from district.dashboard.render import Renderer
from district.errors import N_
from district.models import ErrorResponse

PAGE_PATHS = ("/", "/login", "/logout")
NOT_YOURS = N_("This page does not exist or is not part of your units.")


def is_page(request: Request) -> bool:
    """An address a person opens in a browser (not the API, /healthz or /static)."""
    path = request.url.path
    return path in PAGE_PATHS or path == "/dashboard" or path.startswith("/dashboard/")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def renderer_for(request: Request) -> Renderer:
    """The page writer of a request that failed before (or without) its dependencies."""
    dash: Dashboard = request.app.state.dashboard
    lang = language_of(request)
    return Renderer(request, dash.envs, lang.code, lang.asked)


def json_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=error, message=message).model_dump(),
                        status_code=status)


async def on_signed_out(request: Request, _exc: SignedOut) -> Response:
    if wants_json(request):
        return json_error(401, "unauthorized", "sign in first")
    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": nxt}), status_code=303)


async def on_not_visible(request: Request, _exc: Exception) -> Response:
    if wants_json(request):
        return json_error(404, "not_found", "no such unit or page")
    page = renderer_for(request)
    return page.error(404, page.gettext(NOT_YOURS))


async def on_bad_filter(request: Request, exc: BadFilter) -> Response:
    page = renderer_for(request)
    message = exc.error.translated(page.gettext)
    if wants_json(request):
        return json_error(400, "invalid_request", message)
    return page.error(400, message)


def http_error_page(request: Request, exc: StarletteHTTPException) -> Response:
    """An unknown address or a wrong method on a page address: a page, with the
    exception's headers (405's Allow)."""
    page = renderer_for(request)
    _ = page.gettext
    message = {
        404: _(NOT_YOURS),
        405: _("This address cannot be opened this way. Use the dashboard's links and "
               "buttons."),
    }.get(exc.status_code, _("The server cannot answer this request (HTTP {status})."
                             ).format(status=exc.status_code))
    answer = page.error(exc.status_code, message)
    answer.headers.update(getattr(exc, "headers", None) or {})
    return answer


def fault_page(request: Request) -> Response:
    page = renderer_for(request)
    return page.error(500, page.gettext(
        "The server has a problem right now (its database may be out of reach). Try "
        "again in a minute; if it stays, tell the server's administrator."))


def fault_json() -> Response:
    return json_error(500, "internal_error", "the server failed; try again later")
