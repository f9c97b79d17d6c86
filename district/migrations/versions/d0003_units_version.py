"""dashboard: a version number of the unit tree, bumped by the database on every change

``dash_units_version`` holds one row; triggers on ``units`` set it to a new random number
whenever a unit is inserted, updated or deleted, whoever does it (``district units load``,
a new root unit from ``district terminals add``, a bulk load, an administrator's SQL). The
dashboard keeps the unit tree it has loaded while the version stays the same
(``UnitTree.cached``): the tree decides what a unit official may see, so the cache must never
outlive a change. Random, not a counter: a database restored from a backup, or another one
at the same URL, cannot come back to a number a server process has cached.

Revision ID: d0003
Revises: d0002
Create Date: 2026-11-28
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "d0003"
down_revision = "d0002"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION dash_bump_units_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dash_units_version SET version = floor(random() * 9007199254740991)::bigint;
    RETURN NULL;
END $$"""
PG_TRIGGER = ("CREATE TRIGGER dash_units_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
              "ON units FOR EACH STATEMENT EXECUTE FUNCTION dash_bump_units_version()")
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "dash_units_version",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_dash_units_version_one_row"),
    )
    op.execute(f"INSERT INTO dash_units_version (id, version) VALUES (1, {secrets.randbits(62)})")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        return
    for event in SQLITE_EVENTS:
        op.execute(f"CREATE TRIGGER dash_units_{event.lower()} AFTER {event} ON units "
                   "BEGIN UPDATE dash_units_version SET version = random(); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS dash_units_changed ON units")
        op.execute("DROP FUNCTION IF EXISTS dash_bump_units_version()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS dash_units_{event.lower()}")
    op.drop_table("dash_units_version")
