"""`district dossiers import` at a district's year: 300,000 dossiers, CSV and XLSX,
SQLite and PostgreSQL, with the baseline measured in the same run.

    .venv/bin/python bench/dossier_import.py [--db sqlite|postgres|both] [--dossiers 300000]
        [--runs 2]

For each backend, on fresh databases, in turns (baseline, CSV, XLSX, …, ``--runs`` times):

- **baseline**: the same rows, already parsed, inserted by the driver's plain
  ``executemany`` into the migrated ``dossiers`` table (no checks, no rollups, no lookups):
  what the database itself costs;
- **CSV** and **XLSX**: ``district.dossiers.import_file`` (read, check every row, look the
  codes up, store all or nothing, keep the coverage and procedure rollups) from an empty
  table, then the same file again (nothing changes: ``unchanged``).

Rows/s are the file's rows over the wall time of the whole call. The issue's target:
≥ 20,000 rows/s.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.attribution import WARDS, make_csv  # noqa: E402
from bench.ingest import Database  # noqa: E402
from district import dossiers  # noqa: E402
from district.fleet import load_units  # noqa: E402


def prepared(kind: str) -> Database:
    base = Database(kind)
    load_units(base.engine, {"units": [{"id": "q", "name": "Quận"}] + [
        {"id": w, "name": f"Phường {w}", "parent": "q"} for w in WARDS]})
    return base


def baseline(kind: str, rows: list[dict]) -> float:
    """The parsed rows through the driver's executemany, nothing else."""
    base = prepared(kind)
    now = dt.datetime.now(dt.UTC)
    mark = "?" if kind == "sqlite" else "%s"
    sql = (f"INSERT INTO dossiers (code, procedure_code, procedure_name, unit_id, received_on,"
           f" due_on, finished_on, officer, imported_at) VALUES ({', '.join([mark] * 9)})")
    if kind == "sqlite":
        stamp = now.replace(tzinfo=None).isoformat(sep=" ")
        values = [(r["code"], r["procedure_code"], r["procedure_name"], r["unit_id"],
                   r["received_on"] and r["received_on"].isoformat(),
                   r["due_on"] and r["due_on"].isoformat(),
                   r["finished_on"] and r["finished_on"].isoformat(), r["officer"], stamp)
                  for r in rows]
    else:
        values = [(r["code"], r["procedure_code"], r["procedure_name"], r["unit_id"],
                   r["received_on"], r["due_on"], r["finished_on"], r["officer"], now)
                  for r in rows]
    try:
        start = time.perf_counter()
        with base.engine.begin() as conn:
            conn.exec_driver_sql(sql, values)
        return len(rows) / (time.perf_counter() - start)
    finally:
        base.drop()


def imported(kind: str, path: Path, n: int) -> tuple[float, float]:
    base = prepared(kind)
    try:
        start = time.perf_counter()
        first = dossiers.import_file(base.engine, path)
        once = n / (time.perf_counter() - start)
        start = time.perf_counter()
        again = dossiers.import_file(base.engine, path)
        twice = n / (time.perf_counter() - start)
        assert first.added == n and again.unchanged == n, (first, again)
        return once, twice
    finally:
        base.drop()


def write_xlsx(rows: list[list[str]], path: Path) -> None:
    """An export as a one-stop software writes it: text cells (rust_xlsxwriter, quick)."""
    from rustpy_xlsxwriter import write_worksheet

    header = rows[0]
    write_worksheet((dict(zip(header, row, strict=True)) for row in rows[1:]), str(path))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--dossiers", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    officers = {f"CB-{n:02d}": WARDS[n % len(WARDS)] for n in range(60)}
    text, _codes = make_csv(args.dossiers, officers, random.Random(5))
    folder = Path(tempfile.mkdtemp())
    csv_path, xlsx_path = folder / "hs.csv", folder / "hs.xlsx"
    csv_path.write_text(text, encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    write_xlsx(table, xlsx_path)
    rows = dossiers.parse_rows(table, "bench")
    n = args.dossiers
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        got: dict[str, list[float]] = {}
        for _run in range(args.runs):
            got.setdefault("baseline", []).append(baseline(kind, rows))
            for name, path in (("CSV", csv_path), ("XLSX", xlsx_path)):
                once, twice = imported(kind, path, n)
                got.setdefault(name, []).append(once)
                got.setdefault(f"{name} again", []).append(twice)
        for name, rates in got.items():
            print(f"{kind:8} {name:12} {statistics.median(rates):9,.0f} rows/s  "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
