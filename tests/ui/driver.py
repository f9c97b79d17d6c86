"""Runs the real kiosk app in a real window and plays one scripted scenario against it.

    python -m tests.ui.driver SCENARIO PARAMS.json REPORT.json   (from the repository)

One process per scenario (Kivy wants one app per process). The script runs in its own
thread and acts like the outside world: it presses mock GPIO pins, writes ``B<n>`` lines to
a pty (the serial box), clicks and types with xdotool (real X events), and takes screenshots of
the window with ImageMagick's ``import``. What it saw goes into REPORT.json for pytest.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from kiosk.config import KioskConfig
from tests.ui.xwin import xdotool

SETTLE_S = 0.35  # a few frames at the idle frame rate


class Driver:
    def __init__(self, params: dict, report_path: Path):
        self.params = params
        self.report_path = report_path
        self.report: dict = {"steps": [], "errors": []}
        self.config = KioskConfig.model_validate(params["config"])
        size = tuple(params["size"]) if params.get("size") else None
        from kiosk.ui.app import create_app
        self.app = create_app(self.config, windowed=params.get("windowed", True), size=size)
        self.db = Path(self.config.storage.path)
        self.shots = Path(params.get("shots", "."))
        self.window = None
        #: (monotonic time, screen name) of every Stage.show, once watch_screens() is called
        self.shown: list[tuple[float, str]] = []

    # -- talking to the UI thread ------------------------------------------------------------

    def on_main(self, fn, *args, timeout: float = 10):
        from kivy.clock import Clock
        done = threading.Event()
        box = {}

        def call(dt):
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # reported in the scenario thread
                box["error"] = exc
            done.set()

        Clock.schedule_once(call)
        if not done.wait(timeout):
            raise TimeoutError(f"UI thread did not run {fn}")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def screen(self) -> str:
        return self.on_main(lambda: self.app.stage.current_name)

    def watch_screens(self) -> None:
        """Log every screen the app shows (also ones too short-lived to be polled)."""
        def wrap():
            stage = self.app.stage
            show = stage.show

            def logged(name, **kwargs):
                self.shown.append((time.monotonic(), name))
                return show(name, **kwargs)

            stage.show = logged
        self.on_main(wrap)

    def shown_since(self, since: float) -> list[str]:
        return [name for when, name in list(self.shown) if when >= since]

    def wait_screen(self, name: str, timeout: float = 60) -> float:
        """Seconds until ``name`` is shown; the timeout is a hang guard, never a speed limit
        (a loaded machine draws slowly)."""
        start = time.monotonic()
        self.wait_any([name], timeout)
        return time.monotonic() - start

    def wait_any(self, names: list[str], timeout: float = 60) -> str:
        """The first of ``names`` shown (e.g. a thank-you or the out-of-order screen)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if (shown := self.screen()) in names:
                return shown
            time.sleep(0.02)
        raise AssertionError(f"none of {names} shown within {timeout}s "
                             f"(showing {self.screen()!r})")

    # -- the outside world ------------------------------------------------------------------------

    def votes(self) -> list[dict]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(
                "SELECT id, seq, level, source, status, reasons FROM votes ORDER BY seq")]
        finally:
            conn.close()

    def window_id(self) -> int:
        if self.window is None:
            info = self.on_main(lambda: self.app_window().get_window_info())
            self.window = int(info.window)
        return self.window

    @staticmethod
    def app_window():
        from kivy.core.window import Window
        return Window

    def xy(self, widget_rect: list[float]) -> tuple[int, int]:
        """Centre of a widget rect (Kivy coordinates, y up) in window pixels (y down)."""
        x, y, w, h = widget_rect
        height = self.on_main(lambda: self.app_window().height)
        return int(x + w / 2), int(height - (y + h / 2))

    def click(self, rect) -> None:
        x, y = self.xy(rect)
        xdotool("mousemove", "--window", str(self.window_id()), str(x), str(y), "click", "1")

    def key(self, name: str) -> None:
        # No window manager under Xvfb: the focus follows the pointer, so put it on the window.
        xdotool("mousemove", "--window", str(self.window_id()), "5", "5")
        xdotool("key", "--clearmodifiers", name)

    def gpio_press(self, level: int) -> None:
        pin = self.config.gpio.button_pins[level - 1]
        factory = self.app.panel.factory
        factory.pin(pin).drive_low()
        time.sleep(0.08)
        factory.pin(pin).drive_high()

    def shot(self, name: str) -> str:
        time.sleep(SETTLE_S)
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        subprocess.run(["import", "-window", str(self.window_id()), str(path)], check=True,
                       timeout=20)
        return str(path)

    # -- what is on screen ----------------------------------------------------------------------

    def geometry(self) -> dict:
        return self.on_main(self._geometry)

    def _geometry(self) -> dict:
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.label import Label
        window = self.app_window()
        labels, buttons = [], []

        def visible(widget) -> bool:
            while widget is not None:
                if widget.opacity == 0 or getattr(widget, "disabled", False):
                    return False
                widget = widget.parent if widget.parent is not widget else None
            return True

        def rect(widget):
            x, y = widget.to_window(widget.x, widget.y)
            return [round(x, 1), round(y, 1), round(widget.width, 1), round(widget.height, 1)]

        screen = self.app.stage.current
        for widget in screen.walk(restrict=True):
            if not visible(widget):
                continue
            if isinstance(widget, ButtonBehavior):
                text = " ".join(c.text for c in widget.walk(restrict=True)
                                if isinstance(c, Label))
                buttons.append({"text": text, "rect": rect(widget)})
            elif isinstance(widget, Label) and widget.text:
                widget.texture_update()
                lines = ["".join(word.text for word in line.words)
                         for line in (widget._label._cached_lines or ())]
                labels.append({"text": widget.text, "rect": rect(widget),
                               "texture": list(widget.texture_size),
                               "font_size": widget.font_size, "lines": lines})
        return {"screen": screen.name, "window": list(window.size), "labels": labels,
                "buttons": buttons}

    def record(self, name: str, **extra) -> dict:
        entry = {"name": name, "time": time.time(), **extra}
        self.report["steps"].append(entry)
        return entry

    # -- running ------------------------------------------------------------------------------

    def run(self, scenario) -> None:
        def script():
            try:
                self.wait_screen_ready()
                scenario(self)
            except BaseException:
                self.report["errors"].append(traceback.format_exc())
            finally:
                self.report_path.write_text(json.dumps(self.report, ensure_ascii=False,
                                                       indent=1))
                self.on_main(self.app.stop)

        from kivy.clock import Clock
        Clock.schedule_once(lambda dt: threading.Thread(target=script, daemon=True).start(),
                            0.5)
        self.app.run()

    def wait_screen_ready(self) -> None:
        deadline = time.monotonic() + 15
        while not self.app._ready and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.app._ready, "no first frame"


def main() -> int:
    scenario_name, params_path, report_path = sys.argv[1:4]
    params = json.loads(Path(params_path).read_text())
    from tests.ui import scenarios
    driver = Driver(params, Path(report_path))
    driver.run(getattr(scenarios, scenario_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
