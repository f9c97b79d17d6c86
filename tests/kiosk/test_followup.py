"""The follow-up answered by the buttons: decided in the rules, proven event by event, by a
property over random press sequences, and through gpiozero's mock pins and a serial box
(a real pty pair) to committed rows."""

from __future__ import annotations

import os
import time

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.capture import Capture
from kiosk.config import FollowupSection, RulesSection
from kiosk.hardware.gpio import GpioPanel
from kiosk.hardware.serial_box import SerialButtonBox
from kiosk.rules import FOLLOWUP_CLOSED, ButtonEvent, Edge, Outcome, VotingRules, button_reasons
from kiosk.store import VoteStore
from kiosk.vote import Reason, Source

MS = 1_000_000
S = 1_000_000_000


def rules(levels=3, **followup) -> VotingRules:
    section = FollowupSection(**({"enabled": True, "timeout_s": 15, "answer_after_ms": 700}
                                 | followup))
    return VotingRules(RulesSection(lockout_s=3, debounce_ms=30), levels, section)


def click(level, t, source=Source.SERIAL):
    return ButtonEvent(level, Edge.CLICK, source, t)


def test_each_button_answers_its_own_reason_and_the_last_is_other():
    assert button_reasons(FollowupSection(), 3) == (
        Reason.WAITING_TIME, Reason.TOO_MANY_TRIPS, Reason.OTHER)
    assert button_reasons(FollowupSection(), 5) == (
        Reason.WAITING_TIME, Reason.TOO_MANY_TRIPS, Reason.UNCLEAR_GUIDANCE,
        Reason.OFFICER_ATTITUDE, Reason.OTHER)
    # a district's own order; too few named: the others follow, "other" stays last
    assert button_reasons(FollowupSection(reasons=["officer_attitude"]), 4) == (
        Reason.OFFICER_ATTITUDE, Reason.WAITING_TIME, Reason.TOO_MANY_TRIPS, Reason.OTHER)


@pytest.mark.parametrize("button, reason", [(1, Reason.WAITING_TIME),
                                            (2, Reason.TOO_MANY_TRIPS), (3, Reason.OTHER)])
def test_a_press_during_the_followup_is_an_answer_never_a_vote(button, reason):
    r = rules()
    vote = r.handle(click(1, 0))
    assert vote.outcome is Outcome.COUNT and vote.asks_followup
    assert r.followup_open
    answer = r.handle(click(button, 2 * S))
    assert (answer.outcome, answer.level, answer.reason) == (Outcome.ANSWER, button, reason)
    assert not r.followup_open
    # the thank-you's lock-out starts with the answer
    assert r.handle(click(3, 4 * S)).outcome is Outcome.LOCKED_OUT
    assert r.handle(click(3, 5 * S)).outcome is Outcome.COUNT


def test_a_double_press_right_after_the_vote_is_not_an_answer():
    r = rules()
    r.handle(click(1, 0))
    assert r.handle(click(1, 300 * MS)).outcome is Outcome.TOO_SOON
    assert r.followup_open
    assert r.handle(click(2, 800 * MS)).outcome is Outcome.ANSWER


def test_nobody_answers_the_followup_times_out_then_the_lockout():
    r = rules(timeout_s=15)
    r.handle(click(1, 0, Source.TOUCH))
    assert r.next_deadline_ns() == 15 * S
    assert r.poll(14 * S) == []
    [closed] = r.poll(15 * S)
    assert (closed.outcome, closed.level, closed.reason) == (Outcome.TIMEOUT, 1, None)
    assert r.handle(click(2, 16 * S)).outcome is Outcome.LOCKED_OUT
    assert r.handle(click(2, 18 * S)).outcome is Outcome.COUNT


def test_skip_closes_it_and_higher_levels_or_the_cli_never_open_it():
    r = rules()
    assert r.skip(0) is None  # nothing open
    r.handle(click(1, 0, Source.TOUCH))
    assert r.skip(1 * S).outcome is Outcome.SKIP
    assert not r.handle(click(2, 10 * S)).asks_followup
    assert not r.handle(click(1, 20 * S, Source.CLI)).asks_followup
    assert not rules(enabled=False).handle(click(1, 0)).asks_followup


