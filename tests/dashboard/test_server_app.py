"""The server app as one piece (``district.app.create_app``): every /api/v1 route in the
OpenAPI document with its answer's schema, the dashboard's answers as documented, every
dashboard route behind the sign-in dependency, filters refused once with the reason in the
official's language, and the session cookie ``Secure`` over HTTPS."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from district.dashboard import api_models as answers
from district.dashboard.deps import signed_in_official
from tests.dashboard.conftest import PASSWORD

DASHBOARD_API = {"/api/v1/dashboard/overview": "Overview",
                 "/api/v1/dashboard/units/{unit_id}": "Unit",
                 "/api/v1/dashboard/fleet": "Fleet", "/api/v1/dashboard/alerts": "Alerts"}
OPEN = {"/", "/favicon.ico", "/login"}  # the addresses one reaches signed out


def routes(app) -> dict[str, APIRoute]:
    """Every API route of the app by its full path (included routers flattened)."""
    return {c.path: c.original_route for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)}


def test_every_api_route_is_in_the_document_with_its_answers(app):
    doc = TestClient(app).get("/openapi.json").json()
    api = {p for p in routes(app) if p.startswith("/api/v1/")}
    assert api == {p for p in doc["paths"] if p.startswith("/api/v1/")}
    assert set(DASHBOARD_API) <= set(doc["paths"])
    for path, model in DASHBOARD_API.items():
        op = doc["paths"][path]["get"]
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}
        assert {"400", "401", "404"} <= set(op["responses"])
        assert {"session", "adminToken"} <= {k for s in op["security"] for k in s}
    params = {p["name"]: p["schema"] for p in
              doc["paths"]["/api/v1/dashboard/units/{unit_id}"]["get"]["parameters"]}
    assert {"unit_id", "unit", "period", "date", "from", "to", "step", "page", "per_page",
            "order", "lang"} <= set(params)
    assert params["period"]["enum"] == ["", "day", "week", "month", "quarter", "year",
                                        "custom"]
    # pages and downloads are for browsers: not in the document
    assert not [p for p in doc["paths"] if p.startswith("/dashboard") or p == "/login"]


@pytest.mark.parametrize(("path", "model"), [
    ("/api/v1/dashboard/overview?period=month&date=2025-09-01", answers.Overview),
    ("/api/v1/dashboard/units/q?period=quarter&date=2025-09-01&per_page=2", answers.Unit),
    ("/api/v1/dashboard/units/p1a?period=year&date=2025-01-01&step=month", answers.Unit),
    ("/api/v1/dashboard/fleet?unit=q", answers.Fleet),
    ("/api/v1/dashboard/alerts", answers.Alerts),
])
def test_the_answers_are_what_the_document_says(client_for, path, model):
    body = client_for("district").get(path).json()
    model.model_validate(body, strict=False)
    assert body["unit_id"]


def _dependencies(dependant):
    for dep in dependant.dependencies:
        yield dep.call
        yield from _dependencies(dep)


def test_every_dashboard_route_needs_a_signed_in_official(app):
    """The sign-in is one dependency: a route that forgets it fails here."""
    needs = {path: signed_in_official in set(_dependencies(route.dependant))
             for path, route in routes(app).items()}
    guarded = [p for p in needs if p.startswith(("/dashboard", "/api/v1/dashboard"))
               or p == "/logout"]
    assert len(guarded) >= 15
    assert all(needs[p] for p in guarded), [p for p in guarded if not needs[p]]
    assert {p for p, yes in needs.items() if not yes and not p.startswith("/api/v1/")
            and p != "/healthz"} == OPEN


@pytest.mark.parametrize(("lang", "reason"), [
    ("", "kỳ 'decade' không hợp lệ"), ("&lang=en", "unknown period 'decade'")])
def test_a_bad_filter_is_a_400_with_the_reason_in_the_officials_language(client_for, lang,
                                                                          reason):
    client = client_for("district")
    api = client.get(f"/api/v1/dashboard/overview?period=decade{lang}")
    assert api.status_code == 400
    assert api.json()["error"] == "invalid_request" and reason in api.json()["message"]
    page = client.get(f"/dashboard?period=decade{lang}")
    assert page.status_code == 400 and reason in page.text.replace("&#39;", "'")


def test_checks_come_in_order_sign_in_then_scope_then_filters(client_for):
    signed_out = client_for("")
    assert signed_out.get("/dashboard/units/p2?period=decade").status_code == 303
    assert signed_out.get("/api/v1/dashboard/units/p2?period=decade").status_code == 401
    ward = client_for("ward1")
    assert ward.get("/dashboard/units/p2?period=decade").status_code == 404
    assert ward.get("/api/v1/dashboard/units/p1?period=decade&page=0").status_code == 400


@pytest.mark.parametrize(("base", "secure"), [("https://hailong.example", True),
                                             ("http://hailong.example", False)])
def test_the_session_cookie_is_secure_over_https(app, base, secure):
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        r = client.post("/login", data={"username": "district", "password": PASSWORD})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("hl_session=") and "HttpOnly" in cookie
    assert ("Secure" in cookie) is secure


def test_no_route_reads_the_query_itself():
    """Query parameters reach the routes through the dependencies only (parsed once)."""
    from pathlib import Path

    import district.dashboard.routes as routes_package

    for module in Path(routes_package.__file__).parent.glob("*.py"):
        assert "query_params" not in module.read_text(encoding="utf-8"), module.name
