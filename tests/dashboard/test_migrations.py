"""The dashboard's migrations carry their own SQL (d0001's trigger and fill, d0002's and
d0004's fills): on generated votes they give what the live code gives, and the schema they
make is the live tables' (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import district.db
from district import rollups
from district.counting import COUNT_COLUMNS, vote_counts
from district.db import create_db_engine, migrate
from district.fleet import load_units, register_terminal
from district.ingest import Delivery, ingest_batch
from tests.dashboard.test_counting import TERMINALS, UNITS, generated_votes
from tests.helpers import fresh_database
from tests.helpers.terminals import terminal_at_old_revision


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request):
    return request.param


def alembic(conn, verb, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location",
                        str(district.db.Path(district.db.__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    verb(cfg, revision)
    conn.commit()


def move(engine, verb, revision: str) -> None:
    with engine.connect() as conn:
        alembic(conn, verb, revision)


def store(engine, seed: int, n: int, upkeep: bool = True) -> None:
    """Generated votes of every scale; ``upkeep=False`` leaves the rollups to the schema's
    own means (d0001's trigger), as an older server did."""
    saved = rollups.add_votes
    if not upkeep:
        rollups.add_votes = lambda conn, rows, chains=None: 0
    try:
        for i, (terminal, scale) in enumerate(TERMINALS):
            # Without dossier codes: the per-dossier rule (d0005) counts only what arrives
            # after it, so an older schema's votes cannot carry it.
            votes = [{**vote, "dossier_code": None}
                     for vote in generated_votes(seed * 10 + i, scale, n)]
            ingest_batch(engine, terminal, "xa", votes,
                         Delivery(received_at=dt.datetime.now(dt.UTC), via="api"))
    finally:
        rollups.add_votes = saved


def contents(conn, names) -> dict[str, Counter]:
    return {name: Counter(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {name}")))
            for name in names}


def d0001_columns() -> tuple[str, ...]:
    """The count columns of revision d0001, as it froze them (later revisions add more)."""
    import importlib.util

    path = district.db.Path(district.db.__file__).parent / "migrations/versions/d0001_dashboard.py"
    spec = importlib.util.spec_from_file_location("d0001_dashboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.COUNT_COLUMNS


def d0001_expected(conn) -> dict[str, Counter]:
    """dash_hourly / dash_daily as the live Python counts each vote, in d0001's columns (the
    live columns begin with them)."""
    columns = d0001_columns()
    assert COUNT_COLUMNS[:len(columns)] == columns
    v = district.db.votes.c
    acc = {"dash_hourly": defaultdict(lambda: [0] * len(columns)),
           "dash_daily": defaultdict(lambda: [0] * len(columns))}
    for row in conn.execute(sa.select(v.terminal_id, v.unit_id, v.corrected_at, v.scale,
                                      v.level, v.flags, v.reasons)):
        hour = rollups.local_hour_of(row.corrected_at)
        for name, bucket in (("dash_hourly", hour), ("dash_daily", hour // 24)):
            cur = acc[name][(row.terminal_id, row.unit_id, bucket, row.scale)]
            counts = vote_counts(row.level, row.flags, row.reasons)[:len(columns)]
            for i, n in enumerate(counts):
                cur[i] += n
    return {name: Counter((*key, *vec) for key, vec in rows.items())
            for name, rows in acc.items()}


def test_migrations_fill_what_the_live_code_counts(kind, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with fresh_database(kind, tmp_path / "a") as old, \
            fresh_database(kind, tmp_path / "b", prefix="hl_test_live") as live:
        migrated, fresh = create_db_engine(old), create_db_engine(live)
        try:
            move(migrated, command.upgrade, "d0001")
            migrate(fresh)
            for engine in (migrated, fresh):
                load_units(engine, {"units": UNITS})
            for terminal, _scale in TERMINALS:
                terminal_at_old_revision(migrated, terminal, "xa")
                register_terminal(fresh, terminal, "xa")
            store(migrated, 1, 300, upkeep=False)  # d0001's trigger counts them
            store(fresh, 1, 300)                   # today's ingest counts them
            with migrated.connect() as conn:
                assert contents(conn, ("dash_hourly", "dash_daily")) == d0001_expected(conn)
            migrate(migrated)  # d0002 and d0004 fill their tables with their own SQL
            names = [t.name for t in rollups.ROLLUPS]
            with migrated.connect() as conn, fresh.connect() as other:
                assert rollups.differences(conn) == []
                assert contents(conn, names) == contents(other, names)
                assert sum(contents(conn, ["dash_officer_day"])["dash_officer_day"].values())

            # and back: d0002's downgrade restores d0001's tables, trigger and counts
            move(migrated, command.downgrade, "d0001")
            store(migrated, 2, 100, upkeep=False)
            with migrated.connect() as conn:
                assert contents(conn, ("dash_hourly", "dash_daily")) == d0001_expected(conn)
            migrate(migrated)
            with migrated.connect() as conn:
                assert rollups.differences(conn) == []
        finally:
            migrated.dispose()
            fresh.dispose()


def test_the_migrated_schema_is_the_live_tables(kind, tmp_path):
    with fresh_database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            migrate(engine)
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                for table in rollups.ROLLUPS:
                    columns = inspector.get_columns(table.name)
                    assert [c["name"] for c in columns] == [c.name for c in table.columns]
                    for found, column in zip(columns, table.columns, strict=True):
                        assert not found["nullable"], (table.name, column.name)
                        assert type(found["type"]).__name__.upper() in {
                            "INTEGER", "SMALLINTEGER", "SMALLINT", "VARCHAR"}
                        if isinstance(column.type, sa.String):
                            assert found["type"].length == column.type.length
                    pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
                    assert pk == [c.name for c in table.primary_key.columns]
                    indexes = {i["name"]: i["column_names"]
                               for i in inspector.get_indexes(table.name)}
                    assert indexes == {i.name: [c.name for c in i.columns]
                                       for i in table.indexes}
        finally:
            engine.dispose()
