"""Deployment tests: real Debian roots (debootstrap), the real .debs (packaging/build-debs.sh),
booted with systemd-nspawn -b. Roots are debootstrapped once per machine (cached under
/var/tmp/hailong-roots, keyed by release and package list) and each test machine is an
overlay on them; the packages are built once per test run. Needs root and the Debian packages
of the Makefile's APT_PACKAGES (debootstrap, systemd-container, dpkg-dev): without them the
tests skip on a developer's machine and fail in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.machines import PACKAGING, REPO, wait_for

RELEASES = ["bookworm", "trixie"]
VENV_DISTRICT = REPO / ".venv/bin/district"


def need_deploy_tools():
    missing = [t for t in ("debootstrap", "systemd-nspawn", "dpkg-deb", "nsenter")
               if not shutil.which(t)]
    reason = None
    if os.geteuid() != 0:
        reason = "the deployment tests need root (debootstrap, overlay mounts, systemd-nspawn)"
    elif missing:
        reason = f"missing {', '.join(missing)} (make system-packages installs them)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def debs(tmp_path_factory, request, arm64_build):
    """Builds, once per run and per release asked for: hailong-kiosk and hailong-district
    (build 1) and hailong-kiosk build 2 (the upgrade). Returns release -> {name: path}.
    Once the first release is built, the arm64 build starts in the background when the
    session will run the arm64 test (one build at a time: they share the pip cache)."""
    need_deploy_tools()
    # HAILONG_TEST_DEBS=DIR: use the .debs already built there (a developer's rerun).
    given = os.environ.get("HAILONG_TEST_DEBS")
    out = Path(given) if given else tmp_path_factory.mktemp("debs")
    built: dict[str, dict[str, Path]] = {}

    def get(release: str) -> dict[str, Path]:
        if release not in built and given:
            built[release] = {p.name.split("_")[0] + ("-2" if "-2+" in p.name else ""): p
                              for p in out.glob(f"*+{release}_amd64.deb")}
        if release not in built:
            started = time.monotonic()
            for args in (["--build", "1"], ["--package", "kiosk", "--build", "2"]):
                proc = subprocess.run([str(PACKAGING / "build-debs.sh"), "--release", release,
                                       "--arch", "amd64", "--out", str(out), *args],
                                      capture_output=True, text=True, timeout=1800)
                assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
            found = {p.name.split("_")[0] + ("-2" if "-2+" in p.name else ""): p
                     for p in out.glob(f"*+{release}_amd64.deb")}
            assert set(found) == {"hailong-kiosk", "hailong-kiosk-2", "hailong-district"}, found
            print(f"\n.debs for {release} built in {time.monotonic() - started:.0f} s")
            built[release] = found
            start_arm64_if_wanted(request.session, arm64_build)
        return built[release]

    return get


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DistrictOnHost:
    """A real `district serve` on the host's 127.0.0.1, on HTTPS with its own CA made by
    `district setup` (the nspawn machines share the host's network)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = folder / "district.toml"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DISTRICT_CONFIG": str(self.config),
                    "DISTRICT_DB": f"sqlite:///{folder / 'district.db'}"}
        self.env.pop("CI", None)
        self.cli("setup", "--host", "127.0.0.1", "--listen", f"127.0.0.1:{self.port}")
        self.log = (folder / "serve.log").open("w")
        self.proc = subprocess.Popen([str(VENV_DISTRICT), "serve"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._up, 60, f"district serve on {self.url}")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError((self.folder / "serve.log").read_text())
        proc = subprocess.run(["curl", "-sf", "--cacert", str(self.folder / "ca.pem"),
                               f"{self.url}/healthz"], capture_output=True, timeout=30)
        return proc.returncode == 0

    def cli(self, *args: str) -> str:
        proc = subprocess.run([str(VENV_DISTRICT), *args], capture_output=True, text=True,
                              env=self.env, timeout=120, cwd=self.folder)
        assert proc.returncode == 0, f"district {args}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def provision(self) -> Path:
        out = self.folder / "provisioned"
        if not out.exists():
            self.cli("fleet", "provision", str(REPO / "config/fleet.toml"), "--server-url",
                     self.url, "--out", str(out))
        return out

    def votes_of(self, terminal: str) -> int:
        import json
        stats = json.loads(self.cli("stats", "--json"))
        return int(stats["by_terminal"].get(terminal, 0))

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


@pytest.fixture(scope="session")
def district_on_host(tmp_path_factory):
    need_deploy_tools()
    if not VENV_DISTRICT.exists():
        pytest.fail(f"{VENV_DISTRICT} is missing (make venv)")
    server = DistrictOnHost(tmp_path_factory.mktemp("district"))
    yield server
    server.close()


# -- arm64 under qemu-user: slow, so built beside the amd64 tests ---------------------------

ARM64_TESTS = "test_arm64.py"


def pytest_collection_modifyitems(config, items):
    """The arm64 test runs last: its package builds under emulation in the background while
    the amd64 machines boot (see arm64_build), instead of before them."""
    items.sort(key=lambda item: item.path.name == ARM64_TESTS)


class BackgroundBuild:
    """`build-debs.sh --arch arm64 --package kiosk`, started once, waited for on demand."""

    def __init__(self, out: Path):
        self.out = out
        self.log = out / "build.log"
        self.proc: subprocess.Popen | None = None

    def start(self):
        if self.proc is None:
            with self.log.open("w") as log:
                self.proc = subprocess.Popen(
                    [str(PACKAGING / "build-debs.sh"), "--release", "bookworm", "--arch",
                     "arm64", "--package", "kiosk", "--out", str(self.out)],
                    stdout=log, stderr=subprocess.STDOUT)

    def __call__(self) -> Path:
        self.start()
        assert self.proc.wait(timeout=3000) == 0, self.log.read_text()[-4000:]
        (deb,) = self.out.glob("hailong-kiosk_*_arm64.deb")
        return deb

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


@pytest.fixture(scope="session")
def arm64_build(tmp_path_factory):
    build = BackgroundBuild(tmp_path_factory.mktemp("debs-arm64"))
    yield build
    build.stop()


def start_arm64_if_wanted(session, build: BackgroundBuild):
    from tests.deploy.test_arm64 import aarch64_emulation

    if any(item.path.name == ARM64_TESTS for item in session.items) and not aarch64_emulation():
        build.start()
