"""Every number the dashboard shows, computed from the rollups (never from raw votes,
except the two-hour alert window and the vote export).

Definitions (docs/dashboard.md):

- *counted votes*: votes not flagged ``test`` or ``suspected_misuse``; those two are
  counted apart (a vote with both flags counts as test).
- *satisfaction rate*: the share of counted votes at a *positive* level. The positive
  levels of each scale are those above its neutral point: 3 levels → 2 and 3 (Hài lòng, Rất
  hài lòng), 4 levels → 3 and 4, 5 levels → 4 and 5. *Negative* levels: 3 → 1; 4 → 1–2;
  5 → 1–2.
- *index (0–100)*: the mean over counted votes of (level − 1) / (scale − 1) × 100, so worst
  is 0 and best 100 on every scale (4 levels: 0/33.3/66.7/100).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from district.dashboard.periods import Period
from district.dashboard.rollup import day_date
from district.dashboard.tables import COUNT_COLUMNS, REASON_CODES, daily, hourly
from district.db import terminals, units

POSITIVE_FROM = {3: 2, 4: 3, 5: 4}
NEGATIVE_TO = {3: 1, 4: 2, 5: 2}
LEVEL_NAMES = {  # msgids; translated by the templates
    3: ("Not satisfied", "Satisfied", "Very satisfied"),
    4: ("Very unhappy", "Unhappy", "Happy", "Very happy"),
    5: ("Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied"),
}


@dataclass
class Counts:
    """Counted votes per (scale, level), excluded votes, reasons."""

    levels: dict[tuple[int, int], int] = field(default_factory=dict)
    test: int = 0
    misuse: int = 0
    stuck: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASON_CODES, 0))

    def add_row(self, scale: int, values: dict) -> None:
        for level in range(1, scale + 1):
            n = int(values[f"n{level}"] or 0)
            if n:
                self.levels[(scale, level)] = self.levels.get((scale, level), 0) + n
        self.test += int(values["n_test"] or 0)
        self.misuse += int(values["n_misuse"] or 0)
        self.stuck += int(values["n_stuck"] or 0)
        for code in REASON_CODES:
            self.reasons[code] += int(values[f"r_{code}"] or 0)

    def merge(self, other: Counts) -> Counts:
        for key, n in other.levels.items():
            self.levels[key] = self.levels.get(key, 0) + n
        self.test += other.test
        self.misuse += other.misuse
        self.stuck += other.stuck
        for code, n in other.reasons.items():
            self.reasons[code] += n
        return self

    @property
    def votes(self) -> int:
        return sum(self.levels.values())

    @property
    def positive(self) -> int:
        return sum(n for (s, lvl), n in self.levels.items() if lvl >= POSITIVE_FROM[s])

    @property
    def negative(self) -> int:
        return sum(n for (s, lvl), n in self.levels.items() if lvl <= NEGATIVE_TO[s])

    @property
    def satisfaction(self) -> float | None:
        """Share of positive votes, 0–100 (None without votes)."""
        return 100 * self.positive / self.votes if self.votes else None

    @property
    def index(self) -> float | None:
        if not self.votes:
            return None
        return sum(n * (lvl - 1) / (s - 1) * 100 for (s, lvl), n in self.levels.items()) \
            / self.votes

    @property
    def scales(self) -> list[int]:
        return sorted({s for s, _ in self.levels})

    def distribution(self) -> dict[int, list[int]]:
        """Counted votes per level for each scale in use: {3: [n1, n2, n3]}."""
        return {s: [self.levels.get((s, lvl), 0) for lvl in range(1, s + 1)]
                for s in self.scales}

    def as_json(self) -> dict:
        return {"votes": self.votes, "positive": self.positive, "negative": self.negative,
                "satisfaction_rate": _round(self.satisfaction), "index": _round(self.index),
                "excluded_test": self.test, "excluded_misuse": self.misuse,
                "stuck_button": self.stuck,
                "levels": {str(s): v for s, v in self.distribution().items()},
                "reasons": dict(self.reasons)}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- the unit tree -------------------------------------------------------------------------

@dataclass
class UnitTree:
    names: dict[str, str]
    kinds: dict[str, str]
    parent: dict[str, str | None]
    children: dict[str, list[str]]

    @classmethod
    def load(cls, conn: Connection) -> UnitTree:
        rows = conn.execute(sa.select(units.c.id, units.c.name, units.c.kind,
                                      units.c.parent_id).order_by(units.c.id)).all()
        children: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            if r.parent_id:
                children[r.parent_id].append(r.id)
        names = {r.id: r.name for r in rows}
        for kids in children.values():
            kids.sort(key=lambda u: (names[u].casefold(), u))
        return cls(names, {r.id: r.kind for r in rows}, {r.id: r.parent_id for r in rows},
                   dict(children))

    def roots(self) -> list[str]:
        return sorted((u for u, p in self.parent.items() if not p),
                      key=lambda u: (self.names[u].casefold(), u))

    def subtree(self, unit_id: str) -> list[str]:
        out, stack = [], [unit_id]
        while stack:
            u = stack.pop()
            out.append(u)
            stack.extend(reversed(self.children.get(u, [])))
        return out

    def ancestors(self, unit_id: str) -> list[str]:
        """From the root down to the unit's parent."""
        chain, node, seen = [], self.parent.get(unit_id), {unit_id}
        while node and node not in seen:
            seen.add(node)
            chain.append(node)
            node = self.parent.get(node)
        return list(reversed(chain))

    def is_within(self, unit_id: str, top: str) -> bool:
        return unit_id == top or top in self.ancestors(unit_id)

    def depth_first(self, top: str) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []

        def walk(u: str, depth: int) -> None:
            out.append((u, depth))
            for c in self.children.get(u, []):
                walk(c, depth + 1)
        walk(top, 0)
        return out


