"""The vote's vocabulary: its scales, sources, flags and follow-up reasons, defined once.

The codes are the contract (DESIGN "A vote"): the kiosk stores and sends them, the server
validates, stores and counts them. The names are how officials read a code (the vote export,
the unit page): English msgids, Vietnamese in ballot's catalog.
"""

from __future__ import annotations

from enum import StrEnum

from ballot.i18n import N_

SCALES = (3, 4, 5)          # levels a terminal may offer; level 1 is the worst
MAX_LEVEL = max(SCALES)
LEVELS = tuple(range(1, MAX_LEVEL + 1))


class Source(StrEnum):
    """Where a vote came from."""

    GPIO = "gpio"
    SERIAL = "serial"
    TOUCH = "touch"
    KEYBOARD = "keyboard"
    CLI = "cli"


class Flag(StrEnum):
    TEST = "test"                          # a technician's or script's vote, not a citizen's
    SUSPECTED_MISUSE = "suspected_misuse"  # part of a burst no queue of people can make
    STUCK_BUTTON = "stuck_button"          # its button then stayed down past the stuck limit
    # set by the server: the dossier already had its counted rating (docs/attribution.md)
    REPEAT_DOSSIER = "repeat_dossier"
    # a press with the voting window closed (docs/attribution.md): stored with
    # suspected_misuse, so it is counted apart like misuse; this flag says why
    OUTSIDE_WINDOW = "outside_window"


class Reason(StrEnum):
    """Follow-up answers, mapped to the Decree 61/2018 indicators a counter device may collect."""

    WAITING_TIME = "waiting_time"          # total time against the legal limit
    TOO_MANY_TRIPS = "too_many_trips"      # number of contacts needed
    UNCLEAR_GUIDANCE = "unclear_guidance"  # number of agencies / guidance given
    OFFICER_ATTITUDE = "officer_attitude"  # the officer's attitude
    OTHER = "other"


SOURCES = tuple(s.value for s in Source)
FLAGS = tuple(f.value for f in Flag)
# What a terminal may send: repeat_dossier is the server's alone (a terminal cannot know it)
TERMINAL_FLAGS = tuple(f for f in FLAGS if f != Flag.REPEAT_DOSSIER.value)
REASONS = tuple(r.value for r in Reason)
# A vote with one of these flags is stored and shown apart, never counted in an index.
NOT_COUNTED_FLAGS = (Flag.TEST.value, Flag.SUSPECTED_MISUSE.value, Flag.REPEAT_DOSSIER.value)

# The codes as officials read them (plain str keys: rows read back from a database are text).
FLAG_NAMES = {Flag.TEST.value: N_("test"),
              Flag.SUSPECTED_MISUSE.value: N_("suspected misuse"),
              Flag.STUCK_BUTTON.value: N_("stuck button"),
              Flag.REPEAT_DOSSIER.value: N_("dossier already rated"),
              Flag.OUTSIDE_WINDOW.value: N_("outside the voting window")}
REASON_NAMES = {Reason.WAITING_TIME.value: N_("Waiting or processing time"),
                Reason.TOO_MANY_TRIPS.value: N_("Too many trips"),
                Reason.UNCLEAR_GUIDANCE.value: N_("Unclear guidance"),
                Reason.OFFICER_ATTITUDE.value: N_("Officer's attitude"),
                Reason.OTHER.value: N_("Other")}
