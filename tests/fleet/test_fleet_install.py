"""image/install.sh in DESTDIR mode (a dry run): every file it would write lands under
DESTDIR with the right content and mode, no command that changes the system runs (package
install, user creation, systemctl, chown are only printed), and a second run changes nothing.

The real mode runs in the pi-gen chroot (image/pi-gen/stage-hailong) and on a Pi; it is the
same code path for files, plus the printed commands run for real."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.fleet.fleet_helpers import IMAGE, INSTALL_SH, REPO, SYSTEMD, run_install

S = "/etc/systemd/system"
EXPECTED_FILES = {
    # target path: (source in the repo, mode)
    f"{S}/kiosk.service": (SYSTEMD / "kiosk.service", 0o644),
    f"{S}/kiosk-sync.service": (SYSTEMD / "kiosk-sync.service", 0o644),
    f"{S}/kiosk-firstboot.service": (IMAGE / "firstboot/kiosk-firstboot.service", 0o644),
    "/usr/local/sbin/kiosk-firstboot": (IMAGE / "firstboot/kiosk-firstboot", 0o755),
    "/usr/local/bin/kiosk": (IMAGE / "files/kiosk-wrapper.sh", 0o755),
    "/etc/sysusers.d/hailong.conf": (IMAGE / "files/hailong.sysusers.conf", 0o644),
    "/etc/systemd/journald.conf.d/50-hailong.conf": (IMAGE / "files/journald.conf", 0o644),
    "/etc/kiosk/environment": (IMAGE / "files/kiosk.environment", 0o640),
    "/usr/share/doc/hailong/technician.md": (REPO / "docs/technician.md", 0o644),
    "/usr/share/doc/hailong/technician.en.md": (REPO / "docs/technician.en.md", 0o644),
}
EXPECTED_LINKS = {
    f"{S}/multi-user.target.wants/kiosk.service": f"{S}/kiosk.service",
    f"{S}/multi-user.target.wants/kiosk-sync.service": f"{S}/kiosk-sync.service",
    f"{S}/multi-user.target.wants/kiosk-firstboot.service": f"{S}/kiosk-firstboot.service",
    f"{S}/kiosk.service.requires/kiosk-firstboot.service": f"{S}/kiosk-firstboot.service",
    f"{S}/kiosk-sync.service.requires/kiosk-firstboot.service": f"{S}/kiosk-firstboot.service",
    f"{S}/getty@tty1.service": "/dev/null",
}
# Files of a Raspberry Pi OS system that install.sh edits in place when they exist.
SEEDED = {
    "/etc/fstab": "proc            /proc           proc    defaults          0       0\n"
                  "PARTUUID=4e639091-01  /boot/firmware  vfat    defaults          0       2\n"
                  "PARTUUID=4e639091-02  /               ext4    defaults          0       1\n",
    "/etc/default/console-setup": 'ACTIVE_CONSOLES="/dev/tty[1-6]"\nCHARMAP="UTF-8"\n'
                                  'CODESET="guess"\nFONTFACE=""\nFONTSIZE=""\n',
    "/boot/firmware/cmdline.txt": "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02"
                                  " rootfstype=ext4 fsck.repair=yes rootwait\n",
    f"{S}/timers.target.wants/apt-daily.timer": None,  # a symlink, see seed()
    f"{S}/multi-user.target.wants/dphys-swapfile.service": None,
}
# Commands the dry run must never execute: stand-ins on PATH record any call.
TRAPPED = ["apt-get", "apt-cache", "systemctl", "useradd", "groupadd", "usermod",
           "systemd-sysusers", "chown", "chgrp", "runuser", "hostnamectl", "dphys-swapfile",
           "swapon", "pip", "pip3"]


def seed(dest: Path):
    for path, content in SEEDED.items():
        target = dest / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            target.symlink_to("/lib/systemd/system/" + target.name)
        else:
            target.write_text(content)


@pytest.fixture
def trap_env(tmp_path):
    bindir = tmp_path / "trap-bin"
    bindir.mkdir()
    log = tmp_path / "trapped.log"
    for name in TRAPPED:
        p = bindir / name
        p.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 1\n')
        p.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "WHEELHOUSE")}
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env, log


def tree_listing(root: Path) -> list[str]:
    """Path, type, mode and content hash (or link target) of everything under root."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = "/" + str(p.relative_to(root))
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            out.append(f"{rel} link {os.readlink(p)}")
        elif stat.S_ISDIR(st.st_mode):
            out.append(f"{rel} dir {stat.S_IMODE(st.st_mode):o}")
        else:
            out.append(f"{rel} file {stat.S_IMODE(st.st_mode):o} "
                       f"{hashlib.sha256(p.read_bytes()).hexdigest()}")
    return out


