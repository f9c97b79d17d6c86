"""``district settings show|set|history|revert`` and ``district terminals
ask-doctor|restart-ui|button-test ID`` (docs/steering.md); ``district.cli`` adds them."""

from __future__ import annotations

import json
import tomllib

from district import audit
from district.db import open_engine
from district.errors import N_, DistrictError
from district.steering import store
from district.steering import terminal as steering

TERMINAL_ACTIONS = {"ask-doctor": "doctor", "restart-ui": "restart_ui",
                    "button-test": "button_test"}


def add_cli(sub, _) -> dict:
    cmd = sub.add_parser("settings", help=_(
        "the settings the district decides for its terminals (question, scale, follow-up…)"))
    cmd_sub = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = cmd_sub.add_parser("show", help=_("the settings of the fleet, a unit or a terminal"))
    _scope_options(show, _)
    show.add_argument("--own", action="store_true", help=_(
        "only the keys set at this scope (default: what it runs, inherited keys included)"))
    show.add_argument("--json", action="store_true", help=_("print JSON"))
    set_ = cmd_sub.add_parser("set", help=_("change settings: KEY=VALUE … (KEY= inherits again)"))
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help=_(
        "e.g. scale.question_vi=\"Ông/Bà có hài lòng không?\" followup.enabled=true"))
    _scope_options(set_, _)
    set_.add_argument("--note", default="", help=_("why (kept in the history)"))
    hist = cmd_sub.add_parser("history", help=_("the versions: who changed what, when"))
    _scope_options(hist, _)
    hist.add_argument("--json", action="store_true", help=_("print JSON"))
    rev = cmd_sub.add_parser("revert", help=_(
        "return a scope to the settings of an earlier version (a new version)"))
    rev.add_argument("version", type=int, metavar="VERSION")
    rev.add_argument("--note", default="", help=_("why (kept in the history)"))
    return {"settings": cmd_settings}


def add_terminal_cli(terms_sub, _) -> None:
    """``district terminals ask-doctor|restart-ui|button-test ID``."""
    helps = {"ask-doctor": _("ask a terminal for its doctor report and journal (next "
                             "heartbeat)"),
             "restart-ui": _("ask a terminal to restart its screen between citizens"),
             "button-test": _("ask a terminal to open the button test on its screen")}
    for name, text in helps.items():
        terms_sub.add_parser(name, help=text).add_argument("terminal_id", metavar="ID")


def _scope_options(parser, _) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--unit", metavar="UNIT", help=_("this unit (default: the whole fleet)"))
    group.add_argument("--terminal", metavar="ID", help=_("this terminal"))


def _scope(args) -> store.Scope:
    if getattr(args, "terminal", None):
        return store.Scope(store.TERMINAL, args.terminal)
    if getattr(args, "unit", None):
        return store.Scope(store.UNIT, args.unit)
    return store.FLEET_SCOPE


def parse_assignments(items: list[str]) -> dict:
    """``KEY=VALUE`` → {key: value}: VALUE read as TOML when it is one (``true``, ``5``,
    ``["a", "b", "c"]``), else as text; ``KEY=`` inherits again (None)."""
    out: dict = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise DistrictError(N_("{item!r} is not KEY=VALUE"), item=item)
        if raw == "":
            out[key.strip()] = None
            continue
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    return out


def cmd_settings(args, db_url: str, _) -> int:
    engine = open_engine(db_url)
    if args.action == "show":
        scope = _scope(args)
        eff = store.effective(engine, scope)
        doc = store.own_document(engine, scope) if args.own else eff.document
        if args.json:
            print(json.dumps({"scope": str(scope), "version": eff.version, "etag": eff.etag,
                              "settings": doc}, ensure_ascii=False, indent=2))
            return 0
        print(_("{scope}: version {version}").format(scope=scope, version=eff.version))
        for section, values in doc.items():
            for key, value in values.items():
                where = eff.origin.get(f"{section}.{key}")
                print(f"{section}.{key} = {json.dumps(value, ensure_ascii=False)}"
                      + (f"\t({where})" if where and where != scope else ""))
        return 0
    if args.action == "set":
        scope = _scope(args)
        number = store.change(engine, scope, parse_assignments(args.assignments),
                              audit.cli_actor(), args.note)
    elif args.action == "revert":
        number = store.restore(engine, args.version, audit.cli_actor(), args.note)
    else:
        scope = _scope(args)
        scopes = None if scope == store.FLEET_SCOPE and not (args.unit or args.terminal) \
            else [scope]
        rows = store.history(engine, scopes)
        if args.json:
            print(json.dumps([{"version": v.version, "scope": str(v.scope), "author": v.author,
                               "at": v.at.isoformat(), "changes": v.changes, "note": v.note,
                               "restores": v.restores} for v in rows],
                             ensure_ascii=False, indent=2))
        for v in [] if args.json else rows:
            changed = ", ".join(f"{k}: {json.dumps(o, ensure_ascii=False)} → "
                                f"{json.dumps(n, ensure_ascii=False)}"
                                for k, (o, n) in v.changes.items())
            print(f"{v.version}\t{v.at:%Y-%m-%d %H:%M}\t{v.scope}\t{v.author}\t{changed}"
                  + (f"\t({_('returns to version {n}').format(n=v.restores)})"
                     if v.restores else "") + (f"\t{v.note}" if v.note else ""))
        return 0
    if number is None:
        print(_("nothing to change"))
    else:
        print(_("settings version {version} stored; terminals take it with their next "
                "heartbeat").format(version=number))
    return 0


def cmd_terminal_action(args, db_url: str, _) -> int:
    engine = open_engine(db_url)
    number = steering.ask(engine, args.terminal_id, TERMINAL_ACTIONS[args.action],
                          audit.cli_actor())
    print(_("request {n} recorded; terminal {terminal_id} takes it with its next "
            "heartbeat").format(n=number, terminal_id=args.terminal_id))
    return 0
