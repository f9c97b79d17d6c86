"""Sign-in against guessers, CSRF, Secure cookies and the ingest rate limit (issue 14, item
1), against a real ``district serve`` on loopback. Other addresses are other loopback
addresses (127.0.0.2…): the server sees each as another client."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from district.audit import audit_log
from district.fleet import register_terminal
from tests.helpers import iso, utcnow
from tests.trust.conftest import PASSWORD


def browser(server, address: str = "127.0.0.1", **kw) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address), **kw)


def sign_in(client: httpx.Client, password: str, username: str = "chief", **headers):
    return client.post("/login", data={"username": username, "password": password},
                       headers=headers)


def heartbeat(server, terminal: str, token: str) -> httpx.Response:
    beat = {"terminal_id": terminal, "sent_at": iso(utcnow()), "boot_id": "boot-a",
            "monotonic_ns": 1, "software_version": "0.1.0", "backlog": 0, "rejected": 0,
            "clock_synced": True, "disk_free_bytes": 10**9, "uptime_s": 5.0,
            "stuck_buttons": [], "last_error": None}
    return httpx.post(f"{server.url}/api/v1/heartbeat", json=beat, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})


def audited(engine, action: str) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(audit_log).where(audit_log.c.action == action)).all()


def test_a_guesser_is_locked_out_even_with_the_right_password_then_not_elsewhere(
        server_on, database):
    server = server_on()
    with browser(server) as guesser:
        for _ in range(5):
            assert sign_in(guesser, "wrong password").status_code == 401
        refused = sign_in(guesser, PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "hl_session" not in refused.cookies
        assert "Thử lại sau" in refused.text  # said in Vietnamese, with the wait
    with browser(server, "127.0.0.2") as official:  # the official, at their own desk
        assert sign_in(official, PASSWORD).status_code == 303
    assert len(audited(database.engine, "signin_failed")) == 5
    assert len(audited(database.engine, "signin_refused")) == 1
    (ok,) = audited(database.engine, "signin")
    assert (ok.actor, ok.address) == ("chief", "127.0.0.2")


def test_a_lockout_ends_by_itself(server_on):
    server = server_on(DISTRICT_SIGNIN_PER_ACCOUNT="2/3seconds")
    with browser(server) as client:
        for _ in range(2):
            assert sign_in(client, "wrong password").status_code == 401
        assert sign_in(client, PASSWORD).status_code == 429
        deadline = time.monotonic() + 60  # (a bound for a broken server, not a timing)
        while (status := sign_in(client, PASSWORD).status_code) == 429:
            assert time.monotonic() < deadline, "still locked out"
            time.sleep(0.5)
        assert status == 303


def test_guessers_from_many_addresses_cannot_keep_an_official_out_of_their_browser(
        server_on):
    server = server_on(DISTRICT_SIGNIN_ACCOUNT_ANYWHERE="3/hour")
    own = browser(server)
    assert sign_in(own, PASSWORD).status_code == 303  # the official's browser, known now
    own.post("/logout", data={"csrf_token": "x"})  # (cookie kept whatever the answer)
    for n in range(2, 6):
        with browser(server, f"127.0.0.{n}") as guesser:
            assert sign_in(guesser, "wrong password").status_code in (401, 429)
    with browser(server, "127.0.0.9") as stranger:  # a new browser: the account waits
        assert sign_in(stranger, PASSWORD).status_code == 429
    assert sign_in(own, PASSWORD).status_code == 303  # but not in the official's own
    own.close()


def test_one_address_guessing_many_accounts_is_stopped(server_on):
    server = server_on(DISTRICT_SIGNIN_PER_ADDRESS="4/hour")
    with browser(server, "127.0.0.3") as guesser:
        for name in ("an", "binh", "cuong", "dung"):
            assert sign_in(guesser, "wrong password", name).status_code == 401
        assert sign_in(guesser, PASSWORD).status_code == 429
    with browser(server) as official:
        assert sign_in(official, PASSWORD).status_code == 303


@pytest.mark.parametrize("header", [
    {"Origin": "http://evil.example"}, {"Origin": "null"},
    {"Referer": "http://evil.example/page.html"}])
def test_a_sign_in_posted_from_another_site_is_refused(server_on, header):
    server = server_on()
    with browser(server) as client:
        refused = sign_in(client, PASSWORD, **header)
        assert refused.status_code == 403 and "hl_session" not in refused.cookies
        own = sign_in(client, PASSWORD, Origin=server.url)
        assert own.status_code == 303 and "hl_session" in own.cookies


def test_a_sign_out_posted_from_another_site_is_refused(server_on):
    server = server_on()
    with browser(server) as client:
        assert sign_in(client, PASSWORD).status_code == 303
        page = client.get("/dashboard")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        foreign = client.post("/logout", data={"csrf_token": token},
                              headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        assert client.get("/dashboard").status_code == 200  # still signed in
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def test_cookies_are_secure_when_told_a_proxy_ends_tls(server_on):
    plain, behind_proxy = server_on(), server_on(DISTRICT_SECURE_COOKIES="1")
    with browser(plain) as client:
        cookies = sign_in(client, PASSWORD).headers.get_list("set-cookie")
        assert cookies and not any("secure" in c.lower() for c in cookies)
    with browser(behind_proxy) as client:
        cookies = sign_in(client, PASSWORD).headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("; secure" in c.lower() for c in cookies)


def test_cookies_are_secure_on_https(https):
    with httpx.Client(base_url=https.url, verify=str(https.ca), timeout=30) as client:
        signed = client.post("/login", data={"username": "chief", "password": https.password})
        assert signed.status_code == 303
        assert all("; secure" in c.lower() for c in signed.headers.get_list("set-cookie"))


def test_one_terminal_past_its_rate_is_told_to_wait_and_others_are_not(server_on,
                                                                       database):
    other = register_terminal(database.engine, "t-2", "unit-1", "Quầy 2")
    server = server_on(DISTRICT_INGEST_PER_TERMINAL="5/minute")
    for _ in range(5):
        assert heartbeat(server, "t-1", database.token).status_code == 200
    refused = heartbeat(server, "t-1", database.token)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert heartbeat(server, "t-2", other).status_code == 200


def test_eight_guessers_do_not_stop_a_terminal(server_on, database):
    """The issue's 8 parallel guessers: each guesses until it is locked out, and all the
    while every heartbeat of a terminal is stored (how much slower it gets is
    bench/hostile_clients.py's business)."""
    server = server_on()
    answers: list[int] = []

    def guess(n: int):
        with browser(server, f"127.0.1.{n}") as guesser:
            while (status := sign_in(guesser, f"guess {len(answers)}").status_code) != 429:
                answers.append(status)

    guessers = [threading.Thread(target=guess, args=(n,)) for n in range(1, 9)]
    for g in guessers:
        g.start()
    beats = []
    while any(g.is_alive() for g in guessers) or len(beats) < 15:
        beats.append(heartbeat(server, "t-1", database.token).status_code)
        # at most 10 a second, as no terminal sends more: the ingest limit (20 a second
        # per terminal) must not be what this test meets on a fast machine
        time.sleep(0.1)
    assert set(beats) == {200}
    assert answers == [401] * 40  # five tries each, then locked out