def test_gpio_edges_answer_on_the_press_edge_and_min_press_still_applies():
    r = VotingRules(RulesSection(lockout_s=3, debounce_ms=30, min_press_ms=40), 3,
                    FollowupSection(enabled=True))
    r.handle(ButtonEvent(1, Edge.DOWN, Source.GPIO, 0))
    [vote] = r.poll(40 * MS)
    assert vote.outcome is Outcome.COUNT and vote.asks_followup
    r.handle(ButtonEvent(1, Edge.UP, Source.GPIO, 100 * MS))
    assert r.handle(ButtonEvent(2, Edge.DOWN, Source.GPIO, 2 * S)).outcome is Outcome.PENDING
    [answer] = r.poll(2 * S + 40 * MS)
    assert answer.outcome is Outcome.ANSWER and answer.reason is Reason.TOO_MANY_TRIPS


# -- the property: random press sequences --------------------------------------------------

EVENT = st.one_of(
    st.tuples(st.just("click"), st.integers(1, 5), st.sampled_from(list(Source))),
    st.tuples(st.just("down"), st.integers(1, 5), st.just(Source.GPIO)),
    st.tuples(st.just("up"), st.integers(1, 5), st.just(Source.GPIO)),
    st.tuples(st.just("skip"), st.just(0), st.just(Source.TOUCH)),
)
STEP = st.tuples(st.integers(0, 20_000), EVENT)  # ms since the previous step, then an event


@settings(max_examples=1000, deadline=None)
@given(levels=st.sampled_from([3, 4, 5]), at_or_below=st.integers(1, 2),
       min_press_ms=st.sampled_from([0, 40]), steps=st.lists(STEP, max_size=40))
def test_random_presses_never_give_two_votes_for_one_citizens_answer(levels, at_or_below,
                                                                    min_press_ms, steps):
    r = VotingRules(RulesSection(lockout_s=3, debounce_ms=30, min_press_ms=min_press_ms,
                                 stuck_after_s=8),
                    levels, FollowupSection(enabled=True, at_or_below=at_or_below,
                                            timeout_s=15, answer_after_ms=700))
    now = 0
    open_since = None        # the time the open follow-up's vote was counted
    closed_at = None         # when the last follow-up closed (its thank-you's lock-out)
    decisions = []

    def seen(decision):
        nonlocal open_since, closed_at
        decisions.append(decision)
        if decision.outcome is Outcome.COUNT:
            assert open_since is None, "a vote while the follow-up was open"
            if closed_at is not None:
                assert decision.at_ns - closed_at >= 3 * S, "a vote in the thank-you"
            if decision.asks_followup:
                assert decision.level <= at_or_below and decision.source is not Source.CLI
                open_since = decision.at_ns
        elif decision.outcome in FOLLOWUP_CLOSED:
            assert open_since is not None, "an answer with no question open"
            if decision.outcome is Outcome.ANSWER:
                assert decision.at_ns - open_since >= 700 * MS
                assert decision.reason == r.reasons[decision.level - 1]
            else:
                assert decision.reason is None
            open_since, closed_at = None, decision.at_ns
        assert r.followup_open == (open_since is not None)

    for gap_ms, (kind, level, source) in steps:
        target = now + gap_ms * MS
        while (due := r.next_deadline_ns()) is not None and due <= target:
            for decision in r.poll(max(due, now)):
                seen(decision)
            now = max(due, now)
        now = target
        level = min(level, levels)
        if kind == "skip":
            decision = r.skip(now)
            if decision is not None:
                seen(decision)
            continue
        edge = {"click": Edge.CLICK, "down": Edge.DOWN, "up": Edge.UP}[kind]
        seen(r.handle(ButtonEvent(level, edge, source, now)))
    for _ in range(10):  # let every deadline fall due: a pending press, then its question
        due = r.next_deadline_ns()
        if due is None:
            break
        now = max(due, now)
        for decision in r.poll(now):
            seen(decision)
    counted = [d for d in decisions if d.outcome is Outcome.COUNT]
    opened = [d for d in counted if d.asks_followup]
    closed = [d for d in decisions if d.outcome in FOLLOWUP_CLOSED]
    assert len(closed) == len(opened)  # each question closes once, answered or not


# -- through the hardware, to committed rows ------------------------------------------------

class Recorder:
    def __init__(self):
        self.votes, self.opened, self.closed = [], [], []

    def vote_recorded(self, vote):
        self.votes.append(vote)

    def followup_opened(self, vote, reasons):
        self.opened.append((vote, reasons))

    def followup_closed(self, vote, decision):
        self.closed.append((vote, decision))


