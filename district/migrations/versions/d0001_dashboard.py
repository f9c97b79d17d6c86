"""dashboard: officials, sessions, settings, hourly/daily rollups (trigger-kept), alerts

A separate branch (label ``dashboard``) so the server's chain and this one never conflict;
it depends on the server's initial schema (votes, units). ``district.db.migrate`` upgrades
to ``heads``.

Like every revision, it carries its own SQL and column lists, as they were when it was
written: the live code (``district.rollups``, ``district.counting``) may change, this may
not. Revision d0002 (dropping the trigger, and re-creating it on downgrade) uses the
functions of this file.

Revision ID: d0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "d0001"
down_revision = None
branch_labels = ("dashboard",)
depends_on = "0001"

REASON_CODES = ("waiting_time", "too_many_trips", "unclear_guidance", "officer_attitude",
                "other")
COUNT_COLUMNS = ("n1", "n2", "n3", "n4", "n5", "n_test", "n_misuse", "n_stuck",
                 *(f"r_{code}" for code in REASON_CODES))
UTC_OFFSET_S = 7 * 3600  # buckets are local time, Asia/Ho_Chi_Minh (UTC+7, no DST)
ROLLUPS = (("dash_hourly", "hour", 3600), ("dash_daily", "day", 86400))


def count_exprs(v: str) -> dict[str, str]:
    """SQL for each count column of one vote; ``v`` is the row prefix (NEW or a table)."""
    flags = f"(';' || {v}.flags || ';')"
    is_test = f"{flags} LIKE '%;test;%'"
    is_misuse = f"{flags} LIKE '%;suspected_misuse;%'"
    counted = f"NOT ({is_test}) AND NOT ({is_misuse})"

    def when(cond: str) -> str:
        return f"CASE WHEN {cond} THEN 1 ELSE 0 END"

    exprs = {f"n{lvl}": when(f"{counted} AND {v}.level = {lvl}") for lvl in range(1, 6)}
    exprs["n_test"] = when(is_test)
    exprs["n_misuse"] = when(f"NOT ({is_test}) AND {is_misuse}")
    exprs["n_stuck"] = when(f"{counted} AND {flags} LIKE '%;stuck_button;%'")
    for code in REASON_CODES:
        exprs[f"r_{code}"] = when(f"{counted} AND (';' || {v}.reasons || ';') LIKE '%;{code};%'")
    return exprs


def bucket_sql(dialect: str, column: str, seconds: int) -> str:
    if dialect == "postgresql":
        epoch = f"CAST(floor(extract(epoch from {column})) AS bigint)"
    else:
        epoch = f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"(({epoch} + {UTC_OFFSET_S}) / {seconds})"


def _upsert(dialect: str, name: str, bucket: str, seconds: int) -> str:
    exprs = count_exprs("NEW")
    cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
    values = ", ".join(["NEW.terminal_id", "NEW.unit_id",
                        bucket_sql(dialect, "NEW.corrected_at", seconds), "NEW.scale",
                        *exprs.values()])
    sets = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in exprs)
    return (f"INSERT INTO {name} ({cols}) VALUES ({values}) "
            f"ON CONFLICT (terminal_id, unit_id, {bucket}, scale) DO UPDATE SET {sets};")


def trigger_ddl(dialect: str) -> list[str]:
    """The per-row trigger ``dash_rollup_vote``: two upserts per vote."""
    body = "\n".join(_upsert(dialect, *spec) for spec in ROLLUPS)
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION dash_rollup_vote() RETURNS trigger AS $$\nBEGIN\n"
            f"{body}\nRETURN NULL;\nEND;\n$$ LANGUAGE plpgsql",
            "CREATE TRIGGER dash_rollup_vote AFTER INSERT ON votes "
            "FOR EACH ROW EXECUTE FUNCTION dash_rollup_vote()",
        ]
    return [f"CREATE TRIGGER dash_rollup_vote AFTER INSERT ON votes BEGIN\n{body}\nEND"]


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS dash_rollup_vote ON votes",
                "DROP FUNCTION IF EXISTS dash_rollup_vote()"]
    return ["DROP TRIGGER IF EXISTS dash_rollup_vote"]


def fill(conn) -> None:
    """Recompute ``dash_hourly`` and ``dash_daily`` from ``votes``."""
    dialect = conn.dialect.name
    exprs = count_exprs("v")
    for name, bucket, seconds in ROLLUPS:
        b = bucket_sql(dialect, "v.corrected_at", seconds)
        cols = ", ".join(["terminal_id", "unit_id", bucket, "scale", *exprs])
        sums = ", ".join(f"SUM({e})" for e in exprs.values())
        conn.execute(sa.text(f"DELETE FROM {name}"))
        conn.execute(sa.text(
            f"INSERT INTO {name} ({cols}) SELECT v.terminal_id, v.unit_id, {b}, v.scale, "
            f"{sums} FROM votes v GROUP BY v.terminal_id, v.unit_id, {b}, v.scale"))


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
    for ddl in trigger_ddl(conn.dialect.name):
        op.execute(ddl)
    fill(conn)  # votes stored before this revision


def downgrade() -> None:
    for ddl in drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(ddl)
    for name in ("dash_alert_states", "dash_daily", "dash_hourly", "dash_settings",
                 "dash_sessions", "dash_users"):
        op.drop_table(name)
