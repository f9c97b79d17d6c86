"""Pre-aggregation of votes, kept by the ingest transaction itself.

``add_votes`` runs in the transaction of the vote INSERT, with the rows that
``INSERT … ON CONFLICT DO NOTHING RETURNING`` stored (duplicates are never counted), and
adds them with **one grouped upsert per rollup table per batch**
(``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``, rows in key order; on
PostgreSQL the seven are CTEs of one statement). So:

- a rolled-back batch leaves nothing; two processes ingesting at once both add (the upsert
  takes the row lock; one key order everywhere, and the ingest retries a deadlock);
- there is no "last processed id" watermark that could miss a vote committed out of order;
- a batch of 500 votes costs a handful of small statements instead of 2 upserts per vote
  (the per-row trigger ``dash_rollup_vote`` of revision d0001, dropped by d0002).

The unit rollups count each vote in its unit and every ancestor (``units.parent_id``),
read with a recursive query inside the same transaction (no cache to invalidate). When a
unit moves (``district units load`` changes a parent), ``district.fleet.load_units`` calls
``rebuild`` in its transaction. Votes are never updated or deleted by the server;
``rebuild`` recomputes everything from ``votes`` (after a bulk load, or if ``district
rollups check`` finds a difference).

Buckets are local Vietnamese time (Asia/Ho_Chi_Minh is UTC+7 all year, no DST): the hour
bucket is ``floor((epoch_seconds + 25200) / 3600)``, the day bucket the same over 86400,
the month bucket (year − 1970) × 12 + month − 1 of the local day.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district.dashboard.tables import (
    COUNT_COLUMNS,
    LEVEL_COLUMNS,
    REASON_CODES,
    ROLLUPS,
    officer_day,
    officer_month,
    terminal_day,
    terminal_month,
    unit_day,
    unit_hour,
    unit_month,
)
from district.db import MAX_UNIT_DEPTH

ROLLUP_TABLES = {t.name: t for t in ROLLUPS}

UTC_OFFSET_S = 7 * 3600
LOCAL_TZ = dt.timezone(dt.timedelta(seconds=UTC_OFFSET_S), "ICT")
EPOCH_LOCAL = dt.date(1970, 1, 1)


def local_day(d: dt.date) -> int:
    return (d - EPOCH_LOCAL).days


def day_date(day: int) -> dt.date:
    return EPOCH_LOCAL + dt.timedelta(days=day)


def month_index(d: dt.date) -> int:
    return (d.year - 1970) * 12 + d.month - 1


def month_start(month: int) -> dt.date:
    return dt.date(1970 + month // 12, month % 12 + 1, 1)


def local_hour_of(moment: dt.datetime) -> int:
    return (int(moment.timestamp()) + UTC_OFFSET_S) // 3600


# --- kept by the ingest ---------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def vote_counts(level: int, flags: str, reasons: str) -> tuple[int, ...]:
    """The COUNT_COLUMNS of one vote (the same rules as ``_count_exprs``)."""
    fl = set(flags.split(";")) if flags else set()
    test = "test" in fl
    misuse = not test and "suspected_misuse" in fl
    counted = not test and "suspected_misuse" not in fl
    out = [1 if counted and level == lvl else 0 for lvl in range(1, 6)]
    out += [int(test), int(misuse), int(counted and "stuck_button" in fl)]
    rs = set(reasons.split(";")) if reasons and counted else set()
    out += [int(code in rs) for code in REASON_CODES]
    return tuple(out)


_ANCESTORS = sa.text(
    "WITH RECURSIVE chain(id, depth) AS ("
    " SELECT CAST(:unit AS VARCHAR(64)), 0"
    " UNION ALL SELECT u.parent_id, chain.depth + 1 FROM chain JOIN units u ON u.id = chain.id"
    f" WHERE u.parent_id IS NOT NULL AND chain.depth < {MAX_UNIT_DEPTH})"
    " SELECT id FROM chain ORDER BY depth")


def ancestors_or_self(conn: Connection, unit_id: str) -> list[str]:
    """The unit, its parent, … up to the root, as the units table says now."""
    return list(conn.execute(_ANCESTORS, {"unit": unit_id}).scalars())


def _add(acc: dict, key: tuple, vec: Sequence[int], times: int = 1) -> None:
    cur = acc.get(key)
    if cur is None:
        acc[key] = [x * times for x in vec]
    else:
        for i, x in enumerate(vec):
            cur[i] += x * times


_STATEMENTS: dict[tuple[str, str], sa.Insert] = {}


def _upsert_statement(conn: Connection, table: sa.Table) -> sa.Insert:
    key = (conn.dialect.name, table.name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        from district.db import dialect_insert

        counts = [c.name for c in table.columns if not c.primary_key]
        ins = dialect_insert(conn, table)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={c: table.c[c] + ins.excluded[c] for c in counts})
        _STATEMENTS[key] = stmt
    return stmt


def _rows(table: sa.Table, acc: dict) -> list[dict]:
    keys = [c.name for c in table.primary_key.columns]
    counts = [c.name for c in table.columns if not c.primary_key]
    return [dict(zip(keys, k, strict=True)) | dict(zip(counts, v, strict=True))
            for k, v in sorted(acc.items())]  # key order: one lock order in every process


def _upsert(conn: Connection, table: sa.Table, acc: dict) -> None:
    if not acc:
        return
    rows = _rows(table, acc)
    # one row (a small batch within one hour) is a plain execute, not an executemany
    conn.execute(_upsert_statement(conn, table), rows[0] if len(rows) == 1 else rows)


@functools.cache
def _pg_upsert_all(tables: tuple[str, ...]) -> sa.TextClause:
    """PostgreSQL: every rollup in one statement (one round trip instead of seven), each
    table's rows as one JSON parameter read by ``json_populate_recordset`` (binding one text
    is far cheaper than a dozen arrays). PostgreSQL promises no order among data-modifying
    CTEs; every process runs this same statement on rows sorted by key, and should two
    batches still deadlock, the ingest retries (``DEADLOCK_RETRIES``)."""
    parts = []
    for i, name in enumerate(tables):
        table = ROLLUP_TABLES[name]
        keys = [c.name for c in table.primary_key.columns]
        counts = [c.name for c in table.columns if not c.primary_key]
        cols = ", ".join(keys + counts)
        adds = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in counts)
        parts.append(
            f"u{i} AS (INSERT INTO {name} ({cols}) SELECT {cols} FROM json_populate_recordset("
            f"NULL::{name}, CAST(:r{i} AS json)) ON CONFLICT ({', '.join(keys)}) "
            f"DO UPDATE SET {adds})")
    return sa.text("WITH " + ", ".join(parts) + " SELECT 1")


def _upsert_all_pg(conn: Connection, accs) -> None:
    live = [(table, acc) for table, acc in accs if acc]
    if not live:
        return
    stmt = _pg_upsert_all(tuple(table.name for table, _acc in live))
    conn.execute(stmt, {f"r{i}": json.dumps(_rows(table, acc), separators=(",", ":"))
                        for i, (table, acc) in enumerate(live)})


def add_votes(conn: Connection, rows: Iterable[dict],
              chains: dict[str, list[str]] | None = None) -> int:
    """Count stored vote rows (dicts of ``votes`` columns) into every rollup; returns how
    many. Call it in the transaction that inserted them, with only the rows it inserted.
    ``chains`` (unit → unit, parent, … root) may bring chains already read in this
    transaction; the others are read here."""
    # First the distinct (terminal, unit, hour, scale, level, flags, reasons) with their
    # number of votes (a C-level Counter: a batch of 500 has a few dozen), then the buckets.
    same = Counter((r["terminal_id"], r["unit_id"], local_hour_of(r["corrected_at"]),
                    r["scale"], r["level"], r["flags"] or "", r["reasons"] or "",
                    r.get("counter") or "", r.get("officer") or "")
                   for r in rows)
    chains = dict(chains or {})
    t_day: dict = {}
    t_month: dict = {}
    u_day: dict = {}
    u_month: dict = {}
    u_hour: dict = {}
    o_day: dict = {}
    o_month: dict = {}
    months: dict[int, int] = {}
    for (terminal, unit, hour, scale, level, flags, reasons, counter, officer), n in same.items():
        chain = chains.get(unit)
        if chain is None:
            chain = chains[unit] = ancestors_or_self(conn, unit) or [unit]
        vec = vote_counts(level, flags, reasons)
        day = hour // 24
        month = months.get(day)
        if month is None:
            month = months[day] = month_index(day_date(day))
        _add(t_day, (terminal, unit, day, scale), vec, n)
        _add(t_month, (terminal, unit, month, scale), vec, n)
        _add(o_day, (unit, counter, officer, day, scale), vec, n)
        _add(o_month, (unit, counter, officer, month, scale), vec, n)
        levels = vec[:5]
        for u in chain:
            own = int(u == unit)
            _add(u_day, (u, day, scale, own), vec, n)
            _add(u_month, (u, month, scale, own), vec, n)
            _add(u_hour, (u, hour, scale), levels, n)
    accs = ((terminal_day, t_day), (terminal_month, t_month), (unit_day, u_day),
            (unit_month, u_month), (unit_hour, u_hour), (officer_day, o_day),
            (officer_month, o_month))
    if conn.dialect.name == "postgresql":
        _upsert_all_pg(conn, accs)
    else:
        for table, acc in accs:
            _upsert(conn, table, acc)
    return sum(same.values())


# --- recomputation from votes (rebuild, check) ----------------------------------------------

def _count_exprs(v: str) -> dict[str, str]:
    """SQL for each count column of one vote; ``v`` is the row prefix (NEW or a table)."""
    flags = f"(';' || {v}.flags || ';')"
    is_test = f"{flags} LIKE '%;test;%'"
    is_misuse = f"{flags} LIKE '%;suspected_misuse;%'"
    counted = f"NOT ({is_test}) AND NOT ({is_misuse})"

    def when(cond: str) -> str:
        return f"CASE WHEN {cond} THEN 1 ELSE 0 END"

    exprs = {f"n{lvl}": when(f"{counted} AND {v}.level = {lvl}") for lvl in range(1, 6)}
    exprs["n_test"] = when(is_test)
    exprs["n_misuse"] = when(f"NOT ({is_test}) AND {is_misuse}")
    exprs["n_stuck"] = when(f"{counted} AND {flags} LIKE '%;stuck_button;%'")
    for code in REASON_CODES:
        exprs[f"r_{code}"] = when(f"{counted} AND (';' || {v}.reasons || ';') LIKE '%;{code};%'")
    assert tuple(exprs) == COUNT_COLUMNS
    return exprs


def _epoch(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(floor(extract(epoch from {column})) AS bigint)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def bucket_sql(dialect: str, column: str, seconds: int) -> str:
    # epochs are positive (votes are after 1970), so integer division is floor
    return f"(({_epoch(dialect, column)} + {UTC_OFFSET_S}) / {seconds})"


def _month_of_day_sql(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        d = f"(date '1970-01-01' + CAST({day} AS integer))"
        return (f"CAST((extract(year from {d}) - 1970) * 12 + extract(month from {d}) - 1"
                " AS integer)")
    d = f"({day}) * 86400, 'unixepoch'"
    return (f"((CAST(strftime('%Y', {d}) AS INTEGER) - 1970) * 12"
            f" + CAST(strftime('%m', {d}) AS INTEGER) - 1)")


_CLOSURE = (
    "WITH RECURSIVE anc(unit_id, ancestor_id, depth) AS ("
    " SELECT id, id, 0 FROM units"
    " UNION ALL SELECT anc.unit_id, u.parent_id, anc.depth + 1 FROM anc"
    " JOIN units u ON u.id = anc.ancestor_id"
    f" WHERE u.parent_id IS NOT NULL AND anc.depth < {MAX_UNIT_DEPTH}) ")


# The rollups keyed by a vote's own columns (column, SQL over ``votes v``), before the bucket
_TERMINAL_KEYS = (("terminal_id", "v.terminal_id"), ("unit_id", "v.unit_id"))
_OFFICER_KEYS = (("unit_id", "v.unit_id"), ("counter", "COALESCE(v.counter, '')"),
                 ("officer", "COALESCE(v.officer, '')"))
_OWN_KEYS = {terminal_day.name: _TERMINAL_KEYS, terminal_month.name: _TERMINAL_KEYS,
             officer_day.name: _OFFICER_KEYS, officer_month.name: _OFFICER_KEYS}


def _fresh_sql(dialect: str, table: sa.Table) -> str:
    """A SELECT computing ``table``'s rows (in column order) from ``votes``."""
    exprs = _count_exprs("v")
    cols = [c for c in exprs if c in table.c]
    vote_sums = ", ".join(f"SUM({exprs[c]}) AS {c}" for c in cols)
    re_sum = ", ".join(f"SUM(g.{c})" for c in cols)
    if table is unit_hour:
        bucket = bucket_sql(dialect, "v.corrected_at", 3600)
    else:
        bucket = bucket_sql(dialect, "v.corrected_at", 86400)
    monthly = "month" in table.c
    keys = _OWN_KEYS.get(table.name)
    if keys:  # keyed by the vote's own columns, no ancestors
        select = ", ".join(f"{expr} AS {name}" for name, expr in keys)
        group = ", ".join(expr for _name, expr in keys)
        inner = (f"SELECT {select}, {bucket} AS b, v.scale, {vote_sums} FROM votes v "
                 f"GROUP BY {group}, {bucket}, v.scale")
        if not monthly:
            return inner
        m = _month_of_day_sql(dialect, "g.b")
        names = ", ".join(f"g.{name}" for name, _expr in keys)
        return (f"SELECT {names}, {m}, g.scale, {re_sum} FROM ({inner}) g "
                f"GROUP BY {names}, {m}, g.scale")
    inner = (f"SELECT v.unit_id, {bucket} AS b, v.scale, {vote_sums} FROM votes v "
             f"GROUP BY v.unit_id, {bucket}, v.scale")
    b = _month_of_day_sql(dialect, "g.b") if monthly else "g.b"
    if table is unit_hour:
        return (f"{_CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {re_sum} FROM ({inner}) g "
                f"JOIN anc a ON a.unit_id = g.unit_id GROUP BY a.ancestor_id, {b}, g.scale")
    own = "CASE WHEN a.ancestor_id = g.unit_id THEN 1 ELSE 0 END"
    return (f"{_CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {own}, {re_sum} FROM ({inner}) g "
            f"JOIN anc a ON a.unit_id = g.unit_id "
            f"GROUP BY a.ancestor_id, {b}, g.scale, {own}")


