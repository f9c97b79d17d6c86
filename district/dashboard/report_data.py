"""What the printed report of a unit and period says (docs/dashboard.md, "The report"):
every figure read once, here, so the PDF and the DOCX print the same numbers as the
dashboard's pages (they come from the same functions of ``aggregates``).

- the ranked rows of the overview (the unit's own terminals and each sub-unit), with the
  previous period and the change;
- the trend of the unit's subtree (days for a month, weeks for a quarter, months for a
  year: ``aggregates.default_step``), its levels and its follow-up reasons;
- the counters and officers with the lowest index (at least ``ATTENTION_MIN_VOTES``);
- fleet availability: the share of the period's days (up to today) on which each
  terminal was heard from, by a heartbeat or a vote;
- the votes not counted, and why: test, suspected misuse, a dossier already rated, time
  unknown (counted apart, every period), and the votes the server refused, by reason;
- the indices of the legal texts (``indices``): Circular 01/2018's indicators from the
  follow-up reasons, Decision 766's ratio and the coverage from the imported dossiers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district.dashboard import aggregates as agg
from district.dashboard import indices as legal
from district.dashboard import periods
from district.dashboard.figures import ATTENTION_MIN_VOTES, ATTENTION_ROWS
from district.dashboard.periods import Period
from district.db import heartbeats, rejected_votes, terminals
from district.rollups import LOCAL_TZ, UTC_OFFSET_S, day_date, terminal_day

FLEET_ROWS = 60  # terminals listed by name (least heard from first); the rest summed up
REJECTED_ROWS = 10  # distinct refusal reasons listed


@dataclass
class Signature:
    """What the official fills in (Decree 30/2020: number, place, date, signer)."""

    number: str = ""  # "…/BC-…" left to fill when empty
    place: str = ""
    signer: str = ""
    position: str = ""
    issuer: str = ""  # the issuing body; the unit's name by default
    parent: str = ""  # the body above it; the parent unit's name by default


@dataclass
class Availability:
    terminal_id: str
    name: str
    unit_name: str
    days_heard: int
    days: int

    @property
    def share(self) -> float | None:
        return 100 * self.days_heard / self.days if self.days else None


@dataclass
class Report:
    unit: str
    unit_name: str
    period: Period
    made_on: dt.date
    overview: agg.Overview
    step: str
    trend: list[tuple[str, agg.Counts]]
    attention: list[tuple[str, str, str, agg.Counts]]  # (unit, counter, officer, counts)
    fleet: list[Availability]
    fleet_total: int  # terminals of the subtree (``fleet`` lists at most FLEET_ROWS)
    fleet_days: int  # days of the period up to the day the report was made
    fleet_full: int  # terminals heard from on every one of those days
    time_unknown: agg.Counts
    rejected: list[tuple[str, int]]  # (the server's reason, votes)
    signature: Signature
    names: dict[str, str] = field(repr=False, default_factory=dict)
    indices: legal.Indices | None = None

    @property
    def total(self) -> agg.Counts:
        return self.overview.total.counts

    @property
    def not_counted(self) -> int:
        c = self.total
        return c.test + c.misuse + c.repeat + self.time_unknown.votes + sum(
            n for _r, n in self.rejected)


def gather(engine: Engine, tree: agg.UnitTree, unit: str, period: Period,
           signature: Signature | None = None, today: dt.date | None = None) -> Report:
    """Every figure of the report, in one connection."""
    today = today or periods.today_local()  # (the module's: the tests set it)
    subtree = tree.subtree(unit)
    everything = len(subtree) == len(tree.names)
    step = agg.default_step(period)
    with engine.connect() as conn:
        ov = agg.overview(conn, tree, unit, period)
        trend = agg.trend(agg.counts_by_day(conn, period, unit), period, step)
        lowest = agg.lowest_officers(conn, period, None if everything else subtree,
                                     ATTENTION_ROWS, ATTENTION_MIN_VOTES)
        fleet, fleet_days = availability(conn, tree, subtree, period, today)
        unknown = agg.time_unknown(conn, unit)
        rejected = refused(conn, subtree, period)
        index_figures = legal.compute(conn, tree, unit, period, ov)
    sig = signature or Signature()
    parent = tree.parent.get(unit)
    sig = Signature(sig.number, sig.place, sig.signer, sig.position,
                    sig.issuer or tree.names[unit],
                    sig.parent or (tree.names[parent] if parent else ""))
    fleet.sort(key=lambda a: (a.days_heard, a.unit_name.casefold(), a.terminal_id))
    return Report(unit, tree.names[unit], period, today, ov, step, trend,
                  [(u, counter, officer, c) for (u, counter, officer), c in lowest],
                  fleet[:FLEET_ROWS], len(fleet), fleet_days,
                  sum(1 for a in fleet if fleet_days and a.days_heard >= fleet_days),
                  unknown, rejected, sig, tree.names, index_figures)


def _utc_bounds(period: Period, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(period.start, dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(),
                              LOCAL_TZ).astimezone(dt.UTC)
    return start, end


def _local_date(conn: Connection, column):
    """The local (UTC+7) day of a UTC time column, as the database computes it."""
    if conn.dialect.name == "postgresql":
        return sa.func.date(sa.func.timezone("UTC", column)
                            + sa.text(f"interval '{UTC_OFFSET_S} seconds'"))
    return sa.func.date(column, f"+{UTC_OFFSET_S} seconds")


def availability(conn: Connection, tree: agg.UnitTree, subtree: list[str], period: Period,
                 today: dt.date) -> tuple[list[Availability], int]:
    """Each terminal of the units: on how many of the period's days (up to ``today``; none
    of a period still to come) it sent a heartbeat or a vote."""
    last = min(period.end, today)
    days = max(0, (last - period.start).days + 1)
    t = terminals.c
    rows = conn.execute(sa.select(t.id, t.name, t.unit_id)
                        .where(agg.in_values(conn, t.unit_id, subtree), t.revoked_at.is_(None))
                        .order_by(t.id)).all()
    heard: dict[str, set[dt.date]] = defaultdict(set)
    if days and rows:
        ids = [r.id for r in rows]
        start, end = _utc_bounds(period, last)
        h = heartbeats.c
        day = _local_date(conn, h.received_at)
        for terminal_id, text in conn.execute(
                sa.select(h.terminal_id, day).distinct()
                .where(agg.in_values(conn, h.terminal_id, ids), h.received_at >= start,
                       h.received_at < end)):
            heard[terminal_id].add(text if isinstance(text, dt.date)
                                   else dt.date.fromisoformat(str(text)))
        td = terminal_day.c
        lo, hi = period.first_day, period.first_day + days - 1
        for terminal_id, number in conn.execute(
                sa.select(td.terminal_id, td.day).distinct()
                .where(agg.in_values(conn, td.terminal_id, ids), td.day.between(max(lo, 0), hi))):
            heard[terminal_id].add(day_date(number))
    names = tree.names
    return [Availability(r.id, r.name or r.id, names.get(r.unit_id, r.unit_id),
                         len(heard.get(r.id, ())), days) for r in rows], days


def refused(conn: Connection, subtree: list[str], period: Period) -> list[tuple[str, int]]:
    """Votes of the units' terminals the server refused while the period ran, by reason
    (the server's own words), most frequent first."""
    start, end = _utc_bounds(period, period.end)
    r, t = rejected_votes.c, terminals.c
    q = (sa.select(r.error, sa.func.count())
         .select_from(rejected_votes.join(terminals, t.id == r.terminal_id))
         .where(agg.in_values(conn, t.unit_id, subtree), r.received_at >= start,
                r.received_at < end)
         .group_by(r.error).order_by(sa.func.count().desc(), r.error).limit(REJECTED_ROWS))
    return [(error, int(n)) for error, n in conn.execute(q)]
