"""The index figures (issue 16, item 3): Circular 01/2018's four indicators from the
follow-up reasons and Decision 766's ratio and coverage from the imported dossiers, on
generated votes and dossiers (SQLite and PostgreSQL), each figure against an independent
computation from the generated data: the JSON, the dashboard page, the PDF's text and the
workbook, whose formulas LibreOffice recomputes to the same values."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook

from district.db import create_db_engine, migrate
from district.fleet import load_units, register_terminal
from district.ingest import Delivery, ingest_batch
from tests.dashboard.conftest import EVIL, FLEET, ICT, PASSWORD, TERMINALS
from tests.dashboard.test_report_workbook import soffice
from tests.helpers import fresh_database

TODAY = dt.date(2025, 11, 5)
PERIOD = "unit=q&period=custom&from=01/09/2025&to=31/10/2025"
MONTHS = (dt.date(2025, 9, 1), dt.date(2025, 10, 1))
POSITIVE_FROM = {3: 2, 4: 3, 5: 4}  # written here again, not imported: an independent check
NEGATIVE_TO = {3: 1, 4: 2, 5: 2}
INDICATOR_REASONS = {1: "waiting_time", 3: "too_many_trips", 4: "unclear_guidance",
                     7: "officer_attitude"}
# the overview's rows of unit q: its own terminal, then each ward's subtree
ROWS = {("q", True): {"q"}, ("p1", False): {"p1", "p1a"}, ("p2", False): {"p2"},
        ("p3", False): {"p3"}}


@dataclass
class Gen:
    terminal_id: str
    unit_id: str
    level: int
    scale: int
    at: dt.datetime
    flags: list[str]
    reasons: list[str]
    dossier: str | None


def generate(seed: int = 16):
    rnd = random.Random(seed)
    votes, dossiers = [], []
    start = dt.datetime(2025, 8, 25, tzinfo=ICT)
    n = 0
    for terminal_id, unit_id, scale in TERMINALS:
        for day in range(75):
            for _ in range(rnd.randint(0, 6)):
                at = start + dt.timedelta(days=day, hours=rnd.randint(7, 16),
                                          minutes=rnd.randint(0, 59))
                level = rnd.randint(1, scale)
                roll = rnd.random()
                flags = ["test"] if roll < 0.05 else ["suspected_misuse"] if roll < 0.08 else []
                reasons = (rnd.sample(list(INDICATOR_REASONS.values()) + ["other"],
                                      rnd.randint(1, 2))
                           if level <= NEGATIVE_TO[scale] and rnd.random() < 0.8 else [])
                n += 1
                code = f"HS-{n:05d}" if rnd.random() < 0.75 else None
                if code and votes and rnd.random() < 0.06:  # a dossier rated twice
                    code = rnd.choice([v.dossier for v in votes[-20:] if v.dossier] or [code])
                votes.append(Gen(terminal_id, unit_id, level, scale, at.astimezone(dt.UTC),
                                 flags, reasons, code))
                if code == f"HS-{n:05d}":
                    dossiers.append(_dossier(rnd, code, unit_id, at.date()))
        for k in range(30):  # dossiers never rated
            day = (start + dt.timedelta(days=rnd.randint(0, 74))).date()
            dossiers.append(_dossier(rnd, f"HS-{terminal_id}-{k}", unit_id, day))
    return votes, dossiers


def _dossier(rnd, code: str, unit_id: str, finished: dt.date) -> dict:
    received = finished - dt.timedelta(days=rnd.randint(0, 12))
    due = received + dt.timedelta(days=rnd.choice([3, 5, 7, 10]))
    return {"code": code, "procedure_code": "1.001", "procedure_name": "Chứng thực bản sao",
            "unit_id": unit_id, "received_on": received,
            "due_on": None if rnd.random() < 0.05 else due,
            "finished_on": None if rnd.random() < 0.05 else finished, "officer": None}


def load(engine, votes, dossiers):
    from district.dossiers import import_dossiers

    import_dossiers(engine, [{**d, "line": i + 2} for i, d in enumerate(dossiers)], "gen.csv")
    by_terminal = defaultdict(list)
    for g in sorted(votes, key=lambda v: v.at):
        batch = by_terminal[g.terminal_id]
        batch.append({"id": str(uuid.uuid4()), "seq": len(batch) + 1, "level": g.level,
                      "scale": g.scale, "source": "gpio", "recorded_at": g.at.isoformat(),
                      "clock_synced": True, "boot_id": "boot-1",
                      "monotonic_ns": len(batch) * 10**9, "flags": g.flags,
                      "reasons": g.reasons, "dossier_code": g.dossier})
    now = dt.datetime.now(dt.UTC)
    unit_of = {t: u for t, u, _s in TERMINALS}
    for terminal_id, batch in by_terminal.items():
        accepted, _dup, rejected = ingest_batch(engine, terminal_id, unit_of[terminal_id],
                                                batch, Delivery(received_at=now, via="api"))
        assert not rejected and len(accepted) == len(batch)


# --- the independent computation ---------------------------------------------------------

def counted_ratings(votes: list[Gen]) -> tuple[list[Gen], dict[str, Gen]]:
    """The counted votes and each dossier's counted rating: the earliest vote of a dossier
    that is neither test nor misuse counts; the later ones are repeats."""
    counted, rating = [], {}
    for v in sorted(votes, key=lambda v: v.at):
        if v.flags:
            continue
        if v.dossier:
            if v.dossier in rating:
                continue
            rating[v.dossier] = v
        counted.append(v)
    return counted, rating


def expected_circular(votes, first: dt.date, last: dt.date) -> dict:
    counted, _r = counted_ratings(votes)
    out = {}
    for key, units in [*ROWS.items(), (("q", False), set().union(*ROWS.values()))]:
        mine = [v for v in counted if v.unit_id in units
                and first <= v.at.astimezone(ICT).date() <= last]
        scores = {}
        for number, reason in INDICATOR_REASONS.items():
            pts = [0 if reason in v.reasons else 2 if v.level >= POSITIVE_FROM[v.scale] else 1
                   for v in mine]
            scores[number] = sum(pts) / len(pts) if pts else None
        out[key] = (len(mine), scores)
    return out


def expected_dossiers(votes, dossiers) -> dict:
    _c, rating = counted_ratings(votes)
    out = {}
    for key, units in [*ROWS.items(), (("q", False), set().union(*ROWS.values()))]:
        for month in MONTHS:
            mine = [d for d in dossiers if d["unit_id"] in units and d["finished_on"]
                    and (d["finished_on"].year, d["finished_on"].month)
                    == (month.year, month.month)]
            late = {d["code"] for d in mine if d["due_on"] and d["finished_on"] > d["due_on"]}
            unsat = {d["code"] for d in mine if d["code"] in rating
                     and rating[d["code"]].level <= NEGATIVE_TO[rating[d["code"]].scale]}
            rated = [d for d in mine if d["code"] in rating]
            out[(*key, month)] = {
                "finished": len(mine), "late": len(late), "unsatisfied": len(unsat),
                "ratio": 100 * (len(mine) - len(late | unsat)) / len(mine) if mine else None,
                "coverage": 100 * len(rated) / len(mine) if mine else None}
    return out


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def indexed(request, tmp_path_factory):
    from district.dashboard.accounts import add_user

    with fresh_database(request.param, tmp_path_factory.mktemp("ix"), "ix_test") as url:
        engine = create_db_engine(url)
        migrate(engine)
        load_units(engine, FLEET)
        for terminal_id, unit_id, _scale in TERMINALS:
            register_terminal(engine, terminal_id, unit_id, f"Quầy {terminal_id}")
        votes, dossiers = generate()
        load(engine, votes, dossiers)
        add_user(engine, "district", PASSWORD, "district")
        yield engine, votes, dossiers
        engine.dispose()


@pytest.fixture
def client(indexed, monkeypatch):
    from fastapi.testclient import TestClient

    from district.app import create_app
    from district.dashboard import periods

    monkeypatch.setenv("DISTRICT_ALERT_INTERVAL_S", "0")
    monkeypatch.setattr(periods, "today_local", lambda now=None: TODAY)
    with TestClient(create_app(engine=indexed[0]), follow_redirects=False) as c:
        assert c.post("/login", data={"username": "district", "password": PASSWORD}
                      ).status_code == 303
        yield c


def _close(a, b, digits=2):
    return (a is None and b is None) or (a is not None and b is not None
                                         and round(a, digits) == round(b, digits))


# --- the tests -----------------------------------------------------------------------------

def test_the_json_equals_the_independent_computation(client, indexed):
    _e, votes, dossiers = indexed
    ix = client.get("/api/v1/dashboard/indices?" + PERIOD).json()
    circ = expected_circular(votes, dt.date(2025, 9, 1), dt.date(2025, 10, 31))
    rows = {(r["unit_id"], r["own_terminals_only"]): r for r in ix["circular_01"]["units"]}
    rows[("q", False)] = ix["circular_01"]["total"]
    assert set(rows) == set(circ)
    for key, (n, scores) in circ.items():
        assert rows[key]["votes"] == n, key
        got = {i["number"]: i["score"] for i in rows[key]["indicators"]}
        for number, score in scores.items():
            assert _close(got[number], score), (key, number, got[number], score)
        total = sum(scores.values()) if None not in scores.values() else None
        assert _close(rows[key]["total"], total)
        grade = None if total is None else "good" if total >= 6 else \
            "fair" if total >= 4 else "poor"
        assert rows[key]["grade"] == grade
    exp = expected_dossiers(votes, dossiers)
    d766 = ix["decision_766"]
    assert d766["months"] == ["2025-09", "2025-10"]
    got = {(r["unit_id"], r["own_terminals_only"]): r for r in d766["units"]}
    got[("q", False)] = d766["total"]
    seen = 0
    for (unit, own, month), e in exp.items():
        m = next(x for x in got[(unit, own)]["months"] if x["month"] == f"{month:%Y-%m}")
        for k in ("finished", "late", "unsatisfied"):
            assert m[k] == e[k], (unit, own, month, k)
        assert _close(m["ratio"], e["ratio"]) and _close(m["coverage"], e["coverage"])
        seen += e["finished"]
    assert seen > 500  # the data set has dossiers in every row


def test_the_page_shows_them(client, indexed):
    r = client.get("/dashboard/indices?" + PERIOD)
    assert r.status_code == 200
    html = r.text
    assert "Thông tư 01/2018/TT-VPCP" in html and "Quyết định 766/QĐ-TTg" in html
    assert 'id="circular"' in html and 'id="decision766"' in html
    assert 'data-month="2025-09"' in html and "10/2025" in html
    assert "&lt;script&gt;" in html and EVIL not in html  # a ward's name, escaped
    assert 'href="/dashboard/indices?' in html  # in the menu


def test_the_report_has_its_section(client, indexed):
    _e, votes, dossiers = indexed
    r = client.get("/dashboard/export/report.pdf?unit=q&period=month&date=15/10/2025")
    assert r.status_code == 200
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=r.content,
                          capture_output=True, check=True).stdout.decode()
    assert "VII. Chỉ số theo Thông tư 01/2018/TT-VPCP và Quyết định 766/QĐ-TTg" in text
    circ = expected_circular(votes, dt.date(2025, 10, 1), dt.date(2025, 10, 31))
    _n, scores = circ[("q", False)]
    for score in scores.values():  # the total row's scores, as the report writes them
        assert f"{score:.2f}".replace(".", ",") in text
    exp = expected_dossiers(votes, dossiers)[("q", False, MONTHS[1])]
    assert f"{exp['ratio']:.1f}".replace(".", ",") in text
    assert f"{exp['coverage']:.1f}".replace(".", ",") in text
    docx = client.get("/dashboard/export/report.docx?unit=q&period=month&date=15/10/2025")
    assert docx.status_code == 200 and docx.content.startswith(b"PK")


def test_libreoffice_recomputes_the_index_sheets(client, indexed, tmp_path):
    _e, votes, dossiers = indexed
    r = client.get("/dashboard/export/report.xlsx?" + PERIOD)
    assert r.status_code == 200
    path = tmp_path / "report.xlsx"
    path.write_bytes(r.content)
    written = load_workbook(path)
    assert written.sheetnames[-2:] == ["Thông tư 01", "Quyết định 766"]
    for ws in written.worksheets[-2:]:
        assert ws.freeze_panes == "A6" and ws.page_setup.orientation == "landscape"
        assert len(ws._charts) == 1
    wb = load_workbook(soffice(tmp_path, path, "xlsx"), data_only=True)
    circular, decision = wb["Thông tư 01"], wb["Quyết định 766"]
    circ = expected_circular(votes, dt.date(2025, 9, 1), dt.date(2025, 10, 31))
    by_unit = {}
    for row in circular.iter_rows(min_row=6, values_only=True):
        if row[1] == "Tổng cộng":
            by_unit[("q", False)] = row
        elif row[0]:
            by_unit[(row[0], "(thiết bị tại đơn vị)" in row[1])] = row
    assert set(by_unit) == set(circ)
    for key, (n, scores) in circ.items():
        row = by_unit[key]
        assert row[2] == n
        for k, number in enumerate(INDICATOR_REASONS):
            assert _close(row[5 + 2 * k] if row[5 + 2 * k] != "" else None, scores[number]), \
                (key, number)
    exp = expected_dossiers(votes, dossiers)
    checked = 0
    for row in decision.iter_rows(min_row=6, values_only=True):
        if not row[0] or not isinstance(row[2], dt.datetime):
            continue
        own = "(thiết bị tại đơn vị)" in row[1]
        e = exp[(row[0], own, row[2].date())]
        assert row[3] == e["finished"] and row[4] == e["late"] and row[5] == e["unsatisfied"]
        assert _close(row[8] if row[8] != "" else None, e["ratio"])
        assert _close(row[9] if row[9] != "" else None, e["coverage"])
        checked += 1
    assert checked == len(ROWS) * len(MONTHS)
