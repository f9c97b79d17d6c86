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


NO_DISPLAY_EXIT = 3
BACKOFF_FILE = "no-display.count"   # in $STATE_DIRECTORY (/var/lib/kiosk): attempts so far
BACKOFF_MAX = 90                    # seconds; below kiosk.service's TimeoutStartSec=120


def run(config: KioskConfig, windowed: bool = False) -> int:
    logging.getLogger("kivy").addFilter(_provider_reasons_only)
    app = create_app(config, windowed=windowed)
    from kivy.core.window import Window

    if Window is None:  # Kivy found no window provider: no screen, no /dev/dri, no X
        return no_display(config)
    counter = _backoff_file()
    if counter is not None:  # the display works: the next failure starts short again
        counter.unlink(missing_ok=True)

    def stop(signum, frame):  # systemd's stop: leave the loop, close the hardware
        from kivy.clock import Clock
        Clock.schedule_once(lambda dt: app.stop())
        if app.idle_wait is not None:  # the handler runs on the UI thread: end its wait
            app.idle_wait.wake()

    signal.signal(signal.SIGTERM, stop)
    app.run()
    return 0


def _provider_reasons_only(record: logging.LogRecord) -> bool:
    """Kivy's "no window provider" record carries a stack trace per provider: keep its first
    line and each provider's reason ("sdl2 - RuntimeError: b'kmsdrm not available'"), drop
    the frames, so a terminal without a display logs a few lines per attempt, not thirty."""
    message = record.getMessage()
    if record.levelno >= logging.CRITICAL and "valuable" in message and "\n" in message:
        reasons = [line for line in message.splitlines() if line and not line[0].isspace()]
        record.msg, record.args = "\n".join(reasons), ()
    return True


def _backoff_file():
    import os
    from pathlib import Path

    state = os.environ.get("STATE_DIRECTORY")
    return Path(state.split(":")[0]) / BACKOFF_FILE if state else None


def no_display(config: KioskConfig) -> int:
    """No working display: one clear line in the journal and on the console (not Kivy's
    hundred lines and a traceback), then, where systemd cannot grow the restart delay itself
    (Bookworm's 252: HAILONG_DISPLAY_BACKOFF=1), a wait that doubles on each attempt, so the
    terminal does not restart every two seconds and write the SD card full."""
    import os
    import time

    from kiosk.i18n import translation

    driver = os.environ.get("SDL_VIDEODRIVER", "default")
    delay = 0
    counter = _backoff_file()
    if os.environ.get("HAILONG_DISPLAY_BACKOFF") == "1" and counter is not None:
        try:
            attempts = int(counter.read_text())
        except (OSError, ValueError):
            attempts = 0
        delay = min(2 ** (attempts + 1), BACKOFF_MAX)
        try:
            counter.write_text(f"{attempts + 1}\n")
        except OSError:
            delay = BACKOFF_MAX
    log.error("no working display (SDL_VIDEODRIVER=%s): the rating screen cannot start; "
              "check the screen's cable and /dev/dri; next try in %d s or when systemd "
              "restarts it", driver, delay)
    vi = translation("kiosk_ui", "vi").gettext
    en = translation("kiosk_ui", "en").gettext
    text = "No working display: the rating screen cannot start. Check the screen's cable."
    try:
        with open("/dev/tty", "w") as tty:  # kiosk.service: tty1 is our controlling terminal
            tty.write(f"\nHài Lòng: {vi(text)}\n{en(text)}\n")
    except OSError:
        pass
    time.sleep(delay)
    return NO_DISPLAY_EXIT
