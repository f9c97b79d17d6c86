"""The voting rules, event by event, without hardware or storage."""

from __future__ import annotations

import pytest

from kiosk.config import RulesSection
from kiosk.rules import ButtonEvent, Edge, Outcome, VotingRules
from kiosk.vote import Flag, Source

MS = 1_000_000
S = 1_000_000_000


def rules(**overrides) -> VotingRules:
    values = {"debounce_ms": 30, "lockout_s": 3, "stuck_after_s": 8, "misuse_window_s": 60,
              "misuse_max_votes": 6, "min_press_ms": 0} | overrides
    return VotingRules(RulesSection(**values), levels=3)


def down(level, t):
    return ButtonEvent(level, Edge.DOWN, Source.GPIO, t)


def up(level, t):
    return ButtonEvent(level, Edge.UP, Source.GPIO, t)


def click(level, t, source=Source.TOUCH):
    return ButtonEvent(level, Edge.CLICK, source, t)


def outcomes(r, events):
    return [r.handle(e).outcome for e in events]


def test_one_press_is_one_vote_counted_on_the_press_edge():
    r = rules()
    assert outcomes(r, [down(2, 0), up(2, 120 * MS)]) == [Outcome.COUNT, Outcome.RELEASE]


def test_bouncing_edges_within_a_few_ms_count_once():
    r = rules()
    t = 10 * S
    edges = [down(1, t), up(1, t + 1 * MS), down(1, t + 2 * MS), up(1, t + 4 * MS),
             down(1, t + 5 * MS), up(1, t + 200 * MS), down(1, t + 201 * MS),
             up(1, t + 203 * MS)]
    got = outcomes(r, edges)
    assert got.count(Outcome.COUNT) == 1
    assert got[0] is Outcome.COUNT
    # the bounces after the release leave the button up: never reported stuck
    assert r.poll(t + 60 * S) == []


def test_a_bounced_release_still_leaves_the_button_up():
    r = rules()
    r.handle(down(3, 0))
    r.handle(up(3, 10 * MS))       # within debounce of the press: a bounce, but raw state is up
    assert r.next_deadline_ns() is None
    assert r.poll(100 * S) == []


def test_presses_during_lockout_are_not_counted_then_counted_after():
    r = rules(lockout_s=3)
    assert r.handle(click(3, 0)).outcome is Outcome.COUNT
    assert r.handle(click(1, 1 * S)).outcome is Outcome.LOCKED_OUT
    assert r.handle(click(2, 2900 * MS)).outcome is Outcome.LOCKED_OUT
    assert r.handle(click(2, 3 * S)).outcome is Outcome.COUNT


def test_very_short_pulse_counts_once_by_default():
    r = rules()
    assert outcomes(r, [down(2, 0), up(2, 1 * MS)]) == [Outcome.COUNT, Outcome.BOUNCE]


def test_with_min_press_a_short_pulse_is_a_glitch_and_a_real_press_counts():
    r = rules(min_press_ms=20)
    assert r.handle(down(2, 0)).outcome is Outcome.PENDING
    assert r.poll(5 * MS) == []
    assert r.handle(up(2, 12 * MS)).outcome is Outcome.BOUNCE  # inside the debounce window
    assert r.poll(25 * MS) == []
    r1 = rules(min_press_ms=20, debounce_ms=5)
    r1.handle(down(2, 0))
    assert r1.handle(up(2, 12 * MS)).outcome is Outcome.GLITCH
    # a press that lasted long enough counts even when the release arrives before the poll
    r1.handle(down(2, 100 * MS))
    assert r1.handle(up(2, 140 * MS)).outcome is Outcome.COUNT
    r2 = rules(min_press_ms=20)
    r2.handle(down(2, 0))
    assert r2.handle(up(2, 3 * MS)).outcome is Outcome.BOUNCE  # within debounce: still pending
    assert r2.poll(25 * MS) == []  # raw state is up: the pulse was a glitch, nothing counted
    assert r2.next_deadline_ns() is None  # and nothing left waiting
    r3 = rules(min_press_ms=20)
    r3.handle(down(1, 0))
    assert r3.next_deadline_ns() == 20 * MS
    [decision] = r3.poll(20 * MS)
    assert decision.outcome is Outcome.COUNT and decision.level == 1


def test_held_button_counts_once_then_is_reported_stuck_and_ignored_until_released():
    r = rules(stuck_after_s=8)
    assert r.handle(down(1, 0)).outcome is Outcome.COUNT
    assert r.poll(7 * S) == []
    [stuck] = r.poll(8 * S)
    assert stuck.outcome is Outcome.STUCK and stuck.level == 1
    assert r.stuck_levels == [1]
    assert r.poll(20 * S) == []  # reported once
    assert r.handle(up(1, 30 * S)).outcome is Outcome.UNSTUCK
    assert r.stuck_levels == []
    assert r.handle(down(1, 40 * S)).outcome is Outcome.COUNT


def test_a_button_down_at_start_gets_no_vote_and_becomes_stuck():
    r = rules(stuck_after_s=2)
    r.held_at_start(2, 0)
    [stuck] = r.poll(2 * S)
    assert stuck.outcome is Outcome.STUCK
    assert r.handle(down(2, 3 * S)).outcome is Outcome.STUCK_IGNORED


def test_other_buttons_still_vote_while_one_is_stuck():
    r = rules(stuck_after_s=1)
    r.handle(down(1, 0))
    r.poll(1 * S)
    assert r.handle(click(3, 10 * S)).outcome is Outcome.COUNT


@pytest.mark.parametrize("max_votes", [2, 6])
def test_bursts_faster_than_a_queue_are_flagged_not_dropped(max_votes):
    r = rules(lockout_s=1, misuse_window_s=60, misuse_max_votes=max_votes)
    decisions = [r.handle(click(3, i * 2 * S)) for i in range(max_votes + 3)]
    assert all(d.outcome is Outcome.COUNT for d in decisions)
    flagged = [Flag.SUSPECTED_MISUSE in d.flags for d in decisions]
    assert flagged == [False] * max_votes + [True] * 3
    # after a quiet window, votes are trusted again
    later = r.handle(click(3, 1000 * S))
    assert later.outcome is Outcome.COUNT and later.flags == ()


def test_level_outside_the_scale_is_a_programming_error():
    with pytest.raises(ValueError):
        rules().handle(click(4, 0))
