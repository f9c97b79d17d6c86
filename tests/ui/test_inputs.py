"""Every input source records exactly one vote and shows the thank-you; presses during the
thank-you are not counted; the technician's hidden gesture, PIN and button test."""

from __future__ import annotations

import os

import pytest

from tests.ui.conftest import ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_gpio_serial_touch_key_each_make_one_vote(run_scenario, tmp_path):
    master, slave = os.openpty()
    try:
        config = ui_config(tmp_path, serial={"enabled": True, "port": os.ttyname(slave)},
                           rules={"lockout_s": 4.0}, followup={"enabled": False})
        report = run_scenario("inputs", {"config": config, "size": [1024, 600],
                                         "serial_master": master}, pass_fds=(master,))
    finally:
        os.close(master)
        os.close(slave)
    steps = report["steps_by_name"]
    for total, source in enumerate(["gpio", "serial", "touch", "keyboard"], start=1):
        step = steps[source]
        assert step["before"] == total - 1
        assert len(step["stored"]) == total, f"{source}: {step['stored']}"
        assert step["stored"][-1]["source"] == source
        # gpio, serial, touch and key presses during the thank-you: none counted.
        assert len(step["during"]) == total, f"{source}: counted during the thank-you"
        assert step["screen_after_press"] == "thanks"
    assert [v["level"] for v in steps["final"]["votes"]] == [1, 2, 3, 2]
    tech = steps["technician"]
    assert tech["screen_after_1s"] == "rating"  # a short touch in the corner does nothing
    assert tech["lit_while_down"] == [True, False, False]  # the LED of the pressed button
    assert tech["shown_while_down"] == [True, False, False]
    assert tech["lit_after"] == [False, False, False]
    assert tech["votes"] == 4  # the button test recorded nothing
    rows = dict(tech["status"])
    assert rows["Mã máy"] == "hbt-thanh-nhan"
    assert rows["Đánh giá chờ gửi"] == "4"
    assert len(steps["final"]["votes"]) == 4
