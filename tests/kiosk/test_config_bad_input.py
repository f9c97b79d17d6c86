"""``kiosk config check`` (and every verb, which loads the same configuration) on input that
used to end in a Python traceback or pass the check and fail at run time: exit 2 (bad
configuration, docs/technician.md), a message naming the file or key and the fix, in
Vietnamese by default, and nothing touched (no vote store made)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

GOOD = '[terminal]\nid = "hbt-bach-mai"\nunit = "hbt-bach-mai"\n[gpio]\npin_factory = "mock"\n'


def kiosk(env, *args):
    return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60, cwd=REPO)


@pytest.fixture
def env(kiosk_env, tmp_path):
    """No KIOSK_* identity from the environment: the files say everything."""
    env = {k: v for k, v in kiosk_env.items() if not k.startswith("KIOSK_")}
    env["KIOSK_STORAGE__PATH"] = str(tmp_path / "store" / "votes.db")
    return env


def refused(result, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def deep_file(tmp_path, depth: int):
    path = tmp_path / f"deep-{depth}.toml"
    path.write_text(GOOD + "[ui]\ncounter = " + "[" * depth + "]" * depth + "\n")
    return path


@pytest.mark.parametrize("depth", [12, 5000])
def test_deeply_nested_value(env, tmp_path, depth):
    result = kiosk(env, "--lang", "en", "config", "check", str(deep_file(tmp_path, depth)))
    refused(result, f"deep-{depth}.toml", "nested more than 10 deep", "Fix:")
    result = kiosk(env, "config", "check", str(deep_file(tmp_path, depth)))
    refused(result, "lồng nhau sâu hơn 10 tầng", "Cách sửa:")
    refused(kiosk(env, "--config", str(deep_file(tmp_path, depth)), "vote", "2"))
    assert not (tmp_path / "store").exists()


def test_a_folder_or_a_symlink_loop_as_the_file(env, tmp_path):
    folder = tmp_path / "kiosk.d"
    folder.mkdir()
    refused(kiosk(env, "--lang", "en", "config", "check", str(folder)),
            "is a folder, not a file")
    loop = tmp_path / "loop.toml"
    os.symlink(tmp_path / "other.toml", loop)
    os.symlink(loop, tmp_path / "other.toml")
    refused(kiosk(env, "--lang", "en", "config", "check", str(loop)),
            "a symbolic link that leads back to itself")
    refused(kiosk(env, "config", "check", str(loop)), "liên kết tượng trưng")
    refused(kiosk({**env, "KIOSK_CONFIG": str(folder)}, "vote", "1"), "thư mục")
    assert not (tmp_path / "store").exists()


def test_deeply_nested_environment_variable(env, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    deep = {**env, "KIOSK_UI__COUNTER": "[" * 5000 + "]" * 5000}
    refused(kiosk(deep, "--lang", "en", "config", "check", str(good)),
            "KIOSK_UI__COUNTER", "nested more than 10 deep")
    refused(kiosk(deep, "config", "check", str(good)), "KIOSK_UI__COUNTER", "tầng")


def test_values_the_run_would_fail_on_are_refused(env, tmp_path):
    del env["KIOSK_STORAGE__PATH"]  # the file's path is the one in question
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD + "[serial]\nenabled = true\nport = \"loop://\"\nbaudrate = 4000000000\n"
                   "[storage]\npath = \"/tmp/votes\\u0000.db\"\n")
    result = kiosk(env, "--lang", "en", "config", "check", str(bad))
    refused(result, "'serial.baudrate' in", "must be at most 4000000",
            "'storage.path' in", "NUL character")
    refused(kiosk(env, "config", "check", str(bad)), "phải từ 4000000 trở xuống", "ký tự NUL")
    # the NUL used to crash `kiosk vote` (exit 1) instead of a clear refusal
    refused(kiosk(env, "--config", str(bad), "vote", "2"), "storage.path")


def test_a_file_without_the_terminals_identity_is_not_valid(env, tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    refused(kiosk(env, "--lang", "en", "config", "check", str(empty)),
            "[terminal] id, [terminal] unit not set")
    only_id = tmp_path / "id.toml"
    only_id.write_text('[terminal]\nid = "hbt-bach-mai"\n')
    result = kiosk(env, "config", "check", str(only_id))
    refused(result, "Chưa đặt [terminal] unit")
    assert "[terminal] id" not in result.stderr
    # the identity may come from the environment too, as on a test bench
    named = {**env, "KIOSK_TERMINAL__ID": "hbt-bach-mai", "KIOSK_TERMINAL__UNIT": "hbt"}
    assert kiosk(named, "config", "check", str(empty)).returncode == 0


def test_good_files_still_pass(env, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(GOOD + "[serial]\nbaudrate = 115200\n[ui]\ncounter = \"Quầy 1\"\n")
    result = kiosk(env, "--lang", "en", "config", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "terminal hbt-bach-mai, unit hbt-bach-mai" in result.stdout


def test_the_development_file_of_make_run_passes(env, tmp_path):
    """scripts/run-local.sh writes this (with a real token and PIN): it must stay valid."""
    script = (REPO / "scripts" / "run-local.sh").read_text()
    body = script.split('"$VAR/kiosk.toml" <<TOML\n', 1)[1].split("\nTOML\n", 1)[0]
    text = (body.replace("$PWD/$VAR", str(tmp_path / "var")).replace("$PORT", "8000")
            .replace("$token", "tok").replace(
                "$(printf '%06d' $((RANDOM * RANDOM % 1000000)))", "246810"))
    dev = tmp_path / "kiosk.toml"
    dev.write_text(text)
    result = kiosk(env, "--lang", "en", "config", "check", str(dev))
    assert result.returncode == 0, result.stderr
