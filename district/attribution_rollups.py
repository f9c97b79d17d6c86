"""The rollups of attribution: finished and rated dossiers per unit, officer and day
(coverage), and the counted ratings per unit, procedure and day (procedures), kept where
dossiers and ratings are stored, so the dashboard reads a year of a district from a few
hundred rows instead of joining 300,000 dossiers with their ratings.

- ``dash_coverage_day`` / ``dash_coverage_month``: per (dossier's unit, handling officer
  ("" for none), local day or month of ``finished_on``): ``n_finished`` dossiers finished,
  ``n_rated`` of them with their counted rating (given at any time). Dossiers without a
  finish date are in neither.
- ``dash_procedure_day`` / ``dash_procedure_month``: per (dossier's unit, procedure code,
  local day or month of the rating's ``corrected_at``, scale): the counted ratings per
  level (``n1`` … ``n5``).

What changes them, and where (each in the transaction of the change):

- a rating claimed by the ingest (``district.dossiers.release_unstored``, once the claims
  whose vote was not stored are given back): the dossier, if imported, gains its rating;
- a dossier imported (``district.dossiers.import_dossiers``): new, with the rating it may
  already have (receipts are often rated before the list is imported), or changed (its
  procedure, officer or finish date moved: the old contribution out, the new one in).

- a rating re-dated with its vote (``district.dossiers.redated``, from district.redating):
  the procedure rollups move it to its new day.

Neither dossiers nor ratings are deleted but by ``release_unstored`` in the claiming
transaction itself, so those are all the changes. ``rebuild`` and ``differences`` recompute
them from ``dossiers`` and ``dossier_ratings`` (``district rollups rebuild|check`` through
``district.rollups``). Buckets are local Vietnamese time (UTC+7, no DST), as in
``district.rollups``; this module sits below it and repeats the one offset.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district.db import dialect_insert

LEVELS = ("n1", "n2", "n3", "n4", "n5")
_OFFSET_S = 7 * 3600  # Asia/Ho_Chi_Minh
_EPOCH = dt.date(1970, 1, 1)

metadata = sa.MetaData()


def _coverage_table(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("officer", sa.String(32), primary_key=True),
        sa.Column(bucket, sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n_finished", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_rated", sa.Integer, nullable=False, server_default="0"),
        sa.Index(f"ix_{name}_officer", "officer", bucket),
    )


def _procedure_table(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("procedure_code", sa.String(64), primary_key=True),
        sa.Column(bucket, sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("scale", sa.SmallInteger, primary_key=True, autoincrement=False),
        *[sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in LEVELS],
    )


coverage_day = _coverage_table("dash_coverage_day", "day")
coverage_month = _coverage_table("dash_coverage_month", "month")
procedure_day = _procedure_table("dash_procedure_day", "day")
procedure_month = _procedure_table("dash_procedure_month", "month")
TABLES = (coverage_day, coverage_month, procedure_day, procedure_month)

# The procedures' names per unit, as the latest import of their dossiers gave them (the
# procedure pages name each procedure without reading its dossiers). A list, not a count:
# not part of rebuild / check.
procedures = sa.Table(
    "dossier_procedures", metadata,
    sa.Column("unit_id", sa.String(64), primary_key=True),
    sa.Column("procedure_code", sa.String(64), primary_key=True),
    sa.Column("procedure_name", sa.String(500), nullable=False),
)


def day_of(d: dt.date) -> int:
    return (d - _EPOCH).days


def month_of(d: dt.date) -> int:
    return (d.year - 1970) * 12 + d.month - 1


def local_date(moment: dt.datetime) -> dt.date:
    return _EPOCH + dt.timedelta(days=(int(moment.timestamp()) + _OFFSET_S) // 86400)


# --- kept where dossiers and ratings are stored --------------------------------------------

def contributions(dossier: dict, rating: dict | None, sign: int,
                  coverage: Counter, procedures: Counter) -> None:
    """Add (``sign`` = 1) or take out (−1) what one dossier (``unit_id``, ``officer``,
    ``procedure_code``, ``finished_on``) with its rating (``level``, ``scale``,
    ``corrected_at``) or none counts: coverage keyed (unit, officer, finish date), the
    procedure keyed (unit, procedure, rating's local date, scale, level)."""
    if dossier["finished_on"] is not None:
        key = (dossier["unit_id"], dossier["officer"] or "", dossier["finished_on"])
        coverage[(*key, "n_finished")] += sign
        if rating is not None:
            coverage[(*key, "n_rated")] += sign
    if rating is not None:
        procedures[(dossier["unit_id"], dossier["procedure_code"],
                    local_date(rating["corrected_at"]), rating["scale"],
                    rating["level"])] += sign


def add(conn: Connection, coverage: Counter, procedures: Counter) -> None:
    """Upsert the changes (``contributions``) into the four tables, rows in key order (one
    lock order in every process, as ``district.rollups``)."""
    cov: dict[str, dict[tuple, dict]] = {"day": {}, "month": {}}
    for (unit, officer, day, column), n in coverage.items():
        if n:
            for kind, bucket in (("day", day_of(day)), ("month", month_of(day))):
                row = cov[kind].setdefault((unit, officer, bucket),
                                           {"n_finished": 0, "n_rated": 0})
                row[column] += n
    proc: dict[str, dict[tuple, dict]] = {"day": {}, "month": {}}
    for (unit, code, day, scale, level), n in procedures.items():
        if n:
            for kind, bucket in (("day", day_of(day)), ("month", month_of(day))):
                row = proc[kind].setdefault((unit, code, bucket, scale), dict.fromkeys(LEVELS, 0))
                row[f"n{level}"] += n
    changes = [(table, rows) for table, rows in (
        (coverage_day, cov["day"]), (coverage_month, cov["month"]),
        (procedure_day, proc["day"]), (procedure_month, proc["month"])) if rows]
    if conn.dialect.name == "postgresql" and changes and max(len(r) for _t, r in changes) < 2000:
        _upsert_all_pg(conn, changes)  # a batch of votes: one round trip, not four
        return
    for table, rows in changes:
        _upsert(conn, table, rows)


def _upsert_all_pg(conn: Connection, changes: list[tuple[sa.Table, dict[tuple, dict]]]) -> None:
    """PostgreSQL: the tables' upserts as CTEs of one statement, each table's rows one JSON
    parameter (as ``district.rollups`` does for the vote rollups)."""
    import json

    parts, params = [], {}
    for i, (table, rows) in enumerate(changes):
        keys = [c.name for c in table.primary_key.columns]
        counts = [c.name for c in table.columns if not c.primary_key]
        cols = ", ".join(keys + counts)
        adds = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in counts)
        parts.append(f"u{i} AS (INSERT INTO {table.name} ({cols}) SELECT {cols} FROM "
                     f"json_populate_recordset(NULL::{table.name}, CAST(:r{i} AS json)) "
                     f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds})")
        params[f"r{i}"] = json.dumps([dict(zip(keys, k, strict=True)) | v
                                      for k, v in sorted(rows.items())], separators=(",", ":"))
    conn.execute(sa.text("WITH " + ", ".join(parts) + " SELECT 1"), params)


