"""dashboard: rollups per unit and (counter, officer on duty)

Creates ``dash_officer_day`` and ``dash_officer_month``: the votes of each unit's own
terminals per counter and officer as the kiosk recorded them ("" for none), kept by
``district.rollups.add_votes`` in the ingest transaction like the others, and fills them
from ``votes`` with its own SQL (revision d0002's functions, with d0001's counting). The unit
page lists its counters and officers from them, and the
overview the ones of a whole subtree, at any size of the tree.

Revision ID: d0004
Revises: d0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import context, op

revision = "d0004"
down_revision = "d0003"
branch_labels = None
depends_on = None

TABLES = (("dash_officer_day", "day"), ("dash_officer_month", "month"))
# The vote's own columns the rows are keyed by (column, SQL over ``votes v``)
KEYS = (("unit_id", "v.unit_id"), ("counter", "COALESCE(v.counter, '')"),
        ("officer", "COALESCE(v.officer, '')"))


def revision_module(rev: str):
    """An earlier revision's file: its SQL is frozen like this one's."""
    return context.script.get_revision(rev).module


def fills(dialect: str) -> list[tuple[str, tuple, str]]:
    d0002 = revision_module("d0002")
    counts = revision_module("d0001").COUNT_COLUMNS
    return [(name, ("unit_id", "counter", "officer", bucket, "scale", *counts),
             d0002.own_rows_sql(dialect, bucket, KEYS, counts)) for name, bucket in TABLES]


def upgrade() -> None:
    counts = revision_module("d0001").COUNT_COLUMNS
    for name, bucket in TABLES:
        op.create_table(
            name,
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column("counter", sa.String(100), nullable=False),
            sa.Column("officer", sa.String(200), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            *[sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in counts],
            sa.PrimaryKeyConstraint("unit_id", "counter", "officer", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
    conn = op.get_bind()
    revision_module("d0002").fill(conn, fills(conn.dialect.name))  # votes stored before


def downgrade() -> None:
    for name, _bucket in TABLES:
        op.drop_table(name)
