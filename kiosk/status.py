"""The terminal's state in numbers: votes stored, waiting and sent, the last sync, the clock.

One report for everyone who shows it: ``kiosk status`` prints it (or its JSON), and the
technician screen of the UI lays it out. It sits below both, so neither the UI imports the
command line nor the other way round.
"""

from __future__ import annotations

from kiosk import __version__, clock
from kiosk.config import KioskConfig
from kiosk.store import VoteStore

REJECTED_SHOWN = 5  # rejected votes listed by `kiosk status`, the latest ones


def open_store(config: KioskConfig) -> VoteStore:
    return VoteStore(config.storage.path, config.terminal.id)


def status_report(config: KioskConfig) -> dict:
    """The report as ``kiosk status --json`` prints it (DESIGN.md, "Command lines");
    raises ``StorageError`` when the vote file cannot be read."""
    with open_store(config) as store:
        counts = store.counts()
        return {
            "terminal_id": config.terminal.id,
            "unit": config.terminal.unit,
            "votes_total": counts["total"],
            "votes_pending": store.backlog(counts),
            "votes_synced": counts["synced"],
            "votes_rejected": counts["rejected"],
            "last_sync_at": store.meta("last_sync_at"),
            "last_sync_error": store.meta("last_sync_error"),
            # the server's reasons, so a technician can tell what to fix (latest last)
            "rejected_votes": [{"id": vote_id, "error": error}
                               for vote_id, error in store.rejected()[-REJECTED_SHOWN:]],
            "stuck_buttons": store.meta("stuck_buttons", []),
            "clock_synced": clock.is_synchronised(),
            "clock_utc": clock.utc_now().isoformat(),
            "software_version": __version__,
        }
