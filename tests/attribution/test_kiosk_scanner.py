"""At the counter, end to end: a real `kiosk run` window under Xvfb, a scanner, the real sync
agent and the real district server (docs/attribution.md).

- A serial scanner over a real pty pair, and the window path (xdotool typing at scanner
  speed, ending in Enter): badge scan → the officer on duty shown (name, photo) → the vote
  carries the officer → `kiosk sync` → the server has the vote and the duty period.
- Forged, revoked, truncated and garbage scans: no vote, a clear line on screen, nobody
  signed in. A dossier scan binds the next vote; the same dossier again is refused kindly.

The child process (``python -m tests.attribution.test_kiosk_scanner PARAMS REPORT``) runs
`kiosk run --windowed` itself and plays the script in a thread, like the outside world:
it writes to the pty's master end or types with xdotool, and reads what the screen shows.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import REPO, clean_env, require

KEY = ed25519.Ed25519PrivateKey.generate()
FORGER = ed25519.Ed25519PrivateKey.generate()
RECEIPT = "000.00.00.H00-241201-0001"
NHUNG = "Nguyễn Thị Hồng Nhung"


# -- the child: `kiosk run` and the script ---------------------------------------------------

class Counter:
    """The outside world, seen from the child: the scanner, the keys, what the screen shows."""

    def __init__(self, app, params: dict):
        self.app, self.params = app, params
        self.db = Path(params["db"])
        self.seen: list[dict] = []

    def on_main(self, fn, timeout: float = 20):
        from kivy.clock import Clock
        done, box = threading.Event(), {}

        def call(dt):
            try:
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc
            done.set()
        Clock.schedule_once(call)
        if not done.wait(timeout):
            raise TimeoutError("the UI thread did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def screen(self) -> dict:
        def read():
            rating = self.app.rating
            return {"screen": self.app.stage.current_name, "notice": rating.ids.notice.text,
                    "header": rating.ids.counter.text, "photo": rating.ids.photo.shown}
        return self.on_main(read)

    def wait(self, what: str, test, timeout: float = 60) -> dict:
        """The screen once ``test(screen)`` holds (the timeout guards against a hang)."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if test(shown):
                self.seen.append({"step": what, **shown, "votes": len(self.votes())})
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout} s: {shown}")
            time.sleep(0.05)

    def votes(self) -> list[dict]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(
                "SELECT level, officer, counter, dossier_code, flags FROM votes ORDER BY seq")]
        finally:
            conn.close()

    # the scanner

    def scan(self, text: str) -> None:
        if self.params["scanner"] == "serial":
            os.write(self.params["master"], text.encode("utf-8") + b"\r\n")
        else:
            self.focus()
            # a scanner types a character every few milliseconds, then Enter
            self.xdotool("type", "--delay", "8", text)
            self.xdotool("key", "Return")

    def key(self, name: str) -> None:
        self.focus()
        self.xdotool("key", name)

    def focus(self) -> None:
        from kivy.core.window import Window
        window = self.on_main(lambda: Window.get_window_info().window)
        self.xdotool("mousemove", "--window", str(window), "5", "300")

    @staticmethod
    def xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, timeout=30)

    # touch (the mouse is the finger)

    def click(self, widget_of) -> None:
        """A real click on the centre of the widget ``widget_of(app)`` gives."""
        from kivy.core.window import Window

        def where():
            widget = widget_of(self.app)
            x, y = widget.to_window(widget.center_x, widget.center_y)
            return Window.get_window_info().window, int(x), int(Window.height - y)
        window, x, y = self.on_main(where)
        self.xdotool("mousemove", "--window", str(window), str(x), str(y), "click", "1")

    def staff_screen(self, pin: str) -> None:
        """The technician's gesture (3 s in the top-left corner), then the staff PIN."""
        from kivy.core.window import Window
        window = self.on_main(lambda: Window.get_window_info().window)
        self.xdotool("mousemove", "--window", str(window), "8", "8", "mousedown", "1")
        time.sleep(3.5)
        self.xdotool("mouseup", "1")
        self.wait("technician pad", lambda s: s["screen"] == "technician")
        for key in [*pin, "ok"]:
            self.click(lambda app, key=key: next(
                b for b in app.technician.ids.pad.children if b.key == key))
        self.wait("staff screen", lambda s: s["screen"] == "staff")


