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
from district.fleet import load_units, register_terminal
from tests.helpers import fresh_engine

UNITS = [{"id": "q", "name": "Quận"}, {"id": "q2", "name": "Quận Hai"},
         {"id": "w", "name": "Phường Một", "parent": "q"}]
PASSWORD = "một mật khẩu dài"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTRICT_ALERT_INTERVAL_S", "0")
    with fresh_engine(request.param, tmp_path, UNITS) as eng:
        yield eng


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
    from district.app import create_app

    add_user(engine, "quan1", PASSWORD, "unit", unit_id="q")
    with TestClient(create_app(engine=engine), follow_redirects=False) as client:
        assert client.post("/login", data={"username": "quan1", "password": PASSWORD}
                           ).status_code == 303
        assert client.get("/dashboard/units/w").status_code == 200
        load_units(engine, {"units": [*UNITS[:2], {**UNITS[2], "parent": "q2"}]})
        assert client.get("/dashboard/units/w").status_code == 404
        assert client.get("/api/v1/dashboard/units/w").status_code == 404


def _province(districts: int = 20, communes: int = 20) -> UnitTree:
    """P → D00… → D00-C00…: 421 units, more than the selector lists whole."""
    parent: dict[str, str | None] = {"P": None}
    for d in range(districts):
        parent[f"D{d:02d}"] = "P"
        for c in range(communes):
            parent[f"D{d:02d}-C{c:02d}"] = f"D{d:02d}"
    children: dict[str, list[str]] = {}
    for unit, up in parent.items():
        if up:
            children.setdefault(up, []).append(unit)
    return UnitTree({u: f"Đơn vị {u}" for u in parent}, dict.fromkeys(parent, ""), parent,
                    {u: sorted(kids) for u, kids in children.items()})


@pytest.mark.parametrize(("current", "expected"), [
    ("P", ["P", *[f"D{d:02d}" for d in range(20)]]),
    ("D05", ["P", *[f"D{d:02d}" for d in range(6)], *[f"D05-C{c:02d}" for c in range(20)],
             *[f"D{d:02d}" for d in range(6, 20)]]),
    ("D05-C03", ["P", "D05", *[f"D05-C{c:02d}" for c in range(20)]]),
])
def test_a_large_unit_selector_shows_the_way_to_the_current_unit(current, expected):
    from district.dashboard.accounts import Official
    from district.dashboard.scope import ALL_UNITS_UP_TO, Scope

    tree = _province()
    assert len(tree.names) > ALL_UNITS_UP_TO
    choices = Scope(Official(1, "tinh", "district", None), tree).unit_choices(current)
    assert [u for u, _name, _depth in choices] == expected
    depth = {u: d for u, _name, d in choices}
    assert depth["P"] == 0
    assert all(depth[u] == (2 if "-C" in u else 1) for u in depth if u != "P")
    small = Scope(Official(2, "huyen", "unit", "D05"), tree).unit_choices("D05-C03")
    assert [u for u, _n, _d in small] == ["D05", *[f"D05-C{c:02d}" for c in range(20)]]


def test_find_ignores_accents_and_case():
    from district.dashboard.accounts import Official
    from district.dashboard.aggregates import fold
    from district.dashboard.scope import Scope

    assert fold("Phường Thanh Nhàn") == "phuong thanh nhan"
    assert fold("ĐỐNG ĐA") == "dong da"
    tree = UnitTree({"q": "Quận Đống Đa", "w": "Phường Thanh Nhàn", "x": "Xã Khác"},
                    {"q": "", "w": "", "x": ""}, {"q": None, "w": "q", "x": None},
                    {"q": ["w"]})
    district = Scope(Official(1, "d", "district", None), tree)
    assert district.find("thanh nhan") == ["w"]
    assert district.find("DONG da") == ["q"]
    assert district.find("  ") == []
    assert district.find("x") == ["x"]  # the code counts too
    assert Scope(Official(2, "u", "unit", "q"), tree).find("khac") == []  # outside its units
