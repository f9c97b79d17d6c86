"""Access control, sessions, CSRF, escaping and hostile filter parameters."""

from __future__ import annotations

import pytest

PAGES = ["/dashboard", "/dashboard/units/p1", "/dashboard/fleet", "/dashboard/alerts",
         "/dashboard/export/votes.csv", "/dashboard/export/summary.xlsx",
         "/dashboard/export/monthly.xlsx"]
APIS = ["/api/v1/dashboard/overview", "/api/v1/dashboard/units/p1", "/api/v1/dashboard/fleet",
        "/api/v1/dashboard/alerts"]


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_pages_redirect_to_sign_in(client_for, path):
    r = client_for("").get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", APIS)
def test_signed_out_api_refused(client_for, path):
    assert client_for("").get(path).status_code == 401


def test_wrong_password_refused(client_for):
    r = client_for("").post("/login", data={"username": "district", "password": "nope"})
    assert r.status_code == 401 and "hl_session" not in r.cookies


def test_forged_cookie_refused(client_for):
    client = client_for("")
    client.cookies.set("hl_session", "abc.def.ghi")
    assert client.get("/api/v1/dashboard/overview").status_code == 401


@pytest.mark.parametrize("path", [
    "/dashboard/units/p2", "/dashboard/units/q", "/dashboard?unit=p2", "/dashboard?unit=q",
    "/dashboard/fleet?unit=q", "/dashboard/alerts?unit=p3",
    "/dashboard/export/votes.csv?unit=p2", "/dashboard/export/summary.csv?unit=q",
    "/dashboard/export/monthly.xlsx?unit=q", "/dashboard/units/nope",
    "/api/v1/dashboard/units/p2", "/api/v1/dashboard/overview?unit=q",
    "/api/v1/dashboard/fleet?unit=p2", "/api/v1/dashboard/alerts?unit=q",
    "/dashboard/units/p2?unit=p1", "/api/v1/dashboard/overview?unit=p1&unit=q",
])
def test_unit_official_cannot_see_other_units(client_for, path):
    r = client_for("ward1").get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "Vĩnh Tuy" not in r.text and "t-p2" not in r.text


def test_unit_official_sees_own_subtree_only(client_for):
    client = client_for("ward1")
    data = client.get("/api/v1/dashboard/overview").json()
    assert data["unit_id"] == "p1"
    assert {r["unit_id"] for r in data["units"]} == {"p1", "p1a"}
    assert client.get("/api/v1/dashboard/units/p1a").status_code == 200
    fleet = client.get("/api/v1/dashboard/fleet").json()
    assert {t["terminal_id"] for t in fleet["terminals"]} == {"t-p1", "t-p1a"}
    html = client.get("/dashboard").text
    assert "Vĩnh Tuy" not in html and "Hai Bà Trưng" not in html  # not even in the menus


@pytest.mark.parametrize("query", [
    "period=month&date=2025-10-01'%20OR%201=1--", "period=custom&from=1&to=2",
    "period=decade", "period=custom&from=2025-10-01&to=2025-01-01",
    "unit=p1'%20OR%20'1'='1", "unit=p1%3BDROP%20TABLE%20votes", "step=hour",
    "period=custom&from=2000-01-01&to=2025-01-01",
])
def test_hostile_filters_are_refused_cleanly(client_for, dataset, query):
    client = client_for("district")
    r = client.get(f"/api/v1/dashboard/units/p1?{query}")
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"] in ("invalid_request", "not_found")
    page = client.get(f"/dashboard/units/p1?{query}")
    assert page.status_code in (400, 404)
    engine, votes = dataset
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM votes").scalar() == len(votes)


def test_names_with_html_are_text(client_for):
    client = client_for("district")
    for path in ("/dashboard", "/dashboard/units/p3", "/dashboard/fleet"):
        html = client.get(path).text
        assert "<script>alert(" not in html
    assert "&lt;script&gt;" in client.get("/dashboard/units/p3").text
    headers = client.get("/dashboard").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_sign_out_needs_csrf_and_ends_session(client_for):
    client = client_for("district")
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    html = client.get("/dashboard").text
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    cookie = client.cookies.get("hl_session")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    client.cookies.set("hl_session", cookie)  # a copied cookie no longer works either
    assert client.get("/api/v1/dashboard/overview").status_code == 401


def test_open_redirect_refused(client_for):
    from tests.dashboard.conftest import PASSWORD

    r = client_for("").post("/login", data={"username": "district", "password": PASSWORD,
                                             "next": "//evil.example/"})
    assert r.headers["location"] == "/dashboard"


def test_admin_token_reads_api(client_for, dataset):
    from district.auth import create_admin_token

    engine, _ = dataset
    token = create_admin_token(engine, "test")
    client = client_for("")
    r = client.get("/api/v1/dashboard/overview", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    r = client.get("/api/v1/dashboard/overview", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_find_lists_only_the_officials_units_as_text(client_for):
    """The unit search: accents optional, a unit official finds only their own units, and
    what is searched for or found is shown as text."""
    html = client_for("district").get("/dashboard/find?q=bach%20mai").text
    assert 'href="/dashboard/units/p1?' in html and "Phường Bạch Mai" in html
    evil = client_for("district").get("/dashboard/find?q=%3Cscript%3E").text
    assert "<script>alert" not in evil and "&lt;script&gt;" in evil
    ward = client_for("ward1").get("/dashboard/find?q=phuong").text
    assert 'href="/dashboard/units/p1?' in ward
    assert "/dashboard/units/p2" not in ward and "/dashboard/units/p3" not in ward
    assert client_for("").get("/dashboard/find?q=phuong").status_code == 303
