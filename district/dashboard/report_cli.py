"""``district report``: the printed report of a unit and period, as PDF or DOCX, without
the dashboard (for a script, a cron job, or an office that wants last month's on paper):

    district report --unit hbt --period 2026-11 --format pdf --out bao-cao-11-2026.pdf

``--mail-to a@x,b@y`` mails the PDF and the workbook instead (or too), through the SMTP
server of the alerts (``report_mail``).
``--period`` is a month (``2026-11``), a quarter (``2026-Q4``) or a year (``2026``); the
language is the command's (``--lang``); ``--number``, ``--place``, ``--signer`` and
``--position`` fill what is otherwise left dotted to fill by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from district.errors import N_, DistrictError


def add_cli(sub, _) -> dict:
    from district.dashboard.cli import _localised, lang_of, web_gettext

    _ = web_gettext(lang_of(_), _)
    rep = sub.add_parser("report", help=_("the printed report of a unit and period (PDF, DOCX)"))
    rep.add_argument("--unit", required=True, help=_("the unit the report is about"))
    rep.add_argument("--period", default="", help=_(
        "a month (2026-11), a quarter (2026-Q4) or a year (2026); default this month"))
    rep.add_argument("--format", choices=("pdf", "docx", "xlsx"), default="pdf",
                     help=_("pdf (to sign and hand in), docx (to edit first) or xlsx (the "
                            "figures, to compute with)"))
    rep.add_argument("--out", metavar="FILE", help=_(
        "the file to write (- for standard output)"))
    rep.add_argument("--mail-to", metavar="ADDRESSES", help=_(
        "mail the PDF and the workbook to these comma-separated addresses (the SMTP server "
        "of the alerts)"))
    rep.add_argument("--number", default="", help=_("the report's number, as 12/BC-UBND"))
    rep.add_argument("--place", default="", help=_("the place of the date line"))
    rep.add_argument("--signer", default="", help=_("the name of who signs"))
    rep.add_argument("--position", default="", help=_("their position"))
    return {"report": _localised(cmd_report)}


def cmd_report(args, db_url: str, _) -> int:
    from district.dashboard import aggregates as agg
    from district.dashboard import report
    from district.dashboard.cli import _engine, lang_of
    from district.dashboard.periods import report_period
    from district.dashboard.report_data import Signature

    period = report_period(args.period)
    engine = _engine(db_url)
    with engine.connect() as conn:
        tree = agg.UnitTree.load(conn)
    if args.unit not in tree.names:
        raise DistrictError(N_("unit {unit!r} does not exist (district units load FLEET.toml "
                               "adds units)"), unit=args.unit)
    sig = Signature(args.number, args.place, args.signer, args.position)
    if not args.out and not args.mail_to:
        raise DistrictError(N_("say where the report goes: --out FILE or --mail-to ADDRESSES"))
    if args.mail_to:
        _mail(args, engine, tree, period, sig, _)
        if not args.out:
            return 0
    data = report.make(engine, tree, args.unit, period, args.format, lang_of(_), sig)
    if args.out == "-":
        sys.stdout.buffer.write(data)
        return 0
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # never half a file under its name
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DistrictError(N_("cannot write {path}: {error}"), path=str(out),
                            error=exc.strerror or str(exc)) from exc
    print(_("report of {unit}, {period}: {path} ({size} bytes)").format(
        unit=tree.names[args.unit], period=period.label(_), path=out, size=len(data)))
    return 0


def _mail(args, engine, tree, period, sig, _) -> None:
    from district.dashboard.alerts import AlertSettings
    from district.dashboard.cli import lang_of
    from district.dashboard.schedules import mail

    to = [a.strip() for a in args.mail_to.split(",") if a.strip()]
    if not to or any("@" not in a for a in to):
        raise DistrictError(N_("--mail-to: {value!r} is not a list of e-mail addresses"),
                            value=args.mail_to[:80])
    mail(engine, tree, args.unit, period, lang_of(_), to, AlertSettings.from_env(), sig)
    print(_("report of {unit}, {period} mailed to {to}").format(
        unit=tree.names[args.unit], period=period.label(_), to=", ".join(to)))
