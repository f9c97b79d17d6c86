"""The settings the district decides, on the terminal (docs/steering.md).

The sync agent learns with each heartbeat's answer which settings version the terminal should
run (``settings_version``, ``settings_etag``). When the tag differs from the one it has, it
fetches them (``GET /api/v1/settings``, If-None-Match), validates them with the terminal's own
model (``kiosk.config.KioskConfig``: its kiosk.toml with the district's keys put over it, so a
five-level scale on a three-button box is refused with the reason), and stores them beside the
vote store: ``settings.json``, written atomically (temporary file, fsync, rename, fsync of the
folder), then the same as ``settings.good.json``, the last good version. The next heartbeat
reports the version applied, or the one refused and why.

The screen takes them between citizens (``follow``, the app's hook, looks when the agent
signals it through a socket named after the vote store, ``wake_address``, and every
``FALLBACK_S`` in case a signal was missed; only while the rating screen waits and no press
is queued, else again every ``CHECK_S`` until it does): never during a vote or a follow-up,
and nothing is restarted that need not be: the question, the labels, the follow-up, the
lock-out, the misuse window and the sound are changed in place; a new number of levels or a
new language needs a new screen, so the UI restarts itself then (systemd starts it again; no
vote is in flight between citizens).

A settings file found damaged (cut, edited by hand, a bad card) is left aside: the last good
version is used and the terminal says so (log, heartbeat). Offline, the terminal keeps running
the last good settings.

This module imports neither Kivy nor requests: the agent passes its client's call, the UI its
app.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ballot import settings as district_model
from ballot.i18n import translation
from ballot.validation import validation_details
from ballot.wire import MAX_ANSWER_CHARS, MAX_ANSWERS
from kiosk.config import DEFAULT_BUTTON_PINS, DEFAULT_LED_PINS, KioskConfig

log = logging.getLogger("kiosk.steering")

SETTINGS_FILE = "settings.json"
GOOD_FILE = "settings.good.json"
UI_REQUESTS_FILE = "screen-requests.json"  # restart_ui / button_test, for the screen
JOURNAL_LINES = 100
DOCTOR_TIMEOUT_S = 120

MSG_REFUSED = "settings version {version} refused: {reason}"
MSG_DAMAGED = ("the settings file {file} is damaged ({problem}): running version {version}, "
               "the last good one")
MSG_DAMAGED_NONE = ("the settings file {file} is damaged ({problem}) and there is no good "
                    "copy: running kiosk.toml alone")


@dataclass(frozen=True)
class Stored:
    version: int
    etag: str
    settings: dict


class Refused(Exception):
    """Settings the terminal will not run; the message says why (the terminal's language)."""


# --- files ---------------------------------------------------------------------------------

def folder_of(config: KioskConfig) -> Path:
    """Beside the vote store: on the same card, under the same user."""
    return Path(config.storage.path).parent


def write_atomic(path: Path, data: bytes) -> None:
    """All or nothing, even across a power cut: the old file or the new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read(path: Path) -> Stored:
    """A stored settings file, checked: JSON, the three fields, and the tag of its settings
    (a file changed by anything but the agent no longer matches it)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    stored = Stored(int(data["version"]), str(data["etag"]), dict(data["settings"]))
    if district_model.etag(stored.settings) != stored.etag:
        raise ValueError("its content does not match its tag")
    return stored


def read_stored(folder: Path) -> tuple[Stored | None, str | None]:
    """(the settings to run, a problem to report). None, None: none were ever received."""
    path = folder / SETTINGS_FILE
    try:
        return _read(path), None
    except FileNotFoundError:
        problem = None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = str(exc) or type(exc).__name__
    try:
        good = _read(folder / GOOD_FILE)
    except FileNotFoundError:
        good = None
    except (OSError, ValueError, KeyError, TypeError):
        good = None
    if problem is None:
        return good, None
    if good is None:
        return None, MSG_DAMAGED_NONE.format(file=path, problem=problem)
    return good, MSG_DAMAGED.format(file=path, problem=problem, version=good.version)


def store(folder: Path, stored: Stored) -> None:
    data = json.dumps({"version": stored.version, "etag": stored.etag,
                       "settings": stored.settings}, ensure_ascii=False, indent=1).encode()
    write_atomic(folder / SETTINGS_FILE, data)
    write_atomic(folder / GOOD_FILE, data)


# --- the terminal's model ---------------------------------------------------------------------

def merged(local: KioskConfig, remote: Mapping[str, Mapping[str, Any]]) -> KioskConfig:
    """``local`` (its kiosk.toml) with the district's keys over it, validated whole by the
    terminal's model. Raises ValidationError."""
    data = local.model_dump(warnings=False)  # (the follow-up reasons are kept as text)
    levels = remote.get("scale", {}).get("levels", local.scale.levels)
    gpio = data["gpio"]
    # pins filled in for the old scale by default follow the new one; pins set by hand stay
    if gpio["button_pins"] == list(DEFAULT_BUTTON_PINS[:local.scale.levels]):
        gpio["button_pins"] = list(DEFAULT_BUTTON_PINS[:levels])
    if gpio["led_pins"] == list(DEFAULT_LED_PINS[:local.scale.levels]):
        gpio["led_pins"] = list(DEFAULT_LED_PINS[:levels])
    for section, values in remote.items():
        data.setdefault(section, {}).update(values)
    return KioskConfig.model_validate(data)


def accept(local: KioskConfig, answer: Mapping, language: str = "vi") -> Stored:
    """The server's ``GET /api/v1/settings`` answer, if this terminal can run it; else
    Refused with the reason."""
    t = translation("kiosk_sync", language).gettext
    try:
        parsed = district_model.SettingsAnswer.model_validate(answer)
    except ValidationError as exc:
        raise Refused(t(MSG_REFUSED).format(version=answer.get("version", "?"), reason=(
            validation_details(exc.errors(), t)))) from None
    try:
        district_model.validate(parsed.settings)
        merged(local, parsed.settings)
    except ValidationError as exc:
        raise Refused(t(MSG_REFUSED).format(version=parsed.version, reason=(
            validation_details(exc.errors(), t)))) from None
    if district_model.etag(parsed.settings) != parsed.etag:
        raise Refused(t(MSG_REFUSED).format(version=parsed.version,
                                            reason=t("its content does not match its tag")))
    return Stored(parsed.version, parsed.etag, parsed.settings)


def effective(local: KioskConfig) -> tuple[KioskConfig, Stored | None, str | None]:
    """What the terminal runs now: its kiosk.toml with the last good district settings."""
    stored, problem = read_stored(folder_of(local))
    if stored is None:
        return local, None, problem
    try:
        return merged(local, stored.settings), stored, problem
    except ValidationError as exc:  # kiosk.toml changed under them since they were accepted
        return local, None, MSG_REFUSED.format(version=stored.version,
                                               reason=validation_details(exc.errors()))


# --- the sync agent's side ------------------------------------------------------------------

@dataclass
class Follower:
    """Follows the server's settings and answers its requests, for the sync agent."""

    config: KioskConfig
    fetch: Callable[[str | None], dict | None]  # the client's settings(etag)
    language: str = "vi"
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run
    applied: Stored | None = None
    refused: tuple[int, str, str] | None = None  # version, etag, reason
    problem: str | None = None
    answers: list[dict] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        _config, self.applied, self.problem = effective(self.config)
        if self.problem:
            log.warning("%s", self.problem)

    def report(self) -> dict:
        """The heartbeat's steering fields."""
        out: dict[str, Any] = {}
        if self.applied is not None or self.refused is not None or self.problem:
            out["settings_applied"] = self.applied.version if self.applied else 0
        if self.refused is not None:
            out["settings_refused"], out["settings_refusal"] = self.refused[0], self.refused[2]
        elif self.problem:
            out["settings_refusal"] = self.problem[:2000]
        if self.answers:
            out["answers"] = self.answers[:MAX_ANSWERS]
        return out

    def after_heartbeat(self, answer: Mapping, sent: Mapping) -> None:
        """The heartbeat ``sent`` was answered with ``answer``: its answers arrived; fetch
        newer settings; take up new requests. Network errors propagate (SyncError)."""
        delivered = {a["id"] for a in sent.get("answers", [])}
        self.answers = [a for a in self.answers if a["id"] not in delivered]
        etag = answer.get("settings_etag")
        if isinstance(etag, str) and etag and etag != (self.applied and self.applied.etag) \
                and not (self.refused and self.refused[1] == etag):
            self.follow(self.applied.etag if self.applied else None)
        for request in answer.get("requests") or []:
            if isinstance(request, Mapping) and isinstance(request.get("id"), int) \
                    and request["id"] not in self.handled:
                self.take_up(request["id"], str(request.get("action")))

    def follow(self, etag: str | None) -> None:
        data = self.fetch(etag)
        if data is None:  # 304: what it has is current
            return
        try:
            stored = accept(self.config, data, self.language)
        except Refused as exc:
            self.refused = (data.get("version", 0) if isinstance(data.get("version"), int)
                            else 0, str(data.get("etag", "")), str(exc)[:2000])
            log.warning("%s", exc)
            return
        store(folder_of(self.config), stored)
        signal_screen(folder_of(self.config))
        self.applied, self.refused, self.problem = stored, None, None
        log.info("settings version %d stored; the screen takes it between citizens",
                 stored.version)

    def take_up(self, request_id: int, action: str) -> None:
        self.handled.add(request_id)
        if action == "doctor":
            self.answers.append({"id": request_id, "ok": True, "text": self.doctor_report()})
        elif action in ("restart_ui", "button_test"):
            ask_screen(folder_of(self.config), request_id, action)
            self.answers.append({"id": request_id, "ok": True,
                                 "text": f"{action}: passed to the screen"})
        else:
            self.answers.append({"id": request_id, "ok": False,
                                 "text": f"unknown request {action!r}"})

    def doctor_report(self) -> str:
        """``kiosk doctor --json`` and the journal's last lines, as one JSON text."""
        report: dict[str, Any] = {}
        try:
            done = self.run([sys.executable, "-m", "kiosk.cli", "doctor", "--json"],
                            capture_output=True, text=True, timeout=DOCTOR_TIMEOUT_S,
                            env=os.environ | {"KIOSK_LANG": self.language})
            report["doctor"] = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            report["doctor"] = {"ok": False, "error": str(exc)}
        try:
            done = self.run(["journalctl", "-u", "kiosk", "-u", "kiosk-sync", "-n",
                             str(JOURNAL_LINES), "--no-pager", "-o", "short-iso"],
                            capture_output=True, text=True, timeout=30)
            report["journal"] = (done.stdout or done.stderr).splitlines()[-JOURNAL_LINES:]
        except (OSError, subprocess.SubprocessError) as exc:
            report["journal"] = [f"journal not available: {exc}"]
        # What a heartbeat may carry (a longer answer would be refused with the whole
        # heartbeat, every time): the oldest journal lines go first; JSON stays whole.
        text = json.dumps(report, ensure_ascii=False)
        while len(text) > MAX_ANSWER_CHARS and report["journal"]:
            report["journal"] = report["journal"][len(report["journal"]) // 2 + 1:]
            text = json.dumps(report, ensure_ascii=False)
        return text if len(text) <= MAX_ANSWER_CHARS else json.dumps(
            {"doctor": {"ok": False, "error": "the report is too long to send"},
             "journal": []})


def ask_screen(folder: Path, request_id: int, action: str) -> None:
    """Leave a request for the screen (it looks between citizens)."""
    path = folder / UI_REQUESTS_FILE
    try:
        pending = json.loads(path.read_text(encoding="utf-8"))
        pending = pending if isinstance(pending, list) else []
    except (OSError, ValueError):
        pending = []
    pending.append({"id": request_id, "action": action})
    write_atomic(path, json.dumps(pending[-10:]).encode())
    signal_screen(folder)


def wake_address(folder: Path) -> bytes:
    """Where the screen listens for the agent: a Unix datagram socket in Linux's abstract
    namespace, named after the vote store's folder. No file: nothing is held open on the
    card, so a technician can still unmount a failing one (``Capture._probe`` closes its
    files for that reason), and two terminals on one machine (tests, ``make run``) never
    hear each other."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]
    return f"\0hailong-screen-wake-{digest}".encode()


def signal_screen(folder: Path) -> None:
    """Tell a running screen that the agent stored something for it (its listener wakes);
    nothing when no screen listens. Never blocks."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(b"!", wake_address(folder))
        except OSError:  # no screen listens (ECONNREFUSED), or it has been told (EAGAIN)
            pass


def listen(folder: Path, woken: Callable[[], None]) -> bool:
    """Call ``woken`` (in a thread of its own, blocked in recv(2) meanwhile: no wake-up of
    the screen's thread) each time the agent signals; False when another screen already
    listens for this store (the caller then looks every ``CHECK_S``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(wake_address(folder))
    except OSError as exc:
        sock.close()
        log.warning("no signal from the agent (%s): the screen looks every %g s", exc, CHECK_S)
        return False

    def wait() -> None:
        while True:
            try:
                sock.recv(512)
            except OSError:
                return
            woken()

    threading.Thread(target=wait, name="settings-signal", daemon=True).start()
    return True


# --- the screen's side ------------------------------------------------------------------------

@dataclass
class ScreenFollower:
    """What the screen last applied, and how to apply newer settings to a running app."""

    local: KioskConfig
    applied: Stored | None = None
    seen: tuple | None = None
    tick: tuple = ()  # the Clock's callbacks (it keeps only weak references)

    def check(self) -> tuple[KioskConfig, list[str]] | None:
        """(the config to run, what changed) when the stored settings changed since the
        last look; a ``stat`` of the files when nothing did."""
        folder = folder_of(self.local)
        seen = tuple(_stamp(folder / name) for name in (SETTINGS_FILE, GOOD_FILE))
        if seen == self.seen:
            return None
        self.seen = seen
        config, stored, problem = effective(self.local)
        if problem:
            log.warning("%s", problem)
        if (stored and stored.etag) == (self.applied and self.applied.etag):
            return None
        self.applied = stored
        return config, [f"{s}.{k}" for s, values in (stored.settings if stored else {}).items()
                        for k in values]

    def screen_requests(self) -> list[dict]:
        """Requests left by the agent (restart_ui, button_test), taken once."""
        path = folder_of(self.local) / UI_REQUESTS_FILE
        try:
            pending = json.loads(path.read_text(encoding="utf-8"))
            path.unlink()
        except (OSError, ValueError):
            return []
        return [p for p in pending if isinstance(p, dict)] if isinstance(pending, list) else []


def _stamp(path: Path) -> tuple | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def needs_new_screen(old: KioskConfig, new: KioskConfig) -> bool:
    """A new number of levels or a new language: the screens are built for them; the voice
    is set up at start, with its volume."""
    def voice(config: KioskConfig) -> tuple | None:  # (no speaker: nothing to set up)
        return (config.voice.enabled, config.voice.volume) if config.voice.device else None

    return (old.scale.levels, old.terminal.language, voice(old)) != (
        new.scale.levels, new.terminal.language, voice(new))


CHECK_S = 2.0  # how often the screen looks while a signal waits for the citizen to finish
FALLBACK_S = 60.0  # how often it looks anyway (a signal lost, an agent without one)
SIGNAL_DELAY_S = 0.05  # from the agent's signal to the look (the UI thread's next frame)


def follow(app, local: KioskConfig, schedule: Callable[[Callable, float], object]
           ) -> KioskConfig:
    """The hook of the app (``KioskApp.__init__``): the config to start with (kiosk.toml
    with the last good district settings), and a look between citizens whenever the agent
    signals that it stored something, else every ``FALLBACK_S`` (``schedule`` is Kivy's
    ``Clock.schedule_interval``, safe from any thread; a callback returning False ends its
    interval). Without the signal, a look every ``CHECK_S`` as before."""
    config, stored, problem = effective(local)
    if problem:
        log.warning("%s", problem)
    follower = ScreenFollower(local, applied=stored)
    follower.seen = tuple(_stamp(folder_of(local) / n) for n in (SETTINGS_FILE, GOOD_FILE))
    app._steering = follower

    def tick(_dt) -> None:  # (returning False would end Kivy's interval)
        between_citizens(app)

    def look_now(_dt) -> bool:  # once, on the UI thread, soon after the agent's signal
        if not is_between_citizens(app):
            schedule(look_later, CHECK_S)
        else:
            between_citizens(app)
        return False

    def look_later(_dt) -> bool:  # while a citizen is served: until the screen is free
        if not is_between_citizens(app):
            return True
        between_citizens(app)
        return False

    # Kivy's Clock keeps only a weak reference to its callbacks: the follower holds them
    follower.tick = (tick, look_now, look_later)
    signalled = listen(folder_of(local), lambda: schedule(look_now, SIGNAL_DELAY_S))
    schedule(tick, FALLBACK_S if signalled else CHECK_S)
    return config


def is_between_citizens(app) -> bool:
    """The rating screen is shown, no press waits in the capture's queue, no follow-up is
    open: the next citizen has not started."""
    stage = getattr(app, "stage", None)
    capture = app.capture
    return (stage is not None and stage.current_name == "rating" and app.storage_ok
            and capture.events.empty() and not capture.rules.followup_open)


def between_citizens(app) -> bool:
    """Applies newer settings in place, or restarts the screen when they need a new one;
    opens the button test when asked. True when it left the rating screen itself."""
    follower: ScreenFollower | None = getattr(app, "_steering", None)
    if follower is None or not is_between_citizens(app):
        return False
    for request in follower.screen_requests():
        if request.get("action") == "restart_ui":
            log.info("restart of the screen asked from the district server")
            app.stop()
            return True
        if request.get("action") == "button_test":
            log.info("button test asked from the district server")
            app.open_technician()  # (built on first use: the screen may not exist yet)
            if app.technician is None:
                return False
            app.technician.unlocked = True
            app.technician_unlocked()
            return True
    found = follower.check()
    if found is None:
        return False
    config, keys = found
    if needs_new_screen(app.kiosk, config):
        log.info("settings need a new screen (levels or language): restarting the screen")
        app.stop()
        return True
    apply_in_place(app, config)
    log.info("settings applied between citizens: %s", ", ".join(keys) or "kiosk.toml alone")
    return False


def apply_in_place(app, config: KioskConfig) -> None:
    """The question, labels, follow-up, lock-out, misuse window and sound of a running app."""
    app.kiosk = config
    app.capture.config = config
    rules = app.capture.rules
    rules.rules = config.rules
    rules.followup = config.followup
    language = config.terminal.language
    app.labels = config.scale.labels(language)
    app.rating.question = config.scale.question(language)
    for index, label in enumerate(app.labels):
        buttons = getattr(app.rating, "buttons", None)
        if buttons and index < len(buttons) and hasattr(buttons[index], "label"):
            buttons[index].label = label
    app._measure_question()
