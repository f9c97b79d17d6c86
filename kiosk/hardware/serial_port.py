"""A (USB) serial device read in its own thread, for the button box and the serial scanner.

The port is opened, read, and, when it goes away (unplugged, a cable knocked), closed and
opened again every ``REOPEN_S`` seconds until it is back, forever: a counter's device must
come back on its own. What the bytes mean is the subclass's: ``_opened`` after every
(re)open (a line cut by an unplug must not join the next one), ``_received`` for each chunk.
"""

from __future__ import annotations

import logging
import threading

import serial

log = logging.getLogger(__name__)
REOPEN_S = 1.0


class SerialReader:
    """Opens ``port`` with ``opener`` (pyserial's ``serial_for_url``: also ``loop://`` and
    pty paths in tests) and hands what it reads to ``_received``."""

    label = "serial"  # the log's and the thread's name for the device

    def __init__(self, port: str, baudrate: int, *, opener=serial.serial_for_url):
        self.port = port
        self.baudrate = baudrate
        self._opener = opener
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.serial: serial.SerialBase | None = None

    def _opened(self) -> None:
        """Called after every (re)open, before the first read."""

    def _received(self, data: bytes) -> None:
        raise NotImplementedError

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.label, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(3)
        self._disconnect()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        announced_down = False
        while not self._stop.is_set():
            if self.serial is None:
                try:
                    self.serial = self._opener(self.port, baudrate=self.baudrate, timeout=0.2)
                except (serial.SerialException, OSError, ValueError) as exc:
                    if not announced_down:  # once per outage, not every second
                        log.warning("%s: cannot open %s: %s", self.label, self.port, exc)
                        announced_down = True
                    self._stop.wait(REOPEN_S)
                    continue
                log.info("%s: %s open", self.label, self.port)
                announced_down = False
                self._opened()
                self.connected.set()
            self._read_once()

    def _read_once(self) -> None:
        try:
            data = self.serial.read(max(1, self.serial.in_waiting or 1))
        except (serial.SerialException, OSError, TypeError) as exc:
            log.warning("%s: %s lost: %s", self.label, self.port, exc)
            self._disconnect()
            return
        self._received(data)

    def _disconnect(self) -> None:
        self.connected.clear()
        if self.serial is not None:
            try:
                self.serial.close()
            except (serial.SerialException, OSError):
                pass
            self.serial = None
