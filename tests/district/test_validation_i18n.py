"""pydantic's common error types in our words live in ``ballot.validation`` and are said once,
in ballot's catalog, which the kiosk's and the district's catalogs fall back to."""

from __future__ import annotations

from babel.messages.pofile import read_po

import district  # noqa: F401 (registers the district's catalogs)
import kiosk  # noqa: F401 (registers the kiosk's catalogs)
from ballot.i18n import CATALOG_DIRS, translation
from ballot.validation import CHOICES, EMPTY, PYDANTIC_MESSAGES


def _catalog(package: str, domain: str) -> dict[str, str]:
    with (CATALOG_DIRS[package] / "vi" / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def test_pydantics_errors_are_said_once_and_the_same_by_the_kiosk_and_the_district():
    own = _catalog("ballot", "ballot")
    elsewhere = {**_catalog("kiosk", "kiosk"), **_catalog("district", "district")}
    for msgid in {*PYDANTIC_MESSAGES.values(), EMPTY, CHOICES}:
        assert own.get(msgid), f"ballot.po: no Vietnamese for {msgid!r}"
        assert msgid not in elsewhere, f"{msgid!r} is written twice (also outside ballot.po)"
        said = {translation(domain, "vi").gettext(msgid) for domain in ("kiosk", "district")}
        assert said == {own[msgid]}, f"{msgid!r} is said {said}"
