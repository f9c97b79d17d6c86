"""The rollups per unit and ancestor: kept by the ingest, exact after duplicates, after a
unit moves (``load_units`` rebuilds them) and after the d0001 → d0002 migration."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from district import rollups as rollup
from district.dashboard import aggregates as agg
from district.dashboard.periods import Period
from district.db import create_db_engine, migrate
from district.fleet import load_units, register_terminal
from district.ingest import Delivery, ingest_batch
from tests.helpers import fresh_database
from tests.helpers.terminals import terminal_at_old_revision

TREE = {"units": [{"id": "tinh", "name": "Tỉnh"},
                  {"id": "h1", "name": "Huyện 1", "parent": "tinh"},
                  {"id": "h2", "name": "Huyện 2", "parent": "tinh"},
                  {"id": "x1", "name": "Xã 1", "parent": "h1"}]}
YEAR = Period("year", dt.date(2025, 1, 1), dt.date(2025, 12, 31))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _votes(n: int, level: int = 3) -> list[dict]:
    at = dt.datetime(2025, 3, 31, 16, 30, tzinfo=dt.UTC)  # 23:30 local: the local day
    return [{"id": str(uuid.uuid4()), "seq": i + 1, "level": level, "scale": 3,
             "source": "gpio", "recorded_at": (at + dt.timedelta(minutes=i)).isoformat(),
             "clock_synced": True, "boot_id": "b", "monotonic_ns": i * 10**9,
             "flags": ["test"] if i % 5 == 0 else [], "reasons": []} for i in range(n)]


def at_revision(url: str, revision: str):
    """An engine on a database migrated only up to ``revision`` (an older schema)."""
    from alembic import command
    from alembic.config import Config

    import district.db

    engine = create_db_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location",
                        str(district.db.Path(district.db.__file__).parent / "migrations"))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    return engine


def _send(engine, terminal, unit, batch):
    return ingest_batch(engine, terminal, unit, batch,
                        Delivery(received_at=dt.datetime.now(dt.UTC), via="api"))


def test_ingest_duplicates_and_moves(fresh_url):
    engine = create_db_engine(fresh_url)
    migrate(engine)
    load_units(engine, TREE)
    register_terminal(engine, "t-x1", "x1")
    register_terminal(engine, "t-h2", "h2")
    batch = _votes(60)
    accepted, dup, _ = _send(engine, "t-x1", "x1", batch[:40])
    assert len(accepted) == 40
    accepted, dup, _ = _send(engine, "t-x1", "x1", batch[20:])  # 20 duplicates
    assert len(accepted) == 20 and len(dup) == 20
    _send(engine, "t-h2", "h2", _votes(10, level=1))
    with engine.connect() as conn:
        assert rollup.differences(conn) == []
        subtree = agg.counts_by_unit(conn, YEAR, ["tinh", "h1", "h2", "x1"])
        # 60 votes of x1 (12 test) count in x1, h1 and the province; 10 of h2 (2 test)
        assert subtree["x1"].votes == subtree["h1"].votes == 48
        assert subtree["tinh"].votes == 56 and subtree["tinh"].test == 14
        own = agg.counts_by_unit(conn, YEAR, ["h1", "x1"], own_only=True)
        assert "h1" not in own and own["x1"].votes == 48
        # 23:30 … 00:29 local: two local days in two months (monthly and daily rows)
        days = agg.counts_by_day(conn, YEAR, "tinh")
        assert sorted(days) == [dt.date(2025, 3, 31), dt.date(2025, 4, 1)]
    # x1 moves from h1 to h2: load_units rebuilds the rollups in its transaction
    moved = {"units": [*TREE["units"][:3], {"id": "x1", "name": "Xã 1", "parent": "h2"}]}
    assert load_units(engine, moved) == (0, 1)
    with engine.connect() as conn:
        assert rollup.differences(conn) == []
        subtree = agg.counts_by_unit(conn, YEAR, ["h1", "h2"])
        assert "h1" not in subtree and subtree["h2"].votes == 56
    engine.dispose()


def test_migration_from_trigger_rollups_fills_the_new_tables(fresh_url):
    """A database at d0001 (per-row trigger) with votes upgrades to exact new rollups."""


    engine = at_revision(fresh_url, "d0001")
    load_units(engine, TREE)
    terminal_at_old_revision(engine, "t-x1", "x1")
    from district import rollups as r

    saved = r.add_votes
    r.add_votes = lambda conn, rows, chains=None: 0  # d0001 has no new tables: the trigger counts
    try:
        _send(engine, "t-x1", "x1", _votes(30))
    finally:
        r.add_votes = saved
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT SUM(n3) FROM dash_daily")).scalar() == 24
    migrate(engine)
    with engine.connect() as conn:
        assert rollup.differences(conn) == []
        assert agg.counts_by_unit(conn, YEAR, ["tinh"])["tinh"].votes == 24
        names = set(sa.inspect(conn).get_table_names())
        assert "dash_daily" not in names and "dash_hourly" not in names
    _send(engine, "t-x1", "x1", _votes(5))  # no trigger any more: counted once
    with engine.connect() as conn:
        assert rollup.differences(conn) == []
        assert agg.counts_by_unit(conn, YEAR, ["tinh"])["tinh"].votes == 28
    engine.dispose()


def test_officer_rollups_count_what_the_ingest_stores_and_fill_from_older_votes(fresh_url):
    """Votes with counters and officers: kept exact by the ingest, and filled by migration
    d0004 from votes stored before it (stored here with the rollups bypassed)."""


    engine = at_revision(fresh_url, "d0003")
    load_units(engine, TREE)
    terminal_at_old_revision(engine, "t-x1", "x1")
    terminal_at_old_revision(engine, "t-h2", "h2")

    def on_duty(batch, counter, officer):
        return [{**v, "counter": counter, "officer": officer} for v in batch]

    saved = rollup.add_votes
    rollup.add_votes = lambda conn, rows, chains=None: 0  # d0003 has no officer tables
    try:
        _send(engine, "t-x1", "x1", on_duty(_votes(20), "Quầy 1", "Nguyễn Văn An"))
    finally:
        rollup.add_votes = saved
    migrate(engine)
    with engine.connect() as conn:
        assert [d for d in rollup.differences(conn) if d[0].startswith("dash_officer")] == []
    _send(engine, "t-x1", "x1", on_duty(_votes(10, level=1), "Quầy 1", "Trần Thị Bình"))
    _send(engine, "t-h2", "h2", _votes(5))  # no officer shown: "" and ""
    with engine.connect() as conn:
        assert [d for d in rollup.differences(conn) if d[0].startswith("dash_officer")] == []
        by_officer = agg.counts_by_officer(conn, YEAR, ["x1", "h2"])
        assert {k: (c.votes, c.test, c.index) for k, c in by_officer.items()} == {
            ("x1", "Quầy 1", "Nguyễn Văn An"): (16, 4, 100.0),
            ("x1", "Quầy 1", "Trần Thị Bình"): (8, 2, 0.0),
            ("h2", "", ""): (4, 1, 100.0)}
        assert set(agg.counts_by_officer(conn, YEAR, ["h2"])) == {("h2", "", "")}
    engine.dispose()
