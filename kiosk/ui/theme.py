"""Colours of the screens: the standard theme and a high-contrast one (``[ui] theme``).

The level colours run from red (worst) through orange and a light green to a dark blue-green
(best). They are not a red → green ramp on purpose: red and green look alike to the ~8 % of
men with red–green colour blindness. Neighbouring levels differ in lightness and on the
blue–yellow axis, which deuteranopia and protanopia keep; ``tests/ui/test_readable.py``
simulates both (colorspacious, CAM02-UCS) and requires ``MIN_DELTA_E`` between neighbours.
The faces' shapes (frown … smile) tell the levels apart without any colour at all.

Pure data: no Kivy import, so the tests and the docs can read it without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ΔE (CAM02-UCS) that neighbouring levels keep under full deuteranopia and protanopia.
MIN_DELTA_E = 20.0

LEVEL_HEX = {
    3: ("#C62828", "#6CC3A0", "#0B5E8C"),
    4: ("#A31515", "#F08A24", "#6CC3A0", "#0B5E8C"),
    5: ("#9B1B1B", "#E8602C", "#F4D03F", "#3FA37A", "#0B5E8C"),
}

RGBA = tuple[float, float, float, float]


def hex_rgba(value: str) -> RGBA:
    return (int(value[1:3], 16) / 255, int(value[3:5], 16) / 255, int(value[5:7], 16) / 255, 1.0)


def level_colour(level: int, levels: int) -> RGBA:
    return hex_rgba(LEVEL_HEX[levels][level - 1])


@dataclass(frozen=True)
class Theme:
    name: str
    background: RGBA     # the rating screen
    ink: RGBA            # text
    muted: RGBA          # secondary text, countdowns
    card: RGBA           # a neutral button's fill
    header: RGBA         # the unit's band
    header_ink: RGBA
    followup_background: RGBA
    #: how much of white is mixed into a level's colour for its button (0: the colour itself)
    tint: float
    edge_width: float    # a card's border, in app.u


STANDARD = Theme(
    name="standard", background=(0.95, 0.96, 0.97, 1), ink=(0.10, 0.10, 0.12, 1),
    muted=(0.25, 0.25, 0.28, 1), card=(0.93, 0.93, 0.95, 1), header=(0.05, 0.28, 0.63, 1),
    header_ink=(1, 1, 1, 1), followup_background=(0.97, 0.96, 0.94, 1), tint=0.85,
    edge_width=0.7)

#: White on black, thick borders, the level colours unmixed (WCAG AAA contrast for text).
HIGH_CONTRAST = Theme(
    name="high_contrast", background=(0, 0, 0, 1), ink=(1, 1, 1, 1), muted=(1, 1, 0.6, 1),
    card=(0, 0, 0, 1), header=(0, 0, 0, 1), header_ink=(1, 1, 0.6, 1),
    followup_background=(0, 0, 0, 1), tint=0.0, edge_width=1.4)

THEMES = {theme.name: theme for theme in (STANDARD, HIGH_CONTRAST)}


def tint(colour, amount: float = 0.85) -> RGBA:
    """The colour mixed with white (a button's background); in high contrast, black."""
    r, g, b, a = colour
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount, a)


def button_fill(colour, theme: Theme) -> RGBA:
    return tint(colour, theme.tint) if theme.tint else (0, 0, 0, 1)