@pytest.fixture
def installed(tmp_path, trap_env):
    env, log = trap_env
    dest = tmp_path / "dest"
    dest.mkdir()
    seed(dest)
    first = run_install(dest, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    return dest, first, env, log


def test_every_file_it_writes(installed):
    dest, first, _, _ = installed
    for path, (src, mode) in EXPECTED_FILES.items():
        target = dest / path.lstrip("/")
        assert target.is_file() and not target.is_symlink(), path
        assert target.read_bytes() == src.read_bytes(), path
        assert stat.S_IMODE(target.stat().st_mode) == mode, f"{path}: {target.stat().st_mode:o}"
    for path, link in EXPECTED_LINKS.items():
        target = dest / path.lstrip("/")
        assert target.is_symlink() and os.readlink(target) == link, path
    etc_kiosk = dest / "etc/kiosk"
    assert etc_kiosk.is_dir() and stat.S_IMODE(etc_kiosk.stat().st_mode) == 0o750


def test_nothing_else_is_written(installed):
    """The complete list: no sudoers rule, no stray temporary file, nothing unexpected."""
    dest, _, _, _ = installed
    files = {"/" + str(p.relative_to(dest)) for p in dest.rglob("*")
             if p.is_file() or p.is_symlink()}
    seeded_still_there = {p for p, c in SEEDED.items() if c is not None}
    assert files == set(EXPECTED_FILES) | set(EXPECTED_LINKS) | seeded_still_there
    assert not (dest / "etc/sudoers.d").exists()
    assert not any(".hailong-new" in f for f in files)


def test_no_system_command_runs_in_a_dry_run(installed):
    dest, first, _, log = installed
    assert not log.exists(), "dry run executed: " + log.read_text()
    out = first.stdout
    # ...but it says what it would do.
    assert "would run: env DEBIAN_FRONTEND=noninteractive apt-get install" in out
    for pkg in ("python3-venv", "python3-lgpio", "libsdl2-2.0-0", "libgl1-mesa-dri",
                "libegl1", "libgles2"):
        assert pkg in out, pkg
    assert "would run: systemd-sysusers /etc/sysusers.d/hailong.conf" in out
    assert "would run: python3 -m venv --system-site-packages /opt/hailong/venv" in out
    assert "--no-index --find-links" in out and "hailong[pi,ui]" in out
    assert "would run: chown root:kiosk /etc/kiosk" in out


def test_system_files_are_edited_for_the_sd_card_and_console(installed):
    dest, _, _, _ = installed
    fstab = (dest / "etc/fstab").read_text().splitlines()
    root_line = [line for line in fstab if line.split()[1:2] == ["/"]][0]
    assert "noatime" in root_line.split()[3].split(",")
    assert "noatime" not in fstab[1]  # only the root file system
    assert 'CODESET="Vietnamese"' in (dest / "etc/default/console-setup").read_text()
    cmdline = (dest / "boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("\n") == 1 and cmdline.rstrip().endswith("consoleblank=0")
    assert not (dest / "etc/systemd/system/timers.target.wants/apt-daily.timer").is_symlink()
    assert not (dest / "etc/systemd/system/multi-user.target.wants/dphys-swapfile.service"
                ).is_symlink()
    journald = (dest / "etc/systemd/journald.conf.d/50-hailong.conf").read_text()
    assert "SystemMaxUse=" in journald and "Storage=" in journald


def test_second_run_changes_nothing(installed):
    dest, first, env, log = installed
    assert "nothing to change" not in first.stdout
    before = tree_listing(dest)
    second = run_install(dest, env=env)
    assert second.returncode == 0, second.stderr
    assert tree_listing(dest) == before
    assert "install.sh: nothing to change" in second.stdout
    assert "changed:" not in second.stdout
    assert not log.exists()


def test_a_damaged_file_is_repaired_and_reported(installed):
    """Idempotent does not mean blind: a changed unit or mode is put back."""
    dest, _, env, _ = installed
    unit = dest / "etc/systemd/system/kiosk.service"
    unit.write_text("garbage\n")
    (dest / "usr/local/sbin/kiosk-firstboot").chmod(0o644)
    (dest / "etc/systemd/system/getty@tty1.service").unlink()
    again = run_install(dest, env=env)
    assert again.returncode == 0, again.stderr
    assert "changed: /etc/systemd/system/kiosk.service" in again.stdout
    assert "changed: /usr/local/sbin/kiosk-firstboot" in again.stdout
    assert "changed: /etc/systemd/system/getty@tty1.service -> /dev/null" in again.stdout
    assert unit.read_bytes() == (SYSTEMD / "kiosk.service").read_bytes()
    assert run_install(dest, env=env).stdout.count("nothing to change") == 1


def test_local_environment_file_is_kept(installed):
    dest, _, env, _ = installed
    local = dest / "etc/kiosk/environment"
    local.write_text("KIVY_METRICS_DENSITY=2\n")
    again = run_install(dest, env=env)
    assert local.read_text() == "KIVY_METRICS_DENSITY=2\n"
    assert "nothing to change" in again.stdout


def test_destdir_from_environment(tmp_path, trap_env):
    env, log = trap_env
    env = {**env, "DESTDIR": str(tmp_path / "d2")}
    proc = subprocess.run(["bash", str(INSTALL_SH)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "d2/etc/systemd/system/kiosk.service").is_file()
    assert not log.exists()


def test_unknown_argument_is_an_error(tmp_path):
    proc = run_install(tmp_path / "d", "--frobnicate")
    assert proc.returncode != 0 and "unknown argument '--frobnicate'" in proc.stderr
