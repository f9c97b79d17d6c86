"""Texts in files that people open with a spreadsheet (Excel, LibreOffice): one rule, for
every CSV and workbook either half writes.

A text that starts with ``= + - @``, a tab or a carriage return is a formula to a
spreadsheet: a unit, counter or officer named so would compute instead of showing. Such a
text is written with a leading apostrophe, which the spreadsheet shows as "this is text".

``inert``/``restore`` are the reversible pair of the USB collection file (``kiosk export``
writes, ``district import`` reads): there a text that already starts with an apostrophe
before such a character gets one more, so that exactly one is taken away on import and every
value comes back as the terminal had it. ``text_cell`` is the one-way form for files only
people read (reports, checklists).
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value):
    """A cell no spreadsheet evaluates (values that are not text pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _escaped(text: str) -> bool:
    return text.startswith("'") and text[1:2] != "" and text[1:2] in (*FORMULA_START, "'")


def inert(value):
    """``text_cell``, reversible by ``restore``: an escaped-looking text is escaped again."""
    if isinstance(value, str) and (value.startswith(FORMULA_START) or _escaped(value)):
        return "'" + value
    return value


def restore(text: str) -> str:
    """A text cell written by ``inert``, as it was."""
    return text[1:] if _escaped(text) else text
