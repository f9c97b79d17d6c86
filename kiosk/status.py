"""The terminal's state in numbers: votes stored, waiting and sent, the last sync, the clock.

One report for everyone who shows it: ``kiosk status`` prints it (or its JSON), and the
technician screen of the UI lays it out. It sits below both, so neither the UI imports the
command line nor the other way round.

Times in the JSON stay UTC ISO 8601 (the contract of docs/architecture.md); people read them
as local time, ``dd/mm/yyyy HH:MM`` (:func:`local_time`). The last sync problem is kept by
the agent as its message id and values (``last_sync_problem``), so each reader gets it in
their own language (:func:`sync_problem_text`), whatever language the agent ran in.
"""

from __future__ import annotations

from datetime import datetime

from kiosk import __version__, clock
from kiosk.config import KioskConfig
from kiosk.i18n import translation
from kiosk.store import VoteStore

REJECTED_SHOWN = 5  # rejected votes listed by `kiosk status`, the latest ones
LOCAL_FORMAT = "%d/%m/%Y %H:%M"


def open_store(config: KioskConfig) -> VoteStore:
    return VoteStore(config.storage.path, config.terminal.id)


def status_report(config: KioskConfig, language: str | None = None) -> dict:
    """The report as ``kiosk status --json`` prints it (DESIGN.md, "Command lines");
    raises ``StorageError`` when the vote file cannot be read. With ``language``, the last
    sync problem is in that language."""
    with open_store(config) as store:
        counts = store.counts()
        problem = store.meta("last_sync_problem")
        error = store.meta("last_sync_error")
        if language and error and isinstance(problem, dict):
            error = sync_problem_text(problem, language)
        return {
            "terminal_id": config.terminal.id,
            "unit": config.terminal.unit,
            "unit_name": config.terminal.name,
            "votes_total": counts["total"],
            "votes_pending": store.backlog(counts),
            "duty_periods_pending": store.duty_backlog(),
            "votes_synced": counts["synced"],
            "votes_rejected": counts["rejected"],
            "last_sync_at": store.meta("last_sync_at"),
            "last_sync_error": error,
            # written by the agent after each request: True, False, or None (never tried)
            "server_reachable": store.meta("server_reachable"),
            "server_checked_at": store.meta("server_checked_at"),
            # the server's reasons, so a technician can tell what to fix (latest last)
            "rejected_votes": [{"id": vote_id, "error": error}
                               for vote_id, error in store.rejected()[-REJECTED_SHOWN:]],
            "stuck_buttons": store.meta("stuck_buttons", []),
            "clock_synced": clock.is_synchronised(),
            "clock_utc": clock.utc_now().isoformat(),
            "software_version": __version__,
        }


def local_time(iso_text: str | None) -> str | None:
    """``2026-12-01T18:40:06.990276Z`` → ``02/12/2026 01:40`` in the terminal's time zone."""
    if not iso_text:
        return None
    try:
        moment = datetime.fromisoformat(str(iso_text).replace("Z", "+00:00"))
    except ValueError:
        return str(iso_text)
    return moment.astimezone().strftime(LOCAL_FORMAT)


def sync_problem_text(problem: dict, language: str) -> str:
    """The agent's stored problem (``{"message": msgid, "params": {...}}``) in ``language``;
    a system's own text in it stays quoted, inside the translated sentence."""
    t = translation("kiosk_sync", language).gettext
    params = problem.get("params") or {}
    try:
        return t(str(problem.get("message", ""))).format(**params)
    except (KeyError, IndexError, ValueError):
        return t(str(problem.get("message", "")))
