"""Hài Lòng kiosk: the rating terminal at a one-stop counter (see docs/kiosk.md)."""

__version__ = "0.1.0"
