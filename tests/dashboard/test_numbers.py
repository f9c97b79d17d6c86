"""Every figure of the overview, unit page and exports equals an independent computation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter

import pytest
from openpyxl import load_workbook

from tests.dashboard.conftest import EVIL
from tests.dashboard.expected import figures

SUBTREE = {"q": {"q", "p1", "p1a", "p2", "p3"}, "p1": {"p1", "p1a"}, "p1a": {"p1a"},
           "p2": {"p2"}, "p3": {"p3"}}
OCT = (dt.date(2025, 10, 1), dt.date(2025, 10, 31))
SEP = (dt.date(2025, 9, 1), dt.date(2025, 9, 30))


def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None
                                         and abs(a - b) < 0.006)


def check(got: dict, want: dict) -> None:
    for key in ("votes", "positive", "negative", "excluded_test", "excluded_misuse"):
        assert got[key] == want[key], key
    assert close(got["satisfaction_rate"], want["satisfaction_rate"])
    assert close(got["index"], want["index"])


@pytest.mark.parametrize("query,period,previous", [
    ("period=month&date=2025-10-05", OCT, SEP),
    ("period=custom&from=2025-09-10&to=2025-10-09",
     (dt.date(2025, 9, 10), dt.date(2025, 10, 9)), (dt.date(2025, 8, 11), dt.date(2025, 9, 9))),
    ("period=week&date=2025-09-17", (dt.date(2025, 9, 15), dt.date(2025, 9, 21)),
     (dt.date(2025, 9, 8), dt.date(2025, 9, 14))),
    ("period=day&date=2025-09-03", (dt.date(2025, 9, 3),) * 2, (dt.date(2025, 9, 2),) * 2),
    ("period=quarter&date=2025-08-01", (dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
     (dt.date(2025, 4, 1), dt.date(2025, 6, 30))),
    ("period=year&date=2025-01-01", (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
     (dt.date(2024, 1, 1), dt.date(2024, 12, 31))),
])
def test_overview_api_matches(client_for, dataset, query, period, previous):
    _engine, votes = dataset
    data = client_for("district").get(f"/api/v1/dashboard/overview?{query}").json()
    assert data["period"]["from"] == period[0].isoformat()
    assert data["previous_period"]["to"] == previous[1].isoformat()
    check(data["total"], figures(votes, SUBTREE["q"], *period))
    rows = {r["unit_id"]: r for r in data["units"]}
    assert set(rows) == {"q", "p1", "p2", "p3"}
    check(rows["q"], figures(votes, {"q"}, *period))  # the district's own counter
    for unit in ("p1", "p2", "p3"):
        want = figures(votes, SUBTREE[unit], *period)
        check(rows[unit], want)
        before = figures(votes, SUBTREE[unit], *previous)
        if want["index"] is not None and before["index"] is not None:
            assert close(rows[unit]["change"]["index"], want["index"] - before["index"])
    ranked = [r for r in data["units"] if r["votes"]]
    indexes = [r["index"] for r in ranked]
    assert indexes == sorted(indexes, reverse=True)
    assert [r["rank"] for r in ranked][:1] in ([1], [])


def test_unit_api_matches(client_for, dataset):
    _engine, votes = dataset
    data = client_for("district").get("/api/v1/dashboard/units/p1?period=month&date=2025-09-01"
                                      "&step=week").json()
    want = figures(votes, SUBTREE["p1"], *SEP)
    check(data, want)
    assert {k: v for k, v in data["reasons"].items() if v} == want["reasons"]
    assert sum(p["votes"] for p in data["trend"]["points"]) == want["votes"]
    # heat map: each cell = counted votes at that local weekday and hour
    cells = [[0] * 24 for _ in range(7)]
    for v in votes:
        if v.unit_id in SUBTREE["p1"] and SEP[0] <= v.local.date() <= SEP[1] \
                and not {"test", "suspected_misuse"} & set(v.flags):
            cells[v.local.weekday()][v.local.hour] += 1
    assert data["heatmap"]["votes"] == cells
    levels = data["levels"]
    for scale in (3, 5):
        exp = [sum(1 for v in votes if v.unit_id in SUBTREE["p1"] and v.scale == scale
                   and v.level == lvl and SEP[0] <= v.local.date() <= SEP[1]
                   and not {"test", "suspected_misuse"} & set(v.flags))
               for lvl in range(1, scale + 1)]
        assert levels[str(scale)] == exp
    assert {t["terminal_id"] for t in data["terminals"]} == {"t-p1", "t-p1a"}


def test_overview_page_shows_same_numbers(client_for, dataset):
    _engine, votes = dataset
    html = client_for("district").get("/dashboard?period=month&date=2025-10-05").text
    want = figures(votes, SUBTREE["p2"], *OCT)
    row = html.split('data-unit="p2"')[1].split("</tr>")[0]
    assert f'data-col="votes" data-value="{want["votes"]}"' in row
    index_text = f'{want["index"]:.1f}'.replace(".", ",")
    assert index_text in row
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert EVIL not in html


def test_summary_exports_match(client_for, dataset):
    _engine, votes = dataset
    client = client_for("district")
    r = client.get("/dashboard/export/summary.csv?period=month&date=2025-10-05")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_unit = {row[1]: row for row in rows[1:-1]}
    for unit in ("p1", "p2", "p3"):
        want = figures(votes, SUBTREE[unit], *OCT)
        assert int(by_unit[unit][3]) == want["votes"]
        assert close(float(by_unit[unit][7]), want["index"])
    assert by_unit["p3"][2].startswith("'=") or by_unit["p3"][2] == EVIL  # no formula
    r = client.get("/dashboard/export/summary.xlsx?period=month&date=2025-10-05")
    ws = load_workbook(io.BytesIO(r.content), read_only=True).active
    got = {row[1]: row for row in ws.iter_rows(min_row=2, values_only=True)}
    for unit in ("p1", "p2", "p3"):
        want = figures(votes, SUBTREE[unit], *OCT)
        assert got[unit][3] == want["votes"]
        assert close(got[unit][6], want["satisfaction_rate"])
        assert close(got[unit][7], want["index"])
    assert got["p3"][2] == EVIL  # shown as text


def test_vote_exports_match(client_for, dataset):
    _engine, votes = dataset
    client = client_for("ward1")  # a unit official: only p1 and p1a
    want = [v for v in votes if v.unit_id in SUBTREE["p1"] and OCT[0] <= v.local.date() <= OCT[1]]
    r = client.get("/dashboard/export/votes.csv?period=month&date=2025-10-05")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]
    assert len(rows) == len(want)
    assert {row[2] for row in rows} == {"p1", "p1a"}
    # flags and reasons in words, as an official reads them in Excel
    flag_vi = {"test": "thử nghiệm", "suspected_misuse": "nghi lạm dụng",
               "stuck_button": "kẹt nút"}
    reason_vi = {"waiting_time": "Thời gian chờ hoặc giải quyết",
                 "too_many_trips": "Phải đi lại nhiều lần",
                 "unclear_guidance": "Hướng dẫn không rõ ràng",
                 "officer_attitude": "Thái độ của cán bộ", "other": "Khác"}

    def words(text: str) -> frozenset:
        return frozenset(w for w in text.split("; ") if w)
    assert Counter((words(row[9]), words(row[10])) for row in rows) == Counter(
        (frozenset(flag_vi[f] for f in v.flags), frozenset(reason_vi[r] for r in v.reasons))
        for v in want)
    r = client.get("/dashboard/export/votes.xlsx?period=month&date=2025-10-05")
    ws = load_workbook(io.BytesIO(r.content), read_only=True).active
    xrows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(xrows) == len(want)
    assert sum(row[8] for row in xrows) == figures(votes, SUBTREE["p1"], *OCT)["votes"]
    assert sorted(row[1] for row in xrows) == sorted(
        v.local.replace(tzinfo=None, microsecond=0) for v in want)


def test_counters_and_officers_of_a_unit(client_for, dataset):
    """Per counter and officer on duty, the unit's own votes only (Bạch Mai's counter, not
    Tổ dân phố 1 below it); lowest index first; the page shows the same rows."""
    _engine, votes = dataset
    client = client_for("district")
    data = client.get("/api/v1/dashboard/units/p1?period=month&date=2025-09-01").json()
    rows = {(r["counter"], r["officer"]): r for r in data["officers"]}
    assert set(rows) == {("Quầy 1", "Nguyễn Văn An"), ("Quầy 1", "Trần Thị Bình")}
    for (_counter, officer), row in rows.items():
        mine = [v for v in votes if v.terminal_id == "t-p1" and v.officer == officer]
        check(row, figures(mine, {"p1"}, *SEP))
        want_attitude = sum(1 for v in mine if SEP[0] <= v.local.date() <= SEP[1]
                            and "officer_attitude" in v.reasons
                            and not {"test", "suspected_misuse"} & set(v.flags))
        assert row["reasons"]["officer_attitude"] == want_attitude
    indexes = [r["index"] for r in data["officers"]]
    assert indexes == sorted(indexes)
    page = client.get("/dashboard/units/p1?period=month&date=2025-09-01").text
    shown = [part.split('"')[0] for part in page.split('data-officer="')[1:]]
    assert shown == [r["officer"] for r in data["officers"]]
    # a unit whose terminals show no officer: one row, named as such
    p3 = client.get("/api/v1/dashboard/units/p3?period=month&date=2025-09-01").json()
    assert [(r["counter"], r["officer"]) for r in p3["officers"]] == [("", "")]
    assert "máy không hiển thị cán bộ" in client.get(
        "/dashboard/units/p3?period=month&date=2025-09-01").text


@pytest.mark.parametrize(("official", "units"), [("district", SUBTREE["q"]),
                                                  ("ward1", SUBTREE["p1"])])
def test_overview_lists_the_counters_and_officers_to_look_at(client_for, dataset, official,
                                                             units, monkeypatch):
    """The lowest indexes of the scope (at least 10 counted votes), from the officer rollups,
    equal the figures computed from the generated votes; a unit official sees only theirs."""
    _engine, votes = dataset
    client = client_for(official)
    data = client.get("/api/v1/dashboard/overview?period=month&date=2025-09-01").json()
    groups = {(v.unit_id, v.counter, v.officer) for v in votes if v.unit_id in units}
    want = []
    for unit, counter, officer in groups:
        mine = [v for v in votes if (v.unit_id, v.counter, v.officer) == (unit, counter, officer)]
        fig = figures(mine, {unit}, *SEP)
        if fig["votes"] >= 10:
            want.append((fig["index"], unit, counter, officer, fig))
    want.sort(key=lambda w: w[:4])
    got = data["officers_needing_attention"]
    assert len(want) >= 3  # two officers take turns at Bạch Mai, besides the unnamed counters
    assert [(r["unit_id"], r["counter"], r["officer"]) for r in got] == \
        [w[1:4] for w in want[:10]]
    for row, w in zip(got, want, strict=False):
        check(row, w[4])
    page = client.get("/dashboard?period=month&date=2025-09-01").text
    table = page.split('id="attention"')[1].split("</table>")[0]
    shown = [p.split('"')[0] for p in table.split('data-officer="')[1:]]
    assert shown == [r["officer"] for r in got]
    # the database ranks them: with room for two, the two lowest
    from district.dashboard import figures as page_figures
    monkeypatch.setattr(page_figures, "ATTENTION_ROWS", 2)
    two = client.get("/api/v1/dashboard/overview?period=month&date=2025-09-01").json()
    assert [(r["unit_id"], r["counter"], r["officer"])
            for r in two["officers_needing_attention"]] == [w[1:4] for w in want[:2]]


def test_vote_xlsx_cells_equal_csv(client_for):
    """Every cell of the Excel vote export says what the CSV says (typed: numbers as
    numbers, the local time as a date), blanks included."""
    client = client_for("district")
    q = "period=month&date=2025-09-05&unit=q"
    rows = list(csv.reader(io.StringIO(client.get(f"/dashboard/export/votes.csv?{q}")
                                       .content.decode("utf-8-sig"))))
    ws = load_workbook(io.BytesIO(client.get(f"/dashboard/export/votes.xlsx?{q}").content),
                       read_only=True).active
    xrows = list(ws.iter_rows(values_only=True))
    assert len(xrows) == len(rows) > 100
    assert list(xrows[0]) == rows[0]
    numbers = (5, 6, 7, 8, 13)
    for x, c in zip(xrows[1:], rows[1:], strict=True):
        x = list(x) + [None] * (len(c) - len(x))
        for i, (xv, cv) in enumerate(zip(x, c, strict=True)):
            if i in numbers:
                assert isinstance(xv, int | float) and xv == float(cv), (i, xv, cv)
            elif i == 1:
                assert xv.isoformat(sep=" ") == cv
            else:
                assert ("" if xv is None else xv) == cv, (i, xv, cv)


def test_monthly_report_workbook(client_for, dataset):
    _engine, votes = dataset
    r = client_for("district").get("/dashboard/export/monthly.xlsx?unit=q&month=2025-09")
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert len(wb.sheetnames) == 5  # summary + district counter + 3 wards
    summary = list(wb[wb.sheetnames[0]].iter_rows(min_row=2, values_only=True))
    ranks = [row[0] for row in summary[:-1] if row[0] is not None]
    assert ranks == sorted(ranks)
    for row in summary[:-1]:
        want = figures(votes, SUBTREE[row[1]] if row[1] != "q" else {"q"}, *SEP)
        assert row[3] == want["votes"] and close(row[7], want["index"])
    sheet = wb["Phường Bạch Mai"]
    days = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(days) == 31  # 30 days + total
    want = figures(votes, SUBTREE["p1"], *SEP)
    assert days[-1][1] == want["votes"] and close(days[-1][5], want["index"])
    for row in days[:-1]:
        day = row[0].date() if isinstance(row[0], dt.datetime) else row[0]
        assert row[1] == figures(votes, SUBTREE["p1"], day, day)["votes"]


def test_rollups_equal_votes(dataset):
    from district import rollups as rollup

    engine, _votes = dataset
    with engine.connect() as conn:
        assert rollup.differences(conn) == []


@pytest.mark.parametrize(("step", "lang", "labels"), [
    ("day", "vi", [f"{d:02d}/09" for d in range(1, 31)]),
    ("week", "vi", [f"tuần {w}/2025" for w in range(36, 41)]),
    ("week", "en", [f"week {w}/2025" for w in range(36, 41)]),
])
def test_unit_page_trend_is_labelled_as_officials_write_dates(client_for, step, lang, labels):
    """The page's chart says 01/09 and tuần 36/2025; the JSON API keeps ISO keys."""
    page = client_for("district").get(
        f"/dashboard/units/p1?period=month&date=2025-09-01&step={step}&lang={lang}").text
    chart = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)'
                                 r"</script>", page, re.S).group(1))
    assert chart["trend"]["labels"] == labels
    api = client_for("district").get(
        f"/api/v1/dashboard/units/p1?period=month&date=2025-09-01&step={step}").json()
    assert [p["bucket"] for p in api["trend"]["points"]][:1] == [
        "2025-09-01" if step == "day" else "2025-W36"]


