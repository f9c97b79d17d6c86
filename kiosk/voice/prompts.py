"""What the terminal says, by prompt name and language (the build turns each into a file).

The texts are made from the same words the screens show: the scales' labels
(``kiosk.config.SCALE_LABELS``), the follow-up's reasons per button
(``kiosk.rules.button_reasons``) and the catalog ``kiosk_ui``.
"""

from __future__ import annotations

from kiosk.config import DEFAULT_QUESTION, SCALE_LABELS, FollowupSection
from kiosk.i18n import N_, translation
from kiosk.rules import button_reasons
from kiosk.vote import Reason

LANGUAGES = ("vi", "en")
SAY_CHOSEN = N_("You chose: {level}. Thank you.")
SAY_BUTTON = N_("Button {number}: {reason}.")
SAY_ANSWERED = N_("Your answer is recorded. Thank you.")
SAY_FOLLOWUP = N_("Sorry! What went wrong?")
SAY_TIMEOUT = N_("Or wait, to skip.")
#: the follow-up's reasons, on the screen (kiosk.ui.words) and aloud
REASONS = {
    Reason.WAITING_TIME: N_("Waited too long"),
    Reason.TOO_MANY_TRIPS: N_("Had to come back too many times"),
    Reason.UNCLEAR_GUIDANCE: N_("Guidance was unclear"),
    Reason.OFFICER_ATTITUDE: N_("Officer's attitude"),
    Reason.OTHER: N_("Something else"),
}


def confirm_name(level: int, levels: int) -> str:
    return f"confirm-{levels}-{level}"


def followup_name(levels: int) -> str:
    return f"followup-{levels}"


def question_name(levels: int) -> str:
    """The question and what each button means: said when someone approaches."""
    return f"question-{levels}"


def prompts(language: str, followup: FollowupSection | None = None) -> dict[str, str]:
    """Every prompt's text in ``language``: name → words."""
    t = translation("kiosk_ui", language).gettext
    said = {"question": DEFAULT_QUESTION[language], "answered": t(SAY_ANSWERED)}
    for levels, labels in SCALE_LABELS.items():
        for level, label in enumerate(labels[language], start=1):
            said[confirm_name(level, levels)] = t(SAY_CHOSEN).format(level=label)
        said[question_name(levels)] = " ".join(
            [DEFAULT_QUESTION[language]] + [t(SAY_BUTTON).format(number=number, reason=label)
                                            for number, label in
                                            enumerate(labels[language], start=1)])
        reasons = button_reasons(followup or FollowupSection(), levels)
        parts = [t(SAY_FOLLOWUP)] + [
            t(SAY_BUTTON).format(number=number, reason=t(REASONS[reason]))
            for number, reason in enumerate(reasons, start=1)] + [t(SAY_TIMEOUT)]
        said[followup_name(levels)] = " ".join(parts)
    return said


def main() -> None:
    """``python -m kiosk.voice.prompts [vi|en]``: what each file says (for a recording)."""
    import sys

    language = sys.argv[1] if len(sys.argv) > 1 else "vi"
    for name, text in sorted(prompts(language).items()):
        print(f"{name}.wav\t{text}")


if __name__ == "__main__":
    main()
