"""Every number the dashboard shows, computed from the rollups (never from raw votes,
except the two-hour alert window and the vote export). Unit figures come from the rollups
per unit and ancestor (``dash_unit_*``: a unit's subtree is its own rows), terminal lists
from ``dash_terminal_*``; whole months of a period are read from the monthly tables.

Definitions (docs/dashboard.md); *counted votes* and the *index* are defined once, in
``district.counting``:

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
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from district.counting import COUNT_COLUMNS, POINTS, points
from district.dashboard.periods import Period
from district.dashboard.tables import REASON_CODES, units_version
from district.db import terminals, units
from district.rollups import (
    UNKNOWN,
    day_date,
    local_day,
    month_index,
    month_start,
    officer_day,
    officer_month,
    terminal_day,
    terminal_month,
    unit_day,
    unit_hour,
    unit_month,
)

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
    repeat: int = 0  # later ratings of an already rated dossier (docs/attribution.md)

    def add_row(self, scale: int, values: dict) -> None:
        for level in range(1, scale + 1):
            n = int(values[f"n{level}"] or 0)
            if n:
                self.levels[(scale, level)] = self.levels.get((scale, level), 0) + n
        self.test += int(values.get("n_test") or 0)
        self.misuse += int(values.get("n_misuse") or 0)
        self.stuck += int(values.get("n_stuck") or 0)
        self.repeat += int(values.get("n_repeat") or 0)
        for code in REASON_CODES:
            self.reasons[code] += int(values.get(f"r_{code}") or 0)

    def merge(self, other: Counts) -> Counts:
        for key, n in other.levels.items():
            self.levels[key] = self.levels.get(key, 0) + n
        self.test += other.test
        self.misuse += other.misuse
        self.stuck += other.stuck
        self.repeat += other.repeat
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
        return sum(n * POINTS[key] for key, n in self.levels.items()) / self.votes

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
                "stuck_button": self.stuck, "excluded_repeat_dossier": self.repeat,
                "levels": {str(s): v for s, v in self.distribution().items()},
                "reasons": dict(self.reasons)}


def format_number(value, digits: int = 0, lang: str = "vi") -> str:
    """``1,234.5`` in English, ``1.234,5`` in Vietnamese; ``–`` for no value."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- the unit tree -------------------------------------------------------------------------

def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics (đ → d), so "thanh nhan" finds "Thanh Nhàn"
    and "dong da" finds "Đống Đa"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# Per database (URL): (version, tree), see ``UnitTree.cached``.
_TREES: dict[str, tuple[int, UnitTree]] = {}

@dataclass
class UnitTree:
    names: dict[str, str]
    kinds: dict[str, str]
    parent: dict[str, str | None]
    children: dict[str, list[str]]
    # What is derived from the tree once and kept with it (walks, folded names): the tree
    # never changes once loaded (``cached``).
    _memo: dict[tuple, object] = field(default_factory=dict, repr=False, compare=False)

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

    @classmethod
    def cached(cls, conn: Connection) -> UnitTree:
        """The tree, loaded again only when ``dash_units_version`` has changed (triggers on
        ``units`` give it a new random value on every change, whoever makes it). Loading
        10,101 units costs ~130 ms of Python; the version is one row. It is read *before* the
        tree: a change committed in between leaves a newer tree under the old version, which
        is reloaded next time, never an older tree under the new one. Callers must not modify
        the tree."""
        version = conn.execute(sa.select(units_version.c.version)).scalar()
        key = conn.engine.url.render_as_string(hide_password=True)
        hit = _TREES.get(key)
        if version is not None and hit is not None and hit[0] == version:
            return hit[1]
        tree = cls.load(conn)
        if version is not None:
            _TREES[key] = (version, tree)
        return tree

    def folded_names(self) -> dict[str, str]:
        """Unit → its name and id folded for search (``fold``); kept with the tree."""
        folded = self._memo.get(("folded",))
        if folded is None:
            folded = self._memo[("folded",)] = {
                u: fold(f"{name} {u}") for u, name in self.names.items()}
        return folded

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
        """(unit, depth below ``top``) in display order; kept (the tree never changes once
        loaded, see ``cached``), so callers must not modify the list."""
        walked = self._memo.get(("walk", top))
        if walked is not None:
            return walked
        out: list[tuple[str, int]] = []

        def walk(u: str, depth: int) -> None:
            out.append((u, depth))
            for c in self.children.get(u, []):
                walk(c, depth + 1)
        walk(top, 0)
        self._memo[("walk", top)] = out
        return out


# --- queries on the rollups ----------------------------------------------------------------

def _sums(table: sa.Table) -> list:
    return [sa.func.sum(table.c[c]).label(c) for c in table.c.keys() if c in COUNT_COLUMNS]


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


