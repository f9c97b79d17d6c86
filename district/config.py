"""Where the district server's settings come from: flags, then environment, then defaults."""

from __future__ import annotations

import os

from district.db import DEFAULT_DB_URL

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LANG = "vi"


def resolve_db_url(flag: str | None = None) -> str:
    """``--db URL``, else ``$DISTRICT_DB``, else ``sqlite:///district.db`` (working folder)."""
    return flag or os.environ.get("DISTRICT_DB") or DEFAULT_DB_URL


def resolve_lang(flag: str | None = None) -> str:
    """``--lang``, else ``$DISTRICT_LANG``, else Vietnamese."""
    return flag or os.environ.get("DISTRICT_LANG") or DEFAULT_LANG
