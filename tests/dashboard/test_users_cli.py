"""`district users …`, the real console script: accounts are made, listed and refused in
the administrator's language, and a refused command changes nothing."""

from __future__ import annotations

import subprocess

import pytest

from district.db import create_db_engine, migrate
from district.fleet import load_units
from tests.helpers import BIN, clean_env


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'district.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    load_units(engine, {"units": [{"id": "q", "name": "Quận"},
                                  {"id": "w", "name": "Phường", "parent": "q"}]})
    engine.dispose()
    return url


def district(db_url: str, *argv: str, lang: str = "vi", stdin: str = ""):
    return subprocess.run([str(BIN / "district"), "--db", db_url, *argv], input=stdin,
                          env=clean_env(DISTRICT_LANG=lang), capture_output=True, text=True,
                          timeout=60)


def test_accounts_are_made_and_listed_in_vietnamese(db_url):
    made = district(db_url, "users", "add", "chief", "--role", "district")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0] == "đã tạo tài khoản chief (cán bộ cấp quận/huyện)."
    assert len(lines[-1]) >= 16  # the generated password, shown once, on the last line
    unit = district(db_url, "users", "add", "ward", "--role", "unit", "--unit", "w",
                    "--password-stdin", stdin="mot-mat-khau-dai\n", lang="en")
    assert unit.stdout.splitlines() == ["user ward created (unit official)."], unit.stderr
    listed = district(db_url, "users", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["chief", "cán bộ cấp quận/huyện", "*"], ["ward", "cán bộ cấp đơn vị", "w"]]


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (("add", "ward", "--role", "unit"), "", "cán bộ cấp đơn vị cần --unit MÃ_ĐƠN_VỊ"),
    (("add", "ward", "--role", "unit", "--unit", "w", "--password-stdin"), "short\n",
     "mật khẩu phải có ít nhất 10 ký tự"),
    (("passwd", "nobody"), "", "không có tài khoản nobody"),
    (("add", "chief", "--role", "district"), "", "tài khoản chief đã tồn tại"),
])
def test_refusals_say_what_is_wrong_in_vietnamese_and_change_nothing(db_url, argv, stdin,
                                                                     message):
    assert district(db_url, "users", "add", "chief", "--role", "district").returncode == 0
    before = district(db_url, "users", "list").stdout
    refused = district(db_url, "users", *argv, stdin=stdin)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(message), refused.stderr
    assert district(db_url, "users", "list").stdout == before
