"""Lock-down: the real `kiosk run` (fullscreen) ignores Escape, Alt+F4, F1 and a window-close
request, and still records votes afterwards. Keys are real X events (xdotool/XTEST); the close
request is the WM_DELETE_WINDOW client message a window manager would send."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from tests.ui.conftest import child_env
from tests.ui.xwin import send_delete_window, window_of, xdotool

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def stored(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM votes").fetchone()[0]


def test_escape_alt_f4_f1_and_close_do_not_stop_the_app(xvfb, tmp_path):
    db = tmp_path / "votes.db"
    env = child_env(xvfb)
    env.update(KIOSK_STORAGE__PATH=str(db), KIOSK_GPIO__PIN_FACTORY="mock",
               KIOSK_TERMINAL__ID="lockdown-test", KIOSK_RULES__LOCKOUT_S="0.5",
               KIOSK_CONFIG=str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    log = (tmp_path / "kiosk.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run"], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        window = None
        for _ in range(150):
            window = window_of(proc.pid, xvfb)
            if window or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert window, f"no window: {(tmp_path / 'kiosk.log').read_text()[-3000:]}"
        # SDL maps the window at its default size first and goes fullscreen a moment later;
        # on a loaded machine that moment can be seconds, so wait for it rather than sleep.
        geometry = ""
        for _ in range(100):
            geometry = xdotool("getwindowgeometry", str(window), display=xvfb)
            if "1920x1080" in geometry:
                break
            time.sleep(0.1)
        assert "1920x1080" in geometry, geometry  # fullscreen on the whole screen
        xdotool("mousemove", "200", "200", display=xvfb)  # focus follows the pointer
        for keys in (["Escape"], ["alt+F4"], ["F1"], ["Escape", "Escape"]):
            xdotool("key", *keys, display=xvfb)
            time.sleep(0.5)
            assert proc.poll() is None, f"{keys} stopped the app"
        send_delete_window(window, xvfb)
        time.sleep(1)
        assert proc.poll() is None, "a close request stopped the app"
        assert window_of(proc.pid, xvfb) == window
        xdotool("key", "3", display=xvfb)
        for _ in range(50):
            if stored(db) == 1:
                break
            time.sleep(0.1)
        assert stored(db) == 1, "the app no longer records votes"
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
        log.close()
    text = (tmp_path / "kiosk.log").read_text()
    assert "close request ignored" in text
    assert code == 0, f"SIGTERM should stop it cleanly: {code}\n{text[-2000:]}"
