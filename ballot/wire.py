"""The JSON form of a vote and of a heartbeat (pydantic 2): what the kiosk sends, what the
server validates (``POST /api/v1/votes``, ``POST /api/v1/heartbeat``, ``district import``).

The envelope of a batch is validated strictly (a bad envelope stores nothing); votes are
validated one by one with ``Vote`` so that one bad vote is rejected alone. Validators raise
``Invalid``: its English text is what the API answers; the CLI shows it translated.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ballot.errors import Invalid
from ballot.i18n import N_
from ballot.vote import MAX_LEVEL, REASONS, SCALES, SOURCES, TERMINAL_FLAGS

MAX_BATCH_VOTES = 1000
INT64_MAX = 2**63 - 1

# A Pi without RTC may boot at 1970-01-01; anything outside this window is not a clock but
# garbage, and keeping it out spares the server datetime overflows when re-dating.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 in UTC with a Z, microseconds kept (how every time is sent)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _storable_text(value: str) -> str:
    # PostgreSQL refuses NUL in text and every driver refuses lone surrogates: say so here
    # instead of failing in the database.
    if "\x00" in value:
        raise Invalid(N_("must not contain NUL characters"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid(N_("must be valid Unicode text")) from exc
    return value


def _iso_text(value: Any) -> Any:
    # JSON has no datetime type: only ISO-8601 text is a time (not a number of seconds).
    if not isinstance(value, str | dt.datetime):
        raise Invalid(N_("must be an ISO-8601 date-time text such as 2025-03-04T05:06:07Z"))
    return value


def _bounded_time(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise Invalid(N_("must include the time zone, e.g. a final Z for UTC"))
    if not EARLIEST <= value < LATEST:
        raise Invalid(N_("must be between 1970 and 2200"))
    return value.astimezone(dt.UTC)


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise Invalid(N_("must be a UUID like 0b7c…-…")) from exc


Text = Annotated[str, AfterValidator(_storable_text)]
UtcTime = Annotated[dt.datetime, Field(strict=False), BeforeValidator(_iso_text),
                    AfterValidator(_bounded_time)]
TerminalId = Annotated[Text, Field(min_length=1, max_length=64)]
BootId = Annotated[Text, Field(min_length=1, max_length=64)]
Nanoseconds = Annotated[int, Field(ge=0, le=INT64_MAX)]
Level = Annotated[int, Field(ge=1, le=MAX_LEVEL)]


class Vote(BaseModel):
    """One vote as the kiosk recorded it; the server never changes these fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, Field(max_length=64), AfterValidator(_uuid_text)] = Field(
        description="UUID made on the kiosk; unique per terminal")
    seq: Annotated[int, Field(ge=1, le=INT64_MAX)] = Field(
        description="per-terminal counter that never goes back")
    level: Level = Field(description="1 = worst … scale = best")
    scale: Literal[SCALES]
    source: Literal[SOURCES]
    recorded_at: UtcTime = Field(description="kiosk wall clock (UTC) when the vote was taken")
    clock_synced: bool = Field(description="was the kiosk clock NTP-synchronised then")
    boot_id: BootId
    monotonic_ns: Nanoseconds = Field(description="CLOCK_BOOTTIME when the vote was taken")
    flags: Annotated[list[Literal[TERMINAL_FLAGS]], Field(max_length=len(TERMINAL_FLAGS))] = []
    reasons: Annotated[list[Literal[REASONS]], Field(max_length=len(REASONS))] = []
    counter: Annotated[Text, Field(max_length=100)] | None = None
    officer: Annotated[Text, Field(max_length=200)] | None = None
    dossier_code: Annotated[Text, Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _level_within_scale(self) -> Vote:
        if self.level > self.scale:
            raise Invalid(N_("level {level} is above the scale {scale}"), level=self.level,
                          scale=self.scale)
        return self


VOTE_FIELDS = tuple(Vote.model_fields)


class VoteBatchEnvelope(BaseModel):
    """``POST /api/v1/votes`` body, with each vote left raw to be validated on its own."""

    model_config = ConfigDict(extra="forbid", strict=True)

    terminal_id: TerminalId
    sent_at: UtcTime = Field(description="kiosk wall clock (UTC) when the batch was sent")
    boot_id: BootId | None = Field(None, description="kiosk boot when the batch was sent")
    monotonic_ns: Nanoseconds | None = Field(
        None, description="kiosk CLOCK_BOOTTIME when the batch was sent")
    votes: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH_VOTES)]


class VoteBatch(VoteBatchEnvelope):
    """The documented shape of ``POST /api/v1/votes`` (OpenAPI); see ``VoteBatchEnvelope``."""

    votes: Annotated[list[Vote], Field(max_length=MAX_BATCH_VOTES)]


ENVELOPE_FIELDS = tuple(f for f in VoteBatchEnvelope.model_fields if f != "votes")


# Answers to officials' requests ride a heartbeat: at most these, so that the largest valid
# heartbeat (JSON escapes included, 6 bytes a character) stays under the API's 2 MiB body
# limit; a doctor report and 100 journal lines fit a text several times over.
MAX_ANSWERS = 4
MAX_ANSWER_CHARS = 60_000
REQUEST_ACTIONS = ("doctor", "restart_ui", "button_test")


