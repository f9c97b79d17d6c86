"""The dashboard's attribution figures equal an independent computation on generated data
(officers, no one's duty, procedures, coverage), through the real server on SQLite and
PostgreSQL; and a unit official cannot reach another unit's officers by any URL."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid

import httpx
import pytest

from district.dashboard.accounts import add_user
from district.db import write_transaction
from district.dossiers import import_dossiers
from district.officers import add_officer
from tests.helpers import iso

PASSWORD = "correct horse battery staple"
ICT = dt.timezone(dt.timedelta(hours=7))
PERIOD = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}
OFFICERS = {"CB-A1": "p-a", "CB-A2": "p-a", "CB-A3": "p-a", "CB-B1": "p-b", "CB-B2": "p-b"}
TERMINALS = {"a-1": "p-a", "a-2": "p-a", "b-1": "p-b"}
PROCEDURES = {"1.001": "Đăng ký khai sinh", "1.002": "Chứng thực bản sao", "2.001": "Cấp phép"}


@pytest.fixture(scope="module")
def generated(system):
    rnd = random.Random(12)
    for code, unit in OFFICERS.items():
        add_officer(system.engine, code, f"Cán bộ {code}", unit)
    codes = [f"000.00.00.H09-261101-{n:04d}" for n in range(80)]
    dossiers = []
    for code in codes:
        unit = rnd.choice(["p-a", "p-b"])
        finished = dt.date(2026, 11, rnd.randint(1, 30)) if rnd.random() < 0.8 else (
            dt.date(2026, 10, 20) if rnd.random() < 0.5 else None)
        officer = rnd.choice([c for c, u in OFFICERS.items() if u == unit] + [None])
        dossiers.append({"code": code, "procedure_code": (proc := rnd.choice(list(PROCEDURES))),
                         "procedure_name": PROCEDURES[proc], "unit_id": unit,
                         "received_on": dt.date(2026, 10, 1), "due_on": None,
                         "finished_on": finished, "officer": officer,
                         "imported_at": dt.datetime.now(dt.UTC)})
    # half the list imported before the votes, the other half after them (receipts are
    # often rated before the one-stop software's list reaches the server): both kinds must
    # count in coverage and procedures
    imported = [dict(d, line=n) for n, d in enumerate(dossiers, start=2)]
    import_dossiers(system.engine, imported[::2], "first half")
    batches = []
    for _ in range(24):
        terminal = rnd.choice(list(TERMINALS))
        unit = TERMINALS[terminal]
        votes = []
        for _ in range(rnd.randint(5, 20)):
            local = dt.datetime(2026, 11, rnd.randint(1, 30), rnd.randint(7, 16),
                                rnd.randint(0, 59), rnd.randint(0, 59), tzinfo=ICT)
            if rnd.random() < 0.08:
                local = dt.datetime(2026, 10, 31, 23, 30, tzinfo=ICT)  # just outside
            officer = rnd.choice([c for c, u in OFFICERS.items() if u == unit] + [None])
            mine = [d["code"] for d in dossiers if d["unit_id"] == unit]
            votes.append({
                "id": str(uuid.uuid4()), "seq": 1, "level": rnd.randint(1, 5), "scale": 5,
                "source": "gpio", "recorded_at": iso(local.astimezone(dt.UTC)),
                "clock_synced": True, "boot_id": str(uuid.uuid4()), "monotonic_ns": 10**9,
                "flags": ["test"] if rnd.random() < 0.05 else [], "reasons": [],
                "counter": rnd.choice(["Quầy 1", "Quầy 2"]), "officer": officer,
                "dossier_code": rnd.choice(mine) if rnd.random() < 0.7 else None})
        votes.sort(key=lambda v: v["recorded_at"])
        batches.append((terminal, votes))
    for terminal, votes in batches:
        answer = system.votes(terminal, votes).json()
        assert len(answer["accepted"]) == len(votes), answer
    import_dossiers(system.engine, imported[1::2], "second half")
    # and some dossiers change afterwards: another finish date, officer or procedure (the
    # rollups move them; the independent computation reads the final list)
    for d in dossiers[:12]:
        d["finished_on"] = None if d["finished_on"] else dt.date(2026, 11, 15)
        d["officer"] = rnd.choice([c for c, u in OFFICERS.items() if u == d["unit_id"]])
        d["procedure_code"] = "2.001"
        d["procedure_name"] = PROCEDURES["2.001"]
    import_dossiers(system.engine, [dict(d, line=n) for n, d in enumerate(dossiers, start=2)],
                    "corrected list")
    add_user(system.engine, "chief", PASSWORD, "district")
    add_user(system.engine, "ward-b", PASSWORD, "unit", "p-b")
    duty = on_duty(system, rnd)
    return dossiers, batches, duty


def on_duty(system, rnd) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    """Closed duty periods of every officer at their unit's terminals, some across the
    period's edges (only the part inside counts), uploaded as the terminals do."""
    periods: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {c: [] for c in OFFICERS}
    for terminal, unit in TERMINALS.items():
        sent = []
        for code in [c for c, u in OFFICERS.items() if u == unit]:
            for _ in range(rnd.randint(1, 4)):
                start = dt.datetime(2026, 11, rnd.randint(1, 30), rnd.randint(7, 15),
                                    rnd.randint(0, 59), tzinfo=ICT)
                if rnd.random() < 0.2:  # begins the evening before the period
                    start = dt.datetime(2026, 10, 31, 22, 0, tzinfo=ICT)
                if rnd.random() < 0.1:  # ends after it
                    start = dt.datetime(2026, 11, 30, 22, 0, tzinfo=ICT)
                end = start + dt.timedelta(minutes=rnd.randint(10, 300))
                periods[code].append((start, end))
                sent.append({"id": str(uuid.uuid4()), "officer": code, "counter": "Quầy 1",
                             "started_at": iso(start.astimezone(dt.UTC)),
                             "ended_at": iso(end.astimezone(dt.UTC)), "end_reason": "badge",
                             "clock_synced": True})
        answer = system.post("/api/v1/duty", {"terminal_id": terminal, "sent_at": iso(
            dt.datetime.now(dt.UTC)), "periods": sent}, terminal)
        assert answer.status_code == 200 and len(answer.json()["accepted"]) == len(sent)
    return periods


