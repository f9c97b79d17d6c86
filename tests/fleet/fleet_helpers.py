"""Helpers for the fleet tests: where the repo's files are, how to find the tools, and how to
run `systemd-analyze verify` on our units inside a throw-away root."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import REPO
from tests.helpers.systemd_units import (  # noqa: F401 (names the fleet tests use)
    SYSTEMD,
    host_unit_dir,
    make_verify_root,
    need_tool,
    verify,
)

IMAGE = REPO / "image"
INSTALL_SH = IMAGE / "install.sh"
FIRSTBOOT = IMAGE / "firstboot" / "kiosk-firstboot"
UNITS = ["kiosk.service", "kiosk-sync.service", "district.service", "district-backup.service",
         "district-backup.timer"]
OUR_UNITS = UNITS + ["kiosk-firstboot.service"]
VENV_KIOSK = REPO / ".venv" / "bin" / "kiosk"


def lay_out_like_the_package(root: Path) -> None:
    """Units where hailong-kiosk puts them (packaging/build-debs.sh), enabled as postinst's
    deb-systemd-helper does from their [Install] sections."""
    units = root / "usr/lib/systemd/system"
    for unit in ("kiosk.service", "kiosk-sync.service"):
        shutil.copy(SYSTEMD / unit, units / unit)
    shutil.copy(IMAGE / "firstboot/kiosk-firstboot.service", units / "kiosk-firstboot.service")
    sbin = root / "usr/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIRSTBOOT, sbin / "kiosk-firstboot")
    etc = root / "etc/systemd/system"
    for wants, unit in (("multi-user.target.wants", "kiosk.service"),
                        ("multi-user.target.wants", "kiosk-sync.service"),
                        ("multi-user.target.wants", "kiosk-firstboot.service"),
                        ("kiosk.service.requires", "kiosk-firstboot.service"),
                        ("kiosk-sync.service.requires", "kiosk-firstboot.service")):
        (etc / wants).mkdir(parents=True, exist_ok=True)
        (etc / wants / unit).symlink_to(f"/usr/lib/systemd/system/{unit}")
    (etc / "getty@tty1.service").symlink_to("/dev/null")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values...]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path}: {line!r} outside a section"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections
