"""The updater's steps (kiosk-update.service, root), each written to the state file before
it starts, so that a kill or a power cut at any instant is finished or undone by the next run
(``repair``, at boot before the screen starts, and at the start of every run):

```
idle ──turn──> refused?  apt: signature, hashes, version published for this architecture,
               not older (unless the district asks), the running version kept for the way back
     ──quiet (between citizens)──> installing ──apt-get install V──> trial ──healthy──> idle (kept)
                                        │                              │ not within health_s
                                        └──── interrupted, failed ─────┴──> rolling_back ──> idle
```

apt and dpkg keep their own journal (/var/lib/dpkg/updates, ``dpkg --configure -a``); the
previous version stays in the district's repository and in apt's cache
(/var/cache/apt/archives), so going back needs no network.

On a protected card (kiosk-card: the root read-only, its writes in RAM) a release installed
in place would be gone at the next boot. The updater then does on its own what a technician
would do on site: once the release has passed the checks and a moment between citizens has
come, it leaves a note (``protect-after`` beside the state, on the data partition), switches
the card to maintenance and reboots; on the writable root the update runs as above, and once
it is kept or rolled back the card is protected again and rebooted. Two reboots, a minute or
so without the screen, between citizens.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kiosk import clock
from kiosk.config import KioskConfig
from kiosk.update import apt, health
from kiosk.update import state as update_state
from kiosk.update.follow import read_target
from kiosk.update.state import IDLE, INSTALLING, ROLLING_BACK, TRIAL, State

QUIET_WAIT_S = 600   # how long a run waits for a moment between citizens
POLL_S = 2.0        # the trial's health checks
QUIET_POLL_S = 10.0  # asking the store for a quiet moment starts a Python process: not often
CARD = "/usr/sbin/kiosk-card"
PROTECT_AFTER = "protect-after"  # the note of an update that made the root writable for itself
MSG_STAYED_PROTECTED = ("the card's root stayed protected after the reboot into maintenance "
                        "(kiosk-card maintenance did not take): see 'kiosk-card status'")


class Refused(Exception):
    """This release is not installed; ``str()`` says why (reported with the heartbeat)."""


def dearmor(text: str) -> bytes:
    import base64

    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN PGP PUBLIC KEY BLOCK"):
        raise Refused("[update] release_key of kiosk.toml is not an OpenPGP public key "
                      "(district fleet provision writes it)")
    body = lines[1:-1]
    body = body[body.index("") + 1:] if "" in body else body
    return base64.b64decode("".join(x for x in body if not x.startswith("=")))


class Updater:
    def __init__(self, config: KioskConfig, folder: Path = update_state.STATE_DIR,
                 say: Callable[[str], None] = lambda _line: None):
        self.config = config
        self.folder = folder
        self.say = say
        self.arch = apt.architecture()

    # -- what the server asks ------------------------------------------------------------

    def target(self) -> dict | None:
        return read_target(Path(self.config.storage.path).parent)

    def repository(self) -> apt.Repository:
        cfg = self.config
        if not cfg.update.release_key.strip():
            raise Refused("no release key in kiosk.toml ([update] release_key): provision "
                          "the terminal again with district fleet provision")
        url = cfg.update.repository or (cfg.server.url + "/apt" if cfg.server.url else "")
        if not url:
            raise Refused("no server address in kiosk.toml: no repository to update from")
        ca = cfg.server.ca_cert
        if not ca and cfg.server.ca_bundle:
            ca = Path(cfg.server.ca_bundle).read_text()
        return apt.Repository(self.folder, url.rstrip("/"), apt.os_suite(),
                              dearmor(cfg.update.release_key), ca)

    def due(self, st: State, target: dict | None) -> str | None:
        """The version whose turn has come for this terminal, or None."""
        if not target or target.get("paused"):
            return None
        version = target["version"]
        installed, _status = apt.installed()
        if version == installed:
            return None
        if st.failed.get(version) == target.get("rollout"):
            return None  # it failed here: not again until the district rolls it out anew
        return version

    # -- one run -------------------------------------------------------------------------

    def run(self, force: bool = False, wait_s: float = QUIET_WAIT_S) -> str:
        """One run of kiosk-update.service (``force``: the technician's --apply). Returns
        what happened, in words. One run at a time: a technician's --apply while the
        timer's run waits or tries a release is told so and does nothing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "another run of the updater is under way: nothing done"
            said = self.update(force, wait_s)
            again = self.protect_again(wait_s)
        return f"{said}; {again}" if again else said

    def update(self, force: bool, wait_s: float) -> str:
        st = update_state.load(self.folder)
        if st.phase != IDLE:
            st = self.repair(st)
            if st.phase == TRIAL:
                return self.trial(st)
        target = self.target()
        version = self.due(st, target) if not force else (target or {}).get("version")
        if not version:
            return "nothing to do"
        installed, _status = apt.installed()
        if force and version == installed:
            return f"{version} runs already"
        protected = root_protected()
        if protected and self.opened_in_an_earlier_boot():
            if target and target.get("rollout") is not None:
                st.failed[version] = target["rollout"]  # not one reboot after another
            return self.refuse(st, version, Refused(MSG_STAYED_PROTECTED))
        try:
            repo = self.check(version, installed, bool(target.get("allow_older")),
                              download=not protected)
        except (Refused, apt.AptFailed) as exc:
            return self.refuse(st, version, exc, target)
        if not self.wait_quiet(wait_s):
            return "no moment between citizens: next run"
        if protected:
            if (st.outcome or {}).get("version") == version:  # an earlier refusal of it no
                update_state.save(replace(st, outcome=None), self.folder)  # longer stands
            try:
                return self.open_for(version)
            except Refused as exc:
                return self.refuse(st, version, exc, target)
        # the trial counts from here: the package's postinst restarts the screen and the
        # agent during the install, and they may be up again before apt-get returns
        st = State(phase=INSTALLING, target=version, previous=installed,
                   rollout=target.get("rollout"), allow_older=bool(target.get("allow_older")),
                   ui_was_ready=health.ui_running(), failed=st.failed, outcome=st.outcome,
                   trial_since=time.time(), trial_boot=clock.boot_id(),
                   trial_mono_us=health.monotonic_us())
        update_state.save(st, self.folder)
        self.say(f"installing hailong-kiosk {version} (was {installed})")
        try:
            repo.install(version)
        except apt.AptFailed as exc:
            return self.roll_back(st, f"apt-get install failed: {exc}")
        return self.trial(self.begin_trial(st))

    def refuse(self, st: State, version: str, why: Exception, target: dict | None = None
               ) -> str:
        if self.note() is not None and target and target.get("rollout") is not None:
            # refused on the root opened for it (or while opening it): not again in this
            # rollout, else protect, reopen, refuse, protect… all day long
            st.failed[version] = target["rollout"]
        if root_protected():
            self.clear_note()  # (on a writable root the note still asks to protect it again)
        update_state.save(st.with_outcome(version, "refused", str(why)), self.folder)
        return f"refused {version}: {why}"

    # -- a protected card: a writable root for the update, protected again after it ---------

    def open_for(self, version: str) -> str:
        """The note first (on the data partition), then the switch, then the reboot: cut off
        anywhere, the next boot finds either the root protected (the switch did not happen
        or did not take: asked again, or refused) or a writable root and the note (the
        update runs, then the card is protected again)."""
        self.write_note("opening", version)
        card(["maintenance"])
        self.write_note("opened", version)  # the switch is made: the next boot is writable
        self.say(f"the card's root is protected: rebooting into maintenance to install "
                 f"hailong-kiosk {version}")
        subprocess.run(["systemctl", "reboot"], check=False, timeout=60)
        return f"rebooting into a writable root to install {version}"

    def protect_again(self, wait_s: float = QUIET_WAIT_S) -> str | None:
        """After an update that opened the root for itself, once it is over (kept, rolled
        back or refused): protect the card again and reboot into it, between citizens. A
        refusal of kiosk-card keeps the note: the next run tries again."""
        note = self.note()
        if note is None or not self.over(note):
            return None
        if root_protected():
            if note.get("boot") != clock.boot_id():
                self.clear_note()  # protected again after a cut: nothing left to do
            return None
        if not self.wait_quiet(wait_s):
            return "the card is protected again at the next moment between citizens"
        self.write_note("protecting", note.get("version"))
        try:
            card(["protect"])
        except Refused as exc:
            self.say(f"kiosk-card protect refused, tried again at the next run: {exc}")
            return f"the card stays writable for now: {exc}"
        self.clear_note()
        self.say("the update is over: the card's root is protected again from this reboot")
        subprocess.run(["systemctl", "reboot"], check=False, timeout=60)
        return "protected again: rebooting"

    def over(self, note: dict) -> bool:
        """The update the note was left for has ended: kept (nothing due), rolled back or
        refused (marked failed in this rollout: not due again), or no longer asked for. Not
        while a trial runs, nor after an install a cut interrupted (tried again first)."""
        st = update_state.load(self.folder)
        if st.phase != IDLE:
            return False
        due = self.due(st, self.target())
        return due is None or due != note.get("version")

    def opened_in_an_earlier_boot(self) -> bool:
        """The root still protected after the reboot asked for: the switch did not take."""
        note = self.note()
        return bool(note) and note.get("stage") == "opened" and \
            note.get("boot") != clock.boot_id()

    def note(self) -> dict | None:
        try:
            note = json.loads((self.folder / PROTECT_AFTER).read_text())
        except (OSError, ValueError):
            return None
        return note if isinstance(note, dict) else None

    def write_note(self, stage: str, version: str | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        update_state.write_durably(self.folder / PROTECT_AFTER, json.dumps(
            {"stage": stage, "version": version, "boot": clock.boot_id()}))

    def clear_note(self) -> None:
        update_state.remove_durably(self.folder / PROTECT_AFTER)

    def check(self, version: str, installed: str | None, allow_older: bool,
              download: bool = True) -> apt.Repository:
        """Everything before the install: raises Refused (or AptFailed) with the reason.
        ``download=False`` on a protected root: its cache is in RAM, gone at the reboot
        that makes it writable, so the packages are fetched once, after it."""
        if installed and compare(version, installed) < 0 and not allow_older:
            raise Refused(f"{version} is older than the version installed ({installed})")
        repo = self.repository()
        repo.prepare()
        repo.update()
        published = repo.versions()
        if version not in published:
            raise Refused(f"hailong-kiosk {version} is not in the district's repository for "
                          f"this terminal's architecture ({self.arch}) and release "
                          f"({repo.suite})")
        if installed and installed not in published:
            raise Refused(f"the running version {installed} is not in the district's "
                          "repository: without it there is no way back, so no update")
        if download:
            repo.download(version)     # hashes checked against the signed index
            if installed:
                repo.download(installed)  # the way back, in apt's cache
        return repo

    def wait_quiet(self, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while True:
            if between_citizens(self.config.update.quiet_s):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(QUIET_POLL_S)

    # -- keep it only if healthy ---------------------------------------------------------

    def begin_trial(self, st: State) -> State:
        st.phase = TRIAL
        if st.trial_boot != clock.boot_id() or st.trial_since is None:
            # after a reboot: a new window, and whatever this boot started counts
            st.trial_since, st.trial_mono_us = time.time(), 0
            st.trial_boot, st.trial_until = clock.boot_id(), None
        if st.trial_until is None:  # health_s from the end of the install (a slow card's
            st.trial_until = time.time() + self.config.update.health_s  # apt is not counted)
        update_state.save(st, self.folder)
        return st

    def trial(self, st: State) -> str:
        if st.trial_boot != clock.boot_id():  # a reboot during the trial
            st = self.begin_trial(st)
        deadline = st.trial_until or time.time() + self.config.update.health_s
        while True:
            problem = self.unhealthy(st)
            if problem is None:
                break
            # (a screen up but not yet stable gets the few seconds it needs)
            if time.time() > deadline + (health.STABLE_S if problem == health.NOT_STABLE
                                         else 0):
                return self.roll_back(st, problem)
            time.sleep(POLL_S)
        st.failed.pop(st.target, None)
        version = st.target
        update_state.save(State(failed=st.failed).with_outcome(version, "kept"), self.folder)
        self.say(f"hailong-kiosk {version} proved healthy: kept")
        return f"kept {version}"

    def unhealthy(self, st: State) -> str | None:
        """The first of the health checks that does not hold yet (cheapest first)."""
        if st.ui_was_ready:
            problem = health.ui_ready(st.trial_mono_us)
            if problem:
                return problem
        return health.synced_since(st.trial_since) or health.store_probe()

    def roll_back(self, st: State, reason: str, count_failure: bool = True) -> str:
        st.phase = ROLLING_BACK
        update_state.save(st, self.folder)
        self.say(f"back to hailong-kiosk {st.previous}: {reason}")
        self.reinstall_previous(st)
        if count_failure and st.target and st.rollout is not None:
            st.failed[st.target] = st.rollout
        done = State(failed=st.failed).with_outcome(
            st.target or "", "rolled_back", f"{reason} (back to {st.previous})")
        update_state.save(done, self.folder)
        return f"rolled back {st.target} to {st.previous}: {reason}"

    def reinstall_previous(self, st: State) -> None:
        """The previous version again, from apt's cache (no network needed)."""
        try:
            apt.configure_pending()
        except apt.AptFailed:
            pass
        if not st.previous:
            return
        cached = Path("/var/cache/apt/archives") / \
            f"{apt.PACKAGE}_{st.previous.replace(':', '%3a')}_{self.arch}.deb"
        try:
            self.repository().install(st.previous)
        except (Refused, apt.AptFailed):
            if not cached.exists():
                raise
            apt.run(["dpkg", "--force-confold", "-i", str(cached)])

    # -- after a kill or a power cut -----------------------------------------------------

    def repair(self, st: State | None = None) -> State:
        """Finish or undo what was cut off: at boot (before the screen starts) and at the
        start of every run. Leaves an installed, configured release."""
        st = st or update_state.load(self.folder)
        try:
            apt.configure_pending()  # dpkg's own journal
        except apt.AptFailed as exc:
            self.say(f"dpkg --configure -a: {exc}")
        version, status = apt.installed()
        if st.phase == INSTALLING and version == st.target and status == "ii ":
            return self.begin_trial(st)
        if st.phase in (INSTALLING, ROLLING_BACK) or (st.phase != IDLE and status != "ii "):
            # an install cut short is not the release's fault: tried again later
            self.roll_back(st, f"the update to {st.target} was interrupted",
                           count_failure=st.phase == ROLLING_BACK)
            return update_state.load(self.folder)
        return st


def root_protected() -> bool:
    """kiosk-card's word (packaging/kiosk/kiosk-card): the root's writes go to RAM now. No
    kiosk-card, no protected root."""
    try:
        return subprocess.run([CARD, "protected"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def card(args: list[str]) -> None:
    """``kiosk-card maintenance|protect``: for the next boot; Refused with its words."""
    try:
        proc = subprocess.run([CARD, *args], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Refused(f"kiosk-card {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise Refused(proc.stderr.strip() or f"kiosk-card {args[0]} exited {proc.returncode}")


def between_citizens(quiet_s: float) -> bool:
    """No follow-up open and no vote for ``quiet_s``: read as user kiosk by ``kiosk update
    --between-citizens`` (the store is the kiosk's)."""
    try:
        proc = subprocess.run([*health.AS_KIOSK, health.KIOSK, "update",
                               "--between-citizens", str(quiet_s)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.stdout.strip() == "yes"


def compare(a: str, b: str) -> int:
    """Debian's version order, by dpkg itself."""
    for op, value in (("lt", -1), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0:
            return value
    return 0


def quiet_now(config: KioskConfig, quiet_s: float) -> bool:
    """In the store: no vote held for a follow-up, the newest vote older than ``quiet_s``."""
    import sqlite3

    path = Path(config.storage.path)
    if not path.exists():
        return True
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        held = conn.execute("SELECT count(*) FROM votes WHERE status = 'held'").fetchone()[0]
        last = conn.execute("SELECT boot_id, monotonic_ns FROM votes ORDER BY seq DESC "
                            "LIMIT 1").fetchone()
    finally:
        conn.close()
    if held:
        return False
    if last is None or last[0] != clock.boot_id():
        return True
    return clock.since_boot_ns() - int(last[1]) >= quiet_s * 1e9


def describe(st: State) -> str:
    return json.dumps({"phase": st.phase, "target": st.target, "previous": st.previous,
                       "outcome": st.outcome}, ensure_ascii=False)
