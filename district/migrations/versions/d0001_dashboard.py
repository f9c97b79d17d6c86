"""dashboard: officials, sessions, settings, hourly/daily rollups (trigger-kept), alerts

A separate branch (label ``dashboard``) so the server's chain and this one never conflict;
it depends on the server's initial schema (votes, units). ``district.db.migrate`` upgrades
to ``heads``.

Revision ID: d0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

from district.dashboard import rollup
from district.dashboard.tables import COUNT_COLUMNS

revision = "d0001"
down_revision = None
branch_labels = ("dashboard",)
depends_on = "0001"


def _rollup_table(name: str, bucket: str) -> None:
    op.create_table(
        name,
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column(bucket, sa.Integer, nullable=False),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        *[sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in COUNT_COLUMNS],
        sa.PrimaryKeyConstraint("terminal_id", "unit_id", bucket, "scale"),
    )
    op.create_index(f"ix_{name}_unit_{bucket}", name, ["unit_id", bucket])
    op.create_index(f"ix_{name}_{bucket}", name, [bucket])


def upgrade() -> None:
    op.create_table(
        "dash_users",
        sa.Column("pk", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "dash_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_pk", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_pk"], ["dash_users.pk"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_dash_sessions_user_pk", "dash_sessions", ["user_pk"])
    op.create_table(
        "dash_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    _rollup_table("dash_hourly", "hour")
    _rollup_table("dash_daily", "day")
    op.create_table(
        "dash_alert_states",
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text, server_default="", nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("rule", "subject"),
    )
    conn = op.get_bind()
    for ddl in rollup.trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    rollup.rebuild(conn)  # votes stored before this revision


def downgrade() -> None:
    for ddl in rollup.drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(ddl)
    for name in ("dash_alert_states", "dash_daily", "dash_hourly", "dash_settings",
                 "dash_sessions", "dash_users"):
        op.drop_table(name)
