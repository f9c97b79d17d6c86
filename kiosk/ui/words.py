"""Words the screens show for codes: the follow-up's reasons, a storage problem.

A citizen or a technician reads a sentence, never a code such as ``read_only``
(docs/ui.md, "Words").
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.i18n import N_
from kiosk.voice.prompts import REASONS  # the same words are said aloud
from kiosk.vote import Reason

#: kiosk.store.StorageError.kind → what it means
STORAGE_PROBLEMS = {
    "full": N_("the memory card is full"),
    "read_only": N_("the memory card cannot be written (read-only)"),
    "unavailable": N_("the memory card cannot be reached"),
    "corrupt": N_("the vote file on the memory card is damaged"),
}


def reason_texts(t: Callable[[str], str]) -> dict[Reason, str]:
    return {code: t(text) for code, text in REASONS.items()}


def storage_problem(t: Callable[[str], str], kind: str) -> str:
    """The out-of-order screen's small line: the problem in words, not its code."""
    words = STORAGE_PROBLEMS.get(kind, STORAGE_PROBLEMS["unavailable"])
    return t("Problem: {problem}").format(problem=t(words))
