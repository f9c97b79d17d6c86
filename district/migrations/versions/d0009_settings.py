"""settings: what a district decides for its terminals, versioned; help from afar

``settings_versions``: one row per change of the settings kept for the fleet, a unit or a
terminal (``district.steering.store``): the whole document of that scope after the change
(only the keys set there, JSON), what changed, who, when, and which version a return to an
earlier one restored. The newest row of a scope is its settings; the row's number is the
version terminals report.

``terminal_steering``: per terminal, the settings version it last reported applied (or
refused, and why). ``terminal_requests``: an official's request to a terminal (its doctor
report and journal, a restart of the screen, the button test), its answer once the terminal
sent it with a heartbeat.

Revision ID: d0009
Revises: d0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0009"
down_revision = "d0004"
branch_labels = None
depends_on = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "settings_versions",
        sa.Column("version", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),       # fleet, unit, terminal
        sa.Column("scope_id", sa.String(64), nullable=False),    # "" for the fleet
        sa.Column("document", sa.Text, nullable=False),          # JSON: the keys set here
        sa.Column("changes", sa.Text, nullable=False),           # JSON: key → [old, new]
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("restores", sa.BigInteger, nullable=True),     # a return to this version
    )
    op.create_index("ix_settings_versions_scope", "settings_versions",
                    ["scope", "scope_id", "version"])
    op.create_table(
        "terminal_steering",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("applied_version", sa.BigInteger, nullable=True),
        sa.Column("applied_etag", sa.String(64), nullable=True),
        sa.Column("refused_version", sa.BigInteger, nullable=True),
        sa.Column("refusal", sa.Text, nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "terminal_requests",
        sa.Column("pk", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),      # doctor, restart_ui, button_test
        sa.Column("asked_by", sa.String(100), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text, nullable=True),             # JSON from the terminal
    )
    op.create_index("ix_terminal_requests_open", "terminal_requests",
                    ["terminal_id", "answered_at"])


def downgrade() -> None:
    op.drop_table("terminal_requests")
    op.drop_table("terminal_steering")
    op.drop_index("ix_settings_versions_scope", "settings_versions")
    op.drop_table("settings_versions")
