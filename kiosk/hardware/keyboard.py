"""Keys as a source of presses: for development (``kiosk run --windowed``) and technicians.

The UI asks :class:`KeyMap` which level a key stands for and hands the press to the capture
path like any other source (``Source.KEYBOARD``).
"""

from __future__ import annotations

from kiosk.config import KioskConfig


class KeyMap:
    def __init__(self, config: KioskConfig):
        levels = config.scale.levels
        self._levels = {key.lower(): level
                        for level, key in enumerate(config.keyboard.keys[:levels], start=1)}

    def level_for(self, key: str) -> int | None:
        """The level a key stands for, or None (every other key does nothing)."""
        return self._levels.get(key.lower())
