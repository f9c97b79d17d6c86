"""dashboard: rollups per unit and ancestor, kept by the ingest (no more per-row trigger)

Drops the d0001 trigger ``dash_rollup_vote`` and its tables ``dash_hourly`` / ``dash_daily``;
creates ``dash_unit_day``, ``dash_unit_month``, ``dash_unit_hour`` (every ancestor-or-self
unit of a vote's unit) and ``dash_terminal_day``, ``dash_terminal_month`` (per terminal),
kept by ``district.rollups.add_votes`` in the ingest transaction, and fills them from
``votes`` with its own SQL (the counting of revision d0001, ``count_exprs``). Revision d0004
fills its tables with the functions of this file.

Revision ID: d0002
Revises: d0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import context, op

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None

MAX_UNIT_DEPTH = 64
UNIT_TABLES = (("dash_unit_day", "day"), ("dash_unit_month", "month"))
TERMINAL_TABLES = (("dash_terminal_day", "day"), ("dash_terminal_month", "month"))
TERMINAL_KEYS = (("terminal_id", "v.terminal_id"), ("unit_id", "v.unit_id"))
CLOSURE = (
    "WITH RECURSIVE anc(unit_id, ancestor_id, depth) AS ("
    " SELECT id, id, 0 FROM units"
    " UNION ALL SELECT anc.unit_id, u.parent_id, anc.depth + 1 FROM anc"
    " JOIN units u ON u.id = anc.ancestor_id"
    f" WHERE u.parent_id IS NOT NULL AND anc.depth < {MAX_UNIT_DEPTH}) ")


def revision_module(rev: str):
    """An earlier revision's file: its SQL is frozen like this one's."""
    return context.script.get_revision(rev).module


def month_of_day_sql(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        d = f"(date '1970-01-01' + CAST({day} AS integer))"
        return (f"CAST((extract(year from {d}) - 1970) * 12 + extract(month from {d}) - 1"
                " AS integer)")
    d = f"({day}) * 86400, 'unixepoch'"
    return (f"((CAST(strftime('%Y', {d}) AS INTEGER) - 1970) * 12"
            f" + CAST(strftime('%m', {d}) AS INTEGER) - 1)")


def _sums(columns) -> tuple[str, str]:
    exprs = revision_module("d0001").count_exprs("v")
    return (", ".join(f"SUM({exprs[c]}) AS {c}" for c in columns),
            ", ".join(f"SUM(g.{c})" for c in columns))


def _bucket(dialect: str, bucket: str) -> str:
    return revision_module("d0001").bucket_sql(
        dialect, "v.corrected_at", 3600 if bucket == "hour" else 86400)


def own_rows_sql(dialect: str, bucket: str, keys, columns) -> str:
    """Rows keyed by a vote's own columns (``keys``: column, SQL over ``votes v``)."""
    vote_sums, re_sum = _sums(columns)
    b = _bucket(dialect, bucket)
    select = ", ".join(f"{expr} AS {name}" for name, expr in keys)
    group = ", ".join(expr for _name, expr in keys)
    inner = (f"SELECT {select}, {b} AS b, v.scale, {vote_sums} FROM votes v "
             f"GROUP BY {group}, {b}, v.scale")
    if bucket != "month":
        return inner
    m = month_of_day_sql(dialect, "g.b")
    names = ", ".join(f"g.{name}" for name, _expr in keys)
    return (f"SELECT {names}, {m}, g.scale, {re_sum} FROM ({inner}) g "
            f"GROUP BY {names}, {m}, g.scale")


