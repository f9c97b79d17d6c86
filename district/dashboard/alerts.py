"""Alert rules, their open/closed states, and notification by e-mail (SMTP) and webhook.

Rules (thresholds from the environment, defaults in brackets):

- ``negative_share``: in the last ``DISTRICT_ALERT_WINDOW_HOURS`` [2] hours a unit had at
  least ``DISTRICT_ALERT_MIN_VOTES`` [4] counted votes and at least
  ``DISTRICT_ALERT_NEGATIVE_PERCENT`` [50] % of them negative;
- ``terminal_silent``: no heartbeat for ``DISTRICT_SILENT_HOURS`` [24] hours;
- ``stuck_button``: the terminal's last heartbeat reports a stuck button.

Each (rule, subject) has one row in ``dash_alert_states``. Opening is a conditional write
(insert, or update where it was closed), so with several app processes evaluating at once
exactly one of them opens the alert and sends its notification. Notifications go to
``DISTRICT_SMTP_HOST``/``DISTRICT_SMTP_PORT`` [25] from ``DISTRICT_ALERT_MAIL_FROM`` to the
comma-separated ``DISTRICT_ALERT_MAIL_TO``, and/or as a JSON POST to
``DISTRICT_ALERT_WEBHOOK``, when set.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import urllib.request
from dataclasses import dataclass, field, replace
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ballot.i18n import translation
from district.counting import is_counted
from district.dashboard.aggregates import NEGATIVE_TO, format_number
from district.dashboard.health import fleet_health, silent_hours
from district.dashboard.tables import alert_states, settings
from district.db import (
    UTCDateTime,
    dialect_insert,
    terminals,
    units,
    votes,
    write_transaction,
)
from district.errors import N_, DistrictError

log = logging.getLogger(__name__)
RULES = ("negative_share", "terminal_silent", "stuck_button")
MAX_COMMENT = 1000  # characters of an acknowledgement's comment
HISTORY_ROWS = 100

# What happened to each alert (migration d0008): opened and closed by the loop, in the
# transaction that flips its state; acknowledged by an official, with a comment.
alert_events = sa.Table(
    "dash_alert_events",
    sa.MetaData(),
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("who", sa.String(100), nullable=False, server_default=""),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class AlertSettings:
    window_hours: float = 2.0
    min_votes: int = 4
    negative_percent: float = 50.0
    silent_hours: float = 24.0
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "hailong@localhost"
    mail_to: tuple[str, ...] = ()
    webhook: str = ""

    @classmethod
    def from_env(cls) -> AlertSettings:
        env = os.environ.get
        return cls(
            window_hours=_env_float("DISTRICT_ALERT_WINDOW_HOURS", 2.0),
            min_votes=int(_env_float("DISTRICT_ALERT_MIN_VOTES", 4)),
            negative_percent=_env_float("DISTRICT_ALERT_NEGATIVE_PERCENT", 50.0),
            silent_hours=silent_hours(),
            smtp_host=env("DISTRICT_SMTP_HOST", ""),
            smtp_port=int(_env_float("DISTRICT_SMTP_PORT", 25)),
            mail_from=env("DISTRICT_ALERT_MAIL_FROM", "hailong@localhost"),
            mail_to=tuple(a.strip() for a in env("DISTRICT_ALERT_MAIL_TO", "").split(",")
                          if a.strip()),
            webhook=env("DISTRICT_ALERT_WEBHOOK", ""))


# The thresholds district officials may set on the alerts page (issue 16), with their
# bounds; kept in dash_settings under RULES_KEY, over the environment's values (the
# defaults). The silent-terminal hours stay the environment's: the health page's fault
# threshold is the same number.
EDITABLE = {"window_hours": (float, 0.5, 72.0), "min_votes": (int, 1, 10_000),
            "negative_percent": (float, 1.0, 100.0)}
RULES_KEY = "alert_rules"


def effective_settings(conn: Connection) -> AlertSettings:
    """The environment's settings with the thresholds officials set on the dashboard."""
    cfg = AlertSettings.from_env()
    row = conn.execute(sa.select(settings.c.value).where(settings.c.key == RULES_KEY)).first()
    if row is None:
        return cfg
    try:
        stored = json.loads(row.value)
    except ValueError:
        return cfg
    return replace(cfg, **{k: EDITABLE[k][0](v) for k, v in stored.items() if k in EDITABLE})


