"""When the question is said (kiosk.voice.presence.QuestionTimer), on a clock the test
moves: on an approach, or with the first vote after the terminal stood idle; never twice
for one citizen. No window: the rule alone."""

from __future__ import annotations

from kiosk.voice.presence import QuestionTimer


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_approach_says_it_once_per_citizen():
    clock = Clock()
    timer = QuestionTimer(clock, quiet_s=30)
    assert timer.approached()
    clock.now += 5
    assert not timer.approached()  # the same citizen moving
    assert not timer.voted()  # heard it already: the confirmation alone
    clock.now += 10
    assert not timer.approached()  # just served: the next citizen is not yet there
    clock.now += 31
    assert timer.approached()


def test_without_an_approach_the_first_vote_after_idle_says_it():
    clock = Clock()
    timer = QuestionTimer(clock, quiet_s=30)
    assert timer.voted()  # the first vote since the start
    clock.now += 8
    assert not timer.voted()  # a queue of citizens: each one soon after the last
    clock.now += 29
    assert not timer.voted()
    clock.now += 31
    assert timer.voted()  # the terminal stood idle again
