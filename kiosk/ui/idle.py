"""An idle UI loop that sleeps until something happens, instead of polling SDL 12 times a second.

Kivy's loop (with ``KIVY_CLOCK=interrupt``) wakes every frame (``maxfps``) to poll SDL for
touches and keys, even when nothing changes. :class:`IdleWait` replaces the Clock's ``idle``:
when no Clock event is due before the next frames, no other thread has scheduled anything and
SDL's queue is empty, the UI thread blocks in ``poll(2)`` on

- the X server connection (a touch, a key, an expose: the same socket SDL reads),
- an eventfd written whenever another thread schedules a Clock callback (the capture thread's
  vote, storage and button-test reports; the test driver),

with the time to the next Clock event as the timeout (the watchdog ping, Kivy's 1 s cache
purge, the thank-you countdown, the technician's long press), at most :data:`MAX_BLOCK_S`.
Then Kivy's own idle runs as before (frame pacing, input, drawing), so while something
happens nothing changes.

Kivy reads SDL's events at the *end* of a loop iteration and hands the mouse's touches to
the widgets at the start of the next one: a touch waiting in the mouse provider's queue
never blocks. Input providers that read devices in their own threads (``hidinput``,
``mtdev`` from ``probesysfs``) cannot wake the poll; with any of them active (or without SDL
on X11, or with ``HAILONG_UI_IDLE=poll``) Kivy's polling is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: Longest single block: a safety net only (every real wake-up has its own file descriptor).
MAX_BLOCK_S = 1.0
#: Wait in poll(2) only when the next Clock event is further away than this many frames.
MIN_FRAMES = 2
SDL_FIRSTEVENT, SDL_LASTEVENT = 0, 0xFFFF
#: Input providers fed by the SDL window (X events), which wake the poll themselves.
X_FED_PROVIDERS = ("MouseMotionEventProvider", "SDL2MotionEventProvider")


def _loaded_sdl() -> ctypes.CDLL | None:
    """The libSDL2 this process already uses (Kivy's wheel bundles its own copy)."""
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1]
            if "/libSDL2-2" in path or path.endswith(("/libSDL2-2.0.so.0", "/libSDL2.so")):
                return ctypes.CDLL(path)
    except OSError:
        pass
    name = ctypes.util.find_library("SDL2-2.0") or ctypes.util.find_library("SDL2")
    return ctypes.CDLL(name) if name else None


class IdleWait:
    def __init__(self, clock, sdl: ctypes.CDLL, x_fd: int, providers: list):
        self.clock = clock
        #: the EventLoop's list itself: Kivy adds the configured providers after on_start
        self.providers = providers
        self.polling_because: str | None = None
        self.sdl = sdl
        self.x_fd = x_fd
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.poller = select.poll()
        self.poller.register(x_fd, select.POLLIN)
        self.poller.register(self.wake_fd, select.POLLIN)
        self.main_thread = threading.get_ident()
        self.blocks = 0
        self._idle = clock.idle
        self._on_schedule = clock.on_schedule

    @classmethod
    def install(cls, clock, window, providers: list) -> IdleWait | None:
        """Put it in place for this Clock, SDL window and the EventLoop's input providers;
        None when it cannot (not X11, a threaded input provider, …)."""
        if os.environ.get("HAILONG_UI_IDLE", "wait") == "poll":
            return None
        try:
            info = window.get_window_info()
            display = getattr(info, "display", None)
            x11_name = ctypes.util.find_library("X11")
            sdl = _loaded_sdl()
            if not display or not x11_name or sdl is None:
                log.info("idle: Kivy's polling kept (no X11 display or SDL library)")
                return None
            x11 = ctypes.CDLL(x11_name)
            x11.XConnectionNumber.argtypes = [ctypes.c_void_p]
            x_fd = x11.XConnectionNumber(ctypes.c_void_p(display))
            sdl.SDL_PumpEvents.argtypes = []
            sdl.SDL_PumpEvents.restype = None
            sdl.SDL_HasEvents.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
            sdl.SDL_HasEvents.restype = ctypes.c_int
            waiter = cls(clock, sdl, x_fd, providers)
        except (OSError, AttributeError, ValueError) as exc:
            log.warning("idle: Kivy's polling kept (%s)", exc)
            return None
        clock.on_schedule = waiter.on_schedule
        clock.idle = waiter.idle
        log.info("idle: the UI loop sleeps until X input or a scheduled callback")
        return waiter

    def uninstall(self) -> None:
        self.clock.idle = self._idle
        self.clock.on_schedule = self._on_schedule
        os.close(self.wake_fd)

    # -- any thread --------------------------------------------------------------------------

    def on_schedule(self, event) -> None:
        self._on_schedule(event)
        if threading.get_ident() != self.main_thread:
            self.wake()

    def wake(self) -> None:
        """End the current (or next) wait at once; also from a signal handler."""
        try:
            os.eventfd_write(self.wake_fd, 1)
        except OSError:  # closed at exit
            pass

    # -- the UI thread -----------------------------------------------------------------------

    def idle(self):
        self._block()
        return self._idle()

    def _block(self) -> None:
        clock = self.clock
        fps = clock._max_fps
        if fps <= 0 or clock._event.is_set():
            return
        timeout = min(clock.get_min_timeout() - clock.time(), MAX_BLOCK_S)
        if timeout <= MIN_FRAMES / fps:
            return  # something is due soon: Kivy's frame pacing does it
        for provider in self.providers:
            if type(provider).__name__ not in X_FED_PROVIDERS:
                if self.polling_because is None:
                    self.polling_because = type(provider).__name__
                    log.info("idle: Kivy's polling kept (input read outside X by %s)",
                             self.polling_because)
                return
            if getattr(provider, "waiting_event", None) or getattr(provider, "q", None):
                return  # a touch read from SDL last iteration, for the widgets now
        self.sdl.SDL_PumpEvents()  # what Xlib has already read goes to SDL's queue …
        if self.sdl.SDL_HasEvents(SDL_FIRSTEVENT, SDL_LASTEVENT):
            return  # … and is handled now
        self.blocks += 1
        self.poller.poll(int(timeout * 1000))
        try:
            os.eventfd_read(self.wake_fd)
        except BlockingIOError:
            pass


#: After the first frame and after each citizen, once the screen has settled.
TRIM_AFTER_S = 2.0


def release_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``). Building the
    screens and fitting their labels render many short-lived textures; their freed memory
    otherwise stays in the process (about 7 MiB on the 1024×600 window: bench/ui.py start).
    Called between citizens, never while a vote is drawn. Nothing where libc has no
    malloc_trim (not glibc)."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
