"""An official who meets an error gets a page in their language, never raw JSON or
"Internal Server Error"; the API keeps its JSON errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from district.app import create_app
from district.dashboard.accounts import add_user
from district.db import write_transaction
from tests.helpers import fresh_engine

PASSWORD = "mot-mat-khau-dai"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def signed_in(request, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTRICT_ALERT_INTERVAL_S", "0")
    with fresh_engine(request.param, tmp_path, [{"id": "q", "name": "Quận"}]) as engine:
        add_user(engine, "chief", PASSWORD, "district")
        client = TestClient(create_app(engine=engine), follow_redirects=False,
                            raise_server_exceptions=False)
        assert client.post("/login", data={"username": "chief",
                                           "password": PASSWORD}).status_code == 303
        yield client, engine
        client.close()


def test_unknown_address_and_wrong_method_are_pages_in_vietnamese(signed_in):
    client, _engine = signed_in
    missing = client.get("/dashboard/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Trang này không tồn tại" in missing.text
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert "Không mở được địa chỉ này theo cách đó" in wrong_method.text
    english = client.get("/dashboard/no-such-page?lang=en")
    assert "This page does not exist" in english.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"] == "http_404"


def test_a_database_fault_is_a_page_in_vietnamese_and_json_on_the_api(signed_in):
    """A real fault: the table the overview reads is gone (renamed under the server)."""
    client, engine = signed_in
    assert client.get("/dashboard").status_code == 200
    with write_transaction(engine) as conn:
        conn.execute(sa.text("ALTER TABLE dash_unit_month RENAME TO dash_unit_month_away"))
    try:
        page = client.get("/dashboard")
        assert page.status_code == 500
        assert "Máy chủ đang gặp sự cố" in page.text and "Traceback" not in page.text
        api = client.get("/api/v1/dashboard/overview")
        assert api.status_code == 500 and api.json()["error"] == "internal_error"
    finally:
        with write_transaction(engine) as conn:
            conn.execute(sa.text("ALTER TABLE dash_unit_month_away RENAME TO dash_unit_month"))
    assert client.get("/dashboard").status_code == 200
