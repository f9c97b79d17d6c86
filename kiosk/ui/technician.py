"""The technician screen: a PIN pad, then the terminal's health and a live button test.

Shown only after the hidden gesture (a long press in the top-left corner). It leaves by itself
after ``IDLE_S`` without a touch or a button press. The numbers come from the app
(``kiosk.status.status_report``); this screen only lays them out.
"""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui.faces import level_colour, tint
from kiosk.ui.stage import KioskScreen
from kiosk.ui.widgets import Card

IDLE_S = 60.0
#: U+2022 BULLET: in the bundled Noto Sans (U+25CF BLACK CIRCLE is not; tests/ui/test_glyphs.py)
PIN_DOT = "\u2022"


class PadKey(Card):
    key = StringProperty("")
    text = StringProperty("")


class TestLight(Card):
    level = NumericProperty(1)
    text = StringProperty("")


class InfoRow(BoxLayout):
    name = StringProperty("")
    value = StringProperty("")


class TechnicianScreen(KioskScreen):
    name = "technician"
    unlocked = BooleanProperty(False)
    title = StringProperty("")
    entered = StringProperty("")
    hint = StringProperty("")
    test_hint = StringProperty("")
    exit_text = StringProperty("")
    rows = ListProperty([])
    #: ``check_pin(pin) -> bool``; ``when_unlocked()``; ``when_exit()`` — given by the app
    check_pin = ObjectProperty(None, allownone=True)
    when_unlocked = ObjectProperty(None, allownone=True)
    when_exit = ObjectProperty(None, allownone=True)

    def __init__(self, *, labels: tuple[str, ...], words: dict[str, str], **kwargs):
        self.words = words
        super().__init__(exit_text=words["exit"], **kwargs)
        for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"):
            text = words.get(key, key)
            button = PadKey(key=key, text=text, fill=(1, 1, 1, 1), edge=(0.4, 0.45, 0.55, 1))
            button.bind(on_press=self._key)
            self.ids.pad.add_widget(button)
        self.lights = []
        for level, label in enumerate(labels, start=1):
            colour = level_colour(level, len(labels))
            light = TestLight(level=level, text=f"{level}. {label}", edge=colour,
                              fill=tint(colour))
            light.bind(on_press=lambda *_: self.touched())
            self.ids.lights.add_widget(light)
            self.lights.append(light)
        self._idle = None
        self._pin = ""

    # -- shown / hidden -----------------------------------------------------------------

    def enter(self, **kwargs) -> None:
        self.unlocked = False
        self._pin = ""
        self.entered = ""
        self.hint = self.words["enter_pin"]
        for light in self.lights:
            light.lit = False
        self.touched()

    def leave(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def touched(self) -> None:
        """Any activity keeps the screen open for another IDLE_S."""
        if self._idle is not None:
            self._idle.cancel()
        self._idle = Clock.schedule_once(lambda dt: self._exit(), IDLE_S)

    def on_touch_down(self, touch):
        self.touched()
        return super().on_touch_down(touch)

    # -- PIN pad ------------------------------------------------------------------------

    def _key(self, button: PadKey) -> None:
        if button.key == "clear":
            self._pin = ""
        elif button.key == "ok":
            if self.check_pin is not None and self.check_pin(self._pin):
                self.unlocked = True
                if self.when_unlocked is not None:
                    self.when_unlocked()
            else:
                self.hint = self.words["wrong_pin"]
            self._pin = ""
        elif len(self._pin) < 12:
            self._pin += button.key
        self.entered = PIN_DOT * len(self._pin)

    def _exit(self) -> None:
        if self.when_exit is not None:
            self.when_exit()

    # -- the unlocked view -----------------------------------------------------------------

    def show_status(self, rows: list[tuple[str, str]]) -> None:
        box = self.ids.info
        shown = list(reversed(box.children))  # Kivy keeps children last-added first
        if [row.name for row in shown] == [name for name, _ in rows]:
            for row, (_, value) in zip(shown, rows, strict=True):
                row.value = value  # the live refresh: only changed text is redrawn
            return
        box.clear_widgets()
        for name, value in rows:
            box.add_widget(InfoRow(name=name, value=value))

    def show_press(self, level: int, down: bool) -> None:
        self.touched()
        if 1 <= level <= len(self.lights):
            self.lights[level - 1].lit = down
