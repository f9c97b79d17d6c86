"""Messages said in the reader's language only when shown, and the errors that carry them.

An error is raised with an English msgid and its parameters (``raise Invalid(N_("GPIO {pin}
does not exist"), pin=pin)``): ``str()`` is the English text (the API's answers and the
journal), ``translated(gettext)`` the same in the language of whoever reads it (the CLI, the
doctor, the dashboard). Both packages' errors derive from :class:`TranslatableError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Gettext = Callable[[str], str]


class Message:
    """An English msgid and its parameters; a parameter may itself be a ``Message``."""

    def __init__(self, msgid: str, **params: Any):
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        return self.msgid.format(**self.params)

    def translated(self, gettext: Gettext) -> str:
        params = {k: v.translated(gettext) if isinstance(v, Message) else v
                  for k, v in self.params.items()}
        return gettext(self.msgid).format(**params)


class TranslatableError(Exception):
    """An error whose text is a msgid and parameters (see the module's docstring)."""

    def __init__(self, msgid: str, **params: Any):
        self.msgid = msgid
        self.params = params
        super().__init__(msgid.format(**params))

    def translated_param(self, value: Any, gettext: Gettext) -> Any:
        """A parameter in the reader's language (a ``Message`` is; other values are kept)."""
        return value.translated(gettext) if isinstance(value, Message) else value

    def translated(self, gettext: Gettext) -> str:
        params = {k: self.translated_param(v, gettext) for k, v in self.params.items()}
        return gettext(self.msgid).format(**params)


class Invalid(TranslatableError, ValueError):
    """A validator's refusal that can be shown in any language.

    ``str()`` is exactly what a plain ``ValueError`` would say, so pydantic's ``msg`` and the
    API's answers do not change; ``ballot.validation.validation_detail`` translates it from
    the pydantic error's ``ctx``. ``message`` is the :class:`Message` (kept for callers that
    nest it in another message).
    """

    def __init__(self, msgid: str, **params: Any):
        self.message = Message(msgid, **params)
        super().__init__(msgid, **params)
