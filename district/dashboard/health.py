"""Fleet health: the latest heartbeat of every terminal, with faults spelled out."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district.dashboard.aggregates import in_values
from district.db import rejected_votes, terminal_health, terminals

DEFAULT_SILENT_HOURS = 24.0
CLOCK_OFFSET_FAULT_MS = 5 * 60 * 1000


def silent_hours() -> float:
    """``$DISTRICT_SILENT_HOURS`` (default 24): a terminal silent longer is a fault."""
    try:
        return float(os.environ.get("DISTRICT_SILENT_HOURS", DEFAULT_SILENT_HOURS))
    except ValueError:
        return DEFAULT_SILENT_HOURS


@dataclass
class TerminalHealth:
    id: str
    name: str
    unit_id: str
    last_heartbeat: dt.datetime | None
    backlog: int | None
    version: str | None
    clock_offset_ms: int | None
    clock_synced: bool | None
    stuck_buttons: list[int]
    rejected: int  # votes this server refused
    kiosk_rejected: int | None  # as the kiosk's last heartbeat reported
    last_error: str | None
    revoked: bool
    faults: list[str]  # msgids: "silent", "stuck button", "clock off", "backlog"

    def as_json(self) -> dict:
        return {"terminal_id": self.id, "name": self.name, "unit_id": self.unit_id,
                "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat
                else None, "backlog": self.backlog, "software_version": self.version,
                "clock_offset_ms": self.clock_offset_ms, "clock_synced": self.clock_synced,
                "stuck_buttons": self.stuck_buttons, "rejected_votes": self.rejected,
                "kiosk_rejected": self.kiosk_rejected,
                "last_error": self.last_error, "revoked": self.revoked, "faults": self.faults}


def fleet_health(conn: Connection, unit_ids: list[str] | None, now: dt.datetime,
                 silent_after_h: float | None = None) -> list[TerminalHealth]:
    silent_after = dt.timedelta(hours=silent_after_h if silent_after_h is not None
                                else silent_hours())
    h = terminal_health.c
    q = (sa.select(terminals.c.id, terminals.c.name, terminals.c.unit_id,
                   terminals.c.created_at, terminals.c.revoked_at, h.received_at, h.backlog,
                   h.software_version, h.clock_offset_ms, h.clock_synced, h.stuck_buttons,
                   h.last_error, h.rejected)
         .select_from(terminals.outerjoin(terminal_health,
                                          terminal_health.c.terminal_id == terminals.c.id))
         .order_by(terminals.c.unit_id, terminals.c.id))
    if unit_ids is not None:
        q = q.where(in_values(conn, terminals.c.unit_id, unit_ids))
    rows = conn.execute(q).all()
    ids = [r.id for r in rows]
    rejected = dict(conn.execute(
        sa.select(rejected_votes.c.terminal_id, sa.func.count())
        .where(in_values(conn, rejected_votes.c.terminal_id, ids))
        .group_by(rejected_votes.c.terminal_id)).all()) if ids else {}
    out = []
    for r in rows:
        stuck = [int(x) for x in (r.stuck_buttons or "").split(";") if x.strip().isdigit()]
        faults = []
        if r.revoked_at is None:
            since = r.received_at or r.created_at
            if now - since > silent_after:
                faults.append("silent")
        if stuck:
            faults.append("stuck button")
        if r.clock_offset_ms is not None and abs(r.clock_offset_ms) > CLOCK_OFFSET_FAULT_MS:
            faults.append("clock off")
        out.append(TerminalHealth(
            r.id, r.name, r.unit_id, r.received_at, r.backlog, r.software_version,
            r.clock_offset_ms, r.clock_synced, stuck,
            rejected.get(r.id, 0), r.rejected, r.last_error,
            r.revoked_at is not None, faults))
    return out
