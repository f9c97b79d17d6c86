"""Tables of the dashboard: officials, their sessions, settings, rollups and alert states.

They live in their own ``MetaData`` and their own Alembic branch (label ``dashboard``,
revisions ``d0001…`` in ``district/migrations/versions``), so the server's chain and this
one never conflict; ``district.db.migrate`` upgrades to ``heads``.

The rollups the dashboard reads (``dash_unit_*``, ``dash_terminal_*``, ``dash_officer_*``)
are defined and kept by ``district.rollups``, in the transaction of the vote insert, so they
are exact whatever the number of app processes ingesting at once.
"""

from __future__ import annotations

import sqlalchemy as sa

from ballot.vote import REASONS
from district.counting import COUNT_COLUMNS, LEVEL_COLUMNS  # noqa: F401 (for the dashboard)
from district.db import UTCDateTime
from district.rollups import (  # noqa: F401 (the rollups are storage; here for the dashboard)
    ROLLUPS,
    officer_day,
    officer_month,
    terminal_day,
    terminal_month,
    unit_day,
    unit_hour,
    unit_month,
)

metadata = sa.MetaData()

ROLES = ("district", "unit")

users = sa.Table(
    "dash_users",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # "district" | "unit"
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
)

# Server-side sessions: the cookie carries a signed random id whose SHA-256 is the key, so
# signing out (or disabling a user) ends the session everywhere at once.
sessions = sa.Table(
    "dash_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_pk", sa.Integer, sa.ForeignKey("dash_users.pk"), nullable=False,
              index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# Generated secrets (the cookie-signing key): made at first start, shared by every process.
settings = sa.Table(
    "dash_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# The unit tree's version: one row, a new random value from triggers on ``units`` at every
# change (migration d0003), so the dashboard can keep a loaded tree exactly while it is current.
units_version = sa.Table(
    "dash_units_version",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# The follow-up reasons' codes (``ballot.vote``), one r_<code> column each in the rollups
REASON_CODES = REASONS

# One row per (rule, subject): flipping state closed→open is a conditional UPDATE, so only
# one process sends the notification of an alert.
alert_states = sa.Table(
    "dash_alert_states",
    metadata,
    sa.Column("rule", sa.String(32), primary_key=True),
    sa.Column("subject", sa.String(64), primary_key=True),  # unit or terminal id
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("notified_at", UTCDateTime, nullable=True),
    sa.Column("notify_error", sa.Text, nullable=True),
)
