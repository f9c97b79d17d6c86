"""What one heartbeat costs the server, steering included, A/B between two checkouts.

    .venv/bin/python bench/fleet_heartbeat.py [--db postgres|sqlite] [--terminals 2000]
                                              [--beats 2000] [--repo PATH]

``--repo`` is the checkout whose ``district`` is measured (default: this one); run it on an
older checkout beside this one (``git worktree add /tmp/before <commit>``) for the same-run
baseline. A fresh database: a district, 20 wards, ``--terminals`` terminals spread over
them, settings at the fleet, at every ward and at one terminal in ten, an open request on
one terminal in a hundred (never answered, so it rides on every answer). Every terminal
reports its version once (the steady state), then ``--beats`` heartbeats of random
terminals carry their BOOTTIME (an honest boot, as a terminal sends) and are timed whole,
as ``POST /api/v1/heartbeat`` runs them in its thread: storing, the clock, the steering's
answer. Also timed, in the same run: ``store_heartbeat`` alone (no steering answer).
Prints p50 / p99 of each and the statements each sent to the database (counted by an
SQLAlchemy event; BEGIN and COMMIT not included). The steering's own part is the whole
heartbeat less storing it (what the former bench/steering_heartbeat.py timed apart).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def database(kind: str):
    """A throwaway database's URL: SQLite in a temporary folder, or a PostgreSQL database
    created for the run and dropped after it (no district import: --repo's is migrated)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--terminals", type=int, default=2000)
    parser.add_argument("--beats", type=int, default=2000)
    parser.add_argument("--repo", type=Path, default=HERE.parent)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))

    import sqlalchemy as sa

    from ballot.wire import Heartbeat
    from district import audit, heartbeat
    from district.auth import hash_token
    from district.db import create_db_engine, migrate, terminals, utcnow
    from district.fleet import load_units
    from district.steering import store
    from district.steering import terminal as steering
    assert Path(heartbeat.__file__).is_relative_to(args.repo.resolve()), heartbeat.__file__

    def whole(engine, token, beat, received_at):
        if hasattr(heartbeat, "beat_and_answer"):  # this checkout: one call, as the API
            return heartbeat.beat_and_answer(engine, token, beat, received_at)[1]
        heartbeat.store_heartbeat(engine, token, beat, received_at)  # before: two
        return steering.on_heartbeat(engine, beat, received_at)

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
        for i in range(0, args.terminals, 100):
            steering.ask(engine, f"t{i}", "doctor", actor)
        booted = time.time_ns() - 3600 * 10**9  # every terminal's boot, an hour ago

        def beat_of(i: int) -> Heartbeat:
            return Heartbeat.model_validate({
                "terminal_id": f"t{i}", "sent_at": dt.datetime.now(dt.UTC), "backlog": 0,
                "boot_id": f"boot-{i}", "monotonic_ns": time.time_ns() - booted,
                "settings_applied": 1})

        for i in range(args.terminals):  # each has reported once: the steady state
            whole(engine, f"token-{i}", beat_of(i), utcnow())
        statements = 0

        @sa.event.listens_for(engine, "before_cursor_execute")
        def count(*_args):
            nonlocal statements
            statements += 1

        rng = random.Random(1)
        timed: dict[str, list[float]] = {"whole heartbeat": [], "store_heartbeat alone": []}
        counted: dict[str, int] = dict.fromkeys(timed, 0)
        for n in range(2 * args.beats):
            i = rng.randrange(args.terminals)
            name = "whole heartbeat" if n % 2 else "store_heartbeat alone"
            beat = beat_of(i)
            before = statements
            start = time.perf_counter()
            if n % 2:
                answer = whole(engine, f"token-{i}", beat, utcnow())
                assert answer.settings_version > 0
                assert bool(answer.requests) == (i % 100 == 0), (i, answer.requests)
            else:
                heartbeat.store_heartbeat(engine, f"token-{i}", beat, utcnow())
            timed[name].append((time.perf_counter() - start) * 1000)
            counted[name] += statements - before
        engine.dispose()
    for name, values in timed.items():
        print(f"{args.db} {args.repo.resolve().name} {name}: p50 "
              f"{statistics.median(values):.2f} ms, p99 {percentile(values, 0.99):.2f} ms, "
              f"{counted[name] / len(values):.2f} statements each ({len(values)} heartbeats, "
              f"{args.terminals} terminals)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
