"""The updater's state, one JSON file written whole or not at all (temporary file, fsync,
rename, fsync of the folder): whatever instant the power goes, the next run reads the step
it was at and finishes or undoes it (``kiosk.update.updater.repair``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

CARD_DATA = Path("/var/lib/hailong")  # the card's data partition (packaging/kiosk/kiosk-card)


def state_dir() -> Path:
    """Where the state lives: on a card with a data partition, there (``update/``), so that
    it outlives the reboots of an update on a protected root, whose own writes go to RAM;
    elsewhere /var/lib/kiosk-update (kiosk-update.service's StateDirectory)."""
    given = os.environ.get("KIOSK_UPDATE_DIR")
    if given:
        return Path(given)
    if os.path.ismount(CARD_DATA):
        return CARD_DATA / "update"
    return Path("/var/lib/kiosk-update")


STATE_DIR = state_dir()
IDLE, INSTALLING, TRIAL, ROLLING_BACK = "idle", "installing", "trial", "rolling_back"


@dataclass
class State:
    phase: str = IDLE
    target: str | None = None          # the version being installed or tried
    previous: str | None = None        # the version to go back to
    rollout: int | None = None
    allow_older: bool = False
    ui_was_ready: bool = True          # the screen ran before: it must run after
    trial_since: float | None = None   # wall clock (s) when the new release was installed
    trial_boot: str | None = None      # the boot of the trial, and its CLOCK_MONOTONIC (µs)
    trial_mono_us: int = 0
    trial_until: float | None = None   # wall clock: health_s after the install ended
    outcome: dict | None = None        # {version, outcome: kept|rolled_back|refused, reason}
    failed: dict[str, int] = field(default_factory=dict)  # version → rollout that failed

    def with_outcome(self, version: str, outcome: str, reason: str = "") -> State:
        self.outcome = {"version": version, "outcome": outcome, "reason": reason[:2000]}
        return self


def path(folder: Path = STATE_DIR) -> Path:
    return folder / "state.json"


def load(folder: Path = STATE_DIR) -> State:
    try:
        data = json.loads(path(folder).read_text())
        known = State.__dataclass_fields__
        return State(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return State()


def save(state: State, folder: Path = STATE_DIR) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # the sync agent (user kiosk) reads the outcome
    write_durably(path(folder), json.dumps(asdict(state), indent=1))


def write_durably(target: Path, text: str) -> None:
    """``text`` in ``target`` whole or not at all, on the card before this returns."""
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    _sync_folder(target.parent)


def remove_durably(target: Path) -> None:
    if target.exists():
        target.unlink()
        _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
