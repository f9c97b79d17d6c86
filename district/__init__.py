"""Hài Lòng district server: ingest API, dashboard, fleet (see docs/server.md)."""

from pathlib import Path as _Path

from ballot.i18n import register_catalogs as _register_catalogs

# The district's gettext domains (district, district_web, district_provision) live here.
_register_catalogs(__name__, _Path(__file__).resolve().parent / "locale")
