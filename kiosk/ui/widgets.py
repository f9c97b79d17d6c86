"""Widgets shared by the screens: a label that shrinks its text to fit, a big touch card.

Sizes are fractions of the window (``app.u`` is 1 % of its shorter side), so one layout fits
the 7" 800×480 panel and a 1920×1080 screen alike.
"""

from __future__ import annotations

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.properties import BooleanProperty, ListProperty, NumericProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.ui.typescale import FACE_MIN_MM, LINE, plan_levels


class FitLabel(Label):
    """A wrapping label whose font shrinks (never grows past ``max_font``) until the text
    fits its box. Recomputed only when the text or the size changes, never while idle."""

    max_font = NumericProperty(20)
    min_font = NumericProperty(8)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Once per frame, after the layout has settled (a screen's widgets change size
        # several times while it is built): fitting renders the text, the costly part.
        self._refit = Clock.create_trigger(self._fit, -1)
        self.bind(size=self._refit, text=self._refit, max_font=self._refit)

    def _fit(self, *_):
        if self.width <= 1 or self.height <= 1:
            return
        self.text_size = (self.width, None)
        # Whole pixels: Kivy opens (and keeps, ~0.2 MiB each) a font for every size it
        # renders, and a float size is a new one each time.
        top = int(self.max_font)
        if not self._fits(top) and top > self.min_font:
            # The largest size that fits, by halving (a few renders, not one per 5 % step).
            fits, too_big = int(self.min_font), top
            while too_big - fits > 1:
                middle = (fits + too_big) // 2
                if self._fits(middle):
                    fits = middle
                else:
                    too_big = middle
            self._fits(fits)
        self.text_size = (self.width, self.height)

    def _fits(self, size: float) -> bool:
        self.font_size = size
        self.texture_update()
        return self.texture_size[1] <= self.height and self.texture_size[0] <= self.width \
            and self._words_fit(size)

    def _words_fit(self, size: float) -> bool:
        """Kivy breaks a word longer than the line inside it ("Unsatisf/ied"): shrink
        instead, so lines break at spaces only."""
        room = self.width - 2 * self.padding_x
        probe = CoreLabel(font_size=size, bold=self.bold, font_name=self.font_name)
        return all(probe.get_extents(word)[0] <= room for word in set(self.text.split()))


class Card(ButtonBehavior, BoxLayout):
    """A large rounded touch target. ``fill`` is its background, ``edge`` its border."""

    fill = ListProperty([1, 1, 1, 1])
    edge = ListProperty([0.6, 0.6, 0.6, 1])
    lit = BooleanProperty(False)  # the technician's button test shows a press here


class LevelPlate(FitLabel):
    """A level's label on its own plate in the level's colours; touching it presses the
    level (``LevelRow`` forwards the touch to the level's card)."""

    fill = ListProperty([1, 1, 1, 1])
    edge = ListProperty([0.6, 0.6, 0.6, 1])
    #: where its face is: a small arrow on the plate's edge points at the face's centre
    #: (x; y of the plate's edge; the arrow's height, negative to point down; 0: none)
    pointer = ListProperty([0, 0, 0])


class LevelRow(Widget):
    """The rating screen's levels: one face card per level in a row (landscape) or a column
    (portrait), each with its label on a plate. Landscape places the plates by
    :func:`kiosk.ui.typescale.plan_levels` (one band under the faces, or the zigzag over and
    under them), so the labels keep the type scale's millimetres where the panel allows."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cards: list = []
        self.plates: list[LevelPlate] = []
        self.plan = None  # the last landscape plan (tests and docs read its sizes)
        self._same_size = False
        self._relayout = Clock.create_trigger(self._layout, -1)
        self.bind(pos=self._relayout, size=self._relayout)

    def add_level(self, card, text: str) -> None:
        plate = LevelPlate(text=text, fill=card.fill, edge=card.edge, bold=True)
        self.cards.append(card)
        self.plates.append(plate)
        self.add_widget(card)
        self.add_widget(plate)
        self._relayout()

    def on_touch_down(self, touch):
        for card, plate in zip(self.cards, self.plates, strict=True):
            if plate.collide_point(*touch.pos):
                card.dispatch("on_press")
                return True
        return super().on_touch_down(touch)

    def _layout(self, *_):
        if not self.cards or self.width <= 1 or self.height <= 1:
            return
        app = App.get_running_app()
        if app.landscape:
            self._landscape(app)
        else:
            self._portrait(app)
        if not self._same_size:
            self._same_size = True
            same_size(self.plates)

    def _landscape(self, app) -> None:

        u, scale = app.u, app.type
        gap, pad, vpad = u * 1.5, u, u * 0.5
        face_min = FACE_MIN_MM / scale.mm_per_px + 2 * u * 0.8  # the card's padding
        widths: dict = {}

        def measure(text: str, size: float) -> float:
            key = (text, round(size, 2))
            if key not in widths:
                widths[key] = CoreLabel(font_size=size, bold=True).get_extents(text)[0]
            return widths[key]

        labels = [plate.text for plate in self.plates]
        plan = self.plan = plan_levels(
            labels, self.width, self.height, font=scale.label, min_font=scale.small // 2,
            face_min=face_min, gap=gap, pad=pad, vpad=vpad, measure=measure)
        under, over = plan.band_lines
        under_h = under * plan.font * LINE + 2 * vpad + 2  # 2 px: rounding of the texture
        over_h = over * plan.font * LINE + 2 * vpad + 2 if plan.zigzag else 0
        face_y = self.y + under_h + gap
        face_h = self.height - under_h - gap - (over_h + gap if plan.zigzag else 0)
        column = (self.width - (len(labels) - 1) * gap) / len(labels)
        levels = zip(self.cards, self.plates, plan.labels, strict=True)
        for i, (card, plate, place) in enumerate(levels):
            card.pos = (self.x + i * (column + gap), face_y)
            card.size = (column, face_h)
            plate.pos = (self.x + place.x, self.y if place.band == 0 else self.top - over_h)
            plate.size = (place.width + 2, under_h if place.band == 0 else over_h)
            plate.halign = "center"
            plate.padding = (pad - 1, vpad)
            plate.max_font = plan.font
            edge = plate.top if place.band == 0 else plate.y
            tip = gap * 0.9 if place.band == 0 else -gap * 0.9
            plate.pointer = [card.center_x, edge, tip] if plan.zigzag else [0, 0, 0]

    def _portrait(self, app) -> None:
        """Stacked rows: the face, its label beside it, shrunk to the row if need be."""
        u, n = app.u, len(self.cards)
        gap = u * 1.5
        row = (self.height - (n - 1) * gap) / n
        for i, (card, plate) in enumerate(zip(self.cards, self.plates, strict=True)):
            y = self.top - (i + 1) * row - i * gap
            card.pos, card.size = (self.x, y), (row, row)
            plate.pos = (self.x + row + gap, y)
            plate.size = (self.width - row - gap, row)
            plate.halign = "left"
            plate.padding = (u * 1.5, u * 0.5)
            plate.max_font = app.type.label


def same_size(labels: list[FitLabel]) -> None:
    """A row of labels (the levels, the reasons) drawn at one size: the smallest any of them
    needed to fit, so no level looks more important than another."""
    def level(*_):
        smallest = min(label.font_size for label in labels)
        for label in labels:
            if label.font_size != smallest:
                label.font_size = smallest
                label.texture_update()  # drawn in this frame, not at the next resize

    trigger = Clock.create_trigger(level)
    for label in labels:
        label.bind(font_size=lambda *_: trigger())
