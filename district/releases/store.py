"""Rollouts: which terminals should run which release, and what they report back.

``release_rollouts`` (revision d0012): one row per ``district releases rollout``: the version,
its target (one terminal, a unit and the units below it, a share of the fleet, everyone) and
its state (``active``, ``paused``, ``stopped``). A terminal's target is the version of the
newest rollout that takes it in, unless that one is stopped (then none: it keeps what it
runs); a paused one holds the terminals that have not started (those that run it keep it).
A share takes the terminals whose bucket (a hash of their id, 0–99) is below it, so 10 %
then 50 % keeps the first tenth.

``terminal_releases``: per terminal, the version it runs and the outcome of its last update
(``kept``, ``rolled_back``, ``refused``) with the reason, as its heartbeats report them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from district import audit
from district.db import UTCDateTime, dialect_insert, terminals, units, utcnow, write_transaction
from district.errors import N_, DistrictError

metadata = sa.MetaData()  # not district.db's: the tests' wipe() must not try to empty it
BIG_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ACTIVE, PAUSED, STOPPED = "active", "paused", "stopped"
KINDS = ("terminal", "unit", "share", "all")
OUTCOMES = ("kept", "rolled_back", "refused")
CACHE_S = 2.0  # how long a server process trusts its copy of the rollouts
AUDIT_OF_STATE = {PAUSED: "rollout_paused", ACTIVE: "rollout_resumed", STOPPED: "rollout_stopped"}

release_rollouts = sa.Table(
    "release_rollouts", metadata,
    sa.Column("pk", BIG_PK, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("target", sa.String(100), nullable=False, server_default=""),
    sa.Column("allow_older", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)
terminal_releases = sa.Table(
    "terminal_releases", metadata,
    sa.Column("terminal_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=True),
    sa.Column("outcome_version", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reported_at", UTCDateTime, nullable=False),
)


class ReleaseTarget(BaseModel):
    """The heartbeat answer's ``release``: what this terminal should run now."""

    version: str = Field(description="hailong-kiosk's version to install from the district's "
                         "apt repository (/apt/)")
    rollout: int = Field(description="the rollout's number")
    paused: bool = Field(False, description="the rollout is paused: do not start it")
    allow_older: bool = Field(False, description="the district goes back to an older version")


@dataclass(frozen=True)
class Rollout:
    pk: int
    version: str
    kind: str
    target: str
    allow_older: bool
    state: str
    author: str
    at: dt.datetime


def bucket(terminal_id: str) -> int:
    """0–99, fixed per terminal: the share a rollout to PCT % takes is those below PCT."""
    return int.from_bytes(hashlib.sha256(terminal_id.encode()).digest()[:4], "big") % 100


def start(engine: Engine, version: str, kind: str, target: str, actor: audit.Actor,
          allow_older: bool = False) -> int:
    """A new rollout (``actor`` is its author, recorded in the audit log with it)."""
    if kind not in KINDS:
        raise DistrictError(N_("unknown rollout target {kind!r}"), kind=kind)
    with write_transaction(engine) as conn:
        if kind == "terminal" and conn.execute(sa.select(terminals.c.id).where(
                terminals.c.id == target)).first() is None:
            raise DistrictError(N_("no terminal {terminal_id} is registered"),
                                terminal_id=target)
        if kind == "unit" and conn.execute(sa.select(units.c.id).where(
                units.c.id == target)).first() is None:
            raise DistrictError(N_("no unit {unit} on this server"), unit=target)
        now = utcnow()
        number = conn.execute(release_rollouts.insert().values(
            version=version, kind=kind, target=target, allow_older=allow_older, state=ACTIVE,
            author=actor.name[:100], at=now, changed_at=now)
            .returning(release_rollouts.c.pk)).scalar_one()
        audit.record(conn, actor, "rollout_started", version,
                     {"rollout": number, "target": kind, "value": target,
                      "allow_older": allow_older})
    return number


def set_state(engine: Engine, state: str, actor: audit.Actor, version: str | None = None
              ) -> int:
    """Pause, resume or stop the rollouts (of ``version`` only, when given) that are not
    stopped already; returns how many changed (recorded in the audit log when any did)."""
    was = {PAUSED: [ACTIVE], ACTIVE: [PAUSED], STOPPED: [ACTIVE, PAUSED]}[state]
    cond = release_rollouts.c.state.in_(was)
    if version:
        cond = sa.and_(cond, release_rollouts.c.version == version)
    with write_transaction(engine) as conn:
        changed = [row.pk for row in conn.execute(sa.select(release_rollouts.c.pk).where(cond))]
        if changed:
            conn.execute(release_rollouts.update().where(
                release_rollouts.c.pk.in_(changed)).values(state=state, changed_at=utcnow()))
            audit.record(conn, actor, AUDIT_OF_STATE[state], version or "",
                         {"rollouts": changed})
    _CACHE.clear()
    return len(changed)