def script(counter: Counter, report: dict) -> None:
    """The counter's morning: refused scans, the officer signs in, two citizens, a dossier
    scanned twice, the officer signs out."""
    if counter.params["scanner"] == "serial":
        reader = counter.app.counter_view.reader
        assert reader is not None and reader.connected.wait(30), "the serial scanner is not open"
    counter.wait("rating shown", lambda s: s["screen"] == "rating")
    for name, text in counter.params["refused"]:
        counter.on_main(lambda: setattr(counter.app.rating, "notice", ""))
        counter.scan(text)
        counter.wait(name, lambda s: s["notice"] != "")
    counter.scan(counter.params["badge"])
    counter.wait("signed in", lambda s: NHUNG in s["header"] and s["photo"])
    counter.key("3")
    counter.wait("first vote", lambda s: len(counter.votes()) == 1)
    counter.wait("back to rating", lambda s: s["screen"] == "rating")
    counter.scan(RECEIPT)
    counter.wait("dossier ready", lambda s: RECEIPT in s["notice"])
    counter.key("2")
    counter.wait("dossier rated", lambda s: len(counter.votes()) == 2)
    counter.wait("back again", lambda s: s["screen"] == "rating")
    counter.scan(RECEIPT.lower())  # the same receipt again (a scanner set to lower case)
    counter.wait("dossier refused", lambda s: "đã được đánh giá" in s["notice"])
    counter.scan(counter.params["badge"])
    counter.wait("signed out", lambda s: NHUNG not in s["header"] and not s["photo"])
    report["votes"] = counter.votes()


def staff_and_window(counter: Counter, report: dict) -> None:
    """No scanner: the staff screen signs the officer in and out and opens the voting window;
    a press before that is stored but not counted, and the screen says it is waiting."""
    waiting = "Xin Ông/Bà chờ: việc đánh giá mở khi cán bộ giải quyết xong hồ sơ."
    counter.wait("waiting at start", lambda s: s["screen"] == "rating" and s["notice"] == waiting)
    counter.key("3")
    counter.wait("press outside the window", lambda s: len(counter.votes()) == 1)
    counter.wait("still waiting", lambda s: s["screen"] == "rating" and s["notice"] == waiting)
    counter.staff_screen(counter.params["staff_pin"])
    report["roster"] = counter.on_main(lambda: sorted(
        c.code for c in counter.app.staff.ids.officers.children))
    counter.click(lambda app: next(c for c in app.staff.ids.officers.children
                                   if c.code == "CB-1"))
    counter.wait("signed in", lambda s: s["screen"] == "rating" and NHUNG in s["header"])
    counter.staff_screen(counter.params["staff_pin"])
    counter.click(lambda app: app.staff.ids.finished)
    counter.wait("rate now", lambda s: s["notice"].startswith("Mời Ông/Bà đánh giá"))
    counter.key("2")
    counter.wait("counted vote", lambda s: len(counter.votes()) == 2 and s["screen"] == "thanks")
    counter.wait("back, waiting", lambda s: s["screen"] == "rating" and s["notice"] == waiting)
    counter.staff_screen(counter.params["staff_pin"])
    counter.click(lambda app: app.staff.ids.sign_out)
    counter.wait("signed out", lambda s: s["screen"] == "rating" and NHUNG not in s["header"])
    report["votes"] = counter.votes()


SCRIPTS = {"morning": script, "staff_and_window": staff_and_window}


def child(params_path: str, report_path: str) -> int:
    params = json.loads(Path(params_path).read_text())
    config = json.loads(Path(params["config"]).read_text())
    if params["scanner"] == "serial":  # a pty pair: the kiosk reads the slave end
        master, slave = os.openpty()
        params["master"] = master
        config["attribution"]["scanner_device"] = os.ttyname(slave)
    config_path = Path(params["config"]).with_suffix(".toml")
    config_path.write_text(toml_text(config))
    report: dict = {"errors": []}

    def play():
        counter = None
        try:
            from kivy.app import App
            deadline = time.monotonic() + 60
            while not getattr(App.get_running_app(), "_ready", False) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            counter = Counter(App.get_running_app(), params)
            SCRIPTS[params.get("script", "morning")](counter, report)
        except BaseException:
            report["errors"].append(traceback.format_exc())
        finally:
            report["seen"] = counter.seen if counter else []
            Path(report_path).write_text(json.dumps(report, ensure_ascii=False, indent=1))
            from kivy.app import App
            from kivy.clock import Clock
            app = App.get_running_app()
            if app is not None:
                Clock.schedule_once(lambda dt: app.stop())

    # `import kivy` happens in kiosk run: the script waits for the app it makes
    threading.Thread(target=lambda: (_wait_for_kivy(), play()), daemon=True).start()
    from kiosk.cli import main
    return main(["--config", str(config_path), "run", "--windowed"])


