"""Fleet health: the latest heartbeat of every terminal, with faults spelled out."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from district.dashboard.aggregates import in_values
from district.db import rejected_votes, terminal_health, terminals

DEFAULT_SILENT_HOURS = 24.0
CLOCK_OFFSET_FAULT_MS = 5 * 60 * 1000
DEFAULT_BACKLOG_FAULT = 500
FAULTS = ("silent", "stuck button", "clock off", "backlog")
PER_PAGE = 50
MAX_PER_PAGE = 500


def silent_hours() -> float:
    """``$DISTRICT_SILENT_HOURS`` (default 24): a terminal silent longer is a fault."""
    try:
        return float(os.environ.get("DISTRICT_SILENT_HOURS", DEFAULT_SILENT_HOURS))
    except ValueError:
        return DEFAULT_SILENT_HOURS


def backlog_fault() -> int:
    """``$DISTRICT_BACKLOG_FAULT`` (default 500): more unsent votes than this is a fault."""
    try:
        return int(os.environ.get("DISTRICT_BACKLOG_FAULT", DEFAULT_BACKLOG_FAULT))
    except ValueError:
        return DEFAULT_BACKLOG_FAULT


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
    faults: list[str]  # msgids: "silent", "stuck button", "clock off", "backlog" (FAULTS)

    def as_json(self) -> dict:
        return {"terminal_id": self.id, "name": self.name, "unit_id": self.unit_id,
                "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat
                else None, "backlog": self.backlog, "software_version": self.version,
                "clock_offset_ms": self.clock_offset_ms, "clock_synced": self.clock_synced,
                "stuck_buttons": self.stuck_buttons, "rejected_votes": self.rejected,
                "kiosk_rejected": self.kiosk_rejected,
                "last_error": self.last_error, "revoked": self.revoked, "faults": self.faults}


def _columns():
    h = terminal_health.c
    return (terminals.c.id, terminals.c.name, terminals.c.unit_id, terminals.c.created_at,
            terminals.c.revoked_at, h.received_at, h.backlog, h.software_version,
            h.clock_offset_ms, h.clock_synced, h.stuck_buttons, h.last_error, h.rejected)


def _joined():
    return terminals.outerjoin(terminal_health, terminal_health.c.terminal_id == terminals.c.id)


def _silent_after(silent_after_h: float | None) -> dt.timedelta:
    return dt.timedelta(hours=silent_after_h if silent_after_h is not None else silent_hours())


def _rejected_counts(conn: Connection, ids: list[str]) -> dict[str, int]:
    return dict(conn.execute(
        sa.select(rejected_votes.c.terminal_id, sa.func.count())
        .where(in_values(conn, rejected_votes.c.terminal_id, ids))
        .group_by(rejected_votes.c.terminal_id)).all()) if ids else {}


def _health(rows, rejected: dict[str, int], now: dt.datetime, silent_after: dt.timedelta,
            backlog_max: int) -> list[TerminalHealth]:
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
        if r.backlog is not None and r.backlog > backlog_max:
            faults.append("backlog")
        out.append(TerminalHealth(
            r.id, r.name, r.unit_id, r.received_at, r.backlog, r.software_version,
            r.clock_offset_ms, r.clock_synced, stuck,
            rejected.get(r.id, 0), r.rejected, r.last_error,
            r.revoked_at is not None, faults))
    return out


def fleet_health(conn: Connection, unit_ids: list[str] | None, now: dt.datetime,
                 silent_after_h: float | None = None,
                 only: tuple[str, ...] = ()) -> list[TerminalHealth]:
    """Every terminal of the units (all with ``None``), by unit and id; with ``only``
    (fault msgids), just the terminals that have one of those faults, chosen by the
    database (the alert rules: a few rows instead of 10,000 read and judged in Python).
    The pages use ``fleet_summary`` + ``fleet_page``."""
    silent_after, backlog_max = _silent_after(silent_after_h), backlog_fault()
    q = sa.select(*_columns()).select_from(_joined()).order_by(terminals.c.unit_id,
                                                               terminals.c.id)
    if unit_ids is not None:
        q = q.where(in_values(conn, terminals.c.unit_id, unit_ids))
    if only:
        flags = _fault_flags(now, silent_after, backlog_max)
        q = q.where(sa.or_(*(flags[fault] for fault in only)))
    rows = conn.execute(q).all()
    return _health(rows, _rejected_counts(conn, [r.id for r in rows]), now, silent_after,
                   backlog_max)


# --- the fleet in pages: one aggregate for the counts, one LIMIT query for the rows ------

def _fault_flags(now: dt.datetime, silent_after: dt.timedelta, backlog_max: int) -> dict:
    """The faults of ``_health`` as SQL conditions on terminals ⟕ terminal_health."""
    t, h = terminals.c, terminal_health.c
    since = sa.func.coalesce(h.received_at, t.created_at, type_=h.received_at.type)
    return {
        "silent": sa.and_(t.revoked_at.is_(None), since < now - silent_after),
        # never NULL (a terminal without a heartbeat has no health row): NOT any_fault
        # must be true for it
        "stuck button": sa.func.coalesce(h.stuck_buttons, "") != "",
        "clock off": sa.func.coalesce(sa.func.abs(h.clock_offset_ms), 0)
        > CLOCK_OFFSET_FAULT_MS,
        "backlog": sa.func.coalesce(h.backlog, 0) > backlog_max,
    }


def _flag(cond) -> sa.ColumnElement:
    return sa.case((cond, 1), else_=0)


@dataclass
class FleetSummary:
    """Terminals of a scope per status (a terminal with several faults counts in each)."""

    total: int = 0
    ok: int = 0
    faulty: int = 0
    revoked: int = 0
    with_rejected: int = 0
    faults: dict[str, int] | None = None
    # The HTTPS certificate this server presents, when it ends within CERT_WARN_DAYS (or has
    # ended): terminals stop sending once it has, so the fleet page says so a month ahead.
    certificate: ServedCertificate | None = None

    def as_json(self) -> dict:
        return {"terminals": self.total, "ok": self.ok, "faulty": self.faulty,
                "revoked": self.revoked, "with_rejected_votes": self.with_rejected,
                "faults": {k.replace(" ", "_"): v for k, v in (self.faults or {}).items()}}


def fleet_summary(conn: Connection, unit_ids: list[str] | None, now: dt.datetime,
                  silent_after_h: float | None = None) -> FleetSummary:
    """Counts per status of every terminal of the units, in one aggregate query."""
    flags = _fault_flags(now, _silent_after(silent_after_h), backlog_fault())
    any_fault = sa.or_(*flags.values())
    has_rejected = sa.exists().where(rejected_votes.c.terminal_id == terminals.c.id)
    q = sa.select(sa.func.count(),
                  *(sa.func.sum(_flag(c)) for c in flags.values()),
                  sa.func.sum(_flag(any_fault)),
                  sa.func.sum(_flag(terminals.c.revoked_at.is_not(None))),
                  sa.func.sum(_flag(sa.and_(terminals.c.revoked_at.is_(None),
                                            sa.not_(any_fault)))),
                  sa.func.sum(_flag(has_rejected))).select_from(_joined())
    if unit_ids is not None:
        q = q.where(in_values(conn, terminals.c.unit_id, unit_ids))
    row = [int(x or 0) for x in conn.execute(q).one()]
    total, per, (faulty, revoked, ok, rejected) = row[0], row[1:1 + len(flags)], row[-4:]
    return FleetSummary(total, ok, faulty, revoked, rejected, dict(zip(flags, per,
                                                                       strict=True)),
                        certificate_to_renew(now))


CERT_WARN_DAYS = 30
SERVED_CERT_ENV = "DISTRICT_SERVED_CERT"  # set by `district serve` for its workers


@dataclass(frozen=True)
class ServedCertificate:
    ends: dt.datetime
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


def certificate_to_renew(now: dt.datetime) -> ServedCertificate | None:
    """The served certificate when it ends within ``CERT_WARN_DAYS`` days, else None (also
    on plain HTTP). Read once per process: that is what this process presents until a
    restart, even when ``district setup --renew`` has written a new file meanwhile."""
    ends = _served_certificate_end(os.environ.get(SERVED_CERT_ENV, ""))
    if ends is None:
        return None
    days = (ends - now).days
    return ServedCertificate(ends, days) if days <= CERT_WARN_DAYS else None


@functools.cache
def _served_certificate_end(path: str) -> dt.datetime | None:
    if not path:
        return None
    from cryptography import x509

    try:
        with open(path, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read()).not_valid_after_utc
    except (OSError, ValueError):
        return None  # serve checked the file at start; a fleet page must still render


def fleet_page(conn: Connection, unit_ids: list[str] | None, now: dt.datetime,
               offset: int = 0, limit: int = PER_PAGE, faults_first: bool = True,
               silent_after_h: float | None = None) -> list[TerminalHealth]:
    """One page of terminals: faulty ones first (most faults, silent and stuck before
    the rest), then those with rejected votes, then by unit and id;
    ``faults_first=False``: by unit and id only."""
    silent_after, backlog_max = _silent_after(silent_after_h), backlog_fault()
    q = sa.select(*_columns()).select_from(_joined())
    if unit_ids is not None:
        q = q.where(in_values(conn, terminals.c.unit_id, unit_ids))
    if faults_first:
        flags = _fault_flags(now, silent_after, backlog_max)
        n_faults = sum((_flag(c) for c in flags.values()), sa.literal(0))
        has_rejected = sa.exists().where(rejected_votes.c.terminal_id == terminals.c.id)
        q = q.order_by(n_faults.desc(), _flag(flags["silent"]).desc(),
                       _flag(flags["stuck button"]).desc(), _flag(has_rejected).desc())
    q = q.order_by(terminals.c.unit_id, terminals.c.id).limit(limit).offset(offset)
    rows = conn.execute(q).all()
    return _health(rows, _rejected_counts(conn, [r.id for r in rows]), now, silent_after,
                   backlog_max)


@dataclass
class Paging:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last(self) -> int:
        return min(self.total, self.offset + self.per_page)

    def as_json(self) -> dict:
        return {"page": self.page, "per_page": self.per_page, "total": self.total,
                "pages": self.pages}


def paging(page: int, per_page: int, total: int) -> Paging:
    """Page ``page`` (1-based) of ``total`` rows; past the end means the last page."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    p = Paging(1, per_page, total)
    p.page = max(1, min(page, p.pages))
    return p
