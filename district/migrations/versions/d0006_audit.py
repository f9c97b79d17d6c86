"""audit: the audit log, append-only

``audit_log``: one row per sign-in (and failed or refused one), sign-out, export, account
change and token change: when, who, from where, what (``district.audit``). The database
itself refuses to change or delete a row (triggers on SQLite and PostgreSQL, TRUNCATE too on
PostgreSQL): the server only ever inserts, and no API route writes here.

Revision ID: d0006
Revises: d0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0006"
down_revision = "d0004"
branch_labels = None
depends_on = None

REFUSAL = "audit_log is append-only"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    for verb in ("UPDATE", "DELETE")
]
PG_STATEMENTS = [
    "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        # naive UTC text on SQLite, timestamptz on PostgreSQL (district.db.UTCDateTime)
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),    # who: an official, cli:USER
        sa.Column("address", sa.String(64), nullable=False),   # from where: IP, or "cli"
        sa.Column("action", sa.String(40), nullable=False),    # what (district.audit.ACTIONS)
        sa.Column("target", sa.String(300), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),  # JSON
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    statements = PG_STATEMENTS if op.get_bind().dialect.name == "postgresql" \
        else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_log")
        op.execute("DROP FUNCTION audit_log_refuse()")
    else:
        op.drop_table("audit_log")
