"""``kiosk``: the terminal's command line (DESIGN.md, "Command lines").

Messages are Vietnamese by default; ``--lang en`` (or ``KIOSK_LANG=en``) switches to English.
Every command loads and validates the configuration first: a bad file stops here, with the
reason, before anything is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kiosk import __version__
from kiosk.argparse_words import localise as localise_argparse
from kiosk.config import ConfigError, KioskConfig, load
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translation
from kiosk.status import local_time, open_store, status_report
from kiosk.store import StorageError
from kiosk.vote import Flag, Source

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_STORAGE = 0, 1, 2, 3


def _language(argv: list[str]) -> str:
    """The language is needed before argparse runs (its help texts are translated)."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return os.environ.get("KIOSK_LANG", DEFAULT_LANGUAGE)


def build_parser(t: Callable[[str], str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk",
        description=t("Hài Lòng rating terminal: records citizens' votes at a one-stop counter "
                      "and sends them to the district server."))
    parser.add_argument("--config", metavar="FILE",
                        help=t("configuration file (default: $KIOSK_CONFIG, else "
                               "/etc/kiosk/kiosk.toml and /boot/firmware/kiosk.toml)"))
    parser.add_argument("--lang", choices=LANGUAGES, help=t("language of messages: vi or en"))
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}",
                        help=t("show the software version and exit"))
    # --lang is accepted after the verb too (`kiosk doctor --lang en`), as technicians type it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                        help=t("language of messages: vi or en"))
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_verb(group, name: str, help_text: str) -> argparse.ArgumentParser:
        return group.add_parser(name, parents=[common], help=help_text)

    run = add_verb(verbs, "run", t("show the rating screen (fullscreen)"))
    run.add_argument("--windowed", action="store_true",
                     help=t("in a window, for development; keys 1, 2, 3… vote"))

    sync = add_verb(verbs, "sync", t("send stored votes to the district server"))
    sync.add_argument("--once", action="store_true",
                      help=t("send the whole backlog with a progress bar, then stop"))

    vote = add_verb(verbs, "vote", t("record one vote, as if a button was pressed"))
    vote.add_argument("level", type=int, metavar="LEVEL",
                      help=t("1 = not satisfied … highest = very satisfied"))
    vote.add_argument("--test", action="store_true",
                      help=t("mark it as a test vote (not counted in reports)"))

    status = add_verb(verbs, "status", t("votes stored, waiting and sent; last sync; clock"))
    status.add_argument("--json", action="store_true", help=t("machine-readable output"))

    export = add_verb(verbs, "export", t("write all votes to a CSV file (USB collection)"))
    export.add_argument("file", metavar="FILE", type=Path, help=t("the CSV file to write"))

    doctor = add_verb(verbs, "doctor", t("check everything and say in plain words what "
                                               "is wrong"))
    doctor.add_argument("--json", action="store_true", help=t("machine-readable output"))

    config = add_verb(verbs, "config", t("check or show a configuration file"))
    config_verbs = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = add_verb(config_verbs, "check", t("validate a file; exit 0 when it is good"))
    check.add_argument("file", metavar="FILE", nargs="?", help=t("the file to check"))
    add_verb(config_verbs, "show", t("print the configuration in effect"))

    from kiosk.update.cli import add_cli as add_update_cli  # docs/updates.md
    add_update_cli(verbs, add_verb, t)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    language = _language(argv)
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    t = translation("kiosk", language).gettext
    localise_argparse(language)
    args = build_parser(t).parse_args(argv)
    if args.command == "run":  # the screen's service: its log is its stderr (the journal)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    else:  # a technician's console: translated sentences only, log records to the journal
        from kiosk.journal import log_to_journal
        log_to_journal("kiosk", logging.WARNING)
    if args.command == "config" and args.config_command == "check" and args.file:
        args.config = args.file
    try:  # (--lang also sets the language of the configuration's own messages)
        config = load(args.config,
                      environ={**os.environ, "KIOSK_LANG": args.lang} if args.lang else None)
    except ConfigError as error:
        if args.command == "doctor":  # the doctor reports it as its first check, and goes on
            from kiosk.doctor import main as doctor_main
            return doctor_main(None, as_json=args.json, language=language,
                               config_error=str(error))
        print(t("Configuration error:"), file=sys.stderr)
        print(error, file=sys.stderr)
        return EXIT_BAD_CONFIG
    if not args.lang and "KIOSK_LANG" not in os.environ:
        language = config.terminal.language
        t = translation("kiosk", language).gettext
    command = COMMANDS[args.command]
    try:
        return command(config, args, t, language)
    except StorageError as error:
        print(explain_storage_error(error, t), file=sys.stderr)
        return EXIT_STORAGE


def explain_storage_error(error: StorageError | None, t: Callable[[str], str]) -> str:
    """A storage failure in the technician's words, with the fix."""
    if error is None:
        return t("unknown storage problem")
    advice = {
        "full": t("The memory card is full ({path}). Fix: free space, or collect the votes "
                  "with kiosk export and replace the card."),
        "read_only": t("The memory card is read-only ({path}): it may be failing. Fix: "
                       "restart; if it stays read-only, copy the votes off and replace the "
                       "card."),
        "corrupt": t("The vote file {path} is damaged. Fix: keep a copy of it and call "
                     "the district's IT support; do not delete it."),
    }.get(error.kind, t("The vote file {path} cannot be opened (the system says: "
                        "\"{detail}\"). Fix: check [storage] path in the configuration "
                        "and that the memory card works (kiosk doctor)."))
    return advice.format(path=error.path, detail=error.detail)


