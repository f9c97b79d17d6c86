"""Helpers of the sync tests (imported as a module)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from kiosk import clock
from kiosk.store import VoteStore
from kiosk.vote import Source, new_vote
from tests.helpers import BIN, add_terminal, clean_env
from tests.helpers import DistrictServer as SharedDistrictServer

TERMINAL_ID = "sync-test"
UNIT_ID = "ward-test"


class DistrictServer(SharedDistrictServer):
    """The shared ``district serve`` process (SIGKILL and restart on its database), with
    the sync tests' own helpers: its CLI, terminal registration, what it stored."""

    def __init__(self, db_url: str, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        super().__init__(db_url, port=port, cwd=self.workdir,
                         env=clean_env(DISTRICT_DB=db_url, DISTRICT_LANG="en"),
                         log=self.workdir / "district-serve.log")
        self.tokens: dict[str, str] = {}

    def cli(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "district"), *args], env=self.env, cwd=self.workdir,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"district {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def register(self, terminal_id: str, unit: str = UNIT_ID) -> str:
        token = add_terminal(None, terminal_id, unit, env=self.env, cwd=self.workdir)
        self.tokens[terminal_id] = token
        return token

    def stats(self) -> dict:
        return json.loads(self.cli("stats", "--json"))

    def vote_ids(self, terminal_id: str = TERMINAL_ID) -> list[str]:
        """Every stored vote id of the terminal, straight from the server's database (a list:
        a vote stored twice would show twice)."""
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(
                    "SELECT vote_id FROM votes WHERE terminal_id = :t"), {"t": terminal_id}
                ).scalars())
        finally:
            engine.dispose()

    def heartbeats(self, terminal_id: str = TERMINAL_ID) -> list[dict]:
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.text(
                    "SELECT * FROM heartbeats WHERE terminal_id = :t"), {"t": terminal_id})]
        finally:
            engine.dispose()


def kiosk_environment(tmp_path: Path, *, url: str, token: str, terminal_id: str = TERMINAL_ID,
                      **overrides: object) -> dict[str, str]:
    """Environment for `kiosk` subprocesses: an empty config file (no /etc layers), the store
    in tmp_path, English messages, short backoff so faults cost seconds."""
    config = tmp_path / "kiosk.toml"
    config.write_text("# settings come from KIOSK_* variables in the tests\n")
    env = clean_env()
    env.update({
        "KIOSK_CONFIG": str(config),
        "KIOSK_LANG": "en",
        "KIOSK_TERMINAL__ID": terminal_id,
        "KIOSK_STORAGE__PATH": str(tmp_path / "votes.db"),
        "KIOSK_GPIO__PIN_FACTORY": "mock",
        "KIOSK_SERVER__URL": url,
        "KIOSK_SERVER__TOKEN": token,
        # long enough that a loaded machine's slow answer is never taken for a lost one
        # (a resent batch would change the counts the tests assert); the proxy's "hang"
        # outlasts it
        "KIOSK_SERVER__TIMEOUT_S": "10",
        "KIOSK_SYNC__MAX_BACKOFF_S": "0.3",
        "KIOSK_SYNC__INTERVAL_S": "0.2",
        "KIOSK_SYNC__BATCH_SIZE": "50",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({f"KIOSK_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def kiosk(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kiosk"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def kiosk_popen(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen([str(BIN / "kiosk"), *args], env=env, stdout=out, stderr=out)


def store_of(env: dict[str, str]) -> VoteStore:
    return VoteStore(env["KIOSK_STORAGE__PATH"], env["KIOSK_TERMINAL__ID"])


def make_votes(store: VoteStore, count: int, *, chunk: int = 5000) -> None:
    """``count`` votes through the store's own insert path, many per transaction (fast);
    each vote is a real Vote with its own id, clock readings and seq."""
    instant = clock.now()
    made = 0
    while made < count:
        size = min(chunk, count - made)
        votes = [new_vote(1 + (made + i) % 3, 3, Source.GPIO, instant) for i in range(size)]
        rows = [(v.id, store.terminal_id, v.level, v.scale, str(v.source),
                 v.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), int(v.clock_synced),
                 v.boot_id, v.monotonic_ns + i) for i, v in enumerate(votes)]
        with store.write() as conn:
            conn.executemany(
                "INSERT INTO votes (id, terminal_id, level, scale, source, recorded_at,"
                " clock_synced, boot_id, monotonic_ns) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        made += size


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.05, what: str = "condition"):
    """Until ``predicate()`` is true (its value); the timeout is a hang guard only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def assert_server_holds_exactly(server: DistrictServer, env: dict[str, str]) -> None:
    """The acceptance check: the server has every vote of the kiosk, none twice, no other."""
    with store_of(env) as store:
        kiosk_ids = store.all_ids()
        counts = store.counts()
    server_ids = server.vote_ids(env["KIOSK_TERMINAL__ID"])
    missing = kiosk_ids - set(server_ids)
    assert not missing, f"{len(missing)} votes missing on the server"
    assert len(server_ids) == len(set(server_ids)), "a vote is stored twice on the server"
    assert set(server_ids) == kiosk_ids, "the server holds votes the kiosk never made"
    assert counts["synced"] == len(kiosk_ids), counts
    stats = server.stats()
    assert stats["by_terminal"][env["KIOSK_TERMINAL__ID"]] == len(kiosk_ids)
