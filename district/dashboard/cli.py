"""The dashboard's command-line verbs, added to ``district`` by ``add_cli``:

- ``district users add USERNAME --role district|unit [--unit UNIT_ID] [--password-stdin]``
  (prints a generated password once unless one is read from stdin)
- ``district users list`` / ``passwd USERNAME`` / ``disable USERNAME``
- ``district alerts check`` (evaluate the rules now and send notifications; for cron)
- ``district rollups rebuild`` / ``check`` (recompute or verify the pre-aggregated counts)
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys

from district.errors import N_


def web_gettext(lang: str, fallback):
    """Messages of these verbs live in the dashboard's catalog (domain district_web)."""
    from ballot.i18n import translation

    web = translation("district_web", lang if lang in ("vi", "en") else "vi").gettext

    def gettext(message: str) -> str:
        text = web(message)
        return text if text != message else fallback(message)
    return gettext


def lang_of(_) -> str:
    probe = "language of messages (vi, en)"  # in the server's catalog
    return "en" if _(probe) == probe else "vi"


def _localised(handler):
    def run(args, db_url: str, _):
        return handler(args, db_url, web_gettext(getattr(args, "lang", None) or lang_of(_), _))
    return run


def add_cli(sub, _) -> dict:
    """Add the verbs to the ``district`` sub-parsers; returns {command: handler}."""
    _ = web_gettext(lang_of(_), _)
    users = sub.add_parser("users", help=_("officials who may sign in to the dashboard"))
    us = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = us.add_parser("add", help=_("create an account; prints a generated password once"))
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("--role", choices=("district", "unit"), required=True,
                     help=_("district: every unit; unit: one unit and the units below it"))
    add.add_argument("--unit", help=_("the unit of a unit official"))
    add.add_argument("--password-stdin", action="store_true",
                     help=_("read the password from standard input instead of generating one"))
    us.add_parser("list", help=_("list accounts"))
    pw = us.add_parser("passwd", help=_("set a new password (generated unless --password-stdin)"))
    pw.add_argument("username", metavar="USERNAME")
    pw.add_argument("--password-stdin", action="store_true")
    dis = us.add_parser("disable", help=_("disable an account and end its sessions"))
    dis.add_argument("username", metavar="USERNAME")

    alerts = sub.add_parser("alerts", help=_("dashboard alerts"))
    als = alerts.add_subparsers(dest="action", required=True, metavar="ACTION")
    als.add_parser("check", help=_("evaluate the alert rules now and send notifications"))

    rollups = sub.add_parser("rollups", help=_("pre-aggregated counts of the dashboard"))
    rs = rollups.add_subparsers(dest="action", required=True, metavar="ACTION")
    rs.add_parser("rebuild", help=_("recompute them from the votes"))
    rs.add_parser("check", help=_("compare them with the votes; exit 1 if they differ"))
    return {"users": _localised(cmd_users), "alerts": _localised(cmd_alerts),
            "rollups": _localised(cmd_rollups)}


def _engine(db_url: str):
    from district.db import open_engine  # the one helper every district verb opens with

    return open_engine(db_url)


def _password(args) -> tuple[str, bool]:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(12), True


ROLE_NAMES = {"district": N_("district official"), "unit": N_("unit official")}


def cmd_users(args, db_url: str, _) -> int:
    from district.dashboard import accounts

    engine = _engine(db_url)
    if args.action == "list":
        for row in accounts.list_users(engine):
            state = _("disabled") if row.disabled_at else _("active")
            role = _(ROLE_NAMES.get(row.role, row.role))
            print(f"{row.username}\t{role}\t{row.unit_id or '*'}\t{state}")
        return 0
    if args.action == "disable":
        accounts.disable_user(engine, args.username)
        print(_("user {name} disabled").format(name=args.username))
        return 0
    password, generated = _password(args)
    if args.action == "add":
        accounts.add_user(engine, args.username, password, args.role, args.unit)
        print(_("user {name} created ({role}).").format(
            name=args.username, role=_(ROLE_NAMES[args.role])))
    else:
        accounts.set_password(engine, args.username, password)
        print(_("password of {name} changed; their sessions ended.").format(name=args.username))
    if generated:
        print(_("Password (shown only this once):"))
        print(password)
    return 0


def cmd_alerts(args, db_url: str, _) -> int:
    import sqlalchemy as sa

    from district.dashboard.alerts import describe, refresh
    from district.db import units

    engine = _engine(db_url)
    opened = refresh(engine, dt.datetime.now(dt.UTC))
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(units.c.id, units.c.name)).all())
    for alert in opened:
        print("{}: {}".format(*describe(alert, names, lang_of(_))))
    print(_("{n} new alert(s)").format(n=len(opened)))
    return 0


def cmd_rollups(args, db_url: str, _) -> int:
    from district import rollups as rollup
    from district.db import write_transaction

    engine = _engine(db_url)
    if args.action == "rebuild":
        with write_transaction(engine) as conn:
            rollup.rebuild(conn)
        print(_("rollups rebuilt"))
        return 0
    with engine.connect() as conn:
        diff = rollup.differences(conn)
    if diff:
        print(_("{n} rollup row(s) differ from the votes; run 'district rollups rebuild'")
              .format(n=len(diff)), file=sys.stderr)
        return 1
    print(_("rollups match the votes"))
    return 0
