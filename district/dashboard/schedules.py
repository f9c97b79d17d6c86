"""Scheduled reports (docs/dashboard.md, "Scheduled reports"): district officials choose a
unit, recipients and a schedule on the dashboard (``/dashboard/schedules``); the server mails
the report's PDF and workbook of the period just ended through the configured SMTP server
(``report_mail``), retries, and keeps every sending (migration d0013).

- **monthly**: on the 1st at ``SEND_HOUR`` local time (Asia/Ho_Chi_Minh), last month's report;
- **weekly**: on Monday at ``SEND_HOUR``, last week's (Monday to Sunday).

**One process sends.** Every app process runs the report loop (``district/app.py``'s
lifespan), but a schedule is sent by the process that *claims* it: a conditional UPDATE that
moves its ``next_run_at`` from the value it read to a lease (``LEASE``) ahead. The database
re-checks the condition under the row lock, so of N workers exactly one sees its UPDATE
change the row; the others skip it. A process that dies while sending leaves the lease to
expire, and the next claim sends again.

**Retries**: ``report_mail`` tries the SMTP server three times, 2 s then 4 s apart. If the
sending still fails, the schedule keeps the period and tries again after
``DISTRICT_REPORT_RETRY_S`` (900 s), up to ``ATTEMPTS`` sendings; then it gives that period
up and waits for the next. Each sending, sent or failed, is a row of
``dash_report_sendings`` (shown on the schedules page, the failed ones in red) and a log
record; the schedule's last status shows on the page too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district import audit
from district.dashboard import periods
from district.dashboard.periods import Period
from district.db import UTCDateTime, write_transaction
from district.errors import N_, DistrictError
from district.rollups import LOCAL_TZ

log = logging.getLogger(__name__)

FREQUENCIES = ("monthly", "weekly")
FREQUENCY_NAMES = {"monthly": N_("monthly, on the 1st (last month)"),
                   "weekly": N_("weekly, on Monday (last week)")}
SEND_HOUR = 7  # local time: the report is in the mailbox when the office opens
LEASE = dt.timedelta(minutes=10)  # a claimed sending; past it, another process may send
ATTEMPTS = 3  # sendings of one period before it is given up
MAX_RECIPIENTS = 20
SENDINGS_SHOWN = 50
LANGS = ("vi", "en")

metadata = sa.MetaData()

schedules = sa.Table(
    "dash_report_schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("frequency", sa.String(16), nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),  # comma-separated
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("next_run_at", UTCDateTime, nullable=False),
    sa.Column("pending_period", sa.String(16), nullable=True),  # a period being retried
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_status", sa.String(16), nullable=True),  # sent, failed
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_attempt_at", UTCDateTime, nullable=True),
    sa.Index("ix_dash_report_schedules_next", "next_run_at"),
)

sendings = sa.Table(
    "dash_report_sendings",
    metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("schedule_id", sa.Integer, nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("period", sa.String(16), nullable=False),  # 2026-11, or W2026-11-02 for a week
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent, failed, given_up
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_dash_report_sendings_schedule", "schedule_id", "at"),
)


def retry_after() -> dt.timedelta:
    try:
        return dt.timedelta(seconds=max(1.0, float(os.environ.get("DISTRICT_REPORT_RETRY_S",
                                                                  "900"))))
    except ValueError:
        return dt.timedelta(seconds=900)


# --- when, and which period ----------------------------------------------------------------

def _local(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(SEND_HOUR), LOCAL_TZ).astimezone(dt.UTC)


def next_run(frequency: str, after: dt.datetime) -> dt.datetime:
    """The first sending time of ``frequency`` strictly after ``after``."""
    day = after.astimezone(LOCAL_TZ).date()
    for _ in range(40):
        if (day.day == 1 if frequency == "monthly" else day.weekday() == 0) \
                and _local(day) > after:
            return _local(day)
        day += dt.timedelta(days=1)
    raise AssertionError("no sending day in 40 days")  # every month has a 1st


def period_for(frequency: str, due: dt.datetime) -> Period:
    """The period a sending due at ``due`` reports: the month or week just ended."""
    day = due.astimezone(LOCAL_TZ).date()
    if frequency == "monthly":
        return periods.period_of("month", day.replace(day=1) - dt.timedelta(days=1))
    return periods.period_of("week", day - dt.timedelta(days=7))


# --- what officials set ----------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    id: int
    unit_id: str
    frequency: str
    recipients: tuple[str, ...]
    lang: str
    created_by: str
    next_run_at: dt.datetime
    pending_period: str | None
    attempts: int
    last_status: str | None
    last_error: str | None
    last_attempt_at: dt.datetime | None

    @classmethod
    def of(cls, row) -> Schedule:
        return cls(row.id, row.unit_id, row.frequency, tuple(split(row.recipients)), row.lang,
                   row.created_by, row.next_run_at, row.pending_period, row.attempts,
                   row.last_status, row.last_error, row.last_attempt_at)


@dataclass(frozen=True)
class Sending:
    schedule_id: int
    unit_id: str
    period: str
    at: dt.datetime
    attempt: int
    status: str
    recipients: str
    error: str


def split(text: str) -> list[str]:
    return [a.strip() for a in (text or "").replace(";", ",").replace("\n", ",").split(",")
            if a.strip()]


def parse(frequency: str, recipients: str, lang: str) -> tuple[str, tuple[str, ...], str]:
    """The form's values checked: a DistrictError naming what is wrong, nothing stored."""
    if frequency not in FREQUENCIES:
        raise DistrictError(N_("schedule: {value!r} is neither monthly nor weekly"),
                            value=str(frequency)[:40])
    to = split(recipients)
    if not to:
        raise DistrictError(N_("recipients: give at least one e-mail address"))
    if len(to) > MAX_RECIPIENTS:
        raise DistrictError(N_("recipients: at most {n} addresses"), n=MAX_RECIPIENTS)
    for a in to:
        name, at, host = a.partition("@")
        if not at or not name or "." not in host or len(a) > 254 or any(
                c.isspace() or ord(c) < 33 or c in "<>()[]\\,;:\"" for c in a):
            raise DistrictError(N_("recipients: {value!r} is not an e-mail address"),
                                value=a[:80])
    if lang not in LANGS:
        raise DistrictError(N_("language: {value!r} is neither vi nor en"), value=lang[:8])
    return frequency, tuple(dict.fromkeys(to)), lang


