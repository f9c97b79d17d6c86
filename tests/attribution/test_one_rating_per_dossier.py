"""One counted rating per dossier across every terminal, through the real server, on SQLite
and PostgreSQL: the first to reach the server counts; later ones are stored, flagged
``repeat_dossier`` and counted apart (n_repeat), never in the index."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from district import attribution_rollups, db, rollups
from district.attribution import dossier_ratings
from district.counting import is_counted
from district.dashboard.tables import unit_day
from tests.helpers import iso, make_vote, utcnow


def _stored(system, vote_id):
    with system.engine.connect() as conn:
        return conn.execute(sa.select(db.votes.c.flags, db.votes.c.terminal_id)
                            .where(db.votes.c.vote_id == vote_id)).one()


def _claim(system, code):
    with system.engine.connect() as conn:
        return conn.execute(sa.select(dossier_ratings).where(
            dossier_ratings.c.dossier_code == code)).one_or_none()


def test_a_second_terminal_rating_the_same_dossier_is_kept_flagged_and_not_counted(system):
    code = f"000.00.00.H01-241201-{system.backend[:1]}001"
    first = make_vote(dossier_code=code, level=3, officer="CB-1",
                      recorded_at=iso(utcnow() - dt.timedelta(minutes=1)))
    later = make_vote(dossier_code=code, level=1, officer="CB-1")
    assert system.votes("a-1", [first]).json()["accepted"] == [first["id"]]
    assert system.votes("a-2", [later]).json()["accepted"] == [later["id"]]

    assert _stored(system, first["id"]).flags == ""
    flags = _stored(system, later["id"]).flags
    assert flags == "repeat_dossier" and not is_counted(flags)
    claim = _claim(system, code)
    assert (claim.terminal_id, claim.vote_id, claim.level) == ("a-1", first["id"], 3)
    # resent (the sync agent retries): a duplicate, the claim unchanged
    again = system.votes("a-1", [first]).json()
    assert again["duplicate"] == [first["id"]]
    assert _claim(system, code).vote_id == first["id"]
    with system.engine.connect() as conn:
        assert rollups.differences(conn) == [], rollups.differences(conn)
        n_repeat = conn.execute(sa.select(sa.func.sum(unit_day.c.n_repeat))
                                .where(unit_day.c.unit_id == "p-a")).scalar()
    assert n_repeat >= 1


def test_within_a_batch_the_earliest_counts_and_test_votes_claim_nothing(system):
    code = f"000.00.00.H02-241201-{system.backend[:1]}002"
    now = utcnow() - dt.timedelta(minutes=1)
    test_vote = make_vote(dossier_code=code, flags=["test"], recorded_at=iso(now))
    late = make_vote(dossier_code=code, level=1, recorded_at=iso(now + dt.timedelta(seconds=9)))
    early = make_vote(dossier_code=code, level=2, recorded_at=iso(now + dt.timedelta(seconds=5)))
    answer = system.votes("b-1", [test_vote, late, early]).json()
    assert len(answer["accepted"]) == 3
    assert _claim(system, code).vote_id == early["id"]
    assert _stored(system, late["id"]).flags == "repeat_dossier"
    assert _stored(system, test_vote["id"]).flags == "test"


def test_two_terminals_racing_on_the_same_dossiers_count_each_once(system):
    codes = [f"000.00.00.H03-241201-{system.backend[:1]}{n:03d}" for n in range(40)]
    sent: dict[str, list[dict]] = {"a-1": [], "a-2": []}
    for terminal in sent:
        sent[terminal] = [make_vote(dossier_code=c, seq=i + 1) for i, c in enumerate(codes)]

    def push(terminal):
        for start in range(0, len(codes), 5):
            assert system.votes(terminal, sent[terminal][start:start + 5]).status_code == 200

    threads = [threading.Thread(target=push, args=(t,)) for t in sent]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with system.engine.connect() as conn:
        rows = conn.execute(sa.select(db.votes.c.dossier_code, db.votes.c.flags)
                            .where(db.votes.c.dossier_code.in_(codes))).all()
        claims = conn.execute(sa.select(sa.func.count()).select_from(dossier_ratings)
                              .where(dossier_ratings.c.dossier_code.in_(codes))).scalar()
        assert rollups.differences(conn) == [], rollups.differences(conn)
    assert len(rows) == 80 and claims == 40
    for code in codes:
        flags = sorted(f for c, f in rows if c == code)
        assert flags == ["", "repeat_dossier"], code


def test_a_resent_uncounted_vote_beside_a_new_one_leaves_the_new_ones_claim(system):
    """A test vote for a dossier, sent again (a duplicate, not stored now) in the batch that
    brings the dossier's real rating: the real one claims the dossier and keeps its claim."""
    code = f"000.00.00.H04-241201-{system.backend[:1]}004"
    now = utcnow() - dt.timedelta(minutes=2)
    test_vote = make_vote(dossier_code=code, flags=["test"], seq=1, recorded_at=iso(now))
    assert system.votes("b-1", [test_vote]).json()["accepted"] == [test_vote["id"]]
    rating = make_vote(dossier_code=code, level=2, seq=2, monotonic_ns=124_000_000_000,
                       recorded_at=iso(now + dt.timedelta(minutes=1)))
    answer = system.votes("b-1", [test_vote, rating]).json()
    assert answer["duplicate"] == [test_vote["id"]] and answer["accepted"] == [rating["id"]]
    claim = _claim(system, code)
    assert claim is not None and claim.vote_id == rating["id"]
    assert _stored(system, rating["id"]).flags == ""
    with system.engine.connect() as conn:
        assert attribution_rollups.differences(conn) == []
