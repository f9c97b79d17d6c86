"""hailong-kiosk for arm64 (the Raspberry Pi's architecture), built and installed on this PC
under qemu-user: the package is built by the one documented command inside a debootstrapped
arm64 Bookworm root, installed with apt into another arm64 root, and the terminal's own
commands run there on the emulated CPU (a vote taken, counted by `kiosk status`).

The root is not booted: systemd as PID 1 under qemu-user is not something this machine can
run reliably; the units' behaviour is proven on amd64 (test_kiosk_package.py) from the same
unit files. Kept small on purpose: qemu makes every Python start take seconds.
Skipped, with the reason, where the kernel has no binfmt_misc handler for aarch64."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import need_deploy_tools
from tests.deploy.machines import Machine, cached_root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def aarch64_emulation() -> str | None:
    """Registers qemu-aarch64 with binfmt_misc when it can; the reason when it cannot."""
    handler = BINFMT / "qemu-aarch64"
    if not (BINFMT / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
                       capture_output=True)
    if not handler.exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    if not handler.exists():
        return ("no binfmt_misc handler for aarch64 (needs qemu-user-static, binfmt-support "
                "and a kernel that lets this machine mount binfmt_misc)")
    if "enabled" not in handler.read_text():
        return "the binfmt_misc handler for aarch64 is disabled"
    return None


@pytest.fixture(scope="module")
def arm64_deb(arm64_build) -> Path:
    """The package, built in the background since the session began (conftest.py)."""
    need_deploy_tools()
    reason = aarch64_emulation()
    if reason:
        pytest.skip(reason)
    return arm64_build()


def test_arm64_package_installs_and_takes_a_vote(arm64_deb, tmp_path):
    info = subprocess.run(["dpkg-deb", "-f", str(arm64_deb), "Architecture", "Package"],
                          capture_output=True, text=True, check=True).stdout
    assert "Architecture: arm64" in info and "Package: hailong-kiosk" in info
    m = Machine("hl-arm64", tmp_path, base=cached_root("bookworm", "arm64"))
    try:
        assert m.offline("uname", "-m").stdout.strip() == "aarch64"
        deb = m.copy_in(arm64_deb, f"/root/{arm64_deb.name}")
        out = m.offline("apt-get", "install", "-y", "--no-install-recommends", deb,
                        timeout=1800).stdout
        assert "Setting up hailong-kiosk" in out, out
        # The venv's Python is the root's own arm64 python3, the compiled wheels aarch64.
        arch = m.offline("/opt/hailong/venv/bin/python", "-c",
                         "import platform, pydantic_core; print(platform.machine())")
        assert arch.stdout.strip() == "aarch64"
        m.write("/etc/kiosk/kiosk.toml", '[terminal]\nid = "arm64-test"\nunit = "u"\n'
                '[gpio]\npin_factory = "mock"\n', mode=0o640)
        m.offline("chgrp", "kiosk", "/etc/kiosk/kiosk.toml")  # as first boot installs it
        m.offline("kiosk", "vote", "3", "--test", timeout=600)
        st = json.loads(m.offline("kiosk", "status", "--json", timeout=600).stdout)
        assert st["votes_total"] == 1, st
        # Raspberry Pi OS's python3-lgpio is not in Debian: the package says so in one line.
        lgpio = m.offline("/opt/hailong/venv/bin/python", "-c", "import lgpio", check=False)
        if lgpio.returncode != 0:
            assert "python3-lgpio" in out, out
    finally:
        m.close()
