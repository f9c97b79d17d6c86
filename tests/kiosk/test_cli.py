"""`kiosk vote`, `status`, `export`, `config check`: real processes, real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid

import pytest


def kiosk(env, *args, check=True):
    result = subprocess.run([sys.executable, "-m", "kiosk.cli", *args], capture_output=True,
                            text=True, env=env, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_vote_prints_its_id_once_durable_and_status_counts_it(kiosk_env):
    ids = [kiosk(kiosk_env, "vote", str(level)).stdout.strip() for level in (3, 1, 2)]
    assert all(uuid.UUID(vote_id) for vote_id in ids)
    status = json.loads(kiosk(kiosk_env, "status", "--json").stdout)
    assert {"terminal_id", "votes_total", "votes_pending", "votes_synced", "votes_rejected",
            "last_sync_at", "clock_synced"} <= set(status)
    assert status["terminal_id"] == "test-terminal"
    assert status["votes_total"] == 3 and status["votes_pending"] == 3
    assert status["votes_synced"] == status["votes_rejected"] == 0
    assert status["last_sync_at"] is None
    assert isinstance(status["clock_synced"], bool)


def test_test_votes_are_flagged_and_exported(kiosk_env, tmp_path):
    real = kiosk(kiosk_env, "vote", "2").stdout.strip()
    test = kiosk(kiosk_env, "vote", "3", "--test").stdout.strip()
    out = tmp_path / "usb" / "export.csv"
    out.parent.mkdir()
    result = kiosk(kiosk_env, "export", str(out))
    assert "2" in result.stdout
    rows = {r["id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows[real]["flags"] == "" and rows[test]["flags"] == "test"
    assert rows[real]["source"] == "cli" and rows[real]["level"] == "2"
    assert not (out.parent / "export.csv.part").exists()


def test_export_to_a_stick_that_is_not_there_says_so_and_leaves_nothing(kiosk_env, tmp_path):
    kiosk(kiosk_env, "vote", "2")
    target = tmp_path / "usb-not-mounted" / "votes.csv"
    result = kiosk(kiosk_env, "export", str(target), check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        f"Không ghi được {target}: thư mục không tồn tại. USB đã cắm, đã gắn (mount) và còn "
        "chỗ trống chưa?")
    assert not target.parent.exists()
    assert json.loads(kiosk(kiosk_env, "status", "--json").stdout)["votes_total"] == 1


@pytest.mark.parametrize("level", ["0", "4", "-1"])
def test_level_outside_the_scale_is_refused_and_nothing_stored(kiosk_env, level):
    result = kiosk(kiosk_env, "vote", "--", level, check=False) if level.startswith("-") \
        else kiosk(kiosk_env, "vote", level, check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    assert json.loads(kiosk(kiosk_env, "status", "--json").stdout)["votes_total"] == 0


def test_vote_on_unusable_storage_fails_with_a_plain_message(kiosk_env, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    kiosk_env["KIOSK_STORAGE__PATH"] = str(blocker / "votes.db")
    result = kiosk(kiosk_env, "vote", "3", check=False)
    assert result.returncode == 3
    assert result.stdout == ""
    assert "Đánh giá CHƯA được ghi" in result.stderr and "Không mở được" in result.stderr


def test_status_is_vietnamese_by_default_and_english_on_request(kiosk_env):
    kiosk(kiosk_env, "vote", "3")
    assert "Đánh giá đã lưu" in kiosk(kiosk_env, "status").stdout
    assert "Votes stored" in kiosk(kiosk_env, "--lang", "en", "status").stdout


def test_config_check(kiosk_env, tmp_path):
    del kiosk_env["KIOSK_TERMINAL__ID"]  # the environment would override the file's id
    good = tmp_path / "good.toml"
    good.write_text('[terminal]\nid = "hbt-bach-mai"\nunit = "hbt-bach-mai"\n')
    assert "hbt-bach-mai" in kiosk(kiosk_env, "config", "check", str(good)).stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[terminal]\nid = "hbt-bach-mai-"\n')
    result = kiosk(kiosk_env, "config", "check", str(bad), check=False)
    assert result.returncode == 2 and "terminal.id" in result.stderr


def test_every_command_has_help(kiosk_env):
    for command in ("run", "sync", "vote", "status", "export", "doctor", "config"):
        result = kiosk(kiosk_env, command, "--help")
        assert result.stdout.startswith(f"cách dùng: kiosk {command}"), result.stdout
        english = kiosk(kiosk_env, "--lang", "en", command, "--help")
        assert english.stdout.startswith(f"usage: kiosk {command}"), english.stdout
