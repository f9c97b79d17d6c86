"""argparse's own words in the user's language: what a technician meets first when a command
is typed wrong. Real console scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(("argv", "env", "last_line"), [
    (["kiosk", "vote", "abc"], {},
     "kiosk vote: lỗi: tham số LEVEL: giá trị int không hợp lệ: 'abc'"),
    (["kiosk", "--lang", "en", "vote", "abc"], {},
     "kiosk vote: error: argument LEVEL: invalid int value: 'abc'"),
    (["district", "terminals", "add", "x"], {},
     "district terminals add: lỗi: thiếu các tham số bắt buộc: --unit"),
    (["district", "terminals", "add", "x"], {"DISTRICT_LANG": "en"},
     "district terminals add: error: the following arguments are required: --unit"),
    (["district", "stat"], {},
     "district: lỗi: tham số COMMAND: lựa chọn không hợp lệ: 'stat' (chọn một trong 'serve', "),
])
def test_usage_errors_are_in_the_users_language(argv, env, last_line, tmp_path):
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env}
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                            env=clean, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(last_line), result.stderr


def test_help_headings_are_vietnamese():
    shown = subprocess.run([str(BIN / "kiosk"), "--help"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, timeout=60).stdout
    assert shown.startswith("cách dùng: kiosk ")
    assert "\ntùy chọn:\n" in shown and "hiện hướng dẫn này rồi thoát" in shown
    assert "hiện phiên bản phần mềm rồi thoát" in shown


def test_lang_option_also_sets_the_language_of_configuration_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[terminal]\nid = "hbt"\nunit = "hbt"\n\n[storage]\npaht = "/x"\n',
                   encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def check(*lang: str) -> str:
        result = subprocess.run([str(BIN / "kiosk"), *lang, "config", "check", str(bad)],
                                capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 2
        return result.stderr

    assert "Unknown key 'storage.paht'" in check("--lang", "en")
    assert "storage.paht" in check() and "Unknown key" not in check()
