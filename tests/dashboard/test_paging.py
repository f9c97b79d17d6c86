"""Terminal lists in pages: the status counts cover the whole scope (one aggregate), the
rows are one page (faulty first on the pages), a unit official pages only their subtree, and
the unit page lists its direct sub-units with their figures and only its own terminals."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.dashboard.conftest import TERMINALS
from tests.dashboard.expected import figures

SUBTREE = {"q": {"q", "p1", "p1a", "p2", "p3"}, "p1": {"p1", "p1a"}, "p2": {"p2"},
           "p3": {"p3"}}
SEP = (dt.date(2025, 9, 1), dt.date(2025, 9, 30))
UNIT_OF = {t: u for t, u, _s in TERMINALS}
# terminal → (minutes since the last heartbeat, stuck buttons, clock offset ms, backlog)
HEALTH = {"t-q": None,  # no heartbeat yet (registered today): OK, no health row
          "t-p1": (4, "", 850, 0), "t-p1a": (2, "3", 850, 0),
          "t-p2": (60 * 40, "", 850, 0), "t-p3": (1, "", 400_000, 900)}
REJECTED = {"t-p1": 2}


def expected_faults(tid: str) -> list[str]:
    if HEALTH[tid] is None:
        return []
    minutes, stuck, offset, backlog = HEALTH[tid]
    out = []
    if minutes > 24 * 60:
        out.append("silent")
    if stuck:
        out.append("stuck button")
    if abs(offset) > 5 * 60 * 1000:
        out.append("clock off")
    if backlog > 500:
        out.append("backlog")
    return out


@pytest.fixture
def health(dataset):
    from district.db import rejected_votes, terminal_health, utcnow, write_transaction

    engine, _votes = dataset
    now = utcnow()
    with write_transaction(engine) as conn:
        conn.execute(terminal_health.delete())
        for tid, health_row in HEALTH.items():
            if health_row is None:
                continue
            minutes, stuck, offset, backlog = health_row
            at = now - dt.timedelta(minutes=minutes)
            conn.execute(terminal_health.insert().values(
                terminal_id=tid, received_at=at, sent_at=at, clock_offset_ms=offset,
                backlog=backlog, software_version="0.1.0", clock_synced=True,
                stuck_buttons=stuck))
        for tid, n in REJECTED.items():
            for i in range(n):
                conn.execute(rejected_votes.insert().values(
                    terminal_id=tid, vote_id=f"bad-{i}", error="test", received_at=now))
    yield
    with write_transaction(engine) as conn:
        conn.execute(rejected_votes.delete().where(rejected_votes.c.error == "test"))


def expected_summary(units: set[str]) -> dict:
    tids = [t for t, u in UNIT_OF.items() if u in units]
    faults = {t: expected_faults(t) for t in tids}
    per = {f: sum(1 for t in tids if f in faults[t])
           for f in ("silent", "stuck button", "clock off", "backlog")}
    return {"terminals": len(tids), "ok": sum(1 for t in tids if not faults[t]),
            "faulty": sum(1 for t in tids if faults[t]), "revoked": 0,
            "with_rejected_votes": sum(1 for t in tids if REJECTED.get(t)),
            "faults": {k.replace(" ", "_"): v for k, v in per.items()}}


def faults_first(units: set[str]) -> list[str]:
    tids = [t for t, u in UNIT_OF.items() if u in units]

    def key(t):
        f = expected_faults(t)
        return (-len(f), -("silent" in f), -("stuck button" in f), -bool(REJECTED.get(t)),
                UNIT_OF[t], t)
    return sorted(tids, key=key)


def test_fleet_api_summary_and_pages(client_for, health):
    client = client_for("district")
    want = expected_summary(SUBTREE["q"])
    seen = []
    for page in (1, 2, 3):
        data = client.get(f"/api/v1/dashboard/fleet?unit=q&per_page=2&page={page}").json()
        assert data["summary"] == want
        assert data["paging"] == {"page": page, "per_page": 2, "total": 5, "pages": 3}
        seen += [t["terminal_id"] for t in data["terminals"]]
        for t in data["terminals"]:
            assert t["faults"] == expected_faults(t["terminal_id"])
            assert t["rejected_votes"] == REJECTED.get(t["terminal_id"], 0)
    # the API's default order is by unit and id: stable from page to page
    assert seen == sorted(UNIT_OF, key=lambda t: (UNIT_OF[t], t))
    ordered = client.get("/api/v1/dashboard/fleet?unit=q&order=faults").json()
    assert [t["terminal_id"] for t in ordered["terminals"]] == faults_first(SUBTREE["q"])
    # past the last page: the last page
    last = client.get("/api/v1/dashboard/fleet?unit=q&per_page=2&page=99").json()
    assert last["paging"]["page"] == 3 and len(last["terminals"]) == 1


def test_fleet_page_faults_first_with_counts(client_for, health):
    client = client_for("district")
    html = client.get("/dashboard/fleet?unit=q&per_page=2").text
    want = expected_summary(SUBTREE["q"])
    summary = html.split('id="fleet-summary"')[1].split("</p>")[0]
    assert f'data-total="{want["terminals"]}"' in summary
    assert f'data-ok="{want["ok"]}"' in summary
    assert 'data-status="silent" data-value="1"' in summary
    assert 'data-status="stuck_button" data-value="1"' in summary
    assert 'data-status="rejected" data-value="1"' in summary
    assert "5 thiết bị" in summary and "2 bình thường" in summary
    assert "1 mất liên lạc" in summary and "1 kẹt nút" in summary
    order = faults_first(SUBTREE["q"])
    rows = [part.split('"')[0] for part in html.split('<tr data-terminal="')[1:]]
    assert rows == order[:2]
    assert 'data-page="1" data-pages="3"' in html and "Trang 1/3" in html
    html3 = client.get("/dashboard/fleet?unit=q&per_page=2&page=3").text
    assert [p.split('"')[0] for p in html3.split('<tr data-terminal="')[1:]] == order[4:]
    assert 'rel="prev"' in html3 and 'rel="next"' not in html3
    assert client.get("/dashboard/fleet?unit=q&page=0").status_code == 400
    assert client.get("/dashboard/fleet?unit=q&page=x").status_code == 400
    assert client.get("/api/v1/dashboard/fleet?per_page=501").status_code == 400
    assert client.get("/api/v1/dashboard/fleet?order=rand()").status_code == 400
    # a silent terminal says for how long, in the official's language
    html = client.get("/dashboard/fleet?unit=q&per_page=2").text
    row = html.split('data-terminal="t-p2"')[1].split("</tr>")[0]
    assert '<span class="bad-text" data-col="age">40 giờ trước</span>' in row
    assert html.count('data-col="age"') == 1
    assert "40 hours ago" in client.get("/dashboard/fleet?unit=q&per_page=2&lang=en").text


@pytest.mark.parametrize(("hours", "lang", "text"), [
    (1, "en", "1 hour ago"), (47, "en", "47 hours ago"), (49, "en", "2 days ago"),
    (24 * 30, "vi", "30 ngày trước"), (5, "vi", "5 giờ trước")])
def test_silence_is_told_in_hours_then_days(hours, lang, text):
    from district.dashboard.render import ago
    from kiosk.i18n import translation

    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours, minutes=5)
    assert ago(moment, translation("district_web", lang).ngettext) == text


@pytest.mark.parametrize("query", ["page=1", "page=2", "page=99", "per_page=1&page=2",
                                   "per_page=1&page=3", "unit=q&page=2", "unit=p2&page=1"])
def test_unit_official_pages_only_own_subtree(client_for, health, query):
    client = client_for("ward1")
    for path in ("/dashboard/fleet", "/api/v1/dashboard/fleet", "/dashboard/units/p1",
                 "/api/v1/dashboard/units/p1"):
        r = client.get(f"{path}?{query}")
        if "unit=" in query:
            assert r.status_code == 404, (path, query)
            continue
        assert r.status_code == 200, (path, query, r.text[:200])
        assert "t-p2" not in r.text and "t-q" not in r.text and "Vĩnh Tuy" not in r.text
    data = client.get(f"/api/v1/dashboard/fleet?{query}")
    if data.status_code == 200:
        assert data.json()["summary"] == expected_summary(SUBTREE["p1"])
        assert {t["terminal_id"] for t in data.json()["terminals"]} <= {"t-p1", "t-p1a"}


def test_unit_page_lists_sub_units_and_own_terminals(client_for, dataset, health):
    _engine, votes = dataset
    client = client_for("district")
    html = client.get("/dashboard/units/q?period=month&date=2025-09-01").text
    table = html.split('id="subunits"')[1].split("</table>")[0]
    for unit in ("p1", "p2", "p3"):
        row = table.split(f'data-unit="{unit}"')[1].split("</tr>")[0]
        want = figures(votes, SUBTREE[unit], *SEP)
        assert f'data-col="votes" data-value="{want["votes"]}"' in row
        assert f'{want["index"]:.1f}'.replace(".", ",") in row
    own = table.split('data-unit="q"')[1].split("</tr>")[0]  # the district's own terminal
    assert f'data-value="{figures(votes, {"q"}, *SEP)["votes"]}"' in own
    terminals = html.split('id="terminals"')[1].split("</table>")[0]
    assert 'data-terminal="t-q"' in terminals and "t-p1" not in terminals
    want_q = sum(1 for v in votes if v.terminal_id == "t-q" and SEP[0] <= v.local.date()
                 <= SEP[1] and not {"test", "suspected_misuse"} & set(v.flags))
    assert f'data-col="votes">{want_q:,}'.replace(",", ".") in terminals
    # a unit without own terminals says so; one with only sub-units has no own row
    html_p3 = client.get("/dashboard/units/p3?period=month&date=2025-09-01").text
    assert 'data-terminal="t-p3"' in html_p3


def test_unit_api_terminals_paged_with_votes(client_for, dataset, health):
    _engine, votes = dataset
    client = client_for("district")
    seen = {}
    for page in range(1, 4):
        data = client.get(f"/api/v1/dashboard/units/q?period=month&date=2025-09-01"
                          f"&per_page=2&page={page}").json()
        assert data["paging"]["total"] == 5 and data["paging"]["pages"] == 3
        assert data["terminal_summary"] == expected_summary(SUBTREE["q"])
        seen.update({t["terminal_id"]: t["votes"] for t in data["terminals"]})
        assert data["votes"] == figures(votes, SUBTREE["q"], *SEP)["votes"]
        by_unit = {r["unit_id"]: r for r in data["units"]}
        for unit in ("p1", "p2", "p3"):
            assert by_unit[unit]["votes"] == figures(votes, SUBTREE[unit], *SEP)["votes"]
    for tid, n in seen.items():
        assert n == sum(1 for v in votes if v.terminal_id == tid and SEP[0] <= v.local.date()
                        <= SEP[1] and not {"test", "suspected_misuse"} & set(v.flags))
    assert set(seen) == set(UNIT_OF)


def test_large_lists_page_the_same(dataset, health, monkeypatch):
    """Above MANY_UNITS the unit filter is one parameter: same counts and pages."""
    from district.dashboard import aggregates as agg
    from district.dashboard.health import fleet_page, fleet_summary
    from district.db import utcnow

    engine, _votes = dataset
    now = utcnow()

    def numbers():
        with engine.connect() as conn:
            ids = agg.UnitTree.load(conn).subtree("q")
            return (fleet_summary(conn, ids, now), fleet_page(conn, ids, now, 1, 3),
                    fleet_page(conn, None, now, 0, 10, faults_first=False))
    small = numbers()
    monkeypatch.setattr(agg, "MANY_UNITS", 0)
    assert numbers() == small
    assert [t.id for t in small[1]] == faults_first(SUBTREE["q"])[1:4]
    assert small[0].total == 5 and small[0].faulty == 3
