"""The printed report (issue 16): PDF and DOCX downloaded from the real app, read back by
real programs. pdftotext finds every figure (computed independently from the generated
votes, tests/dashboard/expected.py) with its diacritics; pdffonts shows only the bundled
fonts, embedded; pdftoppm turns page 1 into a PNG whose title block is drawn; LibreOffice
headless converts the DOCX to PDF and pdftotext reads the same figures from it. The
pages are kept in tests/artifacts/reports/ for looking at."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from district.rollups import LOCAL_TZ
from tests.dashboard.conftest import EVIL, TERMINALS, TODAY
from tests.dashboard.expected import figures
from tests.helpers import REPO, require

OUT = REPO / "tests" / "artifacts" / "reports"
OCT = "unit=q&period=month&date=2025-10-10"
SEPT = "unit=q&period=month&date=2025-09-10"
OCT_START, OCT_END = dt.date(2025, 10, 1), dt.date(2025, 10, 31)
SEPT_START, SEPT_END = dt.date(2025, 9, 1), dt.date(2025, 9, 30)
ROWS = {"q": {"q"}, "p1": {"p1", "p1a"}, "p2": {"p2"}, "p3": {"p3"}}
NAMES = ["Quận Hai Bà Trưng", "Phường Bạch Mai", "Phường Vĩnh Tuy"]


def vi(value, digits: int = 0) -> str:
    """A number as the Vietnamese report writes it: 1.234,5."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def signed(now, before) -> str:
    d = now - before
    return ("+" if d > 0 else "-" if d < 0 else "±") + vi(abs(d), 1)


def tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} (poppler-utils / libreoffice)")
    return path


def pdf_text(pdf: Path) -> str:
    """pdftotext's words with every run of spaces and line ends made one space."""
    out = subprocess.run([tool("pdftotext"), str(pdf), "-"], check=True,
                         capture_output=True, text=True).stdout
    return re.sub(r"\s+", " ", out)


def expected_figures(generated) -> list[str]:
    """Every figure of October's report as it must print them (section II's rows, the
    summary's totals and changes, section VI's exclusions), from the generated votes."""
    out = []
    everything = set().union(*ROWS.values())
    for units in [*ROWS.values(), everything]:
        now = figures(generated, units, OCT_START, OCT_END)
        before = figures(generated, units, SEPT_START, SEPT_END)
        out += [vi(now["votes"]), vi(now["satisfaction_rate"], 1), vi(now["index"], 1),
                vi(before["index"], 1), signed(now["index"], before["index"])]
    now = figures(generated, everything, OCT_START, OCT_END)
    before = figures(generated, everything, SEPT_START, SEPT_END)
    out += [vi(before["votes"]), vi(before["satisfaction_rate"], 1),
            signed(now["satisfaction_rate"], before["satisfaction_rate"]),
            vi(now["excluded_test"]), vi(now["excluded_misuse"]),
            vi(now["excluded_test"] + now["excluded_misuse"])]
    return out


def download(client, path: str, query: str) -> bytes:
    r = client.get(f"/dashboard/export/{path}?{query}")
    assert r.status_code == 200, r.text[:500]
    return r


@pytest.fixture(scope="module")
def oct_pdf(app, dataset, tmp_path_factory):
    """The district's October report, downloaded once for the module's tests."""
    from fastapi.testclient import TestClient

    from district.dashboard import periods
    from tests.dashboard.conftest import PASSWORD

    signed = urlencode({"place": "Hà Nội", "signer": "Nguyễn Thị Hoa",
                        "position": "Chủ tịch", "number": "12/BC-UBND"})
    with pytest.MonkeyPatch.context() as mp, TestClient(app) as client:
        mp.setattr(periods, "today_local", lambda now=None: TODAY)
        client.post("/login", data={"username": "district", "password": PASSWORD})
        r = download(client, "report.pdf", f"{OCT}&{signed}")
    assert r.headers["content-type"] == "application/pdf"
    assert "hailong-q-20251001-20251031-report.pdf" in r.headers["content-disposition"]
    path = tmp_path_factory.mktemp("report") / "report.pdf"
    path.write_bytes(r.content)
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, OUT / f"report-{dataset[0].dialect.name}.pdf")
    return path


