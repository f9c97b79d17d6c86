"""``district import`` of a file with numbers that are not ASCII digits, numbers of 5,001
digits or a header naming a column twice: a message naming the line (and column), exit 1,
no traceback, and nothing imported, not even the good rows beside the bad one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from ballot.usb import EXPORT_COLUMNS
from district import db
from district.cli import main
from tests.helpers import make_vote


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTRICT_LANG", raising=False)
    url = f"sqlite:///{tmp_path / 'district.db'}"
    monkeypatch.setenv("DISTRICT_DB", url)
    assert main(["terminals", "add", "t-1", "--unit", "u"]) == 0
    return url


def export_rows(path: Path, rows: list[dict], header=EXPORT_COLUMNS) -> Path:
    """A ``kiosk export`` file; ``rows`` are cells by column name (header order)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


def good_row(**cells) -> dict:
    vote = make_vote()
    row = {**vote, "terminal_id": "t-1", "clock_synced": "1", "flags": "", "reasons": "",
           "officer": "", "dossier_code": ""}
    row.update(cells)
    return {k: str(v) for k, v in row.items()}


def imported(db_url: str) -> int:
    with db.create_db_engine(db_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.votes)).scalar_one()


BAD_NUMBERS = [
    ("level", "²", "level: must be a whole number"),  # isdigit() says yes, int() refuses
    ("level", "٣", "level: must be a whole number"),  # an Arabic-Indic 3 is not a 3
    ("seq", "１２", "seq: must be a whole number"),  # fullwidth digits
    ("monotonic_ns", "9" * 5001, "monotonic_ns: must be at most 9223372036854775807"),
    ("seq", "-" + "9" * 5001, "seq: must be at least 1"),
]


@pytest.mark.parametrize(("column", "value", "problem"), BAD_NUMBERS,
                         ids=["superscript", "arabic-indic", "fullwidth", "5001-digits",
                              "minus-5001-digits"])
def test_numbers_are_ascii_digits_and_in_range(db_url, capsys, tmp_path, column, value,
                                               problem):
    export = export_rows(tmp_path / "bad.csv",
                         [good_row(seq="1"), good_row(**{"seq": "2", column: value})])
    code = main(["--lang", "en", "import", str(export)])
    _out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert f"line 3, column {column}: {problem}\n" in err, err
    assert "nothing imported" in err
    assert imported(db_url) == 0
    code = main(["import", str(export)])  # Vietnamese by default, every word
    _out, err = capsys.readouterr()
    assert code == 1 and f"dòng 3, cột {column}" in err and "Traceback" not in err
    assert imported(db_url) == 0


def test_a_column_named_twice_is_refused(db_url, capsys, tmp_path):
    header = (*EXPORT_COLUMNS, "counter")
    with (tmp_path / "twice.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        row = good_row(counter="Quầy 1")
        writer.writerow([row[c] for c in EXPORT_COLUMNS] + ["Quầy 2"])
    code = main(["--lang", "en", "import", str(tmp_path / "twice.csv")])
    _out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "line 1: the header names counter more than once" in err, err
    assert "nothing imported" in err
    code = main(["import", str(tmp_path / "twice.csv")])
    _out, err = capsys.readouterr()
    assert code == 1 and "dòng 1" in err and "counter" in err
    assert imported(db_url) == 0


def test_ascii_numbers_still_import(db_url, capsys, tmp_path):
    export = export_rows(tmp_path / "good.csv",
                         [good_row(seq="1", level="1"), good_row(seq=" 2 ", level="3")])
    assert main(["--lang", "en", "import", str(export)]) == 0
    assert "imported 2, duplicates 0" in capsys.readouterr().out
    assert imported(db_url) == 2


NAMES = ["=1+1", "+SUM(1,2)", "-2", "@A1", "\tQuầy", "\rQuầy", "'=quoted", "''", "'", "Quầy 1"]


def test_the_usb_export_is_formula_safe_and_imports_every_name_as_it_was(db_url, capsys,
                                                                         tmp_path):
    """``kiosk export`` (the real command) writes no cell a spreadsheet would compute, and
    ``district import`` gets back exactly the counter and officer the terminal stored."""
    import subprocess

    from kiosk import clock
    from kiosk.store import VoteStore
    from kiosk.vote import Source, new_vote
    from tests.helpers import BIN, clean_env

    store = tmp_path / "votes.db"
    with VoteStore(store, "t-1") as votes:
        for name in NAMES:
            votes.record(new_vote(1, 3, Source.GPIO, clock.now(), counter=name,
                                  officer=name[::-1], dossier_code=None))
    env = clean_env(KIOSK_STORAGE__PATH=str(store), KIOSK_TERMINAL__ID="t-1",
                    KIOSK_GPIO__PIN_FACTORY="mock")
    export = tmp_path / "usb.csv"
    done = subprocess.run([str(BIN / "kiosk"), "export", str(export)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with export.open(newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert main(["--lang", "en", "import", str(export)]) == 0, capsys.readouterr().err
    with db.create_db_engine(db_url).connect() as conn:
        stored = conn.execute(sa.select(db.votes.c.counter, db.votes.c.officer)
                              .order_by(db.votes.c.seq)).all()
    assert [tuple(row) for row in stored] == [(n, n[::-1]) for n in NAMES]
