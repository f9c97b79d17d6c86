"""Buttons and LEDs on the Raspberry Pi header, through gpiozero.

The pin factory is chosen by ``[gpio] pin_factory``: ``auto`` takes the real one (lgpio) on a
Raspberry Pi and gpiozero's own :class:`~gpiozero.pins.mock.MockFactory` elsewhere, which is how
the tests and a developer's laptop press buttons (``factory.pin(17).drive_low()``).

gpiozero's ``bounce_time`` is left off on purpose: the rules debounce on our own timestamps,
so every raw edge is passed on and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpiozero import LED, Device, DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from kiosk.config import GpioSection
from kiosk.rules import ButtonEvent, Edge
from kiosk.vote import Source

log = logging.getLogger(__name__)
PI_MODEL_FILE = Path("/proc/device-tree/model")


def on_raspberry_pi() -> bool:
    try:
        return "Raspberry Pi" in PI_MODEL_FILE.read_text(errors="ignore")
    except OSError:
        return False


def make_pin_factory(name: str):
    """The gpiozero pin factory for a ``[gpio] pin_factory`` value."""
    if name == "mock" or (name == "auto" and not on_raspberry_pi()):
        return MockFactory()
    if name in ("auto", "lgpio"):
        from gpiozero.pins.lgpio import LGPIOFactory
        return LGPIOFactory()
    if name == "rpigpio":
        from gpiozero.pins.rpigpio import RPiGPIOFactory
        return RPiGPIOFactory()
    from gpiozero.pins.native import NativeFactory
    return NativeFactory()


class GpioPanel:
    """The terminal's buttons (level 1 = worst first) and their LEDs."""

    def __init__(self, section: GpioSection, submit: Callable[[ButtonEvent], None], *,
                 pin_factory=None):
        self.factory = pin_factory or make_pin_factory(section.pin_factory)
        self._submit = submit
        self._lock = threading.Lock()
        self._timers: dict[int, threading.Timer] = {}
        # DigitalInputDevice, not Button: Button's hold thread wakes 10 times a second per
        # button for hold events we do not use, which costs idle CPU on the terminal.
        self.buttons: list[DigitalInputDevice] = []
        self.leds: list[LED] = []
        try:
            for level, pin in enumerate(section.button_pins or (), start=1):
                button = DigitalInputDevice(pin, pull_up=section.pull_up, bounce_time=None,
                                            pin_factory=self.factory)
                button.when_activated = self._edge_handler(level, Edge.DOWN)
                button.when_deactivated = self._edge_handler(level, Edge.UP)
                self.buttons.append(button)
            self.leds = [LED(pin, pin_factory=self.factory) for pin in section.led_pins or ()]
        except Exception:
            self.close()
            raise

    def _edge_handler(self, level: int, edge: Edge) -> Callable[[], None]:
        def handler() -> None:
            at_ns = time.monotonic_ns()
            log.debug("gpio edge: level %s %s", level, edge)
            self._submit(ButtonEvent(level, edge, Source.GPIO, at_ns))
        return handler

    def held_levels(self) -> list[int]:
        """Buttons already down now (at start: shorted or jammed)."""
        return [level for level, b in enumerate(self.buttons, start=1) if b.is_active]

    def acknowledge(self, level: int, seconds: float) -> None:
        """Light the LED of ``level`` for ``seconds`` (called after the vote is committed)."""
        if not 1 <= level <= len(self.leds):
            return
        led = self.leds[level - 1]
        with self._lock:
            if (old := self._timers.pop(level, None)) is not None:
                old.cancel()
            led.on()
            timer = threading.Timer(seconds, led.off)
            timer.daemon = True
            self._timers[level] = timer
            timer.start()

    def offer_choices(self, on: bool) -> None:
        """Every LED on while the follow-up is open (each button answers it), or off."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            for led in self.leds:
                (led.on if on else led.off)()

    def light(self, level: int, on: bool) -> None:
        """For the technician's button test."""
        if 1 <= level <= len(self.leds):
            (self.leds[level - 1].on if on else self.leds[level - 1].off)()

    def close(self) -> None:
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        for device in (*self.buttons, *self.leds):
            device.close()
        self.buttons, self.leds = [], []

    def __enter__(self) -> GpioPanel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Device", "GpioPanel", "MockFactory", "make_pin_factory", "on_raspberry_pi"]
