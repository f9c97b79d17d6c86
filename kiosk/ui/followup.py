"""The follow-up question after a low rating: what went wrong (Decree 61 indicators).

The vote is already stored (held) when this shows; the app adds the chosen reason or releases
the vote on "skip" or when the time runs out.
"""

from __future__ import annotations

import math

from kivy.clock import Clock
from kivy.properties import ObjectProperty, StringProperty

from kiosk.ui.stage import KioskScreen
from kiosk.ui.widgets import Card


class ReasonButton(Card):
    code = StringProperty("")
    text = StringProperty("")


class FollowupScreen(KioskScreen):
    name = "followup"
    title = StringProperty("")
    recorded = StringProperty("")
    countdown = StringProperty("")
    countdown_text = ObjectProperty(lambda s: str(s))
    #: called with a reason code, or None for "skip" / time out
    when_answered = ObjectProperty(None, allownone=True)

    def __init__(self, *, reasons: list[tuple[str, str]], skip: str, **kwargs):
        super().__init__(**kwargs)
        self.buttons = []
        for code, text in [*reasons, ("", skip)]:
            button = ReasonButton(code=code, text=text)
            if not code:
                button.fill, button.edge = (0.93, 0.93, 0.95, 1), (0.45, 0.45, 0.5, 1)
            else:
                button.fill, button.edge = (1, 0.95, 0.90, 1), (0.85, 0.45, 0.15, 1)
            button.bind(on_press=self._pressed)
            self.ids.reasons.add_widget(button)
            self.buttons.append(button)
        self._tick = None
        self._left = 0.0

    def enter(self, *, recorded: str, seconds: float) -> None:
        self.recorded = recorded
        self._left = seconds
        self._show_left()
        self._stop()
        self._tick = Clock.schedule_interval(self._step, 1.0)

    def _step(self, dt: float) -> None:
        self._left -= dt
        if self._left <= 0.05:
            self._answer(None)
        else:
            self._show_left()

    def _show_left(self) -> None:
        self.countdown = self.countdown_text(max(1, math.ceil(self._left - 0.05)))

    def _pressed(self, button: ReasonButton) -> None:
        self._answer(button.code or None)

    def _answer(self, code: str | None) -> None:
        self._stop()
        if self.when_answered is not None:
            self.when_answered(code)

    def _stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def leave(self) -> None:
        self._stop()