def toml_text(config: dict) -> str:
    """A kiosk.toml of sections of plain values (JSON's strings are TOML's basic strings)."""
    return "".join(f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n"
                                          for key, value in values.items())
                   for name, values in config.items())


def _wait_for_kivy() -> None:
    while "kivy.app" not in sys.modules or "kivy.clock" not in sys.modules:
        time.sleep(0.05)
    time.sleep(0.5)


# -- the tests -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def display():
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (Debian: xvfb)")
    require(shutil.which("xdotool") is not None, "xdotool is not installed")
    number = next(n for n in range(420, 700) if not Path(f"/tmp/.X{n}-lock").exists()
                  and not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def photo_png(path: Path) -> Path:
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 160)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def counter_terminal(system, tmp_path: Path, scanner: str) -> dict:
    """kiosk.toml of terminal a-1 (unit p-a) with the badge key and the scanner."""
    return {
        "terminal": {"id": "a-1", "unit": "p-a", "name": "Phường Bạch Mai", "language": "vi"},
        "storage": {"path": str(tmp_path / "votes.db")},
        "server": {"url": system.url, "token": system.tokens["a-1"]},
        "gpio": {"pin_factory": "mock"},
        "rules": {"lockout_s": 1.0},
        "followup": {"enabled": False},
        "ui": {"counter": "Quầy 2"},
        "attribution": {"badge_public_key": public_key_text(KEY), "scanner": scanner,
                        # a loaded test machine may draw a frame between two typed keys
                        "keystroke_gap_ms": 400},
    }


