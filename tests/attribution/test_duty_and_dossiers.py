"""Duty periods exactly once (POST /api/v1/duty), and the dossier list: `district dossiers
import` (CSV and XLSX) idempotent and all-or-nothing, the same rows pushed by a one-stop
system to POST /api/v1/dossiers — on SQLite and PostgreSQL, through the real server."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import openpyxl
import sqlalchemy as sa

from district.attribution import dossiers, duty_periods
from district.auth import create_admin_token
from tests.helpers import district, iso, utcnow


def period(**fields) -> dict:
    start = utcnow() - dt.timedelta(hours=2)
    p = {"id": str(uuid.uuid4()), "officer": "CB-1", "counter": "Quầy 1",
         "started_at": iso(start), "ended_at": None, "end_reason": None, "clock_synced": True}
    p.update(fields)
    return p


def duty(system, terminal, periods):
    return system.post("/api/v1/duty", {"terminal_id": terminal, "sent_at": iso(utcnow()),
                                        "periods": periods}, terminal)


def _periods(system, ids):
    with system.engine.connect() as conn:
        return conn.execute(sa.select(duty_periods).where(duty_periods.c.period_id.in_(ids))
                            .order_by(duty_periods.c.started_at)).all()


def test_duty_periods_are_stored_exactly_once_and_an_open_one_gets_its_end(system):
    open_p = period()
    closed = period(officer="CB-2", ended_at=iso(utcnow()), end_reason="badge")
    bad = period(officer="CB 3")
    answer = duty(system, "a-1", [open_p, closed, bad]).json()
    assert sorted(answer["accepted"]) == sorted([open_p["id"], closed["id"]])
    assert [r["id"] for r in answer["rejected"]] == [bad["id"]]
    again = duty(system, "a-1", [open_p, closed]).json()
    assert sorted(again["duplicate"]) == sorted([open_p["id"], closed["id"]])
    ended = {**open_p, "ended_at": iso(utcnow()), "end_reason": "next_officer"}
    assert duty(system, "a-1", [ended]).json()["duplicate"] == [open_p["id"]]
    rows = _periods(system, [open_p["id"], closed["id"], bad["id"]])
    assert len(rows) == 2 and all(r.ended_at is not None for r in rows)
    assert {r.unit_id for r in rows} == {"p-a"}
    # an end, once set, is never moved by a later copy
    moved = {**ended, "ended_at": iso(utcnow() + dt.timedelta(hours=1))}
    duty(system, "a-1", [moved])
    assert _periods(system, [open_p["id"]])[0].end_reason == "next_officer"


def test_duty_needs_the_terminals_own_token_and_a_body_of_the_documented_shape(system):
    body = {"terminal_id": "a-2", "sent_at": iso(utcnow()), "periods": [period()]}
    assert system.post("/api/v1/duty", body, "a-1").status_code == 403
    assert httpx.post(system.url + "/api/v1/duty", json=body).status_code == 401
    assert system.post("/api/v1/duty", {"terminal_id": "a-1"}, "a-1").status_code == 422
    too_many = {"terminal_id": "a-1", "sent_at": iso(utcnow()),
                "periods": [period() for _ in range(1001)]}
    answer = system.post("/api/v1/duty", too_many, "a-1")
    assert answer.status_code == 422 and answer.json()["error"] == "batch_too_large"


HEADER = ("Mã hồ sơ,Mã thủ tục,Tên thủ tục,Đơn vị,Ngày tiếp nhận,Ngày hẹn trả,"
          "Ngày trả kết quả,Cán bộ xử lý")


def _csv(tmp_path, lines, name="hs.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _count(system, prefix):
    with system.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(dossiers)
                            .where(dossiers.c.code.like(prefix + "%"))).scalar()


def test_importing_the_same_file_twice_changes_nothing(system, tmp_path):
    p = f"000.00.01.H{system.backend[:1].upper()}1-241201-"
    path = _csv(tmp_path, [
        f"{p}0001,1.001,Đăng ký khai sinh,p-a,01/12/2024,03/12/2024,02/12/2024,CB-1",
        f"{p}0002,1.002,\"Chứng thực bản sao, chữ ký\",p-a,2024-12-01,,,",
        f"{p}0003,1.001,=HYPERLINK(\"http://x\"),p-b,01/12/2024,,,CB-2",
    ])
    first = district(system.db_url, "dossiers", "import", str(path))
    assert "3 added, 0 updated, 0 unchanged" in first.stdout, first.stderr
    second = district(system.db_url, "dossiers", "import", str(path))
    assert "0 added, 0 updated, 3 unchanged" in second.stdout, second.stderr
    with system.engine.connect() as conn:
        formula = conn.execute(sa.select(dossiers.c.procedure_name)
                               .where(dossiers.c.code == f"{p}0003")).scalar()
        finished = conn.execute(sa.select(dossiers.c.finished_on)
                                .where(dossiers.c.code == f"{p}0001")).scalar()
    assert formula == '=HYPERLINK("http://x")' and finished == dt.date(2024, 12, 2)


def test_a_hostile_file_names_every_bad_line_and_imports_nothing(system, tmp_path):
    p = f"000.00.02.H{system.backend[:1].upper()}2-241201-"
    path = _csv(tmp_path, [
        f"{p}0001,1.001,Đăng ký khai sinh,p-a,01/12/2024,,,CB-1",
        f"{p}0002,1.001,Khai sinh,p-a,31/02/2024,,,",
        f"{p}0003,1.001,Khai sinh,p-z,01/12/2024,,,",
        f"{p}0001,1.001,Khai sinh,p-a,01/12/2024,,,",
        f"{p}0005,,Khai sinh,p-a,01/12/2024,,,",
        f"{p}0006,1.001,Khai sinh,p-a,05/12/2024,,01/12/2024,",
    ])
    done = district(system.db_url, "dossiers", "import", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for line in ("line 3, column received_on", "line 5, column code",
                 "line 6, column procedure_code", "line 7, column finished_on"):
        assert line in done.stderr, done.stderr
    assert _count(system, p) == 0
    wrong_unit = _csv(tmp_path, [f"{p}0003,1.001,Khai sinh,p-z,01/12/2024,,,"], "u.csv")
    done = district(system.db_url, "dossiers", "import", str(wrong_unit))
    assert "line 2, column unit_id: unknown unit p-z" in done.stderr
    other = _csv(tmp_path, [f"{p}0009,1.001,Khai sinh,p-b,01/12/2024,,,"], "o.csv")
    done = district(system.db_url, "dossiers", "import", str(other), "--unit", "p-a")
    assert "is not p-a or one of its units" in done.stderr and _count(system, p) == 0
    (tmp_path / "cols.csv").write_text("code,colour\nX,red\n")
    done = district(system.db_url, "dossiers", "import", str(tmp_path / "cols.csv"))
    assert "line 1, column colour: unknown column" in done.stderr
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    done = district(system.db_url, "dossiers", "import", str(tmp_path / "bin.csv"))
    assert done.returncode == 1 and "neither UTF-8 CSV nor an XLSX" in done.stderr


def test_an_xlsx_export_imports_with_its_dates_and_formula_text_kept(system, tmp_path):
    p = f"000.00.03.H{system.backend[:1].upper()}3-241201-"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append([f"{p}0001", "1.001", "=1+1", "p-a", dt.datetime(2024, 12, 1, 8, 30),
                  None, dt.date(2024, 12, 3), "CB-1"])
    book.save(tmp_path / "hs.xlsx")
    done = district(system.db_url, "dossiers", "import", str(tmp_path / "hs.xlsx"))
    assert "1 added" in done.stdout, done.stderr
    with system.engine.connect() as conn:
        row = conn.execute(sa.select(dossiers).where(dossiers.c.code == f"{p}0001")).one()
    assert (row.procedure_name, row.received_on, row.finished_on) == (
        "=1+1", dt.date(2024, 12, 1), dt.date(2024, 12, 3))


def test_an_xlsx_of_values_is_read_quickly_with_the_same_rows_and_line_numbers(system, tmp_path):
    """A workbook without formulas (as one-stop software exports) takes the fast reader
    (python-calamine): its dates, numbers and empty cells give the rows openpyxl gives, the
    same file twice changes nothing, and a bad cell is named by the sheet's line."""
    from district.dossiers import _openpyxl_rows, _xlsx_rows, parse_rows

    p = f"000.00.05.H{system.backend[:1].upper()}5-241201-"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append([f"{p}0001", 1.001, "Đăng ký khai sinh", "p-a", dt.datetime(2024, 12, 1, 8),
                  None, dt.date(2024, 12, 3), "CB-1"])
    sheet.append([None] * 8)  # a blank line: skipped, and the next line keeps its number
    sheet.append([f"{p}0002", "1.002", " Chứng thực ", "p-b", "01/12/2024", "", None, None])
    book.save(tmp_path / "values.xlsx")
    data = (tmp_path / "values.xlsx").read_bytes()
    quick = parse_rows(_xlsx_rows(tmp_path / "values.xlsx", data), "values.xlsx")
    assert quick == parse_rows(_openpyxl_rows(tmp_path / "values.xlsx", data), "values.xlsx")
    assert [(r["line"], r["procedure_code"], r["received_on"]) for r in quick] == [
        (2, "1.001", dt.date(2024, 12, 1)), (4, "1.002", dt.date(2024, 12, 1))]
    first = district(system.db_url, "dossiers", "import", str(tmp_path / "values.xlsx"))
    assert "2 added, 0 updated, 0 unchanged" in first.stdout, first.stderr
    again = district(system.db_url, "dossiers", "import", str(tmp_path / "values.xlsx"))
    assert "0 added, 0 updated, 2 unchanged" in again.stdout, again.stderr
    sheet.append([f"{p}0003", "1.002", "Chứng thực", "p-b", "31/02/2024", None, None, None])
    book.save(tmp_path / "bad.xlsx")
    done = district(system.db_url, "dossiers", "import", str(tmp_path / "bad.xlsx"))
    assert done.returncode == 1 and "line 5, column received_on" in done.stderr, done.stderr
    assert _count(system, p) == 2


