"""Drawn faces, no image files; the levels' colours are in :mod:`kiosk.ui.theme`.

A face is a few canvas instructions made once; they move only when the widget is resized,
so a face costs nothing while the screen is idle.
"""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line
from kivy.properties import ListProperty, NumericProperty
from kivy.uix.widget import Widget

from kiosk.ui.theme import level_colour, tint  # noqa: F401 (the screens' old import path)

# How happy each level of a scale looks, worst first (-1 frowning … +1 smiling). The labels of
# a 3-level scale are "not satisfied / satisfied / very satisfied": the middle one smiles.
MOODS = {
    3: (-1.0, 0.45, 1.0),
    4: (-1.0, -0.45, 0.45, 1.0),
    5: (-1.0, -0.5, 0.0, 0.5, 1.0),
}
INK = (0.10, 0.10, 0.12, 1)


def mood(level: int, levels: int) -> float:
    return MOODS[levels][level - 1]


class Face(Widget):
    """A round face: ``mood`` -1 (frown) … +1 (big smile), filled with ``colour``."""

    mood = NumericProperty(0.0)
    colour = ListProperty([0.5, 0.5, 0.5, 1])

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.canvas:
            self._fill = Color(*self.colour)
            self._head = Ellipse()
            Color(*INK)
            self._outline = Line(width=1.5)
            self._left_eye = Ellipse()
            self._right_eye = Ellipse()
            self._mouth = Line(width=2, cap="round")
        self.bind(pos=self._redraw, size=self._redraw, mood=self._redraw,
                  colour=self._redraw)

    def _redraw(self, *_):
        d = min(self.width, self.height)
        if d <= 0:
            return
        cx, cy = self.center
        x0, y0 = cx - d / 2, cy - d / 2
        self._fill.rgba = self.colour
        self._head.pos, self._head.size = (x0, y0), (d, d)
        self._outline.width = max(1.5, d * 0.03)
        self._outline.circle = (cx, cy, d / 2 - self._outline.width / 2)
        eye = d * 0.12
        for ellipse, dx in ((self._left_eye, -0.18), (self._right_eye, 0.18)):
            ellipse.pos = (cx + dx * d - eye / 2, cy + 0.12 * d - eye / 2)
            ellipse.size = (eye, eye * 1.25)
        # The mouth: a quadratic-looking cubic Bézier whose middle sinks for a smile.
        half = d * (0.22 + 0.04 * abs(self.mood))
        base = cy - 0.2 * d
        bend = self.mood * d * 0.2
        self._mouth.width = max(2, d * 0.045)
        self._mouth.bezier = (cx - half, base + bend * 0.5, cx - half / 2, base - bend,
                              cx + half / 2, base - bend, cx + half, base + bend * 0.5)