@pytest.mark.parametrize(("lang", "header"), [
    ("vi", "Kỳ báo cáo: <b>Quý 3/2025</b> · so với Quý 2/2025"),
    ("en", "Period: <b>Q3/2025</b> · compared with Q2/2025")])
def test_quarter_is_named_in_the_officials_language(client_for, lang, header):
    page = client_for("district").get(
        f"/dashboard?period=quarter&date=2025-08-01&lang={lang}").text
    assert header in page


def test_large_unit_lists_give_the_same_numbers(dataset, monkeypatch):
    """Above MANY_UNITS the unit filter is one parameter (PostgreSQL array, SQLite JSON)."""
    from district.dashboard import aggregates as agg
    from district.dashboard.health import fleet_health
    from district.dashboard.periods import Period

    engine, votes = dataset
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    period = Period("year", dt.date(2025, 1, 1), dt.date(2025, 12, 31))

    def numbers():
        with engine.connect() as conn:
            tree = agg.UnitTree.load(conn)
            ids = tree.subtree("p1")
            return (agg.counts_by_unit(conn, period, ids), agg.counts_by_day(conn, period, "p1"),
                    agg.counts_by_terminal(conn, period, ids), agg.heatmap(conn, period, "p1"),
                    fleet_health(conn, ids, now))

    small = numbers()
    monkeypatch.setattr(agg, "MANY_UNITS", 0)
    large = numbers()
    assert large == small and large[4]
    assert large[0]["p1"].votes == figures(
        votes, SUBTREE["p1"], period.start, period.end)["votes"]


def test_vote_xlsx_keeps_formula_like_text_as_text():
    """A counter or officer typed as ``=HYPERLINK(…)`` must stay text in Excel, and a blank
    text column a blank cell."""
    import datetime as dt

    from district.dashboard import exports

    header = exports.vote_header(lambda s: s)
    evil = '=HYPERLINK("http://x.invalid","Bấm")'
    row = ["v-1", dt.datetime(2025, 10, 5, 9, 30, 1), "p1", "Phường 1", "t-1", 1, 3, 0.0, 1,
           "", "waiting_time", evil, "+1", 0]
    wb = load_workbook(exports.votes_xlsx(header, [row], "Phiếu"))
    ws = wb.active
    assert ws.title == "Phiếu" and ws.freeze_panes == "A2"
    cells = list(ws.iter_rows(min_row=2))[0]
    assert [c.value for c in cells] == [
        "v-1", dt.datetime(2025, 10, 5, 9, 30, 1), "p1", "Phường 1", "t-1", 1, 3, 0, 1, None,
        "waiting_time", evil, "+1", 0]
    assert cells[11].data_type == "s" and cells[12].data_type == "s"  # text, not formula
    assert cells[1].is_date and cells[1].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["A1"].font.b  # bold header
