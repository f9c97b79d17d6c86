"""Duty periods: who was on duty at which terminal and counter, when (docs/attribution.md).

``POST /api/v1/duty`` stores them exactly once, like votes: the unique (terminal, period id)
and ``INSERT … ON CONFLICT DO NOTHING RETURNING`` say which were new (accepted) and which
the server had (duplicate). A period sent while still open (no end) and again once closed
only gets its end: the one change the server accepts. A bad period is rejected alone, with
its reason. Storage only (below the API).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from ballot.validation import validation_details
from district.attribution import duty_periods
from district.db import dialect_insert
from district.models import DutyPeriod, RejectedVote


def check_periods(raw: list[Any]) -> tuple[list[tuple[str, DutyPeriod]], list[RejectedVote]]:
    valid, rejected, seen = [], [], set()
    for item in raw:
        raw_id = item.get("id") if isinstance(item, dict) else None
        sent_id = raw_id[:100] if isinstance(raw_id, str) else None
        try:
            period = DutyPeriod.model_validate(item)
        except ValidationError as exc:
            rejected.append(RejectedVote(id=sent_id, error=validation_details(
                exc.errors(include_url=False, include_input=False))))
            continue
        if period.id not in seen:
            seen.add(period.id)
            valid.append((sent_id, period))
    return valid, rejected


def store_periods(conn: Connection, terminal_id: str, unit_id: str,
                  periods: list[tuple[str, DutyPeriod]], received_at: dt.datetime
                  ) -> tuple[list[str], list[str]]:
    """(accepted, duplicate) ids as sent; an open period's end is set when it comes."""
    if not periods:
        return [], []
    rows = sorted(({"terminal_id": terminal_id, "period_id": p.id, "unit_id": unit_id,
                    "officer": p.officer, "counter": p.counter, "started_at": p.started_at,
                    "ended_at": p.ended_at, "end_reason": p.end_reason,
                    "clock_synced": p.clock_synced, "received_at": received_at}
                   for _sent, p in periods), key=lambda r: r["period_id"])
    stmt = (dialect_insert(conn, duty_periods)
            .on_conflict_do_nothing(index_elements=["terminal_id", "period_id"])
            .returning(duty_periods.c.period_id))
    stored = set(conn.execute(stmt, rows).scalars())
    for row in rows:
        if row["period_id"] not in stored and row["ended_at"] is not None:
            conn.execute(duty_periods.update().where(
                duty_periods.c.terminal_id == terminal_id,
                duty_periods.c.period_id == row["period_id"],
                duty_periods.c.ended_at.is_(None)).values(
                    ended_at=row["ended_at"], end_reason=row["end_reason"]))
    accepted = [sent for sent, p in periods if p.id in stored]
    duplicate = [sent for sent, p in periods if p.id not in stored]
    return accepted, duplicate


def on_duty_seconds(conn: Connection, officer_codes: list[str], start: dt.datetime,
                    end: dt.datetime, now: dt.datetime, units: list[str] | None = None
                    ) -> dict[str, float]:
    """Seconds each officer was on duty within [start, end): closed periods, and open ones
    up to ``now``; at the counters of ``units`` only, when given (an official's scope: an
    officer who moved units served elsewhere too)."""
    where = [duty_periods.c.officer.in_(officer_codes), duty_periods.c.started_at < end,
             sa.or_(duty_periods.c.ended_at.is_(None), duty_periods.c.ended_at > start)]
    if units is not None:
        where.append(duty_periods.c.unit_id.in_(units))
    rows = conn.execute(sa.select(duty_periods.c.officer, duty_periods.c.started_at,
                                  duty_periods.c.ended_at).where(*where))
    out = dict.fromkeys(officer_codes, 0.0)
    for officer, began, ended in rows:
        stop = min(ended or now, end)
        out[officer] += max(0.0, (stop - max(began, start)).total_seconds())
    return out
