"""``kiosk run``: the rating terminal's screen.

:func:`run` sets Kivy up (fullscreen and locked down, or in a window for development) and
runs :class:`kiosk.ui.kioskapp.KioskApp` until the service is stopped.
"""

from __future__ import annotations

import logging
import signal

from kiosk.config import KioskConfig

log = logging.getLogger(__name__)
WINDOWED_SIZE = (1024, 600)


def create_app(config: KioskConfig, *, windowed: bool = False,
               size: tuple[int, int] | None = None):
    """Configure Kivy, then make the app (not yet running). Tests and benchmarks use this."""
    from kiosk.ui.settings import configure

    fullscreen = not windowed and config.ui.fullscreen
    configure(fullscreen=fullscreen, size=size or (None if fullscreen else WINDOWED_SIZE))
    from kiosk.ui.kioskapp import KioskApp

    return KioskApp(config, locked=not windowed)


def run(config: KioskConfig, windowed: bool = False) -> int:
    app = create_app(config, windowed=windowed)

    def stop(signum, frame):  # systemd's stop: leave the loop, close the hardware
        from kivy.clock import Clock
        Clock.schedule_once(lambda dt: app.stop())
        if app.idle_wait is not None:  # the handler runs on the UI thread: end its wait
            app.idle_wait.wake()

    signal.signal(signal.SIGTERM, stop)
    app.run()
    return 0
