"""dashboard: the history of alerts, and their acknowledgement with a comment

``dash_alert_events``: one row each time an alert opens or closes (the alert loop, in the
transaction that flips ``dash_alert_states``) and each time an official acknowledges an
open alert, with their comment (``district.dashboard.alerts``). The alerts page shows an
open alert's last acknowledgement and the unit's history.

Revision ID: d0008
Revises: d0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0008"
down_revision = "d0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dash_alert_events",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # opened, acknowledged, closed
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(100), nullable=False, server_default=""),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_dash_alert_events_subject", "dash_alert_events",
                    ["rule", "subject", "at"])
    op.create_index("ix_dash_alert_events_unit", "dash_alert_events", ["unit_id", "at"])


def downgrade() -> None:
    op.drop_table("dash_alert_events")
