"""The power-cut harness: writers run on the power-cut filesystem, are killed at moments
chosen by what they have done (never by a clock), the unsynced data is dropped, and the
store is checked: every acknowledged vote present with its seq, ``PRAGMA integrity_check``
ok, no seq used twice.

``run_kiosk_cuts`` puts the terminal's vote store there with three writers at once, as on a
terminal: the capture path (the buttons), ``kiosk vote`` and the sync agent (``kiosk sync``,
uploading to a real district server on an ordinary disk). ``run_district_cuts`` puts the
district's SQLite there under a real ``district serve`` taking uploads.

Both return the problems they found instead of asserting, so the proof of the harness
(the same runs against a store committing with ``synchronous=OFF``) can expect them.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import BIN, clean_env, free_port, make_vote
from tests.helpers.powercut_fs import Mount
from tests.powercut import workers

HANG_GUARD_S = 120  # for a condition to become true: a hang guard, never a speed limit


@dataclass
class Outcome:
    cuts: int = 0
    acknowledged: dict[str, int | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    uploaded: int = 0  # votes the district holds from the terminal (kiosk runs)
    real_commands: int = 0  # cuts where the console scripts ran rather than forked children
    dropped_bytes: int = 0  # what the cuts threw away: a cut that drops nothing proves nothing
    cli_votes: int = 0  # of the acknowledged votes, those `kiosk vote` made


def check_store(db: Path, acknowledged: dict[str, int | None], cut: int,
                table: str = "votes", id_col: str = "id") -> tuple[list[str], set[str]]:
    """What is wrong with the store after a cut, and the vote ids it holds."""
    problems: list[str] = []
    try:
        conn = sqlite3.connect(db, timeout=30)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"cut {cut}: integrity_check: {integrity}")
            rows = conn.execute(f"SELECT {id_col}, seq FROM {table}").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [f"cut {cut}: the store cannot be read: {exc}"], set()
    seq_of = dict(rows)
    lost = [vid for vid in acknowledged if vid not in seq_of]
    if lost:
        problems.append(f"cut {cut}: {len(lost)} acknowledged vote(s) lost, e.g. {lost[0]}")
    moved = [vid for vid, seq in acknowledged.items()
             if seq is not None and vid in seq_of and seq_of[vid] != seq]
    if moved:
        problems.append(f"cut {cut}: {len(moved)} vote(s) changed seq, e.g. {moved[0]}")
    seqs = [seq for _, seq in rows]
    if len(seqs) != len(set(seqs)):
        problems.append(f"cut {cut}: a seq is used twice")
    return problems, set(seq_of)


class Acks:
    """Acknowledgements from the children (one pipe), counted as they arrive."""

    def __init__(self, context):
        self.recv, self.send = context.Pipe(duplex=False)
        self.got: list[tuple[str, int | None]] = []

    def wait_for(self, count: int) -> bool:
        while len(self.got) < count:
            if not self.recv.poll(HANG_GUARD_S):
                return False
            self.got.append(self.recv.recv())
        return True

    def drain(self) -> list[tuple[str, int | None]]:
        """After every child is dead: whatever they sent before."""
        with contextlib.suppress(EOFError, OSError):
            while self.recv.poll(0):
                self.got.append(self.recv.recv())
        return self.got

    def close(self) -> None:
        self.recv.close()
        self.send.close()


class Voter(threading.Thread):
    """``kiosk vote`` over and over until stopped, as a technician's script would; the real
    console script when ``real``, else the same ``main`` in a forked child."""

    def __init__(self, context, config: Path, acks: Acks, log: Path, synchronous, real: bool):
        super().__init__(daemon=True)
        self.context, self.config, self.acks, self.log = context, config, acks, log
        self.synchronous, self.real = synchronous, real
        self.stopping = threading.Event()
        self.current = None
        self.lock = threading.Lock()
        self.acked: list[tuple[str, int | None]] = []

    def run(self) -> None:
        level = 0
        while not self.stopping.is_set():
            level = level % 3 + 1
            if self.real:
                self._real_vote(level)
            else:
                self._forked_vote(level)
            self.stopping.wait(0.02)  # a technician's script, not a flood

    def _forked_vote(self, level: int) -> None:
        with self.lock:
            if self.stopping.is_set():
                return
            self.current = self.context.Process(
                target=workers.kiosk_vote, args=(str(self.config), level, self.acks.send,
                                                 str(self.log), self.synchronous))
            self.current.start()
        self.current.join()

    def _real_vote(self, level: int) -> None:
        with self.lock:
            if self.stopping.is_set():
                return
            self.current = subprocess.Popen(
                [str(BIN / "kiosk"), "--config", str(self.config), "--lang", "en", "vote",
                 str(level)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env=clean_env())
        out, _ = self.current.communicate()
        if self.current.returncode == 0:  # acknowledged: it exited 0 and printed the id
            self.acked.append((out.strip(), None))

    def kill(self) -> None:
        self.stopping.set()
        with self.lock:
            if self.current is not None:
                self.current.kill()
        self.join()


def kiosk_config(path: Path, store: Path, server_url: str, token: str, terminal: str) -> Path:
    path.write_text(f"""[terminal]
