"""The docs keep up with the code (in the manner of sqlite-utils' docs tests): every verb and
option of ``kiosk`` and ``district`` is named in README.md or its part's doc page, and every
``kiosk doctor`` check in the technician's guide, Vietnamese and English.

The lists come from the code: the argparse parsers the two CLIs build (walked, sub-verbs
included) and kiosk/doctor.py's registry of checks, so a new verb, option or check fails
here until someone writes down what it does."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from functools import cache

import pytest

from tests.helpers import REPO

# Where each part's commands are described, besides the README (a page not written yet is
# simply not read).
PART_PAGES = {
    "kiosk": ["docs/kiosk.md", "docs/technician.md", "docs/technician.en.md",
              "docs/sync-agent.md", "docs/ui.md"],
    "district": ["docs/server.md", "docs/district-server.md", "docs/district-server.en.md",
                 "docs/dashboard.md", "docs/sync.md"],
}
TECHNICIAN_GUIDES = ["docs/technician.md", "docs/technician.en.md"]


def build_parser(part: str) -> argparse.ArgumentParser:
    """The parser the part's CLI builds, with its help texts untranslated."""
    if part == "kiosk":
        from kiosk.cli import build_parser as build
    else:
        from district.cli import build_parser as build
    return build(lambda text: text)


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """(verb path, its long options) for the parser and every sub-verb below it."""
    options = [o for action in parser._actions for o in action.option_strings
               if o.startswith("--") and o != "--help"]
    yield path, options
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


@cache
def docs_of(part: str) -> str:
    pages = ["README.md", *PART_PAGES[part]]
    return "\n".join((REPO / p).read_text(encoding="utf-8") for p in pages
                     if (REPO / p).exists())


def named(text: str, words: str) -> bool:
    """``words`` stands in ``text`` on its own (``--db`` is not found in ``--db-pool``)."""
    return re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-])", text) is not None


def cli_cases() -> list[tuple[str, str, str]]:
    cases = []
    for part in PART_PAGES:
        for path, options in walk(build_parser(part)):
            if path:
                cases.append((part, "verb", " ".join(path)))
            cases.extend((part, "option", option) for option in options)
    return sorted(set(cases))


@pytest.mark.parametrize("part, kind, words", cli_cases())
def test_every_cli_verb_and_option_is_documented(part, kind, words):
    pages = ", ".join(["README.md", *PART_PAGES[part]])
    assert named(docs_of(part), words), (
        f"`{part}` {kind} {words!r} is not described in {pages}: add it to the command list "
        f"of README.md or to the part's doc page")


def test_the_walk_finds_the_known_verbs():
    """The walk really reaches sub-verbs and options (else every case above is vacuous)."""
    found = {part: {" ".join(p) for p, _o in walk(build_parser(part))} for part in PART_PAGES}
    assert {"doctor", "config check", "sync"} <= found["kiosk"]
    assert {"serve", "terminals rotate", "units load", "officials token"} <= found["district"]
    district_options = {o for _p, opts in walk(build_parser("district")) for o in opts}
    assert {"--db", "--workers", "--unit"} <= district_options


def doctor_checks() -> tuple[str, ...]:
    from kiosk.doctor import CHECKS

    return CHECKS


@pytest.mark.parametrize("guide", TECHNICIAN_GUIDES)
@pytest.mark.parametrize("check", doctor_checks())
def test_every_doctor_check_is_in_the_technician_guide(guide, check):
    text = (REPO / guide).read_text(encoding="utf-8")
    assert f"`{check}`" in text, (
        f"`kiosk doctor`'s check {check!r} is not explained in {guide} (its table of checks: "
        f"what the line means and what to do)")
