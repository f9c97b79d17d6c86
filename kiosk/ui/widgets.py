"""Widgets shared by the screens: a label that shrinks its text to fit, a big touch card.

Sizes are fractions of the window (``app.u`` is 1 % of its shorter side), so one layout fits
the 7" 800×480 panel and a 1920×1080 screen alike.
"""

from __future__ import annotations

from kivy.core.text import Label as CoreLabel
from kivy.properties import BooleanProperty, ListProperty, NumericProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label


class FitLabel(Label):
    """A wrapping label whose font shrinks (never grows past ``max_font``) until the text
    fits its box. Recomputed only when the text or the size changes, never while idle."""

    max_font = NumericProperty(20)
    min_font = NumericProperty(8)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind(size=self._fit, text=self._fit, max_font=self._fit)

    def _fit(self, *_):
        if self.width <= 1 or self.height <= 1:
            return
        self.text_size = (self.width, None)
        size = self.max_font
        while True:
            self.font_size = size
            self.texture_update()
            if (self.texture_size[1] <= self.height and self.texture_size[0] <= self.width
                    and self._words_fit(size)) or size <= self.min_font:
                break
            size = max(self.min_font, size * 0.95)  # fine steps: stay near the type scale
        self.text_size = (self.width, self.height)

    def _words_fit(self, size: float) -> bool:
        """Kivy breaks a word longer than the line inside it ("Unsatisf/ied"): shrink
        instead, so lines break at spaces only."""
        room = self.width - 2 * self.padding_x
        for word in set(self.text.split()):
            probe = CoreLabel(text=word, font_size=size, bold=self.bold,
                              font_name=self.font_name)
            probe.refresh()
            if probe.content_width > room:
                return False
        return True


class Card(ButtonBehavior, BoxLayout):
    """A large rounded touch target. ``fill`` is its background, ``edge`` its border."""

    fill = ListProperty([1, 1, 1, 1])
    edge = ListProperty([0.6, 0.6, 0.6, 1])
    lit = BooleanProperty(False)  # the technician's button test shows a press here


def same_size(labels: list[FitLabel]) -> None:
    """A row of labels (the levels, the reasons) drawn at one size: the smallest any of them
    needed to fit, so no level looks more important than another."""
    from kivy.clock import Clock

    def level(*_):
        smallest = min(label.font_size for label in labels)
        for label in labels:
            if label.font_size != smallest:
                label.font_size = smallest
                label.texture_update()  # drawn in this frame, not at the next resize

    trigger = Clock.create_trigger(level)
    for label in labels:
        label.bind(font_size=lambda *_: trigger())
