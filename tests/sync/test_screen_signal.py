"""The sync agent tells the screen when it stored something for it, so the screen's thread
need not look every 2 s: the real ``kiosk sync`` (its own process, a real ``district
serve`` on loopback) stores the district's new settings and signals the socket named after
the vote store; the UI's hook (``kiosk.remote_settings.follow``, on a stand-in of the app and of
Kivy's Clock that never fires the slow fallback) takes them between citizens — and only
then — and a request for the screen reaches it the same way."""

from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace

import pytest

from kiosk import remote_settings
from kiosk.config import KioskConfig
from tests.sync.sync_helpers import (
    TERMINAL_ID,
    DistrictServer,
    kiosk_environment,
    kiosk_popen,
    wait_for,
)

QUESTION = "Ông/Bà có hài lòng với Phường Bạch Mai không?"


class Clock:
    """Kivy's ``schedule_interval`` as the hook uses it (any thread may call it; a callback
    returning False ends its interval), on threads; the fallback interval is recorded and
    never fired, so whatever the screen takes, it took on the agent's signal."""

    def __init__(self):
        self.intervals: list[float] = []
        self.stopped = threading.Event()

    def schedule_interval(self, callback, interval: float):
        self.intervals.append(interval)
        if interval >= remote_settings.FALLBACK_S:
            return None

        def run():
            while not self.stopped.wait(interval):
                if callback(interval) is False:
                    return

        threading.Thread(target=run, daemon=True).start()
        return None


def app_stand_in(config: KioskConfig) -> SimpleNamespace:
    """What the hook reads and changes of a running ``KioskApp``."""
    rules = SimpleNamespace(rules=config.rules, followup=config.followup, followup_open=False)
    app = SimpleNamespace(
        kiosk=config, storage_ok=True, labels=[], stopped=threading.Event(),
        stage=SimpleNamespace(current_name="rating"),
        capture=SimpleNamespace(config=config, rules=rules, events=queue.Queue()),
        rating=SimpleNamespace(question="", buttons=[]), _measure_question=lambda: None)
    app.stop = app.stopped.set
    return app


@pytest.fixture
def district(tmp_path):
    server = DistrictServer(f"sqlite:///{tmp_path / 'district.db'}", tmp_path)
    server.register(TERMINAL_ID, unit="ward-signal")
    server.start()
    yield server
    server.stop()


def test_the_agent_signals_the_screen_which_takes_the_settings_between_citizens(
        district, tmp_path):
    env = kiosk_environment(tmp_path, url=district.url, token=district.tokens[TERMINAL_ID],
                            sync__heartbeat_interval_s="0.5")
    config = KioskConfig.model_validate({
        "terminal": {"id": TERMINAL_ID}, "storage": {"path": env["KIOSK_STORAGE__PATH"]},
        "gpio": {"pin_factory": "mock"}})
    app, clock = app_stand_in(config), Clock()
    remote_settings.follow(app, config, clock.schedule_interval)
    assert clock.intervals == [remote_settings.FALLBACK_S]  # no look every 2 s
    # nothing of the signal on the card (a FIFO held open there kept a bad card mounted)
    assert not [p for p in tmp_path.iterdir() if p.is_fifo() or p.is_socket()]

    app.stage.current_name = "thanks"  # a citizen is being thanked when the settings come
    district.cli("settings", "set", f"scale.question_vi={QUESTION}", "--terminal", TERMINAL_ID)
    agent = kiosk_popen(env, "sync", log=tmp_path / "agent.log")
    try:
        wait_for(lambda: (tmp_path / remote_settings.SETTINGS_FILE).exists(),
                 what="the agent to store the settings")
        wait_for(lambda: remote_settings.CHECK_S in clock.intervals,
                 what="the screen to hear the signal")
        time.sleep(2 * remote_settings.CHECK_S)  # two looks while the citizen is there …
        assert app.rating.question == ""            # … changed nothing
        app.stage.current_name = "rating"           # the citizen is done
        wait_for(lambda: app.rating.question == QUESTION, what="the screen to take them")
        assert app.kiosk.scale.question("vi") == QUESTION

        # a request for the screen (restart it) comes the same way
        district.cli("terminals", "restart-ui", TERMINAL_ID)
        wait_for(app.stopped.is_set, what="the screen to be asked to restart")
    finally:
        clock.stopped.set()
        agent.terminate()
        agent.wait(30)
    assert clock.intervals.count(remote_settings.FALLBACK_S) == 1


def test_a_signal_without_a_screen_is_harmless(tmp_path):
    remote_settings.signal_screen(tmp_path)  # nobody listens: nothing happens, no file
    assert not list(tmp_path.iterdir())
    woken = threading.Event()
    assert remote_settings.listen(tmp_path, woken.set)
    assert not remote_settings.listen(tmp_path, lambda: None)  # a second screen would poll
    other = tmp_path / "other"
    other.mkdir()
    remote_settings.signal_screen(other)  # another terminal's store: not ours
    assert not woken.wait(0.5)
    remote_settings.signal_screen(tmp_path)
    assert woken.wait(30)
