"""hailong-kiosk in booted Debian roots (Bookworm and Trixie, amd64): installed for real with
apt, a provisioned kiosk.toml on /boot/firmware installed by first boot, `kiosk-sync` reaching
a real `district serve` on HTTPS with the CA from kiosk.toml, a `kiosk vote` arriving in
`district stats`, restart after kill -9, the watchdog, journald's limits in force, the
no-display behaviour, the upgrade to the next build keeping every vote, and purge leaving no
unit behind. The tests of one release share one machine and run in this order."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.conftest import RELEASES
from tests.deploy.machines import Machine, cached_root, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
TERMINAL = "hbt-thanh-nhan"


@pytest.fixture(scope="module", params=RELEASES)
def terminal(request, debs, district_on_host, tmp_path_factory):
    release = request.param
    packages = debs(release)
    machine = Machine(f"hl-kiosk-{release}", tmp_path_factory.mktemp(f"kiosk-{release}"),
                      base=cached_root(release))
    machine.release = release
    machine.debs = {name: machine.copy_in(path, f"/root/{path.name}")
                    for name, path in packages.items()}
    machine.server = district_on_host
    try:
        machine.boot()
        yield machine
    finally:
        machine.close()


def apt_install(m: Machine, deb: str):
    return m.run("apt-get", "install", "-y", "--no-install-recommends", deb, timeout=600)


def status(m: Machine) -> dict:
    return json.loads(m.run("kiosk", "status", "--json").stdout)


def test_install_and_first_boot(terminal):
    m = terminal
    out = apt_install(m, m.debs["hailong-kiosk"]).stdout
    assert "Setting up hailong-kiosk" in out
    for unit in ("kiosk.service", "kiosk-sync.service", "kiosk-firstboot.service"):
        assert m.run("systemctl", "is-enabled", unit).stdout.strip() == "enabled", unit
    assert m.run("id", "-nG", "kiosk").stdout.split() >= ["kiosk"]
    # The voice prompts came with the package, spoken at build time, in both languages.
    for language in ("vi", "en"):
        listed = m.sh("ls /opt/hailong/venv/lib/python3*/site-packages/kiosk/voice/prompts/"
                      + language).stdout.split()
        assert any(name.endswith(".wav") for name in listed), (language, listed)
    # The technician copies the provisioned file onto the boot partition, then powers on.
    provisioned = m.server.provision() / TERMINAL / "kiosk.toml"
    m.copy_in(provisioned, "/boot/firmware/kiosk.toml")
    m.reboot()
    assert m.unit_property("kiosk-firstboot.service", "Result") == "success", \
        m.journal("kiosk-firstboot.service")
    st = m.run("stat", "-c", "%a %U", "/etc/kiosk/kiosk.toml").stdout.split()
    assert st == ["600", "kiosk"]
    assert m.path("/etc/kiosk/kiosk.toml").read_bytes() == provisioned.read_bytes()
    assert m.path("/etc/hostname").read_text().strip() == TERMINAL
    assert not m.path("/boot/firmware/kiosk.toml").exists()  # the token left the FAT partition
    assert m.path("/boot/firmware/kiosk-installed.txt").exists()


def test_sync_reaches_the_district_over_https(terminal):
    m = terminal
    m.wait_active("kiosk-sync.service")
    before = m.server.votes_of(TERMINAL)
    vote_id = m.run("kiosk", "vote", "3").stdout.strip().splitlines()[-1]
    assert vote_id
    wait_for(lambda: m.server.votes_of(TERMINAL) > before, 180,
             f"the vote of {m.release} in district stats")
    wait_for(lambda: status(m)["votes_pending"] == 0, 120, "the vote marked synced")
    assert "https://127.0.0.1" in m.path("/etc/kiosk/kiosk.toml").read_text()


def test_kill_9_is_restarted(terminal):
    m = terminal
    m.wait_active("kiosk-sync.service")
    pid = m.main_pid("kiosk-sync.service")
    m.sh(f"kill -9 {pid}")  # the shell's kill: minbase has no procps
    wait_for(lambda: m.unit_property("kiosk-sync.service", "ActiveState") == "active"
             and m.main_pid("kiosk-sync.service") not in (0, pid), 120,
             "kiosk-sync restarted after kill -9")


def test_watchdog_restarts_a_frozen_agent(terminal):
    """SIGSTOP: the process lives but stops pinging; systemd's watchdog kills and restarts it.
    The package's WatchdogSec=120 is shortened by a drop-in here only to keep the run short:
    the pings themselves are the agent's real ones."""
    m = terminal
    m.write("/etc/systemd/system/kiosk-sync.service.d/test-watchdog.conf",
            "[Service]\nWatchdogSec=15\n")
    m.run("systemctl", "daemon-reload")
    m.run("systemctl", "restart", "kiosk-sync.service")
    m.wait_active("kiosk-sync.service")
    pid = m.main_pid("kiosk-sync.service")
    m.sh(f"kill -STOP {pid}")
    wait_for(lambda: m.main_pid("kiosk-sync.service") not in (0, pid)
             and m.unit_property("kiosk-sync.service", "ActiveState") == "active", 180,
             "the watchdog to restart the frozen agent")
    assert "watchdog timeout" in m.journal("kiosk-sync.service").lower()
    m.path("/etc/systemd/system/kiosk-sync.service.d/test-watchdog.conf").unlink()
    m.run("systemctl", "daemon-reload")


