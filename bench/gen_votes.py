"""Fill a district database with N votes over a year, realistic by hour and weekday.

    .venv/bin/python bench/gen_votes.py --db sqlite:///bench.db --votes 300000 [--terminals 21]

Units and terminals come from config/fleet.toml (21 terminals) or, with --terminals K > 21,
a generated city: a province of ⌈K/100⌉ districts of up to 100 communes, one
terminal each. Votes: working hours 7:30–17:00 local, Monday–Friday
(Saturday morning a little), busier mornings; 3 levels weighted 55/35/10 % best→worst,
2 % test and 1 % misuse flags, reasons on a third of the negative votes.

Bulk load straight into `votes` (COPY on PostgreSQL, executemany on SQLite), bypassing the
ingest and so its rollup upserts; the rollups are then rebuilt from the votes — the same as
`district rollups rebuild`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from district import rollups  # noqa: E402
from district.db import (  # noqa: E402
    create_db_engine,
    dialect_insert,
    migrate,
    terminals,
    write_transaction,
)
from district.fleet import load_units, read_fleet  # noqa: E402

HOUR_WEIGHTS = {7: 3, 8: 10, 9: 12, 10: 12, 11: 9, 12: 2, 13: 5, 14: 9, 15: 9, 16: 6}
ICT = dt.timezone(dt.timedelta(hours=7))
COLUMNS = ("terminal_id", "vote_id", "unit_id", "seq", "level", "scale", "source",
           "recorded_at", "recorded_at_raw", "clock_synced", "boot_id", "monotonic_ns", "flags",
           "reasons", "received_at", "corrected_at", "time_method", "time_uncertain", "via")


def setup_fleet(engine, count: int) -> list[tuple[str, str]]:
    fleet = read_fleet(Path(__file__).resolve().parent.parent / "config" / "fleet.toml")
    if count <= len(fleet.terminals):
        load_units(engine, fleet)
        pairs = [(t.id, t.unit) for t in fleet.terminals[:count]]
    else:
        # A city: province → districts (up to 100 communes each) → one terminal per commune.
        units = [{"id": "tinh", "name": "Tỉnh mẫu", "kind": "Tỉnh"}]
        units += [{"id": f"huyen-{d:03d}", "name": f"Huyện {d:03d}", "kind": "Huyện",
                   "parent": "tinh"} for d in range((count + 99) // 100)]
        units += [{"id": f"xa-{i:05d}", "name": f"Xã {i:05d}", "kind": "Xã",
                   "parent": f"huyen-{i // 100:03d}"} for i in range(count)]
        load_units(engine, {"units": units})
        pairs = [(f"t-{i:05d}", f"xa-{i:05d}") for i in range(count)]
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        stmt = dialect_insert(conn, terminals).on_conflict_do_nothing(index_elements=["id"])
        conn.execute(stmt, [{"id": tid, "unit_id": unit, "name": tid, "created_at": now}
                            for tid, unit in pairs])
    return pairs


def vote_times(rnd: random.Random, n: int, year: int):
    days = [dt.date(year, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    day_w = [0 if d.weekday() == 6 else 3 if d.weekday() == 5 else 10 for d in days]
    hours, hour_w = list(HOUR_WEIGHTS), list(HOUR_WEIGHTS.values())
    for d, h in zip(rnd.choices(days, day_w, k=n), rnd.choices(hours, hour_w, k=n), strict=True):
        if d.weekday() == 5 and h >= 12:
            h -= 4
        yield dt.datetime(d.year, d.month, d.day, h, rnd.randint(0, 59), rnd.randint(0, 59),
                          tzinfo=ICT).astimezone(dt.UTC)


def rows(n: int, pairs, year: int, seed: int = 1):
    rnd = random.Random(seed)
    received = dt.datetime(year + 1, 1, 2, tzinfo=dt.UTC)
    seqs = {}
    for at in vote_times(rnd, n, year):
        tid, unit = pairs[rnd.randrange(len(pairs))]
        seqs[tid] = seqs.get(tid, 0) + 1
        level = rnd.choices((3, 2, 1), (55, 35, 10))[0]
        roll = rnd.random()
        flags = "test" if roll < 0.02 else "suspected_misuse" if roll < 0.03 else ""
        reasons = rnd.choice(("waiting_time", "too_many_trips", "unclear_guidance",
                              "officer_attitude", "other")) if level == 1 and roll < 0.4 else ""
        yield (tid, str(uuid.UUID(int=rnd.getrandbits(128), version=4)), unit, seqs[tid], level,
               3, "gpio", at, at.isoformat(), True, "boot", seqs[tid] * 10**9, flags, reasons,
               received, at, "kiosk", False, "import")


def load(engine, n: int, pairs, year: int) -> float:
    start = time.perf_counter()
    dialect = engine.dialect.name
    if dialect == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                with cur.copy(f"COPY votes ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for r in rows(n, pairs, year):
                        copy.write_row(r)
            raw.commit()
        finally:
            raw.close()
    else:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("BEGIN")
            sql = (f"INSERT INTO votes ({', '.join(COLUMNS)}) VALUES "
                   f"({', '.join('?' * len(COLUMNS))})")
            batch = []
            for r in rows(n, pairs, year):
                r = list(r)
                for i in (7, 14, 15):
                    r[i] = r[i].replace(tzinfo=None).isoformat(sep=" ")
                batch.append(r)
                if len(batch) == 20000:
                    cur.executemany(sql, batch)
                    batch.clear()
            cur.executemany(sql, batch)
            cur.execute("COMMIT")
        finally:
            raw.close()
    with write_transaction(engine) as conn:
        rollups.rebuild(conn)
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--votes", type=int, default=300_000)
    ap.add_argument("--terminals", type=int, default=21)
    ap.add_argument("--year", type=int, default=2025)
    args = ap.parse_args(argv)
    engine = create_db_engine(args.db)
    migrate(engine)
    pairs = setup_fleet(engine, args.terminals)
    seconds = load(engine, args.votes, pairs, args.year)
    print(f"{args.votes} votes on {len(pairs)} terminals in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
