"""Schemathesis over /openapi.json against the running server: no 5xx, answers as documented.

The ingest API runs with a terminal's token (and /api/v1/stats with an admin token); the
dashboard's JSON API with a unit official's session cookie and with an admin token, over a
small tree of units with votes and a heartbeat, so the 200 answers are checked against their
documented schemas too.

``positive_data_acceptance`` is left out on purpose: the API refuses some schema-valid data
that JSON Schema cannot express (times outside 1970-2200 or without a time zone, level above
the scale, text with NUL or lone surrogates; a custom period longer than three years or
ending before it starts) with a documented 4xx.

On the dashboard's API ``ignored_auth`` is left out too: a session cookie or an admin token
each signs in, so a wrong one beside the right other one is rightly ignored (schemathesis
takes that for ignored credentials); ``test_the_dashboard_api_refuses_strangers`` checks
that every dashboard path refuses no credentials and wrong ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from district.auth import create_admin_token
from district.dashboard import alerts, tables
from district.dashboard.accounts import COOKIE, add_user
from district.db import api_tokens, write_transaction
from district.fleet import load_units, register_terminal
from tests.helpers import iso, make_vote, utcnow

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
DASHBOARD = "/api/v1/dashboard/"
DASHBOARD_SKIP = "positive_data_acceptance,ignored_auth"
PASSWORD = "mot-mat-khau-dai"
UNITS = {"units": [
    {"id": "q", "name": "Quận Hai Bà Trưng"},
    {"id": "p1", "name": "Phường Bạch Mai", "parent": "q"},
    {"id": "p1a", "name": "Tổ dân phố 1", "parent": "p1"},
    {"id": "p2", "name": "Phường Vĩnh Tuy", "parent": "q"},
]}


def run_schemathesis(url: str, header: str, *selection: str,
                     skip: str = "positive_data_acceptance") -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCHEMATHESIS, "run", f"{url}/openapi.json", "-H", header,
         "--checks", "all", "--exclude-checks", skip,
         "--max-examples", "60", "--request-timeout", "20",
         "--seed", "20250101", *selection],
        capture_output=True, text=True, timeout=240)


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


def _short(result: subprocess.CompletedProcess) -> str:
    lines = [line[:300] for line in result.stdout.splitlines() if not line.lstrip()
             .startswith("curl")]
    return "\n".join(lines[-60:]) + result.stderr[-2000:]


def _passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, _short(result)
    assert "5xx" not in result.stdout.replace("Expected:", "")


def test_fuzz_ingest_api(api):
    _passed(run_schemathesis(api.url, bearer(api.token), "--exclude-path", "/api/v1/stats",
                             "--exclude-path-regex", DASHBOARD))


def test_fuzz_stats_with_admin_token(api):
    admin = create_admin_token(api.engine, "fuzz")
    _passed(run_schemathesis(api.url, bearer(admin), "--include-path", "/api/v1/stats"))


@pytest.fixture
def dashboard_api(api):
    """The server with units, a terminal with votes and a heartbeat, open alerts and a unit
    official."""
    load_units(api.engine, UNITS)
    token = register_terminal(api.engine, "t-p1a", "p1a", "Quầy 1")
    votes = [make_vote(seq=i + 1, level=1 + i % 3, reasons=["waiting_time"] if i % 3 == 0
                       else []) for i in range(12)]
    assert api.post_votes(votes, token=token, terminal_id="t-p1a").status_code == 200
    beat = {"terminal_id": "t-p1a", "sent_at": iso(utcnow()), "boot_id": "boot-a",
            "monotonic_ns": 1, "software_version": "0.1.0", "backlog": 3, "rejected": 1,
            "clock_synced": True, "disk_free_bytes": 10**9, "uptime_s": 5.0,
            "stuck_buttons": [2], "last_error": None}
    assert httpx.post(f"{api.url}/api/v1/heartbeat", json=beat, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    add_user(api.engine, "ward1", PASSWORD, "unit", "p1")
    alerts.refresh(api.engine, utcnow())  # the stuck button (and the negative votes): open
    yield api
    with write_transaction(api.engine) as conn:  # what the suite's wipe() leaves out
        for table in (tables.sessions, tables.users, tables.alert_states):
            conn.execute(table.delete())


def test_fuzz_dashboard_api_with_an_officials_session(dashboard_api):
    signed_in = httpx.post(f"{dashboard_api.url}/login", timeout=30,
                           data={"username": "ward1", "password": PASSWORD})
    assert signed_in.status_code == 303
    cookie = signed_in.cookies[COOKIE]
    _passed(run_schemathesis(dashboard_api.url, f"Cookie: {COOKIE}={cookie}",
                             "--include-path-regex", DASHBOARD, skip=DASHBOARD_SKIP))


def test_fuzz_dashboard_api_with_admin_token(dashboard_api):
    admin = create_admin_token(dashboard_api.engine, "fuzz")
    _passed(run_schemathesis(dashboard_api.url, bearer(admin), "--include-path-regex",
                             DASHBOARD, skip=DASHBOARD_SKIP))


def test_the_dashboard_api_refuses_strangers(dashboard_api):
    """No credentials, a forged cookie, a terminal's token or a revoked admin token: 401 on
    every dashboard path of the document, as JSON."""
    doc = httpx.get(f"{dashboard_api.url}/openapi.json", timeout=30).json()
    paths = [p.replace("{unit_id}", "p1").replace("{code}", "cb-001")
             for p in doc["paths"] if p.startswith(DASHBOARD)]
    assert {p.removeprefix("/api/v1/dashboard/") for p in paths} == {
        "overview", "units/p1", "fleet", "alerts", "officers", "officers/cb-001",
        "procedures", "coverage", "indices"}
    admin = create_admin_token(dashboard_api.engine, "revoked")
    with write_transaction(dashboard_api.engine) as conn:
        conn.execute(api_tokens.update().values(revoked_at=utcnow()))
    strangers = [{}, {"Cookie": f"{COOKIE}=forged"}, {"Authorization": "Bearer nothing"},
                 {"Authorization": f"Bearer {dashboard_api.token}"},
                 {"Authorization": f"Bearer {admin}"}]
    for path in paths:
        for headers in strangers:
            r = httpx.get(f"{dashboard_api.url}{path}", headers=headers, timeout=30)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.json()["error"] == "unauthorized"