def cmd_vote(config: KioskConfig, args, t, language) -> int:
    from kiosk.capture import Capture
    from kiosk.rules import ButtonEvent, Edge

    levels = config.scale.levels
    if not 1 <= args.level <= levels:
        print(t("Level {level} does not exist: this terminal has levels 1 to {levels}.")
              .format(level=args.level, levels=levels), file=sys.stderr)
        return EXIT_FAILED
    capture = Capture(config, lambda: open_store(config))
    flags = (Flag.TEST,) if args.test else ()
    vote = capture.process(ButtonEvent(args.level, Edge.CLICK, Source.CLI, time.monotonic_ns()),
                           extra_flags=flags)
    if capture.store:
        capture.store.close()
    if vote is None:
        print(t("The vote was NOT recorded: {error}").format(
            error=explain_storage_error(capture.storage_error, t)), file=sys.stderr)
        return EXIT_STORAGE
    print(vote.id)
    return EXIT_OK


def cmd_status(config: KioskConfig, args, t, language) -> int:
    report = status_report(config, language)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return EXIT_OK
    yes_no = {True: t("yes"), False: t("no")}
    lines = [
        (t("Terminal"), f"{report['terminal_id']} ({report['unit']})"),
        (t("Votes stored"), report["votes_total"]),
        (t("Waiting to be sent"), report["votes_pending"]),
        (t("Duty periods waiting to be sent"), report["duty_periods_pending"]),
        (t("Sent to the server"), report["votes_synced"]),
        (t("Rejected by the server"), report["votes_rejected"]),
        (t("Last successful sync"), local_time(report["last_sync_at"]) or t("never")),
        (t("Server"), {True: t("reachable"), False: t("not reachable"),
                       None: t("not tried yet")}[report["server_reachable"]]),
        (t("Clock synchronised (NTP)"), yes_no[report["clock_synced"]]),
    ]
    if report["last_sync_error"]:
        lines.append((t("Last sync problem"), report["last_sync_error"]))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value}")
    if report["rejected_votes"]:
        print(t("Rejected votes (the latest {n}) and the server's reason:").format(
            n=len(report["rejected_votes"])))
        for vote in report["rejected_votes"]:
            print(f"  {vote['id']}: {vote['error']}")
    return EXIT_OK


def _file_problem(exc: OSError, t) -> str:
    """The usual reasons a file cannot be written, in words; else the system's own."""
    reasons = {errno.ENOENT: t("the folder does not exist"),
               errno.ENOSPC: t("no space left"),
               errno.EROFS: t("the stick is read-only"),
               errno.EACCES: t("no permission to write there")}
    return reasons.get(exc.errno, exc.strerror or str(exc))


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so the names just made in it outlive a power cut. A filesystem that
    cannot sync a folder (EINVAL) has no more to do: the file itself was synced."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def cmd_export(config: KioskConfig, args, t, language) -> int:
    target: Path = args.file
    partial = target.with_name(target.name + ".part")
    with open_store(config) as store:
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = store.export_csv(out)
                out.flush()
                os.fsync(out.fileno())  # a USB stick pulled right after must still hold it
            partial.replace(target)
            _sync_folder(target.parent)  # ... under its name: the rename is in the folder
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            print(t("Cannot write {file}: {reason}. Is the USB stick plugged in, mounted and "
                    "not full?").format(file=target, reason=_file_problem(exc, t)),
                  file=sys.stderr)
            return EXIT_FAILED
    print(t("{count} votes written to {file}").format(count=count, file=target))
    return EXIT_OK


# A terminal in service has its own id and unit: the development defaults (dev-terminal,
# what the other verbs use on a machine without any kiosk.toml) do not pass the check.
MSG_NO_IDENTITY = N_("{keys} not set: every terminal needs its own id and unit, as registered "
                     "on the district server (e.g. id = \"hbt-thanh-nhan\"). Fix: set them in "
                     "kiosk.toml, or install the kiosk.toml that district fleet provision wrote.")


def cmd_config(config: KioskConfig, args, t, language) -> int:
    if args.config_command == "check":
        refusal = config.server.plain_http_refused()  # valid, but the sync agent refuses it
        unnamed = [key for key in ("id", "unit") if key not in config.terminal.model_fields_set]
        if refusal is not None or unnamed:
            print(t("Configuration error:"), file=sys.stderr)
            print(refusal.translated(t) if refusal is not None else t(MSG_NO_IDENTITY).format(
                keys=", ".join(f"[terminal] {key}" for key in unnamed)), file=sys.stderr)
            return EXIT_BAD_CONFIG
        print(t("Configuration is valid: terminal {id}, unit {unit}, {levels} levels.")
              .format(id=config.terminal.id, unit=config.terminal.unit,
                      levels=config.scale.levels))
    else:
        print(json.dumps(config.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_run(config: KioskConfig, args, t, language) -> int:
    from kiosk.ui.app import run
    return run(config, windowed=args.windowed)


def cmd_sync(config: KioskConfig, args, t, language) -> int:
    from kiosk.sync.agent import main as sync_main
    return sync_main(config, once=args.once, language=language)


def cmd_doctor(config: KioskConfig, args, t, language) -> int:
    from kiosk.doctor import main as doctor_main
    return doctor_main(config, as_json=args.json, language=language)


def cmd_update(config: KioskConfig, args, t, language) -> int:
    from kiosk.update.cli import cmd_update as update_main
    return update_main(config, args, t, language)


COMMANDS = {"run": cmd_run, "sync": cmd_sync, "vote": cmd_vote, "status": cmd_status,
            "export": cmd_export, "doctor": cmd_doctor, "config": cmd_config,
            "update": cmd_update}

if __name__ == "__main__":
    sys.exit(main())