def parse_rules(form: dict[str, str]) -> dict[str, float | int]:
    """The thresholds of the rules form, each checked against its bounds; a clear error
    naming the field otherwise (nothing is stored)."""
    out: dict[str, float | int] = {}
    for key, (kind, low, high) in EDITABLE.items():
        text = str(form.get(key, "")).strip().replace(",", ".")
        try:
            value = kind(float(text)) if kind is float else int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise DistrictError(N_("{field}: {value!r} is not a number from {low} to {high}"),
                                field=key, value=text[:20], low=low, high=high)
        out[key] = value
    return out


def save_rules(engine: Engine, values: dict[str, float | int]) -> None:
    text = json.dumps(values, sort_keys=True)
    with write_transaction(engine) as conn:
        conn.execute(dialect_insert(conn, settings).values(key=RULES_KEY, value=text)
                     .on_conflict_do_update(index_elements=["key"], set_={"value": text}))


RULE_TITLES = {"negative_share": N_("Many unhappy votes"),
               "terminal_silent": N_("Terminal silent"), "stuck_button": N_("Stuck button")}


def describe(alert: Alert, names: dict[str, str], lang: str) -> tuple[str, str]:
    """(title, sentence) of an alert in ``lang``: the pages, the e-mail, the webhook and
    ``district alerts check`` say the same words."""
    _, d = translation("district_web", lang).gettext, alert.detail
    unit = names.get(alert.unit_id, alert.unit_id)

    def number(value: float) -> str:
        return format_number(value, 0, lang)

    if alert.rule == "negative_share":
        line = unit + ": " + _(
            "{negative} of {votes} votes negative ({percent} %) in the last {hours} hours"
        ).format(negative=number(d["negative"]), votes=number(d["votes"]),
                 percent=number(d["percent"]), hours=number(d["hours"]))
    elif alert.rule == "terminal_silent":
        line = _("terminal {terminal} ({unit}) has not reported for more than {hours} hours"
                 ).format(terminal=alert.subject, unit=unit, hours=number(d["hours"]))
    else:
        line = _("terminal {terminal} ({unit}): button {buttons} stays pressed").format(
            terminal=alert.subject, unit=unit, buttons=d["buttons"])
    return _(RULE_TITLES[alert.rule]), line


@dataclass
class Alert:
    rule: str
    subject: str  # unit id (negative_share) or terminal id
    unit_id: str
    detail: dict = field(default_factory=dict)
    opened_at: dt.datetime | None = None
    acknowledged: dict | None = None  # {"at", "who", "comment"} since it opened

    def as_json(self) -> dict:
        return {"rule": self.rule, "subject": self.subject, "unit_id": self.unit_id,
                "detail": self.detail,
                "opened_at": self.opened_at.isoformat() if self.opened_at else None}


def current_conditions(conn: Connection, now: dt.datetime, cfg: AlertSettings) -> list[Alert]:
    found: list[Alert] = []
    since = now - dt.timedelta(hours=cfg.window_hours)
    rows = conn.execute(
        sa.select(votes.c.unit_id, votes.c.scale, votes.c.level, votes.c.flags,
                  sa.func.count().label("n"))
        # a vote of unknown time is in no window: its stored time is the kiosk's own clock
        .where(votes.c.corrected_at > since, votes.c.corrected_at <= now,
               votes.c.time_uncertain.is_(False))
        .group_by(votes.c.unit_id, votes.c.scale, votes.c.level, votes.c.flags)).all()
    per_unit: dict[str, list[int]] = {}
    for r in rows:
        if not is_counted(r.flags):
            continue
        tally = per_unit.setdefault(r.unit_id, [0, 0])
        tally[0] += r.n
        if r.level <= NEGATIVE_TO.get(r.scale, 1):
            tally[1] += r.n
    for unit_id, (total, negative) in sorted(per_unit.items()):
        percent = 100 * negative / total
        if total >= cfg.min_votes and percent >= cfg.negative_percent:
            found.append(Alert("negative_share", unit_id, unit_id, {
                "votes": total, "negative": negative, "percent": round(percent, 1),
                "hours": cfg.window_hours}))
    for t in fleet_health(conn, None, now, cfg.silent_hours, only=("silent", "stuck button")):
        if "silent" in t.faults:
            found.append(Alert("terminal_silent", t.id, t.unit_id, {
                "hours": cfg.silent_hours,
                "last_heartbeat": t.last_heartbeat.isoformat() if t.last_heartbeat else None}))
        if t.stuck_buttons:
            found.append(Alert("stuck_button", t.id, t.unit_id,
                               {"buttons": ",".join(map(str, t.stuck_buttons))}))
    return found


EVALUATED_AT = "alerts_evaluated_at"  # dash_settings key: when a process last claimed a run


