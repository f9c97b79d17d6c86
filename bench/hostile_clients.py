"""Other clients' latency while one client attacks the district server (issue 14).

Starts a real ``district serve`` (SQLite) on loopback and, in one run, measures the p50/p99
of well-behaved terminals (each: a batch of 5 votes, then a heartbeat, again and again, on
keep-alive connections) with no attack, then during each attack:

- ``slowloris``: ATTACK_CONNECTIONS connections, each sending its head one byte a second;
- ``header``: a client sending 16 MiB header fields, connection after connection;
- ``guessers``: 8 threads guessing an official's password as fast as they are answered;
- ``idle``: ATTACK_CONNECTIONS connections that say nothing.

Both servers run with 1,024 file descriptors (systemd's default, the issue's case).

``--before PATH`` runs the same phases against the server of another checkout (e.g. a
``git worktree`` of the commit before issue 14) in the same run: the A/B of what the limits
change, attacks and plain ingest alike.

    .venv/bin/python bench/hostile_clients.py [--seconds 10] [--before /tmp/hl-before]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import DistrictServer, clean_env, iso, make_vote, utcnow  # noqa: E402

TERMINALS = 4
ATTACK_CONNECTIONS = 1500
PASSWORD = "mot-mat-khau-dai"


def prepare(tree: Path, folder: Path) -> tuple[str, list[str]]:
    """A migrated database of the given checkout, with terminals and an official."""
    url = f"sqlite:///{folder / 'district.db'}"
    code = (
        "import sys; from district import db; from district.fleet import register_terminal;"
        "from district.dashboard.accounts import add_user;"
        f"e = db.create_db_engine({url!r}); db.migrate(e);"
        f"add_user(e, 'chief', {PASSWORD!r}, 'district');"
        f"print(' '.join(register_terminal(e, f't-{{i}}', 'u', '') for i in range({TERMINALS})))")
    import subprocess
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean_env(PYTHONPATH=str(tree)), cwd=folder, check=True)
    return url, done.stdout.split()


def serve(tree: Path, url: str, folder: Path) -> DistrictServer:
    # under systemd's default of 1,024 descriptors (the case; district.service now
    # sets LimitNOFILE=65536)
    cmd = ["sh", "-c", f"ulimit -n 1024 && exec {sys.executable} -c "
           "'import sys; from district.cli import main; sys.exit(main())' \"$@\"", "sh",
           "--db", url, "serve", "--host", "127.0.0.1", "--port", "PORT"]
    # (the terminals here send as fast as answered: far above the per-terminal rate limit)
    env = clean_env(PYTHONPATH=str(tree), DISTRICT_ALERT_INTERVAL_S="0",
                    DISTRICT_INGEST_PER_TERMINAL="10000/second")
    return DistrictServer(url, cmd=cmd, env=env, cwd=folder, log=folder / "serve.log").start()


def terminal_load(base: str, tokens: list[str], seconds: float) -> list[float]:
    """Latencies (ms) of the terminals' requests over ``seconds``."""
    latencies: list[float] = []
    failures = [0]
    end = time.monotonic() + seconds

    def run(n: int, token: str):
        headers = {"Authorization": f"Bearer {token}"}
        seq = int(time.time() * 1000) % 10**9
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while time.monotonic() < end:
                seq += 10
                batch = {"terminal_id": f"t-{n}", "sent_at": iso(utcnow()),
                         "votes": [make_vote(seq=seq + i) for i in range(5)]}
                beat = {"terminal_id": f"t-{n}", "sent_at": iso(utcnow()), "boot_id": "b",
                        "monotonic_ns": 1}
                for path, body in (("/api/v1/votes", batch), ("/api/v1/heartbeat", beat)):
                    start = time.perf_counter()
                    try:
                        ok = client.post(path, json=body).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append((time.perf_counter() - start) * 1000)
                    failures[0] += not ok

    threads = [threading.Thread(target=run, args=(n, t)) for n, t in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.append(-failures[0])  # the last item: how many failed (negated)
    return latencies


class Attack:
    """An attack runs in a process of its own (its threads must not take the measuring
    process's GIL): ``start`` forks it, ``end`` stops it."""

    def __init__(self, port: int):
        self.port, self.threads, self.proc = port, [], None
        self.stop = multiprocessing.get_context("fork").Event()

    def start(self):
        if type(self).run_attack is not Attack.run_attack:
            self.proc = multiprocessing.get_context("fork").Process(target=self._child)
            self.proc.start()
        return self

    def _child(self):
        self.run_attack()
        for t in self.threads:
            t.join()

    def run_attack(self):
        """Start self.threads (in the attack's process)."""

    def end(self):
        self.stop.set()
        if self.proc is not None:
            self.proc.join(60)

    def connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return None


class SlowLoris(Attack):
    def run_attack(self):
        def run():
            socks = []
            while not self.stop.is_set():
                while len(socks) < ATTACK_CONNECTIONS and not self.stop.is_set():
                    sock = self.connect()
                    if sock:
                        socks.append(sock)
                for sock in list(socks):
                    try:
                        sock.send(b"X")
                    except OSError:
                        socks.remove(sock)
                self.stop.wait(1)
            for sock in socks:
                sock.close()
        self.threads = [threading.Thread(target=run)]
        self.threads[0].start()


class Idle(Attack):
    def run_attack(self):
        def run():
            socks = []
            while not self.stop.is_set():
                while len(socks) < ATTACK_CONNECTIONS and not self.stop.is_set():
                    if (sock := self.connect()) is not None:
                        socks.append(sock)
                alive = []
                for sock in socks:  # the server may have closed some: open others
                    sock.setblocking(False)
                    try:
                        gone = sock.recv(1) == b""
                    except BlockingIOError:
                        gone = False
                    except OSError:
                        gone = True
                    (sock.close() if gone else alive.append(sock))
                socks = alive
                self.stop.wait(0.5)
            for sock in socks:
                sock.close()
        self.threads = [threading.Thread(target=run)]
        self.threads[0].start()


class HugeHeader(Attack):
    def run_attack(self):
        def run():
            chunk = b"a" * 65536
            while not self.stop.is_set():
                sock = self.connect()
                if sock is None:
                    continue
                try:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                    for _ in range(256):  # 16 MiB
                        if self.stop.is_set():
                            break
                        sock.sendall(chunk)
                except OSError:
                    pass
                finally:
                    sock.close()
        self.threads = [threading.Thread(target=run)]
        self.threads[0].start()


class Guessers(Attack):
    def run_attack(self):
        def run(n: int):
            with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60) as c:
                while not self.stop.is_set():
                    try:
                        c.post("/login", data={"username": "chief", "password": f"g{n}"})
                    except httpx.HTTPError:
                        pass
        self.threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
        for t in self.threads:
            t.start()