def test_a_one_stop_system_pushes_dossiers_with_an_admin_token(system):
    token = create_admin_token(system.engine, "one-stop")
    p = f"000.00.04.H{system.backend[:1].upper()}4-241201-"
    body = {"unit": "p-a", "dossiers": [
        {"code": f"{p}0001", "procedure_code": "1.001", "procedure_name": "Khai sinh",
         "unit_id": "p-a", "received_on": "2024-12-01", "finished_on": "02/12/2024",
         "officer": "CB-1"}]}
    auth = {"Authorization": f"Bearer {token}"}
    url = system.url + "/api/v1/dossiers"
    assert httpx.post(url, json=body, headers=auth).json() == {
        "added": 1, "updated": 0, "unchanged": 0}
    assert httpx.post(url, json=body, headers=auth).json()["unchanged"] == 1
    bad = {"dossiers": [{**body["dossiers"][0], "code": f"{p}0002", "received_on": "hôm qua"},
                        {**body["dossiers"][0], "code": f"{p}0003", "unit_id": "p-b"},
                        {**body["dossiers"][0], "code": f"{p}0004"}]}
    bad["unit"] = "p-a"
    answer = httpx.post(url, json=bad, headers=auth)
    assert answer.status_code == 422
    assert [d["loc"] for d in answer.json()["details"]] == [[2, "received_on"]]
    assert _count(system, p) == 1
    assert httpx.post(url, json=body).status_code == 401
    strange = httpx.post(url, json={"dossiers": [{"colour": "red"}]}, headers=auth)
    assert strange.status_code == 422


def test_names_with_tabs_newlines_and_backslashes_are_stored_as_sent(system):
    """(PostgreSQL's new rows travel in COPY's text format, which escapes these.)"""
    from district.dossiers import import_dossiers

    p = f"000.00.06.H{system.backend[:1].upper()}6-241201-"
    names = ["Tên\tcó tab", "dòng 1\ndòng 2\r\n", "C:\\thư mục\\N", "\\N"]
    rows = [{"code": f"{p}{i:04d}", "procedure_code": "1.001", "procedure_name": name,
             "unit_id": "p-a", "received_on": None, "due_on": None,
             "finished_on": dt.date(2024, 12, 2), "officer": None, "line": i + 2}
            for i, name in enumerate(names)]
    assert import_dossiers(system.engine, rows, "odd names").added == len(names)
    with system.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(dossiers.c.code, dossiers.c.procedure_name)
                                   .where(dossiers.c.code.like(p + "%"))).all())
    assert stored == {r["code"]: r["procedure_name"] for r in rows}
