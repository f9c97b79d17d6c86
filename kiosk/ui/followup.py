"""The follow-up question after a low rating: what went wrong (Decree 61 indicators).

The vote is already stored (held) when this shows. Each reason is drawn where its physical
button is, in the buttons' order (worst first, as on the rating screen), marked with the
same face, so a citizen with buttons alone presses the button under the reason; touching a
reason is the same press. Which press answers what, and when the question times out, is
decided by the voting rules (``kiosk.rules``); this screen only shows the choices and the
seconds left, and offers touch a "Skip".
"""

from __future__ import annotations

import math

from kivy.clock import Clock
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.ui.faces import mood
from kiosk.ui.stage import KioskScreen
from kiosk.ui.theme import STANDARD, button_fill, level_colour
from kiosk.ui.widgets import Card, same_size


class ReasonButton(Card):
    button = NumericProperty(1)  # the physical button that answers this reason
    code = StringProperty("")
    text = StringProperty("")
    mood = NumericProperty(0.0)
    colour = ListProperty([0.5, 0.5, 0.5, 1])


class SkipButton(Card):
    text = StringProperty("")


class FollowupScreen(KioskScreen):
    name = "followup"
    title = StringProperty("")
    recorded = StringProperty("")
    countdown = StringProperty("")
    skip = StringProperty("")
    countdown_text = ObjectProperty(lambda s: str(s))
    #: ``when_button(k)``: reason k touched (the same as pressing button k); ``when_skip()``
    when_button = ObjectProperty(None, allownone=True)
    when_skip = ObjectProperty(None, allownone=True)

    def __init__(self, *, buttons: int, theme=STANDARD, **kwargs):
        super().__init__(**kwargs)
        self.buttons = []
        for number in range(1, buttons + 1):
            colour = level_colour(number, buttons)
            button = ReasonButton(button=number, mood=mood(number, buttons), colour=colour,
                                  edge=colour, fill=button_fill(colour, theme))
            button.bind(on_press=self._pressed)
            self.ids.reasons.add_widget(button)
            self.buttons.append(button)
        same_size([button.ids.label for button in self.buttons])
        self.ids.skip.bind(on_press=lambda *_: self.when_skip and self.when_skip())
        self._tick = None
        self._left = 0.0

    def enter(self, *, recorded: str, seconds: float, reasons: list[tuple[str, str]]) -> None:
        """``reasons``: (code, text) for button 1, 2, … (as many as there are buttons)."""
        self.recorded = recorded
        for button, (code, text) in zip(self.buttons, reasons, strict=True):
            button.code, button.text = code, text
        self._left = seconds
        self._show_left()
        self._stop()
        self._tick = Clock.schedule_interval(self._step, 1.0)

    def _step(self, dt: float) -> None:
        self._left = max(0.0, self._left - dt)  # display only: the rules close the question
        self._show_left()

    def _show_left(self) -> None:
        self.countdown = self.countdown_text(max(1, math.ceil(self._left - 0.05)))

    def _pressed(self, button: ReasonButton) -> None:
        if self.when_button is not None:
            self.when_button(button.button)

    def _stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def leave(self) -> None:
        self._stop()
