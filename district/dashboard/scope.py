"""What an official may see: their unit and everything below it (a district official: all).

Every unit a page, download or API call names goes through ``Scope.resolve``: a unit outside
the official's subtree answers 404 like a unit that does not exist (no hint which)."""

from __future__ import annotations

from dataclasses import dataclass

from district.dashboard import aggregates as agg
from district.dashboard.accounts import Official

ALL_UNITS_UP_TO = 300  # a unit selector longer than this shows the way to the current unit


class NotVisible(Exception):
    """The unit does not exist or is outside the official's units (both answer 404)."""


@dataclass
class Scope:
    """What an official may see: ``top`` and every unit below it."""

    official: Official
    tree: agg.UnitTree

    @property
    def top(self) -> str | None:
        return self.official.unit_id if self.official.role == "unit" else None

    def tops(self) -> list[str]:
        return [self.top] if self.top else self.tree.roots()

    def resolve(self, unit_id: str | None) -> str:
        if not unit_id:
            tops = self.tops()
            if not tops:
                raise NotVisible()
            return tops[0]
        if unit_id not in self.tree.names:
            raise NotVisible()
        if self.top and not self.tree.is_within(unit_id, self.top):
            raise NotVisible()
        return unit_id

    def unit_choices(self, current: str) -> list[tuple[str, str, int]]:
        """(id, name, depth) for the unit selector: every unit the official may see, or, when
        that is more than ``ALL_UNITS_UP_TO`` (a province has 10,101), the way down to
        ``current``, its siblings and its children, so the select stays short and one can
        walk the tree from any page."""
        if not self.is_large():
            return [(u, self.tree.names[u], d)
                    for top in self.tops() for u, d in self.tree.depth_first(top)]
        path = [u for u in self.tree.ancestors(current)
                if self.top is None or self.tree.is_within(u, self.top)]
        around = self.tree.children.get(path[-1], []) if path else self.tops()
        out = [(u, self.tree.names[u], d) for d, u in enumerate(path)]
        for u in around:
            out.append((u, self.tree.names[u], len(path)))
            if u == current:
                out.extend((c, self.tree.names[c], len(path) + 1)
                           for c in self.tree.children.get(u, []))
        return out

    def is_large(self) -> bool:
        """More units than the selector lists whole (then it offers a search too)."""
        return sum(len(self.tree.depth_first(t)) for t in self.tops()) > ALL_UNITS_UP_TO

    def find(self, text: str) -> list[str]:
        """The visible units whose name or id contains ``text``, accents and case ignored,
        in tree order."""
        needle = agg.fold(text.strip())
        if not needle:
            return []
        folded = self.tree.folded_names()
        return [u for top in self.tops() for u, _d in self.tree.depth_first(top)
                if needle in folded[u]]
