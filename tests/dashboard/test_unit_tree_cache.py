"""The dashboard keeps the loaded unit tree only while ``dash_units_version`` stands still;
every change to ``units``, by any writer, moves it (triggers of migration d0003). The tree
decides what a unit official may see, so a move must show at once: real databases, a real
app, a unit official signed in."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from district.dashboard.accounts import add_user
from district.dashboard.aggregates import UnitTree
from district.db import create_db_engine, migrate
from district.fleet import load_units, register_terminal
from tests.district_server import fresh_database

UNITS = [{"id": "q", "name": "Quận"}, {"id": "q2", "name": "Quận Hai"},
         {"id": "w", "name": "Phường Một", "parent": "q"}]
PASSWORD = "một mật khẩu dài"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTRICT_ALERT_INTERVAL_S", "0")
    with fresh_database(request.param, tmp_path) as url:
        eng = create_db_engine(url)
        try:
            migrate(eng)
            load_units(eng, {"units": UNITS})
            yield eng
        finally:
            eng.dispose()


def tree(engine) -> UnitTree:
    with engine.connect() as conn:
        return UnitTree.cached(conn)


def test_the_tree_is_reused_until_any_writer_changes_a_unit(engine):
    first = tree(engine)
    assert tree(engine) is first  # nothing changed: not loaded again
    load_units(engine, {"units": [*UNITS[:2], {**UNITS[2], "parent": "q2"}]})  # a move
    moved = tree(engine)
    assert moved is not first and moved.parent["w"] == "q2"
    assert tree(engine) is moved
    with engine.begin() as conn:  # an administrator's own SQL
        conn.execute(sa.text("UPDATE units SET name = 'Phường Mới' WHERE id = 'w'"))
    assert tree(engine).names["w"] == "Phường Mới"
    register_terminal(engine, "t-new", "x-new")  # a missing unit becomes a new root
    assert "x-new" in tree(engine).roots()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM terminals WHERE id = 't-new'"))
        conn.execute(sa.text("DELETE FROM units WHERE id = 'x-new'"))
    assert "x-new" not in tree(engine).names


def test_a_unit_official_loses_a_moved_unit_at_once(engine):
    from district.api import create_app

    add_user(engine, "quan1", PASSWORD, "unit", unit_id="q")
    with TestClient(create_app(engine=engine), follow_redirects=False) as client:
        assert client.post("/login", data={"username": "quan1", "password": PASSWORD}
                           ).status_code == 303
        assert client.get("/dashboard/units/w").status_code == 200
        load_units(engine, {"units": [*UNITS[:2], {**UNITS[2], "parent": "q2"}]})
        assert client.get("/dashboard/units/w").status_code == 404
        assert client.get("/api/v1/dashboard/units/w").status_code == 404
