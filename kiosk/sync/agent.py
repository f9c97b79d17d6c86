"""``kiosk sync``: the sync agent, a process of its own beside the UI (docs/sync-agent.md).

One batch at a time, store and forward::

    claim(batch_size)  pending → inflight          (one short write transaction)
    POST /api/v1/votes                             (no transaction open meanwhile)
    settle(...)        inflight → synced/rejected  (one short write transaction)
      or unclaim(...)  inflight → pending          (the upload failed: try again later)

Exactly once rests on the server: a vote id it already has comes back ``duplicate`` and is
marked synced like an accepted one, so sending again after any doubt is always safe.

Retries (tenacity): network errors, timeouts, 5xx and 429 wait a capped exponential backoff
with full jitter, at least what Retry-After asks. A 4xx other than 429 (wrong token, batch too
large…) would be refused again: the pass stops, ``last_sync_error`` says what to fix, and the
agent waits the longest backoff (``sync.max_backoff_s``) before asking again.

Sooner, without hammering: while it backs off from a server it could not reach (or a 5xx
without Retry-After), the agent asks ``GET /healthz`` every ``PROBE_S`` — one small request —
and tries again as soon as the server answers, so an outage ends for the votes seconds after
the server is back, not after the grown backoff. Between passes it looks every
``WATCH_S`` whether the vote file changed (a ``stat``, no query unless it did) and uploads at
once when a vote became pending: a new vote, or a held one whose follow-up was answered.

Duty periods go the same way once no vote is pending (their own outbox, kiosk.sync.duty), and
each heartbeat brings the unit's roster back (names, revoked badges, photos).
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import tenacity
from tenacity import RetryCallState

from ballot.i18n import translation
from ballot.vote import MAX_LEVEL
from kiosk import __version__, clock
from kiosk.config import KioskConfig
from kiosk.remote_settings import Follower
from kiosk.store import StorageError, VoteStore
from kiosk.sync import duty as duty_sync
from kiosk.sync.client import (
    MSG_NO_URL,
    RETRY_AFTER_CAP_S,
    PermanentError,
    ServerClient,
    SyncError,
    TransientError,
)
from kiosk.update.follow import note_target as note_release_target
from kiosk.update.follow import report as release_report
from kiosk.vote import iso

log = logging.getLogger("kiosk.sync")

EXIT_OK, EXIT_LEFT_OVER = 0, 1
# --once gives up on the backlog after this many failed tries in a row on one batch, waiting
# at most ONCE_MAX_WAIT_S between two: bounded in time, whatever the network does.
ONCE_ATTEMPTS = 8
ONCE_MAX_WAIT_S = 15.0
# systemd's WatchdogSec is 120 s (systemd/kiosk-sync.service): ping well inside it, also
# while sleeping through a long backoff.
WATCHDOG_PING_S = 20.0
#: while backing off from an unreachable server: a /healthz probe this often
PROBE_S = 3.0
#: between passes: a look at the vote file this often, for votes that became pending
WATCH_S = 1.0
MSG_STORAGE = 'The vote store cannot be used (the system says: "{error}"). Fix: run ' \
    "'kiosk doctor'."
MSG_UNEXPECTED = 'Unexpected error in the sync agent (the system says: "{error}").'


class Stopped(Exception):
    """SIGTERM/SIGINT arrived while the agent was waiting: leave cleanly."""


@dataclass
class Tally:
    """What one run uploaded (for the progress bar, the log and the benchmark)."""

    batches: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failures: int = 0


class WaitRetryAfter(tenacity.wait.wait_base):
    """Backoff for the next try: ``backoff`` (exponential, jittered, capped) for transient
    errors, at least the server's Retry-After; the cap itself after a permanent error."""

    def __init__(self, backoff: tenacity.wait.wait_base, cap_s: float, hint_cap_s: float):
        self.backoff = backoff
        self.cap_s = cap_s
        self.hint_cap_s = hint_cap_s

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, PermanentError):
            return self.cap_s
        wait = self.backoff(retry_state)
        hint = getattr(error, "retry_after", None)
        return max(wait, min(hint, self.hint_cap_s)) if hint is not None else wait


