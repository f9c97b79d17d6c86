"""``district releases add FILE.deb | list | rollout VERSION TARGET | pause | resume | stop``
(docs/updates.md); ``district.cli`` adds them."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from district import audit
from district.db import open_engine
from district.errors import N_, DistrictError
from district.releases import repository, store


def _translator(_):
    """This package's catalog (``district_releases``), else the district CLI's ``_``, in the
    CLI's language (its catalog translates its own "error: {message}" or not)."""
    from ballot.i18n import translation

    lang = "en" if _("error: {message}") == "error: {message}" else "vi"
    own = translation("district_releases", lang).gettext

    def t(message: str) -> str:
        translated = own(message)
        return translated if translated != message else _(message)
    return t


def add_cli(sub, _) -> dict:
    _ = _translator(_)
    cmd = sub.add_parser("releases", help=_(
        "software releases for the terminals: the district's signed apt repository, rollouts"))
    rel = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = rel.add_parser("add", help=_(
        "publish a hailong-kiosk .deb in the district's repository (signed with the release "
        "key; run as root)"))
    add.add_argument("debs", nargs="+", metavar="FILE.deb")
    lst = rel.add_parser("list", help=_("the published versions, the rollouts, what terminals run"))
    lst.add_argument("--json", action="store_true", help=_("print JSON"))
    out = rel.add_parser("rollout", help=_("offer a published version to some terminals"))
    out.add_argument("version", metavar="VERSION")
    target = out.add_mutually_exclusive_group(required=True)
    target.add_argument("--terminal", metavar="ID", help=_("one terminal"))
    target.add_argument("--unit", metavar="UNIT", help=_("a unit and the units below it"))
    target.add_argument("--share", type=int, metavar="PCT", help=_(
        "this percentage of the fleet (the same terminals each time, more as it grows)"))
    target.add_argument("--all", action="store_true", help=_("every terminal"))
    out.add_argument("--allow-older", action="store_true", help=_(
        "the version is older than what the terminals run: go back to it (a district's "
        "rollback)"))
    for verb, text in (("pause", _("hold the rollouts: terminals that have not started wait")),
                       ("resume", _("go on with paused rollouts")),
                       ("stop", _("end the rollouts: terminals keep what they run"))):
        rel.add_parser(verb, help=text).add_argument(
            "version", nargs="?", metavar="VERSION", help=_("only this version's rollouts"))
    return {"releases": cmd_releases}


def release_key(settings):
    """The district's release key (``[release] key``, made by ``district setup``)."""
    from district import pki

    path = settings.path(settings.release.key) if settings is not None else None
    if path is None or not path.exists():
        raise DistrictError(N_("no release key: run `district setup` (it makes {path})"),
                            path=path or "/etc/district/release.key")
    try:
        return pki.load_key(path)
    except PermissionError as exc:
        raise DistrictError(N_("cannot read the release key {path}: run this as root (sudo "
                               "district releases add …)"), path=path) from exc


def public_key_text(settings) -> str:
    """The armoured OpenPGP public key terminals install as the repository's keyring: made
    from the release key when this user may read it (root), else the copy ``release.asc``
    beside it that root's ``district releases add`` wrote; "" when there is neither."""
    from district.releases import openpgp

    try:
        return openpgp.armor(openpgp.public_key(release_key(settings)))
    except DistrictError:
        path = settings.path(settings.release.key) if settings is not None else None
        try:
            return path.with_suffix(".asc").read_text() if path else ""
        except OSError:
            return ""


def cmd_releases(args, db_url: str, _) -> int:
    _ = _translator(_)
    try:
        return _releases(args, db_url, _)
    except DistrictError as exc:  # in this package's words (its own catalog)
        print(_("error: {message}").format(message=exc.translated(_)), file=sys.stderr)
        return 1


