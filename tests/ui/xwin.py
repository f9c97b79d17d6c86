"""Real X11 events for the UI tests: xdotool for keys and clicks, and a WM_DELETE_WINDOW
client message (what a window manager sends when the close button or Alt+F4 is used) sent
with libX11 through ctypes, since bare Xvfb has no window manager to send it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess


def xdotool(*args: str, display: str | None = None) -> str:
    env = dict(os.environ, DISPLAY=display or os.environ["DISPLAY"])
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True,
                          text=True, timeout=20).stdout.strip()


def window_of(pid: int, display: str | None = None) -> int | None:
    """The visible X window of process ``pid`` (SDL sets _NET_WM_PID)."""
    try:
        out = xdotool("search", "--onlyvisible", "--pid", str(pid), display=display)
    except subprocess.CalledProcessError:
        return None
    ids = [int(line) for line in out.split() if line.strip()]
    return ids[-1] if ids else None


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int),
                ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def send_delete_window(window: int, display: str | None = None) -> None:
    """Ask ``window`` to close, exactly as a window manager does (ICCCM WM_DELETE_WINDOW)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(_XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay((display or os.environ["DISPLAY"]).encode())
    if not dpy:
        raise RuntimeError("cannot open the X display")
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data[1] = 0  # CurrentTime
        if not x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)):
            raise RuntimeError("XSendEvent failed")
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)
