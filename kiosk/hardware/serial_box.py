"""A button box on a (USB) serial port, for counters whose buttons are not wired to the header.

Protocol (docs/kiosk.md): ASCII lines ended by ``\\n`` (a ``\\r`` before it is ignored):

- ``B<n>`` — button ``n`` was pressed once (``n`` = level, 1 = worst): ``B1``, ``B2``, …
- ``#…``   — a comment or the box's own hello; ignored.

Anything else — noise, a level beyond the scale, a line longer than ``MAX_LINE`` bytes, bytes
that are not ASCII — is logged and dropped: a broken box can never invent a vote. A line cut by
an unplug is thrown away; the port is reopened until it is back (``kiosk.hardware.serial_port``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import serial

from kiosk.hardware.serial_port import SerialReader
from kiosk.rules import ButtonEvent, Edge
from kiosk.vote import Source

log = logging.getLogger(__name__)
MAX_LINE = 32
PRESS = re.compile(rb"^B([1-9])$")


class LineParser:
    """Bytes in, levels out. Keeps a partial line between reads."""

    def __init__(self, levels: int):
        self.levels = levels
        self._buffer = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> list[int]:
        pressed = []
        for byte in data:
            if byte == 0x0A:  # \n ends a line
                if not self._overlong:
                    level = self._parse(bytes(self._buffer).rstrip(b"\r"))
                    if level is not None:
                        pressed.append(level)
                self._buffer.clear()
                self._overlong = False
            elif len(self._buffer) >= MAX_LINE:
                if not self._overlong:
                    log.warning("serial: line longer than %s bytes dropped", MAX_LINE)
                self._overlong = True
            else:
                self._buffer.append(byte)
        return pressed

    def reset(self) -> None:
        """Forget a partial line (after an unplug it would join the next one)."""
        self._buffer.clear()
        self._overlong = False

    def _parse(self, line: bytes) -> int | None:
        if not line or line.startswith(b"#"):
            return None
        match = PRESS.match(line)
        if match is None:
            log.warning("serial: unknown line %r dropped", line[:MAX_LINE])
            return None
        level = int(match.group(1))
        if level > self.levels:
            log.warning("serial: button %s does not exist on a %s-level scale", level,
                        self.levels)
            return None
        return level


class SerialButtonBox(SerialReader):
    """Reads the box in its own thread and submits one CLICK event per ``B<n>`` line."""

    label = "serial"

    def __init__(self, port: str, baudrate: int, levels: int,
                 submit: Callable[[ButtonEvent], None], *, opener=serial.serial_for_url):
        super().__init__(port, baudrate, opener=opener)
        self.parser = LineParser(levels)
        self._submit = submit

    def _opened(self) -> None:
        self.parser.reset()  # a line cut by the unplug is thrown away

    def _received(self, data: bytes) -> None:
        for level in self.parser.feed(data):
            self._submit(ButtonEvent(level, Edge.CLICK, Source.SERIAL, time.monotonic_ns()))
