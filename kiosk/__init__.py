"""Hài Lòng kiosk: the rating terminal at a one-stop counter (see docs/kiosk.md)."""

from pathlib import Path as _Path

from ballot.i18n import register_catalogs as _register_catalogs

__version__ = "0.1.0"

# The kiosk's gettext domains (kiosk, kiosk_ui, kiosk_sync, kiosk_doctor) live here.
_register_catalogs(__name__, _Path(__file__).resolve().parent / "locale")
