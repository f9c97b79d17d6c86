"""Signed software updates (docs/updates.md), for real: the district's own apt repository
served by a real `district serve` on the host's loopback (HTTPS, its CA), a Bookworm root
booted with systemd-nspawn -b running hailong-kiosk with its screen (Kivy on a host Xvfb
through the shared network namespace's X socket; the container borrows the host's libGL, as
the root has only EGL/GLES), and the package's own kiosk-update units.

Releases: build 1 and build 2 of this repository (packaging/build-debs.sh --build N), and from
build 2, repacked with dpkg-deb under other versions: one whose screen exits at start-up, one
for arm64, one the test corrupts in the pool after publishing. The test starts
kiosk-update.service itself instead of waiting for its timer (stopped here), and the kills run
in the booted root without a reboot each time: after each kill kiosk-update-repair.service is
started as the boot would. HAILONG_UPDATE_KILLS sets their number (2 by default, in CI's
time; the issue asks for 50: run them by hand)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.machines import Machine, cached_root, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(4 * 3600)]
RELEASE = "bookworm"
TERMINAL = "hbt-bach-khoa"
KILLS = int(os.environ.get("HAILONG_UPDATE_KILLS", "2"))  # 50 and more by hand: ~2 min each
LIB = "/usr/lib/x86_64-linux-gnu/"
HOST_GL = ("libGL.so.1", "libGLX.so.0", "libGLX_mesa.so.0", "libxcb-glx.so.0",
           "libXxf86vm.so.1", "libxcb-shm.so.0")
TEST_ENVIRONMENT = ("KIOSK_SYNC__HEARTBEAT_INTERVAL_S=3\nKIOSK_UPDATE__HEALTH_S=90\n"
                    "KIOSK_UPDATE__QUIET_S=2\n")


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], check=True, text=True,
                          capture_output=True).stdout.strip()


def repack(deb: Path, out: Path, build: int, arch: str | None = None,
           broken_ui: bool = False) -> Path:
    """``deb`` again as build ``build`` (its version's -N), for ``arch``; ``broken_ui``: the
    screen's module exits at import, so `kiosk run` ends at start-up (the rest works)."""
    work = out / f"tree-{build}"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(work)], check=True)
    control = (work / "DEBIAN/control").read_text()
    version = deb_field(deb, "Version").replace("-2+", f"-{build}+")
    control = control.replace(deb_field(deb, "Version"), version)
    if arch:
        control = control.replace("Architecture: amd64", f"Architecture: {arch}")
    (work / "DEBIAN/control").write_text(control)
    if broken_ui:
        (app,) = work.glob("opt/hailong/venv/lib/python3*/site-packages/kiosk/ui/app.py")
        app.write_text('raise SystemExit("this test release cannot start its screen")\n'
                       + app.read_text())
    target = out / f"hailong-kiosk_{version}_{arch or 'amd64'}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", str(work),
                    str(target)], check=True, capture_output=True)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return target


@pytest.fixture(scope="module")
def releases(debs, tmp_path_factory) -> dict[str, Path]:
    built = debs(RELEASE)
    out = tmp_path_factory.mktemp("releases")
    v2 = built["hailong-kiosk-2"]
    return {"v1": built["hailong-kiosk"], "v2": v2, "broken": repack(v2, out, 3, broken_ui=True),
            "arm64": repack(v2, out, 4, arch="arm64"), "tampered": repack(v2, out, 5)}


def version_of(deb: Path) -> str:
    return deb_field(deb, "Version")


@pytest.fixture(scope="module")
def xvfb():
    display = 90 + os.getpid() % 9
    proc = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "800x480x24",
                             "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(f"/tmp/.X11-unix/X{display}").exists(), 30, "Xvfb")
    yield display
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def terminal(releases, district_on_host, xvfb, tmp_path_factory):
    m = Machine("hl-updates", tmp_path_factory.mktemp("updates"), base=cached_root(RELEASE))
    m.server = district_on_host
    m.copy_in(releases["v1"], "/root/v1.deb")
    try:
        m.boot(*(f"--bind-ro={os.path.realpath(LIB + name)}:{LIB + name}" for name in HOST_GL))
        m.run("apt-get", "install", "-y", "--no-install-recommends", "/root/v1.deb",
              timeout=900)
        set_up(m, xvfb)
        yield m
    finally:
        m.close()


