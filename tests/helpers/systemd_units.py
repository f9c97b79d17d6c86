"""`systemd-analyze verify` on the project's units inside a throw-away root, and how to find
the tools it needs (tests/fleet and tests/trust)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.services import REPO

SYSTEMD = REPO / "systemd"


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
