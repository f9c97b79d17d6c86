"""A rollout to a simulated fleet: its update checks ride the heartbeats (docs/updates.md).

    .venv/bin/python bench/fleet_rollout.py [--terminals 10000] [--minutes 2] [--workers 2]

Two runs of bench/fleet_load.py's load (each terminal a heartbeat and a small batch per
minute, PostgreSQL, `district serve --workers W` on loopback), on fresh databases:

1. the baseline: no rollout, heartbeats as before;
2. a rollout as a district runs one: one terminal first, a ward, then half the fleet, all
   active at once (every heartbeat's answer computes the terminal's target); every heartbeat
   reports the version its terminal runs, and from the second minute the terminals of the
   rollout report the new version kept (one write each, the rest read only).

Prints each run's p50/p99/max and errors. Target: p99 < 200 ms, zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_load  # noqa: E402
from ingest import Database, start_server  # noqa: E402

OLD, NEW = "0.1.0-1+bookworm", "0.1.0-2+bookworm"


def roll_out(database: Database, tokens: dict[str, str]) -> None:
    from district.audit import Actor
    from district.releases import store

    first, bench = next(iter(tokens)), Actor("bench", "bench")
    store.start(database.engine, NEW, "terminal", first, bench)
    store.start(database.engine, NEW, "unit", "sim-w00", bench)
    store.start(database.engine, NEW, "share", "50", bench)


def report_releases(tokens: dict[str, str], began: float) -> None:
    """Every heartbeat says what its terminal runs; after the first minute, the terminals
    the rollout takes run the new version (and say it was kept)."""
    from district.releases.store import bucket

    chosen = {t for t in tokens if bucket(t) < 50}
    post = fleet_load.Connection.post

    async def with_release(self, path: str, token: str, body: bytes) -> int:
        if path == "/api/v1/heartbeat":
            beat = json.loads(body)
            moved = beat["terminal_id"] in chosen and time.monotonic() - began > 61
            beat["release_version"] = NEW if moved else OLD
            if moved:
                beat.update(release_outcome="kept", release_outcome_version=NEW)
            body = json.dumps(beat).encode()
        return await post(self, path, token, body)

    fleet_load.Connection.post = with_release


def one_run(terminals: int, minutes: int, workers: int, rollout: bool) -> tuple:
    database = Database("postgres")
    try:
        tokens = fleet_load.register_fleet(database, terminals, 20)
        if rollout:
            roll_out(database, tokens)
        proc, base = start_server(database.url, workers)
        try:
            if rollout:
                report_releases(tokens, time.monotonic())
            latencies, errors, _late, elapsed, timeline = asyncio.run(
                fleet_load.run_load(base, tokens, minutes, 3, 64))
        finally:
            proc.terminate()
            proc.wait(10)
        if rollout:
            from district.releases import store
            reports = store.reports(database.engine)
            kept = sum(r.outcome == "kept" for r in reports.values())
            print(f"terminals that reported: {len(reports):,}; reported the new one kept: {kept:,}")
    finally:
        database.drop()
    beats = [s for _t, p, s in timeline if p == "/api/v1/heartbeat"]
    return (fleet_load.percentile(latencies, 0.5) * 1000,
            fleet_load.percentile(latencies, 0.99) * 1000, max(latencies) * 1000, errors,
            len(latencies), elapsed, fleet_load.percentile(beats, 0.99) * 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    failed = False
    for label, rollout in (("baseline (no rollout)", False), ("rollout", True)):
        p50, p99, top, errors, n, elapsed, beat99 = one_run(args.terminals, args.minutes,
                                                             args.workers, rollout)
        print(f"{label}: {n:,} requests in {elapsed:.0f} s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
              f"(heartbeats {beat99:.1f} ms), max {top:.0f} ms, errors {errors}")
        failed |= errors > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