ATTACKS = {"none": Attack, "slowloris": SlowLoris, "header": HugeHeader,
           "guessers": Guessers, "idle": Idle}


def summary(latencies: list[float]) -> str:
    failed = -int(latencies.pop())
    if not latencies:
        return f"no answers, {failed} failed"
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return (f"{len(latencies):6d} requests  p50 {q[49]:7.1f} ms  p99 {q[98]:8.1f} ms  "
            f"max {max(latencies):8.1f} ms  failed {failed}")


def run_tree(name: str, tree: Path, seconds: float, attacks: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix=f"hl-bench-{name}-") as tmp:
        folder = Path(tmp)
        url, tokens = prepare(tree, folder)
        server = serve(tree, url, folder)
        try:
            for attack_name in attacks:
                attack = ATTACKS[attack_name](server.port).start()
                time.sleep(1 if attack_name != "none" else 0)  # let it take hold
                result = terminal_load(server.url, tokens, seconds)
                attack.end()
                alive = server.proc.poll() is None
                print(f"{name:7s} {attack_name:10s} {summary(result)}"
                      f"{'' if alive else '  SERVER DIED'}", flush=True)
                time.sleep(2)  # let the server settle between phases
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    args = parser.parse_args()
    attacks = args.attacks.split(",")
    print(f"{TERMINALS} terminals (5-vote batch + heartbeat, keep-alive), {args.seconds:.0f} s "
          f"a phase, {ATTACK_CONNECTIONS} attack connections, CPUs {os.cpu_count()}")
    run_tree("now", REPO, args.seconds, attacks)
    if args.before:
        run_tree("before", args.before, args.seconds, attacks)


if __name__ == "__main__":
    main()
