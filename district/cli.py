"""``district``: the district server's command line (DESIGN.md, "Command lines").

Every verb opens its database through one helper, ``district.db.open_engine`` (migrated to
the head revision; a database that cannot be opened is a one-line error with the fix), found
by ``district.config.resolve_db_url``: ``--db``, ``$DISTRICT_DB``, the configuration file of
the service (``--config``, ``$DISTRICT_CONFIG``, ``/etc/district/district.toml``), else the
user's data folder, never the working folder. Messages are Vietnamese by default, English with
``--lang en`` or ``DISTRICT_LANG=en`` (gettext domain ``district``).
Exit status: 0 done, 1 a clear error on stderr, 2 a usage error, 141 when the reader of the
output went away (``district stats | head``: quietly, like any Unix tool killed by SIGPIPE).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

import sqlalchemy as sa

from ballot.argparse_words import localise as localise_argparse
from ballot.i18n import LANGUAGES, translation
from district import config
from district.db import open_engine
from district.errors import N_, DistrictError


def _pre_parse_lang(argv: list[str]) -> str:
    """The language must be known before the parser is built (its help is translated)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang", choices=LANGUAGES)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    lang = config.resolve_lang(known.lang) if known.lang or os.environ.get("DISTRICT_LANG") \
        else _configured_lang(known.config)
    return lang if lang in LANGUAGES else config.DEFAULT_LANG


def _configured_lang(config_flag: str | None) -> str:
    """``[messages] language`` of the configuration file; a bad file is reported later, in
    Vietnamese, by the verb itself."""
    try:
        settings = config.load_settings(config_flag)
    except DistrictError:
        return config.DEFAULT_LANG
    return settings.messages.language if settings else config.DEFAULT_LANG


