"""Kivy settings that must be made before the window exists.

Call :func:`configure` before anything imports ``kivy.core.window``.
"""

from __future__ import annotations

import kiosk.ui  # noqa: F401  (environment first)

#: Frames per second at most. With the interrupt clock this is also how often the loop looks
#: for touches and keys while idle; a vote committed on the capture thread wakes it at once.
MAX_FPS = 12


def configure(*, fullscreen: bool, size: tuple[int, int] | None = None) -> None:
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("kivy", "log_level", "info")
    Config.set("graphics", "maxfps", str(MAX_FPS))
    Config.set("graphics", "resizable", "0" if fullscreen else "1")
    Config.set("graphics", "show_cursor", "0" if fullscreen else "1")
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")
    Config.set("graphics", "position", "custom")
    Config.set("graphics", "left", "0")
    Config.set("graphics", "top", "0")
    if size:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    # A mouse is a finger here: no red multitouch-emulation dots on right click.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    # The on-screen keyboard and the inspector modules stay off.
    Config.set("kivy", "keyboard_mode", "system")
