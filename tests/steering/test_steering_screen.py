"""Under Xvfb, the real rating screen of a terminal takes a question set for its unit on the
dashboard's server (``district settings set``), through the real sync agent: between
citizens, never while a citizen is answering the follow-up."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, fresh_database, require
from tests.steering.steering_helpers import District, Terminal, wait_for

ARTIFACTS = REPO / "tests" / "artifacts" / "steering"
FIRST = "Ông/Bà có hài lòng với Phường Bạch Mai hôm nay không?"
SECOND = "Câu hỏi thứ hai của phường?"


@pytest.fixture
def display():
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (Debian: xvfb)")
    number = next(n for n in range(400, 600) if not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists() or proc.poll() is not None,
             what="Xvfb", timeout=30)
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def seen(folder: Path) -> list[dict]:
    path = folder / "seen.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def command(folder: Path, line: str) -> None:
    with (folder / "commands").open("a") as out:
        out.write(line + "\n")


def test_the_units_question_shows_between_citizens(display, tmp_path):
    with fresh_database("sqlite", tmp_path) as url:
        d = District(url, tmp_path)
        d.register("bm-1", "p1")
        d.server.start()
        t = Terminal(tmp_path / "bm-1", "bm-1", d.server.url, d.tokens["bm-1"],
                     followup__timeout_s="120", rules__lockout_s="1")
        screen_env = dict(t.env, DISPLAY=display, PYTHONPATH=str(REPO),
                          XDG_CACHE_HOME=str(tmp_path / "cache"))
        screen_env.pop("NOTIFY_SOCKET", None)
        log = (tmp_path / "screen.log").open("ab")
        screen = subprocess.Popen([sys.executable, "-m", "tests.steering.screen_driver",
                                   str(t.folder)], cwd=REPO, env=screen_env, stdout=log,
                                  stderr=log)
        t.start()
        try:
            wait_for(lambda: any(s["screen"] == "rating" for s in seen(t.folder)),
                     what="the rating screen", timeout=120)
            d.cli_ok("settings", "set", f"scale.question_vi={FIRST}", "followup.enabled=true",
                     "--unit", "p1")
            wait_for(lambda: any(s["question"] == FIRST and s["screen"] == "rating"
                                 for s in seen(t.folder)),
                     what="the unit's question on the screen", timeout=120)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            command(t.folder, f"shot {ARTIFACTS / 'rating-unit-question.png'}")

            # a citizen is answering the follow-up when the next question arrives
            command(t.folder, "press 1")
            wait_for(lambda: seen(t.folder)[-1]["screen"] == "followup", what="the follow-up")
            d.cli_ok("settings", "set", f"scale.question_vi={SECOND}", "--unit", "p1")
            wait_for(lambda: (s := t.stored()) and s["settings"]["scale"]["question_vi"]
                     == SECOND, what="the new settings stored on the terminal")
            assert seen(t.folder)[-1]["screen"] == "followup"
            command(t.folder, "press 2")  # the citizen answers
            wait_for(lambda: any(s["question"] == SECOND and s["screen"] == "rating"
                                 for s in seen(t.folder)),
                     what="the second question after the citizen left", timeout=120)
            during = [s for s in seen(t.folder) if s["screen"] in ("followup", "thanks")]
            assert during and all(s["question"] == FIRST for s in during), during
            votes = subprocess.run(["sqlite3", str(t.folder / "votes.db"),
                                    "SELECT level, reasons FROM votes"], capture_output=True,
                                   text=True).stdout if shutil.which("sqlite3") else None
            if votes is not None:
                assert votes.strip().startswith("1|")  # the vote and its answer, kept
            wait_for(lambda: (d.steering("bm-1") or {}).get("applied_version") == 2,
                     what="version 2 reported applied")

            # the button test asked from afar opens the technician screen, unlocked, even
            # though nobody opened it before (it is built on first use)
            d.cli_ok("terminals", "button-test", "bm-1")
            wait_for(lambda: seen(t.folder)[-1]["screen"] == "technician",
                     what="the button test on the screen", timeout=120)
        finally:
            command(t.folder, "quit")
            try:
                screen.wait(30)
            except subprocess.TimeoutExpired:
                screen.kill()
            t.stop()
            d.server.stop()
