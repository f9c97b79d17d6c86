"""Drawn faces, no image files; the levels' colours are in :mod:`kiosk.ui.theme`.

A face is a few canvas instructions made once; they move only when the widget is resized,
so a face costs nothing while the screen is idle.
"""

from __future__ import annotations

from kivy.graphics import Color, Ellipse
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
#: discs drawing the mouth: close enough to look like one stroke at any face size
MOUTH_DOTS = 72


def mood(level: int, levels: int) -> float:
    return MOODS[levels][level - 1]


class Face(Widget):
    """A round face: ``mood`` -1 (frown) … +1 (big smile), filled with ``colour``."""

    mood = NumericProperty(0.0)
    colour = ListProperty([0.5, 0.5, 0.5, 1])

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.canvas:
            # No wide Line: Kivy's Line with width > 1 costs about 0.8 MiB each (bench/ui.py
            # start, memory); the outline is an ink disc under the face's own, the mouth a
            # row of small discs along its curve.
            Color(*INK)
            self._outline = Ellipse()
            self._fill = Color(*self.colour)
            self._head = Ellipse()
            Color(*INK)
            self._left_eye = Ellipse()
            self._right_eye = Ellipse()
            self._mouth = [Ellipse(segments=16) for _ in range(MOUTH_DOTS)]
        self.bind(pos=self._redraw, size=self._redraw, mood=self._redraw,
                  colour=self._redraw)

    def _redraw(self, *_):
        d = min(self.width, self.height)
        if d <= 0:
            return
        cx, cy = self.center
        x0, y0 = cx - d / 2, cy - d / 2
        self._fill.rgba = self.colour
        self._outline.pos, self._outline.size = (x0, y0), (d, d)
        ring = max(1.5, d * 0.03)
        self._head.pos, self._head.size = (x0 + ring, y0 + ring), (d - 2 * ring, d - 2 * ring)
        eye = d * 0.12
        for ellipse, dx in ((self._left_eye, -0.18), (self._right_eye, 0.18)):
            ellipse.pos = (cx + dx * d - eye / 2, cy + 0.12 * d - eye / 2)
            ellipse.size = (eye, eye * 1.25)
        # The mouth: a quadratic-looking cubic Bézier whose middle sinks for a smile.
        half = d * (0.22 + 0.04 * abs(self.mood))
        base = cy - 0.2 * d
        bend = self.mood * d * 0.2
        width = max(2, d * 0.045)
        points = ((cx - half, base + bend * 0.5), (cx - half / 2, base - bend),
                  (cx + half / 2, base - bend), (cx + half, base + bend * 0.5))
        for i, dot in enumerate(self._mouth):
            x, y = bezier(points, i / (MOUTH_DOTS - 1))
            dot.pos, dot.size = (x - width / 2, y - width / 2), (width, width)


def bezier(points, t: float) -> tuple[float, float]:
    """A point of the cubic Bézier curve through ``points`` (four control points)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
    return a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3
