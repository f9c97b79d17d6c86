"""Kept at its old path: argparse's words in the user's language are
``ballot.argparse_words`` (shared by the `kiosk` and `district` commands)."""

from __future__ import annotations

from ballot.argparse_words import localise

__all__ = ["localise"]
