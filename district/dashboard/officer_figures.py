"""The figures of attribution (docs/attribution.md, docs/dashboard.md "Officers, procedures,
coverage"): per officer, per procedure, coverage, and votes during no one's duty, for a unit
and everything below it that the official may see, over a period.

- **Per officer**: the votes of the rollups ``dash_officer_day/month`` (keyed by the
  officer code each vote carries), summed over counters, within the visible units. Ranked by
  index only with at least ``MIN_VOTES`` counted votes (as the overview ranks counters);
  the others are listed apart, unranked.
- **No one on duty**: the votes whose ``officer`` is empty, per unit.
- **Per procedure**: the counted rating of each dossier (``dossier_ratings``, one per
  dossier) joined with the dossier list, by the day it was given (local time).
- **Coverage**: of the dossiers finished in the period (``finished_on``), the share that
  has its counted rating (given at any time), per unit and per handling officer: how
  representative the votes are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district.attribution import OFFICER_CODE, officers
from district.attribution_rollups import (
    coverage_day,
    coverage_month,
    procedure_day,
    procedure_month,
    procedures,
)
from district.dashboard import aggregates as agg
from district.dashboard.periods import Period
from district.dashboard.scope import NotVisible, Scope
from district.db import utcnow
from district.duty import on_duty_seconds
from district.rollups import LOCAL_TZ, day_date, officer_day, officer_month

MIN_VOTES = 10  # fewer counted votes in the period say too little to rank an officer


@dataclass
class Coverage:
    finished: int = 0
    rated: int = 0

    @property
    def share(self) -> float | None:
        return 100 * self.rated / self.finished if self.finished else None

    def as_json(self) -> dict:
        return {"finished": self.finished, "rated": self.rated,
                "coverage": None if self.share is None else round(self.share, 1)}


@dataclass
class OfficerRow:
    code: str
    full_name: str
    unit_id: str
    active: bool
    counts: agg.Counts = field(default_factory=agg.Counts)
    on_duty_s: float = 0.0
    coverage: Coverage = field(default_factory=Coverage)

    @property
    def ranked(self) -> bool:
        return self.counts.votes >= MIN_VOTES

    def as_json(self) -> dict:
        return {"code": self.code, "full_name": self.full_name, "unit_id": self.unit_id,
                "active": self.active, "ranked": self.ranked,
                "hours_on_duty": round(self.on_duty_s / 3600, 2), **self.counts.as_json(),
                "coverage": self.coverage.as_json()}


def _bounds(period: Period) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(period.start, dt.time(), LOCAL_TZ)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=period.days)).astimezone(dt.UTC)


def _split_by_officer(by: dict[tuple[str, str, str], agg.Counts]
                      ) -> tuple[dict[str, agg.Counts], dict[str, agg.Counts]]:
    """(per officer code, per unit for the votes of no one's duty)."""
    per_officer: dict[str, agg.Counts] = defaultdict(agg.Counts)
    no_duty: dict[str, agg.Counts] = defaultdict(agg.Counts)
    for (unit, _counter, officer), counts in by.items():
        (per_officer[officer] if officer else no_duty[unit]).merge(counts)
    return dict(per_officer), dict(no_duty)


def _coverage(conn: Connection, period: Period, units: list[str]
              ) -> tuple[dict[str, Coverage], dict[str, Coverage]]:
    """Finished and rated dossiers in the period, per unit and per officer, from the
    coverage rollups (``district.attribution_rollups``): a year is 12 rows per (unit,
    officer), not the year's 300,000 dossiers joined with their ratings."""
    by_unit: dict[str, Coverage] = defaultdict(Coverage)
    by_officer: dict[str, Coverage] = defaultdict(Coverage)
    for r in agg.over_period(conn, period, coverage_day, coverage_month,
                             ["unit_id", "officer"],
                             lambda t: agg.in_values(conn, t.c.unit_id, units),
                             agg.column_sums):
        for c in (by_unit[r["unit_id"]], *([by_officer[r["officer"]]] if r["officer"] else [])):
            c.finished += int(r["n_finished"])
            c.rated += int(r["n_rated"])
    return dict(by_unit), dict(by_officer)


PARTS = ("officers", "coverage", "procedures")


def officers_data(engine: Engine, scope: Scope, unit: str, period: Period,
                  parts: tuple[str, ...] = PARTS) -> dict:
    """The officers page's figures; ``parts`` reads only some (the JSON calls)."""
    units = scope.tree.subtree(unit)
    start, end = _bounds(period)
    listed, counts, no_duty, duty, by_unit, by_officer, procedures = [], {}, {}, {}, {}, {}, []
    with engine.connect() as conn:
        if "officers" in parts:
            listed = conn.execute(sa.select(officers.c.code, officers.c.full_name,
                                            officers.c.unit_id, officers.c.disabled_at)
                                  .where(agg.in_values(conn, officers.c.unit_id, units))
                                  .order_by(officers.c.code)).all()
            counts, no_duty = _split_by_officer(agg.counts_by_officer(conn, period, units))
            duty = on_duty_seconds(conn, [r.code for r in listed], start, end, utcnow(),
                                   units)
        if "coverage" in parts or "officers" in parts:
            by_unit, by_officer = _coverage(conn, period, units)
        if "procedures" in parts:
            procedures = procedures_data(conn, period, units)
    rows = [OfficerRow(r.code, r.full_name, r.unit_id, r.disabled_at is None,
                       counts.get(r.code, agg.Counts()), duty.get(r.code, 0.0),
                       by_officer.get(r.code, Coverage())) for r in listed]
    ranked = sorted((r for r in rows if r.ranked), key=lambda r: (r.counts.index, r.code))
    unranked = [r for r in rows if not r.ranked]
    return {"ranked": ranked, "unranked": unranked, "no_duty": no_duty,
            "no_duty_total": _total(no_duty.values()),
            "coverage": {u: by_unit[u] for u in units if u in by_unit},
            "coverage_total": Coverage(sum(c.finished for c in by_unit.values()),
                                       sum(c.rated for c in by_unit.values())),
            "procedures": procedures, "min_votes": MIN_VOTES}


def _total(counts) -> agg.Counts:
    total = agg.Counts()
    for c in counts:
        total.merge(c)
    return total


@dataclass
class ProcedureRow:
    unit_id: str
    code: str
    name: str
    counts: agg.Counts = field(default_factory=agg.Counts)

    def as_json(self) -> dict:
        return {"unit_id": self.unit_id, "procedure_code": self.code,
                "procedure_name": self.name, **self.counts.as_json()}


def procedures_data(conn: Connection, period: Period, units: list[str]) -> list[ProcedureRow]:
    """Per (unit, procedure): the counted ratings given in the period to its dossiers, from
    the procedure rollups; the names from the procedures' list (one row per procedure)."""
    rows: dict[tuple[str, str], ProcedureRow] = {}
    for r in agg.over_period(conn, period, procedure_day, procedure_month,
                             ["unit_id", "procedure_code", "scale"],
                             lambda t: agg.in_values(conn, t.c.unit_id, units),
                             agg.column_sums):
        row = rows.setdefault((r["unit_id"], r["procedure_code"]),
                              ProcedureRow(r["unit_id"], r["procedure_code"], ""))
        row.counts.add_row(r["scale"], r)
    names = procedure_names(conn, sorted({code for _u, code in rows}))
    for (unit, code), row in rows.items():
        row.name = names.get((unit, code), code)
    return sorted((r for r in rows.values() if r.counts.votes),
                  key=lambda r: (r.unit_id, r.code))


def procedure_names(conn: Connection, codes: list[str]) -> dict[tuple[str, str], str]:
    """(unit, procedure code) → its name, as the latest import of its dossiers gave it."""
    if not codes:
        return {}
    return {(u, c): n for u, c, n in conn.execute(
        sa.select(procedures.c.unit_id, procedures.c.procedure_code,
                  procedures.c.procedure_name)
        .where(procedures.c.procedure_code.in_(codes)))}


def officer_data(engine: Engine, scope: Scope, code: str, period: Period) -> dict:
    """One officer's page: raises NotVisible when the officer is not in the official's
    units (or does not exist): the same 404 either way."""
    if not OFFICER_CODE.match(code):
        raise NotVisible()  # (and no odd text reaches the database)
    with engine.connect() as conn:
        row = conn.execute(sa.select(officers.c.code, officers.c.full_name, officers.c.unit_id,
                                     officers.c.disabled_at, officers.c.badge_issue)
                           .where(officers.c.code == code)).first()
    if row is None:
        raise NotVisible()
    scope.resolve(row.unit_id)  # NotVisible outside the official's units
    units = scope.tree.subtree(scope.top) if scope.top else sorted(scope.tree.names)
    start, end = _bounds(period)
    with engine.connect() as conn:
        by_counter: dict[tuple[str, str], agg.Counts] = defaultdict(agg.Counts)
        # this officer's rows only (the (officer, bucket) index), not every officer's
        for r in agg.over_period(conn, period, officer_day, officer_month,
                                 ["unit_id", "counter", "scale"],
                                 lambda t: sa.and_(t.c.officer == code,
                                                   agg.in_values(conn, t.c.unit_id, units))):
            by_counter[(r["unit_id"], r["counter"])].add_row(r["scale"], r)
        by_counter = dict(by_counter)
        trend = _officer_trend(conn, period, units, code)
        duty = on_duty_seconds(conn, [code], start, end, utcnow(), units)[code]
        coverage = _officer_coverage(conn, period, code, units)
    total = _total(by_counter.values())
    return {"officer": OfficerRow(row.code, row.full_name, row.unit_id,
                                  row.disabled_at is None, total, duty, coverage),
            "badge_issue": row.badge_issue, "by_counter": by_counter, "trend": trend}


def _officer_coverage(conn: Connection, period: Period, code: str, units: list[str]
                      ) -> Coverage:
    """The dossiers of ``units`` the officer handled that were finished in the period, and
    rated."""
    cov = Coverage()
    for r in agg.over_period(conn, period, coverage_day, coverage_month, ["officer"],
                             lambda t: sa.and_(t.c.officer == code,
                                               agg.in_values(conn, t.c.unit_id, units)),
                             agg.column_sums):
        cov.finished += int(r["n_finished"])
        cov.rated += int(r["n_rated"])
    return cov


def _officer_trend(conn: Connection, period: Period, units: list[str], code: str
                   ) -> list[tuple[dt.date, agg.Counts]]:
    t = officer_day
    stmt = (sa.select(t.c.day, t.c.scale, *agg._sums(t))
            .where(t.c.officer == code, agg.in_values(conn, t.c.unit_id, units),
                   t.c.day.between(period.first_day, period.last_day))
            .group_by(t.c.day, t.c.scale).order_by(t.c.day))
    out: dict[int, agg.Counts] = defaultdict(agg.Counts)
    for r in conn.execute(stmt).mappings():
        out[r["day"]].add_row(r["scale"], r)
    return [(day_date(d), c) for d, c in sorted(out.items())]