id = "{terminal}"
unit = "pc-unit"
[gpio]
enabled = false
[rules]
lockout_s = 0
debounce_ms = 0
misuse_max_votes = 1000
[storage]
path = "{store}"
[server]
url = "{server_url}"
token = "{token}"
timeout_s = 30
[sync]
interval_s = 0.05
batch_size = 20
heartbeat_interval_s = 1
max_backoff_s = 0.2
""", encoding="utf-8")
    return path


def district_votes(server_db: Path, terminal: str) -> set[str]:
    conn = sqlite3.connect(server_db, timeout=30)
    try:
        return {row[0] for row in conn.execute(
            "SELECT vote_id FROM votes WHERE terminal_id = ?", (terminal,))}
    finally:
        conn.close()


def run_kiosk_cuts(tmp: Path, server_url: str, server_db: Path, token: str, terminal: str,
                   cuts: int, seed: int, synchronous: str | None = None,
                   stop_at_problem: bool = False, real_every: int = 0) -> Outcome:
    """``cuts`` power cuts under the vote store while the three writers run."""
    rng = random.Random(seed)
    context = workers.forkserver()
    outcome = Outcome()
    log = tmp / "writers.log"
    with Mount(tmp / "disk", tmp / "mnt") as mount:
        store = mount.path / "votes.db"
        config = kiosk_config(tmp / "kiosk.toml", store, server_url, token, terminal)
        for cut in range(cuts):
            acks = Acks(context)
            real = bool(real_every) and cut % real_every == 0
            writer = context.Process(target=workers.capture_writer,
                                     args=(str(config), acks.send, str(log), synchronous))
            agent = context.Process(target=workers.kiosk_sync,
                                    args=(str(config), str(log), synchronous))
            voter = Voter(context, config, acks, log, synchronous, real)
            writer.start()
            # the others once the writer is in (three processes recovering the store at
            # once only wait for each other's locks)
            waited = acks.wait_for(1)
            agent.start()
            voter.start()
            before = len(district_votes(server_db, terminal))
            waited = waited and acks.wait_for(rng.randint(1, 12))
            if waited and rng.random() < 0.3:  # also cut while the agent settles a batch
                deadline = time.monotonic() + HANG_GUARD_S
                while (len(district_votes(server_db, terminal)) <= before
                       and time.monotonic() < deadline):
                    acks.wait_for(len(acks.got) + 1)
            time.sleep(rng.uniform(0, 0.004))  # into the middle of the next commits
            writer.kill()
            agent.kill()
            voter.kill()
            writer.join()
            agent.join()
            for vote_id, seq in [*acks.drain(), *voter.acked]:
                outcome.acknowledged[vote_id] = seq
                outcome.cli_votes += seq is None  # (the capture path sends its seq)
            acks.close()
            if not waited:
                outcome.problems.append(f"cut {cut}: no vote acknowledged within "
                                        f"{HANG_GUARD_S} s (see {log})")
            mount.cut(keep=rng.choice((0.0, 0.0, 0.5)), seed=rng.randrange(1 << 30))
            outcome.cuts += 1
            outcome.real_commands += real
            problems, held = check_store(store, outcome.acknowledged, cut)
            uploaded = district_votes(server_db, terminal)
            if uploaded - held:  # the agent never sends a vote the terminal may lose
                problems.append(f"cut {cut}: the district has {len(uploaded - held)} vote(s) "
                                "the terminal lost")
            outcome.uploaded = len(uploaded)
            outcome.problems += problems
            if problems and stop_at_problem:
                break
        outcome.dropped_bytes = mount.state()["dropped_bytes"]
    return outcome


# --- the district ---------------------------------------------------------------------------

class Uploader(threading.Thread):
    """A terminal sending batches, at least once: a batch without an answer is sent again.
    Acknowledged = in an answer's ``accepted`` or ``duplicate``."""

    def __init__(self, url: str, token: str, terminal: str, rng: random.Random):
        super().__init__(daemon=True)
        self.url, self.token, self.terminal, self.rng = url, token, terminal, rng
        self.acked: dict[str, int] = {}
        self.batches = 0
        self.seq = 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()

    def _batch(self) -> list[dict]:
        batch = []
        for _ in range(self.rng.randint(1, 40)):
            self.seq += 1
            batch.append(make_vote(seq=self.seq, level=self.seq % 3 + 1,
                                   monotonic_ns=self.seq * 1_000_000))
        return batch

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        batch = self._batch()
        with httpx.Client(timeout=30) as client:
            while not self.stopping.is_set():
                body = {"terminal_id": self.terminal, "sent_at": batch[0]["recorded_at"],
                        "votes": batch}
                try:
                    answer = client.post(self.url + "/api/v1/votes", json=body,
                                         headers=headers)
                except httpx.TransportError:
                    self.stopping.wait(0.02)  # the server is down: the same batch again
                    continue
                if answer.status_code != 200:
                    self.stopping.wait(0.02)
                    continue
                data = answer.json()
                seq_of = {v["id"]: v["seq"] for v in batch}
                with self.changed:
                    for vote_id in data["accepted"] + data["duplicate"]:
                        self.acked[vote_id] = seq_of[vote_id]
                    self.batches += 1
                    self.changed.notify_all()
                batch = self._batch()

    def wait_for_batches(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.batches >= count, HANG_GUARD_S)


