"""A vote: what one citizen said, with every clock reading needed to date it later.

Made on the terminal and never changed by the server (DESIGN.md, "A vote"). ``to_wire`` is the
JSON form the sync agent uploads: the fields of ``ballot.wire.Vote``, the model the server
validates it with. The codes (``Source``, ``Flag``, ``Reason``) are ``ballot.vote``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from ballot.vote import Flag, Reason, Source
from ballot.wire import iso
from kiosk.clock import Instant


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
        """The vote as JSON: ``ballot.wire.Vote``'s fields (tests/test_vocabulary.py)."""
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


__all__ = ["Flag", "Reason", "Source", "Vote", "iso", "new_vote"]
