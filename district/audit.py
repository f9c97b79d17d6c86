"""The audit log: who did what, when, from where (table ``audit_log``, revision d0006).

Recorded: sign-ins, failed and refused sign-ins, sign-outs (dashboard), exports (every
download of the dashboard), account changes (``district users add/passwd/disable``, the
first official of ``district setup``), API token changes (``district officials``), terminals
registered, given a new token or revoked (``district terminals add|rotate|revoke``, ``district
fleet provision``), ``district setup`` runs that changed something, and the fleet's steering
(settings, requests to terminals). The
table is append-only: the database refuses UPDATE and DELETE (triggers), nothing in the server
changes a row, and no API route writes to it; district officials read it on the dashboard
(``/dashboard/audit``).

An official's action is recorded under their user name and the address the request came
from; a command line's under ``cli:USER`` (the user who ran it, ``SUDO_USER`` first) and
the address ``cli@HOST`` (the machine it ran on: with PostgreSQL, several may share one
database).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district.db import UTCDateTime, utcnow, write_transaction

metadata = sa.MetaData()  # not district.db's: the tests' wipe() must not try to empty it

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(300), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
)

# What is recorded (the dashboard's page names each in the official's language).
ACTIONS = ("signin", "signin_failed", "signin_refused", "signout", "export", "user_added",
           "password_changed", "user_disabled", "token_created", "tokens_revoked",
           # fleet steering (district/steering): settings and requests to terminals
           "settings_changed", "settings_restored", "doctor_requested",
           "ui_restart_requested", "button_test_requested",
           # the fleet and the server's set-up, from the command line
           "terminal_added", "terminal_token_rotated", "terminal_revoked", "server_set_up",
           # scheduled reports (district/dashboard/schedules.py)
           "report_schedule_added", "report_schedule_changed", "report_schedule_removed",
           # officers (district/officers.py; the dashboard's officer management)
           "officer_added", "officer_changed", "officer_photo_set", "officer_disabled",
           "officer_enabled", "officer_badge_reissued", "badges_printed",
           # software releases (district releases add|rollout|pause|resume|stop)
           "release_published", "rollout_started", "rollout_paused", "rollout_resumed",
           "rollout_stopped")


@dataclass(frozen=True)
class Actor:
    """Who, and from where."""

    name: str
    address: str


def cli_actor() -> Actor:
    """The person at the command line (the user behind ``sudo`` if any, else the user) and
    the machine they ran it on."""
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = str(os.getuid())
    return Actor(f"cli:{user}", f"cli@{socket.gethostname()}")


def record(conn: Connection, actor: Actor, action: str, target: str = "",
           detail: Mapping | None = None, at: dt.datetime | None = None) -> None:
    """One row, in the caller's transaction (an account change and its record commit
    together, or neither)."""
    conn.execute(audit_log.insert().values(
        at=at or utcnow(), actor=actor.name[:100], address=actor.address[:64],
        action=action, target=(target or "")[:300],
        detail=json.dumps(dict(detail), ensure_ascii=False, default=str)[:4000]
        if detail else ""))


def record_now(engine: Engine, actor: Actor, action: str, target: str = "",
               detail: Mapping | None = None) -> None:
    """One row, in a transaction of its own."""
    with write_transaction(engine) as conn:
        record(conn, actor, action, target, detail)


@dataclass(frozen=True)
class Entry:
    pk: int
    at: dt.datetime
    actor: str
    address: str
    action: str
    target: str
    detail: dict


def entries(engine: Engine, *, before: int | None = None, limit: int = 100,
            actor: str = "", action: str = "") -> list[Entry]:
    """The newest entries first (``before``: older than that entry, for paging), optionally
    of one actor or one kind of action."""
    query = sa.select(audit_log).order_by(audit_log.c.pk.desc()).limit(limit)
    if before:
        query = query.where(audit_log.c.pk < before)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Entry(r.pk, r.at, r.actor, r.address, r.action, r.target, _detail(r.detail))
            for r in rows]


def _detail(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
