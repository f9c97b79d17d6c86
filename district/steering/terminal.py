"""What the heartbeat's answer tells a terminal (the settings version it should run, the
officials' open requests) and what the terminal reports back with its next heartbeat (the
version it applied or refused and why, its answers to the requests).

Tables ``terminal_steering`` (the latest report per terminal) and ``terminal_requests`` (one
row per request, answered once the terminal sent its answer), revision d0009. A request is
sent again with every heartbeat until it is answered: an answer lost on the way costs one
more doctor run, never a lost request.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection, Engine

from ballot.settings import SettingsAnswer  # noqa: F401 - the API answers it
from ballot.wire import REQUEST_ACTIONS, Heartbeat
from district import audit
from district.db import UTCDateTime, dialect_insert, terminals, utcnow, write_transaction
from district.errors import N_, DistrictError
from district.releases import store as releases
from district.steering.store import TERMINAL, Scope, effective_in, metadata, settings_versions

BIG_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")
OPEN_SENT_AT_MOST = 10  # requests per heartbeat answer
JOURNAL_LINES = 100

terminal_steering = sa.Table(
    "terminal_steering", metadata,
    sa.Column("terminal_id", sa.String(64), primary_key=True),
    sa.Column("applied_version", sa.BigInteger, nullable=True),
    sa.Column("applied_etag", sa.String(64), nullable=True),
    sa.Column("refused_version", sa.BigInteger, nullable=True),
    sa.Column("refusal", sa.Text, nullable=True),
    sa.Column("reported_at", UTCDateTime, nullable=False),
)
terminal_requests = sa.Table(
    "terminal_requests", metadata,
    sa.Column("pk", BIG_PK, primary_key=True, autoincrement=True),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("asked_by", sa.String(100), nullable=False),
    sa.Column("asked_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime, nullable=True),
    sa.Column("answer", sa.Text, nullable=True),
)

# The audit log's words for each request (district.audit records them)
ACTION_AUDIT = {"doctor": "doctor_requested", "restart_ui": "ui_restart_requested",
                "button_test": "button_test_requested"}


class OpenRequest(BaseModel):
    id: int
    action: str = Field(description="doctor (its report and the journal's last lines), "
                        "restart_ui, button_test")


class SteeringAnswer(BaseModel):
    """The heartbeat answer's steering part: the settings to run, the open requests."""

    settings_version: int = Field(0, description="the settings version this terminal should "
                                  "run (GET /api/v1/settings when it differs from its own)")
    settings_etag: str = Field("", description="the settings' tag (If-None-Match)")
    requests: list[OpenRequest] = []
    release: releases.ReleaseTarget | None = Field(None, description="the software release "
                                                   "this terminal should run (docs/updates.md)")


class HeartbeatAnswer(SteeringAnswer):
    """``POST /api/v1/heartbeat``'s answer: the server's time, and the steering part."""

    server_time: dt.datetime


def settings_answer(conn: Connection, terminal_id: str) -> SettingsAnswer:
    eff = effective_in(conn, Scope(TERMINAL, terminal_id))
    return SettingsAnswer(version=eff.version, etag=eff.etag, settings=eff.document)


# --- what a heartbeat reads of its terminal's steering: one query, or none of its own -------

# revision d0003's one-row table, a new number whenever the unit tree changes (triggers)
_units_version = sa.table("dash_units_version", sa.column("version", sa.BigInteger))


@dataclass(frozen=True)
class Known:
    """What the server holds of one terminal's steering, read with its heartbeat."""

    unit_id: str | None
    reported: bool                     # a row in terminal_steering
    applied_version: int | None
    refused_version: int | None
    refusal: str | None
    settings_stamp: tuple              # (newest settings version anywhere, unit tree version)
    requests: tuple[tuple[int, str], ...]  # open ones (pk, action), oldest first

    @classmethod
    def from_row(cls, row) -> Known:
        pairs = (item.split(":", 1) for item in (row.open_requests or "").split(",") if item)
        return cls(row.unit_id, row.reported_at is not None, row.applied_version,
                   row.refused_version, row.refusal, (row.settings_max, row.units_version),
                   tuple(sorted((int(pk), action) for pk, action in pairs)))


