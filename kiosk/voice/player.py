"""Playing the prompts: ``aplay`` (alsa-utils) on the configured ALSA device, in a thread of
its own. :meth:`Voice.say` only puts a name on a queue and returns: a vote, the thank-you
frame and the UI loop never wait for the speaker. A new prompt cuts the one still playing
(the citizen pressed on: the old words no longer matter). Volume is applied to the samples
before they reach ALSA, so it needs no mixer control on the sound card.
"""

from __future__ import annotations

import array
import logging
import queue
import shutil
import subprocess
import sys
import threading
import wave
from pathlib import Path

from kiosk.voice.build import DEFAULT_FOLDER

log = logging.getLogger(__name__)


def scaled(path: Path, volume: int) -> tuple[wave._wave_params, bytes]:
    """The WAV's frames at ``volume`` % (16-bit PCM; other widths are played as they are)."""
    with wave.open(str(path), "rb") as wav:
        params, frames = wav.getparams(), wav.readframes(wav.getnframes())
    if params.sampwidth != 2 or volume >= 100:
        return params, frames
    samples = array.array("h", frames)
    if sys.byteorder != "little":
        samples.byteswap()
    factor = max(0, volume) / 100
    samples = array.array("h", (int(s * factor) for s in samples))
    if sys.byteorder != "little":
        samples.byteswap()
    return params, samples.tobytes()


class Voice:
    """Says prompts by name from ``folder/<language>/`` (else the bundled ones)."""

    def __init__(self, *, device: str, language: str, volume: int = 80,
                 folder: str | Path = "", aplay: str = "aplay", preload: tuple[str, ...] = ()):
        self.device, self.language, self.volume = device, language, volume
        self.preload = preload  # the names this terminal says: read and scaled at start
        self.folders = [Path(f) / language for f in (folder, DEFAULT_FOLDER) if f]
        self.aplay = shutil.which(aplay) or aplay
        self.played: list[tuple[str, int]] = []  # (name, aplay's exit code), for tests
        self._queue: queue.Queue = queue.Queue()  # (generation, name), an Event, or None
        self._generation = 0
        self._current: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[wave._wave_params, bytes]] = {}
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    def file_of(self, name: str) -> Path | None:
        """The district's recording if there is one, else the built prompt."""
        for folder in self.folders:
            if (path := folder / f"{name}.wav").is_file():
                return path
        return None

    def say(self, *names: str) -> None:
        """Returns at once; the prompts play one after the other in the voice thread."""
        with self._lock:
            self._generation += 1
            self._queue.put((self._generation, names))
            if self._current is not None and self._current.poll() is None:
                self._current.terminate()  # the newest words win

    def close(self) -> None:
        self._queue.put(None)
        with self._lock:
            if self._current is not None and self._current.poll() is None:
                self._current.terminate()
        self._thread.join(5)

    def idle(self, timeout: float = 30) -> bool:
        """Wait until everything asked has been played (tests)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _preload(self) -> None:
        """Read and scale this terminal's prompts once, at start: nothing heavy happens when
        a vote is thanked."""
        for name in self.preload:
            path = self.file_of(name)
            if path is None:
                continue
            try:
                self._cache[name] = scaled(path, self.volume)
            except (OSError, EOFError, wave.Error):
                log.warning("voice: %s is not a readable WAV file", path)

    def _run(self) -> None:
        self._preload()
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            generation, names = item
            for name in names:
                if generation != self._generation:
                    break  # a newer prompt is waiting: this one would be cut at once
                try:
                    self._play(name)
                except Exception:  # a broken speaker never stops the terminal
                    log.exception("voice: cannot play %s", name)

    def _play(self, name: str) -> None:
        path = self.file_of(name)
        if path is None:
            log.warning("voice: no prompt %s in %s", name, self.folders)
            return
        if name not in self._cache:
            self._cache[name] = scaled(path, self.volume)
        params, frames = self._cache[name]
        fmt = {1: "U8", 2: "S16_LE", 4: "S32_LE"}.get(params.sampwidth, "S16_LE")
        with self._lock:
            self._current = subprocess.Popen(
                [self.aplay, "-q", "-D", self.device, "-t", "raw", "-f", fmt,
                 "-r", str(params.framerate), "-c", str(params.nchannels), "-"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            process = self._current
        try:
            process.stdin.write(frames)
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # cut by a newer prompt
        code = process.wait()
        error = process.stderr.read().decode(errors="replace").strip()
        if code not in (0, -15) and error:
            log.warning("voice: aplay on %s: %s", self.device, error)
        self.played.append((name, code))
