"""The rating screen: the question, the unit, one big button per level (worst first)."""

from __future__ import annotations

from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.ui.faces import mood
from kiosk.ui.stage import KioskScreen
from kiosk.ui.theme import STANDARD, button_fill, level_colour
from kiosk.ui.widgets import Card


class LevelButton(Card):
    level = NumericProperty(1)
    label = StringProperty("")
    mood = NumericProperty(0.0)
    colour = ListProperty([0.5, 0.5, 0.5, 1])


class RatingScreen(KioskScreen):
    name = "rating"
    question = StringProperty("")
    place = StringProperty("")
    counter = StringProperty("")
    notice = StringProperty("")  # what a scan did, or the voting window's state
    #: lines the question takes at its full size (the app measures it for the window)
    question_lines = NumericProperty(2)
    #: called with the level when a button is touched
    when_level = ObjectProperty(None, allownone=True)

    def __init__(self, *, labels: tuple[str, ...], theme=STANDARD, **kwargs):
        super().__init__(**kwargs)
        levels = len(labels)
        self.buttons = []
        for level, label in enumerate(labels, start=1):
            colour = level_colour(level, levels)
            button = LevelButton(level=level, label=label, mood=mood(level, levels),
                                 colour=colour, edge=colour, fill=button_fill(colour, theme))
            button.bind(on_press=self._pressed)
            self.ids.levels.add_level(button, label)
            self.buttons.append(button)

    def _pressed(self, button: LevelButton) -> None:
        if self.when_level is not None:
            self.when_level(button.level)
