"""The Kivy app: wires the capture path and the inputs to the screens.

Everything the citizen sees follows from the capture listener's calls, which arrive on the
capture thread and are moved to the UI thread with ``Clock.schedule_once`` (the interrupt clock
wakes the loop at once, so the thank-you is drawn in the next frame). Screens only display.
"""

from __future__ import annotations

import logging
import socket
import time
from functools import partial
from pathlib import Path

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty

from kiosk import __version__
from kiosk.capture import Capture
from kiosk.config import KioskConfig
from kiosk.hardware.keyboard import KeyMap
from kiosk.i18n import translation
from kiosk.rules import ButtonEvent, Decision, Edge, Outcome
from kiosk.store import StorageError, VoteStore
from kiosk.ui.faces import mood
from kiosk.ui.followup import FollowupScreen
from kiosk.ui.idle import TRIM_AFTER_S, IdleWait, release_memory
from kiosk.ui.notify import Notifier
from kiosk.ui.onduty import CounterView, OnDutyPhoto  # noqa: F401 (OnDutyPhoto: rating.kv)
from kiosk.ui.outoforder import OutOfOrderScreen
from kiosk.ui.rating import RatingScreen
from kiosk.ui.stage import Stage
from kiosk.ui.technician import TechnicianScreen
from kiosk.ui.thanks import ThanksScreen
from kiosk.ui.theme import THEMES, level_colour
from kiosk.ui.typescale import type_scale
from kiosk.ui.words import reason_texts, storage_problem
from kiosk.voice.presence import QuestionTimer
from kiosk.voice.prompts import confirm_name, followup_name, question_name
from kiosk.vote import Source, Vote

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
KV_FILES = ("widgets", "rating", "thanks", "followup", "outoforder", "technician", "staff")
WATCHDOG_S = 5.0
KEY_ESCAPE, KEY_F1, KEY_F4 = 27, 282, 285
#: A press that is not a vote (technician's test from touch/keys/serial) lights this long.
TEST_FLASH_S = 0.6
#: The technician screen's values are read again this often while it is open.
STATUS_REFRESH_S = 3.0


def register_fonts() -> None:
    """Noto Sans (complete Vietnamese) as Kivy's default font, regular and bold."""
    LabelBase.register(DEFAULT_FONT, fn_regular=str(HERE / "fonts" / "NotoSans-Regular.ttf"),
                       fn_bold=str(HERE / "fonts" / "NotoSans-Bold.ttf"))


class KeepRunning(ExceptionHandler):
    """A bad event is logged, never the end of the terminal."""

    def handle_exception(self, inst):
        if isinstance(inst, (KeyboardInterrupt, SystemExit)):
            return ExceptionManager.RAISE
        log.exception("UI error (the terminal keeps running)", exc_info=inst)
        return ExceptionManager.PASS


class UiBridge:
    """The capture listener: called on the capture thread, forwards to the UI thread."""

    def __init__(self, app: KioskApp):
        self.app = app

    def vote_recorded(self, vote: Vote) -> None:
        Clock.schedule_once(lambda dt: self.app.vote_recorded(vote))

    def press_ignored(self, decision) -> None:
        pass  # nothing to show: the thank-you of the counted press is still on screen

    def followup_opened(self, vote: Vote, reasons) -> None:
        Clock.schedule_once(lambda dt: self.app.followup_opened(vote, reasons))

    def followup_closed(self, vote: Vote, decision: Decision) -> None:
        Clock.schedule_once(lambda dt: self.app.followup_closed(vote, decision))

    def storage_failed(self, error: StorageError) -> None:
        Clock.schedule_once(lambda dt: self.app.storage_failed(error))

    def storage_recovered(self) -> None:
        Clock.schedule_once(lambda dt: self.app.storage_recovered())

    def button_test(self, event: ButtonEvent) -> None:
        Clock.schedule_once(lambda dt: self.app.button_test(event))


