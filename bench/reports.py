"""Time the printed report of a district (issue 16) on a database made by gen_votes.py,
with a same-run baseline: the existing monthly workbook of the same unit and month.

    .venv/bin/python bench/gen_votes.py --db sqlite:///bench.db --votes 300000 --year 2026
    .venv/bin/python bench/reports.py --db sqlite:///bench.db --unit hbt --month 2026-11 \
        [--runs 3] [--shots docs/screenshots]

Each figure is the median of ``--runs`` runs after one warm-up (imports, fonts and the
template loaded once, as in a running server): gathering the figures, drawing the charts,
the PDF (WeasyPrint), the DOCX, the workbook, the yearly PDF. ``--shots DIR`` also writes
pages 1–3 of the monthly PDF there as PNG (pdftoppm), made from the generated data.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from district.dashboard import aggregates as agg  # noqa: E402
from district.dashboard import exports  # noqa: E402
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--unit", default="hbt")
    ap.add_argument("--month", default="2026-11")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lang", default="vi")
    ap.add_argument("--shots", type=Path)
    args = ap.parse_args()
    engine = create_db_engine(args.db)
    with engine.connect() as conn:
        tree = agg.UnitTree.load(conn)
        votes = conn.exec_driver_sql("SELECT count(*) FROM votes").scalar()
    month = report_period(args.month)
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
    t, ypdf = timed(lambda: render(gather(engine, tree, args.unit, year, sig), "pdf",
                                   args.lang, envs), args.runs)
    rows.append(("yearly report PDF", t, len(ypdf)))
    print(f"{votes:,} votes, unit {args.unit} ({len(tree.subtree(args.unit))} units), "
          f"month {month.label()}, median of {args.runs} runs after a warm-up\n")
    print("| what | seconds | bytes |\n| --- | ---: | ---: |")
    for what, secs, size in rows:
        print(f"| {what} | {secs:.2f} | {'' if size is None else f'{size:,}'} |")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
            fh.write(pdf)
            fh.flush()
            subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "3", fh.name,
                            str(args.shots / "report-month")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
