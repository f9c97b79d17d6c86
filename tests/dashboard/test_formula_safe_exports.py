"""No export lets a spreadsheet evaluate a name: units, terminals, counters and officers
called ``=…``, ``+…``, ``-…``, ``@…``, or starting with a tab or a carriage return are
downloaded from a real server in every export the overview page links to (votes, summary,
monthly, report; CSV in both dialects and Excel) and every cell is read back: no workbook
cell is a formula, no CSV cell starts with a character that makes a spreadsheet compute, and
each name is still there, as text."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import uuid

import httpx
import pytest
from openpyxl import load_workbook

from tests.helpers import DistrictServer, clean_env

PASSWORD = "correct horse battery"
EVIL = ["=1+1", '=HYPERLINK("http://x.invalid","Bấm")', "+SUM(1,2)", "-2+3", "@SUM(1)",
        "\tPhường Tab", "\rPhường CR"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ICT = dt.timezone(dt.timedelta(hours=7))


def _units() -> list[dict]:
    units = [{"id": "q", "name": "=Quận 1", "kind": "Quận"}]
    units += [{"id": f"p{i}", "name": name, "kind": "Phường", "parent": "q"}
              for i, name in enumerate(EVIL)]
    return units


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from district.dashboard.accounts import add_user
    from district.db import create_db_engine, migrate
    from district.fleet import load_units, register_terminal
    from district.ingest import Delivery, ingest_batch

    folder = tmp_path_factory.mktemp("formulas")
    url = f"sqlite:///{folder / 'district.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    load_units(engine, {"fleet": {"name": "=fleet"}, "units": _units()})
    # half an hour ago: a vote from the future would be one whose time is not trusted
    voted = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).replace(microsecond=0)
    for i, name in enumerate(EVIL):
        terminal = f"t-{i}"
        register_terminal(engine, terminal, f"p{i}", name)
        vote = {"id": str(uuid.uuid4()), "seq": 1, "level": 1, "scale": 3, "source": "gpio",
                "recorded_at": voted.isoformat(), "clock_synced": True,
                "boot_id": "b", "monotonic_ns": 1, "flags": [], "reasons": ["waiting_time"],
                "counter": name, "officer": EVIL[-1 - i]}
        accepted, _dup, rejected = ingest_batch(engine, terminal, f"p{i}", [vote],
                                                Delivery(received_at=dt.datetime.now(dt.UTC),
                                                         via="api"))
        assert accepted and not rejected, rejected
    add_user(engine, "chief", PASSWORD, "district")
    engine.dispose()
    api = DistrictServer(url, env=clean_env(DISTRICT_ALERT_INTERVAL_S="0")).start()
    yield api, voted.astimezone(ICT).date()
    api.stop()


@pytest.fixture(scope="module")
def browser(server):
    api, _day = server
    with httpx.Client(base_url=api.url, timeout=60, headers={"Origin": api.url}) as client:
        page = client.get("/login").text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
        signed = client.post("/login", data={**fields, "username": "chief",
                                             "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        yield client


KNOWN = {"votes.csv", "votes.xlsx", "summary.csv", "summary.xlsx", "monthly.xlsx"}


def _exports(browser, day: dt.date) -> list[str]:
    """Every CSV and workbook download the dashboard offers for the month of the votes, as
    an official reaches them: the links of the overview page (a new one is covered when it
    appears there)."""
    page = browser.get(f"/dashboard?unit=q&period=month&date={day:%Y-%m-%d}")
    assert page.status_code == 200, page.text[:300]
    links = sorted({html.unescape(href) for href in re.findall(
        r'href="(/dashboard/export/[^"?]+\.(?:csv|xlsx)\?[^"]*)"', page.text)})
    names = {link.split("?")[0].rsplit("/", 1)[1] for link in links}
    assert KNOWN <= names, names
    # and each CSV in its other dialect, for Excel set to Vietnamese (";" between fields)
    return links + [link + "&dialect=semicolon" for link in links if ".csv?" in link]


def test_no_export_cell_is_evaluated(server, browser):
    _api, day = server
    found: dict[str, set[str]] = {}
    for path in _exports(browser, day):
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        texts = _xlsx_texts(path, answer.content) if ".xlsx" in path else \
            _csv_texts(path, answer.content)
        found[path.split("?")[0].rsplit("/", 1)[1] + path.partition("&dialect=")[2]] = texts
    # every name reached the exports that show it: the test looked at the right cells
    # (compared without the tab or CR: XML may turn a CR into a line feed)
    for name, texts in found.items():
        missing = [n for n in EVIL if not any(n.strip() in t for t in texts)]
        assert not missing, f"{name} lacks {missing}"


def _xlsx_texts(path: str, content: bytes) -> set[str]:
    workbook = load_workbook(io.BytesIO(content))
    texts = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # a figure computed from cells may be; a name never
                    assert not any(n.strip() in str(cell.value) for n in EVIL), \
                        f"{path}: {sheet.title}!{cell.coordinate} is the formula {cell.value!r}"
                    assert path.split("?")[0].rsplit("/", 1)[1] not in KNOWN, \
                        f"{path}: {sheet.title}!{cell.coordinate} is a formula"
                elif isinstance(cell.value, str):
                    texts.add(cell.value)
    return texts


def _csv_texts(path: str, content: bytes) -> set[str]:
    delimiter = ";" if "dialect=semicolon" in path else ","
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""),
                           delimiter=delimiter))
    texts = set()
    for number, row in enumerate(rows, 1):
        for cell in row:
            assert not cell.startswith(FORMULA_START), f"{path}, row {number}: {cell!r} " \
                "would be evaluated"
            if cell.startswith("'") and cell[1:].startswith(FORMULA_START):
                texts.add(cell[1:])  # the apostrophe makes it text; the name is intact
            else:
                texts.add(cell)
    return texts
