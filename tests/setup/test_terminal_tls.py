"""The terminal's side: plain http:// to another machine is refused (agent, config check,
doctor) unless allowed; the doctor counts the days left on the server's certificate."""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import subprocess
import threading

import pytest

from kiosk import config as kiosk_config
from kiosk import doctor
from tests.helpers import BIN, clean_env

REFUSAL = "is plain http:// to another machine"


def own_lan_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent (UDP connect)
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture
def lan_listener():
    """A real TCP listener on this machine's LAN address, counting who connects."""
    address = own_lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = socket.create_server((address, 0))
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            seen.append(peer[0])
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://{address}:{server.getsockname()[1]}", seen
    stop.set()
    thread.join(5)
    server.close()


def write_kiosk_toml(path, url: str, **server) -> None:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in server.items())
    path.write_text(f'[terminal]\nid = "t-plain"\nunit = "u"\n[gpio]\npin_factory = "mock"\n'
                    f'[storage]\npath = "{path.parent / "votes.db"}"\n'
                    f'[server]\nurl = "{url}"\ntoken = "{"x" * 43}"\n{extra}'
                    f"[sync]\nmax_backoff_s = 0.5\n", encoding="utf-8")


def kiosk(config, *args: str, lang: str = "en") -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kiosk"), *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=config.parent,
                          env=clean_env(KIOSK_CONFIG=str(config), KIOSK_LANG=lang))


def test_plain_http_to_another_machine_is_refused_without_a_connection(tmp_path, lan_listener):
    url, seen = lan_listener
    config = tmp_path / "kiosk.toml"
    write_kiosk_toml(config, url)
    assert kiosk(config, "vote", "2").returncode == 0  # votes are still taken
    synced = kiosk(config, "sync", "--once")
    assert synced.returncode == 1 and REFUSAL in synced.stderr, synced.stderr
    assert "allow_plain_http = true" in synced.stderr

    checked = kiosk(config, "config", "check", str(config))
    assert checked.returncode == 2 and REFUSAL in checked.stderr
    vietnamese = kiosk(config, "config", "check", str(config), lang="vi")
    assert "http:// không mã hoá tới một máy khác" in vietnamese.stderr

    report = json.loads(kiosk(config, "doctor", "--json").stdout)
    server = next(c for c in report["checks"] if c["check"] == "server")
    assert server["status"] == "fail" and server["code"] == "plain_http"
    assert seen == []  # neither the agent nor the doctor sent anything in clear text


def test_allow_plain_http_lets_a_closed_network_use_it(tmp_path, lan_listener):
    url, seen = lan_listener
    config = tmp_path / "kiosk.toml"
    write_kiosk_toml(config, url, allow_plain_http=True)
    assert kiosk(config, "config", "check", str(config)).returncode == 0
    assert kiosk(config, "vote", "2").returncode == 0
    synced = kiosk(config, "sync", "--once")
    assert REFUSAL not in synced.stderr
    assert seen, "the agent should have connected"  # (the listener is no district server)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_loopback_stays_allowed_for_development(url):
    assert kiosk_config.ServerSection(url=url).plain_http_refused() is None


def test_a_ca_cert_that_is_not_pem_is_a_config_error(tmp_path):
    config = tmp_path / "kiosk.toml"
    write_kiosk_toml(config, "https://district.test", ca_cert="not a certificate")
    checked = kiosk(config, "config", "check", str(config))
    assert checked.returncode == 2 and "server.ca_cert" in checked.stderr
    assert "must be a PEM certificate" in checked.stderr


def doctor_at(config_path, now: dt.datetime) -> dict:
    """The doctor in this process with its clock set to ``now`` (TLS still verifies with
    the real clock: only the days-left arithmetic sees ``now``)."""
    cfg = kiosk_config.load(config_path, environ={})
    out = io.StringIO()
    doctor.main(cfg, as_json=True, language="en", out=out,
                system=doctor.System(utc_now=lambda: now, clock_synced=lambda: True))
    return {c["check"]: c for c in json.loads(out.getvalue())["checks"]}


def test_the_doctor_warns_within_30_days_and_fails_once_ended(serving, tmp_path):
    from district import pki
    from tests.setup.test_https import provision

    config = provision(serving, tmp_path / "out")
    ends = pki.load_cert(serving.etc / "server.pem").not_valid_after_utc

    ok = doctor_at(config, ends - dt.timedelta(days=31, hours=1))["certificate"]
    assert ok["status"] == "ok" and "valid for 31 more days" in ok["message"]
    warn = doctor_at(config, ends - dt.timedelta(days=10, hours=1))["certificate"]
    assert warn["status"] == "warn" and warn["code"] == "expiring"
    assert "ends in 10 days" in warn["message"] and "district setup --renew" in warn["fix"]
    failed = doctor_at(config, ends + dt.timedelta(days=1))["certificate"]
    assert failed["status"] == "fail" and failed["code"] == "expired"