def unit_rows_sql(dialect: str, bucket: str, columns, own: bool) -> str:
    """Rows of every ancestor-or-self unit of the votes' units (with ``own`` or not)."""
    vote_sums, re_sum = _sums(columns)
    day_or_hour = _bucket(dialect, bucket)
    inner = (f"SELECT v.unit_id, {day_or_hour} AS b, v.scale, {vote_sums} FROM votes v "
             f"GROUP BY v.unit_id, {day_or_hour}, v.scale")
    b = month_of_day_sql(dialect, "g.b") if bucket == "month" else "g.b"
    if not own:
        return (f"{CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {re_sum} FROM ({inner}) g "
                f"JOIN anc a ON a.unit_id = g.unit_id GROUP BY a.ancestor_id, {b}, g.scale")
    is_own = "CASE WHEN a.ancestor_id = g.unit_id THEN 1 ELSE 0 END"
    return (f"{CLOSURE}SELECT a.ancestor_id, {b}, g.scale, {is_own}, {re_sum} FROM ({inner}) g "
            f"JOIN anc a ON a.unit_id = g.unit_id "
            f"GROUP BY a.ancestor_id, {b}, g.scale, {is_own}")


def fill(conn, fills) -> None:
    """``fills``: (table, its columns in order, the SELECT of its rows) — recomputed from
    ``votes``; on PostgreSQL with inserts locked out meanwhile."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE votes IN SHARE MODE")
    for name, columns, select in fills:
        conn.execute(sa.text(f"DELETE FROM {name}"))
        conn.execute(sa.text(f"INSERT INTO {name} ({', '.join(columns)}) {select}"))


def fills(dialect: str) -> list[tuple[str, tuple, str]]:
    """What this revision fills: its five tables."""
    counts = revision_module("d0001").COUNT_COLUMNS
    levels = counts[:5]
    out = [(name, ("unit_id", bucket, "scale", "own", *counts),
            unit_rows_sql(dialect, bucket, counts, own=True)) for name, bucket in UNIT_TABLES]
    out.append(("dash_unit_hour", ("unit_id", "hour", "scale", *levels),
                unit_rows_sql(dialect, "hour", levels, own=False)))
    out += [(name, ("terminal_id", "unit_id", bucket, "scale", *counts),
             own_rows_sql(dialect, bucket, TERMINAL_KEYS, counts))
            for name, bucket in TERMINAL_TABLES]
    return out


def _counts(columns):
    return [sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in columns]


def upgrade() -> None:
    conn = op.get_bind()
    d0001 = revision_module("d0001")
    counts, levels = d0001.COUNT_COLUMNS, d0001.COUNT_COLUMNS[:5]
    for ddl in d0001.drop_trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    for name, bucket in (("dash_hourly", "hour"), ("dash_daily", "day")):
        op.drop_index(f"ix_{name}_{bucket}", table_name=name)
        op.drop_index(f"ix_{name}_unit_{bucket}", table_name=name)
        op.drop_table(name)
    for name, bucket in UNIT_TABLES:
        op.create_table(
            name,
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            sa.Column("own", sa.SmallInteger, nullable=False),
            *_counts(counts),
            sa.PrimaryKeyConstraint("unit_id", bucket, "scale", "own"),
        )
    op.create_table(
        "dash_unit_hour",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("hour", sa.Integer, nullable=False),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        *_counts(levels),
        sa.PrimaryKeyConstraint("unit_id", "hour", "scale"),
    )
    for name, bucket in TERMINAL_TABLES:
        op.create_table(
            name,
            sa.Column("terminal_id", sa.String(64), nullable=False),
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            *_counts(counts),
            sa.PrimaryKeyConstraint("terminal_id", "unit_id", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
        op.create_index(f"ix_{name}_{bucket}", name, [bucket])
    fill(conn, fills(conn.dialect.name))  # votes stored before this revision


def downgrade() -> None:
    d0001 = revision_module("d0001")
    for name in ("dash_terminal_month", "dash_terminal_day", "dash_unit_hour",
                 "dash_unit_month", "dash_unit_day"):
        op.drop_table(name)
    for name, bucket in (("dash_hourly", "hour"), ("dash_daily", "day")):
        op.create_table(
            name,
            sa.Column("terminal_id", sa.String(64), nullable=False),
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            *_counts(d0001.COUNT_COLUMNS),
            sa.PrimaryKeyConstraint("terminal_id", "unit_id", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
        op.create_index(f"ix_{name}_{bucket}", name, [bucket])
    conn = op.get_bind()
    for ddl in d0001.trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    d0001.fill(conn)
