"""What a vote counts for: the one definition of the *counted vote*, of the count columns
the rollups keep, and of the satisfaction index (docs/dashboard.md, "Definitions").

Each rule is written once, as data, and both forms are made from it: the Python that the
ingest, the exports and the alerts run on one vote, and the SQL with which ``district
rollups rebuild|check`` recompute the rollups from ``votes``. The index formula is a
function that takes numbers or SQLAlchemy column expressions alike. tests/dashboard/
test_counting.py proves on generated votes that the two forms agree (SQLite and PostgreSQL).

- *counted votes*: votes flagged neither ``test`` nor ``suspected_misuse`` nor
  ``repeat_dossier``; those are counted apart, and a vote with several counts as test, then
  misuse, then repeat.
- *index (0–100)*: the mean over counted votes of (level − 1) / (scale − 1) × 100, so the
  worst level is 0 and the best 100 on every scale (4 levels: 0, 33.3, 66.7, 100).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ballot.vote import NOT_COUNTED_FLAGS, Flag
from ballot.vote import REASONS as REASON_CODES

LEVEL_COLUMNS = ("n1", "n2", "n3", "n4", "n5")


@dataclass(frozen=True)
class Flagged:
    """A condition on a vote's flags: it carries every flag of ``has`` and none of
    ``lacks``. ``holds`` tests a set of flags; ``sql`` writes the same test over the
    ``;``-joined flags column of ``votes``."""

    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()

    def __and__(self, other: Flagged) -> Flagged:
        return Flagged(self.has + other.has, self.lacks + other.lacks)

    def holds(self, flags: Collection[str]) -> bool:
        return all(f in flags for f in self.has) and not any(f in flags for f in self.lacks)

    def sql(self, column: str) -> str:
        joined = f"(';' || {column} || ';')"
        tests = ([f"{joined} LIKE '%;{f};%'" for f in self.has]
                 + [f"{joined} NOT LIKE '%;{f};%'" for f in self.lacks])
        return " AND ".join(tests) or "1 = 1"


COUNTED = Flagged(lacks=NOT_COUNTED_FLAGS)  # ballot's vocabulary: the flags never counted
TEST = Flagged(has=(Flag.TEST.value,))
MISUSE = Flagged(has=(Flag.SUSPECTED_MISUSE.value,), lacks=TEST.has)  # test wins over misuse
STUCK = COUNTED & Flagged(has=(Flag.STUCK_BUTTON.value,))
# a later rating of a dossier that already had its counted one (docs/attribution.md)
REPEAT = Flagged(has=(Flag.REPEAT_DOSSIER.value,), lacks=TEST.has + MISUSE.has)
assert set(TEST.has + MISUSE.has + REPEAT.has) == set(NOT_COUNTED_FLAGS)  # each shown apart


@dataclass(frozen=True)
class CountColumn:
    """One count of the rollups: the votes whose flags satisfy ``rule`` (and, if given, at
    ``level`` / giving ``reason``)."""

    name: str
    rule: Flagged
    level: int | None = None
    reason: str | None = None

    def of(self, level: int, flags: Collection[str], reasons: Collection[str]) -> int:
        return int(self.rule.holds(flags) and (self.level is None or level == self.level)
                   and (self.reason is None or self.reason in reasons))

    def sql(self, v: str) -> str:
        """``CASE … THEN 1 ELSE 0 END`` over the ``votes`` row ``v`` (a table alias)."""
        cond = [self.rule.sql(f"{v}.flags")]
        if self.level is not None:
            cond.append(f"{v}.level = {self.level}")
        if self.reason is not None:
            cond.append(f"(';' || {v}.reasons || ';') LIKE '%;{self.reason};%'")
        return f"CASE WHEN {' AND '.join(cond)} THEN 1 ELSE 0 END"


COUNTS = (
    *(CountColumn(name, COUNTED, level=level)
      for level, name in enumerate(LEVEL_COLUMNS, start=1)),
    CountColumn("n_test", TEST), CountColumn("n_misuse", MISUSE),
    CountColumn("n_stuck", STUCK),
    *(CountColumn(f"r_{code}", COUNTED, reason=code) for code in REASON_CODES),
    CountColumn("n_repeat", REPEAT),  # added by revision d0005
)
COUNT_COLUMNS = tuple(c.name for c in COUNTS)


def split(codes: str | None) -> frozenset[str]:
    """``"test;stuck_button"`` → {"test", "stuck_button"} (the stored ``;``-joined form)."""
    return frozenset(codes.split(";")) if codes else frozenset()


@functools.lru_cache(maxsize=256)
def is_counted(flags: str | None) -> bool:
    """Whether a vote with these stored flags counts in the figures."""
    return COUNTED.holds(split(flags))


@functools.lru_cache(maxsize=4096)
def vote_counts(level: int, flags: str, reasons: str) -> tuple[int, ...]:
    """The COUNT_COLUMNS of one stored vote (flags and reasons ``;``-joined)."""
    fl, rs = split(flags), split(reasons)
    return tuple(c.of(level, fl, rs) for c in COUNTS)


def count_sql(v: str) -> dict[str, str]:
    """The SQL of each count column over the ``votes`` row ``v``."""
    return {c.name: c.sql(v) for c in COUNTS}


def points(levels: Sequence, scale):
    """The satisfaction points of votes on one scale, summed: a vote at level l earns
    (l − 1) / (scale − 1) × 100. ``levels`` are the numbers of votes at level 1, 2, …, as
    numbers or as SQL column expressions (then so is the result): the index is
    ``points / votes``, the same formula in Python and in SQL."""
    return sum(n * (level - 1) for level, n in enumerate(levels, start=1)) * 100.0 / (scale - 1)


def vote_points(level: int, scale: int) -> float:
    """One vote's points (0–100): the export's "Index" column."""
    return points([0] * (level - 1) + [1], scale)


# (scale, level) → one vote's points, for every scale a terminal may have (2 to 10): the
# dashboard sums votes × points over thousands of rows per page
POINTS = {(scale, level): vote_points(level, scale)
          for scale in range(2, 11) for level in range(1, scale + 1)}


assert LEVEL_COLUMNS == COUNT_COLUMNS[:5]
