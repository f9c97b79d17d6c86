"""Press to durable commit, through the real input path, next to the floor of the same disk.

    .venv/bin/python bench/press_to_commit.py [--presses 1000] [--dir DIR]

Path measured: a gpiozero mock pin is driven low (the button's edge) → GpioPanel → the
capture queue → voting rules → VoteStore.record (BEGIN IMMEDIATE … COMMIT, WAL,
synchronous=FULL) → the listener is told. Time from just before the edge to the listener.
Floor, same run, same folder: a bare sqlite3 INSERT + COMMIT, WAL and synchronous=FULL.
The two alternate, one floor commit then one press, so both see the same disk and the same
load from whatever else the machine is doing.
Target (issue 2): p99 of the path ≤ 2 × p99 of the floor.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpiozero.pins.mock import MockFactory  # noqa: E402

from kiosk.capture import Capture  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.hardware.gpio import GpioPanel  # noqa: E402
from kiosk.store import VoteStore  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Floor:
    """The bare minimum a durable vote costs on this disk."""

    def __init__(self, folder: Path):
        self.conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, level INTEGER, at TEXT)")

    def commit_ms(self, i: int) -> float:
        start = time.perf_counter_ns()
        self.conn.execute("BEGIN")
        self.conn.execute("INSERT INTO t (level, at) VALUES (?, ?)", (i % 3 + 1, "x"))
        self.conn.execute("COMMIT")
        return (time.perf_counter_ns() - start) / 1e6


class Stopwatch:
    def __init__(self):
        self.done = threading.Event()
        self.at = 0

    def vote_recorded(self, vote):
        self.at = time.perf_counter_ns()
        self.done.set()

    def press_ignored(self, decision):
        pass

    def storage_failed(self, error):
        raise SystemExit(f"storage failed: {error}")

    storage_recovered = button_test = press_ignored


def measure(folder: Path, n: int) -> tuple[list[float], list[float]]:
    config = KioskConfig.model_validate({
        "storage": {"path": str(folder / "votes.db")}, "gpio": {"pin_factory": "mock"},
        "rules": {"lockout_s": 0, "debounce_ms": 0, "misuse_max_votes": 1000}})
    capture = Capture(config, lambda: VoteStore(config.storage.path, "bench"))
    panel = GpioPanel(config.gpio, capture.submit, pin_factory=MockFactory())
    watch = Stopwatch()
    capture.indicators.append(panel)
    capture.listeners.append(watch)
    capture.start()
    floor = Floor(folder)
    pins = [panel.factory.pin(p) for p in config.gpio.button_pins]
    base, ours = [], []
    for i in range(n):
        base.append(floor.commit_ms(i))
        pin = pins[i % 3]
        watch.done.clear()
        start = time.perf_counter_ns()
        pin.drive_low()
        if not watch.done.wait(5):
            raise SystemExit("a press was not recorded")
        ours.append((watch.at - start) / 1e6)
        pin.drive_high()
        time.sleep(0.002)  # let the release edge pass before the next press
    capture.stop()
    panel.close()
    return base, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder on the disk to measure (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        base, ours = measure(folder, args.presses)
    print(f"presses: {args.presses}, folder: {args.dir or tempfile.gettempdir()}")
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, values in (("floor: INSERT+COMMIT", base), ("press → committed row", ours)):
        print(f"{name:28}{percentile(values, 50):10.3f}{percentile(values, 99):10.3f}"
              f"{statistics.mean(values):10.3f}")
    ratio = percentile(ours, 99) / percentile(base, 99)
    print(f"p99 ratio: {ratio:.2f} (target ≤ 2.0) {'PASS' if ratio <= 2 else 'FAIL'}")


if __name__ == "__main__":
    main()
