"""The district server as the tests run it: for real, in a subprocess on a free loopback port
(``district serve``, or any command serving the app), and fresh databases (SQLite files,
throwaway PostgreSQL databases) to point it at. Every area (district, sync, doctor,
provision, dashboard) uses these, so "start a server and wait until it answers" exists once."""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.helpers.env import clean_env
from tests.helpers.services import BIN, PG_ADMIN_URL, REPO, require


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DistrictServer:
    """``district --db URL serve`` on 127.0.0.1; started, stopped (SIGTERM) or killed
    (SIGKILL), and started again on the same port and database.

    ``cmd`` replaces the command (``"PORT"`` in it becomes the port); ``log`` collects the
    server's output (else stderr is kept for the error when it dies at start)."""

    def __init__(self, db_url: str, *, workers: int = 1, port: int | None = None,
                 env: dict[str, str] | None = None, cmd: list[str] | None = None,
                 cwd: Path = REPO, log: Path | None = None):
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env if env is not None else clean_env()
        self.cwd, self.log = Path(cwd), log
        self.cmd = ([str(self.port) if a == "PORT" else a for a in cmd] if cmd else
                    [str(BIN / "district"), "--db", db_url, "serve", "--host", "127.0.0.1",
                     "--port", str(self.port), "--workers", str(workers)])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180, ready_path: str = "/healthz") -> DistrictServer:
        """Start and wait until ``ready_path`` answers 200. The wait is a hang guard: on a
        machine loaded 20 deep a server's imports alone took over 30 s."""
        if self.log:
            stdout = stderr = self.log.open("ab")
        else:  # stderr kept for the message if it dies at start (it logs warnings only)
            stdout, stderr = subprocess.DEVNULL, subprocess.PIPE
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=stdout,
                                     stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the district server exited: {self._output()}")
            try:
                if httpx.get(self.url + ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the district server did not answer within {timeout} s")

    def _output(self) -> str:
        if self.log:
            return self.log.read_text(errors="replace")
        return self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, whatever was in progress is cut."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class PostgresUnavailable(Exception):
    pass


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path | None = None,
                   prefix: str = "hl_test") -> Iterator[str]:
    """The URL of an empty database: ``"sqlite"`` a file in ``folder``, ``"postgres"`` a new
    PostgreSQL database (skipped on a developer's machine without PostgreSQL, a failure in
    CI: ``require``)."""
    if kind == "sqlite":
        yield f"sqlite:///{Path(folder) / 'district.db'}"
        return
    try:
        with fresh_pg_database(prefix) as url:
            yield url
    except PostgresUnavailable as exc:
        require(False, f"PostgreSQL reachable ({exc})")


@contextlib.contextmanager
def fresh_engine(kind: str, folder: Path | None = None, units: list[dict] = ()):
    """An engine on a fresh, migrated database holding ``units`` (a fleet file's list),
    disposed afterwards."""
    from district.db import create_db_engine, migrate
    from district.fleet import load_units

    with fresh_database(kind, folder) as url:
        engine = create_db_engine(url)
        try:
            migrate(engine)
            if units:
                load_units(engine, {"units": list(units)})
            yield engine
        finally:
            engine.dispose()


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "hl_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards; raises
    ``PostgresUnavailable`` when the server cannot be reached."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise PostgresUnavailable(str(exc).strip()) from exc
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
