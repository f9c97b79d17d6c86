"""pydantic's common error types in our words live in kiosk/i18n.py (checked against the kiosk
catalog by tests/test_i18n.py); the district shows them too, from its own catalog."""

from __future__ import annotations

from babel.messages.pofile import read_po

from kiosk.i18n import CATALOG_DIRS, CHOICES, EMPTY, PYDANTIC_MESSAGES


def _catalog(package: str, domain: str) -> dict[str, str]:
    with (CATALOG_DIRS[package] / "vi" / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def test_the_district_catalog_says_pydantics_errors_as_the_kiosk_does():
    district, kiosk = _catalog("district", "district"), _catalog("kiosk", "kiosk")
    for msgid in {*PYDANTIC_MESSAGES.values(), EMPTY, CHOICES}:
        assert district.get(msgid), f"district.po: no Vietnamese for {msgid!r}"
        assert district[msgid] == kiosk[msgid], f"{msgid!r} is said two ways"
