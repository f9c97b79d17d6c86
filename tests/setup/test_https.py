"""The district on HTTPS, end to end: ``district serve`` from the configuration file alone,
verified with the district's CA by requests and by the real sync agent of a terminal that was
provisioned from another working folder; the CA travels inside kiosk.toml; renewal keeps
terminals verifying; the fleet page says a month ahead when the certificate ends."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import requests

from district import pki
from tests.helpers import BIN, REPO, clean_env

FLEET = REPO / "config" / "fleet.toml"
TERMINAL = "hbt-thanh-nhan"


def provision(district, out):
    done = district.run("fleet", "provision", str(FLEET), "--server-url", district.url,
                        "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out / TERMINAL / "kiosk.toml"


def kiosk(config, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(KIOSK_CONFIG=str(config), KIOSK_LANG="en",
                    KIOSK_STORAGE__PATH=str(tmp_path / "kiosk" / "votes.db"),
                    KIOSK_GPIO__PIN_FACTORY="mock", KIOSK_SYNC__MAX_BACKOFF_S="0.5")
    return subprocess.run([str(BIN / "kiosk"), *args], capture_output=True, text=True,
                          timeout=180, check=False, env=env, cwd=tmp_path)


def refused(url: str) -> str:
    """The error's name only: a kept exception would keep its socket open, and the server
    waits for open connections when it stops."""
    try:
        requests.get(url, timeout=10)
    except requests.exceptions.RequestException as exc:
        return type(exc).__name__
    return "answered"


def test_serve_speaks_https_verified_by_the_district_ca_only(serving):
    answer = requests.get(serving.url + "/healthz", verify=str(serving.ca), timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert refused(serving.url + "/healthz") == "SSLError"  # the system's CAs do not know it
    assert refused(f"http://localhost:{serving.port}/healthz") == "ConnectionError"  # no HTTP
    assert "https://127.0.0.1:" in (serving.root / "serve.log").read_text()


def test_a_provisioned_terminal_sends_over_https_with_no_technician_step(serving, tmp_path):
    config = provision(serving, tmp_path / "out")
    server = tomllib.loads(config.read_text(encoding="utf-8"))["server"]
    assert server["url"] == serving.url
    assert server["ca_cert"].strip() == serving.ca.read_text().strip()  # the CA, inside
    assert not list(serving.elsewhere.glob("*.db")), "a database in the working folder"

    voted = kiosk(config, tmp_path, "vote", "3")
    assert voted.returncode == 0, voted.stderr
    synced = kiosk(config, tmp_path, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert "1 votes sent (1 new" in synced.stdout

    # read back from yet another folder: the configuration file names the database
    stats = serving.run("stats", "--json", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["by_terminal"][TERMINAL] == 1

    doctor = kiosk(config, tmp_path, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["server"]["status"] == "ok" and "HTTPS verified" in checks["server"]["message"]
    assert checks["certificate"]["status"] == "ok", checks["certificate"]
    assert re.search(r"valid for 82[45] more days", checks["certificate"]["message"])
    assert checks["token"]["status"] == "ok"


def test_after_renewal_terminals_keep_verifying_with_the_same_kiosk_toml(serving, tmp_path):
    config = provision(serving, tmp_path / "out")
    old_serial = pki.load_cert(serving.etc / "server.pem").serial_number
    renewed = serving.setup("--renew")
    assert renewed.returncode == 0 and "renewed" in renewed.stdout, renewed.stderr
    serving.stop()
    serving.serve()

    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(serving.ca))
    with socket.create_connection(("localhost", serving.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        from cryptography import x509

        served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    assert served.serial_number != old_serial  # the new certificate is the one served

    assert kiosk(config, tmp_path, "vote", "2").returncode == 0
    synced = kiosk(config, tmp_path, "sync", "--once")
    assert synced.returncode == 0, synced.stderr


def test_the_fleet_page_warns_a_month_before_the_certificate_ends(installed, tmp_path):
    etc = installed.etc
    names = tomllib.loads(installed.config.read_text(encoding="utf-8"))["tls"]["names"]
    key, short = pki.make_server_cert(pki.load_key(etc / "ca.key"), pki.load_cert(etc / "ca.pem"),
                                      names, days=12)
    pki.write_file(etc / "server.key", pki.key_pem(key), 0o600)
    pki.write_file(etc / "server.pem", pki.cert_pem(short), 0o644)
    assert installed.run("units", "load", str(FLEET)).returncode == 0  # a fleet to show
    installed.serve()
    try:
        with requests.Session() as browser:
            browser.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify (requests#3829)
            browser.verify = str(installed.ca)
            signed = browser.post(installed.url + "/login", allow_redirects=False, data={
                "username": "chief", "password": installed.password})
            assert signed.status_code == 303, signed.text
            cookie = next(c for c in browser.cookies)
            assert cookie.secure  # HTTPS: the session cookie is Secure
            page = browser.get(installed.url + "/dashboard/fleet")
        assert page.status_code == 200
        notice = re.search(r'id="certificate-notice" data-days-left="(\d+)"', page.text)
        assert notice and int(notice.group(1)) in (11, 12), page.text[:2000]
        assert "district setup --renew" in page.text
    finally:
        installed.stop()


def test_the_fleet_page_is_quiet_while_the_certificate_has_long_to_run(serving):
    assert serving.run("units", "load", str(FLEET)).returncode == 0
    with requests.Session() as browser:
        browser.trust_env = False
        browser.verify = str(serving.ca)
        browser.post(serving.url + "/login", data={"username": "chief",
                                                   "password": serving.password})
        page = browser.get(serving.url + "/dashboard/fleet")
    assert page.status_code == 200 and 'id="fleet-summary"' in page.text
    assert "certificate-notice" not in page.text
