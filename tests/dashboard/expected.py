"""Independent computation of the dashboard's figures from the generated votes (plain
Python over the list the test inserted; no code shared with district.dashboard)."""

from __future__ import annotations

import datetime as dt

POSITIVE = {3: {2, 3}, 4: {3, 4}, 5: {4, 5}}
NEGATIVE = {3: {1}, 4: {1, 2}, 5: {1, 2}}


def in_period(vote, start: dt.date, end: dt.date) -> bool:
    return start <= vote.local.date() <= end


def figures(votes, units: set[str], start: dt.date, end: dt.date) -> dict:
    chosen = [v for v in votes if v.unit_id in units and in_period(v, start, end)]
    test = sum(1 for v in chosen if "test" in v.flags)
    misuse = sum(1 for v in chosen if "test" not in v.flags and "suspected_misuse" in v.flags)
    counted = [v for v in chosen if not {"test", "suspected_misuse"} & set(v.flags)]
    n = len(counted)
    positive = sum(1 for v in counted if v.level in POSITIVE[v.scale])
    negative = sum(1 for v in counted if v.level in NEGATIVE[v.scale])
    index = sum((v.level - 1) / (v.scale - 1) * 100 for v in counted) / n if n else None
    reasons: dict[str, int] = {}
    for v in counted:
        for r in v.reasons:
            reasons[r] = reasons.get(r, 0) + 1
    return {"votes": n, "positive": positive, "negative": negative,
            "satisfaction_rate": 100 * positive / n if n else None, "index": index,
            "excluded_test": test, "excluded_misuse": misuse, "reasons": reasons,
            "all": len(chosen)}
