"""The two CSV dialects (issue 16), each opened by LibreOffice headless: the default one
(UTF-8 with BOM, ",") as "," and UTF-8, the Vietnamese-Excel one (";", decimal ",") as ";",
UTF-8 and the vi-VN locale; both give every unit's name with its diacritics and every
figure as a number, the dashboard's.

(LibreOffice's import with no options at all reads any CSV as 8-bit Western text, BOM or
not, whatever the locale: a UTF-8 file is garbled there, so the character set is named.)"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.helpers import require

OCT = "unit=q&period=month&date=2025-10-10"
VI_VN = 1066  # LibreOffice's language id of vi-VN


def libreoffice_import(tmp_path, csv_path, infilter: str | None):
    exe = shutil.which("soffice")
    require(exe is not None, "LibreOffice (libreoffice-calc-nogui)")
    out = tmp_path / "out"
    cmd = [exe, f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}", "--headless"]
    if infilter:
        cmd.append(f"--infilter={infilter}")
    # (a desktop's UTF-8 locale, as officials' machines have)
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    subprocess.run([*cmd, "--convert-to", "xlsx", "--outdir", str(out), str(csv_path)],
                   check=True, capture_output=True, timeout=180, env=env)
    return load_workbook(out / f"{csv_path.stem}.xlsx", data_only=True).active


@pytest.mark.parametrize("dialect, infilter", [
    ("", "CSV:44,34,76"),  # ",", '"', UTF-8
    ("semicolon", f"CSV:59,34,76,1,,{VI_VN}"),  # ";", '"', UTF-8, from line 1, vi-VN
])
def test_libreoffice_reads_names_and_numbers(client_for, tmp_path, dialect, infilter):
    client = client_for("district")
    ov = client.get("/api/v1/dashboard/overview?" + OCT).json()
    r = client.get(f"/dashboard/export/summary.csv?{OCT}&dialect={dialect}")
    assert r.status_code == 200
    body = r.content
    assert body.startswith(b"\xef\xbb\xbf")
    first = body.decode("utf-8-sig").splitlines()[0]
    assert first.count(";" if dialect else ",") == 12
    path = tmp_path / "summary.csv"
    path.write_bytes(body)
    ws = libreoffice_import(tmp_path, path, infilter)
    assert ws.cell(row=1, column=3).value in ("Đơn vị", "Unit")
    rows: dict[str, int] = {}
    for r in range(2, ws.max_row + 1):  # (the total's row, last, has the scope's id too)
        rows.setdefault(ws.cell(row=r, column=2).value, r)
    for unit in ov["units"]:
        r = rows[unit["unit_id"]]
        assert unit["name"] in ws.cell(row=r, column=3).value
        assert ws.cell(row=r, column=4).value == unit["votes"]  # a number, not a text
        rate = ws.cell(row=r, column=7).value
        assert isinstance(rate, (int, float)) and rate == pytest.approx(
            unit["satisfaction_rate"], abs=0.005)
        assert ws.cell(row=r, column=8).value == pytest.approx(unit["index"], abs=0.005)


def test_an_unknown_dialect_is_refused(client_for):
    r = client_for("district").get(f"/dashboard/export/summary.csv?{OCT}&dialect=tab")
    assert r.status_code == 400 and "semicolon" in r.text