def rollouts(engine: Engine, include_stopped: bool = True) -> list[Rollout]:
    query = sa.select(release_rollouts).order_by(release_rollouts.c.pk.desc())
    if not include_stopped:
        query = query.where(release_rollouts.c.state != STOPPED)
    with engine.connect() as conn:
        return [Rollout(r.pk, r.version, r.kind, r.target, bool(r.allow_older), r.state,
                        r.author, r.at) for r in conn.execute(query)]


def reports(engine: Engine, terminal_ids: list[str] | None = None) -> dict[str, sa.Row]:
    """What the terminals (these only, when given: a page of the fleet) reported."""
    query = sa.select(terminal_releases)
    if terminal_ids is not None:
        query = query.where(terminal_releases.c.terminal_id.in_(terminal_ids))
    with engine.connect() as conn:
        return {r.terminal_id: r for r in conn.execute(query)}


# --- with each heartbeat -------------------------------------------------------------------

_CACHE: dict = {}
_LOCK = threading.Lock()


def _cached(engine: Engine, key: str, load):
    now = time.monotonic()
    ident = (engine.url.render_as_string(hide_password=True), key)
    with _LOCK:
        hit = _CACHE.get(ident)
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]
    value = load()
    with _LOCK:
        _CACHE[ident] = (now, value)
    return value


def _units_up(engine: Engine, unit_id: str | None) -> frozenset[str]:
    """``unit_id`` and the units above it (from one cached read of the unit tree)."""
    def load():
        with engine.connect() as conn:
            return dict(conn.execute(sa.select(units.c.id, units.c.parent_id)).all())
    parents = _cached(engine, "units", load)
    found: list[str] = []
    while unit_id and unit_id not in found and len(found) < 100:
        found.append(unit_id)
        unit_id = parents.get(unit_id)
    return frozenset(found)


def target_for(engine: Engine, terminal_id: str, unit_id: str | None) -> ReleaseTarget | None:
    """The newest rollout that takes ``terminal_id`` in decides: its version (paused or
    not), or, once it is stopped, none: the terminal keeps what it runs. (An older rollout
    never comes back by itself: after ``stop v3`` a fleet once sent back to v1 with
    --allow-older must not go back to v1.)"""
    every = _cached(engine, "rollouts", lambda: rollouts(engine))
    for r in every:  # newest first
        if _takes(r, terminal_id, unit_id, engine):
            if r.state == STOPPED:
                return None
            return ReleaseTarget(version=r.version, rollout=r.pk, paused=r.state == PAUSED,
                                 allow_older=r.allow_older)
    return None


def _takes(r: Rollout, terminal_id: str, unit_id: str | None, engine: Engine) -> bool:
    if r.kind == "all":
        return True
    if r.kind == "terminal":
        return r.target == terminal_id
    if r.kind == "share":
        return bucket(terminal_id) < int(r.target)
    return r.target in _units_up(engine, unit_id)


# what this process stored last per terminal, and when
_REPORTED: dict[tuple[str, str], tuple[tuple, float]] = {}
# How long a process trusts its memory of a terminal's row: another server process may have
# stored a newer report since (a terminal that reconnected), so the same values are written
# again after this long at the latest.
REPORTED_TRUST_S = 600.0


def on_report(engine: Engine, terminal_id: str, version: str | None, outcome: str | None,
              outcome_version: str | None, reason: str | None, received_at: dt.datetime
              ) -> None:
    """Store what a heartbeat says of the terminal's release when it changed (a terminal
    repeats it with every heartbeat: this process remembers what it stored)."""
    if version is None and outcome is None:
        return
    key = (engine.url.render_as_string(hide_password=True), terminal_id)
    values = (version, outcome, outcome_version, reason)
    known = _REPORTED.get(key)
    if known is not None and known[0] == values and \
            time.monotonic() - known[1] < REPORTED_TRUST_S:
        return
    row = dict(zip(("version", "outcome", "outcome_version", "reason"), values, strict=True))
    row["reported_at"] = received_at
    with write_transaction(engine) as conn:
        stmt = dialect_insert(conn, terminal_releases).values(terminal_id=terminal_id, **row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["terminal_id"], set_=row))
    _REPORTED[key] = (values, time.monotonic())
