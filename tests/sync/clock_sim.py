"""Simulated kiosks whose true times are known, talking to a real ``district serve``.

A ``Boot`` is one boot of a terminal: its true epoch (this machine's clock, which is also
the server's, so the server's own clock error is 0 here), a wall clock that may be years off
(and stepped), and BOOTTIME = true time − epoch. ``Boot.post`` sends a batch like the sync
agent, optionally with a simulated transit (BOOTTIME read that long before the send), and
returns the round-trip time, the measured upper bound of the real transit."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from district import clock, db, redating
from tests.helpers import iso

NS = 10**9
HOUR_NS = 3600 * NS
ICT = dt.timezone(dt.timedelta(hours=7))


@dataclass
class Terminal:
    url: str
    engine: sa.Engine
    id: str
    unit: str
    token: str

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, body: dict) -> tuple[dict, float]:
        body = {"terminal_id": self.id, **body}
        start = time.perf_counter()
        r = httpx.post(f"{self.url}/api/v1/votes", json=body, headers=self.headers(),
                       timeout=30)
        rtt = time.perf_counter() - start
        assert r.status_code == 200, r.text
        return r.json(), rtt

    def heartbeat(self, **fields) -> None:
        body = {"terminal_id": self.id, "sent_at": iso(dt.datetime.now(dt.UTC)), **fields}
        r = httpx.post(f"{self.url}/api/v1/heartbeat", json=body, headers=self.headers(),
                       timeout=30)
        assert r.status_code == 200, r.text

    def rows(self) -> dict[str, sa.Row]:
        """vote id → its stored row, with ``reason`` (None when its time is certain)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(db.votes).where(db.votes.c.terminal_id == self.id)).all()
            reasons = redating.reasons_of(conn, self.id, [r.vote_id for r in rows])
        return {r.vote_id: Stored(r, reasons.get(r.vote_id)) for r in rows}

    def history(self) -> list[sa.Row]:
        h = redating.vote_time_history
        with self.engine.connect() as conn:
            return conn.execute(sa.select(h).where(h.c.terminal_id == self.id)
                                .order_by(h.c.pk)).all()


@dataclass
class Stored:
    row: sa.Row
    reason: str | None

    def __getattr__(self, name):
        return getattr(self.row, name)


def new_terminal(url: str, engine: sa.Engine, unit: str | None = None) -> Terminal:
    from district.fleet import register_terminal

    tid = f"t-{secrets.token_hex(4)}"
    unit = unit or f"u-{secrets.token_hex(4)}"
    return Terminal(url, engine, tid, unit, register_terminal(engine, tid, unit, tid))


@dataclass
class Boot:
    """One boot: ``uptime_s`` ago; its wall clock read ``wall_start`` at BOOTTIME 0."""

    terminal: Terminal
    uptime_s: float
    wall_start: dt.datetime | None = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    id: str = field(default_factory=lambda: f"boot-{secrets.token_hex(4)}")
    seq: int = 0
    step_ns: int = 0  # added to the wall clock from now on (a step: negative goes back)

    def __post_init__(self):
        self.epoch_ns = time.time_ns() - int(self.uptime_s * NS)

    def mono(self) -> int:
        return time.time_ns() - self.epoch_ns

    def true_time(self, mono_ns: int) -> dt.datetime:
        return clock.from_us((self.epoch_ns + mono_ns) // 1000)

    def wall(self, mono_ns: int) -> dt.datetime:
        if self.wall_start is None:  # a synchronised clock
            return self.true_time(mono_ns)
        return self.wall_start + dt.timedelta(microseconds=(mono_ns + self.step_ns) // 1000)

    def vote(self, mono_ns: int, synced: bool = False, **fields) -> dict:
        self.seq += 1
        recorded = self.true_time(mono_ns) if synced else self.wall(mono_ns)
        return {"id": str(uuid.uuid4()), "seq": self.seq, "level": 1 + self.seq % 3,
                "scale": 3, "source": "gpio", "recorded_at": iso(recorded),
                "clock_synced": synced, "boot_id": self.id, "monotonic_ns": mono_ns,
                "flags": [], "reasons": [], "counter": "Quầy 1", "officer": None,
                "dossier_code": None, **fields}

    def post(self, votes: list[dict], transit_s: float = 0.0, with_mono: bool = True,
             **envelope) -> tuple[dict, float]:
        """Send from this boot; BOOTTIME read ``transit_s`` before the send."""
        mono = self.mono() - int(transit_s * NS)
        body = {"sent_at": iso(self.wall(mono)), "boot_id": self.id, "votes": votes}
        if with_mono:
            body["monotonic_ns"] = mono
        body.update(envelope)
        return self.terminal.post(body)


def error_s(stored: Stored, boot: Boot) -> float:
    """corrected_at − true time, in seconds."""
    return (stored.corrected_at - boot.true_time(stored.monotonic_ns)).total_seconds()


def weekday_hour(moment: dt.datetime) -> tuple[int, int]:
    local = moment.astimezone(ICT)
    return local.weekday(), local.hour
