"""The wire models of the ingest API (pydantic 2), shared by the HTTP API and the CSV import.

What a terminal sends (``Vote``, ``VoteBatchEnvelope``, ``VoteBatch``, ``Heartbeat``) and the
vote's codes are defined once in ``ballot`` (the terminal builds its JSON from the same
models) and re-exported here; the server's answers are defined here.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from ballot.errors import Invalid
from ballot.i18n import N_
from ballot.vote import FLAGS, REASONS, SOURCES
from ballot.wire import (
    EARLIEST,
    INT64_MAX,
    LATEST,
    MAX_BATCH_VOTES,
    BootId,
    DutyBatch,
    DutyBatchDocumented,
    DutyPeriod,
    Heartbeat,
    Nanoseconds,
    TerminalId,
    Text,
    UtcTime,
    Vote,
    VoteBatch,
    VoteBatchEnvelope,
)

MAX_BODY_BYTES = 2 * 1024 * 1024


class RejectedVote(BaseModel):
    id: str | None = Field(description="the vote id as sent, when there was one")
    error: str = Field(description="what is wrong with this vote")


class VoteBatchResult(BaseModel):
    accepted: list[str] = Field(description="stored now")
    duplicate: list[str] = Field(description="already stored before (or twice in this batch)")
    rejected: list[RejectedVote] = Field(description="invalid: never stored, do not resend")
    server_time: dt.datetime


class HeartbeatResult(BaseModel):
    server_time: dt.datetime


class Stats(BaseModel):
    votes_total: int
    by_terminal: dict[str, int]
    by_unit: dict[str, int]
    rejected_total: int = Field(description="votes the server refused as invalid")
    terminals_total: int
    time_uncertain_total: int = Field(description="votes whose true time is unknown")
    last_received_at: dt.datetime | None


class DutyBatchResult(BaseModel):
    accepted: list[str] = Field(description="duty periods stored now")
    duplicate: list[str] = Field(description="already stored (an open one's end is set)")
    rejected: list[RejectedVote] = Field(description="invalid: never stored, do not resend")
    server_time: dt.datetime


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="where: path into the JSON body")
    msg: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx of the API: a code for programs, a sentence for people, and where."""

    error: str = Field(description="machine-readable code, e.g. invalid_body, unauthorized")
    message: str
    details: list[ErrorDetail] = []


__all__ = ["EARLIEST", "FLAGS", "INT64_MAX", "LATEST", "MAX_BATCH_VOTES", "MAX_BODY_BYTES",
           "REASONS", "SOURCES", "BootId", "DutyBatch", "DutyBatchDocumented",
           "DutyBatchResult", "DutyPeriod", "ErrorDetail", "ErrorResponse", "Health", "Heartbeat",
           "HeartbeatResult", "Invalid", "N_", "Nanoseconds", "RejectedVote", "Stats",
           "TerminalId", "Text", "UtcTime", "Vote", "VoteBatch", "VoteBatchEnvelope",
           "VoteBatchResult"]
