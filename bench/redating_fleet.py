"""Re-dating at a province's scale against a fleet whose clocks are all right, in one run:
10,000 terminals with wrong clocks (some rebooting) beside 10,000 honest ones, the
re-dating done by vote batches and by heartbeats.

    .venv/bin/python bench/redating_fleet.py [--db postgres|sqlite] [--terminals 10000]
                                             [--stored 10] [--rebooting 0.1] [--threads 4]

The province of ``bench/redating.py`` (1 province, 100 districts, a commune per 10
terminals), twice ``--terminals`` terminals on the same database:

- the **honest** fleet: NTP answered at boot, every vote ``clock_synced``: nothing to date,
  nothing ever re-dated: the baseline;
- the **wrong-clock** fleet: each kiosk booted 6 h ago with its clock in 2001, ``--stored``
  votes uploaded in a slow request (BOOTTIME read 4 s before the send); ``--rebooting`` of
  them rebooted and uploaded their previous boot's votes too (time unknown).

Timed rounds, each terminal once, ``--threads`` at a time (the API's ingest threads; SQLite
one), through the functions the API's threads run (``ingest_batch``, ``store_heartbeat``):

1. batches, honest: 3 synchronised votes each (baseline);
2. batches, wrong clocks: 3 votes in a request 2 s slow: the bound tightens by ~2 s, the
   stored votes are re-dated and moved in the rollups; a rebooting kiosk's batch also
   brings its previous boot's first synchronised vote, which dates that boot's votes;
3. heartbeats, honest (baseline): each an honest heartbeat of its boot;
4. heartbeats, wrong clocks: a fast heartbeat (BOOTTIME read at the send): the bound
   tightens by ~2 s once more and the heartbeat itself re-dates the boot's stored votes.

Reported: ms per call (mean, p95) and the round's wall clock, the votes re-dated, and a check
that the rollups equal a recomputation from the votes afterwards, with no vote of unknown
time left.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from redating import NS, WRONG, Kiosk, iso, province  # noqa: E402 (puts the repo first)

from ballot.wire import Heartbeat  # noqa: E402
from district import db, redating, rollups  # noqa: E402
from district.auth import hash_token  # noqa: E402
from district.fleet import load_units  # noqa: E402
from district.heartbeat import store_heartbeat  # noqa: E402
from district.ingest import Delivery, ingest_batch  # noqa: E402
from tests.helpers import fresh_database  # noqa: E402 (throwaway databases)


class HonestKiosk(Kiosk):
    """Its clock right since boot: every vote synchronised."""

    def honest_vote(self, mono: int) -> dict:
        return self.vote(self.boot, mono, synced=True, epoch=self.epoch)

    def delivery(self, transit_s: float) -> Delivery:
        mono = self.mono() - int(transit_s * NS)
        now = dt.datetime.now(dt.UTC)
        return Delivery(received_at=now, via="api", sent_at=now, boot_id=self.boot,
                        monotonic_ns=mono)


def register(engine, kiosks: list[Kiosk]) -> None:
    """Terminals in bulk, each with the token ``token-<id>``."""
    now = dt.datetime.now(dt.UTC)
    with db.write_transaction(engine) as conn:
        conn.execute(db.terminals.insert(), [
            {"id": k.id, "unit_id": k.unit, "name": k.id, "token_hash": hash_token(f"token-{k.id}"),
             "created_at": now, "token_issued_at": now} for k in kiosks])


def timed(kiosks: list[Kiosk], call, threads: int) -> tuple[list[float], float]:
    def one(k: Kiosk) -> float:
        work = call(k)  # built before the clock starts
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(one, kiosks))
    return times, time.perf_counter() - start


def beat_of(k: Kiosk, transit_s: float, honest: bool) -> tuple[Heartbeat, dt.datetime]:
    mono = k.mono() - int(transit_s * NS)
    now = dt.datetime.now(dt.UTC)
    sent = now if honest else WRONG + dt.timedelta(microseconds=mono // 1000)
    return Heartbeat.model_validate({"terminal_id": k.id, "sent_at": iso(sent),
                                     "boot_id": k.boot, "monotonic_ns": mono,
                                     "clock_synced": honest}), now


def run(kind: str, n: int, stored: int, share: float, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hl_redate_fleet_") as folder, \
            fresh_database(kind, Path(folder), "hl_redate_fleet") as url:
        engine = db.create_db_engine(url)
        try:
            return measure(engine, n, stored, share, threads) | {"backend": kind}
        finally:
            engine.dispose()


def measure(engine, n: int, stored: int, share: float, threads: int) -> dict:
    db.migrate(engine)
    units, communes = province(n)
    load_units(engine, {"units": units})
    every = max(1, round(1 / share)) if share else 0
    wrong = [Kiosk(f"w{i:05d}", communes[i % len(communes)], bool(every) and i % every == 0)
             for i in range(n)]
    honest = [HonestKiosk(f"h{i:05d}", communes[i % len(communes)], False) for i in range(n)]
    register(engine, wrong + honest)

    def batch(k: Kiosk, votes: list[dict], transit_s: float):
        delivery = k.delivery(transit_s)
        return lambda: ingest_batch(engine, k.id, k.unit, votes, delivery)

    def set_up_wrong(k: Kiosk):
        base = k.mono() - 3600 * NS
        votes = [k.vote(k.boot, base + i * 60 * NS) for i in range(stored)]
        if k.rebooting:
            votes += [k.vote(k.old_boot, 20 * 3600 * NS + i * 60 * NS) for i in range(stored)]
        return batch(k, votes, 4.0)

    def set_up_honest(k: HonestKiosk):
        base = k.mono() - 3600 * NS
        return batch(k, [k.honest_vote(base + i * 60 * NS) for i in range(stored)], 0.0)

    def votes_wrong(k: Kiosk):
        base = k.mono() - 60 * NS
        votes = [k.vote(k.boot, base + i * NS) for i in range(3)]
        if k.rebooting:
            votes.append(k.vote(k.old_boot, 22 * 3600 * NS, synced=True, epoch=k.old_epoch))
        return batch(k, votes, 2.0)

    def votes_honest(k: HonestKiosk):
        base = k.mono() - 60 * NS
        return batch(k, [k.honest_vote(base + i * NS) for i in range(3)], 0.0)

    def beat(k: Kiosk, honest: bool):
        hb, now = beat_of(k, 0.0, honest)
        return lambda: store_heartbeat(engine, f"token-{k.id}", hb, now)

    timed(wrong, set_up_wrong, threads)
    timed(honest, set_up_honest, threads)
    rounds = {"batches, honest clocks (baseline)": timed(honest, votes_honest, threads),
              "batches, wrong clocks: re-dating": timed(wrong, votes_wrong, threads)}
    with engine.connect() as conn:
        by_batches = conn.execute(sa.select(sa.func.count())
                                  .select_from(redating.vote_time_history)).scalar()
    rounds["heartbeats, honest clocks (baseline)"] = timed(honest, lambda k: beat(k, True),
                                                           threads)
    rounds["heartbeats, wrong clocks: re-dating"] = timed(wrong, lambda k: beat(k, False),
                                                          threads)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count())
                             .select_from(redating.vote_time_history)).scalar()
        unknown = conn.execute(sa.select(sa.func.count()).select_from(db.votes)
                               .where(db.votes.c.time_uncertain.is_(True))).scalar()
        exact = rollups.differences(conn) == []
    return {"terminals": n, "rebooting": sum(k.rebooting for k in wrong), "threads": threads,
            "redated_by_batches": by_batches, "redated_by_heartbeats": total - by_batches,
            "unknown_left": unknown, "exact": exact,
            "rounds": {name: (1000 * statistics.mean(t), 1000 * statistics.quantiles(t, n=20)[18],
                              wall) for name, (t, wall) in rounds.items()}}


def markdown(r: dict) -> str:
    lines = [f"{r['backend']}, {r['terminals']:,} terminals with wrong clocks "
             f"({r['rebooting']:,} rebooting) beside {r['terminals']:,} honest ones, "
             f"{r['threads']} thread(s); votes re-dated: {r['redated_by_batches']:,} by "
             f"batches, {r['redated_by_heartbeats']:,} by heartbeats; rollups exact: "
             f"{r['exact']}; votes of unknown time left: {r['unknown_left']}", "",
             "| round (one call per terminal) | mean ms | p95 ms | round, wall clock s |",
             "|---|---|---|---|"]
    for name, (mean, p95, wall) in r["rounds"].items():
        lines.append(f"| {name} | **{mean:.1f}** | {p95:.1f} | {wall:.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--stored", type=int, default=10, help="earlier votes per terminal")
    parser.add_argument("--rebooting", type=float, default=0.1,
                        help="share of the wrong-clock terminals with a previous boot to date")
    parser.add_argument("--threads", type=int, default=4,
                        help="calls at a time (PostgreSQL; SQLite: 1)")
    args = parser.parse_args()
    result = run(args.db, args.terminals, args.stored, args.rebooting,
                 args.threads if args.db == "postgres" else 1)
    print(markdown(result))
    return 0 if result["exact"] and result["unknown_left"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
