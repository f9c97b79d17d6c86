"""Time the printed report of a district (issue 16) on a database made by gen_votes.py,
with a same-run baseline: the existing monthly workbook of the same unit and month.

    .venv/bin/python bench/gen_votes.py --db sqlite:///bench.db --votes 300000 --year 2026
    .venv/bin/python bench/reports.py --db sqlite:///bench.db --unit hbt --month 2026-11 \
        [--runs 3] [--shots docs/screenshots] [--dossiers 300000]

A province: the same script on ``gen_votes.py --terminals 10000 --votes 10000000`` (on
PostgreSQL), ``--unit tinh``.

Each figure is the median of ``--runs`` runs after one warm-up (imports, fonts and the
template loaded once, as in a running server): gathering the figures, drawing the charts,
the PDF (WeasyPrint), the DOCX, the workbook, the yearly PDF and workbook, and the index
figures alone (Circular 01, Decision 766). ``--dossiers N`` first fills the dossier list
with N dossiers of the year over the terminals' units (a third of them rated, one in ten
late) when it is empty, so Decision 766's ratio has dossiers to read. ``--shots DIR`` also
writes pages of the monthly PDF there as PNG (pdftoppm), made from the generated data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from district.dashboard import aggregates as agg  # noqa: E402
from district.dashboard import exports  # noqa: E402
from district.dashboard import indices as legal  # noqa: E402
from district.dashboard.periods import period_of, report_period  # noqa: E402
from district.dashboard.render import environments, gettext_for, trend_label  # noqa: E402
from district.dashboard.report import make, render  # noqa: E402
from district.dashboard.report_charts import charts  # noqa: E402
from district.dashboard.report_data import Signature, gather  # noqa: E402
from district.db import create_db_engine  # noqa: E402


def timed(fn, runs: int) -> tuple[float, object]:
    result = fn()  # warm
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def fill_dossiers(engine, n: int, year: int, seed: int = 3) -> int:
    """N dossiers finished over ``year`` in the terminals' units, a third rated (30 % of
    those unsatisfied), one in ten late; nothing when the list is not empty."""
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM dossiers").scalar():
            return 0
        units = [u for (u,) in conn.exec_driver_sql(
            "SELECT DISTINCT unit_id FROM terminals ORDER BY unit_id")]
    rnd = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    dossiers, ratings = [], []
    for i in range(n):
        unit = units[rnd.randrange(len(units))]
        finished = dt.date(year, 1, 1) + dt.timedelta(days=rnd.randrange(365))
        received = finished - dt.timedelta(days=rnd.randrange(10))
        due = finished - dt.timedelta(days=1) if rnd.random() < 0.1 else \
            finished + dt.timedelta(days=rnd.randrange(5))
        code = f"HS{i:08d}"
        dossiers.append((code, "1.001", "Chứng thực", unit, received, due, finished, None, now))
        if rnd.random() < 1 / 3:
            level = 1 if rnd.random() < 0.3 else rnd.choice((2, 3))
            ratings.append((code, "t", f"v{i}", unit, None, level, 3, now))
    cols_d = ("code, procedure_code, procedure_name, unit_id, received_on, due_on, "
              "finished_on, officer, imported_at")
    cols_r = "dossier_code, terminal_id, vote_id, unit_id, officer, level, scale, corrected_at"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY dossiers ({cols_d}) FROM STDIN") as copy:
                for r in dossiers:
                    copy.write_row(r)
            with cur.copy(f"COPY dossier_ratings ({cols_r}) FROM STDIN") as copy:
                for r in ratings:
                    copy.write_row(r)
        else:
            def text(row):
                return [v.isoformat() if isinstance(v, dt.date) and not isinstance(
                    v, dt.datetime) else v.replace(tzinfo=None).isoformat(sep=" ")
                    if isinstance(v, dt.datetime) else v for v in row]
            cur.execute("BEGIN")  # (the engine's connections autocommit otherwise)
            cur.executemany(f"INSERT INTO dossiers ({cols_d}) VALUES ({','.join('?' * 9)})",
                            map(text, dossiers))
            cur.executemany(f"INSERT INTO dossier_ratings ({cols_r}) VALUES "
                            f"({','.join('?' * 8)})", map(text, ratings))
        raw.commit()
    finally:
        raw.close()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE dossiers")
            conn.exec_driver_sql("ANALYZE dossier_ratings")
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--unit", default="hbt")
    ap.add_argument("--month", default="2026-11")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lang", default="vi")
    ap.add_argument("--shots", type=Path)
    ap.add_argument("--dossiers", type=int, default=0)
    ap.add_argument("--skip-year", action="store_true", help="leave out the yearly report")
    args = ap.parse_args()
    engine = create_db_engine(args.db)
    month = report_period(args.month)
    if args.dossiers:
        t = time.perf_counter()
        added = fill_dossiers(engine, args.dossiers, month.start.year)
        if added:
            print(f"{added:,} dossiers added in {time.perf_counter() - t:.0f} s")
    with engine.connect() as conn:
        tree = agg.UnitTree.load(conn)
        votes = conn.exec_driver_sql("SELECT count(*) FROM votes").scalar()
        n_dossiers = conn.exec_driver_sql("SELECT count(*) FROM dossiers").scalar()
    year = period_of("year", month.start)
    envs, _ = environments(), gettext_for(args.lang)
    sig = Signature(place="Hà Nội")

    def workbook():
        with engine.connect() as conn:
            ov = agg.overview(conn, tree, args.unit, month)
        fh = exports.monthly_workbook(engine, tree, ov, _)
        size = len(fh.read())
        fh.close()
        return size

    rows = []
    t, size = timed(workbook, args.runs)
    rows.append(("baseline: monthly workbook (monthly.xlsx, existing)", t, size))
    t, report = timed(lambda: gather(engine, tree, args.unit, month, sig), args.runs)
    rows.append(("report figures (gather)", t, None))
    t, _drawn = timed(lambda: charts(report, _, lambda k: trend_label(k, _)), args.runs)
    rows.append(("report charts (4, matplotlib PNG)", t, None))
    t, pdf = timed(lambda: render(gather(engine, tree, args.unit, month, sig), "pdf",
                                  args.lang, envs), args.runs)
    rows.append(("monthly report PDF (figures + charts + WeasyPrint)", t, len(pdf)))
    t, docx = timed(lambda: render(gather(engine, tree, args.unit, month, sig), "docx",
                                   args.lang, envs), args.runs)
    rows.append(("monthly report DOCX (figures + charts + python-docx)", t, len(docx)))
    t, xlsx = timed(lambda: make(engine, tree, args.unit, month, "xlsx", args.lang),
                    args.runs)
    rows.append(("monthly report workbook (report.xlsx: formulas, charts, print set-up)", t,
                 len(xlsx)))
    t, _ix = timed(lambda: legal.indices(engine, tree, args.unit, month), args.runs)
    rows.append(("of which the index figures (Circular 01, Decision 766)", t, None))
    if not args.skip_year:
        t, ypdf = timed(lambda: render(gather(engine, tree, args.unit, year, sig), "pdf",
                                       args.lang, envs), args.runs)
        rows.append(("yearly report PDF", t, len(ypdf)))
        t, yxlsx = timed(lambda: make(engine, tree, args.unit, year, "xlsx", args.lang),
                         args.runs)
        rows.append(("yearly report workbook", t, len(yxlsx)))
    print(f"{votes:,} votes, {n_dossiers:,} dossiers, unit {args.unit} "
          f"({len(tree.subtree(args.unit))} units), month {month.label()}, "
          f"{engine.dialect.name}, median of {args.runs} runs after a warm-up\n")
    print("| what | seconds | bytes |\n| --- | ---: | ---: |")
    for what, secs, size in rows:
        print(f"| {what} | {secs:.2f} | {'' if size is None else f'{size:,}'} |")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
            fh.write(pdf)
            fh.flush()
            subprocess.run(["pdftoppm", "-r", "80", "-png", fh.name,
                            str(args.shots / "report-month")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
