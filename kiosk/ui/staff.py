"""The staff screen: sign an officer in or out at this counter without a scanner, and the
officer's "service finished" (docs/attribution.md).

Reached like the technician screen (the long press in the top-left corner), with the staff
PIN (``[attribution] staff_pin``) on the same pad. It lists the unit's active officers as
the sync agent last fetched them (``GET /api/v1/officers``); touching one signs them in
(whoever was on duty is signed out). It leaves by itself after ``IDLE_S`` without a touch.
The app does the work (through the capture path); this screen only lays it out.
"""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from kiosk.ui.stage import KioskScreen
from kiosk.ui.widgets import Card

IDLE_S = 60.0


class OfficerChoice(Card):
    code = StringProperty("")
    text = StringProperty("")


class StaffButton(Card):
    text = StringProperty("")


class StaffScreen(KioskScreen):
    name = "staff"
    title = StringProperty("")
    serving = StringProperty("")  # who is on duty now, in words
    hint = StringProperty("")
    sign_out_text = StringProperty("")
    finished_text = StringProperty("")
    exit_text = StringProperty("")
    #: the "service finished" button (only with the voting window on)
    with_finished = BooleanProperty(False)
    #: ``when_sign_in(code)``, ``when_sign_out()``, ``when_finished()``, ``when_exit()``
    when_sign_in = ObjectProperty(None, allownone=True)
    when_sign_out = ObjectProperty(None, allownone=True)
    when_finished = ObjectProperty(None, allownone=True)
    when_exit = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._idle = None

    def enter(self, officers=None, serving=None, **kwargs) -> None:
        if serving is not None:
            self.serving = serving
        if officers is not None:
            self.show_officers(officers)
        self.touched()

    def leave(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def show_officers(self, officers: list[tuple[str, str]]) -> None:
        """(code, full name) of each active officer of the unit."""
        grid = self.ids.officers
        grid.clear_widgets()
        for code, name in officers:
            choice = OfficerChoice(code=code, text=f"{name}\n{code}", fill=(1, 1, 1, 1),
                                   edge=(0.25, 0.45, 0.7, 1))
            choice.bind(on_press=lambda button: self._call(self.when_sign_in, button.code))
            grid.add_widget(choice)

    def touched(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = Clock.schedule_once(lambda dt: self._call(self.when_exit), IDLE_S)

    def on_touch_down(self, touch):
        self.touched()
        return super().on_touch_down(touch)

    def _call(self, action, *args) -> None:
        if action is not None:
            action(*args)