def known_columns(terminal_id) -> list:
    """``Known``'s columns (but ``unit_id``) for the terminal ``terminal_id`` (a column or
    a value): scalar subqueries, so the heartbeat's own statement can carry them."""
    ts, tr = terminal_steering, terminal_requests

    def steering(column):
        return sa.select(column).where(ts.c.terminal_id == terminal_id).scalar_subquery()

    open_ = (sa.select(tr.c.pk, tr.c.action)
             .where(tr.c.terminal_id == terminal_id, tr.c.answered_at.is_(None))
             .order_by(tr.c.pk).limit(OPEN_SENT_AT_MOST).subquery())
    return [steering(ts.c.reported_at).label("reported_at"),
            steering(ts.c.applied_version).label("applied_version"),
            steering(ts.c.refused_version).label("refused_version"),
            steering(ts.c.refusal).label("refusal"),
            sa.select(sa.func.max(settings_versions.c.version)).scalar_subquery()
            .label("settings_max"),
            sa.select(_units_version.c.version).limit(1).scalar_subquery()
            .label("units_version"),
            sa.select(sa.func.aggregate_strings(
                sa.cast(open_.c.pk, sa.String) + ":" + open_.c.action, ","))
            .scalar_subquery().label("open_requests")]


def read_known(conn: Connection, terminal_id: str) -> Known:
    row = conn.execute(sa.select(terminals.c.unit_id, *known_columns(terminals.c.id))
                       .where(terminals.c.id == terminal_id)).first()
    return Known.from_row(row) if row else Known(None, False, None, None, None, (), ())


# terminal → (settings stamp, version, etag): the merged settings are computed again only
# when a settings version was written or the unit tree or the terminal's unit changed
_SETTINGS_OF: dict[tuple[str, str], tuple[tuple, int, str]] = {}


def settings_version(engine: Engine, terminal_id: str, known: Known) -> tuple[int, str]:
    """(version, etag) of what ``terminal_id`` should run."""
    key = (engine.url.render_as_string(hide_password=True), terminal_id)
    stamp = (*known.settings_stamp, known.unit_id)
    cached = _SETTINGS_OF.get(key)
    if cached is None or cached[0] != stamp or not known.settings_stamp:
        with engine.connect() as conn:
            eff = effective_in(conn, Scope(TERMINAL, terminal_id))
        cached = _SETTINGS_OF[key] = (stamp, eff.version, eff.etag)
    return cached[1], cached[2]


def on_heartbeat(engine: Engine, beat: Heartbeat, received_at: dt.datetime,
                 known: Known | None = None) -> SteeringAnswer:
    """Store what ``beat`` reports of the steering when it changed (a terminal repeats its
    version with every heartbeat: most heartbeats only read), and say what is asked of its
    terminal now. Called after the heartbeat itself was stored for that terminal, with
    ``known`` when the heartbeat's statement read it already (else one query reads it)."""
    if known is None:
        with engine.connect() as conn:
            known = read_known(conn, beat.terminal_id)
    version, etag = settings_version(engine, beat.terminal_id, known)
    reported = (beat.settings_applied, beat.settings_refused, beat.settings_refusal)
    changed = any(v is not None for v in reported) and (
        not known.reported
        or (known.applied_version if beat.settings_applied is None else beat.settings_applied,
            *reported[1:]) != (known.applied_version, known.refused_version, known.refusal))
    if changed or beat.answers:
        with write_transaction(engine) as conn:
            if changed:
                _store_report(conn, beat, received_at)
            for answer in beat.answers:
                conn.execute(terminal_requests.update().where(
                    terminal_requests.c.pk == answer.id,
                    terminal_requests.c.terminal_id == beat.terminal_id,
                    terminal_requests.c.answered_at.is_(None)).values(
                        answered_at=received_at,
                        answer=json.dumps({"ok": answer.ok, "text": answer.text},
                                          ensure_ascii=False)))
    answered = {a.id for a in beat.answers}
    releases.on_report(engine, beat.terminal_id, beat.release_version, beat.release_outcome,
                       beat.release_outcome_version, beat.release_reason, received_at)
    return SteeringAnswer(settings_version=version, settings_etag=etag,
                          requests=[OpenRequest(id=pk, action=action)
                                    for pk, action in known.requests if pk not in answered],
                          release=releases.target_for(engine, beat.terminal_id, known.unit_id))


