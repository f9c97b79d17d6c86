"""The thank-you screen: which level was recorded, and a countdown of the lock-out.

It returns to the rating screen by itself; the one-second countdown tick runs only while it
is shown.
"""

from __future__ import annotations

import math

from kivy.clock import Clock
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.ui.stage import KioskScreen


class ThanksScreen(KioskScreen):
    name = "thanks"
    title = StringProperty("")
    recorded = StringProperty("")
    countdown = StringProperty("")
    mood = NumericProperty(1.0)
    colour = ListProperty([0.2, 0.6, 0.2, 1])
    #: ``countdown_text(seconds) -> str``, given by the app (translated)
    countdown_text = ObjectProperty(lambda s: str(s))
    #: called when the time is up
    when_done = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._tick = None
        self._left = 0.0

    def enter(self, *, recorded: str, mood: float, colour, seconds: float) -> None:
        self.recorded, self.mood, self.colour = recorded, mood, colour
        self._left = seconds
        self._show_left()
        self._stop()
        self._tick = Clock.schedule_interval(self._step, min(1.0, max(seconds, 0.05)))

    def _step(self, dt: float) -> None:
        self._left -= dt
        if self._left <= 0.05:
            self._stop()
            if self.when_done is not None:
                self.when_done()
            return
        self._show_left()

    def _show_left(self) -> None:
        self.countdown = self.countdown_text(max(1, math.ceil(self._left - 0.05)))

    def _stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def leave(self) -> None:
        self._stop()
