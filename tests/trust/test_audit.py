"""The audit log (issue 14, item 6): sign-ins and failures, exports, account, token and
terminal changes and ``district setup`` are recorded with who, when, from where and what;
district officials read them on the dashboard, unit officials do not; the database refuses
to change or delete an entry (SQLite and PostgreSQL), and no route of the server writes one."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from district import audit, db
from district.dashboard.accounts import add_user
from district.fleet import load_units
from tests.helpers import BIN, clean_env, fresh_database
from tests.trust.conftest import PASSWORD, District

HERE = f"cli@{socket.gethostname()}"  # where a command line's action comes from


def cli(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "district"), "--db", db_url, "--lang", "en", *args],
                          capture_output=True, text=True, timeout=120, input=stdin,
                          env=clean_env(SUDO_USER="tech.an"), check=False)


def actions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            audit.audit_log.c.actor, audit.audit_log.c.address, audit.audit_log.c.action,
            audit.audit_log.c.target).order_by(audit.audit_log.c.pk))]


def test_who_did_what_from_where_is_recorded_and_shown(server_on, database):
    engine = database.engine
    load_units(engine, {"units": [{"id": "unit-1", "name": "Phường Bạch Mai"}]})
    assert cli(database.url, "users", "add", "ward1", "--role", "unit", "--unit", "unit-1",
               "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert cli(database.url, "users", "passwd", "ward1", "--password-stdin",
               stdin=PASSWORD + "x\n").returncode == 0
    assert cli(database.url, "officials", "token", "--label", "nightly").returncode == 0
    server = server_on()
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=server.url, timeout=30, transport=other) as guesser:
        assert guesser.post("/login", data={"username": "chief", "password": "no"}
                            ).status_code == 401
    with httpx.Client(base_url=server.url, timeout=30) as chief:
        assert chief.post("/login", data={"username": "chief", "password": PASSWORD}
                          ).status_code == 303
        assert chief.get("/dashboard/export/votes.csv?period=month").status_code == 200
        assert chief.get("/dashboard/export/nothing.csv").status_code == 404  # not recorded
        page = chief.get("/dashboard/audit")
        assert page.status_code == 200
        assert cli(database.url, "users", "disable", "ward1").returncode == 0
        shown = chief.get("/dashboard/audit?lang=en").text
    fixture = actions(engine)[:2]  # made in this process: the fixture's user and terminal
    assert [row[1:] for row in fixture] == [(HERE, "user_added", "chief"),
                                            (HERE, "terminal_added", "t-1")]
    assert actions(engine)[2:] == [
        ("cli:tech.an", HERE, "user_added", "ward1"),
        ("cli:tech.an", HERE, "password_changed", "ward1"),
        ("cli:tech.an", HERE, "token_created", "nightly"),
        ("chief", "127.0.0.2", "signin_failed", "chief"),
        ("chief", "127.0.0.1", "signin", "chief"),
        ("chief", "127.0.0.1", "export", "votes.csv"),
        ("cli:tech.an", HERE, "user_disabled", "ward1"),
    ]
    for words in ("sign-in failed", "127.0.0.2", "downloaded", "votes.csv", "period=month",
                  "account created", "cli:tech.an", "account disabled"):
        assert words in shown, words
    assert "đăng nhập sai" in page.text  # Vietnamese by default
    failed_only = chief_page(server, "/dashboard/audit?action=signin_failed&lang=en")
    assert "127.0.0.2" in failed_only and "votes.csv" not in failed_only


def details(engine, action: str) -> list[dict]:
    return [entry.detail for entry in reversed(audit.entries(engine, action=action))]


def test_terminals_added_rotated_and_revoked_are_recorded(server_on, database):
    engine = database.engine
    assert cli(database.url, "terminals", "add", "t-2", "--unit", "unit-1", "--name",
               "Quầy 2").returncode == 0
    assert cli(database.url, "terminals", "rotate", "t-2").returncode == 0
    assert cli(database.url, "terminals", "revoke", "t-2").returncode == 0
    before = actions(engine)
    for refused in (("terminals", "add", "t-2", "--unit", "unit-1"),   # registered already
                    ("terminals", "rotate", "t-9"), ("terminals", "revoke", "t-9")):
        answer = cli(database.url, *refused)
        assert answer.returncode != 0 and "Traceback" not in answer.stderr, answer.stderr
    assert actions(engine) == before  # a refused change is not in the log either
    assert before[2:] == [("cli:tech.an", HERE, "terminal_added", "t-2"),
                          ("cli:tech.an", HERE, "terminal_token_rotated", "t-2"),
                          ("cli:tech.an", HERE, "terminal_revoked", "t-2")]
    assert details(engine, "terminal_added")[-1] == {"unit": "unit-1", "name": "Quầy 2"}
    shown = chief_page(server_on(), "/dashboard/audit?lang=en")
    for words in ("terminal registered", "terminal given a new token",
                  "terminal&#39;s token revoked", "t-2"):
        assert words in shown, words
    vi = chief_page(server_on(), "/dashboard/audit")
    assert "đã thu hồi mã truy cập của máy đánh giá" in vi


def test_district_setup_is_recorded_without_the_password(district_root: District):
    env = {"SUDO_USER": "chanh.vp"}
    first = district_root.run("setup", "--host", "district.test", "--official", "chief", **env)
    assert first.returncode == 0, first.stderr
    again = district_root.run("setup", "--host", "district.test", **env)
    assert "nothing to change" in again.stdout
    renewed = district_root.run("setup", "--host", "district.test", "--renew", **env)
    assert renewed.returncode == 0, renewed.stderr
    engine = db.create_db_engine(district_root.env["DISTRICT_DB"])
    try:
        rows = actions(engine)
        setups = details(engine, "server_set_up")
    finally:
        engine.dispose()
    config = str(district_root.config)
    assert [row for row in rows if row[2] == "server_set_up"] == [
        ("cli:chanh.vp", HERE, "server_set_up", config)] * 2  # the unchanged run is not
    assert ("cli:chanh.vp", HERE, "user_added", "chief") in rows
    assert setups[0]["changed"] == ["certificate_authority", "server_certificate",
                                    "signing_keys", "configuration", "database", "official"]
    assert setups[1]["changed"] == ["server_certificate"]
    assert "district.test" in setups[0]["names"]
    password = re.search(r"only this once\): (\S+)", first.stdout).group(1)
    assert password not in json.dumps(setups)


def small_kiosk_deb(folder: Path, version: str) -> Path:
    """A hailong-kiosk package of nothing but its control file (dpkg-deb builds it)."""
    tree = folder / f"tree-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: hailong-kiosk\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: Hài Lòng <kiosk@example.invalid>\nDescription: audit test\n")
    deb = folder / f"hailong-kiosk_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True,
                   capture_output=True)
    return deb


def test_releases_published_rolled_out_paused_and_stopped_are_recorded(
        district_root: District, tmp_path):
    env = {"SUDO_USER": "ky.thuat"}
    assert district_root.setup("--host", "district.test").returncode == 0
    version = "0.1.0-7+bookworm"
    deb = small_kiosk_deb(tmp_path, version)
    steps = [("releases", "add", str(deb)), ("terminals", "add", "t-5", "--unit", "unit-1"),
             ("releases", "rollout", version, "--terminal", "t-5"),
             ("releases", "pause"), ("releases", "pause"),  # nothing left to pause: no entry
             ("releases", "resume", version), ("releases", "stop")]
    for step in steps:
        done = district_root.run(*step, **env)
        assert done.returncode == 0, (step, done.stderr)
    refused = district_root.run("releases", "rollout", "9.9-1+bookworm", "--all", **env)
    assert refused.returncode == 1 and "not published" in refused.stderr
    engine = db.create_db_engine(district_root.env["DISTRICT_DB"])
    try:
        rows = [row for row in actions(engine) if row[0] == "cli:ky.thuat"]
        started = details(engine, "rollout_started")
        published = details(engine, "release_published")
    finally:
        engine.dispose()
    assert [row[2:] for row in rows] == [
        ("release_published", version), ("terminal_added", "t-5"),
        ("rollout_started", version), ("rollout_paused", ""), ("rollout_resumed", version),
        ("rollout_stopped", "")]
    assert {row[1] for row in rows} == {HERE}
    assert started == [{"rollout": 1, "target": "terminal", "value": "t-5",
                        "allow_older": False}]
    assert published[0]["package"] == "hailong-kiosk" and len(published[0]["sha256"]) == 64


def chief_page(server, path: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as chief:
        chief.post("/login", data={"username": "chief", "password": PASSWORD})
        return chief.get(path).text


def test_a_unit_official_cannot_read_the_audit_log(server_on, database):
    load_units(database.engine, {"units": [{"id": "unit-1", "name": "Phường Bạch Mai"}]})
    add_user(database.engine, "ward1", PASSWORD, "unit", "unit-1")
    server = server_on()
    with httpx.Client(base_url=server.url, timeout=30) as ward:
        assert ward.post("/login", data={"username": "ward1", "password": PASSWORD}
                         ).status_code == 303
        assert ward.get("/dashboard/audit").status_code == 404
        assert "/dashboard/audit" not in ward.get("/dashboard").text
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        assert stranger.get("/dashboard/audit", follow_redirects=False).status_code == 303


def test_no_route_writes_the_audit_log(server_on, database):
    server = server_on()
    with httpx.Client(base_url=server.url, timeout=30) as chief:
        chief.post("/login", data={"username": "chief", "password": PASSWORD})
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert chief.request(method, "/dashboard/audit").status_code == 405
        assert chief.post("/api/v1/audit", json={}).status_code == 404
        doc = chief.get("/openapi.json").json()
    assert not [p for p in doc["paths"] if "audit" in p]
    before = actions(database.engine)
    assert 'method="post"' not in chief_page(server, "/dashboard/audit").split("<main>")[1] \
        .split("</main>")[0]
    assert actions(database.engine)[:len(before)] == before


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_database_refuses_to_change_or_delete_an_entry(kind, tmp_path):
    with fresh_database(kind, tmp_path) as url:
        engine = db.create_db_engine(url)
        try:
            db.migrate(engine)
            audit.record_now(engine, audit.Actor("chief", "10.0.0.5"), "signin", "chief")
            for statement in ("UPDATE audit_log SET actor = 'nobody'",
                              "DELETE FROM audit_log",
                              *(["TRUNCATE audit_log"] if kind == "postgres" else [])):
                with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                    with engine.begin() as conn:
                        conn.execute(sa.text(statement))
            assert actions(engine) == [("chief", "10.0.0.5", "signin", "chief")]
        finally:
            engine.dispose()
