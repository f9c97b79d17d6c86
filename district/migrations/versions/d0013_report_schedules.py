"""dashboard: scheduled reports and their sendings

``dash_report_schedules``: what district officials chose on the dashboard (a unit,
recipients, monthly or weekly, the language), with when it is next sent, the period being
retried and the last status; ``dash_report_sendings``: one row per sending, sent or failed
(``district.dashboard.schedules``).

Revision ID: d0013
Revises: d0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0013"
down_revision = "d0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dash_report_schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_period", sa.String(16), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dash_report_schedules_next", "dash_report_schedules", ["next_run_at"])
    op.create_table(
        "dash_report_sendings",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("schedule_id", sa.Integer, nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_dash_report_sendings_schedule", "dash_report_sendings",
                    ["schedule_id", "at"])


def downgrade() -> None:
    op.drop_table("dash_report_sendings")
    op.drop_table("dash_report_schedules")