def _releases(args, db_url: str, _) -> int:
    repo = repository.repository_dir(db_url)
    if args.action == "add":
        key = release_key(args.settings)
        _write_public_copies(args.settings, repo, key)
        engine = open_engine(db_url)
        for deb in args.debs:
            pkg = repository.add(repo, Path(deb), key)
            audit.record_now(engine, audit.cli_actor(), "release_published", pkg.version,
                             {"package": pkg.name, "arch": pkg.arch, "suite": pkg.suite,
                              "sha256": pkg.sha256})
            print(_("published {name} {version} ({arch}) for {suite}: {path}").format(
                name=pkg.name, version=pkg.version, arch=pkg.arch, suite=pkg.suite,
                path=pkg.path))
        return 0
    engine = open_engine(db_url)
    if args.action == "list":
        return _list(engine, repo, args.json, _)
    if args.action == "rollout":
        published = {p.version for p in repository.packages(repo) if p.name == "hailong-kiosk"}
        if args.version not in published:
            raise DistrictError(N_("hailong-kiosk {version} is not published here (district "
                                   "releases add FILE.deb first)"), version=args.version)
        if args.share is not None and not 1 <= args.share <= 100:
            raise DistrictError(N_("--share must be a percentage from 1 to 100"))
        kind, target = (("terminal", args.terminal) if args.terminal else
                        ("unit", args.unit) if args.unit else
                        ("share", str(args.share)) if args.share is not None else ("all", ""))
        number = store.start(engine, args.version, kind, target, audit.cli_actor(),
                             args.allow_older)
        print(_("rollout {n}: hailong-kiosk {version} to {target}; terminals take it with "
                "their next heartbeat").format(n=number, version=args.version,
                                               target=_target_words(kind, target, _)))
        return 0
    state = {"pause": store.PAUSED, "resume": store.ACTIVE, "stop": store.STOPPED}[args.action]
    n = store.set_state(engine, state, audit.cli_actor(), args.version)
    print(_("{n} rollout(s) changed").format(n=n))
    return 0


def _write_public_copies(settings, repo: Path, key) -> None:
    """``release.asc`` beside the key (for ``district fleet provision`` run as the service's
    user) and ``district-release.asc`` in the repository (served at /apt/)."""
    from district.releases import openpgp

    text = openpgp.armor(openpgp.public_key(key)).encode()
    for path in (settings.path(settings.release.key).with_suffix(".asc"),
                 repo / "district-release.asc"):
        repository.write_atomic(path, text)


def _target_words(kind: str, target: str, _) -> str:
    return {"terminal": _("terminal {t}"), "unit": _("unit {t} and below"),
            "share": _("{t} % of the fleet"), "all": _("every terminal")}[kind].format(t=target)


def _list(engine, repo: Path, as_json: bool, _) -> int:
    pkgs = repository.packages(repo)
    rolls = store.rollouts(engine)
    reports = store.reports(engine)
    running = Counter(r.version for r in reports.values() if r.version)
    if as_json:
        print(json.dumps({
            "repository": str(repo),
            "packages": [{"name": p.name, "version": p.version, "arch": p.arch,
                          "suite": p.suite, "size": p.size, "sha256": p.sha256} for p in pkgs],
            "rollouts": [{"id": r.pk, "version": r.version, "target": r.kind,
                          "value": r.target, "state": r.state, "allow_older": r.allow_older,
                          "author": r.author, "at": r.at.isoformat()} for r in rolls],
            "terminals": {tid: {"version": r.version, "outcome": r.outcome,
                                "outcome_version": r.outcome_version, "reason": r.reason}
                          for tid, r in sorted(reports.items())},
        }, ensure_ascii=False, indent=2))
        return 0
    print(_("Published ({repo}):").format(repo=repo))
    for p in pkgs:
        print(f"  {p.name}\t{p.version}\t{p.arch}\t{p.suite}\t"
              + _("{n} terminal(s) run it").format(n=running.get(p.version, 0)))
    print(_("Rollouts, newest first:"))
    for r in rolls:
        print(f"  {r.pk}\t{r.version}\t{_target_words(r.kind, r.target, _)}\t{r.state}\t"
              f"{r.author}\t{r.at:%Y-%m-%d %H:%M}")
    failed = [(tid, r) for tid, r in sorted(reports.items())
              if r.outcome in ("rolled_back", "refused")]
    if failed:
        print(_("Terminals that did not keep a release:"))
    for tid, r in failed:
        print(f"  {tid}\t{r.outcome}\t{r.outcome_version}\t{r.reason}")
    return 0
