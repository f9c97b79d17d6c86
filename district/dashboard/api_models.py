"""The answers of the dashboard's JSON API (``/api/v1/dashboard/…``) as pydantic models:
they document the answers in ``/openapi.json`` (schemathesis checks the real answers
against them). The routes send the figures' own JSON (``as_json``) without validating it
again."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Counts(BaseModel):
    votes: int
    positive: int
    negative: int
    satisfaction_rate: float | None = Field(description="percent of counted votes positive")
    index: float | None = Field(description="0–100: mean of (level − 1)/(scale − 1) × 100")
    excluded_test: int
    excluded_misuse: int
    stuck_button: int
    levels: dict[str, list[int]] = Field(
        description='counted votes per level (1 first) for each scale in use: {"3": [n1, n2, n3]}')
    reasons: dict[str, int] = Field(description="follow-up answers per reason code")


class Before(BaseModel):
    votes: int
    satisfaction_rate: float | None
    index: float | None


class Change(BaseModel):
    votes: int
    satisfaction_rate: float | None
    index: float | None


class UnitRow(Counts):
    """A unit's line of a ranking: its subtree's votes, or its own terminals' only."""

    unit_id: str
    name: str
    own_terminals_only: bool
    rank: int | None = Field(description="1 = best; none without votes")
    previous: Before = Field(description="the same figures in the previous period")
    change: Change


class PeriodJson(BaseModel):
    kind: str = Field(description="day, week, month, quarter, year or custom")
    from_: str = Field(alias="from", description="first day (local), ISO date")
    to: str = Field(description="last day (local, inclusive), ISO date")
    label: str


class Alert(BaseModel):
    rule: str = Field(description="negative_share, terminal_silent or stuck_button")
    subject: str = Field(description="the unit (negative_share) or the terminal")
    unit_id: str
    detail: dict
    opened_at: str | None


class OfficerLine(Counts):
    counter: str
    officer: str


class UnitOfficerLine(OfficerLine):
    unit_id: str


class Overview(BaseModel):
    unit_id: str
    period: PeriodJson
    previous_period: PeriodJson
    total: Counts
    units: list[UnitRow] = Field(description="the unit's own terminals and each child unit")
    alerts: list[Alert]
    officers_needing_attention: list[UnitOfficerLine] = Field(
        description="the lowest indexes with enough counted votes in the period")


class FleetSummary(BaseModel):
    terminals: int
    ok: int
    faulty: int
    revoked: int
    with_rejected_votes: int
    faults: dict[str, int] = Field(description="terminals per fault")


class Paging(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int


class Terminal(BaseModel):
    terminal_id: str
    name: str
    unit_id: str
    last_heartbeat: str | None
    backlog: int | None
    software_version: str | None
    clock_offset_ms: int | None
    clock_synced: bool | None
    stuck_buttons: list[int]
    rejected_votes: int = Field(description="votes this server refused")
    kiosk_rejected: int | None = Field(description="as the kiosk's last heartbeat said")
    last_error: str | None
    revoked: bool
    faults: list[str]


class UnitTerminal(Terminal):
    votes: int = Field(description="votes in the period")


class Fleet(BaseModel):
    unit_id: str
    silent_hours: float
    backlog_fault: int
    summary: FleetSummary
    paging: Paging
    terminals: list[Terminal]


class TrendPoint(Counts):
    bucket: str = Field(description="2025-09-01 (day), 2025-W36 (week) or 2025-09 (month)")


class Trend(BaseModel):
    step: str
    points: list[TrendPoint]


class Heatmap(BaseModel):
    weekdays: list[str]
    hours: list[int]
    votes: list[list[int]] = Field(description="[weekday][hour]")
    negative: list[list[int]]


class Unit(UnitRow):
    period: PeriodJson
    previous_period: PeriodJson
    units: list[UnitRow] = Field(description="the unit's own terminals and each child unit")
    trend: Trend
    heatmap: Heatmap
    terminal_summary: FleetSummary
    paging: Paging
    terminals: list[UnitTerminal] = Field(description="one page of the subtree's terminals")
    officers: list[OfficerLine]


class Alerts(BaseModel):
    unit_id: str
    alerts: list[Alert]


class IndicatorScore(BaseModel):
    number: int = Field(description="the indicator's number in Circular 01/2018's list")
    reason: str = Field(description="the follow-up reason that answers it")
    named: int = Field(description="counted votes naming the reason (scored 0)")
    points: int
    score: float | None = Field(description="mean score, 0–2")
    grade: str | None = Field(description="good, fair or poor")


class CircularRow(BaseModel):
    unit_id: str
    name: str
    own_terminals_only: bool
    votes: int
    positive: int
    indicators: list[IndicatorScore]
    total: float | None = Field(description="the four scores added up, 0–8")
    grade: str | None


class Indicator(BaseModel):
    number: int
    reason: str
    title: str


class Circular01(BaseModel):
    indicators: list[Indicator]
    units: list[CircularRow]
    total: CircularRow


class DossierFigures(BaseModel):
    finished: int
    late: int
    unsatisfied: int
    late_or_unsatisfied: int
    rated: int
    ratio: float | None = Field(description="percent of finished dossiers neither late nor "
                                "rated unsatisfied (Decision 766/QĐ-TTg)")
    coverage: float | None = Field(description="percent of finished dossiers rated")


class DossierMonth(DossierFigures):
    month: str = Field(description="2025-10")


class DossierRow(BaseModel):
    unit_id: str
    name: str
    own_terminals_only: bool
    months: list[DossierMonth]
    period: DossierFigures


class Decision766(BaseModel):
    months: list[str]
    units: list[DossierRow]
    total: DossierRow


class Indices(BaseModel):
    unit_id: str
    period: PeriodJson
    circular_01: Circular01
    decision_766: Decision766
