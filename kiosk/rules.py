"""The voting rules: which raw button events become votes. Pure logic, no I/O, no threads.

Every input source (GPIO, serial box, touch, keyboard, ``kiosk vote``) delivers
:class:`ButtonEvent` s; :class:`VotingRules` turns each into a :class:`Decision`:

- **One press, one vote**, counted on the press edge so the thank-you never waits for release.
- **Debounce** on our own monotonic timestamps, per button: an edge within ``debounce_ms`` of
  the last accepted edge is contact bounce. gpiozero's ``bounce_time`` is not used (its
  issues #1039, #550, #697 drop or double edges); every raw edge still updates whether the
  button is down, so a bounced release is never mistaken for a held button.
- **Minimum press** (``min_press_ms``, off by default): when set, a press counts only once it has
  lasted that long, so electrical glitches shorter than that are ignored.
- **Lock-out** after each counted vote (the thank-you time): presses then are not counted.
- **Stuck**: a button down for ``stuck_after_s`` is reported and ignored until released.
- **Misuse**: more than ``misuse_max_votes`` counted votes within ``misuse_window_s`` — faster
  than a queue of people can produce — are still stored, flagged ``suspected_misuse``.
- **Follow-up**: a vote at or below ``[followup] at_or_below`` opens the question "what went
  wrong?". While it is open every press — of any source — answers it (button *k* gives the
  reason drawn above button *k*, :func:`button_reasons`) and never counts as a new vote; a
  press within ``answer_after_ms`` of the vote is the same citizen's double press and is
  ignored; after ``timeout_s`` it closes by itself. Answered, skipped or timed out, the
  thank-you follows and the lock-out starts then. Decided here, not in a screen, so buttons,
  touch and keys behave alike.
- **Voting window** (``window_s``, off when 0, like iQMS): a vote counts only within
  ``window_s`` of :meth:`VotingRules.open_window` (a dossier scan, the officer's "service
  finished"), and closes it: one service, one vote. A press with the window closed is
  stored flagged ``suspected_misuse`` and ``outside_window``, counted apart, never thanked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from kiosk.config import FollowupSection, RulesSection
from kiosk.vote import Flag, Reason, Source


class Edge(StrEnum):
    DOWN = "down"    # a GPIO button went down
    UP = "up"        # ... and up again
    CLICK = "click"  # a whole press at once: serial box, touch, keyboard, CLI


@dataclass(frozen=True)
class ButtonEvent:
    level: int
    edge: Edge
    source: Source
    at_ns: int  # time.monotonic_ns() when the edge was seen


class Outcome(StrEnum):
    COUNT = "count"            # store a vote
    BOUNCE = "bounce"          # contact bounce, ignored
    LOCKED_OUT = "locked_out"  # during the thank-you time, ignored
    GLITCH = "glitch"          # shorter than min_press_ms, ignored
    STUCK = "stuck"            # a button just became stuck
    STUCK_IGNORED = "stuck_ignored"
    UNSTUCK = "unstuck"        # a stuck button was released
    RELEASE = "release"        # an ordinary release
    PENDING = "pending"        # waiting for min_press_ms to pass
    ANSWER = "answer"          # a press answered the open follow-up (``reason``)
    TOO_SOON = "too_soon"      # a press just after the vote, while the follow-up opens
    SKIP = "skip"              # the follow-up was skipped (touch "Skip")
    TIMEOUT = "timeout"        # nobody answered the follow-up in time
    OUTSIDE_WINDOW = "outside_window"  # the voting window is closed: stored, not counted


#: Outcomes that close the follow-up: the thank-you follows.
FOLLOWUP_CLOSED = (Outcome.ANSWER, Outcome.SKIP, Outcome.TIMEOUT)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    level: int
    source: Source
    at_ns: int
    flags: tuple[Flag, ...] = ()
    #: COUNT: this vote opens the follow-up (store it held); ANSWER: the reason chosen
    asks_followup: bool = False
    reason: Reason | None = None


def button_reasons(section: FollowupSection, buttons: int) -> tuple[Reason, ...]:
    """The reason each button answers, button 1 first: the most common ones configured,
    as many as there are buttons but one; the last button is always "other"."""
    named = [r for r in dict.fromkeys([*map(Reason, section.reasons), *Reason])
             if r is not Reason.OTHER]
    return (*named[:buttons - 1], Reason.OTHER)  # too few configured: the others follow


@dataclass
class _Followup:
    level: int           # the vote's level
    source: Source
    opened_ns: int
    deadline_ns: int


@dataclass
class _Button:
    down: bool = False
    down_since_ns: int = 0
    last_accepted_ns: int | None = None
    stuck: bool = False
    pending_press_ns: int | None = None  # a press waiting for min_press_ms


@dataclass
class VotingRules:
    rules: RulesSection
    levels: int
    followup: FollowupSection | None = None
    window_s: float = 0.0  # the voting window; 0: always open
    _window_until_ns: int = 0
    _buttons: dict[int, _Button] = field(default_factory=dict)
    _lockout_until_ns: int = 0
    _recent_votes: deque[int] = field(default_factory=deque)
    _open: _Followup | None = None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """What each button answers while the follow-up is open (button 1 first)."""
        return button_reasons(self.followup, self.levels) if self.followup else ()

    @property
    def followup_open(self) -> bool:
        return self._open is not None

    def skip(self, at_ns: int) -> Decision | None:
        """The citizen touched "Skip": the follow-up closes without a reason."""
        if self._open is None:
            return None
        return self._close(Outcome.SKIP, self._open.level, self._open.source, at_ns)

    def open_window(self, at_ns: int) -> None:
        """A dossier scan or "service finished": the next vote within ``window_s`` counts,
        even one right after a press the closed window refused (whose lock-out would
        otherwise swallow the citizen's real answer without a word)."""
        self._window_until_ns = at_ns + int(self.window_s * 1e9)
        if self._open is None:
            self._lockout_until_ns = 0

    def window_open(self, at_ns: int) -> bool:
        return not self.window_s or at_ns < self._window_until_ns

    def cancel_followup(self) -> None:
        """The vote that opened it was not stored (storage failing): nothing to answer."""
        self._open = None

    def handle(self, event: ButtonEvent) -> Decision:
        if not 1 <= event.level <= self.levels:
            raise ValueError(f"level {event.level} outside 1..{self.levels}")
        button = self._buttons.setdefault(event.level, _Button())
        if event.edge is Edge.UP:
            return self._release(button, event)
        if event.edge is Edge.DOWN:
            was_down, button.down, button.down_since_ns = button.down, True, event.at_ns
            if button.stuck:
                return self._decide(Outcome.STUCK_IGNORED, event)
            if was_down and button.pending_press_ns is not None:
                return self._decide(Outcome.BOUNCE, event)
        if self._is_bounce(button, event.at_ns):
            return self._decide(Outcome.BOUNCE, event)
        button.last_accepted_ns = event.at_ns
        if event.edge is Edge.DOWN and self.rules.min_press_ms > 0:
            button.pending_press_ns = event.at_ns
            return self._decide(Outcome.PENDING, event)
        return self._vote(event.level, event.source, event.at_ns)

    def poll(self, now_ns: int) -> list[Decision]:
        """Decisions that fall due with time alone: presses that lasted long enough, buttons
        held past the stuck limit, a follow-up nobody answered. Call at
        :meth:`next_deadline_ns` or later."""
        decided = []
        if self._open is not None and now_ns >= self._open.deadline_ns:
            decided.append(self._close(Outcome.TIMEOUT, self._open.level, self._open.source,
                                       now_ns))
        for level, button in sorted(self._buttons.items()):
            if button.pending_press_ns is not None and \
                    now_ns - button.pending_press_ns >= self._ms(self.rules.min_press_ms):
                button.pending_press_ns = None
                if button.down:  # else it was released (in a bounce) too soon: a glitch
                    decided.append(self._vote(level, Source.GPIO, now_ns))
            if button.down and not button.stuck and \
                    now_ns - button.down_since_ns >= self.rules.stuck_after_s * 1e9:
                button.stuck = True
                decided.append(Decision(Outcome.STUCK, level, Source.GPIO, now_ns))
        return decided

    def next_deadline_ns(self) -> int | None:
        deadlines = [self._open.deadline_ns] if self._open is not None else []
        for button in self._buttons.values():
            if button.pending_press_ns is not None:
                deadlines.append(button.pending_press_ns + self._ms(self.rules.min_press_ms))
            if button.down and not button.stuck:
                deadlines.append(button.down_since_ns + int(self.rules.stuck_after_s * 1e9))
        return min(deadlines, default=None)

    def held_at_start(self, level: int, now_ns: int) -> None:
        """A button already down when the program starts (shorted, or jammed) gets no vote,
        and is reported stuck once the limit passes."""
        button = self._buttons.setdefault(level, _Button())
        button.down, button.down_since_ns, button.last_accepted_ns = True, now_ns, now_ns

    @property
    def stuck_levels(self) -> list[int]:
        return sorted(level for level, b in self._buttons.items() if b.stuck)

    # -- internals -------------------------------------------------------------------

    def _release(self, button: _Button, event: ButtonEvent) -> Decision:
        button.down = False
        if button.stuck:
            button.stuck = False
            button.last_accepted_ns = event.at_ns
            return self._decide(Outcome.UNSTUCK, event)
        if button.pending_press_ns is not None:
            pressed_ns = button.pending_press_ns
            if event.at_ns - pressed_ns >= self._ms(self.rules.min_press_ms):
                button.pending_press_ns = None  # long enough; the poll just had not run yet
                button.last_accepted_ns = event.at_ns
                return self._vote(event.level, event.source, pressed_ns)
            if self._is_bounce(button, event.at_ns):
                return self._decide(Outcome.BOUNCE, event)  # stays pending: raw state is up
            button.pending_press_ns = None
            button.last_accepted_ns = event.at_ns
            return self._decide(Outcome.GLITCH, event)
        if self._is_bounce(button, event.at_ns):
            return self._decide(Outcome.BOUNCE, event)
        button.last_accepted_ns = event.at_ns
        return self._decide(Outcome.RELEASE, event)

    def _vote(self, level: int, source: Source, at_ns: int) -> Decision:
        if self._open is not None:
            return self._answer(level, source, at_ns)
        if at_ns < self._lockout_until_ns:
            return Decision(Outcome.LOCKED_OUT, level, source, at_ns)
        self._lockout_until_ns = at_ns + int(self.rules.lockout_s * 1e9)
        if not self.window_open(at_ns):
            return Decision(Outcome.OUTSIDE_WINDOW, level, source, at_ns,
                            (Flag.SUSPECTED_MISUSE, Flag.OUTSIDE_WINDOW))
        self._window_until_ns = 0  # one service, one vote
        window_start = at_ns - int(self.rules.misuse_window_s * 1e9)
        while self._recent_votes and self._recent_votes[0] < window_start:
            self._recent_votes.popleft()
        self._recent_votes.append(at_ns)
        flags = (Flag.SUSPECTED_MISUSE,) if len(self._recent_votes) > \
            self.rules.misuse_max_votes else ()
        asks = self.asks_followup(level, source)
        if asks:  # the question replaces the thank-you: the lock-out starts when it closes
            self._lockout_until_ns = 0
            self._open = _Followup(level, source, at_ns,
                                   at_ns + int(self.followup.timeout_s * 1e9))
        return Decision(Outcome.COUNT, level, source, at_ns, flags, asks_followup=asks)

    def asks_followup(self, level: int, source: Source) -> bool:
        """Does a vote of this level from this source open the follow-up?"""
        section = self.followup
        return section is not None and section.enabled and level <= section.at_or_below \
            and source is not Source.CLI

    def _answer(self, button: int, source: Source, at_ns: int) -> Decision:
        """A press while the follow-up is open: an answer, never a vote."""
        if at_ns - self._open.opened_ns < self._ms(self.followup.answer_after_ms):
            return Decision(Outcome.TOO_SOON, button, source, at_ns)
        return self._close(Outcome.ANSWER, button, source, at_ns,
                           reason=self.reasons[button - 1])

    def _close(self, outcome: Outcome, level: int, source: Source, at_ns: int,
               reason: Reason | None = None) -> Decision:
        self._open = None
        self._lockout_until_ns = at_ns + int(self.rules.lockout_s * 1e9)  # the thank-you
        return Decision(outcome, level, source, at_ns, reason=reason)

    def _is_bounce(self, button: _Button, at_ns: int) -> bool:
        last = button.last_accepted_ns
        return last is not None and at_ns - last < self._ms(self.rules.debounce_ms)

    @staticmethod
    def _decide(outcome: Outcome, event: ButtonEvent) -> Decision:
        return Decision(outcome, event.level, event.source, event.at_ns)

    @staticmethod
    def _ms(value: float) -> int:
        return int(value * 1_000_000)