# --- queries on the rollups ----------------------------------------------------------------

def _sums(table: sa.Table) -> list:
    return [sa.func.sum(table.c[c]).label(c) for c in COUNT_COLUMNS]


# Above this many units or terminals (a province of 10,000 communes) a filter travels as one
# parameter: rendering, binding and parsing 10,000 placeholders cost more than the query.
MANY_UNITS = 200


def in_values(conn: Connection, column, values: list[str]):
    """``column IN values``; a long list travels as one parameter."""
    if len(values) <= MANY_UNITS:
        return column.in_(values)
    if conn.dialect.name == "postgresql":
        return column == sa.any_(
            sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.String)))
    # SQLite: one JSON text; the planner still probes the (unit_id, bucket) index per value.
    return column.in_(sa.select(sa.column("value", sa.String))
                      .select_from(sa.func.json_each(sa.bindparam(None, json.dumps(values)))))


def _unit_filter(conn: Connection, table: sa.Table, unit_ids: list[str] | None):
    return sa.true() if unit_ids is None else in_values(conn, table.c.unit_id, unit_ids)


def counts_by_unit(conn: Connection, period: Period, unit_ids: list[str] | None
                   ) -> dict[str, Counts]:
    q = (sa.select(daily.c.unit_id, daily.c.scale, *_sums(daily))
         .where(daily.c.day.between(period.first_day, period.last_day),
                _unit_filter(conn, daily, unit_ids))
         .group_by(daily.c.unit_id, daily.c.scale))
    out: dict[str, Counts] = defaultdict(Counts)
    for row in conn.execute(q).mappings():
        out[row["unit_id"]].add_row(row["scale"], row)
    return dict(out)


def counts_by_terminal(conn: Connection, period: Period, unit_ids: list[str] | None
                       ) -> dict[str, Counts]:
    q = (sa.select(daily.c.terminal_id, daily.c.scale, *_sums(daily))
         .where(daily.c.day.between(period.first_day, period.last_day),
                _unit_filter(conn, daily, unit_ids))
         .group_by(daily.c.terminal_id, daily.c.scale))
    out: dict[str, Counts] = defaultdict(Counts)
    for row in conn.execute(q).mappings():
        out[row["terminal_id"]].add_row(row["scale"], row)
    return dict(out)


def counts_by_day(conn: Connection, period: Period, unit_ids: list[str] | None
                  ) -> dict[dt.date, Counts]:
    q = (sa.select(daily.c.day, daily.c.scale, *_sums(daily))
         .where(daily.c.day.between(period.first_day, period.last_day),
                _unit_filter(conn, daily, unit_ids))
         .group_by(daily.c.day, daily.c.scale))
    out: dict[dt.date, Counts] = defaultdict(Counts)
    for row in conn.execute(q).mappings():
        out[day_date(row["day"])].add_row(row["scale"], row)
    return dict(out)


