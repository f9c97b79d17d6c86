"""Errors a technician or an official sees: an English message template (the gettext msgid,
translated by the CLI) and its parameters (``ballot.errors.TranslatableError``)."""

from __future__ import annotations

from ballot.errors import TranslatableError
from ballot.i18n import N_  # noqa: F401 (the district's modules import it from here)


class DistrictError(TranslatableError):
    def __init__(self, message: str, **params):
        super().__init__(message, **params)
        self.message = message

    def translated_param(self, value, gettext):
        # str parameters may themselves be marked messages (e.g. "terminal id")
        if isinstance(value, str) and value:
            return gettext(value)
        return super().translated_param(value, gettext)
