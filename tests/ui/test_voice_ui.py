"""The voice in the real app: prompts built by espeak-ng, played on ALSA's null device."""

from __future__ import annotations

import shutil

import pytest

from kiosk.voice.build import build
from tests.helpers import require
from tests.ui.conftest import ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_the_app_speaks_after_the_vote_and_reads_the_followup(run_scenario, tmp_path):
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed (Debian)")
    require(shutil.which("aplay") is not None, "aplay is not installed (Debian: alsa-utils)")
    build(tmp_path / "prompts")
    config = ui_config(tmp_path, voice={"device": "null", "folder": str(tmp_path / "prompts")},
                       followup={"enabled": True, "answer_after_ms": 300},
                       rules={"lockout_s": 1.0})
    report = run_scenario("voice", {"config": config, "size": [800, 480]})
    step = report["steps_by_name"]["voice"]
    said = [name for name, code in step["played"] if code == 0]
    # the first vote of the day: the question, then the confirmation; the follow-up's
    # reading may be cut by the answer: then the newest words play
    assert said[:2] == ["question", "confirm-3-3"] and said[-1] == "answered"
    assert [(v["level"], v["reasons"]) for v in step["votes"]] == [(3, ""), (1, "too_many_trips")]


def voiced_config(tmp_path, **sections):
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed (Debian)")
    require(shutil.which("aplay") is not None, "aplay is not installed (Debian: alsa-utils)")
    build(tmp_path / "prompts")
    return ui_config(tmp_path, voice={"device": "null", "folder": str(tmp_path / "prompts"),
                                      **sections.pop("voice", {})},
                     rules={"lockout_s": 1.0}, **sections)


def test_someone_approaching_hears_the_question_before_pressing(run_scenario, tmp_path):
    """A PIR motion sensor on a gpiozero mock pin, played on ALSA's null device."""
    config = voiced_config(tmp_path, voice={"presence_pin": 4})
    step = run_scenario("presence", {"config": config, "size": [800, 480]})[
        "steps_by_name"]["presence"]
    assert step["approached"] == [["question-3", 0]]  # the question and each button, once
    assert step["votes_after_approach"] == []  # an approach records nothing
    said = [name for name, code in step["played"] if code == 0]
    assert said == ["question-3", "confirm-3-2"]  # moving again: not said twice
    assert [(v["level"], v["source"]) for v in step["votes"]] == [(2, "gpio")]


def test_the_first_press_after_idle_is_the_vote_and_hears_the_question(run_scenario,
                                                                        tmp_path):
    config = voiced_config(tmp_path)
    step = run_scenario("first_press", {"config": config, "size": [800, 480]})[
        "steps_by_name"]["first_press"]
    assert [name for name, code in step["first"] if code == 0] == ["question", "confirm-3-2"]
    later = [name for name, code in step["played"][len(step["first"]):] if code == 0]
    assert later == ["confirm-3-3"]  # soon after: the confirmation alone
    assert [(v["level"], v["source"]) for v in step["votes"]] == [(2, "gpio"), (3, "gpio")]