def heatmap(conn: Connection, period: Period, unit_ids: list[str] | None
            ) -> list[list[Counts]]:
    """7 × 24 cells (Monday first, local hours) of counted votes."""
    slot = ((hourly.c.hour + 72) % 168).label("slot")  # local hour 0 was a Thursday 00:00
    q = (sa.select(slot, hourly.c.scale, *_sums(hourly))
         .where(hourly.c.hour.between(period.first_day * 24, period.last_day * 24 + 23),
                _unit_filter(conn, hourly, unit_ids))
         .group_by(slot, hourly.c.scale))
    grid = [[Counts() for _ in range(24)] for _ in range(7)]
    for row in conn.execute(q).mappings():
        grid[row["slot"] // 24][row["slot"] % 24].add_row(row["scale"], row)
    return grid


def trend(by_day: dict[dt.date, Counts], period: Period, step: str) -> list[tuple[str, Counts]]:
    """Day, ISO-week or month buckets over the period, empty buckets included."""
    buckets: dict[str, Counts] = {}
    d = period.start
    while d <= period.end:
        if step == "day":
            key = d.isoformat()
        elif step == "week":
            iso = d.isocalendar()
            key = f"{iso.year}-W{iso.week:02d}"
        else:
            key = f"{d.year}-{d.month:02d}"
        bucket = buckets.setdefault(key, Counts())
        if d in by_day:
            bucket.merge(by_day[d])
        d += dt.timedelta(days=1)
    return list(buckets.items())


def default_step(period: Period) -> str:
    return "day" if period.days <= 62 else ("week" if period.days <= 190 else "month")


# --- overview rows -------------------------------------------------------------------------

@dataclass
class Row:
    unit_id: str
    name: str
    own_only: bool  # the scope unit's own terminals, not its sub-units
    counts: Counts
    previous: Counts
    rank: int | None = None

    def change(self, attr: str) -> float | None:
        now, before = getattr(self.counts, attr), getattr(self.previous, attr)
        return None if now is None or before is None else now - before

    def as_json(self) -> dict:
        return {"unit_id": self.unit_id, "name": self.name, "own_terminals_only": self.own_only,
                "rank": self.rank, **self.counts.as_json(),
                "previous": {"votes": self.previous.votes,
                             "satisfaction_rate": _round(self.previous.satisfaction),
                             "index": _round(self.previous.index)},
                "change": {"votes": self.counts.votes - self.previous.votes,
                           "satisfaction_rate": _round(self.change("satisfaction")),
                           "index": _round(self.change("index"))}}


def rank_rows(rows: list[Row]) -> list[Row]:
    """Ranked by index, then satisfaction rate, then votes; units without votes unranked
    (at the end, by name). Ties share a rank (1, 2, 2, 4)."""
    voted = [r for r in rows if r.counts.votes]
    def key(r: Row) -> tuple:
        return (round(r.counts.index, 9), round(r.counts.satisfaction, 9), r.counts.votes)

    voted.sort(key=lambda r: (tuple(-x for x in key(r)), r.name.casefold()))
    for i, r in enumerate(voted):
        r.rank = voted[i - 1].rank if i and key(voted[i - 1]) == key(r) else i + 1
    rest = sorted((r for r in rows if not r.counts.votes), key=lambda r: r.name.casefold())
    return voted + rest


@dataclass
class Overview:
    scope: str
    period: Period
    previous_period: Period
    total: Row
    rows: list[Row]

    def as_json(self) -> dict:
        return {"unit_id": self.scope, "period": self.period.as_json(),
                "previous_period": self.previous_period.as_json(),
                "total": self.total.as_json(), "units": [r.as_json() for r in self.rows]}


def overview(conn: Connection, tree: UnitTree, scope: str, period: Period) -> Overview:
    """One row for the scope unit's own terminals and one per child unit (its subtree)."""
    ids = tree.subtree(scope)
    prev = period.previous()
    now_by_unit = counts_by_unit(conn, period, ids)
    before_by_unit = counts_by_unit(conn, prev, ids)

    def fold(source: dict[str, Counts], members: list[str]) -> Counts:
        total = Counts()
        for u in members:
            if u in source:
                total.merge(source[u])
        return total

    rows = []
    has_own = bool(conn.execute(sa.select(terminals.c.id).where(terminals.c.unit_id == scope)
                                .limit(1)).first()) or scope in now_by_unit \
        or not tree.children.get(scope)
    if has_own:
        rows.append(Row(scope, tree.names[scope], True, fold(now_by_unit, [scope]),
                        fold(before_by_unit, [scope])))
    for child in tree.children.get(scope, []):
        members = tree.subtree(child)
        rows.append(Row(child, tree.names[child], False, fold(now_by_unit, members),
                        fold(before_by_unit, members)))
    total = Row(scope, tree.names[scope], False, fold(now_by_unit, ids),
                fold(before_by_unit, ids))
    return Overview(scope, period, prev, total, rank_rows(rows))