def listed(engine: Engine, units: list[str]) -> tuple[list[Schedule], list[Sending]]:
    """The schedules of these units and their last sendings, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schedules).where(schedules.c.unit_id.in_(units))
                            .order_by(schedules.c.unit_id, schedules.c.id)).all()
        ids = [r.id for r in rows]
        sent = conn.execute(sa.select(sendings).where(sendings.c.schedule_id.in_(ids))
                            .order_by(sendings.c.at.desc(), sendings.c.pk.desc())
                            .limit(SENDINGS_SHOWN)).all() if ids else []
    return ([Schedule.of(r) for r in rows],
            [Sending(s.schedule_id, s.unit_id, s.period, s.at, s.attempt, s.status,
                     s.recipients, s.error) for s in sent])


def add(engine: Engine, actor: audit.Actor, unit: str, frequency: str, recipients: str,
        lang: str, now: dt.datetime) -> int:
    frequency, to, lang = parse(frequency, recipients, lang)
    with write_transaction(engine) as conn:
        new_id = conn.execute(schedules.insert().values(
            unit_id=unit, frequency=frequency, recipients=", ".join(to), lang=lang,
            created_by=actor.name[:100], created_at=now, updated_at=now,
            next_run_at=next_run(frequency, now), attempts=0).returning(schedules.c.id)
        ).scalar_one()
        audit.record(conn, actor, "report_schedule_added", unit,
                     {"schedule": new_id, "frequency": frequency, "recipients": list(to),
                      "lang": lang}, now)
    return new_id


def change(engine: Engine, actor: audit.Actor, schedule_id: int, units: list[str],
           frequency: str, recipients: str, lang: str, now: dt.datetime) -> None:
    frequency, to, lang = parse(frequency, recipients, lang)
    with write_transaction(engine) as conn:
        old = _visible(conn, schedule_id, units)
        values = {"frequency": frequency, "recipients": ", ".join(to), "lang": lang,
                  "updated_at": now}
        if frequency != old.frequency:  # a new rhythm starts from now, nothing pending
            values.update(next_run_at=next_run(frequency, now), pending_period=None,
                          attempts=0)
        conn.execute(schedules.update().where(schedules.c.id == schedule_id).values(values))
        audit.record(conn, actor, "report_schedule_changed", old.unit_id,
                     {"schedule": schedule_id,
                      "before": {"frequency": old.frequency, "recipients": split(old.recipients),
                                 "lang": old.lang},
                      "after": {"frequency": frequency, "recipients": list(to), "lang": lang}},
                     now)


def remove(engine: Engine, actor: audit.Actor, schedule_id: int, units: list[str],
           now: dt.datetime) -> None:
    with write_transaction(engine) as conn:
        old = _visible(conn, schedule_id, units)
        conn.execute(schedules.delete().where(schedules.c.id == schedule_id))
        audit.record(conn, actor, "report_schedule_removed", old.unit_id,
                     {"schedule": schedule_id, "frequency": old.frequency,
                      "recipients": split(old.recipients)}, now)


class NoSuchSchedule(DistrictError):
    """Not there, or not among the official's units: the same answer (404) for both."""


def _visible(conn: Connection, schedule_id: int, units: list[str]):
    row = conn.execute(sa.select(schedules).where(schedules.c.id == schedule_id)).first()
    if row is None or row.unit_id not in units:
        raise NoSuchSchedule(N_("no such schedule: {id}"), id=schedule_id)
    return row


# --- sending ---------------------------------------------------------------------------------