def wait_for(predicate, timeout=30.0):
    """The timeout is a hang guard, not a speed limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def rows(config):
    with VoteStore(config.storage.path, "x") as store:
        return [tuple(r) for r in store.conn.execute(
            "SELECT level, source, status, reasons FROM votes ORDER BY seq")]


@pytest.fixture
def gpio_rig(make_config):
    made = []

    def build(lockout_s=0.3, **followup):
        config = make_config(rules={"lockout_s": lockout_s, "stuck_after_s": 60},
                             followup={"enabled": True, "answer_after_ms": 100, **followup})
        capture = Capture(config, lambda: VoteStore(config.storage.path, config.terminal.id))
        panel = GpioPanel(config.gpio, capture.submit, pin_factory=MockFactory())
        capture.indicators.append(panel)
        recorder = Recorder()
        capture.listeners.append(recorder)
        capture.start()
        made.append((capture, panel))
        return config, capture, panel, recorder

    yield build
    for capture, panel in made:
        capture.stop()
        panel.close()


def press(panel, pin, hold_s=0.05):
    panel.factory.pin(pin).drive_low()
    time.sleep(hold_s)
    panel.factory.pin(pin).drive_high()


def test_gpio_buttons_answer_the_followup_with_every_led_lit(gpio_rig):
    config, capture, panel, recorder = gpio_rig(lockout_s=30)
    press(panel, 17)  # level 1: the question opens
    assert wait_for(lambda: recorder.opened)
    vote, reasons = recorder.opened[0]
    assert reasons == (Reason.WAITING_TIME, Reason.TOO_MANY_TRIPS, Reason.OTHER)
    assert rows(config) == [(1, "gpio", "held", "")]
    assert all(led.is_lit for led in panel.leds)  # each button answers: all lit
    time.sleep(0.15)  # past answer_after_ms
    press(panel, 27)  # button 2: "had to come back too many times"
    assert wait_for(lambda: recorder.closed)
    assert recorder.closed[0][1].reason is Reason.TOO_MANY_TRIPS
    assert rows(config) == [(1, "gpio", "pending", "too_many_trips")]
    assert recorder.votes == []  # the answer was never a vote
    assert [led.is_lit for led in panel.leds] == [False, True, False]  # the one pressed
    press(panel, 22)  # in the thank-you after the answer: no vote either
    time.sleep(0.2)
    assert rows(config) == [(1, "gpio", "pending", "too_many_trips")]


def test_gpio_presses_during_the_followup_never_record_a_vote(gpio_rig):
    config, capture, panel, recorder = gpio_rig(answer_after_ms=5000)
    press(panel, 17)
    assert wait_for(lambda: recorder.opened)
    for pin in (22, 27, 17, 22):  # all too soon to answer: ignored, no vote
        press(panel, pin)
    time.sleep(0.3)
    assert rows(config) == [(1, "gpio", "held", "")]
    assert recorder.votes == [] and recorder.closed == []


def test_a_followup_nobody_answers_times_out_into_the_thank_you(gpio_rig):
    config, capture, panel, recorder = gpio_rig(timeout_s=0.5)
    press(panel, 17)
    assert wait_for(lambda: recorder.closed)
    assert recorder.closed[0][1].outcome is Outcome.TIMEOUT
    assert rows(config) == [(1, "gpio", "pending", "")]
    assert not any(led.is_lit for led in panel.leds)


def test_the_serial_box_answers_the_followup(make_config):
    config = make_config(rules={"lockout_s": 30}, gpio={"enabled": False},
                         followup={"enabled": True, "answer_after_ms": 100})
    capture = Capture(config, lambda: VoteStore(config.storage.path, config.terminal.id))
    recorder = Recorder()
    capture.listeners.append(recorder)
    capture.start()
    master, slave = os.openpty()
    try:
        with SerialButtonBox(os.ttyname(slave), 9600, 3, capture.submit) as box:
            assert box.connected.wait(30)
            os.write(master, b"B1\n")
            assert wait_for(lambda: recorder.opened)
            time.sleep(0.15)  # past answer_after_ms
            os.write(master, b"B3\n")  # the last button: "other"
            assert wait_for(lambda: recorder.closed)
            os.write(master, b"B2\n")  # in the thank-you: not a vote either
            time.sleep(0.1)
    finally:
        capture.stop()
        os.close(master)
        os.close(slave)
    assert rows(config) == [(1, "serial", "pending", "other")]
    assert recorder.votes == []
