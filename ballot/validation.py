"""pydantic's errors in the reader's language: our validators' :class:`~ballot.errors.Invalid`
and pydantic's common error types in our words (their msgids are in ballot's catalog)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ballot.errors import Gettext, Invalid
from ballot.i18n import N_

# pydantic's error types that a technician or an official meets, in our words; the values
# come from the error's ``ctx``. Anything else keeps pydantic's English message.
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


def validation_detail(error: Mapping[str, Any], gettext: Gettext) -> str:
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


def validation_details(errors: Iterable[Mapping[str, Any]], gettext: Gettext | None = None, *,
                       whole: str = "", sep: str = "; ") -> str:
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
