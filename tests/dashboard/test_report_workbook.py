"""The report's workbook (issue 16): downloaded from the real app, read by openpyxl, then by
LibreOffice headless, which recomputes every formula (converted to xlsx, read back with the
values) and prints it (converted to PDF: one page a sheet for a month, no ``###``, the
title block there). Every total, rate and index LibreOffice computes is the dashboard's."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.dashboard.conftest import EVIL
from tests.helpers import REPO, require

OCT = "unit=q&period=month&date=2025-10-10"
OUT = REPO / "tests" / "artifacts" / "reports"
FORMULA = re.compile(r"^=(SUM\([A-Z]+\d+:[A-Z]+\d+\)|IF\(.*\))$")


def soffice(tmp_path, src, fmt: str):
    exe = shutil.which("soffice")
    require(exe is not None, "LibreOffice (libreoffice-calc-nogui)")
    out = tmp_path / fmt
    subprocess.run([exe, f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}", "--headless",
                    "--convert-to", fmt, "--outdir", str(out), str(src)],
                   check=True, capture_output=True, timeout=180)
    return out / f"{src.stem}.{fmt}"


@pytest.fixture
def workbook(client_for, tmp_path):
    r = client_for("district").get("/dashboard/export/report.xlsx?" + OCT)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].endswith("spreadsheetml.sheet")
    assert "hailong-q-20251001-20251031-report.xlsx" in r.headers["content-disposition"]
    path = tmp_path / "report.xlsx"
    path.write_bytes(r.content)
    return path


def test_laid_out_to_print(workbook):
    wb = load_workbook(workbook)
    # the summary, a sheet per row of it, the two index sheets (test_report_indices.py)
    assert wb.sheetnames[0] == "Tổng hợp" and len(wb.sheetnames) == 7
    assert wb.sheetnames[-2:] == ["Thông tư 01", "Quyết định 766"]
    for ws in wb.worksheets:
        assert ws["A2"].value.startswith("Kỳ: 10/2025 (01/10/2025 – 31/10/2025)"), ws.title
        assert ws.freeze_panes == "A6" and ws.print_title_rows == "$5:$5"
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert len(ws._charts) == 1
        for row in ws.iter_rows(min_row=6):
            for cell in row:
                width = ws.column_dimensions[cell.column_letter].width
                if cell.data_type == "s":  # every text as wide as its column (no cut)
                    assert width >= min(45, len(cell.value)), (ws.title, cell.coordinate)
                if cell.data_type == "f":  # only the workbook's own formulas
                    assert FORMULA.match(cell.value), (ws.title, cell.coordinate, cell.value)
    summary = wb.worksheets[0]
    assert summary["A1"].value == "Kết quả đánh giá theo đơn vị: Quận Hai Bà Trưng"
    names = [summary.cell(row=r, column=3).value for r in range(6, 10)]
    assert EVIL in names  # a text, never a formula
    day = wb.worksheets[1]["A6"]
    assert day.number_format == "dd/mm/yyyy" and day.value.day == 1


def test_libreoffice_recomputes_the_dashboards_figures(workbook, client_for, tmp_path):
    ov = client_for("district").get("/api/v1/dashboard/overview?" + OCT).json()
    wb = load_workbook(soffice(tmp_path, workbook, "xlsx"), data_only=True)
    summary = wb.worksheets[0]
    rows = {summary.cell(row=r, column=2).value: r for r in range(6, 6 + len(ov["units"]))}
    for unit in ov["units"]:
        r = rows[unit["unit_id"]]
        assert summary.cell(row=r, column=1).value == unit["rank"]
        assert summary.cell(row=r, column=4).value == unit["votes"]
        assert round(summary.cell(row=r, column=8).value, 2) == unit["satisfaction_rate"]
        assert round(summary.cell(row=r, column=9).value, 2) == unit["index"]
        assert round(summary.cell(row=r, column=11).value, 2) == unit["change"]["index"]
    total = 6 + len(ov["units"])
    assert summary.cell(row=total, column=4).value == ov["total"]["votes"]
    assert round(summary.cell(row=total, column=8).value, 2) == ov["total"]["satisfaction_rate"]
    assert round(summary.cell(row=total, column=9).value, 2) == ov["total"]["index"]
    # each unit's sheet: its days add up to its row of the summary
    for ws in wb.worksheets[1:-2]:
        last = ws.max_row
        while ws.cell(row=last, column=1).value not in ("Tổng cộng",):
            last -= 1
        row = next(u for u in ov["units"] if ws["A1"].value.startswith(u["name"][:20]))
        assert ws.cell(row=last, column=2).value == row["votes"]
        assert round(ws.cell(row=last, column=7).value, 2) == row["index"]


def test_libreoffice_prints_one_page_a_sheet_without_hashes(workbook, tmp_path):
    pdf = soffice(tmp_path, workbook, "pdf")
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, OUT / "report-workbook-libreoffice.pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Pages:\s+7\b", info), info
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "###" not in text
    assert "Kết quả đánh giá theo đơn vị: Quận Hai Bà Trưng" in text
    assert "01/10/2025" in text and "31/10/2025" in text
    for header in ("Hạng", "Đơn vị", "Ngày"):
        assert header in text


def test_the_command_line_writes_the_workbook(db_url, tmp_path):
    from district.cli import main

    out = tmp_path / "so-lieu.xlsx"
    assert main(["--db", db_url, "report", "--unit", "q", "--period", "2025-Q4",
                 "--format", "xlsx", "--out", str(out)]) == 0
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    assert wb.worksheets[0]["A2"].value.startswith("Kỳ: Quý 4/2025")
    assert wb.worksheets[1].page_setup.fitToHeight == 0  # a quarter: pages down as needed