class RequestAnswer(BaseModel):
    """A terminal's answer to an official's request (``requests`` of the heartbeat's
    answer): ``text`` is the doctor's JSON report and journal lines, or what was done."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[int, Field(ge=1, le=INT64_MAX)]
    ok: bool
    text: Annotated[Text, Field(max_length=MAX_ANSWER_CHARS)] = ""


RELEASE_OUTCOMES = ("kept", "rolled_back", "refused")


class Heartbeat(BaseModel):
    """``POST /api/v1/heartbeat`` body: the terminal's health, every few minutes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    terminal_id: TerminalId
    sent_at: UtcTime
    boot_id: BootId | None = None
    monotonic_ns: Nanoseconds | None = None
    backlog: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    rejected: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    software_version: Annotated[Text, Field(max_length=64)] | None = None
    clock_synced: bool | None = None
    disk_free_bytes: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    uptime_s: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | None = None
    last_error: Annotated[Text, Field(max_length=2000)] | None = None
    stuck_buttons: Annotated[list[Level], Field(max_length=MAX_LEVEL)] = []
    # fleet steering (docs/steering.md): the settings version the terminal runs, or the one
    # it refused and why; its answers to the officials' requests (doctor report, journal…)
    settings_applied: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    settings_refused: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    settings_refusal: Annotated[Text, Field(max_length=2000)] | None = None
    answers: Annotated[list[RequestAnswer], Field(max_length=MAX_ANSWERS)] = []
    # software releases (docs/updates.md): the hailong-kiosk version installed, the outcome of
    # the last update (kept, rolled_back, refused), the version it was about, and why
    release_version: Annotated[Text, Field(max_length=100)] | None = None
    release_outcome: Literal[RELEASE_OUTCOMES] | None = None
    release_outcome_version: Annotated[Text, Field(max_length=100)] | None = None
    release_reason: Annotated[Text, Field(max_length=2000)] | None = None


HEARTBEAT_FIELDS = tuple(Heartbeat.model_fields)
# What a heartbeat says of the steering (district.steering stores it, not the health tables)
STEERING_FIELDS = ("settings_applied", "settings_refused", "settings_refusal", "answers",
                   "release_version", "release_outcome", "release_outcome_version",
                   "release_reason")
# The health part of a heartbeat (the rest is the envelope every request carries)
HEALTH_FIELDS = tuple(f for f in HEARTBEAT_FIELDS
                      if f not in ENVELOPE_FIELDS and f not in STEERING_FIELDS)


# --- attribution (docs/attribution.md): who was on duty at a counter, and when --------------

MAX_BATCH_PERIODS = 1000
OfficerCode = Annotated[Text, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
DUTY_END_REASONS = ("badge", "next_officer", "staff_screen", "day_end", "shutdown")


class DutyPeriod(BaseModel):
    """One officer's time on duty at a counter of a terminal: signed in by a badge scan or
    the staff screen, out by the next scan, the next officer, the end of the working day.
    Sent like votes (its own outbox, exactly once by ``id``); an open period (no
    ``ended_at``) may be sent again once it ends, which only sets its end."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, Field(max_length=64), AfterValidator(_uuid_text)] = Field(
        description="UUID made on the kiosk")
    officer: OfficerCode = Field(description="the officer's code (as on the badge)")
    counter: Annotated[Text, Field(max_length=100)] | None = None
    started_at: UtcTime = Field(description="kiosk wall clock (UTC) when the officer signed in")
    ended_at: UtcTime | None = Field(None, description="when they signed out; null: on duty")
    end_reason: Literal[DUTY_END_REASONS] | None = None
    clock_synced: bool = Field(description="was the kiosk clock NTP-synchronised then")

    @model_validator(mode="after")
    def _ends_after_start(self) -> DutyPeriod:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise Invalid(N_("ended_at is before started_at"))
        return self


class DutyBatch(BaseModel):
    """``POST /api/v1/duty`` body."""

    model_config = ConfigDict(extra="forbid", strict=True)

    terminal_id: TerminalId
    sent_at: UtcTime
    periods: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH_PERIODS)]


class DutyBatchDocumented(DutyBatch):
    """The documented shape of ``POST /api/v1/duty`` (OpenAPI)."""

    periods: Annotated[list[DutyPeriod], Field(max_length=MAX_BATCH_PERIODS)]


# --- the badge's QR text (docs/attribution.md) ---------------------------------------------
# ``HLB1.<officer code>.<badge issue>.<Ed25519 signature, base64url without padding>``: the
# district's badge key signs ``badge_message(code, issue)``; the terminal checks it with the
# public key in its kiosk.toml. Only characters every keyboard-mode scanner types alike.

BADGE_PREFIX = "HLB1."
BADGE_SIGNATURE_CHARS = 86  # 64 bytes in base64url, unpadded


def badge_message(code: str, issue: int) -> bytes:
    return f"hailong-badge-v1|{code}|{issue}".encode()


def badge_text(code: str, issue: int, signature: bytes) -> str:
    import base64

    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")
    return f"{BADGE_PREFIX}{code}.{issue}.{sig}"


def parse_badge(text: str) -> tuple[str, int, bytes] | None:
    """(code, issue, signature) of a badge's text; None when it is not one (or cut short)."""
    import base64
    import re

    match = re.fullmatch(r"HLB1\.([A-Za-z0-9._-]{1,32})\.([1-9][0-9]{0,8})\.([A-Za-z0-9_-]{86})",
                         text)
    if not match:
        return None
    try:
        signature = base64.urlsafe_b64decode(match.group(3) + "==")
    except ValueError:
        return None
    return match.group(1), int(match.group(2)), signature