class StopOnPermanent(tenacity.stop.stop_base):
    """Once-mode: a refused request (wrong token…) will be refused again; stop now."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        return outcome is not None and isinstance(outcome.exception(), PermanentError)


def backoff_policy(max_backoff_s: float, *, hint_cap_s: float = RETRY_AFTER_CAP_S
                   ) -> WaitRetryAfter:
    """Full jitter (random between a small floor and min(cap, first·2ⁿ)): 10,000 terminals
    coming back after a server outage spread out instead of knocking together."""
    first = min(1.0, max_backoff_s)
    jittered = tenacity.wait_random_exponential(multiplier=first, max=max_backoff_s)
    return WaitRetryAfter(tenacity.wait_fixed(first / 4) + jittered, max_backoff_s, hint_cap_s)


class SyncAgent:
    """The loop, the backoff and the once-mode around one store and one server client."""

    def __init__(self, config: KioskConfig, *, store: VoteStore | None = None,
                 client: ServerClient | None = None, language: str = "vi",
                 notify: Callable[[str], None] | None = None):
        self.config = config
        self.t = translation("kiosk_sync", language).gettext
        self.store = store or VoteStore(config.storage.path, config.terminal.id)
        self.client = client or ServerClient.for_config(config.server, config.terminal.id)
        self.notify = notify or _systemd_notifier()
        self.stop_event = threading.Event()
        self.tally = Tally()
        self.say: Callable[[str], None] | None = None  # a console line, beside the bar
        self._last_heartbeat = -float("inf")
        self._last_ping = -float("inf")
        self._started = time.monotonic()
        self._probing = False        # the current backoff may end when /healthz answers
        self._file_seen: tuple | None = None
        self._photos_fetched: set[str] = set()  # officers' photos fetched by this run
        # the district's settings and requests, carried by the heartbeats (docs/steering.md)
        self.steering = Follower(config, self.client.settings, language=language)

    def close(self) -> None:
        self.client.close()
        self.store.close()

    # -- one batch ----------------------------------------------------------------------

    def upload_batch(self) -> int:
        """Claim, upload and settle one batch; returns the number of votes settled (0: none
        pending). On any failure the claimed votes go back to pending before raising."""
        sync = self.config
        votes = self.store.claim(
            sync.sync.batch_size, held_older_than_s=sync.followup.timeout_s + 60,
            boot_id=clock.boot_id(), monotonic_ns=clock.since_boot_ns())
        if not votes:
            return 0
        ids = [vote.id for vote in votes]
        try:
            answer = self.client.upload(votes)
        except BaseException:
            self._unclaim_quietly(ids)
            raise
        self.store.settle(answer.synced, answer.rejected)
        settled = set(answer.synced) | {vid for vid, _ in answer.rejected}
        unsettled = [vid for vid in ids if vid not in settled]
        if unsettled:  # the answer forgot some: they go back and are sent again
            self.store.unclaim(unsettled)
        for vote_id, error in answer.rejected:
            log.warning("vote %s rejected by the server: %s", vote_id, error)
        self.store.set_meta(last_sync_at=iso(clock.utc_now()), last_sync_error=None,
                            last_sync_problem=None, server_reachable=True,
                            server_checked_at=iso(clock.utc_now()))
        self.tally.batches += 1
        self.tally.accepted += answer.accepted
        self.tally.duplicate += answer.duplicate
        self.tally.rejected += len(answer.rejected)
        return len(settled)

    def upload_duty(self) -> int:
        """One batch of duty periods (kiosk.sync.duty); 0: none to send."""
        return duty_sync.upload(self.store, self.client, self.config.sync.batch_size)

    def refresh_roster(self) -> None:
        """The unit's officers, for the screen and the badges' check; a failure waits for
        the next heartbeat."""
        try:
            duty_sync.refresh_roster(self.store, self.client, self._photos_fetched)
        except (SyncError, StorageError) as error:
            log.warning("could not fetch the unit's officers: %s", error)

    def _unclaim_quietly(self, ids: list[str]) -> None:
        try:
            self.store.unclaim(ids)
        except StorageError:
            # They stay in-flight; return_inflight() at the next start (or the next storage
            # recovery below) brings them back. Never lost, at worst sent twice.
            log.exception("could not return %d votes to pending", len(ids))

    # -- retrying -----------------------------------------------------------------------

    def _retrying(self, *, once: bool) -> tenacity.Retrying:
        cap = self.config.sync.max_backoff_s
        if once:
            cap = min(cap, ONCE_MAX_WAIT_S)
            wait = backoff_policy(cap, hint_cap_s=ONCE_MAX_WAIT_S)
            stop = (tenacity.stop_after_attempt(ONCE_ATTEMPTS)
                    | StopOnPermanent())
        else:
            wait = backoff_policy(cap)
            stop = tenacity.stop_never
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((SyncError, StorageError)),
            wait=wait, stop=stop, sleep=self.idle,
            before_sleep=self._on_failure, reraise=True)

    def _on_failure(self, retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception()
        self.tally.failures += 1
        wait = retry_state.next_action.sleep if retry_state.next_action else 0
        # an unreachable or failing server: end the wait as soon as it answers again (not
        # after a refusal, which would be refused again, nor against a Retry-After)
        self._probing = isinstance(error, TransientError) and error.retry_after is None
        message = self.record_error(error)
        if self.say:  # `kiosk sync --once`: a technician is watching, in their language
            self.say(self.t("Try {n} failed, next try in {seconds} s: {error}").format(
                n=retry_state.attempt_number, seconds=max(1, round(wait)), error=message))
        else:
            log.warning("upload failed (try %d), next try in %.1f s: %s",
                        retry_state.attempt_number, wait, error)
        if isinstance(error, StorageError):
            self._recover_storage()

    def record_error(self, error: BaseException) -> str:
        """Write the technician's message to the store (``kiosk status``, the heartbeat)."""
        message = self.explain(error)
        reachable = None
        if isinstance(error, SyncError):  # it answered (a refusal, a 5xx) or it did not
            reachable = error.status is not None
        try:
            self.store.set_meta(last_sync_error=message, last_sync_problem=problem_of(error),
                                server_reachable=reachable,
                                server_checked_at=iso(clock.utc_now()))
        except StorageError:
            log.exception("could not record the sync error")
        return message

    def explain(self, error: BaseException) -> str:
        if isinstance(error, SyncError):
            return error.explain(self.t)
        if isinstance(error, StorageError):
            return self.t(MSG_STORAGE).format(error=error)
        return self.t(MSG_UNEXPECTED).format(error=error)

    def _recover_storage(self) -> None:
        try:
            self.store.return_inflight()
        except StorageError:
            pass

    def upload_backlog(self, *, once: bool, progress: Callable[[int], None] | None = None
                       ) -> None:
        """Upload batch after batch until nothing is pending. Raises the last error when a
        batch gives up (once-mode) or Stopped when asked to stop."""
        while not self.stop_event.is_set():
            self.ping()
            settled = 0
            for attempt in self._retrying(once=once):
                with attempt:
                    settled = self.upload_batch() or self.upload_duty()
            self._probing = False
            if not settled:
                return
            if progress:
                progress(settled)
            self.maybe_heartbeat()
        raise Stopped

    # -- waiting, heartbeats, systemd ----------------------------------------------------

    def idle(self, seconds: float, *, watch_votes: bool = False) -> None:
        """Sleep, but wake for SIGTERM (raises Stopped), the watchdog and heartbeats; end
        early when a backoff's server answers again (``_probing``) or, with
        ``watch_votes``, when a vote became pending."""
        deadline = time.monotonic() + seconds
        probing, self._probing = self._probing, False
        step = min(PROBE_S if probing else WATCHDOG_PING_S,
                   WATCH_S if watch_votes else WATCHDOG_PING_S)
        next_probe = time.monotonic() + PROBE_S
        while True:
            self.ping()
            self.maybe_heartbeat()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.stop_event.wait(min(left, step)):
                raise Stopped
            if watch_votes and self._votes_waiting():
                return
            if probing and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + PROBE_S
                if self.client.probe():
                    log.info("the server answers again: trying now")
                    return

    def _votes_waiting(self) -> bool:
        """Did the vote file change since the last look, and is a vote pending now? A
        ``stat`` of the file and its WAL; the store is read only when they changed."""
        seen = []
        for path in (self.store.path, self.store.path.with_name(self.store.path.name + "-wal")):
            try:
                info = path.stat()
                seen.append((info.st_mtime_ns, info.st_size))
            except OSError:
                seen.append(None)
        changed, self._file_seen = tuple(seen) != self._file_seen, tuple(seen)
        if not changed:
            return False
        try:
            return self.store.counts()["pending"] > 0 or self.store.duty_backlog() > 0
        except StorageError:
            return False

    def ping(self) -> None:
        now = time.monotonic()
        if now - self._last_ping >= 1.0:
            self._last_ping = now
            self.notify("WATCHDOG=1")

    def maybe_heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat >= self.config.sync.heartbeat_interval_s:
            self.heartbeat()

    def heartbeat(self) -> bool:
        """One heartbeat, never retried here (the next one comes soon enough)."""
        self._last_heartbeat = time.monotonic()
        try:
            report = {**self.health_report(), **self.steering.report(), **release_report()}
            answer = self.client.heartbeat(report)
        except (SyncError, StorageError) as error:
            log.warning("heartbeat failed: %s", error)
            if isinstance(error, PermanentError):
                self.record_error(error)
            return False
        try:
            self.store.set_meta(last_sync_at=iso(clock.utc_now()),
                                last_heartbeat_at=iso(clock.utc_now()), server_reachable=True,
                                server_checked_at=iso(clock.utc_now()))
        except StorageError:
            log.exception("could not record the heartbeat")
        self.refresh_roster()
        try:  # the release the district wants here, for kiosk-update (docs/updates.md)
            note_release_target(self.store.path.parent, answer)
        except OSError as error:
            log.warning("could not keep the release target: %s", error)
        try:
            self.steering.after_heartbeat(answer, report)
        except (SyncError, OSError) as error:  # the next heartbeat tries again
            log.warning("could not follow the district's settings: %s", error)
        self.notify(f"STATUS=backlog {report['backlog']}, rejected {report['rejected']}")
        return True

    def health_report(self) -> dict:
        counts = self.store.counts()
        try:
            disk_free = shutil.disk_usage(self.store.path.parent).free
        except OSError:
            disk_free = 0
        stuck = self.store.meta("stuck_buttons", []) or []
        return {
            "backlog": self.store.backlog(counts),
            "rejected": counts["rejected"],
            "software_version": __version__,
            "clock_synced": clock.is_synchronised(),
            "disk_free_bytes": disk_free,
            "uptime_s": round(clock.since_boot_ns() / 1e9, 3),
            "last_error": _bounded(self.store.meta("last_sync_error")),
            "stuck_buttons": sorted({int(b) for b in stuck
                                     if isinstance(b, int) and 1 <= b <= MAX_LEVEL})[:5],
        }

    # -- the two modes -------------------------------------------------------------------

    def start(self) -> None:
        returned = self.store.return_inflight()
        if returned:
            log.info("%d votes in flight when the last run stopped: back to pending", returned)
        self.notify("READY=1")

    def run_forever(self) -> int:
        """The service: upload whatever is pending, wait ``sync.interval_s``, again; until
        SIGTERM. Never gives up (systemd restarts it if it dies anyway)."""
        self.start()
        log.info("sync agent started: %s, every %.0f s", self.config.server.url or "-",
                 self.config.sync.interval_s)
        try:
            while True:
                try:
                    self.upload_backlog(once=False)
                except Stopped:
                    raise
                except Exception as error:  # noqa: BLE001 - a service must keep serving
                    log.exception("sync pass failed")
                    self.record_error(error)
                    self._recover_storage()
                    self.idle(self.config.sync.max_backoff_s)
                    continue
                self.idle(self.config.sync.interval_s, watch_votes=True)
        except Stopped:
            log.info("sync agent stopping")
            self.notify("STOPPING=1")
            return EXIT_OK

    def run_once(self, *, show_progress: bool = True) -> int:
        """Upload the whole backlog now; 0 only when nothing is left to send."""
        from tqdm import tqdm

        self.start()
        self._last_heartbeat = time.monotonic()  # one heartbeat at the end is enough
        counts = self.store.counts()
        # in flight is left out: start() returns those to pending before the bar counts them
        total = counts["pending"] + counts["held"]
        error: BaseException | None = None
        # Our own format: tqdm's default glues the unit to the number ("0phiếu") and adds
        # English rates; this one reads "Đang gửi:  40%|████      | 200/500 phiếu".
        bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + \
            self.t("votes").replace("{", "{{").replace("}", "}}")
        with tqdm(total=total, desc=self.t("Sending"), bar_format=bar_format,
                  disable=not show_progress, file=sys.stderr, mininterval=0.5) as bar:
            self.say = lambda line: bar.write(line, file=sys.stderr)
            try:
                self.upload_backlog(once=True, progress=bar.update)
            except Stopped:
                pass
            except (SyncError, StorageError) as exc:
                error = exc
            finally:
                self.say = None
        if error is None:
            self.heartbeat()
        else:
            self.record_error(error)
        counts = self.store.counts()
        left = self.store.backlog(counts)
        duty_left = self.store.duty_backlog()
        t = self.t
        print(t("{sent} votes sent ({accepted} new, {duplicate} already on the server), "
                "{rejected} rejected, {left} left to send.").format(
                    sent=self.tally.accepted + self.tally.duplicate,
                    accepted=self.tally.accepted, duplicate=self.tally.duplicate,
                    rejected=self.tally.rejected, left=left))
        if counts["rejected"]:
            print(t("{n} votes were rejected by the server and will not be sent again: see "
                    "'kiosk status'.").format(n=counts["rejected"]), file=sys.stderr)
        if error is not None:
            print(t("Stopped: {error}").format(error=self.explain(error)), file=sys.stderr)
        return EXIT_OK if left == 0 and duty_left == 0 else EXIT_LEFT_OVER


