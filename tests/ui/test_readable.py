"""Readable by anyone, from 1.5 m: the type scale in millimetres on the panel, text inside
its box and never broken inside a word (every supported resolution, 3, 4 and 5 levels,
Vietnamese and English), level colours apart under colour blindness, and the high-contrast
and large-text modes."""

from __future__ import annotations

import itertools
import shutil

import pytest
from colorspacious import cspace_convert, deltaE

from kiosk.ui.theme import (
    HIGH_CONTRAST,
    LEVEL_HEX,
    MIN_DELTA_E,
    STANDARD,
    button_fill,
    hex_rgba,
)
from kiosk.ui.typescale import CAP_HEIGHT, LABEL_MM, QUESTION_CAP_MM, type_scale
from tests.helpers import REPO
from tests.ui.conftest import ARTIFACTS, ui_config
from tests.ui.test_screens import check_screen, overlaps

#: the supported windows and the panel each stands for (diagonal, inches)
PANELS = {(800, 480): 7.0, (1024, 600): 7.0, (1280, 800): 10.1, (1920, 1080): 15.6,
          (480, 800): 7.0}


# -- colours: pure arithmetic, no window -----------------------------------------------------

def simulated(colour_hex: str, vision: str):
    rgb = hex_rgba(colour_hex)[:3]
    if vision == "normal":
        return rgb
    space = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}
    return cspace_convert(rgb, space, "sRGB1").clip(0, 1)


@pytest.mark.parametrize("levels", [3, 4, 5])
@pytest.mark.parametrize("vision", ["normal", "deuteranomaly", "protanomaly"])
def test_neighbouring_levels_stay_apart_under_colour_blindness(levels, vision):
    """Full deuteranopia and protanopia (severity 100, Machado et al. in colorspacious);
    ΔE in CAM02-UCS between each level and the next."""
    colours = [simulated(c, vision) for c in LEVEL_HEX[levels]]
    distances = [float(deltaE(a, b, input_space="sRGB1"))
                 for a, b in itertools.pairwise(colours)]
    assert min(distances) >= MIN_DELTA_E, (vision, [round(d, 1) for d in distances])


def test_the_old_red_to_green_ramp_would_have_failed():
    """The two greens of the issue ("Hài lòng", "Rất hài lòng"), as they were drawn."""
    import colorsys

    def old(mood: float):
        hue = (mood + 1) / 2 * (125 / 360)
        return colorsys.hls_to_rgb(hue, 0.47 if mood < 0.7 else 0.38, 0.75)

    space = {"name": "sRGB1+CVD", "cvd_type": "deuteranomaly", "severity": 100}
    a, b = (cspace_convert(old(m), space, "sRGB1").clip(0, 1) for m in (0.45, 1.0))
    assert float(deltaE(a, b, input_space="sRGB1")) < MIN_DELTA_E


