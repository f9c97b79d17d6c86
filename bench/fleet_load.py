"""Fleet load: N simulated terminals, each a heartbeat and a small batch per minute.

    .venv/bin/python bench/fleet_load.py [--terminals 10000] [--minutes 2] [--workers 2]
                                         [--batch 3] [--wards 0] [--steering] [--write]

Starts ``district serve --workers W`` on loopback against a fresh PostgreSQL database,
registers the terminals, then for ``--minutes`` every terminal sends, at its own random
second of each minute, ``POST /api/v1/heartbeat`` then ``POST /api/v1/votes`` (``--batch``
votes). The load generator is plain asyncio over keep-alive HTTP/1.1 connections (cheap on
CPU, so it steals little from the server on the same machine). Reports p50/p99/max latency
and errors (any non-200 or transport failure), also per path. Target: p99 < 200 ms, zero
errors.

``--wards N`` spreads the terminals over N units below the root (the rollups then count
each vote in two units). ``--steering`` (20 wards unless ``--wards`` says otherwise) turns
fleet steering on as a district runs it: settings at the fleet, at every ward and at one
terminal in a hundred, an open request (never answered, so it rides on every answer) for one
terminal in a hundred, and every heartbeat reports the settings version its terminal runs.
The same-run baseline is the same fleet without ``--steering``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import REPO, Database, iso, machine, start_server  # noqa: E402

from district import db  # noqa: E402
from district.auth import hash_token, new_token  # noqa: E402


def register_fleet(database: Database, n: int, wards: int = 0) -> dict[str, str]:
    """Bulk registration (one statement): register_terminal one by one would take minutes."""
    tokens = {f"sim-{i:05d}": new_token() for i in range(n)}
    now = dt.datetime.now(dt.UTC)
    ward_ids = [f"sim-w{w:02d}" for w in range(wards)] or ["sim"]
    with database.engine.begin() as conn:
        conn.execute(db.units.insert().values(id="sim", name="Simulated", kind="",
                                              created_at=now))
        if wards:
            conn.execute(db.units.insert(), [
                {"id": w, "name": w, "kind": "", "parent_id": "sim", "created_at": now}
                for w in ward_ids])
        conn.execute(db.terminals.insert(), [
            {"id": t, "unit_id": ward_ids[i % len(ward_ids)], "name": t,
             "token_hash": hash_token(tok), "created_at": now, "token_issued_at": now}
            for i, (t, tok) in enumerate(tokens.items())])
    return tokens


def steer_fleet(database: Database, tokens: dict[str, str], wards: int) -> int:
    """Settings at the fleet, every ward and one terminal in a hundred; an open request for
    one terminal in a hundred. Returns the newest settings version."""
    from district import audit
    from district.steering import store
    from district.steering import terminal as steering

    actor = audit.Actor("bench", "cli")
    engine = database.engine
    newest = store.change(engine, store.FLEET_SCOPE, {"followup.enabled": True}, actor)
    for w in range(wards):
        newest = store.change(engine, store.Scope(store.UNIT, f"sim-w{w:02d}"),
                              {"scale.question_vi": f"Phường {w}?"}, actor)
    for k, terminal in enumerate(tokens):
        if k % 100 == 0:
            newest = store.change(engine, store.Scope(store.TERMINAL, terminal),
                                  {"ui.sound": True}, actor)
        if k % 100 == 50:
            steering.ask(engine, terminal, "doctor", actor)
    return newest


class _ClosedIdle(Exception):
    """The connection ended before an answer began."""


class Connection:
    """One keep-alive HTTP/1.1 connection; a request is written only when the last is read."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, token: str, body: bytes) -> int:
        try:
            return await self._post(path, token, body)
        except _ClosedIdle:
            # the server closed the idle keep-alive connection just before we wrote on it:
            # a new connection and the request once more, as HTTP clients do
            self.close()
            return await self._post(path, token, body)

    async def _post(self, path: str, token: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise _ClosedIdle
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def run_load(base: str, tokens: dict[str, str], minutes: float, batch: int,
                   connections: int, applied: int | None = None
                   ) -> tuple[list[float], int, int, float]:
    host, port = base.removeprefix("http://").split(":")
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, int(port)))
    latencies: list[float] = []
    timeline: list[tuple[float, str, float]] = []  # (start, path, seconds)
    errors = 0
    failures: dict[str, int] = {}  # what failed: path and status (or exception)
    late = 0  # requests that could not start within 50 ms of their slot (generator starved)
    seqs = dict.fromkeys(tokens, 0)
    start = time.monotonic() + 1.0
    offsets = {t: random.uniform(0, 60) for t in tokens}

    async def request(path: str, token: str, body: dict) -> None:
        nonlocal errors
        conn = await pool.get()
        begin = time.perf_counter()
        try:
            status = await conn.post(path, token, json.dumps(body).encode())
            if status != 200:
                errors += 1
                failures[f"{path} {status}"] = failures.get(f"{path} {status}", 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors += 1
            failures[f"{path} {type(exc).__name__}"] = failures.get(
                f"{path} {type(exc).__name__}", 0) + 1
            conn.close()
        finally:
            latencies.append(time.perf_counter() - begin)
            timeline.append((begin, path, latencies[-1]))
            pool.put_nowait(conn)

    async def terminal_minute(terminal: str, slot: float) -> None:
        nonlocal late
        await asyncio.sleep(max(0.0, slot - time.monotonic()))
        if time.monotonic() - slot > 0.05:
            late += 1
        token = tokens[terminal]
        now = iso(dt.datetime.now(dt.UTC))
        mono = time.monotonic_ns()
        await request("/api/v1/heartbeat", token, {
            "terminal_id": terminal, "sent_at": now, "boot_id": "sim-boot",
            "monotonic_ns": mono, "backlog": batch, "rejected": 0, "software_version": "0.1.0",
            "clock_synced": True, "disk_free_bytes": 10**10, "uptime_s": 3600.0,
            "last_error": None, "stuck_buttons": [],
            **({} if applied is None else {"settings_applied": applied})})
        votes = []
        for _ in range(batch):
            seqs[terminal] += 1
            votes.append({"id": str(uuid.uuid4()), "seq": seqs[terminal], "level": 3,
                          "scale": 3, "source": "gpio", "recorded_at": now,
                          "clock_synced": True, "boot_id": "sim-boot", "monotonic_ns": mono})
        await request("/api/v1/votes", token, {"terminal_id": terminal, "sent_at": now,
                                               "boot_id": "sim-boot", "monotonic_ns": mono,
                                               "votes": votes})

    tasks = [terminal_minute(t, start + minute * 60 + offsets[t])
             for minute in range(int(minutes)) for t in tokens]
    began = time.monotonic()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - began
    while not pool.empty():
        pool.get_nowait().close()
    if failures:
        print("failures:", ", ".join(f"{k}: {n}" for k, n in sorted(failures.items())))
    return latencies, errors, late, elapsed, timeline


def print_timeline(timeline: list[tuple[float, str, float]], window: float = 10.0) -> None:
    """p50 / p99 / max per window and per path: shows whether slow answers come in bursts."""
    t0 = min(t for t, _p, _s in timeline)
    by: dict[tuple[int, str], list[float]] = {}
    for t, path, secs in timeline:
        by.setdefault((int((t - t0) // window), path.rsplit("/", 1)[1]), []).append(secs)
    for (w, path), values in sorted(by.items()):
        print(f"  {w * window:5.0f} s {path:9} n={len(values):5} p50 "
              f"{percentile(values, 0.5) * 1000:6.1f} p99 {percentile(values, 0.99) * 1000:7.1f} "
              f"max {max(values) * 1000:7.1f} ms")


def cpu_seconds(belongs) -> float:
    """User + system CPU seconds of every process whose command line ``belongs(cmdline)``."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if not belongs(fh.read()):
                    continue
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_snapshot() -> dict[str, float]:
    """Where the machine's CPU goes: server processes, PostgreSQL, this load generator."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return {"server": cpu_seconds(lambda cmd: b"district.cli" in cmd
                                  or b"multiprocessing" in cmd),
            # backends ("postgres: user db …") and the postmaster (…/bin/postgres), not the
            # server, whose command line names a postgresql:// URL
            "postgres": cpu_seconds(lambda cmd: cmd.startswith(b"postgres:")
                                    or cmd.split(b"\0", 1)[0].endswith(b"/postgres")),
            "generator": time.process_time(),
            "machine": busy / os.sysconf("SC_CLK_TCK"), "wall": time.monotonic()}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--batch", type=int, default=3, help="votes per terminal per minute")
    parser.add_argument("--connections", type=int, default=64, help="client connections")
    parser.add_argument("--no-rollups", action="store_true",
                        help="diagnosis: the server skips the dashboard's rollup upserts")
    parser.add_argument("--wards", type=int, default=None,
                        help="units below the root the terminals are spread over (default 0, "
                        "20 with --steering)")
    parser.add_argument("--steering", action="store_true",
                        help="settings, requests and reports of fleet steering on")
    parser.add_argument("--timeline", action="store_true",
                        help="print p50/p99/max per 10 s and per path")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS-ingest.md")
    args = parser.parse_args()

    database = Database("postgres")
    try:
        wards = args.wards if args.wards is not None else (20 if args.steering else 0)
        tokens = register_fleet(database, args.terminals, wards)
        applied = steer_fleet(database, tokens, wards) if args.steering else None
        proc, base = start_server(database.url, args.workers, rollups=not args.no_rollups)
        try:
            before = cpu_snapshot()
            latencies, errors, late, elapsed, timeline = asyncio.run(
                run_load(base, tokens, args.minutes, args.batch, args.connections, applied))
            after = cpu_snapshot()
            if args.timeline:
                print_timeline(timeline)
        finally:
            proc.terminate()
            proc.wait(10)
        with database.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(db.votes)).scalar_one()
    finally:
        database.drop()
    expected = args.terminals * args.minutes * args.batch
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    rate = len(latencies) / elapsed
    summary = (f"{len(latencies):,} requests in {elapsed:.0f} s ({rate:,.0f}/s): "
               f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.0f} ms, "
               f"errors {errors}, late starts {late}, votes stored {stored:,}/{expected:,}")
    print(summary)
    for path in ("/api/v1/heartbeat", "/api/v1/votes"):
        values = [secs for _t, p, secs in timeline if p == path]
        print(f"  {path}: p50 {percentile(values, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.0f} ms")
    spent = {k: after[k] - before[k] for k in before}
    cores = os.cpu_count() or 1
    print(f"CPU during the load: machine {spent['machine'] / spent['wall'] / cores:.0%} of "
          f"{cores} cores; per request: server {spent['server'] / len(latencies) * 1000:.2f} ms, "
          f"PostgreSQL {spent['postgres'] / len(latencies) * 1000:.2f} ms, load generator "
          f"{spent['generator'] / len(latencies) * 1000:.2f} ms")
    if args.write:
        text = (f"\n### Fleet load ({dt.date.today().isoformat()}, {machine()})\n\n"
                f"`.venv/bin/python bench/fleet_load.py --terminals {args.terminals} "
                f"--minutes {args.minutes} --workers {args.workers} --batch {args.batch}`, "
                f"PostgreSQL, `district serve --workers {args.workers}` on loopback; each "
                f"terminal a heartbeat and a {args.batch}-vote batch per minute. Target: "
                f"p99 < 200 ms, zero errors.\n\n"
                "| terminals | requests | requests/s | p50 | p99 | max | errors | "
                "votes stored |\n|---|---|---|---|---|---|---|---|\n"
                f"| {args.terminals:,} | {len(latencies):,} | {rate:,.0f} | {p50:.1f} ms | "
                f"**{p99:.1f} ms** | {max(latencies) * 1000:.0f} ms | {errors} | "
                f"{stored:,} / {expected:,} |\n")
        with (REPO / "bench" / "RESULTS-ingest.md").open("a", encoding="utf-8") as fh:
            fh.write(text)
    return 0 if errors == 0 and stored == expected else 1


if __name__ == "__main__":
    sys.exit(main())
