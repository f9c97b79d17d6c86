"""hailong-district in a booted Bookworm root: installed for real with apt (postinst runs
`district setup`: configuration, the district's CA and server certificate, database), the
service on HTTPS verified with that CA, `district fleet provision` run from another folder
writing into the service's database, and the dashboard signed in by Chromium on the host
trusting the district's CA through an NSS database (certutil), not by ignoring certificate
errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.deploy.machines import Machine, cached_root, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
PORT = 8443  # district setup's default listen address, 0.0.0.0:8443 (the host's network)


@pytest.fixture(scope="module")
def server(debs, tmp_path_factory):
    machine = Machine("hl-district", tmp_path_factory.mktemp("district-pkg"),
                      base=cached_root("bookworm"))
    deb = debs("bookworm")["hailong-district"]
    machine.copy_in(deb, f"/root/{deb.name}")
    try:
        machine.boot()
        machine.run("apt-get", "install", "-y", "--no-install-recommends", f"/root/{deb.name}",
                    timeout=600)
        yield machine
    finally:
        machine.close()


def test_setup_and_the_service_on_https(server):
    m = server
    assert m.path("/etc/district/district.toml").is_file()
    assert m.path("/etc/district/ca.pem").is_file()
    m.wait_active("district.service")
    ca = m.path("/etc/district/ca.pem")
    wait_for(lambda: subprocess.run(["curl", "-sf", "--cacert", str(ca),
                                     f"https://127.0.0.1:{PORT}/healthz"],
                                    capture_output=True, timeout=30).returncode == 0,
             120, "the district service answering on HTTPS with its CA")
    plain = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{PORT}/healthz"],
                           capture_output=True, timeout=30)
    assert plain.returncode != 0  # no plain HTTP


def test_provision_from_another_folder(server):
    m = server
    m.sh("mkdir -p /srv/office && cd /srv/office && district fleet provision "
         "/usr/share/doc/hailong-district/fleet.toml "
         f"--server-url https://127.0.0.1:{PORT} --out /srv/office/terminals")
    assert m.path("/srv/office/terminals/hbt-thanh-nhan/kiosk.toml").is_file()
    assert not m.path("/srv/office/district.db").exists()
    stats = json.loads(m.sh("cd / && district stats --json").stdout)
    assert stats["votes_total"] == 0


def test_nightly_backup(server):
    """The package's timer is on; its service, started now, leaves a checked copy of the
    service's database that `district restore` can read back into a new database."""
    m = server
    assert m.run("systemctl", "is-enabled", "district-backup.timer").stdout.strip() == "enabled"
    assert m.unit_property("district-backup.timer", "ActiveState") == "active"
    m.run("systemctl", "start", "district-backup.service", timeout=600)
    assert m.unit_property("district-backup.service", "Result") == "success", \
        m.journal("district-backup.service")
    copies = m.sh("ls /var/lib/district/backups").stdout.split()
    assert len(copies) == 1 and copies[0].endswith(".db"), copies
    m.sh(f"DISTRICT_DB=sqlite:////root/restored.db district restore "
         f"/var/lib/district/backups/{copies[0]}")
    restored = json.loads(m.sh("DISTRICT_DB=sqlite:////root/restored.db district stats --json"
                               ).stdout)
    assert restored["votes_total"] == json.loads(m.sh("district stats --json").stdout
                                                 )["votes_total"]


def test_chromium_signs_in_trusting_the_district_ca(server, tmp_path):
    """An official's browser: the district's CA imported once into its NSS database (what the
    guide tells officials to do), then the dashboard signed in over HTTPS. Chromium is not told
    to ignore certificate errors: an untrusted certificate fails the navigation."""
    chromium = shutil.which("chromium")
    certutil = shutil.which("certutil")
    if not (chromium and certutil):
        pytest.fail("chromium and certutil (libnss3-tools) are needed: make system-packages")
    out = server.sh("cd / && district setup --official chief-of-office 2>&1").stdout
    found = re.search(r"chief-of-office\b.*?: (\S+)\s*$", out, re.M)
    assert found, out
    password = found.group(1)
    home = tmp_path / "home"
    nss = home / ".pki/nssdb"
    nss.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run([certutil, "-A", "-d", f"sql:{nss}", "-n", "district", "-t", "C,,",
                    "-i", str(server.path("/etc/district/ca.pem"))], check=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"],
                                     env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
        try:
            page = browser.new_page(locale="vi-VN")
            page.goto(f"https://localhost:{PORT}/dashboard")
            assert "/login" in page.url
            page.fill("input[name=username]", "chief-of-office")
            page.fill("input[name=password]", password)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url("**/dashboard")
            body = page.inner_text("body")
            cookies = page.context.cookies()
        finally:
            browser.close()
    assert "chief-of-office" in body, body[:2000]
    assert cookies and all(c["secure"] for c in cookies), cookies  # HTTPS: Secure cookies
