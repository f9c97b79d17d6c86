"""Barcode / QR scanners at the counter (docs/attribution.md): each scanned line, as text,
handed to an ``on_scan`` callable (``kiosk.attribution.Classifier`` says what it is).

- :class:`EvdevScanner`: a USB scanner in keyboard mode (HID), read through evdev with an
  **exclusive grab**: its keystrokes reach this reader alone, never the UI (a scanned code
  can never be typed into a screen or pressed as a vote key). Key codes become characters
  with a US layout and the shift keys (what scanners send whatever the language); Enter
  ends the line.
- :class:`SerialScanner`: a scanner on a (USB) serial port (or any pyserial URL): lines
  ended by CR, LF or both.
- :class:`KeystrokeScans`: with neither, scanner-speed keystrokes ending in Enter typed into
  the UI window: characters that follow each other faster than ``max_gap_s`` and end with
  Enter are one scan; a person's slower typing is not.

A line longer than ``MAX_LINE`` is dropped whole (logged), never cut into a shorter code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import serial

from kiosk.hardware.serial_port import REOPEN_S, SerialReader

log = logging.getLogger(__name__)
MAX_LINE = 256

OnScan = Callable[[str], None]


class LineAssembler:
    """Characters in, whole lines out; an over-long line is dropped, not truncated."""

    def __init__(self, on_scan: OnScan):
        self.on_scan = on_scan
        self._chars: list[str] = []
        self._overlong = False

    def char(self, ch: str) -> None:
        if len(self._chars) >= MAX_LINE:
            if not self._overlong:
                log.warning("scanner: line longer than %s characters dropped", MAX_LINE)
            self._overlong = True
            return
        self._chars.append(ch)

    def end(self) -> None:
        line, overlong = "".join(self._chars), self._overlong
        self.reset()
        if line and not overlong:
            self.on_scan(line)

    def reset(self) -> None:
        self._chars.clear()
        self._overlong = False


# --- evdev (keyboard mode) -----------------------------------------------------------------

# US layout: key name → (plain, shifted). Scanners type as a US keyboard whatever the locale.
_US = {
    **{f"KEY_{c}": (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    "KEY_1": ("1", "!"), "KEY_2": ("2", "@"), "KEY_3": ("3", "#"), "KEY_4": ("4", "$"),
    "KEY_5": ("5", "%"), "KEY_6": ("6", "^"), "KEY_7": ("7", "&"), "KEY_8": ("8", "*"),
    "KEY_9": ("9", "("), "KEY_0": ("0", ")"), "KEY_MINUS": ("-", "_"),
    "KEY_EQUAL": ("=", "+"), "KEY_LEFTBRACE": ("[", "{"), "KEY_RIGHTBRACE": ("]", "}"),
    "KEY_SEMICOLON": (";", ":"), "KEY_APOSTROPHE": ("'", '"'), "KEY_GRAVE": ("`", "~"),
    "KEY_BACKSLASH": ("\\", "|"), "KEY_COMMA": (",", "<"), "KEY_DOT": (".", ">"),
    "KEY_SLASH": ("/", "?"), "KEY_SPACE": (" ", " "),
    **{f"KEY_KP{d}": (d, d) for d in "0123456789"},
    "KEY_KPDOT": (".", "."), "KEY_KPMINUS": ("-", "-"), "KEY_KPPLUS": ("+", "+"),
    "KEY_KPSLASH": ("/", "/"), "KEY_KPASTERISK": ("*", "*"),
}
_SHIFTS = ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT")
_ENTERS = ("KEY_ENTER", "KEY_KPENTER")


def _keymap():
    from evdev import ecodes

    return ({ecodes.ecodes[name]: chars for name, chars in _US.items()},
            {ecodes.ecodes[name] for name in _SHIFTS}, {ecodes.ecodes[name] for name in _ENTERS})


class KeyDecoder:
    """evdev ``InputEvent``s in (key down / up / repeat), scanned lines out."""

    def __init__(self, on_scan: OnScan):
        from evdev import ecodes

        self._ev_key = ecodes.EV_KEY
        self._chars, self._shift_codes, self._enter_codes = _keymap()
        self._shifted: set[int] = set()
        self._caps = False
        self._caps_code = ecodes.KEY_CAPSLOCK
        self.line = LineAssembler(on_scan)

    def feed(self, event) -> None:
        if event.type != self._ev_key:
            return  # EV_SYN, EV_MSC (scan codes), EV_LED…
        code, value = event.code, event.value  # 1 down, 0 up, 2 repeat
        if code in self._shift_codes:
            (self._shifted.add if value else self._shifted.discard)(code)
            return
        if value == 0:
            return
        if code == self._caps_code and value == 1:
            self._caps = not self._caps
        elif code in self._enter_codes:
            self.line.end()
        elif code in self._chars:
            plain, shifted = self._chars[code]
            upper = bool(self._shifted) != (self._caps and plain.isalpha())
            self.line.char(shifted if upper else plain)
        else:
            log.debug("scanner: key %s ignored", code)


class EvdevScanner:
    """Reads one input device (``/dev/input/by-id/…-event-kbd``) grabbed exclusively, in its
    own thread; reopens it when the scanner is unplugged and plugged back."""

    def __init__(self, path: str, on_scan: OnScan):
        self.path = path
        self.decoder = KeyDecoder(on_scan)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.device = None
        self.connected = threading.Event()

    def replay(self, events: Iterable) -> None:
        """Feed events (what ``read_loop`` yields): the reading loop's own work."""
        for event in events:
            self.decoder.feed(event)

    def start(self) -> EvdevScanner:
        self._thread = threading.Thread(target=self._run, name="scanner-evdev", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._release()
        if self._thread:
            self._thread.join(3)

    def _run(self) -> None:
        import evdev

        announced = False
        while not self._stop.is_set():
            try:
                self.device = evdev.InputDevice(self.path)
                self.device.grab()  # exclusive: the UI never sees these keys
            except OSError as exc:
                if not announced:
                    log.warning("scanner: cannot open and grab %s: %s", self.path, exc)
                    announced = True
                self._release()
                self._stop.wait(REOPEN_S)
                continue
            announced = False
            self.connected.set()
            self.decoder.line.reset()
            try:
                self.replay(self.device.read_loop())
            except OSError as exc:
                log.warning("scanner: %s lost: %s", self.path, exc)
            self._release()

    def _release(self) -> None:
        self.connected.clear()
        device, self.device = self.device, None
        if device is not None:
            try:
                device.ungrab()
            except OSError:
                pass
            device.close()


# --- serial ---------------------------------------------------------------------------------

class SerialScanner(SerialReader):
    """A scanner on a serial port: one scan per line (CR, LF or CR LF), UTF-8 text."""

    label = "scanner"

    def __init__(self, port: str, baudrate: int, on_scan: OnScan, *,
                 opener=serial.serial_for_url):
        super().__init__(port, baudrate, opener=opener)
        self._on_scan = on_scan
        self._buffer = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> None:
        for byte in data:
            if byte in (0x0A, 0x0D):
                line, overlong = bytes(self._buffer), self._overlong
                self._buffer.clear()
                self._overlong = False
                if line and not overlong:
                    # undecodable bytes become U+FFFD: the classifier calls it unreadable
                    self._on_scan(line.decode("utf-8", errors="replace"))
            elif len(self._buffer) >= MAX_LINE:
                if not self._overlong:
                    log.warning("scanner: serial line longer than %s bytes dropped", MAX_LINE)
                self._overlong = True
            else:
                self._buffer.append(byte)

    def _opened(self) -> None:
        self._buffer.clear()  # a line cut by an unplug would join the next one
        self._overlong = False

    def _received(self, data: bytes) -> None:
        self.feed(data)


# --- keystrokes typed into the window -------------------------------------------------------

class KeystrokeScans:
    """The window's keys: a run of characters each within ``max_gap_s`` of the last, ended
    by Enter, is a scan (scanners type a character every few milliseconds; people do not).
    ``key`` returns True when the key was taken as part of a scan (the UI then ignores it)."""

    def __init__(self, on_scan: OnScan, *, max_gap_s: float = 0.05, min_chars: int = 4,
                 clock: Callable[[], float] = time.monotonic):
        self.on_scan = on_scan
        self.max_gap_s, self.min_chars = max_gap_s, min_chars
        self._clock = clock
        self._chars: list[str] = []
        self._last = 0.0

    def key(self, text: str | None, enter: bool = False) -> bool:
        now = self._clock()
        if self._chars and now - self._last > self.max_gap_s:
            self._chars.clear()  # too slow: a person typing, not a scanner
        self._last = now
        if enter:
            line = "".join(self._chars)
            self._chars.clear()
            if len(line) >= self.min_chars:
                self.on_scan(line)
                return True
            return False
        if text and len(text) == 1 and text.isprintable():
            if len(self._chars) < MAX_LINE:
                self._chars.append(text)
            return len(self._chars) > 1
        return False


def open_reader(section, on_scan: OnScan):
    """The reader ``[attribution] scanner`` names, started; None for "none" (the window's
    keystrokes then, :class:`KeystrokeScans`). A device that is not there yet is opened
    when it appears (both readers retry)."""
    if section.scanner == "evdev":
        return EvdevScanner(section.scanner_device, on_scan).start()
    if section.scanner == "serial":
        return SerialScanner(section.scanner_device, section.scanner_baudrate, on_scan).start()
    return None
