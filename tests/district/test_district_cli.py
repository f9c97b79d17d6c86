"""The ``district`` command line on a real SQLite file (and the console script itself)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from district import db
from district.auth import hash_token
from district.cli import main
from district.ingest import CSV_COLUMNS
from tests.helpers import make_vote, printed_token

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTRICT_LANG", raising=False)
    url = f"sqlite:///{tmp_path / 'district.db'}"
    monkeypatch.setenv("DISTRICT_DB", url)
    return url


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_export(path: Path, votes: list[dict], terminal_id: str = "t-1") -> Path:
    """A file shaped like ``kiosk export``: header row, ';'-joined lists, 1/0 booleans."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for vote in votes:
            row = {**vote, "terminal_id": terminal_id,
                   "clock_synced": "1" if vote["clock_synced"] else "0",
                   "flags": ";".join(vote["flags"]), "reasons": ";".join(vote["reasons"])}
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return path


def vote_count(db_url: str) -> int:
    with db.create_db_engine(db_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.votes)).scalar_one()


def test_console_script_terminals_add_prints_token_last(tmp_path):
    env_db = f"sqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "district"), "--db", env_db, "terminals", "add",
         "hbt-bach-mai", "--unit", "hbt-bach-mai", "--name", "Bạch Mai"],
        capture_output=True, text=True, check=True, cwd=tmp_path)
    token = printed_token(result.stdout)
    assert len(token) >= 40 and " " not in token
    assert "đơn vị gốc" in result.stderr  # the unit did not exist: said so, in Vietnamese
    engine = db.create_db_engine(env_db)
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.terminals)).one()
    assert row.token_hash == hash_token(token) and token not in row.token_hash


def test_terminals_add_twice_is_an_error(db_url, capsys):
    assert run(capsys, "terminals", "add", "t-1", "--unit", "u")[0] == 0
    code, out, err = run(capsys, "--lang", "en", "terminals", "add", "t-1", "--unit", "u")
    assert code == 1 and "already registered" in err and "rotate" in err
    code, out, _ = run(capsys, "terminals", "rotate", "t-1")
    assert code == 0 and len(printed_token(out)) >= 40
    assert run(capsys, "terminals", "revoke", "t-1")[0] == 0
    code, _, err = run(capsys, "terminals", "revoke", "nope")
    assert code == 1 and "nope" in err


def test_units_load_the_example_fleet(db_url, capsys):
    code, out, _ = run(capsys, "--lang", "en", "units", "load", str(REPO / "config/fleet.toml"))
    assert code == 0 and "21 added" in out
    code, out, _ = run(capsys, "--lang", "en", "units", "load", str(REPO / "config/fleet.toml"))
    assert "0 added, 0 updated" in out
    with db.create_db_engine(db_url).connect() as conn:
        parents = dict(conn.execute(sa.select(db.units.c.id, db.units.c.parent_id)).all())
    assert parents["hbt"] is None and parents["hbt-vinh-tuy"] == "hbt"


def test_units_load_refuses_a_broken_tree(db_url, capsys, tmp_path, monkeypatch):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[units]]\nid = "a"\nname = "A"\nparent = "missing"\n', encoding="utf-8")
    code, _, err = run(capsys, "--lang", "en", "units", "load", str(fleet))
    assert code == 1
    assert err == f"error: {fleet}: (file): unit 'a': parent 'missing' is not a unit\n"
    code, _, err = run(capsys, "units", "load", str(fleet))  # Vietnamese by default
    assert code == 1
    assert err == (f"lỗi: {fleet}: (cả tệp): đơn vị 'a': đơn vị cấp trên 'missing' không có "
                   "trong danh sách đơn vị\n")
    unknown_key = tmp_path / "colour.toml"
    unknown_key.write_text('[[units]]\nid = "a"\nname = "A"\ncolour = "red"\n'
                           '[[units]]\nid = "b"\nname = ""\n', encoding="utf-8")
    code, _, err = run(capsys, "units", "load", str(unknown_key))
    assert code == 1
    assert err == (f"lỗi: {unknown_key}: units.0.colour: khóa không hợp lệ: xóa khóa này hoặc "
                   "sửa lại chính tả; units.1.name: không được để trống\n")
    monkeypatch.setenv("DISTRICT_LANG", "en")
    code, _, err = run(capsys, "units", "load", str(unknown_key))
    assert code == 1
    assert err == (f"error: {unknown_key}: units.0.colour: unknown key: remove it or correct "
                   "the spelling; units.1.name: must not be empty\n")
    # nothing stored: the file is refused before the database is even opened
    assert not sa.inspect(db.create_db_engine(db_url)).has_table("units")


