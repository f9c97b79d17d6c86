"""Every catalog of the project: complete in Vietnamese, and its .mo matches its .po."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import district  # noqa: F401 (each package registers its catalogs when imported)
import kiosk  # noqa: F401
from ballot.i18n import CATALOG_DIRS

CATALOGS = sorted(p for d in CATALOG_DIRS.values() for p in d.glob("*/LC_MESSAGES/*.po"))


def test_there_are_catalogs():
    assert {"ballot", "kiosk", "district"} <= set(CATALOG_DIRS)
    assert {"ballot", "kiosk", "district"} <= {p.stem for p in CATALOGS}


def _key(text):
    """A plural entry's id and strings are sequences (a list when read from a .mo)."""
    return text if isinstance(text, str) else tuple(text)


def _translated(message) -> bool:
    """Has a Vietnamese text (every form of a plural entry)."""
    forms = [message.string] if isinstance(message.string, str) else list(message.string)
    return bool(forms) and all(forms)


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_catalog_is_complete_and_compiled(po_path: Path):
    with po_path.open("rb") as fh:
        po = read_po(fh)
    untranslated = [m.id for m in po if m.id and not _translated(m)]
    assert not untranslated, f"{po_path.name}: no Vietnamese for {untranslated[:5]}"
    fuzzy = [m.id for m in po if m.id and m.fuzzy]
    assert not fuzzy, f"{po_path.name}: fuzzy entries {fuzzy[:5]}"
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"run: python -m ballot.i18n compile ({mo_path.name} missing)"
    with mo_path.open("rb") as fh:
        mo = read_mo(fh)
    compiled = {_key(m.id): _key(m.string) for m in mo if m.id}
    source = {_key(m.id): _key(m.string) for m in po if m.id}
    assert compiled == source, f"{mo_path.name} is stale: run python -m ballot.i18n compile"


# The names the code calls its gettext by: `_`, `t = translation(…).gettext`, `self.tr`,
# `self._`, `own` (provisioning's own domain), `web` (the dashboard CLI's), `N_` (marked only).
GETTEXT_NAMES = {"_": None, "t": None, "tr": None, "gettext": None, "own": None, "web": None,
                 "N_": None, "ngettext": (1, 2)}


@pytest.mark.parametrize("package", sorted(CATALOG_DIRS))
def test_every_message_in_the_code_has_vietnamese(package: str):
    """A message marked in the code or a template but missing from every catalog of its
    package (and from ballot's, which every catalog falls back to) would reach a citizen,
    technician or official in English."""
    from babel.messages.extract import extract_from_dir

    source = CATALOG_DIRS[package].parent
    used: dict = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            source, [("**.py", "python"), ("**/templates/**.html", "jinja2")],
            {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords=GETTEXT_NAMES):
        used.setdefault(_key(message), f"{package}/{filename}:{lineno}")
    translated = set()
    for po_path in {*CATALOG_DIRS[package].glob("vi/LC_MESSAGES/*.po"),
                    CATALOG_DIRS["ballot"] / "vi" / "LC_MESSAGES" / "ballot.po"}:
        with po_path.open("rb") as fh:
            translated |= {_key(m.id) for m in read_po(fh) if m.id and _translated(m)}
    # ballot holds a few dozen words (the vocabulary's names, validation); the others hundreds
    least = 20 if package == "ballot" else 100
    assert len(used) > least, f"the extraction found only {len(used)} messages"
    missing = {m: where for m, where in used.items() if m not in translated}
    assert not missing, f"no Vietnamese for: {missing}"


def test_compile_is_reproducible(tmp_path, monkeypatch):
    """Two compiles of one .po give the same bytes, also when its header names no creation
    date (Babel would stamp the compile's time): SOURCE_DATE_EPOCH decides, else the epoch."""
    from ballot.i18n import compile_catalogs

    folder = tmp_path / "locale"
    po = folder / "vi" / "LC_MESSAGES" / "demo.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "Thank you"\nmsgstr "Cảm ơn"\n', encoding="utf-8")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = compile_catalogs([folder])[0].read_bytes()
    assert compile_catalogs([folder])[0].read_bytes() == first
    assert b"POT-Creation-Date: 1970-01-01" in first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764633600")  # 2025-12-02
    assert b"POT-Creation-Date: 2025-12-02" in compile_catalogs([folder])[0].read_bytes()
