"""Pre-aggregation of votes: hourly and daily counts per terminal, in local time.

Kept by ``AFTER INSERT`` triggers on ``votes`` (SQLite and PostgreSQL), so a rollup row
changes in the same transaction as the vote it counts: a rolled-back batch leaves no trace,
two processes ingesting at once both add (``INSERT … ON CONFLICT DO UPDATE SET n = n + …``
takes the row lock), and no watermark can miss a vote committed out of id order. Votes are
never updated or deleted by the server; ``rebuild`` recomputes everything from ``votes``
(after a bulk load with triggers disabled, or to check the rollups: ``district dashboard
rollup-check``).

Buckets are local Vietnamese time (Asia/Ho_Chi_Minh is UTC+7 all year, no DST): the hour
bucket is ``floor((epoch_seconds + 25200) / 3600)``, the day bucket the same over 86400.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district.dashboard.tables import COUNT_COLUMNS, REASON_CODES, daily, hourly

UTC_OFFSET_S = 7 * 3600
LOCAL_TZ = dt.timezone(dt.timedelta(seconds=UTC_OFFSET_S), "ICT")
EPOCH_LOCAL = dt.date(1970, 1, 1)


def local_day(d: dt.date) -> int:
    return (d - EPOCH_LOCAL).days


def day_date(day: int) -> dt.date:
    return EPOCH_LOCAL + dt.timedelta(days=day)


def local_hour_of(moment: dt.datetime) -> int:
    return (int(moment.timestamp()) + UTC_OFFSET_S) // 3600


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


def _upsert(dialect: str, table: sa.Table, bucket: str, seconds: int) -> str:
    exprs = _count_exprs("NEW")
    cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
    values = ", ".join(["NEW.terminal_id", "NEW.unit_id",
                        bucket_sql(dialect, "NEW.corrected_at", seconds), "NEW.scale",
                        *exprs.values()])
    sets = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in exprs)
    return (f"INSERT INTO {table.name} ({cols}) VALUES ({values}) "
            f"ON CONFLICT (terminal_id, unit_id, {bucket}, scale) DO UPDATE SET {sets};")


def trigger_ddl(dialect: str) -> list[str]:
    body = _upsert(dialect, hourly, "hour", 3600) + "\n" + _upsert(dialect, daily, "day", 86400)
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


def _rebuild_sql(dialect: str, table: sa.Table, bucket: str, seconds: int) -> str:
    exprs = _count_exprs("v")
    b = bucket_sql(dialect, "v.corrected_at", seconds)
    cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
    sums = ", ".join(f"SUM({e})" for e in exprs.values())
    return (f"INSERT INTO {table.name} ({cols}) "
            f"SELECT v.terminal_id, v.unit_id, {b}, v.scale, {sums} FROM votes v "
            f"GROUP BY v.terminal_id, v.unit_id, {b}, v.scale")


def rebuild(conn: Connection) -> None:
    """Recompute both rollups from ``votes`` inside the caller's transaction.

    On PostgreSQL the votes table is locked against inserts meanwhile (SHARE mode), so the
    result is exact; SQLite's write transaction already excludes other writers.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE votes IN SHARE MODE")
    for table, bucket, seconds in ((hourly, "hour", 3600), (daily, "day", 86400)):
        conn.execute(table.delete())
        conn.execute(sa.text(_rebuild_sql(dialect, table, bucket, seconds)))


def differences(conn: Connection) -> list[tuple]:
    """Rows where the daily rollup differs from a fresh computation (empty = exact)."""
    dialect = conn.dialect.name
    exprs = _count_exprs("v")
    b = bucket_sql(dialect, "v.corrected_at", 86400)
    fresh = conn.execute(sa.text(
        f"SELECT v.terminal_id, v.unit_id, {b}, v.scale, "
        + ", ".join(f"SUM({e})" for e in exprs.values())
        + f" FROM votes v GROUP BY v.terminal_id, v.unit_id, {b}, v.scale")).all()
    kept = conn.execute(sa.select(daily)).all()
    as_set = {tuple(r) for r in fresh}
    kept_set = {tuple(r) for r in kept}
    return sorted(as_set ^ kept_set, key=repr)