def _upsert(conn: Connection, table: sa.Table, rows: dict[tuple, dict]) -> None:
    """``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`` of every row, through the
    driver's executemany (an import of a year adds tens of thousands of day rows: the
    per-row parameter processing of a compiled statement cost more than the upserts)."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    counts = [c.name for c in table.columns if not c.primary_key]
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(keys + counts)}) "
           f"VALUES ({', '.join([mark] * (len(keys) + len(counts)))}) "
           f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
           + ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in counts))
    conn.exec_driver_sql(sql, [(*k, *(v[c] for c in counts)) for k, v in sorted(rows.items())])


def name_procedures(conn: Connection, dossiers: Iterable[dict]) -> None:
    """The procedures of imported dossiers, each with its latest name."""
    names = {(d["unit_id"], d["procedure_code"]): d["procedure_name"] for d in dossiers}
    if not names:
        return
    ins = dialect_insert(conn, procedures)
    conn.execute(ins.on_conflict_do_update(
        index_elements=["unit_id", "procedure_code"],
        set_={"procedure_name": ins.excluded.procedure_name}),
        [{"unit_id": u, "procedure_code": c, "procedure_name": n}
         for (u, c), n in sorted(names.items())])


def count_claims(conn: Connection, ratings: Iterable[dict]) -> None:
    """New counted ratings (``dossier_code``, ``level``, ``scale``, ``corrected_at``): each
    dossier already imported gains its rating."""
    move_ratings(conn, [(None, r) for r in ratings])


def move_ratings(conn: Connection, moves: Iterable[tuple[dict | None, dict]]) -> None:
    """Ratings that changed: (before or None for a new one, after), each with its
    ``dossier_code``; the dossiers already imported move from one to the other (a
    re-dated vote takes its rating to another day, district.redating)."""
    from district.attribution import dossiers

    by_code = {after["dossier_code"]: (before, after) for before, after in moves}
    if not by_code:
        return
    coverage: Counter = Counter()
    procedures: Counter = Counter()
    rows = conn.execute(sa.select(dossiers.c.code, dossiers.c.unit_id, dossiers.c.officer,
                                  dossiers.c.procedure_code, dossiers.c.finished_on)
                        .where(dossiers.c.code.in_(sorted(by_code)))).mappings()
    for d in rows:
        before, after = by_code[d["code"]]
        contributions(d, before, -1, coverage, procedures)
        contributions(d, after, 1, coverage, procedures)
    add(conn, coverage, procedures)


# --- recomputation (district rollups rebuild | check) ---------------------------------------

def _date_day(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"({column} - date '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _date_month(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return (f"CAST((extract(year from {column}) - 1970) * 12 + extract(month from {column})"
                " - 1 AS integer)")
    return (f"((CAST(strftime('%Y', {column}) AS INTEGER) - 1970) * 12"
            f" + CAST(strftime('%m', {column}) AS INTEGER) - 1)")


def _local_date(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'UTC') + interval '{_OFFSET_S} seconds' AS date)"
    return f"date({column}, '+{_OFFSET_S} seconds')"


def _fresh_sql(dialect: str, table: sa.Table) -> str:
    """A SELECT computing ``table``'s rows (in column order) from dossiers and ratings."""
    bucket = _date_month if "month" in table.c else _date_day
    if table in (coverage_day, coverage_month):
        b = bucket(dialect, "d.finished_on")
        return (f"SELECT d.unit_id, COALESCE(d.officer, ''), {b}, COUNT(*), "
                f"COUNT(r.dossier_code) FROM dossiers d LEFT JOIN dossier_ratings r "
                f"ON r.dossier_code = d.code WHERE d.finished_on IS NOT NULL "
                f"GROUP BY d.unit_id, COALESCE(d.officer, ''), {b}")
    b = bucket(dialect, _local_date(dialect, "r.corrected_at"))
    levels = ", ".join(f"SUM(CASE WHEN r.level = {n} THEN 1 ELSE 0 END)" for n in range(1, 6))
    return (f"SELECT d.unit_id, d.procedure_code, {b}, r.scale, {levels} "
            f"FROM dossier_ratings r JOIN dossiers d ON d.code = r.dossier_code "
            f"GROUP BY d.unit_id, d.procedure_code, {b}, r.scale")


