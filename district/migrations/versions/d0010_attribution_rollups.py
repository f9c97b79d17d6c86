"""attribution rollups: coverage and procedures pre-aggregated, the procedures' names

Creates ``dash_coverage_day`` / ``dash_coverage_month`` (finished and rated dossiers per
unit, handling officer ("" for none) and local day / month of the finish date),
``dash_procedure_day`` / ``dash_procedure_month`` (counted ratings per unit, procedure,
local day / month of the rating and scale, per level) and ``dossier_procedures`` (each
procedure's name, per unit), and fills them from the dossiers and ratings stored so far
with its own SQL (what ``district.attribution_rollups`` computed when it was written). Drops
``ix_dossiers_officer_finished``: an officer's coverage now reads the rollup, and the index
cost every import a third of its inserts. Adds ``(officer, day|month)`` indexes to the
officer rollups, for one officer's page.

Revision ID: d0010
Revises: d0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0010"
down_revision = "d0009"
branch_labels = None
depends_on = "d0005"  # the dossiers and their ratings

LEVELS = ("n1", "n2", "n3", "n4", "n5")


def _coverage(name: str, bucket: str) -> None:
    op.create_table(
        name,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("officer", sa.String(32), primary_key=True),
        sa.Column(bucket, sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n_finished", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_rated", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index(f"ix_{name}_officer", name, ["officer", bucket])


def _procedure(name: str, bucket: str) -> None:
    op.create_table(
        name,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("procedure_code", sa.String(64), primary_key=True),
        sa.Column(bucket, sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("scale", sa.SmallInteger, primary_key=True, autoincrement=False),
        *[sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in LEVELS],
    )


def _day(pg: bool, column: str) -> str:
    return f"({column} - date '1970-01-01')" if pg else \
        f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _month(pg: bool, column: str) -> str:
    if pg:
        return (f"CAST((extract(year from {column}) - 1970) * 12 + extract(month from {column})"
                " - 1 AS integer)")
    return (f"((CAST(strftime('%Y', {column}) AS INTEGER) - 1970) * 12"
            f" + CAST(strftime('%m', {column}) AS INTEGER) - 1)")


def _fill(pg: bool) -> None:
    rated_on = (("CAST((r.corrected_at AT TIME ZONE 'UTC') + interval '25200 seconds' AS date)")
                if pg else "date(r.corrected_at, '+25200 seconds')")
    levels = ", ".join(f"SUM(CASE WHEN r.level = {n} THEN 1 ELSE 0 END)" for n in range(1, 6))
    for name, bucket in (("day", _day), ("month", _month)):
        b = bucket(pg, "d.finished_on")
        op.execute(
            f"INSERT INTO dash_coverage_{name} (unit_id, officer, {name}, n_finished, n_rated) "
            f"SELECT d.unit_id, COALESCE(d.officer, ''), {b}, COUNT(*), COUNT(r.dossier_code) "
            f"FROM dossiers d LEFT JOIN dossier_ratings r ON r.dossier_code = d.code "
            f"WHERE d.finished_on IS NOT NULL GROUP BY d.unit_id, COALESCE(d.officer, ''), {b}")
        b = bucket(pg, rated_on)
        op.execute(
            f"INSERT INTO dash_procedure_{name} (unit_id, procedure_code, {name}, scale, "
            f"{', '.join(LEVELS)}) SELECT d.unit_id, d.procedure_code, {b}, r.scale, {levels} "
            f"FROM dossier_ratings r JOIN dossiers d ON d.code = r.dossier_code "
            f"GROUP BY d.unit_id, d.procedure_code, {b}, r.scale")
    op.execute("INSERT INTO dossier_procedures (unit_id, procedure_code, procedure_name) "
               "SELECT unit_id, procedure_code, MIN(procedure_name) FROM dossiers "
               "GROUP BY unit_id, procedure_code")


def upgrade() -> None:
    _coverage("dash_coverage_day", "day")
    _coverage("dash_coverage_month", "month")
    _procedure("dash_procedure_day", "day")
    _procedure("dash_procedure_month", "month")
    op.create_table(
        "dossier_procedures",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("procedure_code", sa.String(64), primary_key=True),
        sa.Column("procedure_name", sa.String(500), nullable=False),
    )
    _fill(op.get_bind().dialect.name == "postgresql")
    op.drop_index("ix_dossiers_officer_finished", table_name="dossiers")
    # one officer's page reads their own rows of the officer rollups
    op.create_index("ix_dash_officer_day_officer_day", "dash_officer_day", ["officer", "day"])
    op.create_index("ix_dash_officer_month_officer_month", "dash_officer_month",
                    ["officer", "month"])


def downgrade() -> None:
    op.drop_index("ix_dash_officer_month_officer_month", table_name="dash_officer_month")
    op.drop_index("ix_dash_officer_day_officer_day", table_name="dash_officer_day")
    op.create_index("ix_dossiers_officer_finished", "dossiers", ["officer", "finished_on"])
    for name in ("dossier_procedures", "dash_procedure_month", "dash_procedure_day",
                 "dash_coverage_month", "dash_coverage_day"):
        op.drop_table(name)
