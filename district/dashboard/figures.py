"""The figures behind the dashboard's pages, downloads and JSON: what one page reads from
the database, in one connection, run in a worker thread by the routes."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from district.dashboard import aggregates as agg
from district.dashboard import alerts as alert_rules
from district.dashboard.health import fleet_page, fleet_summary, paging
from district.dashboard.periods import Period
from district.dashboard.scope import Scope
from district.db import utcnow

ATTENTION_ROWS = 10  # counters and officers listed on the overview, lowest index first
ATTENTION_MIN_VOTES = 10  # fewer counted votes in the period say too little to rank
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def overview_data(engine: Engine, scope: Scope, unit: str, period: Period) -> dict:
    with engine.connect() as conn:
        ov = agg.overview(conn, scope.tree, unit, period)
        subtree = scope.tree.subtree(unit)
        alerts = alert_rules.open_alerts(conn, subtree)
        # (the whole tree needs no unit filter: a province's 10,000 ids cost more than it)
        everything = len(subtree) == len(scope.tree.names)
        lowest = agg.lowest_officers(conn, period, None if everything else subtree,
                                     ATTENTION_ROWS, ATTENTION_MIN_VOTES)
    return {"overview": ov, "alerts": alerts,
            "attention": [(u, counter, officer, c) for (u, counter, officer), c in lowest]}


def terminal_list(conn, ids: list[str], page: tuple[int, int, bool],
                  period: Period | None = None) -> dict:
    """Status counts of every terminal of ``ids`` and one page of them (with their votes
    in ``period``, read for the shown terminals only)."""
    now = utcnow()
    summary = fleet_summary(conn, ids, now)
    pg = paging(page[0], page[1], summary.total)
    rows = fleet_page(conn, ids, now, pg.offset, pg.per_page, page[2])
    votes = agg.counts_by_terminal(conn, period, None, [t.id for t in rows]) if period else {}
    return {"summary": summary, "paging": pg, "terminals": rows, "by_terminal": votes}


def unit_data(engine: Engine, scope: Scope, unit: str, period: Period, step: str,
              page: tuple[int, int, bool], subtree_terminals: bool = False) -> dict:
    """The unit's figures, one row per direct sub-unit (and its own terminals), and one
    page of terminals: the unit's own (page) or its whole subtree's (API)."""
    ids = scope.tree.subtree(unit) if subtree_terminals else [unit]
    with engine.connect() as conn:
        by_day = agg.counts_by_day(conn, period, unit)
        heat = agg.heatmap(conn, period, unit)
        ov = agg.overview(conn, scope.tree, unit, period)
        terms = terminal_list(conn, ids, page, period)
        officers = agg.counts_by_officer(conn, period, [unit])
        unknown = agg.time_unknown(conn, unit)  # counted apart: no day, no hour
    total = agg.Counts()
    for c in by_day.values():
        total.merge(c)
    return {"total": total, "previous": ov.total.previous,
            "trend": agg.trend(by_day, period, step), "heat": heat, "ov": ov,
            "officers": officers_first_needing_attention(officers), "time_unknown": unknown,
            **terms}


def officers_first_needing_attention(by_officer: dict[tuple[str, str, str], agg.Counts]
                                     ) -> list[tuple[str, str, agg.Counts]]:
    """(counter, officer, counts) of one unit: lowest index first (those with no counted
    vote last), then by counter and officer."""
    return sorted(((counter, officer, c) for (_unit, counter, officer), c in by_officer.items()),
                  key=lambda r: (r[2].index is None, r[2].index or 0, r[0], r[1]))


def fleet_data(engine: Engine, scope: Scope, unit: str, page: tuple[int, int, bool]) -> dict:
    with engine.connect() as conn:
        return terminal_list(conn, scope.tree.subtree(unit), page)


def open_alerts(engine: Engine, scope: Scope, unit: str) -> list[alert_rules.Alert]:
    with engine.connect() as conn:
        return alert_rules.open_alerts(conn, scope.tree.subtree(unit))
