"""Gettext plumbing of every package of Hài Lòng: catalogs by domain, languages, ``N_``.

Source strings in the code are English; every user-facing string goes through ``_()`` and
has a Vietnamese entry in ``<package>/locale/vi/LC_MESSAGES/<domain>.po``. Vietnamese is the
default language, English the second one.

A domain belongs to the package its name starts with (``kiosk_ui`` → ``kiosk``), and each
package registers its own folder (``register_catalogs(__name__, Path(__file__).parent /
"locale")`` in its ``__init__``): this module knows no other package's paths. Every catalog
falls back to ballot's own (``ballot.po``: the words of the vote's vocabulary and of
validation errors), so those are written once for every package.

``python -m ballot.i18n compile`` turns every ``.po`` of the source tree into its ``.mo``
(both are committed, so a wheel and a terminal need no build step); ``tests/test_i18n.py``
fails when a ``.mo`` is stale or a message is untranslated.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
OWN_DOMAIN = "ballot"
# Each part keeps its own domain (kiosk, kiosk_ui, district_web…) so parts never edit one
# catalog; a domain's folder is the one its package registered.
CATALOG_DIRS: dict[str, Path] = {}


def register_catalogs(package: str, folder: Path) -> None:
    """``package``'s catalogs (domains ``package`` and ``package_*``) are in ``folder``."""
    CATALOG_DIRS[package.split(".", 1)[0]] = Path(folder)
    translation.cache_clear()


def catalog_dir(domain: str) -> Path:
    package = domain.split("_", 1)[0]
    try:
        return CATALOG_DIRS[package]
    except KeyError:
        raise LookupError(f"no catalogs registered for domain {domain!r}: the package "
                          f"{package!r} calls register_catalogs when it is imported") from None


def choose_language(*candidates: str | None) -> str:
    """The first of ``candidates`` (a ``--lang``, an environment variable, a cookie…) that
    is a language we speak, else Vietnamese."""
    for language in candidates:
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


@cache
def translation(domain: str, language: str = DEFAULT_LANGUAGE) -> gettext.NullTranslations:
    """The catalog of ``domain`` in ``language``, then ballot's own; English (the source
    strings) as the last fallback."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    catalog = gettext.translation(domain, catalog_dir(domain), languages=[language],
                                  fallback=True)
    if domain != OWN_DOMAIN:
        catalog.add_fallback(translation(OWN_DOMAIN, language))
    return catalog


register_catalogs(__name__, Path(__file__).resolve().parent / "locale")


def N_(message: str) -> str:
    """Marks a message for the catalog without translating it here."""
    return message


def source_catalog_dirs(root: Path) -> list[Path]:
    """The ``locale`` folders of the packages of a source tree (folders beside setup.py)."""
    return sorted(d / "locale" for d in root.iterdir()
                  if (d / "__init__.py").exists() and (d / "locale").is_dir())


def _build_date() -> dt.datetime:
    """The date a .mo is stamped with when its .po names none: Babel would write the time of
    the compile, and two builds of one commit would differ. ``SOURCE_DATE_EPOCH`` (the
    reproducible-builds convention packaging/build-debs.sh follows), else the epoch."""
    try:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        epoch = 0
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def compile_catalogs(folders: Iterable[Path] | None = None) -> list[Path]:
    """Compile every .po file of ``folders`` (default: those of the source tree this module
    is in) into its .mo (needs Babel, a dev dependency)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    if folders is None:
        folders = source_catalog_dirs(Path(__file__).resolve().parent.parent)
    written = []
    for folder in folders:
        for po_path in sorted(folder.glob("*/LC_MESSAGES/*.po")):
            source = po_path.read_bytes()
            catalog = read_po(io.BytesIO(source))
            if b'"POT-Creation-Date:' not in source:
                catalog.creation_date = _build_date()
            mo_path = po_path.with_suffix(".mo")
            with mo_path.open("wb") as fh:
                write_mo(fh, catalog)
            written.append(mo_path)
    return written


def main(argv: list[str]) -> None:
    if argv != ["compile"]:
        sys.exit("usage: python -m ballot.i18n compile")
    root = Path(__file__).resolve().parent.parent
    if not (root / "setup.py").exists():
        sys.exit("python -m ballot.i18n compile runs in the source tree (beside setup.py)")
    for path in compile_catalogs():
        print(path.relative_to(root))


if __name__ == "__main__":
    main(sys.argv[1:])
