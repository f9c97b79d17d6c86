"""What the steering tests share: a district with a unit tree on a real server, terminals
registered, each terminal's ``kiosk sync`` in its own folder, and waits on conditions."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.helpers import BIN, DistrictServer, add_terminal, clean_env, district

UNITS = [{"id": "q", "name": "Quận Hai Bà Trưng"},
         {"id": "p1", "name": "Phường Bạch Mai", "parent": "q"},
         {"id": "p2", "name": "Phường Thanh Nhàn", "parent": "q"}]


class District:
    """A real ``district serve`` on its database, with the unit tree above loaded."""

    def __init__(self, db_url: str, folder: Path):
        self.db_url, self.folder = db_url, folder
        fleet = folder / "fleet.toml"
        fleet.write_text("".join(
            f'[[units]]\nid = "{u["id"]}"\nname = "{u["name"]}"\nparent = "{u.get("parent", "")}"\n'
            for u in UNITS), encoding="utf-8")
        self.env = clean_env(DISTRICT_ALERT_INTERVAL_S="0", DISTRICT_LANG="en")
        self.cli_ok("units", "load", str(fleet))
        self.server = DistrictServer(db_url, env=self.env, cwd=folder,
                                     log=folder / "district.log")
        self.tokens: dict[str, str] = {}

    def cli(self, *args: str, lang: str = "en") -> subprocess.CompletedProcess:
        return district(self.db_url, *args, env=self.env, cwd=self.folder, lang=lang)

    def cli_ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, f"district {' '.join(args)}: {done.stderr}"
        return done.stdout

    def register(self, terminal_id: str, unit: str) -> str:
        self.tokens[terminal_id] = add_terminal(self.db_url, terminal_id, unit, env=self.env,
                                                cwd=self.folder)
        return self.tokens[terminal_id]

    def rows(self, sql: str, **params) -> list[dict]:
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
        finally:
            engine.dispose()

    def steering(self, terminal_id: str) -> dict | None:
        found = self.rows("SELECT * FROM terminal_steering WHERE terminal_id = :t",
                          t=terminal_id)
        return found[0] if found else None

    def official(self, name: str, role: str = "district", unit: str | None = None
                 ) -> httpx.Client:
        """A signed-in browser-like client of an official (a new account)."""
        extra = ["--unit", unit] if unit else []
        done = subprocess.run([str(BIN / "district"), "--db", self.db_url, "users", "add",
                               name, "--role", role, *extra, "--password-stdin"],
                              input="correct horse battery\n", capture_output=True,
                              text=True, env=self.env, cwd=self.folder, timeout=60)
        assert done.returncode == 0, done.stderr
        client = httpx.Client(base_url=self.server.url, timeout=30)
        answer = client.post("/login", data={"username": name,
                                             "password": "correct horse battery"})
        assert answer.status_code == 303, answer.text
        return client


class Terminal:
    """One terminal's folder (its kiosk.toml, vote store, settings) and its sync agent."""

    def __init__(self, folder: Path, terminal_id: str, url: str, token: str, **settings):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "kiosk.toml"
        config.write_text("# the tests' settings are KIOSK_* variables\n")
        self.env = clean_env(
            KIOSK_CONFIG=str(config), KIOSK_LANG="en", KIOSK_TERMINAL__ID=terminal_id,
            KIOSK_STORAGE__PATH=str(folder / "votes.db"), KIOSK_GPIO__PIN_FACTORY="mock",
            KIOSK_SERVER__URL=url, KIOSK_SERVER__TOKEN=token,
            KIOSK_SYNC__HEARTBEAT_INTERVAL_S="0.3", KIOSK_SYNC__INTERVAL_S="0.2",
            KIOSK_SYNC__MAX_BACKOFF_S="0.5", PYTHONUNBUFFERED="1",
            **{f"KIOSK_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen | None = None

    def start(self) -> Terminal:
        log = (self.folder / "sync.log").open("ab")
        self.proc = subprocess.Popen([str(BIN / "kiosk"), "sync"], env=self.env, stdout=log,
                                     stderr=log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stored(self) -> dict | None:
        try:
            return json.loads((self.folder / "settings.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def log(self) -> str:
        try:
            return (self.folder / "sync.log").read_text(errors="replace")
        except OSError:
            return ""


def wait_for(predicate, *, timeout: float = 90, what: str = "condition", interval=0.1):
    """Until ``predicate()`` is truthy (a guard against hangs, not a speed test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
