"""Gettext plumbing shared by the kiosk and the district server.

Source strings in the code are English; every user-facing string goes through
``_()`` and has a Vietnamese entry in ``<package>/locale/vi/LC_MESSAGES/<domain>.po``.
Vietnamese is the default language, English the second one.

``python -m kiosk.i18n compile`` turns every ``.po`` of the project into its ``.mo``
(both are committed, so a wheel and a terminal need no build step);
``tests/test_i18n.py`` fails when a ``.mo`` is stale or a message is untranslated.
"""

from __future__ import annotations

import gettext
import sys
from functools import cache
from pathlib import Path

DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
ROOT = Path(__file__).resolve().parent.parent
# Each part keeps its own domain (kiosk, kiosk_ui, kiosk_sync, district, district_web…) so
# parts never edit one catalog; a domain's folder is that of the package it starts with.
CATALOG_DIRS = {
    "kiosk": ROOT / "kiosk" / "locale",
    "district": ROOT / "district" / "locale",
}


def catalog_dir(domain: str) -> Path:
    return CATALOG_DIRS[domain.split("_", 1)[0]]


@cache
def translation(domain: str, language: str = DEFAULT_LANGUAGE) -> gettext.NullTranslations:
    """The catalog of ``domain`` in ``language``; English (the source strings) as fallback."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(domain, catalog_dir(domain), languages=[language], fallback=True)


def compile_catalogs() -> list[Path]:
    """Compile every .po file of the project into its .mo (needs Babel, a dev dependency)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for folder in CATALOG_DIRS.values():
        for po_path in sorted(folder.glob("*/LC_MESSAGES/*.po")):
            with po_path.open("rb") as fh:
                catalog = read_po(fh)
            mo_path = po_path.with_suffix(".mo")
            with mo_path.open("wb") as fh:
                write_mo(fh, catalog)
            written.append(mo_path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["compile"]:
        sys.exit("usage: python -m kiosk.i18n compile")
    for path in compile_catalogs():
        print(path.relative_to(ROOT))
