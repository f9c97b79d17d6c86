"""Who is serving at this counter, and which dossier the next vote rates (docs/attribution.md).

No Kivy, no network: the capture thread owns a :class:`Desk` (it owns the store), hands it
every scanned line and asks it, for each vote, which officer and dossier the vote carries.

- **On duty**: a valid badge signs its officer in (whoever was on duty is signed out,
  ``next_officer``); the same badge again signs them out (``badge``); the staff screen does
  both without a scanner (``staff_screen``); at ``[attribution] day_end`` whoever is still
  on duty is signed out (``day_end``, at that very time, also when the terminal was off
  then). Every period is a row of ``duty_periods`` (the store's outbox for
  ``POST /api/v1/duty``): signing out bumps its ``version``, so an open period the agent
  already sent is sent again with its end. A restart of the screen keeps the officer on duty.
- **Dossier**: a dossier code binds the next vote within ``dossier_s``; a dossier already
  rated on this terminal is refused kindly.
- With nobody signed in, a vote carries kiosk.toml's fixed ``[ui] officer``, as before.

A scan is never a vote: :meth:`Desk.scan` answers a :class:`ScanAnswer` (a line to show).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ballot.wire import iso
from kiosk.attribution import Classifier, RosterEntry, Scan, ScanKind
from kiosk.config import KioskConfig
from kiosk.i18n import N_
from kiosk.store import VoteStore

log = logging.getLogger(__name__)

MSG_SIGNED_IN = N_("{name} is now serving at this counter.")
MSG_SIGNED_OUT = N_("{name} has signed out. Thank you!")
MSG_DOSSIER_RATED = N_("Dossier {code} has already been rated at this terminal. Thank you, "
                       "it need not be rated again.")
MSG_UNKNOWN_OFFICER = N_("This officer is not on the unit's list.")


@dataclass(frozen=True)
class OnDuty:
    period_id: str
    officer: str
    name: str  # the roster's full name, else the code
    counter: str | None
    started_at: dt.datetime


@dataclass(frozen=True)
class ScanAnswer:
    """What a scan did, for the screen: ``kind`` (a ScanKind, ``signed_in``, ``signed_out``,
    ``dossier_rated``), the line's msgid and its values. ``opens_window``: the voting
    window opens (a dossier ready to be rated)."""

    kind: str
    message: str
    params: Mapping[str, str] = field(default_factory=dict)
    opens_window: bool = False

    def text(self, gettext) -> str:
        return gettext(self.message).format(**self.params)


# -- storage: duty periods, the roster, dossiers rated here (tables of kiosk.store m002) ------

class DutyLog:
    """The attribution tables of one vote store (one instance per thread, like the store)."""

    def __init__(self, store: VoteStore):
        self.store = store

    def open_period(self) -> OnDuty | None:
        with self.store._guard():
            row = self.store.conn.execute(
                "SELECT id, officer, counter, started_at FROM duty_periods"
                " WHERE ended_at IS NULL").fetchone()
        if row is None:
            return None
        return OnDuty(row["id"], row["officer"], self.name_of(row["officer"]), row["counter"],
                      dt.datetime.fromisoformat(row["started_at"]))

    def start(self, officer: str, counter: str | None, at: dt.datetime, clock_synced: bool,
              *, ending: OnDuty | None = None, end_reason: str = "next_officer") -> OnDuty:
        """Sign ``officer`` in; ``ending`` (who was on duty) out, in the same transaction."""
        period_id = str(uuid.uuid4())
        with self.store.write() as conn:
            if ending is not None:
                self._end(conn, ending.period_id, at, end_reason)
            conn.execute("INSERT INTO duty_periods (id, officer, counter, started_at,"
                         " clock_synced) VALUES (?,?,?,?,?)",
                         (period_id, officer, counter, iso(at), int(clock_synced)))
        return OnDuty(period_id, officer, self.name_of(officer), counter, at)

    def end(self, period_id: str, at: dt.datetime, reason: str) -> None:
        with self.store.write() as conn:
            self._end(conn, period_id, at, reason)

    @staticmethod
    def _end(conn, period_id: str, at: dt.datetime, reason: str) -> None:
        # an end before the start (the clock was set back meanwhile) is the start itself
        conn.execute("UPDATE duty_periods SET ended_at = max(started_at, ?), end_reason = ?,"
                     " version = version + 1 WHERE id = ? AND ended_at IS NULL",
                     (iso(at), reason, period_id))

    # the roster (written by the sync agent, kiosk.sync.duty)

    def roster(self) -> dict[str, RosterEntry]:
        with self.store._guard():
            rows = self.store.conn.execute(
                "SELECT code, full_name, badge_issue, active FROM officers").fetchall()
        return {r["code"]: RosterEntry(r["full_name"], r["badge_issue"], bool(r["active"]))
                for r in rows}

    def name_of(self, code: str) -> str:
        known = self.roster().get(code)
        return known.full_name if known else code

    def photo(self, code: str) -> tuple[bytes, str] | None:
        with self.store._guard():
            row = self.store.conn.execute("SELECT photo, photo_type FROM officers WHERE code = ?"
                                          " AND photo IS NOT NULL", (code,)).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    def dossier_rated(self, code: str) -> bool:
        """A vote of this terminal already rates it (test votes do not)."""
        with self.store._guard():
            return self.store.conn.execute(
                "SELECT 1 FROM votes WHERE dossier_code = ? AND (';' || flags || ';')"
                " NOT LIKE '%;test;%' LIMIT 1", (code,)).fetchone() is not None


def day_end_after(started: dt.datetime, hh_mm: str) -> dt.datetime | None:
    """The first ``hh_mm`` (local time) after ``started``; None when there is no day end."""
    if not hh_mm:
        return None
    hour, minute = map(int, hh_mm.split(":"))
    local = started.astimezone()
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.UTC)


# -- the counter's state (capture thread) -----------------------------------------------------

class Desk:
    """The counter: who is on duty, the dossier waiting for its vote, what a scan means."""

    def __init__(self, store: VoteStore, config: KioskConfig):
        self.log = DutyLog(store)
        self.section = config.attribution
        self.counter = config.ui.counter or None
        self.fixed_officer = config.ui.officer or None
        self.classifier = Classifier(self.section.badge_public_key, self.section.dossier_pattern)
        self.dossier: tuple[str, int] | None = None  # (code, until monotonic ns)
        self.on_duty = self.log.open_period()
        self._photo_shown = self._has_photo()  # what the screen was last told

    # -- what a vote carries --------------------------------------------------------------

    @property
    def officer(self) -> str | None:
        return self.on_duty.officer if self.on_duty else self.fixed_officer

    def take_dossier(self, now_ns: int) -> str | None:
        """The dossier this vote rates (once), if one was scanned within ``dossier_s``."""
        bound, self.dossier = self.dossier, None
        return bound[0] if bound and now_ns < bound[1] else None

    # -- scans -----------------------------------------------------------------------------

    def scan(self, text: str, now: dt.datetime, clock_synced: bool, now_ns: int) -> ScanAnswer:
        self.classifier.roster = self.log.roster()
        scan = self.classifier.classify(text)
        if scan.kind is ScanKind.BADGE:
            return self._badge(scan, now, clock_synced)
        if scan.kind is ScanKind.DOSSIER:
            return self._dossier(scan, now_ns)
        log.info("scan refused: %s (officer %s)", scan.kind, scan.officer or "-")
        return ScanAnswer(str(scan.kind), scan.message, scan.params)

    def _badge(self, scan: Scan, now: dt.datetime, clock_synced: bool) -> ScanAnswer:
        current = self.on_duty
        if current is not None and current.officer == scan.officer:
            self.sign_out(now, "badge")
            return ScanAnswer("signed_out", MSG_SIGNED_OUT, {"name": current.name})
        on_duty = self.sign_in(scan.officer, now, clock_synced)
        return ScanAnswer("signed_in", MSG_SIGNED_IN, {"name": on_duty.name})

    def _dossier(self, scan: Scan, now_ns: int) -> ScanAnswer:
        code = scan.dossier_code
        if self.log.dossier_rated(code):
            return ScanAnswer("dossier_rated", MSG_DOSSIER_RATED, {"code": code})
        self.dossier = (code, now_ns + int(self.section.dossier_s * 1e9))
        return ScanAnswer(str(ScanKind.DOSSIER), scan.message, scan.params, opens_window=True)

    # -- signing in and out -------------------------------------------------------------------

    def sign_in(self, officer: str, now: dt.datetime, clock_synced: bool) -> OnDuty:
        """``officer`` on duty from now; whoever was is signed out (``next_officer``)."""
        self.on_duty = self.log.start(officer, self.counter, now, clock_synced,
                                      ending=self.on_duty)
        self._photo_shown = self._has_photo()
        log.info("officer %s on duty", officer)
        return self.on_duty

    def sign_out(self, now: dt.datetime, reason: str) -> None:
        if self.on_duty is not None:
            self.log.end(self.on_duty.period_id, now, reason)
            log.info("officer %s off duty (%s)", self.on_duty.officer, reason)
        self.on_duty = None

    def sign_in_from_roster(self, code: str, now: dt.datetime, clock_synced: bool
                            ) -> ScanAnswer:
        """The staff screen's choice: only an active officer of the roster."""
        known = self.log.roster().get(code)
        if known is None or not known.active:
            return ScanAnswer("unknown_officer", MSG_UNKNOWN_OFFICER)
        if self.on_duty is not None and self.on_duty.officer == code:
            return ScanAnswer("signed_in", MSG_SIGNED_IN, {"name": self.on_duty.name})
        on_duty = self.sign_in(code, now, clock_synced)
        return ScanAnswer("signed_in", MSG_SIGNED_IN, {"name": on_duty.name})

    def refresh(self) -> bool:
        """The roster came after the sign-in (the agent fetches it after its heartbeat): the
        officer's name and photo, once known, replace the code. True when they changed."""
        if self.on_duty is None:
            return False
        name = self.log.name_of(self.on_duty.officer)
        photo = self._has_photo()
        changed = (name, photo) != (self.on_duty.name, self._photo_shown)
        if name != self.on_duty.name:
            self.on_duty = replace(self.on_duty, name=name)
        self._photo_shown = photo
        return changed

    def _has_photo(self) -> bool:
        return self.on_duty is not None and self.log.photo(self.on_duty.officer) is not None

    # -- the end of the working day ------------------------------------------------------------

    def day_end(self) -> dt.datetime | None:
        if self.on_duty is None:
            return None
        return day_end_after(self.on_duty.started_at, self.section.day_end)

    def end_day_if_due(self, now: dt.datetime) -> bool:
        """Signs out whoever is on duty once the day's end has passed, at that time."""
        end = self.day_end()
        if end is None or now < end:
            return False
        self.sign_out(end, "day_end")
        return True
