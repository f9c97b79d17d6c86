"""A vote: what one citizen said, with every clock reading needed to date it later.

Made on the terminal and never changed by the server (DESIGN.md, "A vote"). ``to_wire`` is the
JSON form the sync agent uploads and ``kiosk export`` writes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from kiosk.clock import Instant


class Source(StrEnum):
    GPIO = "gpio"
    SERIAL = "serial"
    TOUCH = "touch"
    KEYBOARD = "keyboard"
    CLI = "cli"


class Flag(StrEnum):
    TEST = "test"                          # a technician's or script's vote, not a citizen's
    SUSPECTED_MISUSE = "suspected_misuse"  # part of a burst no queue of people can make
    STUCK_BUTTON = "stuck_button"          # its button then stayed down past the stuck limit


class Reason(StrEnum):
    """Follow-up answers, mapped to the Decree 61/2018 indicators a counter device may collect."""

    WAITING_TIME = "waiting_time"          # total time against the legal limit
    TOO_MANY_TRIPS = "too_many_trips"      # number of contacts needed
    UNCLEAR_GUIDANCE = "unclear_guidance"  # number of agencies / guidance given
    OFFICER_ATTITUDE = "officer_attitude"  # the officer's attitude
    OTHER = "other"


@dataclass(frozen=True)
class Vote:
    id: str
    level: int
    scale: int
    source: Source
    recorded_at: datetime
    clock_synced: bool
    boot_id: str
    monotonic_ns: int
    seq: int | None = None  # given by the store when the row is committed
    flags: tuple[Flag, ...] = ()
    reasons: tuple[Reason, ...] = ()
    counter: str | None = None
    officer: str | None = None
    dossier_code: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.level <= self.scale:
            raise ValueError(f"level {self.level} is outside the {self.scale}-level scale")

    def to_wire(self) -> dict:
        data = asdict(self)
        data["source"] = str(self.source)
        data["recorded_at"] = iso(self.recorded_at)
        data["flags"] = [str(f) for f in self.flags]
        data["reasons"] = [str(r) for r in self.reasons]
        return data


def new_vote(level: int, scale: int, source: Source, instant: Instant, *,
             flags: tuple[Flag, ...] = (), counter: str | None = None,
             officer: str | None = None, dossier_code: str | None = None) -> Vote:
    """A vote not yet stored: the id is made here, on the terminal (exactly-once upload
    relies on the server's unique key on it)."""
    return Vote(id=str(uuid.uuid4()), level=level, scale=scale, source=source,
                recorded_at=instant.wall, clock_synced=instant.clock_synced,
                boot_id=instant.boot_id, monotonic_ns=instant.monotonic_ns,
                flags=tuple(dict.fromkeys(flags)), counter=counter or None,
                officer=officer or None, dossier_code=dossier_code or None)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, microseconds kept."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["Flag", "Reason", "Source", "Vote", "iso", "new_vote"]
