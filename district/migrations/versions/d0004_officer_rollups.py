"""dashboard: rollups per unit and (counter, officer on duty)

Creates ``dash_officer_day`` and ``dash_officer_month``: the votes of each unit's own
terminals per counter and officer as the kiosk recorded them ("" for none), kept by
``district.dashboard.rollup.add_votes`` in the ingest transaction like the others, and fills
them from ``votes``. The unit page lists its counters and officers from them, and the
overview the ones of a whole subtree, at any size of the tree.

Revision ID: d0004
Revises: d0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from district.dashboard import rollup
from district.dashboard.tables import COUNT_COLUMNS, officer_day, officer_month

revision = "d0004"
down_revision = "d0003"
branch_labels = None
depends_on = None

TABLES = (("dash_officer_day", "day"), ("dash_officer_month", "month"))


def upgrade() -> None:
    for name, bucket in TABLES:
        op.create_table(
            name,
            sa.Column("unit_id", sa.String(64), nullable=False),
            sa.Column("counter", sa.String(100), nullable=False),
            sa.Column("officer", sa.String(200), nullable=False),
            sa.Column(bucket, sa.Integer, nullable=False),
            sa.Column("scale", sa.SmallInteger, nullable=False),
            *[sa.Column(c, sa.Integer, nullable=False, server_default="0")
              for c in COUNT_COLUMNS],
            sa.PrimaryKeyConstraint("unit_id", "counter", "officer", bucket, "scale"),
        )
        op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
    rollup.rebuild(op.get_bind(), (officer_day, officer_month))  # votes stored before


def downgrade() -> None:
    for name, _bucket in TABLES:
        op.drop_table(name)
