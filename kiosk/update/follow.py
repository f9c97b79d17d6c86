"""The sync agent's part of the updates: it carries the server's word to the updater and the
updater's outcome to the server, with the heartbeats it sends anyway.

The heartbeat's answer has ``release: {version, rollout, paused, allow_older}`` (or null):
written to ``release-target.json`` beside votes.db (the agent's own folder), read by the
updater (root), which trusts it for nothing but a version number to ask apt for: apt checks
the district's signature, the updater refuses an older version unless the district asked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from kiosk.update import apt
from kiosk.update import state as update_state

TARGET_FILE = "release-target.json"


def report(folder: Path = update_state.STATE_DIR) -> dict:
    """The heartbeat's release fields: the version installed, the last update's outcome."""
    out: dict = {}
    version, _status = apt.installed()
    if version:
        out["release_version"] = version[:100]
    outcome = update_state.load(folder).outcome
    if isinstance(outcome, dict) and outcome.get("outcome") in ("kept", "rolled_back",
                                                                "refused"):
        out["release_outcome"] = outcome["outcome"]
        out["release_outcome_version"] = str(outcome.get("version") or "")[:100]
        if outcome.get("reason"):
            out["release_reason"] = str(outcome["reason"])[:2000]
    return out


def note_target(store_folder: Path, answer: Mapping) -> None:
    """Keep what the heartbeat's answer says of the release (nothing changes: no write)."""
    release = answer.get("release")
    wanted = dict(release) if isinstance(release, Mapping) else None
    path = store_folder / TARGET_FILE
    if read_target(store_folder) == wanted and (wanted is not None or not path.exists()):
        return
    tmp = path.with_name(f".{TARGET_FILE}.tmp")
    tmp.write_text(json.dumps(wanted))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_target(store_folder: Path) -> dict | None:
    try:
        value = json.loads((store_folder / TARGET_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("version"), str):
        return None
    return value
