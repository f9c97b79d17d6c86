"""Time every dashboard page, JSON call and export on a database made by gen_votes.py.

    .venv/bin/python bench/dashboard.py --db sqlite:///bench.db [--runs 20] [--export-baseline]

Requests go through the real app in-process (httpx ASGI transport via TestClient), signed in
as a district official; p50/p95 per page. The baseline beside each page is the same figure
computed from the raw votes table (what the page would cost without the rollups).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DISTRICT_ALERT_INTERVAL_S", "0")

import sqlalchemy as sa  # noqa: E402

from district.db import create_db_engine, migrate  # noqa: E402

PASSWORD = "bench-password-123"
Q = "period={kind}&date=2025-06-15"


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)]


def raw_baseline(engine, kind_start: dt.datetime, kind_end: dt.datetime) -> callable:
    sql = sa.text("SELECT unit_id, scale, level, count(*) FROM votes WHERE corrected_at >= :a "
                  "AND corrected_at < :b AND flags NOT LIKE '%test%' "
                  "AND flags NOT LIKE '%misuse%' GROUP BY unit_id, scale, level")
    a, b = kind_start, kind_end
    if engine.dialect.name == "sqlite":
        a, b = a.replace(tzinfo=None).isoformat(sep=" "), b.replace(tzinfo=None).isoformat(sep=" ")

    def run():
        with engine.connect() as conn:
            conn.execute(sql, {"a": a, "b": b}).all()
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--export-baseline", action="store_true",
                    help="also time the old openpyxl writer on the year's votes")
    args = ap.parse_args(argv)
    from fastapi.testclient import TestClient

    from district.app import create_app
    from district.dashboard.accounts import add_user
    from district.errors import DistrictError

    engine = create_db_engine(args.db)
    migrate(engine)
    try:
        add_user(engine, "bench", PASSWORD, "district")
    except DistrictError:
        pass
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM votes").scalar()
        root = conn.exec_driver_sql("SELECT id FROM units WHERE parent_id IS NULL").scalar()
        child = conn.exec_driver_sql(
            f"SELECT id FROM units WHERE parent_id = '{root}' ORDER BY id").scalar()
        # The district of the year export: the root of the 21-terminal fleet, or in a
        # generated city the first district (province → districts → communes).
        district = root if conn.exec_driver_sql(
            f"SELECT count(*) FROM units WHERE parent_id = '{child}'").scalar() == 0 else child
        district_votes = conn.exec_driver_sql(
            "SELECT count(*) FROM votes v JOIN units u ON u.id = v.unit_id "
            f"WHERE v.unit_id = '{district}' OR u.parent_id = '{district}'").scalar()
    client = TestClient(create_app(engine=engine))
    assert client.post("/login", data={"username": "bench", "password": PASSWORD}
                       ).status_code in (200, 303)

    def get(path):
        def run():
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            return r
        return run

    ict = dt.timezone(dt.timedelta(hours=7))
    year = (dt.datetime(2025, 1, 1, tzinfo=ict), dt.datetime(2026, 1, 1, tzinfo=ict))
    month = (dt.datetime(2025, 6, 1, tzinfo=ict), dt.datetime(2025, 7, 1, tzinfo=ict))
    pages = [
        ("overview, month", f"/dashboard?unit={root}&" + Q.format(kind="month"), month),
        ("overview, year", f"/dashboard?unit={root}&" + Q.format(kind="year"), year),
        ("unit page (district), year", f"/dashboard/units/{root}?" + Q.format(kind="year"),
         year),
        ("unit page (one unit), month", f"/dashboard/units/{child}?" + Q.format(kind="month"),
         month),
        ("fleet health", f"/dashboard/fleet?unit={root}", None),
        ("alerts", f"/dashboard/alerts?unit={root}", None),
        ("API overview, year", f"/api/v1/dashboard/overview?unit={root}&"
         + Q.format(kind="year"), year),
        ("API unit, year", f"/api/v1/dashboard/units/{root}?" + Q.format(kind="year"), year),
    ]
    print(f"# {n} votes, {engine.dialect.name}, {args.runs} runs per page\n")
    print("| page | p50 ms | p95 ms | raw-votes baseline p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    for label, path, span in pages:
        p50, p95 = timed(get(path), args.runs)
        base = f"{timed(raw_baseline(engine, *span), max(3, args.runs // 4))[1]:.0f}" \
            if span else "–"
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {base} |", flush=True)
    exports = [
        ("summary.xlsx, year", f"/dashboard/export/summary.xlsx?unit={root}&"
         + Q.format(kind="year")),
        ("monthly report .xlsx", f"/dashboard/export/monthly.xlsx?unit={root}&month=2025-06"),
        ("votes.csv, month", f"/dashboard/export/votes.csv?unit={root}&" + Q.format(kind="month")),
        (f"votes.xlsx, year (one district: {district}, {district_votes} votes)",
         f"/dashboard/export/votes.xlsx?unit={district}&" + Q.format(kind="year")),
    ]
    print("\n| export | seconds | CPU s (this process) | size MB |")
    print("| --- | ---: | ---: | ---: |")
    for label, path in exports:
        t, c = time.perf_counter(), time.process_time()
        r = get(path)()
        print(f"| {label} | {time.perf_counter() - t:.2f} | {time.process_time() - c:.2f} "
              f"| {len(r.content) / 1e6:.1f} |", flush=True)
    if args.export_baseline:
        from district.dashboard import exports as ex
        from district.dashboard.aggregates import UnitTree
        from district.dashboard.periods import Period

        with engine.connect() as conn:
            tree = UnitTree.load(conn)
        ids = tree.subtree(district)
        period = Period("year", dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        t, c = time.perf_counter(), time.process_time()
        fh = ex.xlsx_file([("Votes", ex.vote_header(str), ex.vote_rows(engine, tree, ids,
                                                                         period))])
        size = len(fh.read())
        print(f"| votes.xlsx, year, old path: openpyxl write-only"
              f"{' + lxml' if _has_lxml() else ''} (baseline) | {time.perf_counter() - t:.2f} "
              f"| {time.process_time() - c:.2f} | {size / 1e6:.1f} |", flush=True)
    return 0


def _has_lxml() -> bool:
    from openpyxl import LXML
    return bool(LXML)


if __name__ == "__main__":
    sys.exit(main())
