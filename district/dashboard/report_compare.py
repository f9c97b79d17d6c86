"""Two periods of a unit side by side (``/dashboard/compare?unit=&a=2025-09&b=2025-10``):
each row of the overview (the unit's own terminals, each sub-unit, the total) with its
votes, satisfaction rate and index in both periods and the change from A to B. Periods as
``district report`` writes them: a month, a quarter (``2025-Q3``) or a year."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from district.dashboard import aggregates as agg
from district.dashboard.periods import Period


@dataclass
class Pair:
    unit_id: str
    name: str
    own_only: bool
    a: agg.Counts
    b: agg.Counts

    def change(self, attr: str) -> float | None:
        x, y = getattr(self.a, attr), getattr(self.b, attr)
        return None if x is None or y is None else y - x


def compare(engine: Engine, tree: agg.UnitTree, unit: str, a: Period, b: Period
            ) -> tuple[list[Pair], Pair]:
    with engine.connect() as conn:
        first, second = agg.overview(conn, tree, unit, a), agg.overview(conn, tree, unit, b)
    before = {(r.unit_id, r.own_only): r.counts for r in first.rows}
    rows = [Pair(r.unit_id, r.name, r.own_only, before.get((r.unit_id, r.own_only),
                                                           agg.Counts()), r.counts)
            for r in second.rows]
    total = Pair(unit, tree.names[unit], False, first.total.counts, second.total.counts)
    return rows, total
