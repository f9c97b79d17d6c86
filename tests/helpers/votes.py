"""Votes as a kiosk sends them to the district server."""

from __future__ import annotations

import datetime as dt
import uuid


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_vote(**fields) -> dict:
    """A valid vote as a kiosk sends it; override any field."""
    vote = {"id": str(uuid.uuid4()), "seq": 1, "level": 3, "scale": 3, "source": "gpio",
            "recorded_at": iso(utcnow()), "clock_synced": True, "boot_id": "boot-a",
            "monotonic_ns": 123_000_000_000, "flags": [], "reasons": [], "counter": "Quầy 1",
            "officer": None, "dossier_code": None}
    vote.update(fields)
    return vote
