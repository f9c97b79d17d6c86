"""attribution: officers, duty periods, dossiers, one counted rating per dossier

Creates ``officers`` (code, full name, unit, optional photo, badge issue, disabled),
``duty_periods`` (who was on duty at which terminal and counter, exactly once per
(terminal, period id)), ``dossiers`` (imported from the one-stop software) and
``dossier_ratings`` (the counted rating of each dossier), and adds the count column
``n_repeat`` (votes flagged ``repeat_dossier``: a dossier's later ratings, counted apart) to
every rollup keyed by the counting rules. No vote stored before carries that flag, so 0 is
exact for them. Its own column lists, as every revision (docs/server.md).

Revision ID: d0005
Revises: d0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# what district.db.UTCDateTime creates (timestamptz on PostgreSQL, text on SQLite)
UTCDateTime = sa.DateTime(timezone=True)

revision = "d0005"
down_revision = "d0004"
branch_labels = None
depends_on = None

# the rollups with the full count columns (dash_unit_hour keeps levels only)
COUNTED_ROLLUPS = ("dash_unit_day", "dash_unit_month", "dash_terminal_day",
                   "dash_terminal_month", "dash_officer_day", "dash_officer_month")


def upgrade() -> None:
    op.create_table(
        "officers",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("photo", sa.LargeBinary, nullable=True),
        sa.Column("photo_type", sa.String(32), nullable=True),
        sa.Column("badge_issue", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("disabled_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_officers_unit_id", "officers", ["unit_id"])
    op.create_table(
        "duty_periods",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("period_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("officer", sa.String(32), nullable=False),
        sa.Column("counter", sa.String(100), nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("terminal_id", "period_id", name="uq_duty_terminal_period"),
    )
    op.create_index("ix_duty_officer_started", "duty_periods", ["officer", "started_at"])
    op.create_index("ix_duty_unit_started", "duty_periods", ["unit_id", "started_at"])
    op.create_table(
        "dossiers",
        sa.Column("code", sa.String(100), primary_key=True),
        sa.Column("procedure_code", sa.String(64), nullable=False),
        sa.Column("procedure_name", sa.String(500), nullable=False),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("received_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("finished_on", sa.Date, nullable=True),
        sa.Column("officer", sa.String(32), nullable=True),
        sa.Column("imported_at", UTCDateTime, nullable=False),
    )
    # covering the coverage query (finished dossiers per unit and officer, joined by code)
    op.create_index("ix_dossiers_unit_finished", "dossiers",
                    ["unit_id", "finished_on", "officer", "code"])
    op.create_index("ix_dossiers_officer_finished", "dossiers", ["officer", "finished_on"])
    op.create_table(
        "dossier_ratings",
        sa.Column("dossier_code", sa.String(100), primary_key=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("vote_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("officer", sa.String(200), nullable=True),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        sa.Column("corrected_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_dossier_ratings_corrected", "dossier_ratings", ["corrected_at"])
    for table in COUNTED_ROLLUPS:
        op.add_column(table, sa.Column("n_repeat", sa.Integer, nullable=False,
                                       server_default="0"))


def downgrade() -> None:
    for table in COUNTED_ROLLUPS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("n_repeat")
    for name in ("dossier_ratings", "dossiers", "duty_periods", "officers"):
        op.drop_table(name)