def test_import_twice_changes_nothing(db_url, capsys, tmp_path):
    run(capsys, "terminals", "add", "t-1", "--unit", "u")
    votes = [make_vote(seq=i, reasons=["waiting_time", "other"] if i == 2 else [],
                       flags=["test"] if i == 3 else [], clock_synced=i != 4)
             for i in range(1, 6)]
    export = write_export(tmp_path / "export.csv", votes)
    code, out, _ = run(capsys, "--lang", "en", "import", str(export))
    assert code == 0 and "imported 5, duplicates 0" in out
    code, out, _ = run(capsys, "import", str(export))
    assert code == 0 and "đã nhập 0, trùng lặp 5" in out
    assert vote_count(db_url) == 5
    code, out, _ = run(capsys, "stats", "--json")
    stats = json.loads(out)
    assert stats["votes_total"] == 5 and stats["by_terminal"] == {"t-1": 5}
    with db.create_db_engine(db_url).connect() as conn:
        row = conn.execute(sa.select(db.votes).where(db.votes.c.seq == 2)).one()
    assert row.reasons == "waiting_time;other" and row.via == "import"


def test_import_bad_csv_names_line_and_column_and_imports_nothing(db_url, capsys, tmp_path,
                                                                   monkeypatch):
    run(capsys, "terminals", "add", "t-1", "--unit", "u")
    votes = [make_vote(seq=1), make_vote(seq=2, id="not-a-uuid"), make_vote(seq=3, level=9)]
    export = write_export(tmp_path / "bad.csv", votes)
    code, out, err = run(capsys, "--lang", "en", "import", str(export))
    assert code == 1
    assert "line 4, column level" in err and "nothing imported" in err
    assert "line 3, column id: id: must be a UUID like 0b7c…-…\n" in err
    assert "line 4, column level: level: must be at most 5\n" in err
    code, _, err = run(capsys, "import", str(export))  # Vietnamese by default, every word
    assert code == 1 and "dòng 4, cột level" in err
    assert "dòng 3, cột id: id: phải là một mã UUID, dạng 0b7c…-…\n" in err
    assert "dòng 4, cột level: level: phải từ 5 trở xuống\n" in err
    assert "Value error" not in err and "Input should" not in err
    monkeypatch.setenv("DISTRICT_LANG", "en")
    code, _, err = run(capsys, "import", str(export))
    assert code == 1 and "line 4, column level: level: must be at most 5\n" in err
    monkeypatch.delenv("DISTRICT_LANG")
    assert vote_count(db_url) == 0

    text = export.read_text(encoding="utf-8").replace(",gpio,", ",pigeon,", 1)
    export.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "--lang", "en", "import", str(export))
    assert code == 1 and "line 2, column source" in err
    assert vote_count(db_url) == 0


def test_import_unknown_terminal_or_header_is_refused(db_url, capsys, tmp_path):
    export = write_export(tmp_path / "x.csv", [make_vote()], terminal_id="ghost")
    code, _, err = run(capsys, "--lang", "en", "import", str(export))
    assert code == 1 and "ghost" in err and "terminals add" in err
    (tmp_path / "h.csv").write_text("id,level\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "--lang", "en", "import", str(tmp_path / "h.csv"))
    assert code == 1 and "line 1" in err and "missing" in err
    assert vote_count(db_url) == 0


def test_stats_human_and_json(db_url, capsys):
    run(capsys, "terminals", "add", "t-1", "--unit", "u")
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "tổng số phiếu: 0" in out
    code, out, _ = run(capsys, "stats", "--json")
    assert json.loads(out)["by_terminal"] == {"t-1": 0}


def test_officials_token(db_url, capsys):
    code, out, _ = run(capsys, "officials", "token", "--label", "ops")
    token = printed_token(out)
    assert code == 0 and len(token) >= 40
    with db.create_db_engine(db_url).connect() as conn:
        row = conn.execute(sa.select(db.api_tokens)).one()
    assert row.token_hash == hash_token(token) and row.label == "ops"


def test_unusable_database_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "--lang", "en", "--db", f"sqlite:///{tmp_path}/no/such/dir.db",
                       "stats")
    # one line, what is wrong and the fix; no traceback (issue 11)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "no/such does not exist" in err and "district setup" in err
