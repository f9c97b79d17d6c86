"""What a new release must show before it is kept (docs/updates.md, "Kept only if healthy"):

- the screen: ``kiosk.service`` reached READY=1 (Type=notify: systemd calls it active only
  then) after the install, and stayed up ``STABLE_S`` without a restart;
- a probe, not a vote: ``kiosk doctor``'s storage check writes into the vote store and reads
  it back, as user kiosk, with the new code;
- the sync agent reached the server after the install (``kiosk status``: ``last_sync_at``).

Each returns None when it holds, else the reason in words.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

KIOSK = "/opt/hailong/venv/bin/kiosk"
STABLE_S = 15.0
NOT_STABLE = "kiosk.service: ready, not yet stable"
# as user kiosk, without a PAM session (runuser would log two lines per check)
AS_KIOSK = ["setpriv", "--reuid=kiosk", "--regid=kiosk", "--init-groups", "--"]


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def unit(name: str) -> dict[str, str]:
    props = ("ActiveState", "SubState", "NRestarts", "ActiveEnterTimestampMonotonic", "Result")
    out = _run(["systemctl", "show", name, *(f"--property={p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ui_running() -> bool:
    return unit("kiosk.service").get("ActiveState") == "active"


def monotonic_us() -> int:
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)


def ui_ready(since_us: int) -> str | None:
    """The screen said READY=1 after ``since_us`` (CLOCK_MONOTONIC) and has stayed up."""
    u = unit("kiosk.service")
    entered = int(u.get("ActiveEnterTimestampMonotonic") or 0)
    if u.get("ActiveState") != "active" or entered < since_us:
        return f"kiosk.service: {u.get('ActiveState')}/{u.get('SubState')} " \
               f"(result {u.get('Result')}, {u.get('NRestarts', '?')} restarts): " \
               "the screen did not report ready (READY=1)"
    if monotonic_us() - entered < STABLE_S * 1e6:
        return NOT_STABLE
    return None


def store_probe() -> str | None:
    """``kiosk doctor --json``'s storage check (a probe write, no vote), as user kiosk."""
    try:
        proc = _run([*AS_KIOSK, KIOSK, "doctor", "--json", "--lang", "en"],
                    timeout=180)
        report = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"kiosk doctor did not answer: {exc}"
    for check in report.get("checks", []):
        if check.get("check") == "storage":
            return None if check.get("status") == "ok" else f"storage: {check.get('message')}"
    return "kiosk doctor has no storage check"


def synced_since(wall: float) -> str | None:
    """The sync agent reached the server after ``wall`` (seconds since the epoch)."""
    try:
        proc = _run([*AS_KIOSK, KIOSK, "status", "--json"])
        last = json.loads(proc.stdout).get("last_sync_at")
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"kiosk status did not answer: {exc}"
    if last:
        try:
            at = dt.datetime.fromisoformat(str(last).replace("Z", "+00:00")).timestamp()
        except ValueError:
            at = 0.0
        if at >= wall - 1:
            return None
    u = unit("kiosk-sync.service")
    return f"the sync agent has not reached the server since the install (last contact " \
           f"{last or 'never'}; kiosk-sync.service {u.get('ActiveState')}/{u.get('SubState')})"
