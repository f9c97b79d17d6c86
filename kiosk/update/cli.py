"""``kiosk update --check | --apply`` for the technician on site; ``--auto`` (kiosk-update.
service, every few minutes) and ``--repair`` (kiosk-update-repair.service, at boot before the
screen); ``--between-citizens S`` (the updater asks the store, as user kiosk)."""

from __future__ import annotations

import os
import sys

from kiosk.i18n import N_

MSG_ROOT = N_("kiosk update --apply installs software: run it as root (sudo kiosk update "
              "--apply)")


def _own(t):
    """This package's catalog (``kiosk_update``) in the language of the CLI's ``t``, else
    ``t`` itself."""
    import gettext

    from kiosk.i18n import translation

    english = type(getattr(t, "__self__", None)) is gettext.NullTranslations
    own = translation("kiosk_update", "en" if english else "vi").gettext

    def both(message: str) -> str:
        translated = own(message)
        return translated if translated != message else t(message)
    return both


def add_cli(verbs, add_verb, t) -> None:
    t = _own(t)
    update = add_verb(verbs, "update", t(
        "software updates from the district: what the server offers, install it now"))
    mode = update.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help=t(
        "say what runs, what the district offers and whether it would be installed"))
    mode.add_argument("--apply", action="store_true", help=t(
        "install the release the district offers now, between citizens; kept only if "
        "healthy (root)"))
    mode.add_argument("--auto", action="store_true", help=t(
        "what kiosk-update.service runs: install when this terminal's turn has come"))
    mode.add_argument("--repair", action="store_true", help=t(
        "what kiosk-update-repair.service runs at boot: finish or undo a cut-off update"))
    mode.add_argument("--between-citizens", type=float, metavar="S", help=t(
        "print yes when no vote is open and none came for S seconds"))


def cmd_update(config, args, t, language) -> int:
    from kiosk.update import updater

    t = _own(t)

    if args.between_citizens is not None:
        print("yes" if updater.quiet_now(config, args.between_citizens) else "no")
        return 0
    if args.check:
        return _check(config, t)
    if os.geteuid() != 0:
        print(t(MSG_ROOT), file=sys.stderr)
        return 1
    up = updater.Updater(config, say=lambda line: print(line, flush=True))
    if args.repair:
        st = up.repair()
        print(updater.describe(st))
        return 0
    print(up.run(force=args.apply))
    return 0


def _check(config, t) -> int:
    from kiosk.update import apt, updater
    from kiosk.update import state as update_state

    installed, status = apt.installed()
    st = update_state.load()
    up = updater.Updater(config)
    target = up.target()
    print(t("installed: hailong-kiosk {version} ({status})").format(
        version=installed or "-", status=status.strip() or "-"))
    if target is None:
        print(t("the district offers no release to this terminal"))
    else:
        print(t("the district offers: {version} (rollout {rollout}{paused})").format(
            version=target["version"], rollout=target.get("rollout"),
            paused=t(", paused") if target.get("paused") else ""))
    if st.outcome:
        print(t("last update: {version} {outcome} {reason}").format(
            version=st.outcome.get("version"), outcome=st.outcome.get("outcome"),
            reason=st.outcome.get("reason") or ""))
    if st.phase != update_state.IDLE:
        print(t("an update is under way: {phase} {version}").format(phase=st.phase,
                                                                     version=st.target))
    if target is None or target["version"] == installed:
        return 0
    if os.geteuid() != 0:
        return 0
    try:
        up.check(target["version"], installed, bool(target.get("allow_older")))
    except (updater.Refused, apt.AptFailed) as exc:
        print(t("would be refused: {reason}").format(reason=exc))
        return 1
    print(t("signature, hashes and version are good: kiosk update --apply installs it"))
    if updater.root_protected():
        print(t("the card is protected: the install reboots it into maintenance and, once "
                "the release is kept or rolled back, protects it again (two reboots)"))
    return 0
