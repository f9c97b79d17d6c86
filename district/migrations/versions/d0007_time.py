"""time: checked clocks, re-dating, uncertain votes in their own bucket

Creates ``boot_dating`` (per terminal boot: the highest R - M believed and the epoch its
stored votes were dated with), ``vote_time_marks`` (why a vote's time is uncertain) and
``vote_time_history`` (every change of a stored vote's time), all deleted with what they
describe. Votes stored before as ``time_method = 'none'`` get the mark ``boot_unknown``
(they are re-dated when their boot becomes known). The rollups are filled again with the
votes of uncertain time in the bucket -1 ("time unknown", out of every period) instead of
their raw kiosk time: revision d0002's and d0004's own SQL, each bucket expression wrapped in
``CASE WHEN v.time_uncertain THEN -1 ELSE … END`` (the month of day -1 is -1 too).

Revision ID: d0007
Revises: d0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import context, op

# what district.db.UTCDateTime creates (timestamptz on PostgreSQL, text on SQLite)
UTCDateTime = sa.DateTime(timezone=True)

revision = "d0007"
down_revision = "d0004"
branch_labels = None
depends_on = None

UNKNOWN = -1


def revision_module(rev: str):
    """An earlier revision's file: its SQL is frozen like this one's."""
    return context.script.get_revision(rev).module


def fills(dialect: str, uncertain_apart: bool) -> list[tuple[str, tuple, str]]:
    """d0002's and d0004's fills; with ``uncertain_apart``, their buckets of uncertain
    votes are -1."""
    out = revision_module("d0002").fills(dialect) + revision_module("d0004").fills(dialect)
    if not uncertain_apart:
        return out
    d0001 = revision_module("d0001")
    wrapped = []
    for name, columns, select in out:
        for seconds in (3600, 86400):
            bucket = d0001.bucket_sql(dialect, "v.corrected_at", seconds)
            select = select.replace(
                bucket, f"(CASE WHEN v.time_uncertain THEN {UNKNOWN} ELSE {bucket} END)")
        wrapped.append((name, columns, select))
    return wrapped


def upgrade() -> None:
    op.create_table(
        "boot_dating",
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("epoch_max_us", sa.BigInteger, nullable=True),
        sa.Column("dated_epoch_us", sa.BigInteger, nullable=True),
        sa.Column("dated_method", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("terminal_id", "boot_id"),
        sa.ForeignKeyConstraint(["terminal_id", "boot_id"],
                                ["terminal_boots.terminal_id", "terminal_boots.boot_id"],
                                ondelete="CASCADE"),
    )
    op.create_table(
        "vote_time_marks",
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("vote_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("marked_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("terminal_id", "vote_id"),
        sa.ForeignKeyConstraint(["terminal_id", "vote_id"],
                                ["votes.terminal_id", "votes.vote_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "vote_time_history",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("vote_id", sa.String(36), nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("corrected_at", UTCDateTime, nullable=False),
        sa.Column("time_method", sa.String(16), nullable=False),
        sa.Column("time_uncertain", sa.Boolean, nullable=False),
        sa.Column("new_corrected_at", UTCDateTime, nullable=False),
        sa.Column("new_time_method", sa.String(16), nullable=False),
        sa.Column("new_time_uncertain", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(["terminal_id", "vote_id"],
                                ["votes.terminal_id", "votes.vote_id"], ondelete="CASCADE"),
    )
    op.create_index("ix_vote_time_history_vote", "vote_time_history",
                    ["terminal_id", "vote_id"])
    op.execute("INSERT INTO vote_time_marks (terminal_id, vote_id, reason, marked_at) "
               "SELECT terminal_id, vote_id, 'boot_unknown', received_at FROM votes "
               "WHERE time_method = 'none'")
    conn = op.get_bind()
    revision_module("d0002").fill(conn, fills(conn.dialect.name, uncertain_apart=True))


def downgrade() -> None:
    conn = op.get_bind()
    revision_module("d0002").fill(conn, fills(conn.dialect.name, uncertain_apart=False))
    op.drop_index("ix_vote_time_history_vote", table_name="vote_time_history")
    for name in ("vote_time_history", "vote_time_marks", "boot_dating"):
        op.drop_table(name)