def test_journald_limits_are_in_force(terminal):
    m = terminal
    merged = m.run("systemd-analyze", "cat-config", "systemd/journald.conf").stdout
    assert "zz-hailong.conf" in merged
    # The last word on ForwardToSyslog is ours, whatever Debian's drop-ins say before it.
    assert re.findall(r"^ForwardToSyslog=(\S+)", merged, re.M)[-1] == "no"
    m.run("journalctl", "--flush")
    log = m.run("journalctl", "-b", "-u", "systemd-journald", "-o", "cat", "--no-pager").stdout
    assert re.search(r"System Journal .* max 64(\.0)?M", log), log


def test_no_display_fails_calmly(terminal):
    """A container has no display. kiosk.service gets the container's console instead of tty1
    (a drop-in: tty1 does not exist here); the rest is the package's unit. The container's own
    getty on that console is masked first, as the package masks getty@tty1 on a terminal:
    left running, it and the kiosk take the console from each other with vhangup() (the kiosk
    then dies of SIGHUP before READY=1, which systemd reports as result 'protocol')."""
    m = terminal
    m.run("systemctl", "mask", "--now", "console-getty.service")
    m.write("/etc/systemd/system/kiosk.service.d/test-console.conf",
            "[Service]\nTTYPath=/dev/console\nPAMName=\nUtmpIdentifier=\n")
    m.run("systemctl", "daemon-reload")
    try:
        no_display_checks(m)
    finally:  # the test's own drop-in goes even when a check fails (the purge test looks)
        m.run("systemctl", "stop", "kiosk.service", check=False)
        m.path("/etc/systemd/system/kiosk.service.d/test-console.conf").unlink()
        m.run("systemctl", "unmask", "console-getty.service", check=False)
        m.run("systemctl", "daemon-reload")


def no_display_checks(m):
    m.run("systemctl", "restart", "--no-block", "kiosk.service")
    line = "no working display"

    def starts():
        return m.journal("kiosk.service").count(line)

    try:
        wait_for(lambda: starts() >= 3, 300, "three attempts of kiosk.service")
    except AssertionError as missing:
        raise AssertionError(f"{missing}; the unit's journal ends:\n"
                             f"{m.journal('kiosk.service')[-3000:]}") from None
    journal = m.journal("kiosk.service")
    assert "Traceback" not in journal and "AttributeError" not in journal, journal[-3000:]
    # Kivy's reason stays (one line per provider), its stack frames do not.
    assert "kmsdrm not available" in journal and 'File "' not in journal, journal[-3000:]
    assert "'protocol'" not in journal, journal[-3000:]
    # The same words on the console (tty1 on a terminal), Vietnamese first.
    console = m.console.read_text(errors="replace")
    assert console.count("Hài Lòng: ") >= 3, console[-2000:]
    # One clear line per attempt, Kivy's lines not doubled.
    kivy_version = [x for x in journal.splitlines() if "Kivy: v" in x]
    assert len(kivy_version) <= starts(), kivy_version
    waits = [int(x) for x in re.findall(r"next try in (\d+) s", journal)]
    if m.release == "bookworm":  # systemd 252: the app waits, longer each time
        assert waits[:3] == [2, 4, 8], waits
    else:  # systemd >= 254: RestartSteps= grows systemd's own delay
        show = m.run("systemctl", "show", "kiosk.service", "-P", "RestartUSecNext").stdout
        assert timespan_s(show) > 2 or \
            "restart-delay.conf" in m.run("systemctl", "cat", "kiosk.service").stdout
        assert m.run("systemctl", "show", "-P", "RestartSteps", "kiosk.service"
                     ).stdout.strip() == "8"


def timespan_s(text: str) -> float:
    """A systemd time span as `systemctl show` prints it ("6.999271s", "1min 3s", "500ms",
    or plain microseconds from older versions), in seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text) / 1e6
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    parts = re.findall(r"([\d.]+)\s*(us|ms|min|s|h)", text)
    return sum(float(n) * units[u] for n, u in parts)


def test_upgrade_keeps_every_vote(terminal):
    m = terminal
    for level in (1, 2, 3):
        m.run("kiosk", "vote", str(level), "--test")
    before = status(m)["votes_total"]
    assert before >= 4
    out = apt_install(m, m.debs["hailong-kiosk-2"]).stdout
    assert "Unpacking hailong-kiosk" in out and "-2+" in out
    version = m.run("dpkg-query", "-W", "-f=${Version}", "hailong-kiosk").stdout
    assert version.startswith("0.") and "-2+" in version
    assert status(m)["votes_total"] == before
    m.wait_active("kiosk-sync.service")
    assert m.run("systemctl", "is-enabled", "kiosk.service").stdout.strip() == "enabled"


def test_purge_leaves_no_unit_behind(terminal):
    m = terminal
    m.run("apt-get", "purge", "-y", "hailong-kiosk", timeout=600)
    left = m.sh("find /etc/systemd /usr/lib/systemd /lib/systemd -name 'kiosk*' "
                "-o -name 'getty@tty1.service' -lname /dev/null", check=False).stdout
    assert left.strip() == "", left
    listed = m.run("systemctl", "list-unit-files", "kiosk*", "--no-legend", check=False)
    assert listed.stdout.strip() == "", listed.stdout  # (exit 1: no unit file matches)
    for gone in ("/etc/kiosk", "/var/lib/kiosk", "/opt/hailong", "/usr/bin/kiosk"):
        assert not m.path(gone).exists(), gone
    assert m.run("systemctl", "is-system-running", check=False).stdout.strip() in (
        "running", "degraded")
