"""dashboard: rollups per unit and ancestor, kept by the ingest (no more per-row trigger)

Drops the d0001 trigger ``dash_rollup_vote`` and its tables ``dash_hourly`` / ``dash_daily``;
creates ``dash_unit_day``, ``dash_unit_month``, ``dash_unit_hour`` (every ancestor-or-self
unit of a vote's unit) and ``dash_terminal_day``, ``dash_terminal_month`` (per terminal),
kept by ``district.dashboard.rollup.add_votes`` in the ingest transaction, and fills them
from ``votes``.

Revision ID: d0002
Revises: d0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from district.dashboard import rollup
from district.dashboard.tables import COUNT_COLUMNS, LEVEL_COLUMNS

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None


def _counts(columns):
    return [sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in columns]


def upgrade() -> None:
    conn = op.get_bind()
    for ddl in rollup.drop_trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    for name, bucket in (("dash_hourly", "hour"), ("dash_daily", "day")):
        op.drop_index(f"ix_{name}_{bucket}", table_name=name)
        op.drop_index(f"ix_{name}_unit_{bucket}", table_name=name)
        op.drop_table(name)
    for name, bucket in (("dash_unit_day", "day"), ("dash_unit_month", "month")):
        op.create_table(
            name,
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            sa.Column("own", sa.SmallInteger, nullable=False),
            *_counts(COUNT_COLUMNS),
            sa.PrimaryKeyConstraint("unit_id", bucket, "scale", "own"),
        )
    op.create_table(
        "dash_unit_hour",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("hour", sa.Integer, nullable=False),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        *_counts(LEVEL_COLUMNS),
        sa.PrimaryKeyConstraint("unit_id", "hour", "scale"),
    )
    for name, bucket in (("dash_terminal_day", "day"), ("dash_terminal_month", "month")):
        op.create_table(
            name,
            sa.Column("terminal_id", sa.String(64), nullable=False),
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            *_counts(COUNT_COLUMNS),
            sa.PrimaryKeyConstraint("terminal_id", "unit_id", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
        op.create_index(f"ix_{name}_{bucket}", name, [bucket])
    rollup.rebuild(conn)  # votes stored before this revision


def downgrade() -> None:
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
            *_counts(COUNT_COLUMNS),
            sa.PrimaryKeyConstraint("terminal_id", "unit_id", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
        op.create_index(f"ix_{name}_{bucket}", name, [bucket])
    conn = op.get_bind()
    for ddl in rollup.trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    rollup._legacy_rebuild(conn)