def contrast(fg, bg) -> float:
    def luminance(colour):
        def channel(c):
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (channel(c) for c in colour[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_contrast_of_both_themes():
    assert contrast(STANDARD.ink, STANDARD.background) >= 7  # WCAG AAA
    assert contrast(HIGH_CONTRAST.ink, HIGH_CONTRAST.background) >= 20
    for theme in (STANDARD, HIGH_CONTRAST):  # a label on its level's button (rating, reasons)
        for levels, colours in LEVEL_HEX.items():
            for colour in colours:
                fill = button_fill(hex_rgba(colour), theme)
                assert contrast(theme.ink, fill) >= 7, (theme.name, levels, colour)


@pytest.mark.parametrize("size", list(PANELS), ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_type_scale_reaches_its_millimetres(size):
    scale = type_scale(*size, PANELS[size])
    assert scale.cap_mm(scale.question) >= QUESTION_CAP_MM
    assert scale.label * scale.mm_per_px >= LABEL_MM
    large = type_scale(*size, PANELS[size], large_text=True)
    assert large.question > scale.question and large.label > scale.label


# -- on screen: a real window under Xvfb -----------------------------------------------------

def words_whole(label: dict) -> bool:
    """Each drawn line holds whole words of the text: no word was broken across lines."""
    words = label["text"].split()
    drawn = [w for line in label["lines"] for w in line.split()]
    return drawn == words


def check_readable(step: dict, size, diagonal: float, *, question: bool) -> None:
    check_screen(step, size, [])  # inside the window, buttons apart, text not clipped
    mm_per_px = type_scale(*size, diagonal).mm_per_px
    labels, buttons = step["geometry"]["labels"], step["geometry"]["buttons"]
    for label in labels:
        assert words_whole(label), f"a word broken: {label['lines']} ({label['text']!r})"
        assert label["rect"][3] > 0 and label["rect"][2] > 0, f"{label['text']!r} squeezed"
    for a, b in itertools.combinations(labels, 2):
        assert not overlaps(a["rect"], b["rect"]), f"{a['text']!r} overlaps {b['text']!r}"
    for label in labels:  # a label in a button stays inside it
        x, y, w, h = label["rect"]
        for button in buttons:
            bx, by, bw, bh = button["rect"]
            if bx <= x + w / 2 <= bx + bw and by <= y + h / 2 <= by + bh:
                assert bx - 0.5 <= x and x + w <= bx + bw + 0.5 and by - 0.5 <= y and \
                    y + h <= by + bh + 0.5, f"{label['text']!r} outside its button"
    if question:
        [asked] = [lab for lab in step["geometry"]["labels"] if lab["text"].endswith("?")]
        cap_mm = asked["font_size"] * CAP_HEIGHT * mm_per_px
        assert cap_mm >= QUESTION_CAP_MM, f"the question's capitals are {cap_mm:.1f} mm"


#: Where the panel cannot give the levels' labels 10 mm (docs/ui.md, "Readable from 1.5 m",
#: says why with the numbers): the size they reach at least, in mm. Everywhere else: 10 mm.
LABEL_FLOOR_MM = {
    ((800, 480), 4, "en"): 7.8, ((800, 480), 5, "vi"): 7.0, ((800, 480), 5, "en"): 7.2,
    ((1024, 600), 4, "en"): 7.7, ((1024, 600), 5, "vi"): 6.7, ((1024, 600), 5, "en"): 7.3,
    ((480, 800), 3, "vi"): 8.2, ((480, 800), 3, "en"): 8.8, ((480, 800), 4, "vi"): 8.6,
    ((480, 800), 4, "en"): 6.0, ((480, 800), 5, "vi"): 7.0, ((480, 800), 5, "en"): 8.4,
}


def label_sizes(step: dict, size) -> tuple[float, float]:
    """The question's capitals and the smallest level label, in mm on the panel."""
    mm_per_px = type_scale(*size, PANELS[size]).mm_per_px
    labels = step["geometry"]["labels"]
    [asked] = [lab for lab in labels if lab["text"].endswith("?")]
    below = [lab["font_size"] for lab in labels if lab["rect"][1] < asked["rect"][1]]
    return asked["font_size"] * CAP_HEIGHT * mm_per_px, min(below) * mm_per_px


def record_sizes(step: dict, size, shots) -> None:
    """What was reached, in millimetres, beside the screenshots (for docs/ui.md)."""
    import json
    question, label = label_sizes(step, size)
    (shots / "sizes.json").write_text(json.dumps({
        "question_cap_mm": round(question, 1), "label_mm": round(label, 1)}))


CASES = [(size, levels, lang) for size in PANELS for levels in (3, 4, 5)
         for lang in ("vi", "en")]


@pytest.mark.ui
@pytest.mark.slow
@pytest.mark.parametrize("size, levels, lang", CASES,
                         ids=[f"{s[0]}x{s[1]}-{n}-{lang}" for s, n, lang in CASES])
def test_every_size_scale_and_language_fits_without_broken_words(run_scenario, tmp_path, size,
                                                                  levels, lang):
    shots = ARTIFACTS / "readable" / f"{size[0]}x{size[1]}-{levels}-{lang}"
    shutil.rmtree(shots, ignore_errors=True)
    config = ui_config(tmp_path, terminal={"language": lang}, scale={"levels": levels},
                       ui={"diagonal_in": PANELS[size]})
    report = run_scenario("readable", {"config": config, "size": list(size),
                                       "shots": str(shots)})
    steps = report["steps_by_name"]
    record_sizes(steps["rating"], size, shots)
    _, label_mm = label_sizes(steps["rating"], size)
    floor = LABEL_FLOOR_MM.get((size, levels, lang), LABEL_MM)
    assert label_mm >= floor - 0.05, f"the labels are {label_mm:.1f} mm (at least {floor})"
    check_readable(steps["rating"], size, PANELS[size], question=True)
    check_readable(steps["followup"], size, PANELS[size], question=False)
    check_readable(steps["thanks"], size, PANELS[size], question=False)
    reasons = [b for b in steps["followup"]["geometry"]["buttons"]
               if b["text"] not in ("Bỏ qua", "Skip")]
    assert len(reasons) == levels  # one reason per button


@pytest.mark.ui
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["high_contrast", "large_text"])
def test_high_contrast_and_large_text(run_scenario, tmp_path, mode):
    size = (800, 480)
    ui = {"theme": "high_contrast"} if mode == "high_contrast" else {"large_text": True}
    shots = ARTIFACTS / "readable" / mode
    config = ui_config(tmp_path, ui={"diagonal_in": 7.0, **ui})
    report = run_scenario("readable", {"config": config, "size": list(size),
                                       "shots": str(shots)})
    steps = report["steps_by_name"]
    for name in ("rating", "followup", "thanks"):
        check_readable(steps[name], size, 7.0, question=name == "rating")
    if mode == "large_text":
        normal = type_scale(*size, 7.0)
        [asked] = [lab for lab in steps["rating"]["geometry"]["labels"]
                   if lab["text"].endswith("?")]
        assert asked["font_size"] > normal.question  # larger than the standard scale
    assert (REPO / "docs" / "screenshots").is_dir()