def set_up(m: Machine, display: int):
    toml = m.server.provision() / TERMINAL / "kiosk.toml"
    assert "[update]" in toml.read_text() and "BEGIN PGP PUBLIC KEY" in toml.read_text()
    m.write("/etc/kiosk/kiosk.toml", toml.read_text(), 0o600)
    m.run("chown", "kiosk:kiosk", "/etc/kiosk/kiosk.toml")
    m.write("/etc/kiosk/environment", m.path("/etc/kiosk/environment").read_text()
            + TEST_ENVIRONMENT, 0o640)
    # the screen on the host's Xvfb (the container's console stands in for tty1, as in
    # test_kiosk_package.py); a read-only card's guard, where the package has one, does not
    # apply to a container's overlay root
    m.run("systemctl", "mask", "--now", "console-getty.service")
    m.write("/etc/systemd/system/kiosk.service.d/test-display.conf",
            "[Service]\nExecStartPre=\nTTYPath=/dev/console\nPAMName=\nUtmpIdentifier=\n"
            f"Environment=DISPLAY=:{display} SDL_VIDEODRIVER=x11 HAILONG_DISPLAY_BACKOFF=0\n")
    m.write("/etc/systemd/system/kiosk-sync.service.d/test-card.conf",
            "[Service]\nExecStartPre=\n")
    m.run("systemctl", "daemon-reload")
    assert m.run("systemctl", "is-enabled", "kiosk-update.timer").stdout.strip() == "enabled"
    m.run("systemctl", "stop", "kiosk-update.timer")  # the test starts each run itself
    m.run("systemctl", "restart", "kiosk-sync.service", "kiosk.service")
    m.wait_active("kiosk.service", 240)  # READY=1: the screen's first frame
    m.wait_active("kiosk-sync.service")


# -- helpers ---------------------------------------------------------------------------------

def installed(m: Machine) -> tuple[str, str]:
    out = m.run("dpkg-query", "-W", "-f=${Version}\t${db:Status-Abbrev}", "hailong-kiosk",
                check=False).stdout
    version, _, status = out.partition("\t")
    return version, status


def outcome(m: Machine) -> dict:
    return json.loads(m.path("/var/lib/kiosk-update/state.json").read_text())["outcome"]


def server_view(m: Machine) -> dict:
    return json.loads(m.server.cli("releases", "list", "--json"))["terminals"].get(TERMINAL, {})


def roll_out(m: Machine, version: str, *extra: str):
    m.server.cli("releases", "rollout", version, "--terminal", TERMINAL, *extra)
    wait_for(lambda: target_of(m) == version, 120, f"the heartbeat's answer naming {version}")


def target_of(m: Machine) -> str | None:
    try:
        return json.loads(m.path("/var/lib/kiosk/release-target.json").read_text())["version"]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def run_updater(m: Machine) -> str:
    m.run("systemctl", "start", "kiosk-update.service", timeout=1800)
    return m.journal("kiosk-update.service")


def reported(m: Machine, version: str, result: str) -> dict:
    return wait_for(lambda: (lambda v: v if v.get("outcome") == result
                             and v.get("outcome_version") == version else None)(server_view(m)),
                    120, f"the server told {result} {version}")


def vote(m: Machine, acked: set[str]):
    out = m.run("kiosk", "vote", "2", "--test").stdout.strip().splitlines()
    acked.add(out[-1].strip())


STATE = {"update_s": 120.0}


# -- the tests, in order (one machine) --------------------------------------------------------

def test_publish_signed_repository(terminal, releases):
    m = terminal
    out = m.server.cli("releases", "add", *(str(p) for p in releases.values()))
    # one line per package, in the server's language: each names its version
    assert all(version_of(p) in out for p in releases.values()), out
    listed = json.loads(m.server.cli("releases", "list", "--json"))
    assert {p["version"] for p in listed["packages"]} == {version_of(p)
                                                        for p in releases.values()}
    repo = Path(listed["repository"])
    assert (repo / "dists/bookworm/InRelease").read_text().startswith(
        "-----BEGIN PGP SIGNED MESSAGE-----")
    # the machine's apt and its keyring, not ours, judge it: kiosk update --check
    roll_out(m, version_of(releases["v2"]))
    check = m.run("kiosk", "update", "--check", "--lang", "en", check=False).stdout
    assert "signature, hashes and version are good" in check, check


def test_healthy_update_is_kept(terminal, releases):
    m = terminal
    acked: set[str] = set()
    vote(m, acked)
    started = time.monotonic()
    journal = run_updater(m)
    STATE["update_s"] = time.monotonic() - started
    v2 = version_of(releases["v2"])
    assert installed(m) == (v2, "ii "), journal
    assert outcome(m)["outcome"] == "kept", journal
    reported(m, v2, "kept")
    assert server_view(m)["version"] == v2
    m.wait_active("kiosk.service")
    ids = set(m.run("sqlite3", "/var/lib/kiosk/votes.db", "SELECT id FROM votes").stdout.split())
    assert acked <= ids


def test_broken_release_is_rolled_back(terminal, releases):
    m = terminal
    broken, v2 = version_of(releases["broken"]), version_of(releases["v2"])
    roll_out(m, broken)
    journal = run_updater(m)
    assert installed(m) == (v2, "ii "), journal
    got = outcome(m)
    assert got["outcome"] == "rolled_back" and got["version"] == broken, got
    assert "kiosk.service" in got["reason"] and "READY=1" in got["reason"], got
    seen = reported(m, broken, "rolled_back")
    assert "kiosk.service" in seen["reason"]
    m.wait_active("kiosk.service", 240)
    # not tried again until the district rolls it out anew
    run_updater(m)
    assert installed(m) == (v2, "ii ") and outcome(m)["outcome"] == "rolled_back"