def build_parser(_: Callable[[str], str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="district", description=_("Hài Lòng district server: ingest API, votes, terminals."))
    parser.add_argument("--db", metavar="URL", help=_(
        "database URL (default: $DISTRICT_DB, else the configuration file's, else district.db "
        "in the user's data folder); postgresql://… for PostgreSQL"))
    parser.add_argument("--config", metavar="FILE", help=_(
        "the server's configuration file (default: $DISTRICT_CONFIG, else "
        "/etc/district/district.toml)"))
    parser.add_argument("--lang", choices=LANGUAGES, help=_("language of messages (vi, en)"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help=_("run the API server"))
    serve.add_argument("--host", help=_(
        "address to listen on (default: the configuration file's, else 127.0.0.1)"))
    serve.add_argument("--port", type=int, help=_(
        "port (default: the configuration file's, else 8000)"))
    serve.add_argument("--workers", type=int, default=1, help=_("number of server processes"))

    terms = sub.add_parser("terminals", help=_("register terminals and manage their tokens"))
    terms_sub = terms.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = terms_sub.add_parser("add", help=_("register a terminal; prints its token once"))
    add.add_argument("terminal_id", metavar="ID")
    add.add_argument("--unit", required=True, help=_("the unit (office) of the terminal"))
    add.add_argument("--name", default="", help=_("a name shown to officials"))
    rotate = terms_sub.add_parser("rotate", help=_("issue a new token (the old one stops)"))
    rotate.add_argument("terminal_id", metavar="ID")
    revoke = terms_sub.add_parser("revoke", help=_("revoke the terminal's token"))
    revoke.add_argument("terminal_id", metavar="ID")
    terms_sub.add_parser("list", help=_("list registered terminals"))
    from district.steering.cli import add_terminal_cli  # help from afar (docs/steering.md)
    add_terminal_cli(terms_sub, _)

    units_cmd = sub.add_parser("units", help=_("the unit tree"))
    units_sub = units_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = units_sub.add_parser("load", help=_("load or update units from a fleet file"))
    load.add_argument("fleet_file", metavar="FLEET.toml")

    imp = sub.add_parser("import", help=_("import a 'kiosk export' CSV file"))
    imp.add_argument("csv_file", metavar="FILE.csv")

    stats = sub.add_parser("stats", help=_("vote counts: total and per terminal"))
    stats.add_argument("--json", action="store_true", help=_("print JSON"))

    officials = sub.add_parser("officials", help=_("access for officials"))
    off_sub = officials.add_subparsers(dest="action", required=True, metavar="ACTION")
    tok = off_sub.add_parser("token", help=_("create an admin API token for /api/v1/stats"))
    tok.add_argument("--label", default="", help=_("what the token is for"))
    tok.add_argument("--metrics", action="store_true", help=_(
        "a token for GET /metrics only (Prometheus), instead of an admin token"))
    off_sub.add_parser("revoke-tokens", help=_("revoke every admin API token"))

    # dashboard (issue 5): users add/list/passwd/disable, alerts check, rollups rebuild/check
    from district.dashboard.cli import add_cli
    COMMANDS.update(add_cli(sub, _))
    # fleet provision (issue 6): kiosk.toml per terminal and the technician's checklist
    from district.provision import add_cli as add_provision_cli
    COMMANDS.update(add_provision_cli(sub, _))
    # setup (issue 11): configuration file, CA and certificate, release key, database
    from district.install import add_cli as add_setup_cli
    COMMANDS.update(add_setup_cli(sub, _))
    # officers, badges, dossiers (issue 12): docs/attribution.md
    from district.attribution_cli import add_cli as add_attribution_cli
    COMMANDS.update(add_attribution_cli(sub, _))
    # backup, restore (issue 14): the database while serving, with a rotation
    from district.backup import add_cli as add_backup_cli
    COMMANDS.update(add_backup_cli(sub, _))
    # settings kept on the server, help from afar (issue 15): docs/steering.md
    from district.steering.cli import add_cli as add_steering_cli
    COMMANDS.update(add_steering_cli(sub, _))
    # software releases (issue 15): the signed apt repository, rollouts (docs/updates.md)
    from district.releases.cli import add_cli as add_releases_cli
    COMMANDS.update(add_releases_cli(sub, _))
    # report (issue 16): the printed report of a unit and period, PDF or DOCX
    from district.dashboard.report_cli import add_cli as add_report_cli
    COMMANDS.update(add_report_cli(sub, _))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    lang = _pre_parse_lang(argv)
    _ = translation("district", lang).gettext
    localise_argparse(lang)
    try:
        args = build_parser(_).parse_args(argv)  # (--help writes too)
        code = _run(args, lang, _)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except BrokenPipeError:
        # The reader left (`district stats | head`): say nothing more. Python would print a
        # traceback when flushing stdout at exit; point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process killed by SIGPIPE


def _run(args, lang: str, _) -> int:
    db_url = ""
    try:
        if args.command == "setup":  # writes the configuration the others read
            return COMMANDS["setup"](args, None, _)
        settings = config.load_settings(args.config)
        db_url = config.resolve_db_url(args.db, settings)
        if db_url == config.default_db_url():
            config.data_dir().mkdir(parents=True, mode=0o700, exist_ok=True)
        args.settings = settings
        return COMMANDS[args.command](args, db_url, _)
    except DistrictError as exc:
        # the dashboard's verbs (users, alerts, rollups) raise messages of its own catalog
        from district.dashboard.cli import web_gettext

        print(_("error: {message}").format(message=exc.translated(web_gettext(lang, _))),
              file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        from district.db import shown_url

        print(_("error: the database {url} cannot be used: {error}").format(
            url=shown_url(db_url), error=str(exc).splitlines()[0]), file=sys.stderr)
        return 1


def cmd_serve(args, db_url: str, _) -> int:
    import uvicorn

    settings = args.settings or config.Settings()
    host = args.host or settings.listen.host
    port = args.port or settings.listen.port
    tls = _tls_files(settings)
    open_engine(db_url).dispose()  # migrate once, before any worker starts
    os.environ["DISTRICT_DB"] = db_url  # workers build their app from the environment
    if tls:  # the fleet page warns a month before it ends (dashboard/health.py)
        from district.dashboard.health import SERVED_CERT_ENV

        os.environ[SERVED_CERT_ENV] = tls[0]
    scheme = "https" if tls else "http"
    print(_("district server on {scheme}://{host}:{port} ({workers} process(es))").format(
        scheme=scheme, host=host, port=port, workers=args.workers), file=sys.stderr)
    # uvicorn's own TLS (Python's ssl module): one process to install, configure and renew,
    # no reverse proxy (docs/district-server.md says why).
    from district import limits, metrics

    metrics.prepare_processes(args.workers)  # one /metrics for every worker
    limits.prepare_processes(args.workers)  # sign-in counts shared, ingest's divided
    uvicorn.run("district.app:app_from_env", factory=True, host=host, port=port,
                workers=args.workers, log_level="warning", access_log=False,
                ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
                # a client that keeps a connection open must not hold a restart (renewal)
                timeout_graceful_shutdown=GRACEFUL_STOP_S,
                # what one client may hold: head size, timeouts, connections (limits.py)
                **limits.uvicorn_options())
    return 0


GRACEFUL_STOP_S = 10  # below systemd's TimeoutStopSec (30 s in district.service)


def _tls_files(settings: config.Settings) -> tuple[str, str] | None:
    """The certificate and key the configuration names, checked readable now: a one-line
    error here, rather than uvicorn's traceback later."""
    if not settings.https:
        return None
    files = (settings.path(settings.tls.cert), settings.path(settings.tls.key))
    for path in files:
        if not os.access(path, os.R_OK):
            raise DistrictError(N_("the TLS file {path} (named in the configuration file) "
                                   "cannot be read. Fix: run `district setup` as root, and the "
                                   "server as the service's user"), path=path)
    return str(files[0]), str(files[1])


def cmd_terminals(args, db_url: str, _) -> int:
    from district import fleet

    engine = open_engine(db_url)
    if args.action == "add":
        created_unit = not fleet.unit_exists(engine, args.unit)
        token = fleet.register_terminal(engine, args.terminal_id, args.unit, args.name)
        if created_unit:
            print(_("unit {unit} did not exist: created it as a root unit").format(
                unit=args.unit), file=sys.stderr)
        print(_("terminal {terminal_id} registered in unit {unit}.").format(
            terminal_id=args.terminal_id, unit=args.unit))
        print(_("Its token follows; it is shown only this once (put it in the kiosk's "
                "kiosk.toml):"))
        print(token)
    elif args.action == "rotate":
        token = fleet.rotate_token(engine, args.terminal_id)
        print(_("new token for terminal {terminal_id}; the old one no longer works:").format(
            terminal_id=args.terminal_id))
        print(token)
    elif args.action == "revoke":
        fleet.revoke_terminal(engine, args.terminal_id)
        print(_("terminal {terminal_id}: token revoked").format(terminal_id=args.terminal_id))
    elif args.action in ("ask-doctor", "restart-ui", "button-test"):
        from district.steering.cli import cmd_terminal_action
        return cmd_terminal_action(args, db_url, _)
    else:
        from district.db import terminals

        with engine.connect() as conn:
            rows = conn.execute(sa.select(terminals).order_by(terminals.c.id)).all()
        for row in rows:
            state = _("revoked") if row.revoked_at else _("active")
            print(f"{row.id}\t{row.unit_id}\t{state}\t{row.name}")
    return 0


def cmd_units(args, db_url: str, _) -> int:
    from district.fleet import load_units, read_fleet

    fleet = read_fleet(args.fleet_file)
    added, updated = load_units(open_engine(db_url), fleet)
    print(_("units loaded from {path}: {added} added, {updated} updated, {total} in the file")
          .format(path=args.fleet_file, added=added, updated=updated, total=len(fleet.units)))
    return 0


def cmd_import(args, db_url: str, _) -> int:
    from district.ingest import import_csv

    summary = import_csv(open_engine(db_url), args.csv_file)
    print(_("imported {imported}, duplicates {duplicates}").format(
        imported=summary.imported, duplicates=summary.duplicates))
    return 0


def cmd_stats(args, db_url: str, _) -> int:
    from district.stats import vote_stats

    stats = vote_stats(open_engine(db_url))
    if args.json:
        print(json.dumps(stats, default=lambda v: v.isoformat(), ensure_ascii=False, indent=2))
        return 0
    print(_("votes in total: {n}").format(n=stats["votes_total"]))
    print(_("rejected votes: {n}").format(n=stats["rejected_total"]))
    print(_("votes with uncertain time: {n}").format(n=stats["time_uncertain_total"]))
    print(_("votes per terminal:"))
    for terminal_id, count in stats["by_terminal"].items():
        print(f"  {terminal_id}\t{count}")
    return 0


def cmd_officials(args, db_url: str, _) -> int:
    from district.auth import create_admin_token, revoke_admin_tokens

    engine = open_engine(db_url)
    if args.action == "token" and getattr(args, "metrics", False):
        token = create_admin_token(engine, args.label, scope="metrics")
        print(_("metrics token for GET /metrics (Authorization: Bearer …), shown only this "
                "once:"))
        print(token)
    elif args.action == "token":
        token = create_admin_token(engine, args.label)
        print(_("admin API token for GET /api/v1/stats (Authorization: Bearer …), shown "
                "only this once:"))
        print(token)
    else:
        count = revoke_admin_tokens(engine)
        print(_("{n} admin token(s) revoked").format(n=count))
    return 0


COMMANDS = {
    "serve": cmd_serve, "terminals": cmd_terminals, "units": cmd_units, "import": cmd_import,
    "stats": cmd_stats, "officials": cmd_officials,
}

# Messages raised as DistrictError elsewhere, listed so extraction finds them in one place.
_EXTRA_MESSAGES = (N_("terminal id"), N_("unit id"))

if __name__ == "__main__":
    sys.exit(main())
