"""Tables of the dashboard: officials, their sessions, settings, rollups and alert states.

They live in their own ``MetaData`` and their own Alembic branch (label ``dashboard``,
revisions ``d0001…`` in ``district/migrations/versions``), so the server's chain and this
one never conflict; ``district.db.migrate`` upgrades to ``heads``.

Rollups (``dash_unit_day``, ``dash_unit_month``, ``dash_unit_hour``, ``dash_terminal_day``,
``dash_terminal_month``) are kept by the ingest transaction (see
``district.dashboard.rollup``): the counts change in the same transaction as the vote
insert, so they are exact whatever the number of app processes ingesting at once.
"""

from __future__ import annotations

import sqlalchemy as sa

from district.db import UTCDateTime

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

REASON_CODES = ("waiting_time", "too_many_trips", "unclear_guidance", "officer_attitude",
                "other")
LEVEL_COLUMNS = ("n1", "n2", "n3", "n4", "n5")
COUNT_COLUMNS = (*LEVEL_COLUMNS, "n_test", "n_misuse", "n_stuck",
                 *(f"r_{code}" for code in REASON_CODES))


# Rollups, kept by the ingest transaction itself (``district.dashboard.rollup.add_votes``:
# one grouped upsert per table per batch, counting only the votes that INSERT … ON CONFLICT
# DO NOTHING RETURNING actually stored). Buckets are local (Asia/Ho_Chi_Minh, UTC+7, no DST)
# days / hours since 1970-01-01 00:00 local, or months since January 1970.
#
# ``dash_unit_day`` / ``dash_unit_month``: one row per (unit, bucket, scale, own) for EVERY
# ancestor-or-self unit of the vote's unit (a commune's vote counts in the commune, its
# district and its province); ``own`` = 1 for the vote's own unit, 0 for the ancestors, so a
# unit's own terminals are ``own = 1`` and its whole subtree is both. A province's year is
# 12 (or 365) rows per scale, whatever the number of terminals.
# ``dash_unit_hour``: the same per local hour (the hour × weekday heat map), levels only.
# ``dash_terminal_day`` / ``dash_terminal_month``: per terminal (and the unit it voted in),
# for the terminal lists.
# n1..n5: counted votes per level; n_test / n_misuse: excluded votes (a test vote that is
# also flagged misuse counts as test); n_stuck: counted votes flagged stuck_button;
# r_*: follow-up reasons given with counted votes.


def _counts(columns: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in columns]


def _key(name: str, kind=sa.Integer) -> sa.Column:
    return sa.Column(name, kind, primary_key=True, autoincrement=False)


def _unit_rollup(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger), _key("own", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
    )


def _terminal_rollup(name: str, bucket: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
        sa.Index(f"ix_{name}_unit_{bucket}", "unit_id", bucket),
        sa.Index(f"ix_{name}_{bucket}", bucket),
    )


unit_day = _unit_rollup("dash_unit_day", "day")
unit_month = _unit_rollup("dash_unit_month", "month")
unit_hour = sa.Table(
    "dash_unit_hour", metadata,
    sa.Column("unit_id", sa.String(64), primary_key=True),
    _key("hour"), _key("scale", sa.SmallInteger),
    *_counts(LEVEL_COLUMNS),
)
def _officer_rollup(name: str, bucket: str) -> sa.Table:
    """Per unit and (counter, officer on duty) as the kiosk recorded them ("" for none):
    the votes' own unit only (a unit page reads its own rows, an overview its subtree's)."""
    return sa.Table(
        name, metadata,
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("counter", sa.String(100), primary_key=True),
        sa.Column("officer", sa.String(200), primary_key=True),
        _key(bucket), _key("scale", sa.SmallInteger),
        *_counts(COUNT_COLUMNS),
        sa.Index(f"ix_{name}_unit_{bucket}", "unit_id", bucket),
    )


terminal_day = _terminal_rollup("dash_terminal_day", "day")
terminal_month = _terminal_rollup("dash_terminal_month", "month")
officer_day = _officer_rollup("dash_officer_day", "day")
officer_month = _officer_rollup("dash_officer_month", "month")
ROLLUPS = (terminal_day, terminal_month, unit_day, unit_month, unit_hour, officer_day,
           officer_month)

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
