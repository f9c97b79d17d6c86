"""The type scale, from the physical screen: sizes in millimetres turned into pixels.

``[ui] diagonal_in`` names the panel's diagonal (7 for the official Raspberry Pi display);
with the window's pixels it gives the pixel pitch. A citizen reads the screen from about
1.5 m, so the question's capital letters are at least ``QUESTION_CAP_MM`` tall and the
levels' labels at least ``LABEL_MM`` (their font size: the height a line of letters takes);
``[ui] large_text`` multiplies both by ``LARGE_TEXT``. Where the window is larger than these
minimums need, the sizes grow with it (a share of the shorter side, as before), and a label
shrinks only when its longest word would not fit its box otherwise (``FitLabel``).

Pure arithmetic: no Kivy import (tests and ``bench`` use it without a window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MM_PER_INCH = 25.4
#: Noto Sans: the capital letters' height as a share of the font size (capHeight 1462/2048).
CAP_HEIGHT = 1462 / 2048
QUESTION_CAP_MM = 8.0
LABEL_MM = 10.0
SMALL_MM = 6.0
LARGE_TEXT = 1.3


@dataclass(frozen=True)
class TypeScale:
    mm_per_px: float
    question: float  # font sizes in pixels
    label: float
    title: float
    small: float

    def cap_mm(self, font_px: float) -> float:
        """How tall a capital letter of this font size is on the panel."""
        return font_px * CAP_HEIGHT * self.mm_per_px


def mm_per_px(width: int, height: int, diagonal_in: float) -> float:
    return diagonal_in * MM_PER_INCH / math.hypot(width, height)


def type_scale(width: int, height: int, diagonal_in: float, *,
               large_text: bool = False) -> TypeScale:
    pitch = mm_per_px(width, height, diagonal_in)
    grow = LARGE_TEXT if large_text else 1.0
    u = min(width, height) / 100

    def px(mm: float) -> float:
        return math.ceil(mm * grow / pitch)  # whole pixels, never below the millimetres

    question = max(px(QUESTION_CAP_MM / CAP_HEIGHT), u * 7.5 * grow)
    label = max(px(LABEL_MM), u * 6.5 * grow)
    small = max(px(SMALL_MM), u * 4.5 * grow)
    title = max(question * 1.2, u * 10 * grow)
    return TypeScale(pitch, question, label, title, small)
