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
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

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


def N_(message: str) -> str:
    """Marks a message for the catalog without translating it here."""
    return message


class Message:
    """An English msgid and its parameters, said in a language only when shown.

    ``str()`` is the English text; a parameter may itself be a ``Message``.
    """

    def __init__(self, msgid: str, **params: Any):
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        return self.msgid.format(**self.params)

    def translated(self, gettext: Callable[[str], str]) -> str:
        params = {k: v.translated(gettext) if isinstance(v, Message) else v
                  for k, v in self.params.items()}
        return gettext(self.msgid).format(**params)


class Invalid(ValueError):
    """A validator's refusal that can be shown in any language.

    ``raise Invalid(N_("GPIO {pin} does not exist"), pin=pin)``: ``str()`` is the English
    text, exactly what a plain ``ValueError`` would say (so pydantic's ``msg`` and the API's
    answers do not change); :func:`validation_detail` translates it from ``error["ctx"]``.
    """

    def __init__(self, msgid: str, **params: Any):
        self.message = Message(msgid, **params)
        super().__init__(str(self.message))

    def translated(self, gettext: Callable[[str], str]) -> str:
        return self.message.translated(gettext)


# pydantic's error types that a technician or an official meets, in our words; the values
# come from the error's ``ctx``. Anything else keeps pydantic's English message.
# The district catalog holds these msgids too (tests/district/test_validation_i18n.py).
PYDANTIC_MESSAGES = {
    "missing": N_("is required but missing"),
    "extra_forbidden": N_("unknown key: remove it or correct the spelling"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "float_type": N_("must be a number"),
    "finite_number": N_("must be a finite number"),
    "bool_parsing": N_("must be true or false"),
    "bool_type": N_("must be true or false"),
    "string_type": N_("must be text"),
    "path_type": N_("must be a file path"),
    "list_type": N_("must be a list, e.g. [1, 2]"),
    "dict_type": N_("must be a table ([section] in TOML)"),
    "model_type": N_("must be a table ([section] in TOML)"),
    "model_attributes_type": N_("must be a table ([section] in TOML)"),
    "datetime_type": N_("must be a date and time such as 2025-03-04T05:06:07Z"),
    "datetime_parsing": N_("must be a date and time such as 2025-03-04T05:06:07Z"),
    "datetime_from_date_parsing": N_("must be a date and time such as 2025-03-04T05:06:07Z"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be at most {le}"),
    "multiple_of": N_("must be a multiple of {multiple_of}"),
    "literal_error": N_("must be {expected}"),
    "string_pattern_mismatch": N_("does not have the expected form (pattern {pattern})"),
    "string_too_short": N_("must be at least {min_length} characters long"),
    "string_too_long": N_("must be at most {max_length} characters long"),
    "too_short": N_("must have at least {min_length} items"),
    "too_long": N_("must have at most {max_length} items"),
}
EMPTY = N_("must not be empty")
CHOICES = N_("{items} or {last}")


def validation_detail(error: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) in ``gettext``'s language:
    our own validators' :class:`Invalid`, pydantic's common types in our words, else
    pydantic's own (English) message."""
    kind = error.get("type")
    ctx = dict(error.get("ctx") or {})
    cause = ctx.get("error")
    if isinstance(cause, Invalid):
        return cause.translated(gettext)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return gettext(EMPTY)
    if kind == "literal_error" and isinstance(ctx.get("expected"), str):
        # pydantic joins the choices in English: "'vi' or 'en'", "3, 4 or 5"
        *items, last = re.split(r", | or ", ctx["expected"])
        if items:
            ctx["expected"] = gettext(CHOICES).format(items=", ".join(items), last=last)
    msgid = PYDANTIC_MESSAGES.get(kind)
    if msgid is not None:
        try:
            return gettext(msgid).format(**ctx)
        except (KeyError, IndexError, ValueError):  # a ctx this pydantic does not give
            pass
    return str(error.get("msg", "")).removeprefix("Value error, ")


def validation_details(errors: Iterable[Mapping[str, Any]],
                       gettext: Callable[[str], str] | None = None, *, whole: str = "",
                       sep: str = "; ") -> str:
    """``where: detail; …`` for several errors (``where`` is the dotted location, or ``whole``
    for the file itself). Without ``gettext``, pydantic's exact messages (the API's words)."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()))
        if not where and whole:
            where = gettext(whole) if gettext else whole
        detail = validation_detail(error, gettext) if gettext else str(error.get("msg", ""))
        parts.append(f"{where}: {detail}" if where else detail)
    return sep.join(parts)


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
