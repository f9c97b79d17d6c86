"""What re-dating costs at a province's scale: 10,000 terminals, some rebooting with wrong
clocks, SQLite and PostgreSQL.

    .venv/bin/python bench/redating.py --db sqlite|postgres|both [--terminals 10000]
                                       [--stored 10] [--rebooting 0.1]

A province: 1 province, 100 districts, 1,000 communes, ``--terminals`` terminals (10 per
commune). Each terminal's kiosk booted 6 h ago with its clock years off; ``--rebooting``
of them rebooted an hour ago and have votes of their previous boot still to upload.

1. *stored* (set-up): each terminal uploads ``--stored`` votes in a slow request (BOOTTIME
   read 2 s before the send): their boot's bound is 2 s late; the rebooting terminals
   upload their previous boot's unsynchronised votes (time unknown).
2. *re-dating round*: each terminal sends one batch of 3 new votes in a fast request: the
   bound tightens by ~2 s and the ``--stored`` earlier votes of every terminal are re-dated
   and moved in the rollups; each rebooting terminal's batch also carries its previous
   boot's first synchronised vote, which dates that boot's stored votes.
3. *baseline round*, same run, same database: one more batch of 3 votes per terminal, as
   fast: nothing to re-date.

Reported: ms per batch (mean, p95) of rounds 2 and 3, the votes re-dated, and a check that
the rollups equal a recomputation from the votes afterwards. The batches go through
``district.ingest.ingest_batch`` (the function the API's threads run), in one process, so
the numbers are the database work, not HTTP.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from district import db, redating, rollups  # noqa: E402
from district.fleet import load_units  # noqa: E402
from district.ingest import Delivery, ingest_batch  # noqa: E402

PG_ADMIN = os.environ.get("HL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NS = 10**9
WRONG = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Kiosk:
    """One terminal: its current boot (6 h ago) and, if rebooting, the previous one."""

    def __init__(self, terminal_id: str, unit: str, rebooting: bool):
        self.id, self.unit, self.rebooting = terminal_id, unit, rebooting
        now = time.time_ns()
        self.boot, self.epoch = f"b-{uuid.uuid4().hex[:8]}", now - 6 * 3600 * NS
        self.old_boot, self.old_epoch = f"o-{uuid.uuid4().hex[:8]}", now - 30 * 3600 * NS
        self.seq = 0

    def vote(self, boot: str, mono: int, synced: bool = False, epoch: int = 0) -> dict:
        self.seq += 1
        at = (dt.datetime.fromtimestamp((epoch + mono) / NS, dt.UTC) if synced
              else WRONG + dt.timedelta(microseconds=mono // 1000))
        return {"id": str(uuid.uuid4()), "seq": self.seq, "level": 1 + self.seq % 3,
                "scale": 3, "source": "gpio", "recorded_at": iso(at), "clock_synced": synced,
                "boot_id": boot, "monotonic_ns": mono, "flags": [], "reasons": [],
                "counter": "Quầy 1", "officer": None, "dossier_code": None}

    def mono(self) -> int:
        return time.time_ns() - self.epoch

    def delivery(self, transit_s: float) -> Delivery:
        mono = self.mono() - int(transit_s * NS)
        return Delivery(received_at=dt.datetime.now(dt.UTC), via="api",
                        sent_at=WRONG + dt.timedelta(microseconds=mono // 1000),
                        boot_id=self.boot, monotonic_ns=mono)


def province(terminals: int) -> tuple[list[dict], list[str]]:
    units = [{"id": "tinh", "name": "Tỉnh"}]
    communes = []
    for d in range(100):
        units.append({"id": f"h{d}", "name": f"Huyện {d}", "parent": "tinh"})
    for c in range(max(1, terminals // 10)):
        communes.append(f"x{c}")
        units.append({"id": f"x{c}", "name": f"Xã {c}", "parent": f"h{c % 100}"})
    return units, communes


def register_all(engine, kiosks: list[Kiosk]) -> None:
    """Terminals in bulk (``register_terminal`` one by one would take minutes)."""
    now = dt.datetime.now(dt.UTC)
    with db.write_transaction(engine) as conn:
        conn.execute(db.terminals.insert(), [
            {"id": k.id, "unit_id": k.unit, "name": k.id, "token_hash": secrets.token_hex(32),
             "created_at": now, "token_issued_at": now} for k in kiosks])


def timed_round(engine, kiosks: list[Kiosk], batch_of, threads: int) -> tuple[list[float], float]:
    """One batch per terminal, ``threads`` at a time (the API's ingest threads); each
    batch's time, and the round's."""
    def one(k: Kiosk) -> float:
        votes, delivery = batch_of(k)
        start = time.perf_counter()
        ingest_batch(engine, k.id, k.unit, votes, delivery)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(one, kiosks))
    return times, time.perf_counter() - start


def run(kind: str, n: int, stored: int, share: float, threads: int) -> dict:
    tmp = tempfile.TemporaryDirectory(prefix="hl_redate_")
    name = f"hl_redate_{secrets.token_hex(4)}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp.name}/district.db"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = db.create_db_engine(url)
    try:
        db.migrate(engine)
        units, communes = province(n)
        load_units(engine, {"units": units})
        every = max(1, round(1 / share)) if share else 0
        kiosks = [Kiosk(f"t{i:05d}", communes[i % len(communes)], bool(every) and i % every == 0)
                  for i in range(n)]
        register_all(engine, kiosks)

        def first(k: Kiosk):
            if k.rebooting:  # the previous boot's votes, sent from the new boot
                base = 20 * 3600 * NS
                return ([k.vote(k.old_boot, base + i * 60 * NS) for i in range(stored)],
                        k.delivery(0.0))
            base = k.mono() - 3600 * NS
            return [k.vote(k.boot, base + i * 60 * NS) for i in range(stored)], k.delivery(2.0)

        def redating_round(k: Kiosk):
            base = k.mono() - 60 * NS
            votes = [k.vote(k.boot, base + i * NS) for i in range(3)]
            if k.rebooting:
                votes.append(k.vote(k.old_boot, 22 * 3600 * NS, synced=True, epoch=k.old_epoch))
            return votes, k.delivery(0.0)

        def baseline_round(k: Kiosk):
            base = k.mono() - 30 * NS
            return [k.vote(k.boot, base + i * NS) for i in range(3)], k.delivery(0.0)

        _, setup_s = timed_round(engine, kiosks, first, threads)
        redate, redate_s = timed_round(engine, kiosks, redating_round, threads)
        baseline, base_s = timed_round(engine, kiosks, baseline_round, threads)
        with engine.connect() as conn:
            moved = conn.execute(sa.select(sa.func.count())
                                 .select_from(redating.vote_time_history)).scalar()
            unknown = conn.execute(sa.select(sa.func.count()).select_from(db.votes)
                                   .where(db.votes.c.time_uncertain.is_(True))).scalar()
            exact = rollups.differences(conn) == []
        return {"backend": kind, "terminals": n, "rebooting": sum(k.rebooting for k in kiosks),
                "stored": stored, "setup_s": setup_s, "redated": moved, "unknown_left": unknown,
                "redate_ms": 1000 * statistics.mean(redate),
                "redate_p95_ms": 1000 * statistics.quantiles(redate, n=20)[18],
                "base_ms": 1000 * statistics.mean(baseline),
                "base_p95_ms": 1000 * statistics.quantiles(baseline, n=20)[18],
                "redate_round_s": redate_s, "base_round_s": base_s, "threads": threads,
                "exact": exact}
    finally:
        engine.dispose()
        tmp.cleanup()
        if kind == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def markdown(results: list[dict]) -> str:
    lines = ["| backend | terminals (rebooting) | votes re-dated | re-dating batch: mean / p95 ms "
             "| baseline batch, same run: mean / p95 ms | one batch per terminal, wall clock: "
             "re-dating / baseline s | rollups exact |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['terminals']:,} ({r['rebooting']:,}) | {r['redated']:,} "
            f"| **{r['redate_ms']:.1f}** / {r['redate_p95_ms']:.1f} "
            f"| {r['base_ms']:.1f} / {r['base_p95_ms']:.1f} "
            f"| {r['redate_round_s']:.1f} / {r['base_round_s']:.1f} ({r['threads']} threads) "
            f"| {r['exact']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--stored", type=int, default=10, help="earlier votes per terminal")
    parser.add_argument("--rebooting", type=float, default=0.1,
                        help="share of terminals with a previous boot to date")
    parser.add_argument("--threads", type=int, default=4,
                        help="batches at a time (PostgreSQL; SQLite: 1)")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    # SQLite has one writer at a time: its batches go one by one
    results = [run(kind, args.terminals, args.stored, args.rebooting,
                   args.threads if kind == "postgres" else 1) for kind in kinds]
    for r in results:
        print(r, file=sys.stderr)
    print(markdown(results))
    return 0 if all(r["exact"] and r["unknown_left"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