def hours_on_duty(periods: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Seconds inside November (local), as hours rounded as the API rounds them."""
    lo = dt.datetime(2026, 11, 1, tzinfo=ICT)
    hi = dt.datetime(2026, 12, 1, tzinfo=ICT)
    seconds = sum(max(0.0, (min(end, hi) - max(start, lo)).total_seconds())
                  for start, end in periods)
    return round(seconds / 3600, 2)


def expected(dossiers, batches, units):
    """The figures computed from what was sent, with the rules as docs/attribution.md and
    docs/dashboard.md state them."""
    def in_period(v):
        day = dt.datetime.fromisoformat(v["recorded_at"]).astimezone(ICT).date()
        return dt.date(2026, 11, 1) <= day <= dt.date(2026, 11, 30)

    rating: dict[str, dict] = {}
    counted = []
    for terminal, votes in batches:
        for v in votes:
            if "test" in v["flags"]:
                continue
            code = v["dossier_code"]
            if code and code in rating:
                continue  # repeat_dossier: counted apart
            if code:
                rating[code] = v
            if TERMINALS[terminal] in units:
                counted.append(v)
    counted = [v for v in counted if in_period(v)]

    def figures(vs):
        n = len(vs)
        index = sum((v["level"] - 1) * 25 for v in vs) / n if n else None
        return n, (None if index is None else pytest.approx(index, abs=0.006))
    officers = {c: figures([v for v in counted if v["officer"] == c]) for c, u in
                OFFICERS.items() if u in units}
    no_duty = figures([v for v in counted if v["officer"] is None])
    finished = [d for d in dossiers if d["unit_id"] in units and d["finished_on"]
                and d["finished_on"].month == 11]
    coverage_by_unit = {u: (sum(d["code"] in rating for d in finished if d["unit_id"] == u),
                            sum(d["unit_id"] == u for d in finished)) for u in units
                        if any(d["unit_id"] == u for d in finished)}
    coverage_by_officer = {c: (sum(d["code"] in rating for d in finished if d["officer"] == c),
                               sum(d["officer"] == c for d in finished))
                           for c in officers}
    by_proc: dict[tuple[str, str], list] = {}
    proc_of = {d["code"]: d for d in dossiers}
    for code, v in rating.items():
        d = proc_of[code]
        if d["unit_id"] in units and in_period(v):
            by_proc.setdefault((d["unit_id"], d["procedure_code"]), []).append(v)
    procedures = {k: figures(vs) for k, vs in by_proc.items()}
    return officers, no_duty, coverage_by_unit, coverage_by_officer, procedures


@contextlib.contextmanager
def signed_in(system, username: str):
    with httpx.Client(base_url=system.url, follow_redirects=False, timeout=30) as client:
        answer = client.post("/login", data={"username": username, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        yield client


@pytest.mark.parametrize(("username", "unit", "units"), [
    ("chief", "q1", {"q1", "p-a", "p-b"}), ("ward-b", "p-b", {"p-b"})])
def test_the_figures_equal_an_independent_computation(system, generated, username, unit, units):
    dossiers, batches, duty = generated
    officers, no_duty, cov_unit, cov_officer, procedures = expected(dossiers, batches, units)
    with signed_in(system, username) as client:
        got = client.get("/api/v1/dashboard/officers", params={**PERIOD, "unit": unit}).json()
        rows = {r["code"]: r for r in [*got["ranked"], *got["unranked"]]}
        assert {c: (r["votes"], r["index"]) for c, r in rows.items()} == officers
        assert {c: r["hours_on_duty"] for c, r in rows.items()} == {
            c: hours_on_duty(duty[c]) for c in officers}
        assert all(r["votes"] >= got["min_votes"] for r in got["ranked"])
        assert [r["index"] for r in got["ranked"]] == sorted(r["index"] for r in got["ranked"])
        assert (got["no_duty"]["total"]["votes"], got["no_duty"]["total"]["index"]) == no_duty
        cov = client.get("/api/v1/dashboard/coverage", params={**PERIOD, "unit": unit}).json()
        assert {u: (c["rated"], c["finished"]) for u, c in cov["by_unit"].items()} == cov_unit
        assert {c: (v["rated"], v["finished"]) for c, v in cov["by_officer"].items()
                } == cov_officer
        proc = client.get("/api/v1/dashboard/procedures", params={**PERIOD, "unit": unit}).json()
        assert {(p["unit_id"], p["procedure_code"]): (p["votes"], p["index"])
                for p in proc["procedures"]} == procedures
        page = client.get("/dashboard/officers", params={**PERIOD, "unit": unit})
        assert page.status_code == 200
        for code in officers:
            assert f'data-officer="{code}"' in page.text
        one = next(iter(officers))
        detail = client.get(f"/api/v1/dashboard/officers/{one}", params=PERIOD).json()
        assert (detail["votes"], detail["index"]) == officers[one]
        assert detail["hours_on_duty"] == hours_on_duty(duty[one])
        assert (detail["coverage"]["rated"], detail["coverage"]["finished"]) == cov_officer[one]
        assert sum(t["votes"] for t in detail["trend"]) == officers[one][0]
        assert client.get(f"/dashboard/officers/{one}", params=PERIOD).status_code == 200


def test_a_unit_official_cannot_reach_another_units_officers_by_any_url(system, generated):
    with signed_in(system, "ward-b") as client:
        for url, params in [
                ("/dashboard/officers", {"unit": "p-a"}), ("/dashboard/officers", {"unit": "q1"}),
                ("/dashboard/officers/CB-A1", {}), ("/dashboard/officers/CB-A1", {"unit": "p-b"}),
                ("/api/v1/dashboard/officers", {"unit": "p-a"}),
                ("/api/v1/dashboard/officers/CB-A1", {}),
                ("/api/v1/dashboard/officers/CB-A1", {"unit": "p-b"}),
                ("/api/v1/dashboard/coverage", {"unit": "q1"}),
                ("/api/v1/dashboard/procedures", {"unit": "p-a"}),
                ("/dashboard/officers/NO-SUCH", {})]:
            answer = client.get(url, params=params)
            assert answer.status_code == 404, (url, params, answer.status_code)
            assert "Cán bộ CB-A" not in answer.text  # the names of p-a's officers
        mine = client.get("/api/v1/dashboard/officers", params=PERIOD).json()
        codes = {r["code"] for r in [*mine["ranked"], *mine["unranked"]]}
        assert codes == {"CB-B1", "CB-B2"}
        page = client.get("/dashboard/officers", params=PERIOD).text
        assert "CB-A" not in page
    assert httpx.get(system.url + "/api/v1/dashboard/officers").status_code == 401


def test_the_rollups_equal_a_fresh_computation_and_rebuild_changes_nothing(system, generated):
    """The coverage and procedure rollups, kept by the ingest's claims and by three imports
    (new, rated before import, changed), equal the same counts recomputed from the dossiers
    and ratings; ``district rollups rebuild`` then leaves every row as it was."""
    from district import attribution_rollups, rollups

    def contents(conn):
        return {t.name: sorted(tuple(r) for r in conn.execute(t.select()) if any(r[-2:]))
                for t in attribution_rollups.TABLES}

    with system.engine.connect() as conn:
        assert rollups.differences(conn) == []
        kept = contents(conn)
    assert kept["dash_coverage_month"] and kept["dash_procedure_day"]
    with write_transaction(system.engine) as conn:
        rollups.rebuild(conn)
    with system.engine.connect() as conn:
        assert contents(conn) == kept


def test_a_re_dated_rating_moves_its_procedure_to_the_new_day(system, generated):
    """A vote re-dated by the clock's evidence takes its dossier's counted rating to its new
    time (district.redating → dossiers.redated): the procedure rollups follow, exactly."""
    import sqlalchemy as sa

    from district import dossiers, rollups
    from district.attribution import dossier_ratings as dr

    with system.engine.connect() as conn:
        rating = conn.execute(sa.select(dr).join(
            dossiers.dossiers, dossiers.dossiers.c.code == dr.c.dossier_code).limit(1)).one()
    later = rating.corrected_at + dt.timedelta(days=40)  # out of November
    for when in (later, rating.corrected_at):  # there and back
        with write_transaction(system.engine) as conn:
            dossiers.redated(conn, [{"d": rating.dossier_code, "t": rating.terminal_id,
                                     "v": rating.vote_id, "c": when}])
        with system.engine.connect() as conn:
            assert rollups.differences(conn) == []


def test_a_unit_official_sees_an_officers_hours_at_their_own_units_only(system, generated):
    """CB-B1 (of p-b) also serves two hours at a terminal of p-a: the district counts them,
    the official of p-b does not (they are p-a's)."""
    _dossiers, _batches, duty = generated
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=ICT)
    period = {"id": str(uuid.uuid4()), "officer": "CB-B1", "counter": "Quầy 2",
              "started_at": iso(start.astimezone(dt.UTC)),
              "ended_at": iso((start + dt.timedelta(hours=2)).astimezone(dt.UTC)),
              "end_reason": "badge", "clock_synced": True}
    answer = system.post("/api/v1/duty", {"terminal_id": "a-1", "sent_at": iso(
        dt.datetime.now(dt.UTC)), "periods": [period]}, "a-1")
    assert answer.status_code == 200 and answer.json()["accepted"] == [period["id"]]
    own = hours_on_duty(duty["CB-B1"])
    for username, unit, hours in (("chief", "q1", round(own + 2, 2)), ("ward-b", "p-b", own)):
        with signed_in(system, username) as client:
            detail = client.get("/api/v1/dashboard/officers/CB-B1", params=PERIOD).json()
            assert detail["hours_on_duty"] == hours, username
            listed = client.get("/api/v1/dashboard/officers",
                                params={**PERIOD, "unit": unit}).json()
            rows = {r["code"]: r for r in [*listed["ranked"], *listed["unranked"]]}
            assert rows["CB-B1"]["hours_on_duty"] == hours, username