def rebuild(conn: Connection, tables: Sequence[sa.Table] = ROLLUPS) -> None:
    """Recompute the rollups (every one, or ``tables``) from ``votes`` inside the caller's
    transaction; a table a later migration creates is skipped until it exists.

    On PostgreSQL the votes table is locked against inserts meanwhile (SHARE mode), so the
    result is exact; SQLite's write transaction already excludes other writers.
    """
    dialect = conn.dialect.name
    if not sa.inspect(conn).has_table(unit_day.name):
        return _legacy_rebuild(conn)  # migration d0001, before d0002 replaced its tables
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE votes IN SHARE MODE")
    existing = set(sa.inspect(conn).get_table_names())
    for table in (t for t in tables if t.name in existing):
        conn.execute(table.delete())
        cols = ", ".join(c.name for c in table.columns)
        conn.execute(sa.text(f"INSERT INTO {table.name} ({cols}) {_fresh_sql(dialect, table)}"))


def differences(conn: Connection) -> list[tuple]:
    """(table, row…) where a rollup differs from a fresh computation (empty = exact)."""
    dialect = conn.dialect.name
    out = []
    for table in ROLLUPS:
        fresh = {tuple(r) for r in conn.execute(sa.text(_fresh_sql(dialect, table)))}
        kept = {tuple(r) for r in conn.execute(sa.select(table))}
        out.extend((table.name, *r) for r in fresh ^ kept)
    return sorted(out, key=repr)


