"""Capture: the one path from a button event to a durable vote, shared by every input source.

A single worker thread owns the store and the rules, so votes are committed one at a time in
the order presses happened; sources only put events on a queue and never wait. After the
commit (and only then) the pressed button's LED lights and listeners — the UI — are told.

Storage that fails (disk full, read-only card) is reported to listeners once; no vote is
acknowledged while it lasts, and the worker probes every few seconds until it works again.

Scans (badges, dossier codes) and the staff screen's sign-ins go through the same queue to
the counter's :class:`kiosk.duty.Desk`: each vote carries the officer on duty and the
dossier scanned for it, and a scan is never a vote (docs/attribution.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kiosk import clock
from kiosk.config import KioskConfig
from kiosk.duty import Desk, ScanAnswer
from kiosk.rules import FOLLOWUP_CLOSED, ButtonEvent, Decision, Edge, Outcome, VotingRules
from kiosk.store import StorageError, VoteStore
from kiosk.vote import Flag, Reason, Source, Vote, new_vote

log = logging.getLogger(__name__)
PROBE_INTERVAL_S = 2.0
_TICK = object()  # the queue wait timed out: time-based rules may fall due
DAY_END_LOOK_S = 60.0  # the end of the working day is looked for at least this often


class Indicator(Protocol):
    """Something that acknowledges a counted vote to the citizen: the buttons' LEDs."""

    def acknowledge(self, level: int, seconds: float) -> None: ...
    #: every button's light on while the follow-up is open (its buttons answer it), or off
    def offer_choices(self, on: bool) -> None: ...


class Listener(Protocol):
    """What the UI implements (every method is called on the capture thread; a listener
    may leave out the follow-up's two methods)."""

    def vote_recorded(self, vote: Vote) -> None: ...
    #: the vote is stored held and its follow-up is open: button k answers ``reasons[k-1]``
    def followup_opened(self, vote: Vote, reasons: tuple[Reason, ...]) -> None: ...
    #: answered (``decision.reason``), skipped or timed out: the thank-you follows
    def followup_closed(self, vote: Vote, decision: Decision) -> None: ...
    def press_ignored(self, decision: Decision) -> None: ...
    def storage_failed(self, error: StorageError) -> None: ...
    def storage_recovered(self) -> None: ...
    def button_test(self, event: ButtonEvent) -> None: ...
    #: a scan or the staff screen did something (a line to show); who is on duty now
    def scan_answered(self, answer: ScanAnswer, on_duty) -> None: ...
    def duty_changed(self, on_duty) -> None: ...
    #: a press with the voting window closed: stored, not counted, not thanked
    def press_outside_window(self, vote: Vote) -> None: ...


