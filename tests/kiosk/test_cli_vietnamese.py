"""Vietnamese only, where Vietnamese is asked: every verb's failure paths with ``--lang vi``,
as real processes. Their stdout and stderr carry translated sentences and no log record; an
English word outside a quoted name (a path, a key, a command, a system's quoted text) fails.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

# Common English words of our messages and of the libraries' (requests, urllib3, sqlite3,
# Python); Vietnamese words without diacritics that look English ("to", "in", "no", "on",
# "ban") are left out on purpose.
ENGLISH = set("""
the and is are was were not cannot could would should will be been has have had this that
with from for of at by or an it its if then than when while into onto over under
error errors failed failure warning warn info debug traceback exception unexpected unknown
invalid wrong missing refused denied permission timeout timed reach reachable unreachable
server servers connection connect host port network file files folder directory path
vote votes voted level levels store stored storage card full read only write written
sync sending sent send upload uploaded heartbeat token terminal unit check fix please
try again later never yes none some all any every last next first after before
configuration config value key keys valid must use set run show does exist exists
such max retries exceeded new caused established name resolution temporary
""".split())
LOG_RECORD = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|Traceback")
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`|“[^”\n]*”")
# names that are not words: paths, URLs, dotted keys, [sections], options, ids, commands
NAMES = re.compile(r"\[[a-z_]+\] [a-z_]+|\S*[/.:=_\[\]@]\S*|--?[a-z][\w-]*"
                   r"|\b[a-z0-9]+(?:-[a-z0-9]+)+\b"
                   r"|\b(?:kiosk|district|journalctl|systemctl|timedatectl)(?: [a-z][\w-]*)*")
# the doctor's check names (its first column after the verdict: the guide's table lists them)
CHECK_NAME = re.compile(r"^(ĐẠT|LỖI|CẢNH BÁO|BỎ QUA)\s+[a-z]+", re.MULTILINE)


def english_words(text: str) -> list[str]:
    bare = NAMES.sub(" ", QUOTED.sub(" ", CHECK_NAME.sub(r"\1", text)))
    return [w for w in re.findall(r"[A-Za-z]+", bare) if w.lower() in ENGLISH]


def test_the_detector_catches_what_the_issue_saw():
    assert english_words("WARNING kiosk.sync: heartbeat failed … HTTPConnectionPool") == [
        "WARNING", "heartbeat", "failed"]
    assert english_words("Sự cố gửi gần nhất  Cannot reach the server") == [
        "Cannot", "reach", "the", "server"]
    assert english_words("Mã lỗi: full") == ["full"]
    assert english_words("Không dùng được kho phiếu (hệ thống báo: \"disk I/O error\"). "
                         "Cách sửa: chạy 'kiosk doctor'.") == []
    assert LOG_RECORD.search("ERROR kiosk.capture: storage failing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    """No kiosk.toml anywhere, no syslog socket needed: the journal or a file takes logs."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
            "KIOSK_STORAGE__PATH": str(tmp_path / "votes.db"),
            "KIOSK_GPIO__PIN_FACTORY": "mock"}


def kiosk(env, *args):
    return subprocess.run([sys.executable, "-m", "kiosk.cli", "--lang", "vi", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def failure_paths(tmp_path, env):
    """(name, extra environment, argv) of each verb's usual failures."""
    unreachable = {"KIOSK_SERVER__URL": f"http://127.0.0.1:{free_port()}",
                   "KIOSK_SERVER__TOKEN": "x", "KIOSK_SYNC__MAX_BACKOFF_S": "0.2"}
    no_store = {"KIOSK_STORAGE__PATH": "/proc/no-such-card/votes.db"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[gpio]\nbutton_pins = [17, 17, 22]\n[storage]\npaht = 1\n")
    not_toml = tmp_path / "broken.toml"
    not_toml.write_text("[terminal\nid = 1\n")
    return [
        ("vote: no such level", {}, ["vote", "7"]),
        ("vote: storage cannot be opened", no_store, ["vote", "1"]),
        ("status: storage cannot be opened", no_store, ["status"]),
        ("export: no USB stick", {}, ["export", str(tmp_path / "no-stick" / "v.csv")]),
        ("sync --once: no server", {}, ["sync", "--once"]),
        ("sync --once: server unreachable", unreachable, ["sync", "--once"]),
        ("status after a failed sync", unreachable, ["status"]),
        ("doctor: no kiosk.toml", {}, ["doctor"]),
        ("doctor: broken kiosk.toml", {}, ["--config", str(not_toml), "doctor"]),
        ("config check: bad values", {}, ["config", "check", str(bad)]),
        ("config check: not TOML", {}, ["config", "check", str(not_toml)]),
        ("config check: no such file", {}, ["config", "check", str(tmp_path / "none.toml")]),
        ("config show: bad file", {}, ["--config", str(bad), "config", "show"]),
    ]


def test_every_failure_speaks_vietnamese_only(tmp_path, env):
    problems = []
    assert kiosk(env, "vote", "2").returncode == 0  # something to send
    for name, extra, argv in failure_paths(tmp_path, env):
        result = kiosk({**env, **extra}, *argv)
        if name.startswith(("config show", "status after")) is False and \
                result.returncode == 0:
            problems.append(f"{name}: exit 0 (a failure path should fail)\n{result.stdout}")
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if LOG_RECORD.search(text):
                problems.append(f"{name}: a log record on {stream}:\n{text}")
            if words := english_words(text):
                problems.append(f"{name}: English on {stream}: {words}\n{text}")
    assert not problems, "\n\n".join(problems)


def test_doctor_without_kiosk_toml_fails_as_the_guide_says(env):
    result = kiosk(env, "doctor")
    assert result.returncode == 1
    assert "LỖI       config       chưa có mã máy: không tìm thấy tệp kiosk.toml" in result.stdout


def test_the_progress_bar_and_the_last_problem_read_as_vietnamese(tmp_path, env):
    unreachable = {**env, "KIOSK_SERVER__URL": f"http://127.0.0.1:{free_port()}",
                   "KIOSK_SERVER__TOKEN": "x", "KIOSK_SYNC__MAX_BACKOFF_S": "0.2"}
    assert kiosk(env, "vote", "2").returncode == 0
    sync = kiosk(unreachable, "sync", "--once")
    assert sync.returncode == 1
    assert "phiếu" in sync.stderr and not re.search(r"\dphiếu", sync.stderr)
    # the agent ran in English: the status still says the problem in Vietnamese
    english = subprocess.run([sys.executable, "-m", "kiosk.cli", "--lang", "en", "sync",
                              "--once"], capture_output=True, text=True, env=unreachable,
                             timeout=120)
    assert "Cannot reach the server" in english.stderr
    status = kiosk(unreachable, "status")
    assert "Sự cố gửi gần nhất" in status.stdout
    assert "Không kết nối được máy chủ" in status.stdout
    assert "không liên lạc được" in status.stdout
    assert re.search(r"Lần gửi thành công gần nhất\s+chưa bao giờ", status.stdout) or \
        "chưa" in status.stdout
