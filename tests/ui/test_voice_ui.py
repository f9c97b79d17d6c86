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
    # the follow-up's reading may be cut by the answer: then the newest words play
    assert said[0] == "confirm-3-3" and said[-1] == "answered"
    assert [(v["level"], v["reasons"]) for v in step["votes"]] == [(3, ""), (1, "too_many_trips")]