def problem_of(error: BaseException) -> dict:
    """The problem as its message id and values (``kiosk.status.sync_problem_text`` says it
    in the reader's language)."""
    if isinstance(error, SyncError):
        return {"message": error.message,
                "params": {"status": error.status, **{k: str(v) for k, v in
                                                      error.params.items()}}}
    return {"message": MSG_STORAGE if isinstance(error, StorageError) else MSG_UNEXPECTED,
            "params": {"error": str(error)}}


def _bounded(text: object, limit: int = 2000) -> str | None:
    return str(text)[:limit] if text else None


def _systemd_notifier() -> Callable[[str], None]:
    """sdnotify's notifier: sends to $NOTIFY_SOCKET, silently nothing without systemd."""
    try:
        import sdnotify
    except ImportError:  # pragma: no cover - declared dependency
        return lambda _state: None
    return sdnotify.SystemdNotifier().notify


def main(config: KioskConfig, *, once: bool = False, language: str = "vi") -> int:
    """Entry point of ``kiosk sync [--once]`` (kiosk.cli)."""
    from kiosk.journal import log_to_journal

    log_to_journal("kiosk-sync", logging.INFO)  # the console gets translated lines only
    t = translation("kiosk_sync", language).gettext
    if not config.server.url:
        print(t(MSG_NO_URL), file=sys.stderr)
        if once:
            return EXIT_LEFT_OVER
    refusal = config.server.plain_http_refused()
    if refusal is not None:  # the service keeps running (and says so in status, heartbeat)
        print(refusal.translated(t), file=sys.stderr)
        if once:
            return EXIT_LEFT_OVER
    agent = SyncAgent(config, language=language)

    def on_signal(signum, _frame):
        log.info("signal %d: finishing the current request, then stopping", signum)
        agent.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return agent.run_once(show_progress=True) if once else agent.run_forever()
    finally:
        agent.close()


__all__ = ["SyncAgent", "Tally", "TransientError", "backoff_policy", "main"]
