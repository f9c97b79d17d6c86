"""Cost of one alert evaluation (``district.dashboard.alerts.refresh``) at fleet scale.

    .venv/bin/python bench/alerts.py [--db postgres|sqlite|both] [--terminals 10000]
                                     [--votes 90000] [--silent 0.04] [--runs 5]

A fresh database with ``--terminals`` terminals, each with a last heartbeat (a ``--silent``
share of them older than the 24 h rule, one in a thousand with a stuck button) and
``--votes`` votes in the 2-hour window of the negative-share rule. Then, ``--runs`` times
each, CPU of this process (what the server's requests wait for: the evaluation runs on a
thread of a server process) and wall time of:

- the first ``refresh`` (every alert opened), then a steady ``refresh`` (nothing changed);
- the fleet rule alone (``fleet_health(only=("silent", "stuck button"))``), next to its
  baseline in the same run: every terminal read and judged in Python (``fleet_health``
  without ``only``, how the rule worked before).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_load import register_fleet  # noqa: E402
from ingest import Database, machine  # noqa: E402

from district import db  # noqa: E402
from district.dashboard import alerts  # noqa: E402
from district.dashboard.health import fleet_health  # noqa: E402

FLEET_FAULTS = ("silent", "stuck button")


def fill(database: Database, terminals: int, votes: int, silent: float,
         now: dt.datetime) -> None:
    rng = random.Random(7)
    ids = list(register_fleet(database, terminals))
    health = []
    for t in ids:
        age = dt.timedelta(hours=rng.uniform(25, 72) if rng.random() < silent
                           else rng.uniform(0, 0.2))
        health.append({"terminal_id": t, "received_at": now - age, "sent_at": now - age,
                       "clock_offset_ms": 0, "backlog": 0, "software_version": "1",
                       "clock_synced": True,
                       "stuck_buttons": "2" if rng.random() < 0.001 else ""})
    rows = []
    for i in range(votes):
        at = now - dt.timedelta(seconds=rng.uniform(0, 7000))
        rows.append({"terminal_id": ids[i % len(ids)], "vote_id": str(uuid.uuid4()),
                     "unit_id": "sim", "seq": i, "level": rng.choice((1, 2, 3, 3)),
                     "scale": 3, "source": "gpio", "recorded_at": at,
                     "recorded_at_raw": at.isoformat(), "clock_synced": True, "boot_id": "b",
                     "monotonic_ns": i, "flags": "", "reasons": "", "received_at": at,
                     "corrected_at": at, "time_method": "synced", "time_uncertain": False,
                     "via": "api"})
    with database.engine.begin() as conn:
        conn.execute(db.terminal_health.insert(), health)
        for start in range(0, len(rows), 10_000):
            conn.execute(db.votes.insert(), rows[start:start + 10_000])


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median CPU ms (this process) and median wall ms over ``runs`` calls; last result."""
    cpu, wall, result = [], [], None
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(1000 * (time.process_time() - c0))
        wall.append(1000 * (time.perf_counter() - w0))
    return statistics.median(cpu), statistics.median(wall), result


def bench(kind: str, args: argparse.Namespace) -> list[str]:
    database = Database(kind)
    try:
        now = dt.datetime.now(dt.UTC)
        fill(database, args.terminals, args.votes, args.silent, now)
        cfg = alerts.AlertSettings()
        engine = database.engine

        def fleet_rule(only: tuple[str, ...]) -> int:
            with engine.connect() as conn:
                return len([t for t in fleet_health(conn, None, now, cfg.silent_hours, only=only)
                            if {"silent", "stuck button"} & set(t.faults)])

        first = timed(lambda: alerts.refresh(engine, now, cfg), 1)
        steady = timed(lambda: alerts.refresh(engine, now, cfg), args.runs)
        picked = timed(lambda: fleet_rule(FLEET_FAULTS), args.runs)
        every = timed(lambda: fleet_rule(()), args.runs)
        assert picked[2] == every[2], (picked[2], every[2])
        return [f"| {kind} | first refresh ({len(first[2])} alerts opened) | "
                f"{first[0]:.0f} | {first[1]:.0f} | — |",
                f"| {kind} | steady refresh (nothing changed) | {steady[0]:.0f} | "
                f"{steady[1]:.0f} | — |",
                f"| {kind} | fleet rule: the database picks the {picked[2]} terminals at fault | "
                f"**{picked[0]:.0f}** | {picked[1]:.0f} | every terminal judged in Python: "
                f"{every[0]:.0f} ms CPU, {every[1]:.0f} ms wall |"]
    finally:
        database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--votes", type=int, default=90_000)
    parser.add_argument("--silent", type=float, default=0.04,
                        help="share of terminals silent for more than 24 h")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    kinds = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    lines = [f"### Alert evaluation ({dt.date.today().isoformat()}, {machine()})", "",
             f"`.venv/bin/python bench/alerts.py --db {args.db}`: {args.terminals:,} "
             f"terminals ({args.silent:.0%} silent), {args.votes:,} votes in the window; "
             f"medians of {args.runs} runs.", "",
             "| database | what | CPU ms (server process) | wall ms | same-run baseline |",
             "|---|---|---|---|---|"]
    for kind in kinds:
        lines += bench(kind, args)
        print(lines[-3:], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
