"""Who is serving, on the rating screen (docs/attribution.md): the officer's photo (when the
server has one) beside the counter's line in the header, and the line under it that says
what a scan did. :class:`OnDutyPhoto` only shows the bytes it is given; :class:`CounterView`
is the app's side of attribution (the scanner readers, the window's scan keys, the staff
screen), a capture listener like the app's bridge."""

from __future__ import annotations

import io
import logging

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.properties import BooleanProperty
from kivy.uix.image import Image

from kiosk.i18n import N_
from kiosk.store import StorageError

log = logging.getLogger(__name__)


class OnDutyPhoto(Image):
    """Square, the header's height; takes no room without a photo."""

    shown = BooleanProperty(False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fit_mode = "contain"
        self.size_hint_x = None
        self.bind(height=self._sized, shown=self._sized)
        self._sized()

    def show(self, photo: tuple[bytes, str] | None) -> None:
        """``(bytes, "image/jpeg" | "image/png")``, or None: no photo."""
        texture = None
        if photo is not None:
            data, kind = photo
            try:
                texture = CoreImage(io.BytesIO(data), ext="png" if kind == "image/png"
                                    else "jpg").texture
            except Exception:  # a damaged photo: the name alone, never a stopped screen
                log.warning("officer's photo could not be decoded", exc_info=True)
        self.texture = texture
        self.shown = texture is not None

    def _sized(self, *_):
        self.width = self.height if self.shown else 0
        self.opacity = 1 if self.shown else 0


# -- the app's side of attribution: scans in, lines and the on-duty header out ----------------

NOTICE_S = 8.0  # how long a scan's line stays on the rating screen
KEY_ENTER, KEY_KP_ENTER = 13, 271
MSG_SERVING = N_("Serving you: {name}")
MSG_WAITING = N_("Please wait: the rating opens when the officer finishes your service.")
MSG_RATE_NOW = N_("Please rate the service you have just received.")
MSG_ON_DUTY = N_("On duty now: {name}")
MSG_NOBODY = N_("Nobody is signed in at this counter.")
MSG_STAFF_HINT = N_("Touch your name to sign in; whoever was on duty is signed out.")
MSG_NO_ROSTER = N_("No officers yet: the list comes from the district server.")


class CounterView:
    """Wires the scanner readers and the window's keys to the capture path, and the
    capture's answers (a capture listener: called on the capture thread) to the rating
    screen's line, its on-duty header and the staff screen."""

    def __init__(self, app):
        from kivy.core.window import Keyboard

        from kiosk.hardware.scanner import KeystrokeScans

        self.app = app
        self.section = section = app.kiosk.attribution
        self.tr = app.tr
        self.on_duty = None
        self.reader = None
        gap_s = section.keystroke_gap_ms / 1000
        self.window_scans = (KeystrokeScans(app.capture.scan, max_gap_s=gap_s)
                             if section.scanner == "none" else None)
        self.finished_key = Keyboard.keycodes.get(section.service_finished_key.lower()) \
            if section.service_finished_key else None
        self._held = None     # a vote key waiting to see whether a scan begins with it
        self._notice = None   # the pending return to the standing line

    # -- inputs ------------------------------------------------------------------------------

    def start(self) -> None:
        from kiosk.hardware.scanner import open_reader

        self.reader = open_reader(self.section, self.app.capture.scan)
        if self.window_scans is not None:
            from kivy.core.window import Window
            Window.bind(on_textinput=self.typed)

    def stop(self) -> None:
        if self.window_scans is not None:
            from kivy.core.window import Window
            Window.unbind(on_textinput=self.typed)
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def key(self, key: int, codepoint: str | None, modifiers, level: int | None) -> bool:
        """A window key (``on_keyboard``): True when taken here — the officer's key, the
        Enter that ends a scan, or a vote key held for a moment (a scanner types the next
        character within the gap). The characters come with ``typed``."""
        if self.finished_key is not None and key == self.finished_key:
            self.service_finished()
            return True
        scans = self.window_scans
        if scans is None:
            return False
        if key in (KEY_ENTER, KEY_KP_ENTER):
            if scans.key(None, enter=True):
                self._cancel_held()
                return True
            return False
        if level is not None:
            self._cancel_held()
            self._held = Clock.schedule_once(lambda dt: self._release(level), scans.max_gap_s)
            return True
        return False

    def typed(self, window, text: str) -> None:
        """The window's text (``on_textinput``: the characters as the keyboard layout made
        them, capitals and ``_`` included); a second quick one makes it a scan."""
        for char in text:
            if self.window_scans.key(char):
                self._cancel_held()

    def _release(self, level: int) -> None:
        self._held = None
        self.app.key_press(level)

    def _cancel_held(self) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None

    def service_finished(self) -> None:
        self.app.capture.service_finished()
        if self.section.voting_window_s:
            self.show_notice(self.tr(MSG_RATE_NOW), self.section.voting_window_s)

    # -- the capture's answers (capture thread) -------------------------------------------------

    def scan_answered(self, answer, on_duty) -> None:
        Clock.schedule_once(lambda dt: self.show_answer(answer))

    def duty_changed(self, on_duty) -> None:
        photo = None
        desk = self.app.capture.desk
        if on_duty is not None and desk is not None:
            try:
                photo = desk.log.photo(on_duty.officer)
            except StorageError:
                photo = None
        Clock.schedule_once(lambda dt: self.show_duty(on_duty, photo))

    def press_outside_window(self, vote) -> None:
        Clock.schedule_once(lambda dt: self.show_notice(self.tr(MSG_WAITING)))

    def vote_recorded(self, vote) -> None:
        Clock.schedule_once(lambda dt: self.show_notice(None))  # dossier rated, window shut

    # -- on the screen (UI thread) -----------------------------------------------------------------

    def serving(self) -> str | None:
        """The header's officer part: who is on duty, else kiosk.toml's fixed name."""
        if self.on_duty is not None:
            return self.tr(MSG_SERVING).format(name=self.on_duty.name)
        return self.app.kiosk.ui.officer or None

    def show_answer(self, answer) -> None:
        seconds = NOTICE_S
        if answer.opens_window:  # the dossier waits for its vote this long
            seconds = self.section.voting_window_s or self.section.dossier_s
        self.show_notice(answer.text(self.tr), seconds)

    def show_duty(self, on_duty, photo) -> None:
        self.on_duty = on_duty
        rating = self.app.rating
        rating.counter = self.app._counter_text()
        rating.ids.photo.show(photo)
        staff = self.app.staff
        staff.serving = self.serving_line()

    def serving_line(self) -> str:
        if self.on_duty is None:
            return self.tr(MSG_NOBODY)
        return self.tr(MSG_ON_DUTY).format(name=self.on_duty.name)

    def standing_notice(self) -> str:
        """The line when no scan speaks: with the voting window on, waiting or rate now."""
        if not self.section.voting_window_s:
            return ""
        import time

        opened = self.app.capture.rules.window_open(time.monotonic_ns())
        return self.tr(MSG_RATE_NOW if opened else MSG_WAITING)

    def show_notice(self, text: str | None, seconds: float = NOTICE_S) -> None:
        """``text`` for ``seconds``, then the standing line; None: the standing line now."""
        if self._notice is not None:
            self._notice.cancel()
            self._notice = None
        if text is None:
            self.app.rating.notice = self.standing_notice()
            return
        self.app.rating.notice = text
        self._notice = Clock.schedule_once(lambda dt: self.show_notice(None), seconds)

    # -- the staff screen ------------------------------------------------------------------------

    def check_pin(self, pin: str) -> bool:
        """The technician's pad: the staff PIN opens the staff screen instead."""
        if self.section.staff_pin and pin == self.section.staff_pin:
            self.open_staff()
        return False

    def open_staff(self) -> None:
        def read():  # on the capture thread, which owns the store
            desk = self.app.capture.desk
            try:
                roster = desk.log.roster() if desk is not None else {}
            except StorageError:
                roster = {}
            officers = sorted(((code, entry.full_name) for code, entry in roster.items()
                               if entry.active), key=lambda item: (item[1], item[0]))
            Clock.schedule_once(lambda dt: self._show_staff(officers))
        self.app.capture.events.put(read)

    def _show_staff(self, officers) -> None:
        if self.app.stage.current_name not in ("rating", "technician", "out_of_order"):
            return
        self.app.staff.hint = self.tr(MSG_STAFF_HINT if officers else MSG_NO_ROSTER)
        self.app.stage.show("staff", officers=officers, serving=self.serving_line())

    def staff_screen(self):
        """The staff screen, made once by the app."""
        from kiosk.ui.staff import StaffScreen

        t = self.tr
        return StaffScreen(
            title=t("Staff: who serves at this counter"), sign_out_text=t("Sign out"),
            finished_text=t("Service finished"), exit_text=t("Exit"),
            with_finished=bool(self.section.voting_window_s),
            when_sign_in=lambda code: self._staff_done(self.app.capture.staff_sign_in, code),
            when_sign_out=lambda: self._staff_done(self.app.capture.staff_sign_out),
            when_finished=lambda: self._staff_done(self.service_finished),
            when_exit=self.app.go_home)

    def _staff_done(self, action, *args) -> None:
        action(*args)
        self.app.go_home()
