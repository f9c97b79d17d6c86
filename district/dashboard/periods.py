"""Reporting periods: whole local days (Asia/Ho_Chi_Minh), inclusive at both ends."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from district.errors import N_, DistrictError
from district.rollups import LOCAL_TZ, local_day

KINDS = ("day", "week", "month", "quarter", "year", "custom")
MAX_CUSTOM_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date  # inclusive

    @property
    def first_day(self) -> int:
        return local_day(self.start)

    @property
    def last_day(self) -> int:
        return local_day(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period just before, of the same kind (same length for day/week/custom)."""
        if self.kind in ("month", "quarter", "year"):
            return period_of(self.kind, self.start - dt.timedelta(days=1))
        length = dt.timedelta(days=self.days)
        return Period(self.kind, self.start - length, self.end - length)

    def label(self, gettext=None) -> str:
        """As officials write it; ``gettext`` translates the quarter ("Quý 3/2025")."""
        s, e = self.start, self.end
        if self.kind == "day":
            return s.strftime("%d/%m/%Y")
        if self.kind == "month":
            return s.strftime("%m/%Y")
        if self.kind == "quarter":
            text = gettext("Q{quarter}/{year}") if gettext else "Q{quarter}/{year}"
            return text.format(quarter=(s.month - 1) // 3 + 1, year=s.year)
        if self.kind == "year":
            return str(s.year)
        return f"{s:%d/%m/%Y} – {e:%d/%m/%Y}"

    def as_json(self) -> dict:
        return {"kind": self.kind, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "label": self.label()}


def today_local(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(LOCAL_TZ).date()


def period_of(kind: str, ref: dt.date) -> Period:
    if kind == "day":
        return Period(kind, ref, ref)
    if kind == "week":  # ISO week, Monday first
        start = ref - dt.timedelta(days=ref.weekday())
        return Period(kind, start, start + dt.timedelta(days=6))
    if kind == "month":
        start = ref.replace(day=1)
        return Period(kind, start, _next_month(start) - dt.timedelta(days=1))
    if kind == "quarter":
        start = ref.replace(month=(ref.month - 1) // 3 * 3 + 1, day=1)
        end = _next_month(_next_month(_next_month(start))) - dt.timedelta(days=1)
        return Period(kind, start, end)
    if kind == "year":
        return Period(kind, dt.date(ref.year, 1, 1), dt.date(ref.year, 12, 31))
    raise DistrictError(N_("unknown period {kind!r}: use day, week, month, quarter, year or "
                           "custom"), kind=kind)


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)


DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})|(\d{2})(\d{2})(\d{4})")


def parse_date(text: str, what: str) -> dt.date:
    """A date as officials type it, day first (``15/11/2026``, ``15112026``), whatever
    their browser's language, or as the dashboard's own links write it (``2026-11-15``).
    Never guessed: a day or month out of range is an error, not another date."""
    try:
        found = DAY_FIRST.fullmatch(text.strip()) if isinstance(text, str) else None
        if found:
            day, month, year = (int(g) for g in found.groups() if g is not None)
            return dt.date(year, month, day)
        if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            return dt.date.fromisoformat(text.strip())
        raise ValueError(text)
    except (ValueError, TypeError) as exc:
        raise DistrictError(N_("{what}: {value!r} is not a date like 31/01/2025 (day/month/"
                               "year)"), what=what, value=str(text)[:40]) from exc


def parse_period(kind: str | None, date: str | None = None, start: str | None = None,
                 end: str | None = None, today: dt.date | None = None) -> Period:
    """The period the query parameters describe; a clear error for anything else."""
    kind = kind or "month"
    if kind not in KINDS:
        raise DistrictError(N_("unknown period {kind!r}: use day, week, month, quarter, year "
                               "or custom"), kind=str(kind)[:40])
    if kind == "custom":
        first, last = parse_date(start, "from"), parse_date(end, "to")
        if last < first:
            raise DistrictError(N_("the period ends before it starts"))
        if (last - first).days >= MAX_CUSTOM_DAYS:
            raise DistrictError(N_("a custom period may span at most {n} days"),
                                n=MAX_CUSTOM_DAYS)
        return Period(kind, first, last)
    ref = parse_date(date, "date") if date else (today or today_local())
    return period_of(kind, ref)


def month_period(text: str | None, today: dt.date | None = None) -> Period:
    if not text:
        return period_of("month", today or today_local())
    try:
        ref = dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise DistrictError(N_("month: {value!r} is not a month like 2025-01"),
                            value=str(text)[:40]) from exc
    return period_of("month", ref)


def report_period(text: str | None, today: dt.date | None = None) -> Period:
    """A report's period as written on a command line: ``2026-11`` (a month), ``2026-Q4``
    (a quarter), ``2026`` (a year); the current month when empty."""
    text = (text or "").strip()
    if not text:
        return period_of("month", today or today_local())
    try:
        if len(text) == 4 and text.isdigit():
            return period_of("year", dt.date(int(text), 1, 1))
        year, _dash, rest = text.partition("-")
        if rest[:1] in ("Q", "q") and rest[1:] in ("1", "2", "3", "4") and year.isdigit():
            return period_of("quarter", dt.date(int(year), 3 * int(rest[1:]) - 2, 1))
        return period_of("month", dt.datetime.strptime(text, "%Y-%m").date())
    except ValueError as exc:
        raise DistrictError(N_("period: {value!r} is not a month like 2026-11, a quarter "
                               "like 2026-Q4 or a year like 2026"), value=text[:40]) from exc


def report_text(period: Period) -> str:
    """The period as ``report_period`` reads it: ``2026-11``, ``2026-Q4``, ``2026``."""
    if period.kind == "year":
        return str(period.start.year)
    if period.kind == "quarter":
        return f"{period.start.year}-Q{(period.start.month - 1) // 3 + 1}"
    return f"{period.start:%Y-%m}"
