"""A district set up for real in a test's tmp_path (its own configuration file through
``DISTRICT_CONFIG``, CA, server certificate, release key, SQLite database), and ``district
serve`` on HTTPS on a loopback port, started from that file alone: the fixtures of
tests/setup and tests/trust (each conftest imports them from here).

Everything runs through the installed console scripts (``district``, ``kiosk``) from a
working folder of its own, so nothing can lean on a ``district.db`` in the working folder."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.helpers import BIN, clean_env, free_port

HOST = "district.test"  # a name the certificate is made for (browsers would use it)


@dataclass
class District:
    root: Path
    port: int
    env: dict[str, str]
    password: str = ""
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def config(self) -> Path:
        return self.etc / "district.toml"

    @property
    def ca(self) -> Path:
        return self.etc / "ca.pem"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def elsewhere(self) -> Path:
        """A working folder that is neither the data nor the configuration folder."""
        folder = self.root / "elsewhere"
        folder.mkdir(exist_ok=True)
        return folder

    def run(self, *args: str, cwd: Path | None = None, **more_env: str
            ) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "district"), "--lang", "en", *args],
                              capture_output=True, text=True, timeout=120, check=False,
                              cwd=cwd or self.elsewhere, env={**self.env, **more_env})

    def setup(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("setup", "--host", HOST, "--listen", f"127.0.0.1:{self.port}", *args)

    def serve(self, timeout: float = 60) -> District:
        """``district serve`` with no option: address, port and TLS from the file."""
        log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen([str(BIN / "district", ), "serve"], cwd=self.elsewhere,
                                     env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.root / "serve.log").read_text()
            try:
                if requests.get(self.url + "/healthz", verify=str(self.ca),
                                timeout=2).status_code == 200:
                    return self
            except requests.exceptions.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"no HTTPS answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None


@pytest.fixture
def district_root(tmp_path) -> District:
    """A district not set up yet: where its files will go, and the environment."""
    root = tmp_path / "district"
    root.mkdir()
    env = clean_env(DISTRICT_CONFIG=str(root / "etc" / "district.toml"),
                    DISTRICT_DB=f"sqlite:///{root / 'var' / 'district.db'}",
                    XDG_DATA_HOME=str(root / "data"))
    return District(root, free_port(), env)


@pytest.fixture
def installed(district_root: District) -> District:
    """``district setup`` done once, with a first district official; then the database is
    named by the configuration file alone (no DISTRICT_DB any more)."""
    done = district_root.setup("--official", "chief")
    assert done.returncode == 0, done.stderr
    made = re.search(r"official chief created; password \(shown only this once\): (\S+)$",
                     done.stdout, re.MULTILINE)
    assert made, done.stdout
    district_root.password = made.group(1)
    del district_root.env["DISTRICT_DB"]
    return district_root


@pytest.fixture
def serving(installed: District):
    yield installed.serve()
    installed.stop()
