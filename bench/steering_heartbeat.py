"""What fleet steering adds to a heartbeat on the server (docs/steering.md, "Cost").

    .venv/bin/python bench/steering_heartbeat.py [--db postgres|sqlite] [--terminals 2000]
                                                 [--beats 2000]

A fresh database with a three-level unit tree (district, 20 wards, the terminals' counters),
``--terminals`` terminals, settings at the fleet, at every ward and at one terminal in ten.
Every terminal reports its version once (the steady state: later heartbeats repeat it), then
``--beats`` heartbeats of random terminals, each timed (wall, this process) in two
parts, in the same run: storing the heartbeat (``store_heartbeat``, the baseline: what a
heartbeat cost before) and the steering's part (``steering.on_heartbeat``: the settings
version of the terminal and its open requests). Prints p50/p99 of each.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def database(kind: str):
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    import secrets

    import psycopg

    name = f"hl_bench_steer_{secrets.token_hex(3)}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--terminals", type=int, default=2000)
    parser.add_argument("--beats", type=int, default=2000)
    args = parser.parse_args()

    import sqlalchemy as sa

    from ballot.wire import Heartbeat
    from district import audit
    from district.auth import hash_token
    from district.db import create_db_engine, migrate, terminals, utcnow
    from district.fleet import load_units
    from district.heartbeat import store_heartbeat
    from district.steering import store
    from district.steering import terminal as steering

    with database(args.db) as url:
        engine = create_db_engine(url)
        migrate(engine)
        wards = [f"w{i:02d}" for i in range(20)]
        load_units(engine, {"units": [{"id": "d", "name": "D"},
                                      *({"id": w, "name": w, "parent": "d"} for w in wards)]})
        now = utcnow()
        with engine.begin() as conn:
            conn.execute(terminals.insert(), [
                {"id": f"t{i}", "unit_id": wards[i % 20], "name": "", "created_at": now,
                 "token_issued_at": now, "token_hash": hash_token(f"token-{i}")}
                for i in range(args.terminals)])
        actor = audit.Actor("bench", "cli")
        store.change(engine, store.FLEET_SCOPE, {"followup.enabled": True}, actor)
        for w in wards:
            store.change(engine, store.Scope(store.UNIT, w), {"scale.question_vi": w}, actor)
        for i in range(0, args.terminals, 10):
            store.change(engine, store.Scope(store.TERMINAL, f"t{i}"), {"ui.sound": True},
                         actor)
        for i in range(args.terminals):  # each has reported once: the steady state
            steering.on_heartbeat(engine, Heartbeat.model_validate({
                "terminal_id": f"t{i}", "sent_at": dt.datetime.now(dt.UTC),
                "settings_applied": 1}), utcnow())
        base, steer = [], []
        rng = random.Random(1)
        for _ in range(args.beats):
            i = rng.randrange(args.terminals)
            beat = Heartbeat.model_validate({
                "terminal_id": f"t{i}", "sent_at": dt.datetime.now(dt.UTC), "backlog": 0,
                "settings_applied": 1})
            start = time.perf_counter()
            store_heartbeat(engine, f"token-{i}", beat, utcnow())
            middle = time.perf_counter()
            steering.on_heartbeat(engine, beat, utcnow())
            end = time.perf_counter()
            base.append((middle - start) * 1000)
            steer.append((end - middle) * 1000)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM terminal_steering")).scalar()
        engine.dispose()
    for name, values in (("store_heartbeat (baseline)", base), ("steering part", steer)):
        print(f"{args.db} {name}: p50 {statistics.median(values):.2f} ms, "
              f"p99 {percentile(values, 0.99):.2f} ms ({len(values)} heartbeats, "
              f"{args.terminals} terminals)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
