"""systemd readiness and watchdog through sdnotify; nothing at all without NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        self._notifier = None
        if os.environ.get("NOTIFY_SOCKET"):
            import sdnotify
            self._notifier = sdnotify.SystemdNotifier()

    def ready(self) -> None:
        self._send("READY=1")

    def watchdog(self, *_args) -> None:
        """Called from the UI loop's clock: if the loop freezes, systemd restarts us."""
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, state: str) -> None:
        if self._notifier is not None:
            try:
                self._notifier.notify(state)
            except OSError as exc:  # never let systemd's socket stop the screen
                log.warning("sd_notify %s failed: %s", state, exc)
