"""Every catalog of the project: complete in Vietnamese, and its .mo matches its .po."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from kiosk.i18n import CATALOG_DIRS

CATALOGS = sorted(p for d in CATALOG_DIRS.values() for p in d.glob("*/LC_MESSAGES/*.po"))


def test_there_are_catalogs():
    assert any(p.stem == "kiosk" for p in CATALOGS)


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_catalog_is_complete_and_compiled(po_path: Path):
    with po_path.open("rb") as fh:
        po = read_po(fh)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert not untranslated, f"{po_path.name}: no Vietnamese for {untranslated[:5]}"
    fuzzy = [m.id for m in po if m.id and m.fuzzy]
    assert not fuzzy, f"{po_path.name}: fuzzy entries {fuzzy[:5]}"
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"run: python -m kiosk.i18n compile ({mo_path.name} missing)"
    with mo_path.open("rb") as fh:
        mo = read_mo(fh)
    compiled = {m.id: m.string for m in mo if m.id}
    source = {m.id: m.string for m in po if m.id}
    assert compiled == source, f"{mo_path.name} is stale: run python -m kiosk.i18n compile"