@dataclass
class Capture:
    config: KioskConfig
    store_factory: Callable[[], VoteStore]
    indicators: list[Indicator] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    #: technician's live button test: events are shown, never counted.
    button_test: bool = False

    def __post_init__(self) -> None:
        self.rules = VotingRules(self.config.rules, self.config.scale.levels,
                                 self.config.followup,
                                 window_s=self.config.attribution.voting_window_s)
        self.desk: Desk | None = None  # made with the store (capture thread)
        # (officer, until monotonic ns): who finished the service the open window is for
        self._served_by: tuple[str | None, int] | None = None
        self._next_refresh = 0.0  # when the on-duty officer's name and photo are read again
        #: the held vote whose follow-up is open (capture thread only)
        self.followup_vote: Vote | None = None
        self.events: queue.Queue[ButtonEvent | Callable[[], None] | None] = queue.Queue()
        self.store: VoteStore | None = None
        self.storage_error: StorageError | None = None
        self._last_vote_of: dict[int, str] = {}
        self._thread: threading.Thread | None = None
        self._next_probe = 0.0

    # -- the sources' side (any thread) ------------------------------------------------

    def submit(self, event: ButtonEvent) -> None:
        self.events.put(event)

    def press(self, level: int, source: Source) -> None:
        """A whole press from a source without edges (touch, keyboard, serial box)."""
        self.submit(ButtonEvent(level, Edge.CLICK, source, time.monotonic_ns()))

    def scan(self, text: str) -> None:
        """A scanned line (any reader, any thread): classified and acted on in order."""
        self.events.put(lambda: self._scan(text))

    def service_finished(self) -> None:
        """The officer's key or button: the voting window opens."""
        self.events.put(self._open_window)

    def staff_sign_in(self, code: str) -> None:
        self.events.put(lambda: self._staff(code))

    def staff_sign_out(self) -> None:
        self.events.put(lambda: self._staff(None))

    def skip_followup(self) -> None:
        """Touch's "Skip": closes the follow-up through the rules like any answer."""
        def skip() -> None:
            decision = self.rules.skip(time.monotonic_ns())
            if decision is not None:
                self._act(decision)
        self.events.put(skip)

    def add_reasons(self, vote_id: str, reasons: list[Reason]) -> None:
        self.events.put(lambda: self._store().add_reasons(vote_id, reasons))

    def release(self, vote_id: str) -> None:
        self.events.put(lambda: self._store().release(vote_id))

    # -- the worker --------------------------------------------------------------------

    def start(self) -> None:
        self._open_store()
        self.events.put(self._announce_duty)  # who is on duty since before this start
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self.events.put(None)
        if self._thread:
            self._thread.join(timeout)
        if self.store:
            self.store.close()

    def _run(self) -> None:
        while True:
            try:
                item = self.events.get(timeout=self._wait_s() if self._waiting() else None)
            except queue.Empty:
                item = _TICK
            if item is None:
                return
            try:
                self._step(item)
            except Exception:  # never let one bad event stop the terminal
                log.exception("capture: unexpected error")

    def _waiting(self) -> bool:
        return self.rules.next_deadline_ns() is not None or self.storage_error is not None \
            or (self.desk is not None and self.desk.on_duty is not None)

    def _wait_s(self) -> float:
        waits = []
        deadline = self.rules.next_deadline_ns()
        if deadline is not None:
            waits.append((deadline - time.monotonic_ns()) / 1e9)
        if self.storage_error is not None:
            waits.append(self._next_probe - time.monotonic())
        if self.desk is not None and self.desk.on_duty is not None:
            waits.append(DAY_END_LOOK_S)
        return max(0.0, min(waits))

    def _step(self, item: object) -> None:
        if item is _TICK:
            pass
        elif callable(item):
            item()
        elif isinstance(item, ButtonEvent):
            self._end_day_if_due()  # a press after day_end is nobody's on duty
            self.process(item)
        self._poll()

    def _poll(self) -> None:
        for decision in self.rules.poll(time.monotonic_ns()):
            self._act(decision)
        if self.storage_error is not None and time.monotonic() >= self._next_probe:
            self._probe()
        self._end_day_if_due()

    # -- the one path, also used synchronously by `kiosk vote` -------------------------

    def process(self, event: ButtonEvent, *, extra_flags: tuple[Flag, ...] = ()) -> Vote | None:
        """Apply the rules to one event; store a vote if it counts. Returns the stored vote."""
        if self.button_test:
            self._tell("button_test", event)
            return None
        return self._act(self.rules.handle(event), extra_flags)

    def _act(self, decision: Decision, extra_flags: tuple[Flag, ...] = ()) -> Vote | None:
        if decision.outcome is Outcome.COUNT:
            return self._record(decision, extra_flags)
        if decision.outcome is Outcome.OUTSIDE_WINDOW:
            return self._record_outside_window(decision)
        if decision.outcome in FOLLOWUP_CLOSED:
            self._close_followup(decision)
            return None
        if decision.outcome in (Outcome.STUCK, Outcome.UNSTUCK):
            self._stuck_changed(decision)
        elif decision.outcome not in (Outcome.RELEASE, Outcome.PENDING):
            log.info("press not counted: level %s from %s: %s", decision.level,
                     decision.source, decision.outcome)
        self._tell("press_ignored", decision)
        return None

    def _record(self, decision: Decision, extra_flags: tuple[Flag, ...]) -> Vote | None:
        if self.storage_error is not None:
            log.warning("press not counted: storage is failing (%s)", self.storage_error)
            return None
        vote = self._new_vote(decision, decision.flags + extra_flags, counted=True)
        held = decision.asks_followup
        try:
            stored = self._store().record(vote, held=held)
        except StorageError as error:
            if held:
                self.rules.cancel_followup()
            self._storage_failed(error)
            return None
        self._last_vote_of[decision.level] = stored.id
        if held:  # the question replaces the thank-you; every button now answers it
            self.followup_vote = stored
            self._offer_choices(True)
            self._tell("followup_opened", stored, self.rules.reasons)
            return stored
        for indicator in self.indicators:
            indicator.acknowledge(decision.level, self.config.rules.lockout_s)
        self._tell("vote_recorded", stored)
        return stored

    def _new_vote(self, decision: Decision, flags: tuple[Flag, ...], *, counted: bool) -> Vote:
        """The vote with its counter, the officer on duty (else kiosk.toml's) and, for a
        counted vote, the dossier scanned for it."""
        ui, desk = self.config.ui, self._desk()
        officer = desk.officer if desk is not None else ui.officer
        if counted:
            served, self._served_by = self._served_by, None
            if served is not None and decision.at_ns < served[1]:
                officer = served[0]  # who finished the service, whoever badged in since
        dossier = desk.take_dossier(decision.at_ns) if desk is not None and counted else None
        return new_vote(decision.level, self.config.scale.levels, decision.source, clock.now(),
                        flags=flags, counter=ui.counter, officer=officer, dossier_code=dossier)

    def _open_window(self) -> None:
        """The voting window opens (a dossier scan, the officer's key, the staff screen):
        the vote it lets in is the service of whoever is on duty now."""
        now_ns = time.monotonic_ns()
        self.rules.open_window(now_ns)
        if self.rules.window_s:
            desk = self.desk
            officer = desk.officer if desk is not None else self.config.ui.officer
            self._served_by = (officer, now_ns + int(self.rules.window_s * 1e9))

    def _record_outside_window(self, decision: Decision) -> Vote | None:
        log.info("press outside the voting window: level %s from %s stored, not counted",
                 decision.level, decision.source)
        if self.storage_error is not None:
            return None
        try:
            stored = self._store().record(self._new_vote(decision, decision.flags,
                                                         counted=False))
        except StorageError as error:
            self._storage_failed(error)
            return None
        self._tell("press_outside_window", stored)
        return stored

    # -- the counter: scans, the staff screen, the end of the day ------------------------

    def _desk(self) -> Desk | None:
        """The counter's state, on the current store (None while storage fails)."""
        try:
            store = self._store()
            if self.desk is None:
                self.desk = Desk(store, self.config)
            self.desk.log.store = store  # a store reopened after a failure
        except StorageError as error:
            self._storage_failed(error)
            return None
        return self.desk

    def _scan(self, text: str) -> None:
        desk = self._desk()
        if desk is None:
            return
        was = desk.on_duty
        instant = clock.now()
        try:
            answer = desk.scan(text, instant.wall, instant.clock_synced, time.monotonic_ns())
        except StorageError as error:
            self._storage_failed(error)
            return
        if answer.opens_window:
            self._open_window()
        self._tell("scan_answered", answer, desk.on_duty)
        if desk.on_duty != was:
            self._tell("duty_changed", desk.on_duty)

    def _staff(self, code: str | None) -> None:
        desk = self._desk()
        if desk is None:
            return
        was = desk.on_duty
        instant = clock.now()
        try:
            if code is None:
                desk.sign_out(instant.wall, "staff_screen")
            else:
                answer = desk.sign_in_from_roster(code, instant.wall, instant.clock_synced)
                self._tell("scan_answered", answer, desk.on_duty)
        except StorageError as error:
            self._storage_failed(error)
            return
        if desk.on_duty != was:
            self._tell("duty_changed", desk.on_duty)

    def _announce_duty(self) -> None:
        desk = self._desk()
        if desk is not None:
            self._end_day_if_due()
            self._tell("duty_changed", desk.on_duty)

    def _end_day_if_due(self) -> None:
        desk = self.desk
        if desk is None or desk.on_duty is None or self.storage_error is not None:
            return  # (while storage fails, the probe alone touches the card)
        try:
            if desk.end_day_if_due(clock.utc_now()):
                self._tell("duty_changed", None)
            elif self._next_refresh <= time.monotonic():  # a name or photo come late
                self._next_refresh = time.monotonic() + DAY_END_LOOK_S
                if desk.refresh():
                    self._tell("duty_changed", desk.on_duty)
        except StorageError as error:
            self._storage_failed(error)

    def _close_followup(self, decision: Decision) -> None:
        """Answered, skipped or timed out: the reason is stored (or none) and the vote
        becomes pending; then the thank-you."""
        vote, self.followup_vote = self.followup_vote, None
        self._offer_choices(False)
        if vote is None:
            return
        try:
            if decision.reason is not None:
                self._store().add_reasons(vote.id, [decision.reason])
            else:
                self._store().release(vote.id)
        except StorageError as error:
            self._storage_failed(error)
            return
        if decision.outcome is Outcome.ANSWER:
            for indicator in self.indicators:
                indicator.acknowledge(decision.level, self.config.rules.lockout_s)
        self._tell("followup_closed", vote, decision)

    def _offer_choices(self, on: bool) -> None:
        for indicator in self.indicators:
            offer = getattr(indicator, "offer_choices", None)
            if offer is not None:
                offer(on)

    def _stuck_changed(self, decision: Decision) -> None:
        log.warning("button of level %s %s", decision.level, decision.outcome)
        try:
            store = self._store()
            store.set_meta(stuck_buttons=self.rules.stuck_levels)
            last = self._last_vote_of.get(decision.level)
            if decision.outcome is Outcome.STUCK and last:
                store.flag_unsynced(last, Flag.STUCK_BUTTON)
        except StorageError as error:
            self._storage_failed(error)

    # -- storage health ----------------------------------------------------------------

    def _store(self) -> VoteStore:
        if self.store is None:
            self.store = self.store_factory()  # a StorageError here reaches the caller
        return self.store

    def _open_store(self) -> None:
        try:
            self.store = self.store_factory()
            self.store.release()  # held votes of a previous run: their follow-up is over
        except StorageError as error:
            self.store = None
            self._storage_failed(error)

    def _storage_failed(self, error: StorageError) -> None:
        log.error("storage failing: %s", error)
        self._next_probe = time.monotonic() + PROBE_INTERVAL_S
        if self.storage_error is None:
            self.storage_error = error
            self._tell("storage_failed", error)

    def _probe(self) -> None:
        """A real durable write: reopen the store and commit a small row."""
        if self.store is not None:
            self.store.close()
            self.store = None
        store = None
        try:
            store = self.store_factory()
            store.set_meta(last_storage_probe=clock.utc_now().isoformat())
        except StorageError:
            # Close at once: open files would keep a failed filesystem alive after a
            # technician's umount, and the repaired card could never be mounted afresh.
            if store is not None:
                store.close()
            self._next_probe = time.monotonic() + PROBE_INTERVAL_S
            return
        self.store = store
        if self.desk is not None:  # the counter's state reads the store reopened, not the
            self.desk.log.store = store  # closed one (the screen's roster and photo too)
        self.storage_error = None
        log.info("storage works again")
        self._tell("storage_recovered")

    def _tell(self, method: str, *args: object) -> None:
        for listener in self.listeners:
            call = getattr(listener, method, None)
            if call is None:  # e.g. a listener without the follow-up's methods
                continue
            try:
                call(*args)
            except Exception:
                log.exception("listener %r failed in %s", listener, method)
