"""The CSV of a USB collection: ``kiosk export`` writes it, ``district import`` reads it.

One row per vote, the vote's wire fields plus ``terminal_id``; ``flags`` and ``reasons`` are
``;``-joined codes, ``clock_synced`` is 1 or 0, an empty cell is "none".
"""

from __future__ import annotations

EXPORT_COLUMNS = ("id", "terminal_id", "seq", "level", "scale", "source", "recorded_at",
                  "clock_synced", "boot_id", "monotonic_ns", "flags", "reasons", "counter",
                  "officer", "dossier_code")
# An older export may lack the optional columns; these ten it must have.
REQUIRED_COLUMNS = EXPORT_COLUMNS[:10]
OPTIONAL_TEXT_COLUMNS = ("counter", "officer", "dossier_code")
LIST_SEPARATOR = ";"
