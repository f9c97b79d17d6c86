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

import itertools
import math
from dataclasses import dataclass

MM_PER_INCH = 25.4
#: Noto Sans: the capital letters' height as a share of the font size (capHeight 1462/2048).
CAP_HEIGHT = 1462 / 2048
QUESTION_CAP_MM = 8.0
LABEL_MM = 10.0
SMALL_MM = 6.0
LARGE_TEXT = 1.3


#: The sizes the levels' labels shrink through, 3 % apart. Kivy opens (and keeps) one font per
#: size it measures or renders, about 0.2 MiB each: a shared ladder opens few.
LADDER = tuple(sorted({round(6 * 1.03 ** k) for k in range(150)}))


def sizes_between(low: float, high: float) -> list[int]:
    """The ladder's sizes from ``low`` up to (not including) ``high``, ascending."""
    return [size for size in LADDER if low <= size < high]


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

    # Whole pixels: Kivy opens one font per size it renders (kivy.core.text's font id).
    question = max(px(QUESTION_CAP_MM / CAP_HEIGHT), math.ceil(u * 7.5 * grow))
    label = max(px(LABEL_MM), math.ceil(u * 6.5 * grow))
    small = max(px(SMALL_MM), math.ceil(u * 4.5 * grow))
    title = max(math.ceil(question * 1.2), math.ceil(u * 10 * grow))
    return TypeScale(pitch, question, label, title, small)


# -- where the levels' labels go ---------------------------------------------------------------
#
# The faces stay in one row (they mirror the physical buttons under the screen). Their labels
# go in one band under the faces when every label fits its own column at the label size;
# else in two bands, levels 1, 3, 5 under the faces and 2, 4 over them ("zigzag"), where a
# label may spread over its neighbours' columns (their labels are in the other band) as long
# as it still covers its own face's centre. Labels shrink below the label size only when the
# faces would otherwise be smaller than ``FACE_MIN_MM``. Lines break at spaces only.

#: Noto Sans' line box (ascender 1069 + descender 293 per 1000 units of the font size)
LINE = (1069 + 293) / 1000
#: the smallest face still told apart by its shape from 1.5 m
FACE_MIN_MM = 10.0


@dataclass(frozen=True)
class Placement:
    band: int  # 0: under the faces, 1: over them (zigzag only)
    x: float  # the plate's left edge, from the row's left
    width: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class LevelPlan:
    font: float
    zigzag: bool
    band_lines: tuple[int, int]  # lines of band 0 (under) and band 1 (over)
    labels: tuple[Placement, ...]
    face: float  # the faces' row height left over (pixels)


def wraps(text: str, lines: int, measure) -> tuple[float, tuple[str, ...]]:
    """The narrowest way to set ``text`` on at most ``lines`` lines, breaking at spaces."""
    words = text.split()
    best: tuple[float, tuple[str, ...]] | None = None

    def split(start: int, left: int, done: tuple[str, ...]):
        nonlocal best
        if start == len(words):
            width = max(measure(line) for line in done)
            if best is None or width < best[0]:
                best = (width, done)
            return
        if left == 0:
            return
        for end in range(start + 1, len(words) + 1):
            split(end, left - 1, (*done, " ".join(words[start:end])))

    split(0, max(1, lines), ())
    assert best is not None
    return best


def _place_band(centres, widths, row_width, gap):
    """Left edges for labels of these widths near their centres, apart by ``gap``; None when
    they do not fit or one would no longer cover its own centre."""
    xs = [min(max(0.0, c - w / 2), row_width - w) for c, w in zip(centres, widths, strict=True)]
    for i in range(1, len(xs)):  # push right past the previous one
        xs[i] = max(xs[i], xs[i - 1] + widths[i - 1] + gap)
    if xs:
        xs[-1] = min(xs[-1], row_width - widths[-1])
    for i in range(len(xs) - 2, -1, -1):  # then back left, inside the row
        xs[i] = min(xs[i], xs[i + 1] - gap - widths[i])
    if xs and (xs[0] < -0.5 or xs[-1] + widths[-1] > row_width + 0.5):
        return None
    if any(not (x - 0.5 <= c <= x + w + 0.5) for x, c, w in zip(xs, centres, widths, strict=True)):
        return None
    return xs


def plan_levels(labels, row_width: float, row_height: float, *, font: float,
                min_font: float, face_min: float, gap: float, pad: float, vpad: float,
                measure) -> LevelPlan:
    """Landscape: the largest label font (≤ ``font``) whose layout leaves the faces at least
    ``face_min`` pixels; one band if the labels fit their columns, else the zigzag.
    ``measure(text, font)`` is the drawn width of a line; ``pad``/``vpad`` the plate's inner
    margins, ``gap`` the space between columns and between bands and faces."""
    n = len(labels)
    column = (row_width - (n - 1) * gap) / n
    centres = [i * (column + gap) + column / 2 for i in range(n)]
    size = font
    while True:
        plan = _plan_at(labels, size, column, centres, row_width, row_height, gap, pad,
                        vpad, measure, face_min)
        if plan is not None and (plan.face >= face_min or size <= min_font):
            return plan
        if size <= min_font:  # nothing fits even at the smallest size: one band, shrunk
            return _one_band(labels, size, column, centres, row_height, gap, pad, vpad,
                             measure, force=True)
        smaller = sizes_between(min_font, size)
        size = smaller[-1] if smaller else min_font  # the ladder's next size, as FitLabel


def _plan_at(labels, size, column, centres, row_width, row_height, gap, pad, vpad, measure,
             face_min):
    """At this size: one band if it fits and leaves the faces room, else the zigzag
    arrangement with the fewest lines (the tallest faces); None when neither fits."""
    one = _one_band(labels, size, column, centres, row_height, gap, pad, vpad, measure)
    line = size * LINE
    best = None
    for under, over in sorted(itertools.product((1, 2, 3), repeat=2), key=sum):
        placed = []
        for band, lines in ((0, under), (1, over)):
            members = [i for i in range(len(labels)) if i % 2 == band]
            sets = [wraps(labels[i], lines, lambda t: measure(t, size)) for i in members]
            widths = [w + 2 * pad for w, _ in sets]
            xs = _place_band([centres[i] for i in members], widths, row_width, gap)
            if xs is None:
                break
            placed += [(i, Placement(band, x, w, s[1]))
                       for i, x, w, s in zip(members, xs, widths, sets, strict=True)]
        else:
            face = row_height - (under + over) * line - 4 * vpad - 2 * gap
            best = LevelPlan(size, True, (under, over), tuple(p for _, p in sorted(placed)),
                             face)
            break
    if one is not None and (best is None or one.face >= min(best.face, face_min)):
        return one  # one band reads simplest: taken whenever its faces are big enough
    return best


def _one_band(labels, size, column, centres, row_height, gap, pad, vpad, measure, *,
              force=False):
    room = column - 2 * pad
    sets = []
    for text in labels:
        for lines in range(1, len(text.split()) + 1):
            width, set_ = wraps(text, lines, lambda t: measure(t, size))
            if width <= room:
                break
        if width > room and not force:
            return None
        sets.append(set_)
    lines = max(len(s) for s in sets)
    face = row_height - lines * size * LINE - 2 * vpad - gap
    placed = tuple(Placement(0, c - column / 2, column, s)
                   for c, s in zip(centres, sets, strict=True))
    return LevelPlan(size, False, (lines, 0), placed, face)
