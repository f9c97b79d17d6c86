"""The real kiosk screen in a real window, watched from outside (a process of its own).

    python -m tests.steering.screen_driver FOLDER      (kiosk.toml from $KIOSK_CONFIG / KIOSK_*)

Every time the rating screen's question or the screen shown changes, a line goes to
FOLDER/seen.jsonl: ``{"screen", "question", "labels"}``. Commands are read from
FOLDER/commands (one a line, taken once): ``press N`` (a touch on level N, the same capture
path as a button), ``shot FILE`` (a screenshot of the window), ``quit``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def main(folder: Path) -> int:
    from kiosk.config import load
    from kiosk.ui.app import create_app
    from kiosk.vote import Source

    app = create_app(load(), windowed=True, size=(800, 480))
    seen = folder / "seen.jsonl"
    commands = folder / "commands"

    def on_main(fn):
        from kivy.clock import Clock
        box, done = {}, threading.Event()

        def call(_dt):
            try:
                box["value"] = fn()
            finally:
                done.set()
        Clock.schedule_once(call)
        done.wait(30)
        return box.get("value")

    def watch():
        last, taken = None, 0
        while True:
            time.sleep(0.05)
            now = on_main(lambda: None if getattr(app, "stage", None) is None else (
                app.stage.current_name, app.rating.question,
                [b.label for b in app.rating.buttons]))
            if now and now != last:
                last = now
                with seen.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"screen": now[0], "question": now[1],
                                          "labels": now[2]}, ensure_ascii=False) + "\n")
            lines = commands.read_text().splitlines() if commands.exists() else []
            for line in lines[taken:]:
                verb, _sp, arg = line.partition(" ")
                if verb == "press":
                    on_main(lambda level=int(arg): app.press(level, Source.TOUCH))
                elif verb == "shot":
                    wid = on_main(lambda: app.root_window.get_window_info().window)
                    subprocess.run(["import", "-window", str(wid), arg], check=False,
                                   timeout=30)
                elif verb == "quit":
                    on_main(app.stop)
                    return
            taken = len(lines)

    threading.Thread(target=watch, daemon=True).start()
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
