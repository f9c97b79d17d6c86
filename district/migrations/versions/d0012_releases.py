"""releases: rollouts of the district's software releases, and what terminals report

``release_rollouts``: one row per ``district releases rollout`` (``district.releases.store``):
the hailong-kiosk version, its target (``terminal``, ``unit``, ``share`` of the fleet in
percent, ``all``), whether it may go back to an older version, its state (active, paused,
stopped), who, when. ``terminal_releases``: per terminal, the version it runs and the outcome
of its last update (kept, rolled back, refused) with the reason.

Revision ID: d0012
Revises: d0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0012"
down_revision = "d0009"
branch_labels = None
depends_on = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "release_rollouts",
        sa.Column("pk", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),          # terminal, unit, share, all
        sa.Column("target", sa.String(100), nullable=False, server_default=""),
        sa.Column("allow_older", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(10), nullable=False),         # active, paused, stopped
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "terminal_releases",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(100), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),        # kept, rolled_back, refused
        sa.Column("outcome_version", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("terminal_releases")
    op.drop_table("release_rollouts")