def period_parts(period: Period) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """The period as whole local months (first, last month index, or None) plus the local
    day ranges outside them: a year is 12 monthly rows per key, not 365 daily ones."""
    first = month_index(period.start) + (period.start.day != 1)
    last = month_index(period.end) - ((period.end + dt.timedelta(days=1)).day != 1)
    if first > last:
        return None, [(period.first_day, period.last_day)]
    days = []
    if (lo := local_day(month_start(first))) > period.first_day:
        days.append((period.first_day, lo - 1))
    if (hi := local_day(month_start(last + 1)) - 1) < period.last_day:
        days.append((hi + 1, period.last_day))
    return (first, last), days


def over_period(conn: Connection, period: Period, day_table: sa.Table,
                month_table: sa.Table, keys: list[str], where, sums=None) -> Iterator[dict]:
    """Rows of sums grouped by ``keys``: whole months from ``month_table``, the remaining
    days from ``day_table``; ``where(table)`` filters either. ``sums(table)``: the columns
    summed (the vote counts by default; ``column_sums`` for any rollup's counters)."""
    months, days = period_parts(period)
    parts = []
    # (never the time-unknown bucket, UNKNOWN = -1: a period before 1970 starts at 0)
    if months:
        parts.append((month_table, month_table.c.month.between(max(months[0], 0), months[1])))
    if days:
        parts.append((day_table, sa.or_(*(day_table.c.day.between(max(lo, 0), hi)
                                          for lo, hi in days))))
    for table, in_period in parts:
        group = [table.c[k] for k in keys]
        q = sa.select(*group, *(sums or _sums)(table)).where(in_period, where(table)) \
            .group_by(*group)
        yield from conn.execute(q).mappings()


def column_sums(table: sa.Table) -> list:
    """Every counter of a rollup table (its columns outside the key)."""
    return [sa.func.sum(c).label(c.name) for c in table.columns if not c.primary_key]


def unit_counts(conn: Connection, period: Period, unit_ids: list[str]
                ) -> dict[tuple[str, bool], Counts]:
    """{(unit, own): counts}: own=True the unit's own terminals, False everything below."""
    out: dict[tuple[str, bool], Counts] = defaultdict(Counts)
    for row in over_period(conn, period, unit_day, unit_month, ["unit_id", "own", "scale"],
                            lambda t: in_values(conn, t.c.unit_id, unit_ids)):
        out[(row["unit_id"], bool(row["own"]))].add_row(row["scale"], row)
    return dict(out)


def counts_by_unit(conn: Connection, period: Period, unit_ids: list[str],
                   own_only: bool = False) -> dict[str, Counts]:
    """Each unit's whole subtree (or, ``own_only``, only its own terminals)."""
    out: dict[str, Counts] = {}
    for (unit, own), counts in unit_counts(conn, period, unit_ids).items():
        if own or not own_only:
            out.setdefault(unit, Counts()).merge(counts)
    return out


def counts_by_terminal(conn: Connection, period: Period, unit_ids: list[str] | None,
                       terminal_ids: list[str] | None = None) -> dict[str, Counts]:
    """Per terminal of the units (all with ``None``), or of ``terminal_ids`` only (a page
    of a terminal list: reads just those terminals' rows)."""
    def where(t: sa.Table):
        if terminal_ids is not None:
            return in_values(conn, t.c.terminal_id, terminal_ids)
        return _unit_filter(conn, t, unit_ids)
    out: dict[str, Counts] = defaultdict(Counts)
    if terminal_ids is not None and not terminal_ids:
        return {}
    for row in over_period(conn, period, terminal_day, terminal_month,
                           ["terminal_id", "scale"], where):
        out[row["terminal_id"]].add_row(row["scale"], row)
    return dict(out)


def counts_by_officer(conn: Connection, period: Period, unit_ids: list[str]
                      ) -> dict[tuple[str, str, str], Counts]:
    """Votes per (unit, counter, officer on duty) as the kiosk recorded them ("" where none
    was configured), for the units' own terminals: one unit for its page, a subtree for an
    overview."""
    out: dict[tuple[str, str, str], Counts] = defaultdict(Counts)
    for row in over_period(conn, period, officer_day, officer_month,
                           ["unit_id", "counter", "officer", "scale"],
                           lambda t: _unit_filter(conn, t, unit_ids)):
        out[(row["unit_id"], row["counter"], row["officer"])].add_row(row["scale"], row)
    return dict(out)