def claim_evaluation(engine: Engine, now: dt.datetime, interval_s: float) -> bool:
    """True for exactly one of the server processes per ``interval_s``: the one that moves
    ``alerts_evaluated_at`` forward. Every process runs the alert loop, but one evaluation
    per interval is enough, and its CPU is taken from that process's requests. (The
    UPDATE … WHERE re-checks the condition under the row lock, so two processes cannot both
    claim the same run.)"""
    stamp = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
    due = (now - dt.timedelta(seconds=interval_s * 0.8)).astimezone(dt.UTC).isoformat(
        timespec="microseconds")
    with write_transaction(engine) as conn:
        if conn.execute(dialect_insert(conn, settings).values(key=EVALUATED_AT, value=stamp)
                        .on_conflict_do_nothing(index_elements=["key"])
                        .returning(settings.c.key)).first() is not None:
            return True  # (an INSERT's rowcount is -1 on psycopg: RETURNING tells)
        return conn.execute(settings.update().where(
            settings.c.key == EVALUATED_AT, settings.c.value <= due).values(value=stamp)
        ).rowcount == 1


def _open(conn: Connection, alert: Alert, detail: str, now: dt.datetime,
          reopen: bool) -> bool:
    """Insert the alert, or flip a closed one open; False if another writer did first."""
    if reopen:
        return conn.execute(alert_states.update().where(
            alert_states.c.rule == alert.rule, alert_states.c.subject == alert.subject,
            alert_states.c.is_open.is_(False)).values(
            is_open=True, opened_at=now, closed_at=None, detail=detail, notified_at=None,
            notify_error=None)).rowcount == 1
    # (RETURNING, not rowcount: an INSERT's rowcount is -1 on psycopg, and a new alert on
    # PostgreSQL was then never announced)
    return conn.execute(dialect_insert(conn, alert_states).values(
        rule=alert.rule, subject=alert.subject, is_open=True, opened_at=now,
        detail=detail).on_conflict_do_nothing(index_elements=["rule", "subject"])
        .returning(alert_states.c.rule)).first() is not None


def refresh(engine: Engine, now: dt.datetime, cfg: AlertSettings | None = None) -> list[Alert]:
    """Open new alerts, close ended ones, notify the newly opened; returns those.

    The known states are read once, so a steady state with hundreds of open alerts writes
    only what changed. Opening stays a conditional INSERT/UPDATE, so if two processes ever
    evaluate at once, only one of them opens (and notifies) each alert."""
    with engine.connect() as conn:
        cfg = cfg or effective_settings(conn)
        conditions = current_conditions(conn, now, cfg)
    with write_transaction(engine) as conn:
        known = {(r.rule, r.subject): r for r in conn.execute(sa.select(
            alert_states.c.rule, alert_states.c.subject, alert_states.c.is_open,
            alert_states.c.detail)).all()}
        opened, changed = [], []
        for alert in conditions:
            detail = json.dumps({**alert.detail, "unit_id": alert.unit_id})
            state = known.get((alert.rule, alert.subject))
            if state is not None and state.is_open:
                if state.detail != detail:
                    changed.append({"r": alert.rule, "s": alert.subject, "d": detail})
            elif _open(conn, alert, detail, now, reopen=state is not None):
                alert.opened_at = now
                opened.append(alert)
                _event(conn, alert.rule, alert.subject, alert.unit_id, "opened", now)
        live = {(a.rule, a.subject) for a in conditions}
        ended = [{"r": rule, "s": subject} for (rule, subject), state in known.items()
                 if state.is_open and (rule, subject) not in live]
        key = ((alert_states.c.rule == sa.bindparam("r"))
               & (alert_states.c.subject == sa.bindparam("s")))
        if changed:
            conn.execute(alert_states.update().where(key).values(
                detail=sa.bindparam("d")), changed)
        if ended:
            conn.execute(alert_states.update().where(key).values(is_open=False,
                                                                 closed_at=now), ended)
            for e in ended:
                unit_id = json.loads(known[(e["r"], e["s"])].detail or "{}").get(
                    "unit_id", e["s"])
                _event(conn, e["r"], e["s"], unit_id, "closed", now)
    if opened and (cfg.webhook or (cfg.smtp_host and cfg.mail_to)):
        with engine.connect() as conn:
            names = dict(conn.execute(sa.select(units.c.id, units.c.name)).all())
        for alert in opened:
            error = notify(alert, cfg, names)
            with write_transaction(engine) as conn:
                conn.execute(alert_states.update().where(
                    alert_states.c.rule == alert.rule,
                    alert_states.c.subject == alert.subject).values(
                    notified_at=None if error else now, notify_error=error))
    return opened


