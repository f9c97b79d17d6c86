"""What a district decides for its terminals (docs/steering.md): the settings the server keeps
per fleet, unit and terminal and every terminal follows, as pydantic models both halves use.

The kiosk's own sections (``kiosk.config``) are these models, extended with what stays on the
terminal: ``TerminalSection`` is ``TerminalSettings`` plus the terminal's id, unit and name,
``FollowupSection`` is ``FollowupSettings`` plus its timing and reasons, and so on. So a
value the district sets is checked by the very field definitions and validators the terminal
applies; the terminal, which alone knows its wiring (three buttons or five), validates the
whole once more and reports a refusal with its reason.

Nothing that identifies or secures a terminal (id, token, server address, CA, pins, serial
port) is a district setting: ``DistrictSettings`` forbids every key but the ones below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ballot.errors import Invalid
from ballot.i18n import N_

# Labels of the rating scales used by Vietnamese one-stop counters, worst first.
SCALE_LABELS = {
    3: {
        "vi": ("Không hài lòng", "Hài lòng", "Rất hài lòng"),
        "en": ("Not satisfied", "Satisfied", "Very satisfied"),
    },
    4: {
        "vi": ("Không hài lòng", "Chưa hài lòng", "Hài lòng", "Rất hài lòng"),
        "en": ("Not satisfied", "Somewhat unsatisfied", "Satisfied", "Very satisfied"),
    },
    5: {
        "vi": ("Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng",
               "Rất hài lòng"),
        "en": ("Very unsatisfied", "Unsatisfied", "Neutral", "Satisfied", "Very satisfied"),
    },
}
DEFAULT_QUESTION = {
    "vi": "Ông/Bà có hài lòng với sự phục vụ hôm nay không?",
    "en": "Are you satisfied with our service today?",
}
MAX_TEXT = 300  # a question or a label longer than this does not fit any screen


class Section(BaseModel):
    """A TOML table: unknown keys are errors (a typo must not silently use a default)."""

    # coerce_numbers_to_str: KIOSK_TECHNICIAN__PIN=1234 parses as a TOML number, yet is text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class TerminalSettings(Section):
    language: Literal["vi", "en"] = "vi"


class ScaleSection(Section):
    levels: Literal[3, 4, 5] = 3
    labels_vi: list[str] | None = None
    labels_en: list[str] | None = None
    question_vi: str = Field(DEFAULT_QUESTION["vi"], min_length=1, max_length=MAX_TEXT)
    question_en: str = Field(DEFAULT_QUESTION["en"], min_length=1, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _labels_match_levels(self) -> ScaleSection:
        for key in ("labels_vi", "labels_en"):
            labels = getattr(self, key)
            if labels is not None and len(labels) != self.levels:
                raise Invalid(N_("{key} has {count} labels for a {levels}-level scale"),
                              key=key, count=len(labels), levels=self.levels)
            if labels and any(not label.strip() or len(label) > MAX_TEXT for label in labels):
                raise Invalid(N_("{key}: every label is 1 to {max} characters"), key=key,
                              max=MAX_TEXT)
        return self

    def labels(self, language: str) -> tuple[str, ...]:
        """Labels worst first, in ``language``."""
        custom = self.labels_vi if language == "vi" else self.labels_en
        return tuple(custom) if custom else SCALE_LABELS[self.levels][language]

    def question(self, language: str) -> str:
        return self.question_vi if language == "vi" else self.question_en


class FollowupSettings(Section):
    enabled: bool = False
    at_or_below: int = Field(1, ge=1, le=4)


class RulesSettings(Section):
    # the thank-you shows as long as the lock-out lasts (kiosk.ui.thanks)
    lockout_s: float = Field(3.0, ge=0, le=60)
    misuse_window_s: float = Field(60, gt=0, le=3600)
    misuse_max_votes: int = Field(6, ge=1, le=1000)


class UiSettings(Section):
    sound: bool = False


class VoiceSettings(Section):
    """The spoken prompts (kiosk.voice), where a speaker is configured."""

    enabled: bool = True
    volume: int = Field(80, ge=0, le=100)  # percent


def followup_below_best(levels: int, at_or_below: int) -> None:
    """The follow-up asks after the worst votes; the best level never asks."""
    if at_or_below >= levels:
        raise Invalid(N_("followup.at_or_below must be below the best level ({levels})"),
                      levels=levels)


class DistrictSettings(Section):
    """The settings a district decides, whole (every key has the kiosk's default)."""

    terminal: TerminalSettings = TerminalSettings()
    scale: ScaleSection = ScaleSection()
    followup: FollowupSettings = FollowupSettings()
    rules: RulesSettings = RulesSettings()
    ui: UiSettings = UiSettings()
    voice: VoiceSettings = VoiceSettings()

    @model_validator(mode="after")
    def _followup_within_scale(self) -> DistrictSettings:
        followup_below_best(self.scale.levels, self.followup.at_or_below)
        return self


#: section → its keys, in the form's order
KEYS: dict[str, tuple[str, ...]] = {
    section: tuple(model.annotation.model_fields)
    for section, model in DistrictSettings.model_fields.items()}
ALL_KEYS = tuple(f"{section}.{key}" for section, keys in KEYS.items() for key in keys)


def merge(*documents: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Later documents override earlier ones key by key (the unit tree, top to bottom)."""
    out: dict[str, dict[str, Any]] = {}
    for document in documents:
        for section, values in document.items():
            if isinstance(values, Mapping):
                out.setdefault(section, {}).update(values)
            else:
                out[section] = values
    return {s: v for s, v in out.items() if v != {}}


def validate(document: Mapping[str, Any]) -> DistrictSettings:
    """``document`` (only the keys set, as stored) as whole settings; raises pydantic's
    ValidationError naming each bad key."""
    return DistrictSettings.model_validate(dict(document))


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def etag(document: Mapping[str, Any]) -> str:
    """What a terminal compares: the same settings give the same tag on every server."""
    return hashlib.sha256(canonical(document).encode()).hexdigest()[:32]


class SettingsAnswer(BaseModel):
    """``GET /api/v1/settings``: the settings a terminal should run, only the keys its
    fleet, units or itself set (the rest stays as its kiosk.toml says)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="the newest change that shaped these settings (0: none)")
    etag: str
    settings: dict[str, dict[str, Any]]
