"""The stage: shows exactly one screen at a time, swapped in one frame (no transition).

Kivy's ScreenManager animates even its ``NoTransition``; a vote's thank-you must be on the
next frame, so screens are plain widgets swapped here. The stage also watches the hidden
technician gesture: a long press in the top-left corner.
"""

from __future__ import annotations

from kivy.clock import Clock
from kivy.uix.floatlayout import FloatLayout

#: The technician's gesture: a press this long …
LONG_PRESS_S = 3.0
#: … within this fraction of the shorter side from the top-left corner.
CORNER = 0.14


class KioskScreen(FloatLayout):
    """A screen: shows what the app tells it; holds no business logic."""

    name = ""

    def enter(self, **kwargs) -> None:
        """Called when the screen is shown (kwargs: what to show)."""

    def leave(self) -> None:
        """Called when another screen replaces it: stop its timers."""


class Stage(FloatLayout):
    def __init__(self, on_long_press=None, **kwargs):
        super().__init__(**kwargs)
        self.screens: dict[str, KioskScreen] = {}
        self.current: KioskScreen | None = None
        self._on_long_press = on_long_press
        self._long_press = None

    def add_screen(self, screen: KioskScreen) -> None:
        self.screens[screen.name] = screen

    @property
    def current_name(self) -> str:
        return self.current.name if self.current else ""

    def show(self, name: str, **kwargs) -> KioskScreen:
        screen = self.screens[name]
        if self.current is not screen:
            if self.current is not None:
                self.current.leave()
                self.remove_widget(self.current)
            self.add_widget(screen)
            self.current = screen
        screen.enter(**kwargs)
        return screen

    # -- the hidden gesture ---------------------------------------------------------------

    def in_corner(self, x: float, y: float) -> bool:
        reach = min(self.width, self.height) * CORNER
        return x <= self.x + reach and y >= self.top - reach

    def on_touch_down(self, touch):
        if self._on_long_press and self.in_corner(*touch.pos):
            self._cancel_long_press()
            self._long_press = Clock.schedule_once(lambda dt: self._on_long_press(),
                                                   LONG_PRESS_S)
            touch.ud["kiosk_corner"] = True
            return True
        return super().on_touch_down(touch)

    def on_touch_move(self, touch):
        if touch.ud.get("kiosk_corner") and not self.in_corner(*touch.pos):
            self._cancel_long_press()
        return super().on_touch_move(touch)

    def on_touch_up(self, touch):
        if touch.ud.get("kiosk_corner"):
            self._cancel_long_press()
            return True
        return super().on_touch_up(touch)

    def _cancel_long_press(self) -> None:
        if self._long_press is not None:
            self._long_press.cancel()
            self._long_press = None
