"""The kiosk's gettext names, kept at their old path: the plumbing moved to ``ballot``.

``ballot.i18n`` (catalogs by domain, languages, ``N_``), ``ballot.errors`` (``Message``,
``Invalid``) and ``ballot.validation`` (pydantic's errors in our words) are the definitions;
this module re-exports them for code that still imports ``kiosk.i18n``. The kiosk's catalogs
(``kiosk/locale``) are registered by ``kiosk/__init__.py``.

``python -m kiosk.i18n compile`` still works: it is ``python -m ballot.i18n compile``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ballot.errors import Invalid, Message
from ballot.i18n import (
    CATALOG_DIRS,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    N_,
    catalog_dir,
    choose_language,
    compile_catalogs,
    translation,
)
from ballot.i18n import main as _main
from ballot.validation import (
    CHOICES,
    EMPTY,
    PYDANTIC_MESSAGES,
    validation_detail,
    validation_details,
)

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["CATALOG_DIRS", "CHOICES", "DEFAULT_LANGUAGE", "EMPTY", "LANGUAGES", "N_",
           "PYDANTIC_MESSAGES", "ROOT", "Invalid", "Message", "catalog_dir", "choose_language",
           "compile_catalogs", "translation", "validation_detail", "validation_details"]

if __name__ == "__main__":
    _main(sys.argv[1:])