# --- revision d0001 (per-row trigger on dash_hourly / dash_daily) ---------------------------
# Kept only because migration d0001 calls them; d0002 drops that trigger and those tables.

_LEGACY = (("dash_hourly", "hour", 3600), ("dash_daily", "day", 86400))


def _legacy_upsert(dialect: str, name: str, bucket: str, seconds: int) -> str:
    exprs = _count_exprs("NEW")
    cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
    values = ", ".join(["NEW.terminal_id", "NEW.unit_id",
                        bucket_sql(dialect, "NEW.corrected_at", seconds), "NEW.scale",
                        *exprs.values()])
    sets = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in exprs)
    return (f"INSERT INTO {name} ({cols}) VALUES ({values}) "
            f"ON CONFLICT (terminal_id, unit_id, {bucket}, scale) DO UPDATE SET {sets};")


def trigger_ddl(dialect: str) -> list[str]:
    """The d0001 per-row trigger (two upserts per vote)."""
    body = "\n".join(_legacy_upsert(dialect, *spec) for spec in _LEGACY)
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION dash_rollup_vote() RETURNS trigger AS $$\nBEGIN\n"
            f"{body}\nRETURN NULL;\nEND;\n$$ LANGUAGE plpgsql",
            "CREATE TRIGGER dash_rollup_vote AFTER INSERT ON votes "
            "FOR EACH ROW EXECUTE FUNCTION dash_rollup_vote()",
        ]
    return [f"CREATE TRIGGER dash_rollup_vote AFTER INSERT ON votes BEGIN\n{body}\nEND"]


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS dash_rollup_vote ON votes",
                "DROP FUNCTION IF EXISTS dash_rollup_vote()"]
    return ["DROP TRIGGER IF EXISTS dash_rollup_vote"]


def _legacy_rebuild(conn: Connection) -> None:
    dialect = conn.dialect.name
    exprs = _count_exprs("v")
    for name, bucket, seconds in _LEGACY:
        b = bucket_sql(dialect, "v.corrected_at", seconds)
        cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
        sums = ", ".join(f"SUM({e})" for e in exprs.values())
        conn.execute(sa.text(f"DELETE FROM {name}"))
        conn.execute(sa.text(
            f"INSERT INTO {name} ({cols}) SELECT v.terminal_id, v.unit_id, {b}, v.scale, "
            f"{sums} FROM votes v GROUP BY v.terminal_id, v.unit_id, {b}, v.scale"))


assert LEVEL_COLUMNS == COUNT_COLUMNS[:5]

