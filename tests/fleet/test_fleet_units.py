"""systemd units: `systemd-analyze verify` passes on each, a broken unit is reported, and the
contract of DESIGN.md / issue 6 holds (notify + watchdog + restart, the console session,
hardening that keeps the devices the UI needs).

How verify finds things: it runs with --root=<tmp root> holding a copy of this machine's
system units (for the targets) and stand-in executables for /opt/hailong/venv/bin/*; our units
are laid out as the hailong-kiosk package lays them out (fleet_helpers.lay_out_like_the_package)."""

from __future__ import annotations

import shutil

import pytest

from tests.fleet.fleet_helpers import (
    IMAGE,
    OUR_UNITS,
    SYSTEMD,
    UNITS,
    lay_out_like_the_package,
    make_verify_root,
    parse_unit,
    verify,
)


@pytest.fixture
def root(tmp_path):
    root = make_verify_root(tmp_path / "root")
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    return root


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_verifies(root, unit):
    rc, complaints = verify(root, [unit])
    assert rc == 0 and not complaints, "\n".join(complaints)


def test_installed_units_verify_with_their_enablement(tmp_path):
    """As the package lays them out: kiosk.service requires kiosk-firstboot.service through
    kiosk.service.requires/, getty@tty1 is masked, the firstboot script is in place."""
    root = make_verify_root(tmp_path / "root")
    lay_out_like_the_package(root)
    rc, complaints = verify(root, ["kiosk.service", "kiosk-sync.service",
                                   "kiosk-firstboot.service"])
    assert rc == 0 and not complaints, "\n".join(complaints)


BROKEN = {
    "bad value": ("Type=notify", "Type=sometimes"),
    "unknown key": ("Restart=always", "Restart=always\nRestartForever=yes"),
    "bad time": ("WatchdogSec=30", "WatchdogSec=thirty"),
    "missing binary": ("/opt/hailong/venv/bin/kiosk run", "/opt/hailong/venv/bin/kiosk-ui run"),
    "unknown section": ("[Install]", "[Instal]"),
    "bad device rights": ("DeviceAllow=char-drm rw", "DeviceAllow=char-drm rwq"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_unit_is_reported(root, case):
    """The check is not a rubber stamp: each kind of mistake makes it fail."""
    old, new = BROKEN[case]
    path = root / "etc/systemd/system/kiosk.service"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    rc, complaints = verify(root, ["kiosk.service"])
    assert rc != 0 or complaints, f"verify did not notice: {case}"


def test_firstboot_unit_verifies_alone(tmp_path):
    root = make_verify_root(tmp_path / "root")
    shutil.copy(IMAGE / "firstboot/kiosk-firstboot.service",
                root / "etc/systemd/system/kiosk-firstboot.service")
    sbin = root / "usr/sbin"
    sbin.mkdir(parents=True)
    shutil.copy(IMAGE / "firstboot/kiosk-firstboot", sbin / "kiosk-firstboot")
    rc, complaints = verify(root, ["kiosk-firstboot.service"])
    assert rc == 0 and not complaints, "\n".join(complaints)


def one(unit, section, key):
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{section}.{key}: {values}"
    return values[0]


def test_kiosk_service_contract():
    u = parse_unit(SYSTEMD / "kiosk.service")
    s = u["Service"]
    assert one(u, "Service", "Type") == "notify"
    assert one(u, "Service", "NotifyAccess") in ("main", "all")
    assert one(u, "Service", "Restart") == "always"
    assert one(u, "Service", "WatchdogSec") == "30"
    assert one(u, "Service", "User") == "kiosk"
    assert set(one(u, "Service", "SupplementaryGroups").split()) >= {
        "video", "render", "input", "gpio", "dialout"}
    assert one(u, "Service", "PAMName") == "login"
    assert one(u, "Service", "TTYPath") == "/dev/tty1"
    assert "getty@tty1.service" in " ".join(u["Unit"]["Conflicts"])
    assert one(u, "Service", "ExecStart") == "/opt/hailong/venv/bin/kiosk run"
    env = " ".join(s["Environment"])
    assert "SDL_VIDEODRIVER=kmsdrm" in env and "KIVY_WINDOW=sdl2" in env
    assert "KIVY_NO_ARGS=1" in env  # Kivy must not eat kiosk's own arguments
    assert "KIVY_NO_CONSOLELOG=1" in env  # Kivy's lines once in the journal, not twice
    # Hardened, but the devices stay visible.
    assert one(u, "Service", "ProtectSystem") == "strict"
    assert one(u, "Service", "NoNewPrivileges") == "yes"
    assert one(u, "Service", "StateDirectory") == "kiosk"
    assert "PrivateDevices" not in s or s["PrivateDevices"] == ["no"]
    allowed = " ".join(s["DeviceAllow"])
    for dev in ("/dev/tty1", "char-drm", "char-input", "char-gpiochip", "char-ttyUSB",
                "char-ttyACM"):
        assert dev in allowed, dev
    assert one(u, "Unit", "StartLimitIntervalSec") == "0"  # never gives up


def test_sync_service_contract():
    u = parse_unit(SYSTEMD / "kiosk-sync.service")
    assert "network-online.target" in " ".join(u["Unit"]["After"])
    assert "network-online.target" in " ".join(u["Unit"]["Wants"])
    assert one(u, "Service", "Type") == "notify"
    assert one(u, "Service", "Restart") == "always"
    assert one(u, "Service", "WatchdogSec")
    assert one(u, "Service", "User") == "kiosk"
    assert one(u, "Service", "StateDirectory") == "kiosk"  # same SQLite file as the UI
    assert one(u, "Service", "ExecStart") == "/opt/hailong/venv/bin/kiosk sync"
    assert one(u, "Service", "PrivateDevices") == "yes"
    assert one(u, "Service", "ProtectSystem") == "strict"


def test_state_directory_mode_agrees():
    """Two units sharing /var/lib/kiosk must ask for the same mode, or the last one wins."""
    modes = {parse_unit(SYSTEMD / n)["Service"]["StateDirectoryMode"][0]
             for n in ("kiosk.service", "kiosk-sync.service")}
    assert len(modes) == 1


def test_district_service_contract():
    u = parse_unit(SYSTEMD / "district.service")
    assert one(u, "Service", "ExecStart") == "/opt/hailong/district-venv/bin/district serve"
    assert "DISTRICT_CONFIG=/etc/district/district.toml" in " ".join(u["Service"]["Environment"])
    assert one(u, "Service", "Restart") in ("always", "on-failure")
    assert one(u, "Service", "StateDirectory") == "district"
    assert one(u, "Service", "ProtectSystem") == "strict"


def test_firstboot_orders_before_the_kiosk():
    u = parse_unit(IMAGE / "firstboot/kiosk-firstboot.service")
    before = " ".join(u["Unit"]["Before"])
    assert "kiosk.service" in before and "kiosk-sync.service" in before
    assert set(" ".join(u["Install"]["RequiredBy"]).split()) == {"kiosk.service",
                                                                 "kiosk-sync.service"}
    assert one(u, "Service", "Type") == "oneshot"
    assert one(u, "Service", "RemainAfterExit") == "yes"  # a UI restart does not rerun it


def test_all_units_listed():
    """Every unit in the repo is covered by the verify tests above."""
    found = {p.name for p in SYSTEMD.glob("*.service")} | {
        p.name for p in SYSTEMD.glob("*.timer")} | {p.name for p in IMAGE.rglob("*.service")}
    assert found == set(OUR_UNITS)
