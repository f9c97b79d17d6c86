"""The follow-up question answered by the physical buttons through the real app: mock GPIO
pins and a serial box on a pty; touch still answers; a question nobody answers ends with the
thank-you. A screenshot shows each reason where its button is."""

from __future__ import annotations

import os

import pytest

from tests.ui.conftest import ARTIFACTS, ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_buttons_answer_the_followup(run_scenario, tmp_path):
    master, slave = os.openpty()
    shots = ARTIFACTS / "followup-buttons"
    try:
        config = ui_config(tmp_path, serial={"enabled": True, "port": os.ttyname(slave)},
                           rules={"lockout_s": 1.0},
                           # 30 s: each answer comes after a screenshot, which took over 4 s
                           # on a machine loaded 20 deep (the press was then a new vote)
                           followup={"enabled": True, "timeout_s": 30, "answer_after_ms": 300})
        report = run_scenario("followup_buttons", {"config": config, "size": [800, 480],
                                                   "serial_master": master,
                                                   "shots": str(shots)}, pass_fds=(master,))
    finally:
        os.close(master)
        os.close(slave)
    steps = report["steps_by_name"]
    gpio = steps["gpio"]
    assert gpio["lit_during"] == [True, True, True]  # every button answers: all lit
    # the reasons in the buttons' order, left to right as the buttons are
    boxes = [b for b in gpio["geometry"]["buttons"] if b["text"] != "Bỏ qua"]
    assert [b["text"] for b in sorted(boxes, key=lambda b: b["rect"][0])] == [
        "Phải chờ quá lâu", "Phải đi lại nhiều lần", "Lý do khác"]
    assert gpio["votes_before"] == 1
    assert [(v["level"], v["source"], v["status"], v["reasons"]) for v in gpio["votes_after"]] \
        == [(1, "gpio", "pending", "too_many_trips")]  # answered: no second vote
    assert gpio["thanks"] == "Đã ghi nhận câu trả lời của Ông/Bà"
    assert [(v["source"], v["reasons"]) for v in steps["serial"]["votes"]][1:] == [
        ("serial", "other")]
    assert [(v["source"], v["reasons"]) for v in steps["touch"]["votes"]][2:] == [
        ("keyboard", "waiting_time")]
    timed_out = steps["timeout"]
    assert [(v["source"], v["status"], v["reasons"]) for v in timed_out["votes"]][3:] == [
        ("gpio", "pending", "")]
    assert timed_out["screens"][-2:] == ["followup", "thanks"]
    assert len(timed_out["votes"]) == 4  # four citizens, four votes, whatever they pressed
    assert (shots / "followup_buttons.png").stat().st_size > 1000
