"""The tables of attribution (docs/attribution.md): who served, and what was served.

- ``officers``: the officers who serve at counters (code, full name, unit, optional photo),
  managed with ``district officers …`` and on the dashboard; ``badge_issue`` is the number
  printed in their current badge (a lost badge is revoked by issuing the next one).
- ``duty_periods``: who was on duty at which terminal and counter, when (``POST
  /api/v1/duty``, exactly once per (terminal, period id) like votes).
- ``dossiers``: the one-stop software's dossiers (``district dossiers import``, ``POST
  /api/v1/dossiers``): procedure, unit, received / due / finished dates, handling officer.
- ``dossier_ratings``: the one counted rating of each dossier, whichever terminal of the
  system it came from: the first to reach the server. A later rating of the same dossier is
  stored too, flagged ``repeat_dossier`` and counted apart (``district.dossiers.claim``).

Storage only (``district.db``'s engine and types): created by revision d0005, in their own
``MetaData`` like the dashboard's tables.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from district.db import UTCDateTime

metadata = sa.MetaData()

# An officer's code: what the badge carries and each vote's ``officer`` field holds.
OFFICER_CODE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
PHOTO_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
MAX_PHOTO_BYTES = 512 * 1024

officers = sa.Table(
    "officers",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False, index=True),
    sa.Column("photo", sa.LargeBinary, nullable=True),
    sa.Column("photo_type", sa.String(32), nullable=True),
    sa.Column("badge_issue", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
)

duty_periods = sa.Table(
    "duty_periods",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.id"), nullable=False),
    sa.Column("period_id", sa.String(36), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("officer", sa.String(32), nullable=False),
    sa.Column("counter", sa.String(100), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("end_reason", sa.String(16), nullable=True),
    sa.Column("clock_synced", sa.Boolean, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("terminal_id", "period_id", name="uq_duty_terminal_period"),
    sa.Index("ix_duty_officer_started", "officer", "started_at"),
    sa.Index("ix_duty_unit_started", "unit_id", "started_at"),
)

dossiers = sa.Table(
    "dossiers",
    metadata,
    sa.Column("code", sa.String(100), primary_key=True),
    sa.Column("procedure_code", sa.String(64), nullable=False),
    sa.Column("procedure_name", sa.String(500), nullable=False),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
    sa.Column("received_on", sa.Date, nullable=True),
    sa.Column("due_on", sa.Date, nullable=True),
    sa.Column("finished_on", sa.Date, nullable=True),
    sa.Column("officer", sa.String(32), nullable=True),  # the handling officer's code
    sa.Column("imported_at", UTCDateTime, nullable=False),
    sa.Index("ix_dossiers_unit_finished", "unit_id", "finished_on", "officer", "code"),
)

dossier_ratings = sa.Table(
    "dossier_ratings",
    metadata,
    sa.Column("dossier_code", sa.String(100), primary_key=True),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("vote_id", sa.String(36), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("officer", sa.String(200), nullable=True),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("scale", sa.SmallInteger, nullable=False),
    sa.Column("corrected_at", UTCDateTime, nullable=False),
    sa.Index("ix_dossier_ratings_corrected", "corrected_at"),
)

TABLES = (officers, duty_periods, dossiers, dossier_ratings)
