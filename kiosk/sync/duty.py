"""The sync agent's side of attribution (docs/attribution.md): duty periods uploaded like
votes, and the unit's roster fetched for the screen.

- **Duty periods** (``POST /api/v1/duty``): a period is to be sent while its
  ``synced_version`` is below its ``version`` (kiosk.duty bumps it when the officer signs
  out). The version sent is remembered per batch; an answer that accepts (or already had) a
  period marks that version synced, so an end written meanwhile is sent next time. The
  server stores a period once by its id and takes only its end from a later copy: sending
  again after any doubt is safe, exactly like votes. A rejected period is kept with the
  server's reason and not sent again.
- **Roster** (``GET /api/v1/officers``, after each heartbeat): names, badge issues and
  who is active, written to the store's ``officers`` table (so a revoked badge is refused
  and the screen shows who serves); each photo is fetched once per run of the agent.
"""

from __future__ import annotations

import logging

import requests

from kiosk import clock
from kiosk.store import VoteStore
from kiosk.sync.client import (
    MSG_NO_URL,
    MSG_UNREACHABLE,
    PermanentError,
    ServerClient,
    TransientError,
    classify,
    parse_batch_answer,
)
from kiosk.vote import iso

log = logging.getLogger("kiosk.sync")
DUTY_PATH = "/api/v1/duty"
OFFICERS_PATH = "/api/v1/officers"
PERIOD_FIELDS = ("id", "officer", "counter", "started_at", "ended_at", "end_reason")


def upload(store: VoteStore, client: ServerClient, limit: int) -> int:
    """One batch of periods to send; returns how many were settled (0: none to send).
    Raises SyncError when their fate is unknown (they stay to be sent)."""
    with store._guard():
        rows = store.conn.execute(
            "SELECT *, version AS sent_version FROM duty_periods"
            " WHERE synced_version < version ORDER BY started_at LIMIT ?", (limit,)).fetchall()
    if not rows:
        return 0
    periods = [{**{f: row[f] for f in PERIOD_FIELDS}, "clock_synced": bool(row["clock_synced"])}
               for row in rows]
    body = {"terminal_id": client.terminal_id, "sent_at": iso(clock.utc_now()),
            "periods": periods}
    answer = parse_batch_answer(client._post(DUTY_PATH, body), {p["id"] for p in periods})
    sent = {row["id"]: row["sent_version"] for row in rows}
    with store.write() as conn:
        conn.executemany("UPDATE duty_periods SET synced_version = max(synced_version, ?),"
                         " reject_error = NULL WHERE id = ?",
                         [(sent[pid], pid) for pid in answer.synced])
        conn.executemany("UPDATE duty_periods SET synced_version = max(synced_version, ?),"
                         " reject_error = ? WHERE id = ?",
                         [(sent[pid], error, pid) for pid, error in answer.rejected])
    for period_id, error in answer.rejected:
        log.warning("duty period %s rejected by the server: %s", period_id, error)
    return len(answer.synced) + len(answer.rejected)


def _get(client: ServerClient, path: str) -> requests.Response:
    if not client.url:
        raise PermanentError(MSG_NO_URL)
    try:
        return client.session.get(client.url + path, timeout=client.timeout_s)
    except requests.exceptions.RequestException as exc:
        raise TransientError(MSG_UNREACHABLE, url=client.url, detail=str(exc)) from exc


def refresh_roster(store: VoteStore, client: ServerClient, photos_fetched: set[str]) -> int:
    """The unit's officers into the store; photos not yet fetched by this run (their
    codes are added to ``photos_fetched``). Returns the number of officers."""
    data = classify(_get(client, OFFICERS_PATH))
    listed = data.get("officers") if isinstance(data, dict) else None
    officers = [o for o in listed or [] if _well_formed(o)]
    rows = [(o["code"], o["full_name"], o.get("badge_issue") or 1,
             int(bool(o.get("active", True)))) for o in officers]
    with store.write() as conn:
        # written only when it changed: a heartbeat every few minutes must not rewrite the
        # roster (and fsync the card) each time
        known = {tuple(r) for r in conn.execute(
            "SELECT code, full_name, badge_issue, active FROM officers")}
        if known != set(rows):
            conn.execute("DELETE FROM officers WHERE code NOT IN"
                         " (SELECT value FROM json_each(?))", (_json([r[0] for r in rows]),))
            conn.executemany(
                "INSERT INTO officers (code, full_name, badge_issue, active) VALUES (?,?,?,?)"
                " ON CONFLICT (code) DO UPDATE SET full_name = excluded.full_name,"
                " badge_issue = excluded.badge_issue, active = excluded.active", rows)
    for officer in officers:
        code = officer["code"]
        if officer.get("has_photo") and officer.get("active", True) and \
                code not in photos_fetched:
            _fetch_photo(store, client, code)
            photos_fetched.add(code)
    return len(officers)


def _well_formed(officer) -> bool:
    """An entry the roster can hold: a code, a name, a whole badge issue (a server's odd
    entry is left out rather than stopping the heartbeat's other steps)."""
    return (isinstance(officer, dict) and isinstance(officer.get("code"), str)
            and isinstance(officer.get("full_name"), str)
            and (officer.get("badge_issue") is None
                 or (type(officer["badge_issue"]) is int and officer["badge_issue"] >= 0)))


def _fetch_photo(store: VoteStore, client: ServerClient, code: str) -> None:
    response = _get(client, f"{OFFICERS_PATH}/{requests.utils.quote(code)}/photo")
    kind = response.headers.get("Content-Type", "")
    if response.status_code != 200 or kind not in ("image/jpeg", "image/png"):
        return
    with store.write() as conn:
        conn.execute("UPDATE officers SET photo = ?, photo_type = ? WHERE code = ?",
                     (response.content, kind, code))


def _json(value) -> str:
    import json

    return json.dumps(value)
