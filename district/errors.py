"""Errors a technician or an official sees: an English message template (the gettext msgid,
translated by the CLI) and its parameters."""

from __future__ import annotations

from kiosk.i18n import N_  # noqa: F401 (the district's modules import it from here)


class DistrictError(Exception):
    def __init__(self, message: str, **params):
        super().__init__(message.format(**params))
        self.message = message
        self.params = params

    def translated(self, gettext) -> str:
        # str parameters may themselves be marked messages (e.g. "terminal id")
        params = {k: gettext(v) if isinstance(v, str) and v else v for k, v in self.params.items()}
        return gettext(self.message).format(**params)
