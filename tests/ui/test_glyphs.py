"""Every character the UI can draw exists in the bundled font (regular and bold): the
catalog's Vietnamese and English texts, the scales' labels and questions, the follow-up's
reasons, and every literal string of the screens' code and kv files (symbols such as the
PIN's dot). A missing glyph is drawn as an empty box (U+25CF was, before)."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont

from kiosk.config import DEFAULT_QUESTION, SCALE_LABELS
from kiosk.ui.technician import PIN_DOT
from tests.helpers import REPO

UI = REPO / "kiosk" / "ui"
FONTS = sorted((UI / "fonts").glob("*.ttf"))
CATALOG = REPO / "kiosk" / "locale" / "vi" / "LC_MESSAGES" / "kiosk_ui.po"


def catalog_texts() -> list[str]:
    with CATALOG.open("rb") as fh:
        return [text for m in read_po(fh) if m.id for text in (m.id, m.string) if text]


def code_literals() -> list[str]:
    """String literals of the screens' code (not docstrings, not comments) and kv files."""
    found = []
    for path in UI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found += [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                  and isinstance(node.value, str) and id(node) not in docstrings]
    for path in UI.glob("*.kv"):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        found += re.findall(r'"([^"\n]*)"', code)
    return found


def drawn_texts() -> list[str]:
    labels = [label for scale in SCALE_LABELS.values() for lang in scale.values()
              for label in lang]
    return [*catalog_texts(), *labels, *DEFAULT_QUESTION.values(), *code_literals(), PIN_DOT]


@pytest.mark.parametrize("font", FONTS, ids=lambda p: p.name)
def test_every_character_the_ui_draws_is_in_the_font(font: Path):
    cmap = TTFont(font).getBestCmap()
    missing = {ch for text in drawn_texts() for ch in text
               if not ch.isspace() and ord(ch) not in cmap}
    assert not missing, [f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in sorted(missing)]


def test_the_check_would_catch_the_old_pin_dot():
    cmap = TTFont(FONTS[0]).getBestCmap()
    assert 0x25CF not in cmap  # BLACK CIRCLE: the empty boxes of the PIN pad
    assert ord(PIN_DOT) in cmap
