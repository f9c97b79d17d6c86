"""The golden image's pi-gen stage (image/pi-gen/stage-hailong) run the way pi-gen runs it,
with tests/deploy/pigen-functions.sh (pi-gen's on_chroot and run_stage written to the same
contract, pi-gen being in no registry), on a debootstrapped Bookworm root with the amd64
package in the stage's files/; then the result is booted with systemd-nspawn -b: a blank
card (no kiosk.toml) stops at first boot with its message, the rating screen not started."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.deploy.machines import REPO, Machine, cached_root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
FUNCTIONS = REPO / "tests/deploy/pigen-functions.sh"


def run_stage(stage, root):
    return subprocess.run(["bash", str(FUNCTIONS), str(stage)], capture_output=True, text=True,
                          env={**os.environ, "ROOTFS_DIR": str(root)}, timeout=900)


def test_on_chroot_hides_the_roots_tmp(tmp_path):
    """The contract the old stage broke: what is put in ROOTFS_DIR/tmp is not seen inside."""
    machine = Machine("hl-pigen-tmp", tmp_path / "m", base=cached_root("bookworm"))
    try:
        machine.write("/tmp/payload", "x")
        stage = tmp_path / "stage"
        (stage / "00-look").mkdir(parents=True)
        (stage / "00-look/00-run-chroot.sh").write_text("test -e /tmp/payload\n")
        proc = run_stage(stage, machine.root)
        assert proc.returncode != 0, "on_chroot showed the root's /tmp"
    finally:
        machine.close()


def test_stage_installs_the_package_and_the_image_boots(debs, tmp_path):
    machine = Machine("hl-pigen", tmp_path / "m", base=cached_root("bookworm"))
    try:
        stage = tmp_path / "stage-hailong"
        shutil.copytree(REPO / "image/pi-gen/stage-hailong", stage, symlinks=True)
        files = stage / "00-install/files"
        files.mkdir()
        shutil.copy(debs("bookworm")["hailong-kiosk"], files)
        shutil.copy(REPO / "image/files/kiosk.toml.example", files)
        proc = run_stage(stage, machine.root)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "0 upgraded, 0 newly installed" in proc.stdout  # the second run changed nothing
        assert not machine.path("/var/tmp/hailong").exists()
        assert machine.path("/boot/firmware/kiosk.toml.example").is_file()
        machine.boot()
        for unit in ("kiosk.service", "kiosk-sync.service", "kiosk-firstboot.service"):
            assert machine.run("systemctl", "is-enabled", unit).stdout.strip() == "enabled"
        # A blank card: first boot says what to do, the rating screen waits for the file.
        assert machine.unit_property("kiosk-firstboot.service", "ExecMainStatus") == "2"
        assert "Không tìm thấy tệp cấu hình kiosk.toml" in machine.journal(
            "kiosk-firstboot.service")
        assert machine.unit_property("kiosk.service", "ActiveState") != "active"
    finally:
        machine.close()