class KioskApp(App):
    #: 1 % of the window's shorter side: every size in the .kv files is a multiple of it
    u = NumericProperty(4.8)
    landscape = BooleanProperty(True)
    #: colours (kiosk.ui.theme) and font sizes in pixels from the panel (kiosk.ui.typescale)
    theme = ObjectProperty(THEMES["standard"])
    type = ObjectProperty(type_scale(1024, 600, 7.0))
    use_kivy_settings = False

    def __init__(self, kiosk: KioskConfig, *, locked: bool = True, **kwargs):
        super().__init__(**kwargs)
        from kiosk.remote_settings import follow  # the district's settings (docs/steering.md)
        self.kiosk = kiosk = follow(self, kiosk, Clock.schedule_interval)
        self.locked = locked
        self.language = kiosk.terminal.language
        self.tr = translation("kiosk_ui", self.language).gettext
        self.labels = kiosk.scale.labels(self.language)
        self.levels = kiosk.scale.levels
        self.title = "Hài Lòng"
        self.theme = THEMES[kiosk.ui.theme]
        self.keymap = KeyMap(kiosk)
        self.notifier = Notifier()
        self.capture = Capture(
            kiosk, lambda: VoteStore(kiosk.storage.path, kiosk.terminal.id))
        self.capture.listeners.append(UiBridge(self))
        # who serves, the scanners, the staff screen (docs/attribution.md)
        self.counter_view = CounterView(self)
        self.capture.listeners.append(self.counter_view)
        self.panel = None
        self.serial_box = None
        self.chime = None
        self.voice = None  # kiosk.voice.player.Voice when a speaker is configured
        self.presence = None  # kiosk.voice.presence.Presence: a PIR says the question
        self.question_timer = QuestionTimer()
        self.storage_ok = True
        self.followup_vote: Vote | None = None
        self._ready = False
        self._test_off: dict[int, object] = {}
        self.idle_wait: IdleWait | None = None
        self._refresh = None  # the technician's live values
        self._trim = None  # kiosk.ui.idle.release_memory, once the rating screen is back

    # -- Kivy's settings panel (F1) never opens --------------------------------------------

    def open_settings(self, *args):
        return False

    def display_settings(self, settings):
        return False

    # -- building ----------------------------------------------------------------------------

    def build(self):
        ExceptionManager.add_handler(KeepRunning())
        register_fonts()
        for name in KV_FILES:
            Builder.load_file(str(HERE / f"{name}.kv"))
        self._resized(Window, Window.size)
        self.bind(type=lambda *_: self._measure_question())
        Window.bind(size=self._resized, on_request_close=self._request_close,
                    on_keyboard=self._keyboard)
        if self.locked:
            Window.show_cursor = False
        t = self.tr
        self.stage = Stage(on_long_press=self.open_technician if self.kiosk.technician.pin
                           or self.kiosk.attribution.staff_pin else None)
        self.rating = RatingScreen(labels=self.labels, question=self.kiosk.scale.question(
            self.language), place=self.kiosk.terminal.name, counter=self._counter_text(),
            when_level=lambda level: self.press(level, Source.TOUCH), theme=self.theme)
        self._measure_question()
        self.thanks = ThanksScreen(title=t("Thank you!"), when_done=self.go_home,
                                   countdown_text=lambda s: t("Back in {seconds} s")
                                   .format(seconds=s))
        self.reason_text = reason_texts(t)
        self.followup = FollowupScreen(
            buttons=self.levels, theme=self.theme, skip=t("Skip"),
            title=t("Sorry! What went wrong?"),
            when_button=lambda button: self.press(button, Source.TOUCH),
            when_skip=self.capture.skip_followup,
            countdown_text=lambda s: t("Press the button under your answer, or wait "
                                       "{seconds} s to skip").format(seconds=s))
        self.out_of_order = OutOfOrderScreen(
            title=t("The rating terminal is briefly unavailable"),
            message=t("Your opinion matters to us. Please tell the officer at the counter, "
                      "or come back a little later. Thank you!"))
        words = {"clear": t("Clear"), "ok": t("OK"), "exit": t("Exit"),
                 "enter_pin": t("Technician: enter the PIN, then OK"),
                 "wrong_pin": t("Wrong PIN, try again")}
        # Built when first opened: a citizen never sees it (its widgets and textures cost
        # memory on every terminal: bench/ui.py start).
        self.technician = None
        self._make_technician = lambda: TechnicianScreen(
            labels=self.labels, words=words, title=t("Technician"),
            test_hint=t("Button test: press a button, its light and its box turn on. "
                        "No vote is recorded."),
            check_pin=lambda pin: (bool(self.kiosk.technician.pin) and pin ==
                                   self.kiosk.technician.pin) or self.counter_view.check_pin(pin),
            when_unlocked=self.technician_unlocked, when_exit=self.close_technician)
        self.staff = self.counter_view.staff_screen()
        for screen in (self.rating, self.thanks, self.followup, self.out_of_order,
                       self.staff):
            self.stage.add_screen(screen)
        self.counter_view.show_notice(None)
        self.stage.show("rating")
        if self.kiosk.ui.sound:
            from kiosk.ui.sound import Chime
            self.chime = Chime()
        voice = self.kiosk.voice
        if voice.enabled and voice.device:  # on wherever a speaker is configured
            from kiosk.voice.player import Voice
            said = ("question", question_name(self.levels), "answered",
                    followup_name(self.levels),
                    *(confirm_name(level, self.levels) for level in range(1, self.levels + 1)))
            self.voice = Voice(device=voice.device, language=self.language,
                               volume=voice.volume, folder=voice.folder, preload=said)
        self.start_inputs()
        return self.stage

    def on_start(self):
        Window.bind(on_flip=self._first_frame)
        # Only sends a datagram: touches no widget, so the screen is not redrawn.
        Clock.schedule_interval(self.notifier.watchdog, WATCHDOG_S)
        # Idle: sleep until X input or a callback from another thread (see kiosk/ui/idle.py).
        from kivy.base import EventLoop
        self.idle_wait = IdleWait.install(Clock, Window, EventLoop.input_providers)

    def on_stop(self):
        self.notifier.stopping()
        self.stop_inputs()
        if self.voice is not None:
            self.voice.close()
        if self.idle_wait is not None:
            self.idle_wait.uninstall()
            self.idle_wait = None

    def _first_frame(self, *args):
        if not self._ready:
            self._ready = True
            Window.unbind(on_flip=self._first_frame)
            self.notifier.ready()
            log.info("first frame drawn: ready")
            Clock.schedule_once(lambda dt: release_memory(), TRIM_AFTER_S)

    def _resized(self, window, size):
        width, height = size
        self.u = min(width, height) / 100.0
        self.landscape = width >= height
        ui = self.kiosk.ui
        self.type = type_scale(width, height, ui.diagonal_in, large_text=ui.large_text)

    def _measure_question(self) -> None:
        """How many lines the question takes at its full size in this window: its box is
        made that tall, so the type scale is kept and the buttons get the rest."""
        rating = getattr(self, "rating", None)
        if rating is None:
            return
        from kivy.core.text import Label as CoreLabel
        width = Window.width - self.u * 1.5 * 2  # rating.kv's padding
        probe = CoreLabel(text=rating.question, font_size=self.type.question, bold=True,
                          text_size=(width, None), halign="center")
        probe.refresh()
        rating.question_lines = max(1, len(probe._cached_lines or ()) or 1)

    def _counter_text(self) -> str:
        ui = self.kiosk.ui
        return " · ".join(part for part in (ui.counter, self.counter_view.serving()) if part)

    # -- inputs -------------------------------------------------------------------------------

    def start_inputs(self) -> None:
        cfg = self.kiosk
        if cfg.gpio.enabled:
            try:
                from kiosk.hardware.gpio import GpioPanel
                self.panel = GpioPanel(cfg.gpio, self.capture.submit)
                now = time.monotonic_ns()
                for level in self.panel.held_levels():
                    self.capture.rules.held_at_start(level, now)
                self.capture.indicators.append(self.panel)
            except Exception:  # touch still works without the buttons
                log.exception("GPIO buttons unavailable")
                self.panel = None
        self.capture.start()
        self.counter_view.start()  # the scanner, if one is configured
        if self.voice is not None and cfg.voice.presence_pin is not None:
            self.start_presence()
        if cfg.serial.enabled:
            from kiosk.hardware.serial_box import SerialButtonBox
            self.serial_box = SerialButtonBox(cfg.serial.port, cfg.serial.baudrate,
                                              self.levels, self.capture.submit).start()

    def start_presence(self) -> None:
        """The PIR on the buttons' pin factory (gpiozero's mock pins in tests)."""
        from kiosk.hardware.gpio import make_pin_factory
        from kiosk.voice.presence import Presence

        factory = self.panel.factory if self.panel is not None else \
            make_pin_factory(self.kiosk.gpio.pin_factory)
        try:
            self.presence = Presence(self.kiosk.voice.presence_pin, factory,
                                     lambda: Clock.schedule_once(lambda dt: self.approached()))
        except Exception:  # the buttons and the voice still work without it
            log.exception("presence sensor unavailable")

    def stop_inputs(self) -> None:
        self.counter_view.stop()
        if self.presence is not None:
            self.presence.close()
        if self.serial_box is not None:
            self.serial_box.close()
        if self.panel is not None:
            self.panel.close()
        self.capture.stop()

    def press(self, level: int, source: Source) -> None:
        """Touch and keys: the same capture path as the hardware buttons."""
        self.capture.press(level, source)

    # -- lock-down -----------------------------------------------------------------------------

    def _request_close(self, *args, **kwargs):
        """Alt+F4, the window's close button, a WM_DELETE_WINDOW: ignored when locked."""
        if self.locked:
            log.info("close request ignored (locked down)")
            return True
        return False

    def _keyboard(self, window, key, scancode=None, codepoint=None, modifiers=(), *args):
        if key in (KEY_ESCAPE, KEY_F1) or (key == KEY_F4 and "alt" in (modifiers or ())):
            return True  # swallowed: no exit, no settings panel
        level = self.keymap.level_for(codepoint) if codepoint else None
        if self.counter_view.key(key, codepoint, modifiers, level):
            return True  # a scan's keys, the officer's key (a vote key may wait a moment)
        self.key_press(level)
        return True

    def key_press(self, level: int | None) -> None:
        if level is not None and self.stage.current_name in ("rating", "thanks", "followup",
                                                               "technician"):
            self.press(level, Source.KEYBOARD)

    # -- what the capture path tells us (UI thread) ----------------------------------------------

    def recorded_text(self, vote: Vote) -> str:
        return self.tr("Recorded: {level}").format(level=self.labels[vote.level - 1])

    def vote_recorded(self, vote: Vote) -> None:
        self.show_thanks(vote.level, self.recorded_text(vote))
        self.say(*self._question_first(), confirm_name(vote.level, self.levels))

    def _question_first(self) -> tuple[str, ...]:
        """The first vote after the terminal stood idle, with nobody asked yet (no presence
        sensor, or it did not see them): the question is said before the confirmation, so
        a citizen who cannot read the screen hears what the press answered. The press is
        the vote, as everywhere (docs/ui.md, "Voice")."""
        return ("question",) if self.question_timer.voted() else ()

    def approached(self) -> None:
        """The presence sensor saw someone (UI thread): the question and what each button
        means, once per citizen, only while the rating screen waits for a vote."""
        if self.stage.current_name == "rating" and self.question_timer.approached():
            self.say(question_name(self.levels))

    def say(self, *names: str) -> None:
        """A prompt, once the frame now being drawn is on the screen: the voice starts its
        player only after the thank-you frame, so it never delays it."""
        if self.voice is None:
            return
        voice = self.voice

        def flipped(*_):
            Window.unbind(on_flip=flipped)
            voice.say(*names)
        Window.bind(on_flip=flipped)
        Window.canvas.ask_update()  # a frame is drawn soon even if nothing else changed

    def followup_opened(self, vote: Vote, reasons) -> None:
        """The rules opened the question: each button now answers the reason above it."""
        self.followup_vote = vote
        self.stage.show("followup", recorded=self.recorded_text(vote),
                        seconds=self.kiosk.followup.timeout_s,
                        reasons=[(str(code), self.reason_text[code]) for code in reasons])
        self.say(*self._question_first(), followup_name(self.levels))

    def followup_closed(self, vote: Vote, decision: Decision) -> None:
        """Answered, skipped or timed out (the rules decided): always the thank-you."""
        self.followup_vote = None
        if self.stage.current_name != "followup":
            return  # out of order or the technician meanwhile: nothing to thank for here
        if decision.outcome is Outcome.ANSWER:
            self.show_thanks(vote.level, self.tr("Your answer is recorded"))
            self.say("answered")
        else:
            self.show_thanks(vote.level, self.recorded_text(vote))

    def show_thanks(self, level: int, recorded: str) -> None:
        self.stage.show("thanks", recorded=recorded, mood=mood(level, self.levels),
                        colour=level_colour(level, self.levels),
                        seconds=max(1.0, self.kiosk.rules.lockout_s))
        if self.chime is not None:
            self.chime.play()

    def storage_failed(self, error: StorageError) -> None:
        self.storage_ok = False
        if self.stage.current_name != "technician":
            self.stage.show("out_of_order", code=storage_problem(self.tr, error.kind))

    def storage_recovered(self) -> None:
        self.storage_ok = True
        if self.stage.current_name == "out_of_order":
            self.go_home()

    def go_home(self) -> None:
        if self._trim is not None:
            self._trim.cancel()
        self._trim = Clock.schedule_once(lambda dt: release_memory(), TRIM_AFTER_S)
        if self.storage_ok:
            self.stage.show("rating")
        else:
            error = self.capture.storage_error
            kind = error.kind if error is not None else "unavailable"
            self.stage.show("out_of_order", code=storage_problem(self.tr, kind))

    # -- technician ------------------------------------------------------------------------------

    def open_technician(self) -> None:
        if self.stage.current_name in ("rating", "out_of_order"):
            if self.technician is None:
                self.technician = self._make_technician()
                self.stage.add_screen(self.technician)
            self.stage.show("technician")

    def technician_unlocked(self) -> None:
        self.capture.button_test = True
        self.technician.show_status(self.status_rows())
        self._refresh = Clock.schedule_interval(
            lambda dt: self.technician.show_status(self.status_rows()), STATUS_REFRESH_S)

    def close_technician(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        self.capture.button_test = False
        for level in range(1, self.levels + 1):
            self._light(level, False)
        self.go_home()

    def button_test(self, event: ButtonEvent) -> None:
        if self.stage.current_name != "technician":
            return
        if event.edge is Edge.CLICK:
            self._light(event.level, True)
            old = self._test_off.pop(event.level, None)
            if old is not None:
                old.cancel()
            self._test_off[event.level] = Clock.schedule_once(
                partial(lambda level, dt: self._light(level, False), event.level), TEST_FLASH_S)
        else:
            self._light(event.level, event.edge is Edge.DOWN)

    def _light(self, level: int, on: bool) -> None:
        self.technician.show_press(level, on)
        if self.panel is not None:
            self.panel.light(level, on)

    def status_rows(self) -> list[tuple[str, str]]:
        t = self.tr
        cfg = self.kiosk
        rows = [(t("Terminal"), cfg.terminal.id),
                (t("Unit"), f"{cfg.terminal.name} ({cfg.terminal.unit})"),
                (t("Software version"), __version__), (t("IP address"), ip_address())]
        try:
            from kiosk.status import local_time, status_report
            report = status_report(cfg, self.language)
            server = {True: t("reachable"), False: t("not reachable"),
                      None: t("not tried yet")}[report["server_reachable"]]
            if report["server_checked_at"]:
                server = t("{state} (checked {when})").format(
                    state=server, when=local_time(report["server_checked_at"]))
            rows += [(t("Server"), server),
                     (t("Votes waiting to be sent"), str(report["votes_pending"])),
                     (t("Votes sent"), str(report["votes_synced"])),
                     (t("Last sync"), local_time(report["last_sync_at"]) or t("never")),
                     (t("Last sync problem"), report["last_sync_error"] or t("none")),
                     (t("Clock"), t("synchronised (NTP)") if report["clock_synced"]
                      else t("NOT synchronised"))]
        except StorageError as error:
            rows.append((t("Storage"), storage_problem(t, error.kind)))
        return rows


def ip_address() -> str:
    """The address this terminal would use to reach the server (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            return probe.getsockname()[0]
    except OSError:
        return "—"