def test_the_pdf_prints_every_figure_with_its_diacritics(oct_pdf, dataset):
    _engine, generated = dataset
    text = pdf_text(oct_pdf)
    for words in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                  "QUẬN HAI BÀ TRƯNG", "Số: 12/BC-UBND", "BÁO CÁO",
                  "Hà Nội, ngày 20 tháng 10 năm 2025", "CHỦ TỊCH", "Nguyễn Thị Hoa",
                  "Ký, ghi rõ họ tên và đóng dấu", "Nơi nhận:", "tháng 10/2025",
                  "I. Tổng quan", "VI. Lượt đánh giá không được tính và lý do", *NAMES):
        assert words in text, words
    assert EVIL in text  # a unit's name is printed as text, never read as HTML
    for figure in expected_figures(generated):
        assert f" {figure} " in f" {text} ", figure


def test_the_pdf_ranks_units_as_the_dashboard(oct_pdf, client_for):
    """Each ranked unit's line (pdftotext -layout) starts with its rank and has its name,
    votes and index, in the dashboard's order."""
    lines = subprocess.run([tool("pdftotext"), "-layout", str(oct_pdf), "-"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    rows = client_for("district").get(
        "/api/v1/dashboard/overview?" + OCT).json()["units"]
    ranked = [r for r in rows if r["rank"]]
    assert len(ranked) == 4
    found = []
    for r in ranked:
        # the rank and figures on one line, the name there or wrapped around it
        start = re.compile(rf"^\s*{r['rank']}\s")
        at = [i for i, line in enumerate(lines) if start.search(line)
              and f" {vi(r['votes'])} " in line and f" {vi(r['index'], 1)} " in line + " "]
        assert len(at) == 1, (r["rank"], r["name"])
        around = " ".join(lines[at[0] - 1:at[0] + 2])
        assert r["name"][:12] in around, around
        found.append(at[0])
    assert found == sorted(found)


def test_the_pdf_uses_only_the_bundled_fonts_embedded(oct_pdf):
    out = subprocess.run([tool("pdffonts"), str(oct_pdf)], check=True, capture_output=True,
                         text=True).stdout.splitlines()[2:]
    assert out
    for line in out:
        name, emb = line.split()[0], line.split()[-5]
        assert "Report-Serif" in name, line  # no fallback font: every glyph in Noto Serif
        assert emb == "yes", line


def test_page_one_shows_the_title_block(oct_pdf):
    from PIL import Image

    subprocess.run([tool("pdftoppm"), "-r", "50", "-png", "-f", "1", "-l", "1",
                    str(oct_pdf), str(OUT / "report-page")], check=True)
    page = Image.open(next(OUT.glob("report-page*1.png"))).convert("L")
    w, h = page.size
    assert h > w  # A4 portrait
    # the issuing body (left) and the motto (right) are both drawn in the top tenth
    for box in ((0, 0, w // 2, h // 10), (w // 2, 0, w, h // 10)):
        dark = sum(1 for p in page.crop(box).getdata() if p < 128)
        assert dark > 100, box


def test_the_docx_opens_in_libreoffice_with_the_same_figures(client_for, dataset, tmp_path):
    from docx import Document

    _engine, generated = dataset
    soffice = tool("soffice")
    r = download(client_for("district"), "report.docx", OCT)
    assert r.headers["content-type"].endswith("wordprocessingml.document")
    doc = Document(io.BytesIO(r.content))
    assert doc.sections[0].page_width.cm == pytest.approx(21, abs=0.01)
    path = tmp_path / "report.docx"
    path.write_bytes(r.content)
    profile = tmp_path / "lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=180)
    converted = tmp_path / "report.pdf"
    assert converted.exists()
    shutil.copy(converted, OUT / "report-docx-libreoffice.pdf")
    text = pdf_text(converted)
    for words in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                  "BÁO CÁO", *NAMES):
        assert words in text, words
    for figure in expected_figures(generated):
        assert f" {figure} " in f" {text} ", figure


def test_english_report_without_a_previous_period(client_for, tmp_path):
    r = download(client_for("district"), "report.pdf", SEPT + "&lang=en")
    path = tmp_path / "en.pdf"
    path.write_bytes(r.content)
    text = pdf_text(path)
    for words in ("SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness",
                  "REPORT", "month 09/2025", "The previous period (08/2025) had 0 counted "
                  "votes: there is no change to give.", *NAMES):
        assert words in text, words


def test_a_unit_official_gets_their_unit_only(client_for, tmp_path):
    ward = client_for("ward1")
    assert ward.get("/dashboard/export/report.pdf?unit=p2&period=month&date=2025-09-01"
                    ).status_code == 404
    r = download(ward, "report.pdf", "period=month&date=2025-09-01")
    path = tmp_path / "p1.pdf"
    path.write_bytes(r.content)
    text = pdf_text(path)
    assert "PHƯỜNG BẠCH MAI" in text and "Tổ dân phố 1" in text
    assert "Phường Vĩnh Tuy" not in text


@pytest.mark.parametrize("query", ["unit=q&period=fortnight", "unit=q&date=31/31/2025",
                                   "unit=q&place=" + "x" * 201, "unit=q&signer=a%0Ab"])
def test_bad_parameters_are_refused_with_the_reason(client_for, query):
    r = client_for("district").get("/dashboard/export/report.pdf?" + query)
    assert r.status_code == 400, r.text[:300]
    assert "application/pdf" not in r.headers["content-type"]


def test_signed_out_gets_no_report(client_for):
    r = client_for("").get("/dashboard/export/report.pdf?" + OCT)
    assert r.status_code in (303, 401)


def test_availability_counts_days_heard_from(dataset):
    """Days with a vote of each terminal (from the generated votes), and a heartbeat on a
    day without votes counts too."""
    from district.dashboard import aggregates as agg
    from district.dashboard.periods import period_of
    from district.dashboard.report_data import gather
    from district.db import heartbeats, write_transaction

    engine, generated = dataset
    sept = period_of("month", SEPT_START)
    with engine.connect() as conn:
        tree = agg.UnitTree.load(conn)
    report = gather(engine, tree, "q", sept, today=TODAY)
    days = {t: {v.local.date() for v in generated if v.terminal_id == t
                and SEPT_START <= v.local.date() <= SEPT_END} for t, _u, _s in TERMINALS}
    got = {a.terminal_id: (a.days_heard, a.days) for a in report.fleet}
    assert got == {t: (len(d), 30) for t, d in days.items()}
    assert report.fleet_total == len(TERMINALS)
    # January 2025 has no votes; one heartbeat of t-q at 23:30 local on the 14th is the 14th
    jan = period_of("month", dt.date(2025, 1, 1))
    at = dt.datetime(2025, 1, 14, 23, 30, tzinfo=LOCAL_TZ).astimezone(dt.UTC)
    with write_transaction(engine) as conn:
        conn.execute(heartbeats.insert().values(
            terminal_id="t-q", received_at=at, sent_at=at, clock_offset_ms=0))
    try:
        report = gather(engine, tree, "q", jan, today=TODAY)
        got = {a.terminal_id: a.days_heard for a in report.fleet}
        assert got == {t: (1 if t == "t-q" else 0) for t, _u, _s in TERMINALS}
        assert report.fleet_days == 31 and report.fleet_full == 0
    finally:
        with write_transaction(engine) as conn:
            conn.execute(heartbeats.delete().where(heartbeats.c.received_at == at))


def test_the_command_line_writes_the_report(dataset, db_url, tmp_path, capsys):
    from district.cli import main

    out = tmp_path / "bao-cao.docx"
    assert main(["--db", db_url, "report", "--unit", "p2", "--period", "2025-09",
                 "--format", "docx", "--out", str(out)]) == 0
    assert out.read_bytes()[:2] == b"PK"
    assert "Phường Vĩnh Tuy" in capsys.readouterr().out
    for argv, words in ((["--unit", "nowhere", "--period", "2025-09"], "nowhere"),
                        (["--unit", "q", "--period", "2025-13"], "2025-13"),
                        (["--unit", "q", "--period", "2025-Q5"], "2025-Q5")):
        bad = tmp_path / "bad.pdf"
        assert main(["--db", db_url, "report", *argv, "--out", str(bad)]) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
        assert not bad.exists()