def _store_report(conn: Connection, beat: Heartbeat, received_at: dt.datetime) -> None:
    values = {"reported_at": received_at}
    if beat.settings_applied is not None:
        values["applied_version"] = beat.settings_applied
    values["refused_version"] = beat.settings_refused
    values["refusal"] = beat.settings_refusal  # a refusal, or a damaged file left aside
    stmt = dialect_insert(conn, terminal_steering).values(terminal_id=beat.terminal_id,
                                                          **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["terminal_id"], set_=values))


# --- the officials' requests -------------------------------------------------------------------

def ask(engine: Engine, terminal_id: str, action: str, actor: audit.Actor) -> int:
    """Record an official's request to a terminal (sent with its next heartbeat's answer);
    audited. Returns the request's number."""
    if action not in REQUEST_ACTIONS:
        raise DistrictError(N_("unknown request {action!r}"), action=action)
    with write_transaction(engine) as conn:
        if conn.execute(sa.select(terminals.c.id)
                        .where(terminals.c.id == terminal_id)).first() is None:
            raise DistrictError(N_("no terminal {terminal_id} is registered"),
                                terminal_id=terminal_id)
        number = conn.execute(terminal_requests.insert().values(
            terminal_id=terminal_id, action=action, asked_by=actor.name[:100],
            asked_at=utcnow()).returning(terminal_requests.c.pk)).scalar_one()
        audit.record(conn, actor, ACTION_AUDIT[action], terminal_id, {"request": number})
    return number


@dataclass
class Request:
    id: int
    action: str
    asked_by: str
    asked_at: dt.datetime
    answered_at: dt.datetime | None
    ok: bool | None
    text: str

    @property
    def report(self) -> dict | None:
        """A doctor's answer: ``{"doctor": {...}, "journal": [lines]}`` (None otherwise)."""
        try:
            value = json.loads(self.text) if self.action == "doctor" and self.text else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class TerminalSteering:
    """What the fleet page shows of a terminal's steering."""

    applied_version: int | None = None
    refused_version: int | None = None
    refusal: str | None = None
    reported_at: dt.datetime | None = None
    requests: list[Request] = field(default_factory=list)

    def latest(self, action: str) -> Request | None:
        return next((r for r in self.requests if r.action == action), None)


def steering_of(engine: Engine, terminal_ids: list[str], requests_each: int = 5
                ) -> dict[str, TerminalSteering]:
    """Per terminal: its last report and its newest requests (newest first)."""
    out = {tid: TerminalSteering() for tid in terminal_ids}
    if not terminal_ids:
        return out
    ts, tr = terminal_steering, terminal_requests
    with engine.connect() as conn:
        for row in conn.execute(sa.select(ts).where(ts.c.terminal_id.in_(terminal_ids))):
            out[row.terminal_id] = TerminalSteering(row.applied_version, row.refused_version,
                                                    row.refusal, row.reported_at)
        ranked = sa.select(tr, sa.func.row_number().over(
            partition_by=tr.c.terminal_id, order_by=tr.c.pk.desc()).label("n")).where(
            tr.c.terminal_id.in_(terminal_ids)).subquery()
        for row in conn.execute(sa.select(ranked).where(ranked.c.n <= requests_each)
                                .order_by(ranked.c.pk.desc())):
            answer = json.loads(row.answer) if row.answer else {}
            out[row.terminal_id].requests.append(Request(
                row.pk, row.action, row.asked_by, row.asked_at, row.answered_at,
                answer.get("ok"), answer.get("text", "")))
    return out