def _present(conn: Connection) -> list[sa.Table]:
    existing = set(sa.inspect(conn).get_table_names())
    return [t for t in TABLES if t.name in existing]


def rebuild(conn: Connection) -> None:
    """Recompute the four tables in the caller's transaction (PostgreSQL: the ratings and
    dossiers locked against writes meanwhile, so the result is exact)."""
    tables = _present(conn)
    if tables and conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE dossiers, dossier_ratings IN SHARE MODE")
    for table in tables:
        conn.execute(table.delete())
        cols = ", ".join(c.name for c in table.columns)
        conn.execute(sa.text(f"INSERT INTO {table.name} ({cols}) "
                             f"{_fresh_sql(conn.dialect.name, table)}"))


def differences(conn: Connection) -> list[tuple]:
    """(table, row…) where a table differs from a fresh computation; rows of zeros are no
    difference (a dossier whose finish date moved leaves one)."""
    out = []
    for table in _present(conn):
        n_keys = len(table.primary_key.columns)
        fresh = {tuple(r) for r in conn.execute(sa.text(_fresh_sql(conn.dialect.name, table)))
                 if any(r[n_keys:])}
        kept = {tuple(r) for r in conn.execute(sa.select(table)) if any(r[n_keys:])}
        out.extend((table.name, *r) for r in fresh ^ kept)
    return sorted(out, key=repr)
