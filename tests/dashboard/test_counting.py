"""``district.counting`` defines the counted-vote rule, the count columns and the index once;
the Python and the SQL made from it agree on generated votes, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import uuid

import pytest
import sqlalchemy as sa

from ballot.vote import TERMINAL_FLAGS
from district import rollups
from district.counting import (
    COUNT_COLUMNS,
    COUNTED,
    count_sql,
    is_counted,
    points,
    vote_counts,
    vote_points,
)
from district.dashboard.aggregates import Counts
from district.fleet import register_terminal
from district.ingest import Delivery, ingest_batch
from district.models import FLAGS, REASONS
from tests.helpers import fresh_engine, iso

UNITS = [{"id": "tinh", "name": "Tỉnh"}, {"id": "xa", "name": "Xã", "parent": "tinh"}]
TERMINALS = (("t3", 3), ("t4", 4), ("t5", 5))  # one terminal per scale


def all_flag_sets() -> list[list[str]]:
    """Every subset of the flags a terminal may send, in every order it could write them
    (repeat_dossier is the server's: it comes from the dossier codes below)."""
    return [list(p) for r in range(len(TERMINAL_FLAGS) + 1)
            for subset in itertools.combinations(TERMINAL_FLAGS, r)
            for p in itertools.permutations(subset)]


def generated_votes(seed: int, scale: int, n: int) -> list[dict]:
    rnd = random.Random(seed)
    start = dt.datetime(2025, 1, 28, tzinfo=dt.UTC)  # across month ends and local midnights
    flag_sets = all_flag_sets()
    votes = []
    for i in range(n):
        at = start + dt.timedelta(minutes=rnd.randrange(60 * 24 * 70))
        votes.append({
            "id": str(uuid.uuid4()), "seq": i + 1, "level": rnd.randint(1, scale),
            "scale": scale, "source": "gpio", "recorded_at": iso(at), "clock_synced": True,
            "boot_id": "b", "monotonic_ns": i * 10**9,
            "flags": flag_sets[i % len(flag_sets)] if i % 3 else [],
            "reasons": rnd.sample(REASONS, rnd.randint(0, 2)),
            "counter": rnd.choice(["Quầy 1", "Quầy 2", None]),
            "officer": rnd.choice(["Nguyễn Văn An", "Trần Thị Bình", None]),
            # a small pool of dossiers: their later ratings are flagged repeat_dossier
            "dossier_code": f"HS-{scale}-{rnd.randrange(40)}" if i % 4 == 0 else None})
    return votes


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def voted(request, tmp_path_factory):
    """A migrated database with generated votes of every scale, kept by the ingest."""
    with fresh_engine(request.param, tmp_path_factory.mktemp("counting"), UNITS) as engine:
        for seed, (terminal, scale) in enumerate(TERMINALS):
            register_terminal(engine, terminal, "xa")
            ingest_batch(engine, terminal, "xa", generated_votes(seed, scale, 400),
                         Delivery(received_at=dt.datetime.now(dt.UTC), via="api"))
        yield engine


def test_the_rule_in_python_and_in_sql_counts_each_vote_alike(voted):
    exprs = count_sql("v")
    columns = ", ".join(f"{exprs[c]} AS {c}" for c in COUNT_COLUMNS)
    with voted.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT v.level, v.flags, v.reasons, {columns} FROM votes v")).all()
    assert len(rows) == 1200
    seen_flags = set()
    for level, flags, reasons, *in_sql in rows:
        assert tuple(in_sql) == vote_counts(level, flags, reasons), (level, flags, reasons)
        assert is_counted(flags) == (sum(in_sql[:5]) == 1)
        seen_flags.add(frozenset(flags.split(";")) - {""})
    # every combination a terminal may send was tried, and the server's repeat_dossier too
    assert len({s - {"repeat_dossier"} for s in seen_flags}) == 2 ** len(TERMINAL_FLAGS)
    assert any("repeat_dossier" in s for s in seen_flags)
    assert set().union(*seen_flags) == set(FLAGS)


def test_the_rollups_kept_in_python_equal_those_recomputed_in_sql(voted):
    with voted.connect() as conn:
        assert rollups.differences(conn) == []
        assert conn.execute(sa.select(sa.func.sum(rollups.unit_day.c.n_misuse))).scalar() > 0


def test_the_index_in_python_and_in_sql_agrees(voted):
    """Per row of the officer rollups and per (counter, officer) over the period."""
    t = rollups.officer_day
    levels = [t.c[f"n{lvl}"] for lvl in range(1, 6)]
    with voted.connect() as conn:
        rows = conn.execute(sa.select(t, points(levels, t.c.scale).label("points"))).mappings()
        by_officer: dict[tuple, Counts] = {}
        sql_points: dict[tuple, float] = {}
        for row in rows:
            in_python = points([row[f"n{lvl}"] for lvl in range(1, row["scale"] + 1)],
                               row["scale"])
            assert math.isclose(row["points"], in_python, abs_tol=1e-9), dict(row)
            key = (row["counter"], row["officer"])
            by_officer.setdefault(key, Counts()).add_row(row["scale"], row)
            sql_points[key] = sql_points.get(key, 0) + row["points"]
    assert len(by_officer) == 9
    for key, counts in by_officer.items():
        assert math.isclose(sql_points[key] / counts.votes, counts.index, abs_tol=1e-9), key


def test_the_index_formula():
    assert [vote_points(level, 4) for level in (1, 2, 3, 4)] == [0, 100 / 3, 200 / 3, 100]
    assert points([1, 0, 1], 3) == 100.0  # a worst and a best vote: 0 + 100
    counts = Counts()
    counts.add_row(5, {"n1": 0, "n2": 0, "n3": 2, "n4": 0, "n5": 2})
    assert counts.index == 75.0
    assert COUNTED.holds({"stuck_button"}) and not COUNTED.holds({"test"})
