"""Booted Debian roots for the deployment tests: an overlay on a cached debootstrapped root
(packaging/make-root.sh), booted with ``systemd-nspawn -b``, commands run inside with
``nsenter`` into the container's namespaces.

The host of these tests is a container without systemd as PID 1 and without a system bus, so
nspawn runs with ``--register=no --keep-unit``. Without ``--private-network`` the machine
shares the host's network: a server on the host's 127.0.0.1 is the machine's 127.0.0.1 too.
Every machine is shut down and its overlay unmounted when the test ends, failed or not.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
BOOT_TIMEOUT = 240


class CommandFailed(AssertionError):
    pass


def root_packages(release: str, arch: str = "amd64") -> str:
    """What the roots hold beyond the base: both packages' Debian dependencies, so that
    installing a .deb needs no download, and what the build needs (the build root is the
    same cached root)."""
    lists = [subprocess.run([str(PACKAGING / "depends.sh"), pkg, release, arch, "--list"],
                            check=True, capture_output=True, text=True).stdout.strip()
             for pkg in ("kiosk", "district", "build")]
    return ",".join(lists)


def cached_root(release: str, arch: str = "amd64") -> Path:
    proc = subprocess.run([str(PACKAGING / "make-root.sh"), "--release", release, "--arch",
                           arch, "--include", root_packages(release, arch)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"make-root.sh {release} {arch} failed:\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """Polls until predicate() is truthy (returns it); fails naming what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Machine:
    """A root (an overlay on a cached base, or a folder of its own) that can be booted."""

    def __init__(self, name: str, workdir: Path, base: Path | None = None,
                 root: Path | None = None):
        self.name = name
        self.workdir = workdir
        self.base = base
        self.root = root or workdir / "root"
        self.proc: subprocess.Popen | None = None
        self.console = workdir / "console.log"
        self._mounted = False
        workdir.mkdir(parents=True, exist_ok=True)
        if base is not None:
            for d in ("upper", "ovl", "root"):
                (workdir / d).mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={base},upperdir={workdir / 'upper'},"
                            f"workdir={workdir / 'ovl'}", str(self.root)], check=True)
            self._mounted = True

    # -- files ------------------------------------------------------------------------------

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644):
        p = self.path(inside)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)

    def copy_in(self, src: Path, inside: str) -> str:
        dest = self.path(inside)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
        return inside

    # -- not booted: a command in the root (like a chroot) ------------------------------------

    def offline(self, *cmd: str, check: bool = True, timeout: float = 600
                ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--as-pid2",
             "-M", self.name, "-D", str(self.root), "--setenv=LANG=C.UTF-8",
             "--setenv=DEBIAN_FRONTEND=noninteractive", *cmd],
            capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise CommandFailed(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    # -- booted ---------------------------------------------------------------------------------

    def boot(self, *extra: str):
        assert self.proc is None, "already booted"
        self.path("/etc/hostname").parent.mkdir(parents=True, exist_ok=True)
        log = self.console.open("ab")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(self.root), "-b", "--register=no", "--keep-unit",
             "--console=read-only", "-M", self.name, *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_for(self._leader, 60, f"{self.name}'s systemd to start")
        wait_for(self._booted, BOOT_TIMEOUT, f"{self.name} to finish booting "
                 f"(console: {self.console})", interval=1)

    def _leader(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn of {self.name} ended: "
                                 f"{self.console.read_text(errors='replace')[-3000:]}")
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    def _booted(self) -> bool:
        proc = self.run("systemctl", "is-system-running", check=False, timeout=30)
        return proc.stdout.strip() in ("running", "degraded")

    def run(self, *cmd: str, check: bool = True, timeout: float = 300, input: str | None = None
            ) -> subprocess.CompletedProcess:
        pid = self._leader()
        assert pid, f"{self.name} is not booted"
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "SYSTEMD_PAGER": "cat",
               "SYSTEMD_COLORS": "0", "TERM": "dumb"}
        proc = subprocess.run(["nsenter", "--target", str(pid), "--mount", "--uts", "--ipc",
                               "--net", "--pid", "--root", "--wd", "--", "env", "-i",
                               *[f"{k}={v}" for k, v in env.items()], *cmd],
                              capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise CommandFailed(f"{shlex.join(cmd)} in {self.name} exited {proc.returncode}:\n"
                                f"{proc.stdout}\n{proc.stderr}")
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", script, **kw)

    def unit_property(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", "-P", prop, unit).stdout.strip()

    def wait_active(self, unit: str, timeout: float = 120):
        wait_for(lambda: self.unit_property(unit, "ActiveState") == "active", timeout,
                 f"{unit} active in {self.name}")

    def main_pid(self, unit: str) -> int:
        return int(self.unit_property(unit, "MainPID"))

    def journal(self, unit: str) -> str:
        return self.run("journalctl", "-u", unit, "-o", "cat", "--no-pager", check=False).stdout

    def shutdown(self, timeout: float = 90):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # nspawn turns SIGTERM into an orderly shutdown of the container's systemd.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.proc = None

    def reboot(self, *extra: str):
        self.shutdown()
        self.boot(*extra)

    def close(self):
        try:
            self.shutdown()
        finally:
            if self._mounted:
                subprocess.run(["umount", "-l", str(self.root)], check=False)
                self._mounted = False


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
