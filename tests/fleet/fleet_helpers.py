"""Helpers for the fleet tests: where the repo's files are, how to find the tools, and how to
run `systemd-analyze verify` on our units inside a throw-away root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

IMAGE = REPO / "image"
SYSTEMD = REPO / "systemd"
INSTALL_SH = IMAGE / "install.sh"
FIRSTBOOT = IMAGE / "firstboot" / "kiosk-firstboot"
UNITS = ["kiosk.service", "kiosk-sync.service", "district.service"]
OUR_UNITS = UNITS + ["kiosk-firstboot.service"]
VENV_KIOSK = REPO / ".venv" / "bin" / "kiosk"


def need_tool(name: str) -> str:
    """The path of a command-line tool. Missing: skip on a developer's machine, fail in CI
    (the Makefile's system-packages target installs shellcheck and systemd there)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"CI must have `{name}` (Debian package: "
                    f"{ {'shellcheck': 'shellcheck'}.get(name, 'systemd') })")
    pytest.skip(f"`{name}` is not installed (apt-get install shellcheck systemd)")
    raise AssertionError  # unreachable


def host_unit_dir() -> Path:
    for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (d / "sysinit.target").exists():
            return d
    if os.environ.get("CI"):
        pytest.fail("no systemd unit folder with sysinit.target on this machine")
    pytest.skip("no systemd unit folder on this machine (apt-get install systemd)")
    raise AssertionError


def make_verify_root(root: Path) -> Path:
    """A minimal root for `systemd-analyze verify --root`: the host's system units (targets
    such as multi-user.target must resolve) and stand-ins for the ExecStart= binaries, which
    verify checks are executable."""
    shutil.copytree(host_unit_dir(), root / "usr/lib/systemd/system", symlinks=True)
    for venv in ("venv", "district-venv"):
        bindir = root / "opt/hailong" / venv / "bin"
        bindir.mkdir(parents=True)
        for name in ("kiosk", "district", "python3"):
            stand_in = bindir / name
            stand_in.write_text("#!/bin/sh\nexit 0\n")
            stand_in.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    return root


def verify(root: Path, units: list[str]) -> tuple[int, list[str]]:
    """Runs `systemd-analyze verify --root=ROOT UNIT...`. Returns its exit code and the
    complaints about our units. verify exits 0 on many errors it 'ignores' (a bad value, an
    unknown key or section) but always prints them: any line naming one of our units counts."""
    tool = need_tool("systemd-analyze")
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "cat"}
    proc = subprocess.run([tool, "verify", f"--root={root}", *units], capture_output=True,
                          text=True, env=env, timeout=60)
    names = ("kiosk", "district")
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if line.strip() and any(n in line for n in names)]
    return proc.returncode, complaints


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
