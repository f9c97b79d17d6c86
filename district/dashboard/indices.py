"""The index figures an office hands upward (docs/dashboard.md, "Index sheets"): what the
follow-up reasons and the imported dossiers say in the terms of the legal texts.

**Circular 01/2018/TT-VPCP** (Art. 13; Decree 61/2018/NĐ-CP, Art. 31) lists nine indicators
of how a procedure was handled, each scored 0, 1 or 2 (at most 18). A rating terminal can
collect four of them, through the follow-up question after a negative vote; each reason is
one indicator (``INDICATORS``). Every counted vote is one citizen's assessment, scored per
indicator as the Circular scores an answer:

- 2 (the indicator met well): a positive vote;
- 0 (not met): a vote that names the indicator's reason;
- 1 (met, not well): any other vote (neutral, or negative for another reason or none).

A reason follows only a negative vote (the terminal asks only then), so per unit and period
the points of an indicator are ``2 × positive + (votes − positive − named)`` and its score
the mean, 0–2. The grade of a score (and of the four together, out of 8) is by its share of
the maximum (``GRADES``): the project's reading, since the Circular grades the whole
18-point assessment and a terminal sees only four indicators.

**Decision 766/QĐ-TTg (2022)**, satisfaction (18 of 100 points), the ratio of dossiers
without an unsatisfied rating, a complaint or a delay: of the dossiers finished in a month
(``dossiers.finished_on``, ``district dossiers import``), the share that is neither late
(finished after ``due_on``) nor rated unsatisfied (its counted rating, ``dossier_ratings``,
at a negative level). Complaints are not imported (the one-stop export has no column for
them), so none is subtracted: the ratio is an upper bound until they are. The **coverage**
beside it is the share of those dossiers that have a counted rating at all: a ratio over 5 %
of rated dossiers says little about the unrated 95 %.

Both read what the dashboard reads (the overview's rollup counts; the dossier tables), per
row of the overview: the unit's own terminals (its own dossiers) and each sub-unit's
subtree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district.attribution import dossier_ratings, dossiers
from district.dashboard import aggregates as agg
from district.dashboard.periods import Period
from district.errors import N_


@dataclass(frozen=True)
class Indicator:
    number: int  # its number in the Circular's list
    reason: str  # the follow-up reason that answers it
    title: str  # N_(): translated where shown
    short: str  # a column's header


INDICATORS = (
    Indicator(1, "waiting_time", N_("Total time to settle the procedure against the legal "
                                    "limit"), N_("Time")),
    Indicator(3, "too_many_trips", N_("Number of contacts needed to complete the dossier"),
              N_("Contacts")),
    Indicator(4, "unclear_guidance", N_("Number of agencies and units contacted"),
              N_("Agencies")),
    Indicator(7, "officer_attitude", N_("Attitude of the officers"), N_("Attitude")),
)
MAX_SCORE = 2
# (share of the maximum from which, grade): a score of 1.5 of 2 or more is good
GRADES = ((0.75, "good"), (0.5, "fair"), (0.0, "poor"))
GRADE_NAMES = {"good": N_("good"), "fair": N_("acceptable"), "poor": N_("not acceptable")}


def grade(points: float | None, maximum: float) -> str | None:
    if points is None or not maximum:
        return None
    return next(g for share, g in GRADES if points >= share * maximum - 1e-9)


@dataclass
class Score:
    """One indicator over some counted votes."""

    votes: int
    good: int  # scored 2
    poor: int  # scored 0

    @property
    def fair(self) -> int:  # scored 1
        return max(0, self.votes - self.good - self.poor)

    @property
    def points(self) -> int:
        return MAX_SCORE * self.good + self.fair

    @property
    def score(self) -> float | None:
        return self.points / self.votes if self.votes else None

    @property
    def grade(self) -> str | None:
        return grade(self.score, MAX_SCORE)


def scores(c: agg.Counts) -> list[Score]:
    return [Score(c.votes, c.positive, c.reasons.get(i.reason, 0)) for i in INDICATORS]


@dataclass
class CircularRow:
    unit_id: str
    name: str
    own_only: bool
    counts: agg.Counts

    @property
    def scores(self) -> list[Score]:
        return scores(self.counts)

    @property
    def total(self) -> float | None:
        """The four scores added up, out of 8."""
        got = [s.score for s in self.scores]
        return None if any(s is None for s in got) else sum(got)

    @property
    def grade(self) -> str | None:
        return grade(self.total, MAX_SCORE * len(INDICATORS))

    def as_json(self) -> dict:
        return {"unit_id": self.unit_id, "name": self.name, "own_terminals_only": self.own_only,
                "votes": self.counts.votes, "positive": self.counts.positive,
                "indicators": [{"number": i.number, "reason": i.reason,
                                "named": s.poor, "points": s.points,
                                "score": _round(s.score), "grade": s.grade}
                               for i, s in zip(INDICATORS, self.scores, strict=True)],
                "total": _round(self.total), "grade": self.grade}


@dataclass
class Dossiers:
    """Dossiers finished in a month (or a period): the Decision 766 ratio and coverage."""

    finished: int = 0
    late: int = 0
    unsatisfied: int = 0
    flagged: int = 0  # late or rated unsatisfied (a dossier counted once)
    rated: int = 0

    def add(self, other: Dossiers) -> Dossiers:
        for f in ("finished", "late", "unsatisfied", "flagged", "rated"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        return self

    @property
    def clean(self) -> int:
        return self.finished - self.flagged

    @property
    def ratio(self) -> float | None:
        return 100 * self.clean / self.finished if self.finished else None

    @property
    def coverage(self) -> float | None:
        return 100 * self.rated / self.finished if self.finished else None

    def as_json(self) -> dict:
        return {"finished": self.finished, "late": self.late, "unsatisfied": self.unsatisfied,
                "late_or_unsatisfied": self.flagged, "rated": self.rated,
                "ratio": _round(self.ratio), "coverage": _round(self.coverage)}


@dataclass
class DossierRow:
    unit_id: str
    name: str
    own_only: bool
    months: dict[dt.date, Dossiers]  # first day of each month of the period

    @property
    def total(self) -> Dossiers:
        out = Dossiers()
        for d in self.months.values():
            out.add(d)
        return out


@dataclass
class Indices:
    unit: str
    name: str
    period: Period
    circular: list[CircularRow]  # the overview's rows, ranked as there
    circular_total: CircularRow
    months: list[dt.date]
    dossiers: list[DossierRow]  # the same rows
    dossiers_total: DossierRow
    names: dict[str, str] = field(default_factory=dict, repr=False)

    def as_json(self) -> dict:
        return {
            "unit_id": self.unit, "period": self.period.as_json(),
            "circular_01": {
                "indicators": [{"number": i.number, "reason": i.reason, "title": i.title}
                               for i in INDICATORS],
                "units": [r.as_json() for r in self.circular],
                "total": self.circular_total.as_json()},
            "decision_766": {
                "months": [m.strftime("%Y-%m") for m in self.months],
                "units": [_dossier_json(r, self.months) for r in self.dossiers],
                "total": _dossier_json(self.dossiers_total, self.months)},
        }


def _dossier_json(r: DossierRow, months: list[dt.date]) -> dict:
    return {"unit_id": r.unit_id, "name": r.name, "own_terminals_only": r.own_only,
            "months": [{"month": m.strftime("%Y-%m"), **r.months[m].as_json()} for m in months],
            "period": r.total.as_json()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def months_of(period: Period) -> list[tuple[dt.date, dt.date, dt.date]]:
    """(the month's first day, then the part of it inside the period: from, to)."""
    out, first = [], period.start.replace(day=1)
    while first <= period.end:
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        out.append((first, max(first, period.start), min(nxt - dt.timedelta(days=1),
                                                           period.end)))
        first = nxt
    return out


def _unsatisfied(r) -> sa.ColumnElement:
    """A counted rating at a negative level of its scale (aggregates.NEGATIVE_TO)."""
    return sa.or_(*(sa.and_(r.scale == scale, r.level <= top)
                    for scale, top in sorted(agg.NEGATIVE_TO.items())))


def dossier_counts(conn: Connection, units: list[str], start: dt.date, end: dt.date
                   ) -> dict[str, Dossiers]:
    """Per unit: the dossiers finished from ``start`` to ``end`` (inclusive)."""
    d, r = dossiers.c, dossier_ratings.c
    late = sa.and_(d.due_on.is_not(None), d.finished_on > d.due_on)
    unsat = sa.and_(r.dossier_code.is_not(None), _unsatisfied(r))

    def n(cond):
        return sa.func.sum(sa.case((cond, 1), else_=0))
    q = (sa.select(d.unit_id, sa.func.count(), n(late), n(unsat), n(sa.or_(late, unsat)),
                   n(r.dossier_code.is_not(None)))
         .select_from(dossiers.outerjoin(dossier_ratings, r.dossier_code == d.code))
         .where(agg.in_values(conn, d.unit_id, units), d.finished_on.between(start, end))
         .group_by(d.unit_id))
    return {u: Dossiers(*(int(x or 0) for x in rest)) for u, *rest in conn.execute(q)}


def compute(conn: Connection, tree: agg.UnitTree, unit: str, period: Period,
            ov: agg.Overview | None = None) -> Indices:
    ov = ov or agg.overview(conn, tree, unit, period)
    circular = [CircularRow(r.unit_id, r.name, r.own_only, r.counts) for r in ov.rows]
    owner = {unit: (unit, True)}
    for child in tree.children.get(unit, []):
        for u in tree.subtree(child):
            owner[u] = (child, False)
    subtree = tree.subtree(unit)
    months = months_of(period)
    by_row = {(r.unit_id, r.own_only): DossierRow(r.unit_id, r.name, r.own_only,
                                                  {m: Dossiers() for m, _a, _b in months})
              for r in ov.rows}
    total = DossierRow(unit, tree.names[unit], False, {m: Dossiers() for m, _a, _b in months})
    for first, start, end in months:
        for u, counts in dossier_counts(conn, subtree, start, end).items():
            key = owner.get(u)
            if key in by_row:
                by_row[key].months[first].add(counts)
            total.months[first].add(counts)
    rows = [by_row[(r.unit_id, r.own_only)] for r in ov.rows]
    return Indices(unit, tree.names[unit], period, circular,
                   CircularRow(unit, tree.names[unit], False, ov.total.counts),
                   [m for m, _a, _b in months], rows, total, tree.names)


def indices(engine: Engine, tree: agg.UnitTree, unit: str, period: Period) -> Indices:
    with engine.connect() as conn:
        return compute(conn, tree, unit, period)


def row_label(row, rows: int, _: Callable[[str], str]) -> str:
    """A row of the overview (or of the index figures, the same rows) by name, the scope
    unit's own terminals marked when they are one row of several."""
    return row.name + (" " + _("(own terminals)") if row.own_only and rows > 1 else "")


def grade_words(_: Callable[[str], str]) -> Callable[[str | None], str]:
    return lambda g: "–" if g is None else _(GRADE_NAMES[g])
