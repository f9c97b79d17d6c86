"""argparse's own words ("usage:", "options:", "the following arguments are required: …")
in the user's language, for the `kiosk` and `district` commands.

argparse looks up its module-level ``_`` and ``ngettext`` each time it builds a parser or
formats a message, so pointing them at our catalog (domain ``ballot_argparse``, the msgids
of Python 3.11's argparse) translates them. Call ``localise`` before building a parser.
"""

from __future__ import annotations

import argparse

from ballot.i18n import translation


def localise(language: str) -> None:
    catalog = translation("ballot_argparse", language)
    argparse._ = catalog.gettext
    argparse.ngettext = catalog.ngettext
