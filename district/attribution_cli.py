"""``district officers add|import|list|disable|reissue|badges`` and ``district dossiers
import`` (docs/attribution.md); ``district.cli`` adds them to its parser."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from district.audit import cli_actor
from district.db import open_engine
from district.errors import N_, DistrictError


def add_cli(sub, _) -> dict:
    off = sub.add_parser("officers", help=_("officers who serve at the counters, their badges"))
    off_sub = off.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = off_sub.add_parser("add", help=_("add an officer"))
    add.add_argument("code", metavar="CODE", help=_("the officer's code (on the badge)"))
    add.add_argument("--name", required=True, help=_("full name"))
    add.add_argument("--unit", required=True, help=_("the unit the officer works in"))
    add.add_argument("--photo", metavar="FILE", help=_("a JPEG or PNG photo (at most 512 KiB)"))
    imp = off_sub.add_parser("import", help=_("add or update officers from a CSV file "
                                               "(code,full_name,unit[,photo])"))
    imp.add_argument("csv_file", metavar="FILE.csv")
    lst = off_sub.add_parser("list", help=_("list officers"))
    lst.add_argument("--unit", help=_("only this unit's officers"))
    lst.add_argument("--json", action="store_true", help=_("print JSON"))
    dis = off_sub.add_parser("disable", help=_("disable an officer: their badge is refused"))
    dis.add_argument("code", metavar="CODE")
    re_ = off_sub.add_parser("reissue", help=_(
        "a new badge for a lost one (the old badge is refused)"))
    re_.add_argument("code", metavar="CODE")
    bad = off_sub.add_parser("badges", help=_("print the badges of a unit's officers (PDF)"))
    bad.add_argument("--unit", required=True, help=_("the unit whose officers get badges"))
    bad.add_argument("--out", required=True, metavar="FILE.pdf", help=_("the PDF to write"))
    bad.add_argument("--code", action="append", default=[], metavar="CODE",
                     help=_("only this officer (repeat for several)"))

    dos = sub.add_parser("dossiers", help=_("the one-stop software's dossiers"))
    dos_sub = dos.add_subparsers(dest="action", required=True, metavar="ACTION")
    dimp = dos_sub.add_parser("import", help=_(
        "import dossiers from a CSV or XLSX export (all or nothing)"))
    dimp.add_argument("file", metavar="FILE")
    dimp.add_argument("--unit", help=_("every dossier must be of this unit or one below it"))
    return {"officers": cmd_officers, "dossiers": cmd_dossiers}


def cmd_officers(args, db_url: str, _) -> int:
    from district import officers

    engine = open_engine(db_url)
    if args.action == "add":
        officer = officers.add_officer(engine, args.code, args.name, args.unit, args.photo,
                                        actor=cli_actor())
        print(_("officer {code} ({name}) added to unit {unit}").format(
            code=officer.code, name=officer.full_name, unit=officer.unit_id))
    elif args.action == "import":
        added, updated, unchanged = officers.import_officers(engine, args.csv_file)
        print(_("officers: {added} added, {updated} updated, {unchanged} unchanged").format(
            added=added, updated=updated, unchanged=unchanged))
    elif args.action == "list":
        listed = officers.list_officers(engine, {args.unit} if args.unit else None)
        if args.json:
            print(json.dumps([o.as_json() for o in listed], ensure_ascii=False, indent=2))
        for o in [] if args.json else listed:
            state = _("disabled") if o.disabled else _("active")
            print(f"{o.code}\t{o.unit_id}\t{state}\t{o.full_name}")
    elif args.action == "disable":
        changed = officers.disable_officer(engine, args.code, cli_actor())
        print((_("officer {code} disabled: their badge is refused") if changed
               else _("officer {code} was disabled already")).format(code=args.code))
    elif args.action == "reissue":
        issue = officers.reissue_badge(engine, args.code, cli_actor())
        print(_("officer {code}: badge number {issue}; print it with `district officers "
                "badges`, the old one is refused").format(code=args.code, issue=issue))
    else:
        count = write_badges(engine, args, _)
        print(_("{n} badge(s) written to {path}").format(n=count, path=args.out))
    return 0


def write_badges(engine, args, _) -> int:
    from district import badges, pki

    pdf, count = badges.unit_sheet(engine, badges.load_key(args.settings), args.unit,
                                   args.code, _)
    out = Path(args.out)
    try:
        pki.write_file(out, pdf, 0o644)
    except OSError as exc:
        raise DistrictError(N_("{path} cannot be written: {error}"), path=out,
                            error=exc.strerror or str(exc)) from None
    return count


def cmd_dossiers(args, db_url: str, _) -> int:
    from district import dossiers

    summary = dossiers.import_file(open_engine(db_url), args.file, args.unit)
    print(_("dossiers from {path}: {added} added, {updated} updated, {unchanged} unchanged")
          .format(path=args.file, added=summary.added, updated=summary.updated,
                  unchanged=summary.unchanged), file=sys.stdout)
    return 0
