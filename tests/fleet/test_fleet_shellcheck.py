"""Every shell script of the image (install.sh, first boot, pi-gen stage, build scripts,
the technician's `kiosk` wrapper) passes shellcheck, at its default severity (style included)."""

from __future__ import annotations

import subprocess

import pytest

from tests.fleet.fleet_helpers import IMAGE, REPO, need_tool


def shell_scripts():
    found = []
    for path in sorted([*IMAGE.rglob("*"), *(REPO / "packaging").rglob("*"),
                        *(REPO / "tests/deploy").rglob("*.sh")]):
        if not path.is_file() or "wheelhouse" in path.parts or path.suffix == ".deb":
            continue
        try:
            first = path.read_bytes()[:80].split(b"\n", 1)[0]
        except OSError:
            continue
        if path.suffix == ".sh" or (first.startswith(b"#!") and b"sh" in first.split(b"/")[-1]):
            found.append(path)
    return found


SCRIPTS = shell_scripts()


def test_scripts_are_found():
    names = {p.name for p in SCRIPTS}
    assert {"install.sh", "kiosk-firstboot", "00-run.sh", "prerun.sh", "kiosk-wrapper.sh",
            "build-debs.sh", "make-root.sh", "postinst", "prerm", "postrm"} <= names, names


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(p.relative_to(REPO)) for p in SCRIPTS])
def test_shellcheck(script):
    tool = need_tool("shellcheck")
    proc = subprocess.run([tool, "--external-sources", str(script)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_is_not_a_rubber_stamp(tmp_path):
    tool = need_tool("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/bin/bash\nrm -rf $1/*\n')
    proc = subprocess.run([tool, str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "SC2086" in proc.stdout


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.suffix == ".sh" or
                                    s.name == "kiosk-firstboot"],
                         ids=lambda p: p.name)
def test_executable(script):
    assert script.stat().st_mode & 0o111, f"{script} is not executable (git add --chmod=+x)"
