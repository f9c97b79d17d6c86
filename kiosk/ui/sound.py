"""The optional thank-you chime (``[ui] sound = true``): two soft sine notes, synthesised with
the ``wave`` module on first use into the user's cache folder. Nothing is downloaded."""

from __future__ import annotations

import logging
import math
import os
import struct
import wave
from pathlib import Path

log = logging.getLogger(__name__)
RATE = 22050


def chime_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kiosk"
    return cache / "chime.wav"


def write_chime(path: Path) -> Path:
    """A 0.35 s two-note chime (E5 then A5) with a soft attack and decay."""
    frames = bytearray()
    for freq, seconds in ((659.25, 0.14), (880.0, 0.21)):
        count = int(RATE * seconds)
        for i in range(count):
            envelope = min(1.0, i / (0.01 * RATE)) * (1 - i / count) ** 1.5
            sample = 0.35 * envelope * math.sin(2 * math.pi * freq * i / RATE)
            frames += struct.pack("<h", int(sample * 32767))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))
    partial.replace(path)
    return path


class Chime:
    def __init__(self) -> None:
        self._sound = None
        try:
            from kivy.core.audio import SoundLoader
            path = chime_path()
            if not path.exists():
                write_chime(path)
            self._sound = SoundLoader.load(str(path))
        except Exception as exc:  # no audio device is no reason to stop the terminal
            log.warning("thank-you sound disabled: %s", exc)

    def play(self) -> None:
        if self._sound is not None:
            try:
                self._sound.stop()
                self._sound.play()
            except Exception as exc:
                log.warning("thank-you sound failed: %s", exc)