def lowest_officers(conn: Connection, period: Period, unit_ids: list[str] | None,
                    limit: int, min_votes: int
                    ) -> list[tuple[tuple[str, str, str], Counts]]:
    """The ``limit`` (unit, counter, officer) of the units with the lowest index among
    those with at least ``min_votes`` counted votes, ranked by the database (a province has
    ~10,000 of them, which Python need not see), in that order, with their full counts."""
    months, days = period_parts(period)
    spans = []
    if months:
        spans.append((officer_month, officer_month.c.month.between(*months)))
    if days:
        spans.append((officer_day, sa.or_(*(officer_day.c.day.between(lo, hi)
                                            for lo, hi in days))))
    parts = []
    for table, in_period in spans:
        levels = [table.c[f"n{lvl}"] for lvl in range(1, 6)]
        parts.append(sa.select(table.c.unit_id, table.c.counter, table.c.officer,
                               sum(levels, sa.literal(0)).label("votes"),
                               points(levels, table.c.scale).label("points"))
                     .where(in_period, _unit_filter(conn, table, unit_ids)))
    if not parts:
        return []
    rows = sa.union_all(*parts).subquery()
    votes, index = sa.func.sum(rows.c.votes), sa.func.sum(rows.c.points) / sa.func.sum(rows.c.votes)
    ranked = conn.execute(
        sa.select(rows.c.unit_id, rows.c.counter, rows.c.officer)
        .group_by(rows.c.unit_id, rows.c.counter, rows.c.officer)
        .having(votes >= max(1, min_votes))
        .order_by(index, rows.c.unit_id, rows.c.counter, rows.c.officer).limit(limit)).all()
    keys = [tuple(r) for r in ranked]
    if not keys:
        return []
    counts = counts_by_officer(conn, period, sorted({k[0] for k in keys}))
    return [(k, counts[k]) for k in keys]


def counts_by_day(conn: Connection, period: Period, unit_id: str, own_only: bool = False
                  ) -> dict[dt.date, Counts]:
    """Per local day: the unit's subtree (or, ``own_only``, its own terminals)."""
    t = unit_day
    q = (sa.select(t.c.day, t.c.scale, *_sums(t))
         .where(t.c.unit_id == unit_id,
                t.c.day.between(max(period.first_day, 0), period.last_day),
                t.c.own == 1 if own_only else sa.true())
         .group_by(t.c.day, t.c.scale))
    out: dict[dt.date, Counts] = defaultdict(Counts)
    for row in conn.execute(q).mappings():
        out[day_date(row["day"])].add_row(row["scale"], row)
    return dict(out)


def heatmap(conn: Connection, period: Period, unit_id: str) -> list[list[Counts]]:
    """7 × 24 cells (Monday first, local hours) of counted votes of the unit's subtree."""
    t = unit_hour
    slot = ((t.c.hour + 72) % 168).label("slot")  # local hour 0 was a Thursday 00:00
    q = (sa.select(slot, t.c.scale, *_sums(t))
         .where(t.c.unit_id == unit_id,
                t.c.hour.between(max(period.first_day, 0) * 24, period.last_day * 24 + 23))
         .group_by(slot, t.c.scale))
    grid = [[Counts() for _ in range(24)] for _ in range(7)]
    for row in conn.execute(q).mappings():
        grid[row["slot"] // 24][row["slot"] % 24].add_row(row["scale"], row)
    return grid


def time_unknown(conn: Connection, unit_id: str, own_only: bool = False) -> Counts:
    """The unit's votes whose time is unknown (district.clock: ``time_uncertain``), all of
    them: no period, heat map or trend has them, so the pages show their number apart."""
    t = unit_day
    q = (sa.select(t.c.scale, *_sums(t))
         .where(t.c.unit_id == unit_id, t.c.day == UNKNOWN,
                t.c.own == 1 if own_only else sa.true())
         .group_by(t.c.scale))
    out = Counts()
    for row in conn.execute(q).mappings():
        out.add_row(row["scale"], row)
    return out


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
    """One row for the scope unit's own terminals and one per child unit (its subtree).

    Reads the per-unit-and-ancestor rollups of the scope and its children only: a
    province's year is ~(1 + children) × 12 rows, whatever the number of terminals."""
    kids = tree.children.get(scope, [])
    prev = period.previous()
    now = unit_counts(conn, period, [scope, *kids])
    before = unit_counts(conn, prev, [scope, *kids])

    def get(source: dict, unit: str, own: bool | None) -> Counts:
        total = Counts()
        for o in ((True, False) if own is None else (own,)):
            if (unit, o) in source:
                total.merge(source[(unit, o)])
        return total

    rows = []
    has_own = bool(conn.execute(sa.select(terminals.c.id).where(terminals.c.unit_id == scope)
                                .limit(1)).first()) or (scope, True) in now or not kids
    if has_own:
        rows.append(Row(scope, tree.names[scope], True, get(now, scope, True),
                        get(before, scope, True)))
    for child in kids:
        rows.append(Row(child, tree.names[child], False, get(now, child, None),
                        get(before, child, None)))
    total = Row(scope, tree.names[scope], False, get(now, scope, None),
                get(before, scope, None))
    return Overview(scope, period, prev, total, rank_rows(rows))
