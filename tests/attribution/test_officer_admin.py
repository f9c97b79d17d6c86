"""Officer management on the dashboard, through the real server (SQLite and PostgreSQL):
district officials add, change, disable and enable officers, replace photos, reissue badges
and download a unit's badge sheet, each change in the audit log; bad input answers with a
Vietnamese message and changes nothing; a form without the session's token, or from
another site, changes nothing; a unit official sees their units' officers read-only and
cannot see or change another unit's officers by any URL."""

from __future__ import annotations

import contextlib
import io

import httpx
import pytest
import sqlalchemy as sa

from district.attribution import officers as officer_table
from district.audit import audit_log
from district.dashboard.accounts import add_user
from district.officers import add_officer

PASSWORD = "correct horse battery staple"
MANAGE = "/dashboard/manage/officers"


def image(kind: str, colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (60, 75), colour).save(out, kind)
    return out.getvalue()


PNG = image("PNG", (200, 16, 46))
JPEG = image("JPEG", (20, 90, 160))


@pytest.fixture(scope="module")
def accounts(system):
    add_user(system.engine, "admin-chief", PASSWORD, "district")
    add_user(system.engine, "admin-ward-b", PASSWORD, "unit", "p-b")
    add_officer(system.engine, "QL-A1", "Trần Văn An", "p-a")
    add_officer(system.engine, "QL-B1", "Lê Thị Bình", "p-b")


