"""Someone approaching: a PIR motion sensor on a GPIO pin (``[voice] presence_pin``), read by
gpiozero's :class:`~gpiozero.MotionSensor` on the buttons' pin factory (the mock one in
tests). Its only use is to say the question before the first press, for a citizen who
cannot read the screen; it never records anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
#: After the question was said, an approach does not say it again for this long (a PIR sees
#: the same citizen move many times while they stand at the counter).
QUIET_S = 30.0


class Presence:
    def __init__(self, pin: int, factory, when_approached: Callable[[], None]):
        from gpiozero import MotionSensor

        self.when_approached = when_approached
        self.sensor = MotionSensor(pin, pin_factory=factory)
        self.sensor.when_motion = self._motion  # called on gpiozero's own thread

    def _motion(self, *_) -> None:
        try:
            self.when_approached()
        except Exception:  # a sensor never stops the terminal
            log.exception("presence: approach not handled")

    def close(self) -> None:
        self.sensor.close()


class QuestionTimer:
    """When to say the question: on an approach, or with the confirmation of the first vote
    after the terminal stood idle, but not twice for one citizen (``QUIET_S``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, quiet_s: float = QUIET_S):
        self.clock, self.quiet_s = clock, quiet_s
        self._said_at: float | None = None
        self._last_vote: float | None = None

    def _quiet(self, since: float | None) -> bool:
        return since is None or self.clock() - since >= self.quiet_s

    def approached(self) -> bool:
        """True: say the question now (nobody was served or asked in the last ``quiet_s``)."""
        if self._quiet(self._said_at) and self._quiet(self._last_vote):
            self._said_at = self.clock()
            return True
        return False

    def voted(self) -> bool:
        """A vote was recorded. True: it is the first press after the terminal stood idle
        and nobody heard the question yet, so it is said with the confirmation."""
        first = self._quiet(self._last_vote) and self._quiet(self._said_at)
        self._last_vote = self.clock()
        if first:
            self._said_at = self._last_vote
        return first