class Server:
    """``district serve`` on the mount: the console script when ``real``, else the same
    ``main`` in a forked child."""

    def __init__(self, context, db_url: str, port: int, log: Path,
                 synchronous: str | None = None):
        self.context, self.db_url, self.port, self.log = context, db_url, port, log
        self.synchronous = synchronous
        self.proc = None

    def start(self, real: bool) -> bool:
        if real:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [str(BIN / "district"), "--db", self.db_url, "serve", "--host",
                     "127.0.0.1", "--port", str(self.port)], stdout=out, stderr=out,
                    env=clean_env())
        else:
            self.proc = self.context.Process(target=workers.district_serve, args=(
                self.db_url, self.port, str(self.log), self.synchronous))
            self.proc.start()
        deadline = time.monotonic() + HANG_GUARD_S
        with httpx.Client(timeout=5) as client:  # one client: each new one loads CA files
            while time.monotonic() < deadline and self._alive():
                try:
                    if client.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        return False

    def _alive(self) -> bool:
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.poll() is None
        return self.proc.is_alive()

    def kill(self) -> None:
        self.proc.kill()
        if isinstance(self.proc, subprocess.Popen):
            self.proc.wait()
        else:
            self.proc.join()


def prepare_district(db_url: str, terminal: str) -> str:
    """A migrated database with the terminal registered; its token. (In this process: the
    engine is disposed before any cut, so no file of the mount stays open here.)"""
    from district import fleet
    from district.db import open_engine

    engine = open_engine(db_url)
    try:
        return fleet.register_terminal(engine, terminal, "pc-unit", "power cut")
    finally:
        engine.dispose()


def run_district_cuts(tmp: Path, cuts: int, seed: int, real_every: int = 0,
                      synchronous: str | None = None, stop_at_problem: bool = False) -> Outcome:
    """``cuts`` power cuts under the district's SQLite while a terminal uploads."""
    rng = random.Random(seed)
    context = workers.forkserver()
    outcome = Outcome()
    terminal = "pc-district"
    with Mount(tmp / "disk", tmp / "mnt") as mount:
        db = mount.path / "district.db"
        db_url = f"sqlite:///{db}"
        token = prepare_district(db_url, terminal)
        port = free_port()
        server = Server(context, db_url, port, tmp / "server.log", synchronous)
        uploader = Uploader(f"http://127.0.0.1:{port}", token, terminal, rng)
        uploader.start()
        try:
            for cut in range(cuts):
                real = bool(real_every) and cut % real_every == 0
                if not server.start(real):
                    outcome.problems.append(f"cut {cut}: the server did not start (see "
                                            f"{tmp / 'server.log'})")
                    break
                started = uploader.batches
                if not uploader.wait_for_batches(started + rng.randint(1, 6)):
                    outcome.problems.append(f"cut {cut}: no batch stored within "
                                            f"{HANG_GUARD_S} s")
                time.sleep(rng.uniform(0, 0.01))  # into the middle of the next batches
                server.kill()
                with uploader.changed:
                    acknowledged = dict(uploader.acked)
                mount.cut(keep=rng.choice((0.0, 0.0, 0.5)), seed=rng.randrange(1 << 30))
                outcome.cuts += 1
                outcome.real_commands += real
                problems, _ = check_store(db, acknowledged, cut, id_col="vote_id")
                outcome.acknowledged = acknowledged
                outcome.problems += problems
                if problems and stop_at_problem:
                    break
            outcome.dropped_bytes = mount.state()["dropped_bytes"]
        finally:
            uploader.stopping.set()
            uploader.join()
    return outcome