def kiosk(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = clean_env()
    env["KIOSK_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def run_counter(display, tmp_path: Path, config: dict, params: dict) -> dict:
    """The kiosk.toml, `kiosk sync --once` (the roster), the window and its script."""
    toml = tmp_path / "kiosk.toml"
    toml.write_text(toml_text(config))
    assert kiosk(toml, "sync", "--once").returncode == 0  # the unit's roster, photo too
    (tmp_path / "child.json").write_text(json.dumps(config))
    params = {**params, "config": str(tmp_path / "child.json"), "db": config["storage"]["path"],
              "scanner": config["attribution"]["scanner"]}
    (tmp_path / "params.json").write_text(json.dumps(params, ensure_ascii=False))
    env = clean_env("KIVY_")
    env.update(DISPLAY=display, PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"))
    with (tmp_path / "child.log").open("w") as log:
        subprocess.run([sys.executable, "-m", "tests.attribution.test_kiosk_scanner",
                        str(tmp_path / "params.json"), str(tmp_path / "report.json")],
                       cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    tail = (tmp_path / "child.log").read_text(errors="replace")[-3000:]
    assert (tmp_path / "report.json").exists(), tail
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["errors"], "\n".join(report["errors"]) + tail
    return report


def refused_scans() -> list[tuple[str, str]]:
    good = sign(KEY, "CB-1", 1)
    return [("garbage", "hello world!"), ("forged", sign(FORGER, "CB-1", 1)),
            ("revoked", sign(KEY, "CB-2", 1)), ("truncated", good[:-20])]


EXPECTED_LINES = {
    "garbage": "Không đọc được mã. Vui lòng quét lại.",
    "forged": "Thẻ này không do quận/huyện cấp nên bị từ chối.",
    "revoked": "Thẻ này không còn hiệu lực. Vui lòng đề nghị văn phòng cấp thẻ mới.",
    "truncated": "Không đọc được mã. Vui lòng quét lại.",
}


@pytest.fixture
def officers(system, tmp_path):
    """CB-1 (with a photo) serves in p-a; CB-2's badge is revoked (disabled)."""
    from district.officers import add_officer, disable_officer
    with system.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM officers WHERE code IN ('CB-1', 'CB-2')"))
    add_officer(system.engine, "CB-1", NHUNG, "p-a", photo_png(tmp_path / "nhung.png"))
    add_officer(system.engine, "CB-2", "Ngô Văn Nam", "p-a")
    disable_officer(system.engine, "CB-2")


def server_rows(system, table: str) -> list:
    with system.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT * FROM {table} WHERE terminal_id = 'a-1'")).all()


@pytest.mark.parametrize("system", ["sqlite"], indirect=True)
@pytest.mark.parametrize("scanner", ["serial", "none"], ids=["pty-serial", "xdotool-window"])
def test_a_badge_scan_signs_the_officer_in_and_the_votes_carry_them_to_the_server(
        display, system, officers, tmp_path, scanner):
    with system.engine.begin() as conn:  # each run starts with the terminal's history empty
        for table in ("dossier_ratings", "votes", "duty_periods"):
            conn.execute(sa.text(f"DELETE FROM {table}" + ("" if table == "dossier_ratings"
                                                         else " WHERE terminal_id = 'a-1'")))
    config = counter_terminal(system, tmp_path, scanner)
    report = run_counter(display, tmp_path, config, {"refused": refused_scans(),
                                                     "badge": sign(KEY, "CB-1", 1)})
    seen = {step["step"]: step for step in report["seen"]}
    # every refused scan: its own clear line, in Vietnamese; no vote, nobody on duty
    for name, line in EXPECTED_LINES.items():
        assert seen[name]["notice"] == line
        assert seen[name]["votes"] == 0 and NHUNG not in seen[name]["header"]
    assert seen["signed in"]["header"] == f"Quầy 2 · Cán bộ phục vụ: {NHUNG}"
    assert seen["dossier ready"]["notice"] == f"Hồ sơ {RECEIPT} đã sẵn sàng để đánh giá."
    assert seen["dossier refused"]["votes"] == 2  # the same dossier again: no third vote
    votes = report["votes"]
    assert [(v["level"], v["officer"], v["counter"], v["dossier_code"]) for v in votes] == [
        (3, "CB-1", "Quầy 2", None), (2, "CB-1", "Quầy 2", RECEIPT)]
    # the real sync agent takes the votes and the duty period to the server
    toml = tmp_path / "kiosk.toml"
    synced = kiosk(toml, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    stored = sorted((v.level, v.officer, v.dossier_code) for v in server_rows(system, "votes"))
    assert stored == [(2, "CB-1", RECEIPT), (3, "CB-1", None)]
    periods = server_rows(system, "duty_periods")
    assert [(p.officer, p.counter, p.end_reason) for p in periods] == [
        ("CB-1", "Quầy 2", "badge")]
    assert periods[0].ended_at is not None


@pytest.mark.parametrize("system", ["sqlite"], indirect=True)
def test_the_staff_screen_signs_in_and_out_and_opens_the_voting_window(display, system,
                                                                      officers, tmp_path):
    with system.engine.begin() as conn:
        for table in ("votes", "duty_periods"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE terminal_id = 'a-1'"))
    config = counter_terminal(system, tmp_path, "none")
    config["technician"] = {"pin": "2468"}
    config["attribution"].update(staff_pin="1357", voting_window_s=60)
    report = run_counter(display, tmp_path, config, {"script": "staff_and_window",
                                                     "staff_pin": "1357"})
    assert report["roster"] == ["CB-1"]  # CB-2 is disabled: not offered
    assert [(v["level"], v["officer"], v["flags"]) for v in report["votes"]] == [
        (3, None, "suspected_misuse;outside_window"), (2, "CB-1", "")]
    synced = kiosk(tmp_path / "kiosk.toml", "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    stored = sorted((v.level, v.officer, v.flags) for v in server_rows(system, "votes"))
    assert stored == [(2, "CB-1", ""), (3, None, "suspected_misuse;outside_window")]
    periods = server_rows(system, "duty_periods")
    assert [(p.officer, p.end_reason) for p in periods] == [("CB-1", "staff_screen")]


def public_key_text(key) -> str:
    from district.badges import public_key_text as text
    return text(key)


def sign(key, code: str, issue: int) -> str:
    from district.badges import sign as signed
    return signed(key, code, issue)


if __name__ == "__main__":
    sys.exit(child(sys.argv[1], sys.argv[2]))