@pytest.mark.parametrize("case", ["older", "arm64", "tampered", "other_key", "unsigned"])
def test_refused_with_the_reason(terminal, releases, case):
    m = terminal
    v2 = version_of(releases["v2"])
    repo = Path(json.loads(m.server.cli("releases", "list", "--json"))["repository"])
    dists = repo / "dists" / RELEASE
    version = {"older": releases["v1"], "arm64": releases["arm64"]}.get(
        case, releases["tampered"])
    version = version_of(version)
    saved = {p.name: p.read_bytes() for p in dists.glob("*Release*")}
    try:
        if case == "tampered":
            (pool,) = repo.glob(f"pool/main/h/hailong-kiosk/*_{version}_amd64.deb")
            data = bytearray(pool.read_bytes())
            data[len(data) // 2] ^= 0xFF  # one byte in the middle: same size, other hash
            pool.write_bytes(bytes(data))
        elif case == "other_key":
            from cryptography.hazmat.primitives.asymmetric import ed25519

            from district.releases import openpgp
            other = ed25519.Ed25519PrivateKey.generate()
            release = saved["Release"].decode()
            (dists / "InRelease").write_text(openpgp.clearsign(other, release))
            (dists / "Release.gpg").write_bytes(openpgp.sign_detached(other, release.encode()))
        elif case == "unsigned":
            (dists / "InRelease").unlink()
            (dists / "Release.gpg").unlink()
        roll_out(m, version)
        run_updater(m)
        got = outcome(m)
    finally:
        for name, data in saved.items():
            (dists / name).write_bytes(data)
    assert installed(m) == (v2, "ii ")
    assert got["outcome"] == "refused" and got["version"] == version, got
    words = {"older": "older than the version installed",
             "arm64": "architecture (amd64)",
             "tampered": "Hash Sum mismatch",
             "other_key": "NO_PUBKEY",
             "unsigned": "signed"}[case]  # "is not signed", "is no longer signed"
    assert words.lower() in got["reason"].lower(), got
    # (the server may still show the last refusal of the same version: wait for this one)
    wait_for(lambda: words.lower() in (server_view(m).get("reason") or "").lower(), 120,
             f"the server told why ({words})")


def test_kills_leave_a_working_release_and_every_vote(terminal, releases):
    """SIGKILL of the whole updater (apt, dpkg and the maintainer scripts with it) and of the
    screen at random moments of updates back and forth between build 1 and build 2."""
    m = terminal
    rng = random.Random(int(os.environ.get("HAILONG_UPDATE_SEED", "15")))
    acked: set[str] = set()
    versions = (version_of(releases["v1"]), version_of(releases["v2"]))
    window = max(30.0, STATE["update_s"])
    kinds: dict[str, int] = {}
    for n in range(KILLS):
        want = versions[0] if installed(m)[0] == versions[1] else versions[1]
        roll_out(m, want, "--allow-older")
        vote(m, acked)
        m.run("systemctl", "start", "--no-block", "kiosk-update.service")
        kill_at, ui_at = rng.uniform(0, window), rng.uniform(0, window)
        began = time.monotonic()
        for at, unit in sorted(((kill_at, "kiosk-update.service"), (ui_at, "kiosk.service"))):
            time.sleep(max(0.0, at - (time.monotonic() - began)))
            m.run("systemctl", "kill", "-s", "KILL", unit, check=False)
        phase = json.loads(m.path("/var/lib/kiosk-update/state.json").read_text())["phase"] \
            if m.path("/var/lib/kiosk-update/state.json").exists() else "none"
        kinds[phase] = kinds.get(phase, 0) + 1
        wait_for(lambda: m.unit_property("kiosk-update.service", "ActiveState")
                 in ("inactive", "failed"), 600, "the killed updater gone")
        m.run("systemctl", "reset-failed", "kiosk-update.service", check=False)
        m.run("systemctl", "start", "kiosk-update-repair.service", timeout=1800)  # as at boot
        version, status = installed(m)
        assert status == "ii " and version in versions, (n, version, status,
                                                         m.journal("kiosk-update-repair.service"))
        vote(m, acked)  # the release left there takes votes
    run_updater(m)  # whatever trial was left is finished
    assert installed(m)[1] == "ii "
    m.wait_active("kiosk.service", 240)
    m.wait_active("kiosk-sync.service")
    ids = set(m.run("sqlite3", "/var/lib/kiosk/votes.db", "SELECT id FROM votes").stdout.split())
    assert acked <= ids, acked - ids
    print(f"\n{KILLS} kills; the updater was killed in these phases: {kinds}")
