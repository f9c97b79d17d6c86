"""Buttons and LEDs through gpiozero's mock pin factory, all the way to committed rows."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.capture import Capture
from kiosk.hardware.gpio import GpioPanel
from kiosk.store import VoteStore


class Recorder:
    """A capture listener that remembers what it was told."""

    def __init__(self):
        self.votes, self.ignored, self.failures, self.recovered = [], [], [], 0

    def vote_recorded(self, vote):
        self.votes.append(vote)

    def press_ignored(self, decision):
        self.ignored.append(decision)

    def storage_failed(self, error):
        self.failures.append(error)

    def storage_recovered(self):
        self.recovered += 1

    def button_test(self, event):
        self.ignored.append(event)


@pytest.fixture
def rig(make_config):
    """A running capture worker wired to mock GPIO buttons 17/27/22 and LEDs 5/6/13."""
    created = []

    def build(**rules):
        # a press held longer than meant on a loaded machine must not look stuck
        config = make_config(rules={"lockout_s": 0.3, "stuck_after_s": 60, **rules})
        capture = Capture(config, lambda: VoteStore(config.storage.path, config.terminal.id))
        panel = GpioPanel(config.gpio, capture.submit, pin_factory=MockFactory())
        capture.indicators.append(panel)
        recorder = Recorder()
        capture.listeners.append(recorder)
        capture.start()
        created.append((capture, panel))
        return capture, panel, recorder

    yield build
    for capture, panel in created:
        capture.stop()
        panel.close()


def wait_for(predicate, timeout=30.0):
    """Until ``predicate()`` holds; the timeout is a hang guard, not a speed limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def press(panel, pin, hold_s=0.05):
    panel.factory.pin(pin).drive_low()
    time.sleep(hold_s)
    panel.factory.pin(pin).drive_high()


def stored_levels(capture):
    with VoteStore(capture.config.storage.path, "x") as store:
        rows = store.conn.execute("SELECT level, source FROM votes ORDER BY seq").fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize("pin, level", [(17, 1), (27, 2), (22, 3)])
def test_each_button_gives_exactly_one_vote_of_its_level(rig, pin, level):
    capture, panel, recorder = rig()
    press(panel, pin)
    assert wait_for(lambda: recorder.votes)
    time.sleep(0.1)
    assert stored_levels(capture) == [(level, "gpio")]
    assert recorder.votes[0].level == level


def test_led_lights_only_after_the_commit_and_goes_out_after_lockout(rig):
    capture, panel, recorder = rig()
    led = panel.leds[2]
    assert not led.is_lit
    press(panel, 22)
    assert wait_for(lambda: recorder.votes)
    # the vote is on disk by the time the LED is lit
    assert wait_for(lambda: led.is_lit)
    assert stored_levels(capture) == [(3, "gpio")]
    assert wait_for(lambda: not led.is_lit)


def test_bouncing_contact_counts_once(rig):
    capture, panel, recorder = rig(lockout_s=60)  # however slow the edges come
    pin = panel.factory.pin(27)
    for _ in range(4):  # several edges within a few ms
        pin.drive_low()
        time.sleep(0.001)
        pin.drive_high()
        time.sleep(0.001)
    pin.drive_low()
    time.sleep(0.1)
    pin.drive_high()
    assert wait_for(lambda: recorder.votes)
    time.sleep(0.2)  # any second vote would be stored by now
    assert stored_levels(capture) == [(2, "gpio")]


def test_presses_during_lockout_are_not_counted(rig):
    capture, panel, recorder = rig(lockout_s=60)  # the presses below always fall in it
    press(panel, 17)
    assert wait_for(lambda: recorder.votes)
    press(panel, 22)
    press(panel, 27)
    assert wait_for(lambda: [d.outcome for d in recorder.ignored].count("locked_out") == 2)
    assert stored_levels(capture) == [(1, "gpio")]


def test_stuck_button_is_reported_and_ignored_until_released(rig):
    capture, panel, recorder = rig(stuck_after_s=0.3, lockout_s=0)
    panel.factory.pin(17).drive_low()
    assert wait_for(lambda: recorder.votes)
    assert wait_for(lambda: any(d.outcome == "stuck" for d in recorder.ignored))
    with VoteStore(capture.config.storage.path, "x") as store:
        assert wait_for(lambda: store.meta("stuck_buttons") == [1])
        # the vote that started it is flagged while it is still on the terminal
        assert store.get(recorder.votes[0].id).flags == ("stuck_button",)
    press(panel, 22)  # another button still works
    assert wait_for(lambda: len(recorder.votes) == 2)
    panel.factory.pin(17).drive_high()
    assert wait_for(lambda: any(d.outcome == "unstuck" for d in recorder.ignored))
    with VoteStore(capture.config.storage.path, "x") as store:
        assert wait_for(lambda: store.meta("stuck_buttons") == [])
    assert stored_levels(capture) == [(1, "gpio"), (3, "gpio")]


def test_very_short_pulse_is_ignored_when_a_minimum_press_is_set(rig):
    # a pulse with no wait between its edges: shorter than 400 ms on any machine
    capture, panel, recorder = rig(min_press_ms=400, debounce_ms=5)
    press(panel, 17, hold_s=0)
    time.sleep(0.15)
    assert stored_levels(capture) == []
    press(panel, 17, hold_s=0.6)
    assert wait_for(lambda: recorder.votes)
    assert stored_levels(capture) == [(1, "gpio")]


def test_button_test_mode_records_nothing(rig):
    capture, panel, recorder = rig()
    capture.button_test = True
    press(panel, 22)
    assert wait_for(lambda: recorder.ignored)
    assert stored_levels(capture) == []
