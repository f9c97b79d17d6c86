"""Kivy settings that must be made before the window exists.

Call :func:`configure` before anything imports ``kivy.core.window``.
"""

from __future__ import annotations

import kiosk.ui  # noqa: F401  (environment first)

#: Frames per second at most (while something happens). Idle, the loop sleeps until X input
#: or a callback from another thread (kiosk/ui/idle.py); with Kivy's polling kept (not X11,
#: HAILONG_UI_IDLE=poll) this is how often it looks for touches and keys.
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
    if fullscreen and size is None:
        # Without a window manager (a bare X server) nobody honours the fullscreen request:
        # start the borderless window at the size of the screen as well.
        size = x11_screen_size()
    if size:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    # A mouse is a finger here: no red multitouch-emulation dots on right click.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    # The on-screen keyboard and the inspector modules stay off.
    Config.set("kivy", "keyboard_mode", "system")


def x11_screen_size() -> tuple[int, int] | None:
    """The X screen's size through libX11, or None (no X display, Wayland, KMS)."""
    import ctypes
    import ctypes.util
    import os

    display = os.environ.get("DISPLAY")
    library = ctypes.util.find_library("X11")
    if not display or not library:
        return None
    try:
        x11 = ctypes.CDLL(library)
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
        x11.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        dpy = x11.XOpenDisplay(display.encode())
        if not dpy:
            return None
        try:
            screen = x11.XDefaultScreen(dpy)
            return x11.XDisplayWidth(dpy, screen), x11.XDisplayHeight(dpy, screen)
        finally:
            x11.XCloseDisplay(dpy)
    except (OSError, AttributeError):
        return None