def due(engine: Engine, now: dt.datetime) -> list[Schedule]:
    with engine.connect() as conn:
        return [Schedule.of(r) for r in conn.execute(
            sa.select(schedules).where(schedules.c.next_run_at <= now)
            .order_by(schedules.c.id))]


def claim(engine: Engine, s: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The lease on one due schedule, or None when another process has it: ``next_run_at``
    moved from what was read to a lease ahead, by a conditional UPDATE only one process can
    make. Claimed one at a time, just before its sending, so that a long run of sendings
    (many units on the 1st, a slow SMTP server) never outlasts a lease taken at the start."""
    lease = now + LEASE
    with write_transaction(engine) as conn:
        won = conn.execute(schedules.update().where(
            schedules.c.id == s.id, schedules.c.next_run_at == s.next_run_at)
            .values(next_run_at=lease)).rowcount == 1
    return lease if won else None


def send_due(engine: Engine, now: dt.datetime, mail_settings=None) -> list[Sending]:
    """Claim and send every due schedule; returns the sendings made (each also stored and
    logged). Never raises for a failed sending: it is recorded and retried."""
    from district.dashboard.alerts import AlertSettings

    cfg = mail_settings or AlertSettings.from_env()
    out = []
    for s in due(engine, now):
        lease = claim(engine, s, now)
        if lease is not None:
            out.append(_send(engine, s, s.next_run_at, lease, now, cfg))
    return out


def _send(engine: Engine, s: Schedule, due: dt.datetime, lease: dt.datetime,
          now: dt.datetime, cfg) -> Sending:
    from district.dashboard import aggregates as agg

    period = (read_period(s.pending_period) if s.pending_period
              else period_for(s.frequency, due))
    text = period_text(period)
    attempt = s.attempts + 1
    error = ""
    try:
        with engine.connect() as conn:
            tree = agg.UnitTree.cached(conn)
        if s.unit_id not in tree.names:
            raise DistrictError(N_("unit {unit!r} does not exist"), unit=s.unit_id)
        mail(engine, tree, s.unit_id, period, s.lang, list(s.recipients), cfg)
        status = "sent"
    except DistrictError as exc:
        status, error = "failed", exc.translated(_gettext(s.lang))
    except Exception as exc:  # a report that cannot be made must not stop the loop
        log.exception("scheduled report %s of %s could not be made", s.id, s.unit_id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
    retry = status == "failed" and attempt < ATTEMPTS
    if status == "failed" and not retry:
        status = "given_up"
    values = {"last_status": "sent" if status == "sent" else "failed",
              "last_error": error or None, "last_attempt_at": now}
    if retry:
        values.update(next_run_at=now + retry_after(), pending_period=text, attempts=attempt)
    else:
        values.update(next_run_at=next_run(s.frequency, max(due, now)), pending_period=None,
                      attempts=0)
    sending = Sending(s.id, s.unit_id, text, now, attempt, status, ", ".join(s.recipients),
                      error)
    with write_transaction(engine) as conn:
        # only while this process still holds the lease (a changed or removed schedule, or
        # one another process took over, keeps what it has)
        conn.execute(schedules.update().where(schedules.c.id == s.id,
                                              schedules.c.next_run_at == lease).values(values))
        conn.execute(sendings.insert().values(
            schedule_id=s.id, unit_id=s.unit_id, period=text, at=now, attempt=attempt,
            status=status, recipients=sending.recipients, error=error))
    if status == "sent":
        log.info("scheduled report %s (%s, %s) mailed to %s", s.id, s.unit_id, text,
                 sending.recipients)
    else:
        log.warning("scheduled report %s (%s, %s) not mailed, attempt %d of %d%s: %s", s.id,
                    s.unit_id, text, attempt, ATTEMPTS, ", retried later" if retry else "",
                    error)
    return sending


def period_text(period: Period) -> str:
    """``2026-11`` (as ``district report --period`` reads it), a week by its Monday:
    ``W2026-11-23``."""
    if period.kind == "week":
        return f"W{period.start:%Y-%m-%d}"
    return periods.report_text(period)


def read_period(text: str) -> Period:
    if text.startswith("W"):
        return periods.period_of("week", dt.date.fromisoformat(text[1:]))
    return periods.report_period(text)


def _gettext(lang: str):
    from district.dashboard.render import gettext_for

    return gettext_for(lang)


def mail(engine: Engine, tree, unit: str, period: Period, lang: str, to: list[str],
         cfg, signature=None) -> None:
    """The PDF and the workbook of ``unit`` and ``period`` in one e-mail (``report_mail``);
    ``district report --mail-to`` and the schedules both send through it."""
    from district.dashboard import report
    from district.dashboard.report_doc import period_words
    from district.dashboard.report_mail import send_report

    _ = _gettext(lang)
    files = [(report.filename(unit, period, fmt), report.FORMATS[fmt],
              report.make(engine, tree, unit, period, fmt, lang, signature))
             for fmt in ("pdf", "xlsx")]
    subject = _("Hài Lòng report: {unit}, {period}").format(
        unit=tree.names[unit], period=period_words(period, _))
    send_report(cfg, to, subject, subject + "\n", files)
