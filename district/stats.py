"""Vote counts for ``district stats`` and ``GET /api/v1/stats``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from district.db import rejected_votes, terminals, votes


def vote_stats(engine: Engine) -> dict:
    """``votes_total`` and ``by_terminal`` (the contract), plus by_unit and health counters.

    Every registered terminal appears in ``by_terminal``, with 0 when it sent nothing yet:
    a silent terminal is exactly what an official wants to see.
    """
    with engine.connect() as conn:
        by_terminal = {t: 0 for t in conn.execute(sa.select(terminals.c.id)).scalars()}
        by_terminal.update(conn.execute(
            sa.select(votes.c.terminal_id, sa.func.count()).group_by(votes.c.terminal_id)).all())
        by_unit = dict(conn.execute(
            sa.select(votes.c.unit_id, sa.func.count()).group_by(votes.c.unit_id)).all())
        uncertain = conn.execute(
            sa.select(sa.func.count()).where(votes.c.time_uncertain.is_(True))).scalar_one()
        rejected = conn.execute(sa.select(sa.func.count()).select_from(rejected_votes)
                                ).scalar_one()
        last = conn.execute(sa.select(sa.func.max(votes.c.received_at))).scalar_one()
    if isinstance(last, str):  # SQLite returns max() of a datetime column as text
        import datetime as dt

        last = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC)
    return {
        "votes_total": sum(by_terminal.values()),
        "by_terminal": dict(sorted(by_terminal.items())),
        "by_unit": dict(sorted(by_unit.items())),
        "rejected_total": rejected,
        "terminals_total": len(by_terminal),
        "time_uncertain_total": uncertain,
        "last_received_at": last,
    }