def notify(alert: Alert, cfg: AlertSettings, names: dict[str, str]) -> str | None:
    """Send one alert; returns an error text (kept on the alert) or None."""
    errors = []
    vi, en = describe(alert, names, "vi"), describe(alert, names, "en")
    if cfg.smtp_host and cfg.mail_to:
        msg = EmailMessage()
        msg["Subject"] = f"[Hài Lòng] {vi[0]}: {vi[1]}"
        msg["From"] = cfg.mail_from
        msg["To"] = ", ".join(cfg.mail_to)
        # Vietnamese first, English second, then the figures for whoever files the alert
        msg.set_content(f"{vi[0]}: {vi[1]}\n\n{en[0]}: {en[1]}\n\n"
                        f"{json.dumps(alert.as_json(), ensure_ascii=False, indent=2)}\n")
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=10) as smtp:
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            errors.append(f"smtp: {exc}")
    if cfg.webhook:
        body = json.dumps({"text": f"{vi[0]}: {vi[1]}", "text_en": f"{en[0]}: {en[1]}",
                           **alert.as_json()}, ensure_ascii=False).encode()
        req = urllib.request.Request(cfg.webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (configured URL)
                resp.read()
        except OSError as exc:
            errors.append(f"webhook: {exc}")
    for e in errors:
        log.warning("alert %s/%s not delivered: %s", alert.rule, alert.subject, e)
    return "; ".join(errors) or None


def _event(conn: Connection, rule: str, subject: str, unit_id: str, kind: str,
           at: dt.datetime, who: str = "", comment: str = "") -> None:
    if _has_events(conn):
        conn.execute(alert_events.insert().values(rule=rule, subject=subject, unit_id=unit_id,
                                                  kind=kind, at=at, who=who, comment=comment))


def _has_events(conn: Connection) -> bool:
    """A database before d0008 has no history: the loop keeps working without it."""
    return sa.inspect(conn).has_table("dash_alert_events")


def acknowledge(engine: Engine, rule: str, subject: str, unit_ids: list[str], who: str,
                comment: str, now: dt.datetime) -> None:
    """An official has seen an open alert of their units and says what is done about it."""
    comment = comment.strip()
    if not comment or len(comment) > MAX_COMMENT:
        raise DistrictError(N_("a comment of 1 to {n} characters says what is done"),
                            n=MAX_COMMENT)
    with write_transaction(engine) as conn:
        alert = next((a for a in open_alerts(conn, unit_ids)
                      if a.rule == rule and a.subject == subject), None)
        if alert is None:
            raise DistrictError(N_("no open alert {rule} for {subject} among your units"),
                                rule=rule[:32], subject=subject[:64])
        _event(conn, rule, subject, alert.unit_id, "acknowledged", now, who, comment)


def history(conn: Connection, unit_ids: list[str] | None, limit: int = HISTORY_ROWS
            ) -> list[dict]:
    """The latest events of the units' alerts, newest first."""
    if not _has_events(conn):
        return []
    e = alert_events.c
    q = sa.select(alert_events).order_by(e.at.desc(), e.pk.desc()).limit(limit)
    if unit_ids is not None:
        q = q.where(e.unit_id.in_(unit_ids)) if len(unit_ids) <= 200 else q
    rows = [dict(r._mapping) for r in conn.execute(q)]
    allowed = None if unit_ids is None else set(unit_ids)
    return [r for r in rows if allowed is None or r["unit_id"] in allowed]


def open_alerts(conn: Connection, unit_ids: list[str] | None) -> list[Alert]:
    rows = conn.execute(sa.select(alert_states).where(alert_states.c.is_open.is_(True))
                        .order_by(alert_states.c.opened_at.desc())).all()
    allowed = None if unit_ids is None else set(unit_ids)
    out = []
    term_units = None
    for r in rows:
        detail = json.loads(r.detail or "{}")
        unit_id = detail.pop("unit_id", None)
        if unit_id is None:  # older row: find the unit
            if term_units is None:
                term_units = dict(conn.execute(sa.select(terminals.c.id, terminals.c.unit_id)))
            unit_id = term_units.get(r.subject, r.subject)
        if allowed is None or unit_id in allowed:
            out.append(Alert(r.rule, r.subject, unit_id, detail, r.opened_at))
    if out and _has_events(conn):  # the last acknowledgement since each opened
        e = alert_events.c
        acks = conn.execute(sa.select(e.rule, e.subject, e.at, e.who, e.comment)
                            .where(e.kind == "acknowledged").order_by(e.at, e.pk)).all()
        last = {(a.rule, a.subject): a for a in acks}
        for alert in out:
            a = last.get((alert.rule, alert.subject))
            if a is not None and alert.opened_at and a.at >= alert.opened_at:
                alert.acknowledged = {"at": a.at, "who": a.who, "comment": a.comment}
    return out