@contextlib.contextmanager
def signed_in(system, username: str):
    with httpx.Client(base_url=system.url, follow_redirects=False, timeout=30) as client:
        answer = client.post("/login", data={"username": username, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        yield client


def token_of(client, unit: str = "q1") -> str:
    page = client.get(MANAGE, params={"unit": unit})
    assert page.status_code == 200, page.text
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


def officer(system, code: str):
    with system.engine.connect() as conn:
        return conn.execute(sa.select(officer_table).where(officer_table.c.code == code)).first()


def audited(system, code: str) -> list[str]:
    with system.engine.connect() as conn:
        return list(conn.execute(sa.select(audit_log.c.action).where(audit_log.c.target == code)
                                 .order_by(audit_log.c.pk)).scalars())


def test_a_district_official_manages_officers_and_every_change_is_audited(system, accounts):
    with signed_in(system, "admin-chief") as client:
        token = token_of(client)
        added = client.post(f"{MANAGE}/add", data={
            "csrf_token": token, "unit": "q1", "code": "QL-A2", "full_name": "Phạm  Thu Hà",
            "unit_id": "p-a"}, files={"photo": ("ha.png", PNG, "image/png")})
        assert added.status_code == 303, added.text
        page = client.get(added.headers["location"])
        assert "Đã thêm cán bộ QL-A2." in page.text
        row = officer(system, "QL-A2")
        assert (row.full_name, row.unit_id, row.photo, row.photo_type) == (
            "Phạm Thu Hà", "p-a", PNG, "image/png")
        assert client.get(f"{MANAGE}/QL-A2/photo").content == PNG

        def post(path, **data):
            answer = client.post(f"{MANAGE}/QL-A2/{path}", data={"csrf_token": token,
                                                                  "unit": "q1", **data})
            assert answer.status_code == 303, answer.text
        post("change", full_name="Phạm Thu Hà", unit_id="p-b")
        assert officer(system, "QL-A2").unit_id == "p-b"
        answer = client.post(f"{MANAGE}/QL-A2/photo", data={"csrf_token": token, "unit": "q1"},
                             files={"photo": ("ha.jpg", JPEG, "image/jpeg")})
        assert answer.status_code == 303
        assert officer(system, "QL-A2").photo_type == "image/jpeg"
        post("disable")
        assert officer(system, "QL-A2").disabled_at is not None
        post("enable")
        row = officer(system, "QL-A2")
        assert row.disabled_at is None and row.badge_issue == 2  # the old badge stays refused
        post("reissue")
        assert officer(system, "QL-A2").badge_issue == 3
        sheet = client.get(f"{MANAGE}/badges.pdf", params={"unit": "p-b"})
        assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF")
        assert sheet.headers["content-type"] == "application/pdf"
    assert audited(system, "QL-A2") == [
        "officer_added", "officer_changed", "officer_photo_set", "officer_disabled",
        "officer_enabled", "officer_badge_reissued"]
    assert audited(system, "p-b")[-1] == "badges_printed"


@pytest.mark.parametrize(("form", "photo", "message"), [
    ({"code": "QL A9", "full_name": "Tên", "unit_id": "p-a"}, None, "mã cán bộ"),
    ({"code": "QL-A9", "full_name": "   ", "unit_id": "p-a"}, None, "họ tên"),
    ({"code": "QL-A9", "full_name": "Tên", "unit_id": "p-zz"}, None, "đơn vị"),
    ({"code": "QL-A1", "full_name": "Tên", "unit_id": "p-a"}, None, "đã có"),
    ({"code": "QL-A9", "full_name": "Tên", "unit_id": "p-a"},
     ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (600 * 1024), "image/png"), "512 KiB"),
    ({"code": "QL-A9", "full_name": "Tên", "unit_id": "p-a"},
     ("fake.png", b"GIF89a" + b"\x00" * 50, "image/png"), "JPEG"),
    ({"code": "QL-A9", "full_name": "Tên", "unit_id": "p-a"},
     ("empty.png", b"", "image/png"), "rỗng"),
    ({"code": "QL-A9", "full_name": "Tên", "unit_id": "p-a"},
     ("cut.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "image/png"), "hỏng"),
])
def test_bad_input_says_what_is_wrong_in_vietnamese_and_changes_nothing(
        system, accounts, form, photo, message):
    with signed_in(system, "admin-chief") as client:
        before = officer(system, "QL-A1")
        answer = client.post(f"{MANAGE}/add", data={"csrf_token": token_of(client), "unit": "q1",
                                                    **form},
                             files={"photo": photo} if photo else None)
        assert answer.status_code == 422, answer.text
        assert "Không thay đổi gì:" in answer.text and message in answer.text, answer.text
        assert "Traceback" not in answer.text
        assert officer(system, "QL-A9") is None and officer(system, "QL-A1") == before


def test_bad_changes_of_an_officer_change_nothing(system, accounts):
    with signed_in(system, "admin-chief") as client:
        token = token_of(client)
        before = officer(system, "QL-B1")
        for path, data, files in [
                ("change", {"full_name": "", "unit_id": "p-b"}, None),
                ("change", {"full_name": "Tên mới", "unit_id": "nowhere"}, None),
                ("photo", {}, {"photo": ("x.txt", b"hello", "text/plain")}),
                ("photo", {}, None)]:
            answer = client.post(f"{MANAGE}/QL-B1/{path}", data={"csrf_token": token,
                                                                  "unit": "q1", **data},
                                 files=files)
            assert answer.status_code == 422 and "Không thay đổi gì:" in answer.text, path
        assert officer(system, "QL-B1") == before
        # no token, a forged one, another site's form: refused, nothing changed
        for headers, data in [({}, {}), ({}, {"csrf_token": "forged"}),
                              ({"Origin": "http://evil.example"}, {"csrf_token": token})]:
            answer = client.post(f"{MANAGE}/QL-B1/disable", data=data, headers=headers)
            assert answer.status_code == 403
        assert officer(system, "QL-B1") == before
        assert client.post(f"{MANAGE}/QL-B1/explode", data={"csrf_token": token}
                           ).status_code == 404


def test_a_unit_official_sees_their_officers_read_only_and_no_one_elses(system, accounts):
    before = {c: officer(system, c) for c in ("QL-A1", "QL-B1")}
    with signed_in(system, "admin-ward-b") as client:
        mine = client.get(MANAGE)
        assert mine.status_code == 200
        assert 'data-officer="QL-B1"' in mine.text and "QL-A1" not in mine.text
        i = mine.text.find("Trần Văn An")
        assert i < 0, mine.text[i - 300:i + 100]
        assert 'method="post" action="/dashboard/manage' not in mine.text
        token = mine.text.split('name="csrf_token" value="')[1].split('"')[0] \
            if 'name="csrf_token"' in mine.text else token_of_page(client)
        for method, url, data in [
                ("GET", f"{MANAGE}?unit=p-a", None), ("GET", f"{MANAGE}?unit=q1", None),
                ("GET", f"{MANAGE}/QL-A1/photo", None),
                ("GET", f"{MANAGE}/badges.pdf?unit=p-a", None),
                ("POST", f"{MANAGE}/QL-A1/change", {"full_name": "X", "unit_id": "p-b"}),
                ("POST", f"{MANAGE}/QL-A1/disable", {}), ("POST", f"{MANAGE}/QL-A1/reissue", {}),
                ("POST", f"{MANAGE}/QL-A1/photo", {}),
                ("POST", f"{MANAGE}/NO-SUCH/disable", {})]:
            answer = client.request(method, url, data=None if data is None else
                                    {"csrf_token": token, **data})
            assert answer.status_code == 404, (method, url, answer.status_code)
            assert "Trần Văn An" not in answer.text
        for url, data in [(f"{MANAGE}/QL-B1/disable", {}),
                          (f"{MANAGE}/add", {"code": "QL-B9", "full_name": "X", "unit_id": "p-b"}),
                          (f"{MANAGE}/QL-B1/change", {"full_name": "X", "unit_id": "p-b"})]:
            answer = client.post(url, data={"csrf_token": token, **data})
            assert answer.status_code == 403 and "Chỉ cán bộ cấp quận" in answer.text, url
        assert client.get(f"{MANAGE}/badges.pdf?unit=p-b").status_code == 403
    assert {c: officer(system, c) for c in before} == before and officer(system, "QL-B9") is None


def token_of_page(client) -> str:
    """A unit official's page has no form: the session's token is on the sign-out form."""
    page = client.get("/dashboard/officers")
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


def test_the_management_page_in_chromium(system, accounts, tmp_path):
    """The page as a district official sees it, in Debian's Chromium (screenshot in
    docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""
    import os
    import shutil

    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists("/usr/bin/chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing")
        pytest.skip("no Chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(system.url + "/login")
        page.fill("input[name=username]", "admin-chief")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(system.url + MANAGE + "?unit=q1")
        page.fill("#add-officer input[name=code]", "QL-A7")
        page.fill("#add-officer input[name=full_name]", "Đỗ Minh Châu")
        page.select_option("#add-officer select[name=unit_id]", "p-a")
        page.click("#add-officer button[type=submit]")
        page.wait_for_selector("#done")
        assert "QL-A7" in page.inner_text("#done")
        assert page.locator('tr[data-officer="QL-A7"]').count() == 1
        shot = tmp_path / "officer-admin.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    if os.environ.get("UPDATE_SCREENSHOTS"):
        target = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots",
                              "dashboard-officer-admin.png")
        shutil.copy(shot, target)
