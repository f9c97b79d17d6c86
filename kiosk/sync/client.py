"""HTTP side of the sync agent: one ``requests`` session, one upload, one heartbeat, and the
classification of everything that can go wrong into two kinds.

- :class:`TransientError`: the network, a timeout, a 5xx, a 429, an answer cut short or not
  understood. Nothing tells us the server refused the votes: retry later, with backoff.
- :class:`PermanentError`: any other 4xx (401 wrong token, 403 token of another terminal, 413
  batch too large, 422…). Sending the same request again gives the same answer: the agent
  stops its pass, says what to fix, and waits the longest backoff before trying again.

The protocol itself (fields, answers, limits) is the server's: docs/sync.md.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from ballot.wire import VOTE_FIELDS
from kiosk import clock
from kiosk.config import MSG_PLAIN_HTTP, ServerSection
from kiosk.vote import Vote, iso

VOTES_PATH = "/api/v1/votes"
HEARTBEAT_PATH = "/api/v1/heartbeat"
HEALTH_PATH = "/healthz"
SETTINGS_PATH = "/api/v1/settings"
PROBE_TIMEOUT_S = 2.0
# How long a Retry-After header may make us wait at most (a broken proxy could say a year).
RETRY_AFTER_CAP_S = 3600.0
USER_AGENT = "hailong-kiosk-sync"


class SyncError(Exception):
    """An upload or heartbeat failed. ``message`` is English (the gettext msgid); ``params``
    fill it in; ``detail`` is for the log."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, detail: str = "",
                 retry_after: float | None = None, **params: object):
        super().__init__(message.format(status=status, **params) + (f" ({detail})" if detail
                                                                     else ""))
        self.message = message
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.params = params

    def explain(self, gettext) -> str:
        """The plain message a technician reads in ``kiosk status`` and the heartbeat."""
        return gettext(self.message).format(status=self.status, **self.params)


class TransientError(SyncError):
    """Try again later (network, timeout, 5xx, 429, garbled answer)."""


class PermanentError(SyncError):
    """The server refused the request itself; the same request would be refused again."""

    retryable = False


# English msgids of the technician's messages (translated in kiosk_sync.po).
MSG_UNREACHABLE = "Cannot reach the server {url}: check the network cable or Wi-Fi, and server.url."
MSG_TLS = ("The server's TLS certificate could not be verified: check server.ca_bundle and "
           "the terminal's clock.")
MSG_TIMEOUT = "The server {url} did not answer within {timeout} s."
MSG_BUSY = "The server is busy (HTTP 429); trying again later."
MSG_SERVER_ERROR = "The server had an internal error (HTTP {status}); trying again later."
MSG_GARBLED = "The server's answer was cut off or not understood; trying again."
MSG_TOKEN = ("The server refused the token (HTTP 401): server.token in kiosk.toml is wrong or "
             "was revoked. Fix: put the token printed by 'district terminals add' (or "
             "'rotate') in kiosk.toml.")
MSG_OTHER_TERMINAL = ("The token belongs to another terminal (HTTP 403): terminal.id and "
                      "server.token in kiosk.toml do not match.")
MSG_TOO_LARGE = ("The server refused the batch as too large (HTTP 413). Fix: lower "
                 "sync.batch_size in kiosk.toml.")
MSG_REFUSED = 'The server refused the request (HTTP {status}); its answer: "{reason}"'
MSG_NO_URL = "No server configured: set server.url and server.token in kiosk.toml."


@dataclass
class BatchAnswer:
    """The server's answer to one upload, reduced to what the store needs."""

    synced: list[str] = field(default_factory=list)       # accepted + duplicate
    rejected: list[tuple[str, str]] = field(default_factory=list)
    accepted: int = 0
    duplicate: int = 0
    server_time: str | None = None


class _TrustAdapter(requests.adapters.HTTPAdapter):
    """HTTPS verified against one SSL context (the district's CA, given as PEM text):
    requests' ``verify`` takes only file paths, and the CA travels inside kiosk.toml."""

    def __init__(self, context: ssl.SSLContext):
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)


def trust(session: requests.Session, *, ca_bundle: str = "", ca_cert: str = ""
          ) -> requests.Session:
    """Make ``session`` verify HTTPS against ``ca_cert`` (PEM text: the district's CA,
    alone) and/or the ``ca_bundle`` file, else the system's CA store."""
    if ca_cert.strip():
        session.mount("https://", _TrustAdapter(tls_context(ca_bundle=ca_bundle,
                                                            ca_cert=ca_cert)))
        session.verify = True
    else:
        session.verify = ca_bundle or True
    return session


def tls_context(*, ca_bundle: str = "", ca_cert: str = "") -> ssl.SSLContext:
    """What the terminal trusts: the district's CA (``ca_cert``) and/or the ``ca_bundle``
    file, else the system's store. (Also the doctor's, to read the certificate's end.)"""
    if ca_cert.strip() or ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle or None,
                                          cadata=ca_cert if ca_cert.strip() else None)
    return ssl.create_default_context()


class ServerClient:
    """The district server as the agent sees it. One session (keep-alive, one TLS handshake);
    every call has a timeout; TLS is verified against ``ca_cert`` / ``ca_bundle`` (else the
    system store); plain http:// to another machine is refused unless allowed."""

    def __init__(self, url: str, token: str, terminal_id: str, *, timeout_s: float,
                 ca_bundle: str = "", ca_cert: str = "", allow_plain_http: bool = False,
                 session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.terminal_id = terminal_id
        self.timeout_s = timeout_s
        self.refusal = ServerSection(url=self.url,
                                     allow_plain_http=allow_plain_http).plain_http_refused()
        self.session = trust(session or requests.Session(), ca_bundle=ca_bundle,
                             ca_cert=ca_cert)
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "User-Agent": USER_AGENT})
        self.session.trust_env = False  # a proxy in the environment must not reroute votes

    @classmethod
    def for_config(cls, server: ServerSection, terminal_id: str) -> ServerClient:
        return cls(server.url, server.token, terminal_id, timeout_s=server.timeout_s,
                   ca_bundle=server.ca_bundle, ca_cert=server.ca_cert,
                   allow_plain_http=server.allow_plain_http)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the two calls ----------------------------------------------------------------

    def upload(self, votes: Sequence[Vote]) -> BatchAnswer:
        """POST one batch; raises SyncError when the votes' fate is unknown or refused."""
        body = {**self._envelope(), "votes": [wire(vote) for vote in votes]}
        data = self._post(VOTES_PATH, body)
        return parse_batch_answer(data, {vote.id for vote in votes})

    def heartbeat(self, report: dict[str, Any]) -> dict:
        return self._post(HEARTBEAT_PATH, {**self._envelope(), **report})

    def probe(self) -> bool:
        """Is the server back? ``GET /healthz`` (no body, no database write on the server);
        True only for its 200. Never raises: the agent calls it while backing off."""
        if not self.url or self.refusal is not None:
            return False
        try:
            response = self.session.get(self.url + HEALTH_PATH,
                                        timeout=min(PROBE_TIMEOUT_S, self.timeout_s))
        except requests.exceptions.RequestException:
            return False
        return response.status_code == 200

    def settings(self, etag: str | None = None) -> dict | None:
        """``GET /api/v1/settings`` (docs/steering.md): the settings this terminal should
        run, None when they still have the tag ``etag`` (304). Raises SyncError."""
        if not self.url:
            raise PermanentError(MSG_NO_URL)
        if self.refusal is not None:
            raise PermanentError(MSG_PLAIN_HTTP, url=self.url)
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        try:
            response = self.session.get(self.url + SETTINGS_PATH, headers=headers,
                                        timeout=self.timeout_s)
        except requests.exceptions.RequestException as exc:
            raise TransientError(MSG_UNREACHABLE, url=self.url, detail=str(exc)) from exc
        return None if response.status_code == 304 else classify(response)

    # -- plumbing ---------------------------------------------------------------------

    def _envelope(self) -> dict[str, Any]:
        return {"terminal_id": self.terminal_id, "sent_at": iso(clock.utc_now()),
                "boot_id": clock.boot_id(), "monotonic_ns": clock.since_boot_ns()}

    def _post(self, path: str, body: dict) -> dict:
        if not self.url:
            raise PermanentError(MSG_NO_URL)
        if self.refusal is not None:
            raise PermanentError(MSG_PLAIN_HTTP, url=self.url)
        try:
            response = self.session.post(self.url + path, json=body, timeout=self.timeout_s)
        except requests.exceptions.SSLError as exc:
            raise TransientError(MSG_TLS, detail=str(exc)) from exc
        except requests.exceptions.Timeout as exc:
            raise TransientError(MSG_TIMEOUT, url=self.url, timeout=self.timeout_s,
                                 detail=str(exc)) from exc
        except requests.exceptions.ConnectionError as exc:
            raise TransientError(MSG_UNREACHABLE, url=self.url, detail=str(exc)) from exc
        except requests.exceptions.RequestException as exc:  # chunked/decoding errors
            raise TransientError(MSG_GARBLED, detail=str(exc)) from exc
        return classify(response)


# The fast path below writes the fields of ballot.wire.Vote by hand; it is used only while the
# kiosk's Vote has exactly those fields (set comparison: the two orders differ).
_WIRE_FAST = {f.name for f in dataclasses.fields(Vote)} == set(VOTE_FIELDS)


def wire(vote: Vote) -> dict[str, Any]:
    """``vote.to_wire()``, without ``dataclasses.asdict``'s deep copy: half the agent's own
    CPU per batch goes there. Falls back to ``to_wire`` if Vote ever gains a field."""
    if not _WIRE_FAST:
        return vote.to_wire()
    return {"id": vote.id, "level": vote.level, "scale": vote.scale, "source": str(vote.source),
            "recorded_at": iso(vote.recorded_at), "clock_synced": vote.clock_synced,
            "boot_id": vote.boot_id, "monotonic_ns": vote.monotonic_ns, "seq": vote.seq,
            "flags": [str(f) for f in vote.flags], "reasons": [str(r) for r in vote.reasons],
            "counter": vote.counter, "officer": vote.officer, "dossier_code": vote.dossier_code}


def classify(response: requests.Response) -> dict:
    """The JSON of a 200 answer, or the SyncError the status calls for."""
    status = response.status_code
    if status == 200:
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientError(MSG_GARBLED, status=status, detail=str(exc)) from exc
        if not isinstance(data, dict):
            raise TransientError(MSG_GARBLED, status=status, detail="not a JSON object")
        return data
    if status == 429:
        raise TransientError(MSG_BUSY, status=status,
                             retry_after=retry_after_s(response.headers.get("Retry-After")))
    if status >= 500 or status < 400:
        raise TransientError(MSG_SERVER_ERROR, status=status, detail=_reason(response),
                             retry_after=retry_after_s(response.headers.get("Retry-After")))
    if status == 401:
        raise PermanentError(MSG_TOKEN, status=status, detail=_reason(response))
    if status == 403:
        raise PermanentError(MSG_OTHER_TERMINAL, status=status, detail=_reason(response))
    if status == 413:
        raise PermanentError(MSG_TOO_LARGE, status=status, detail=_reason(response))
    reason = _reason(response)
    raise PermanentError(MSG_REFUSED, status=status, reason=reason)


def _reason(response: requests.Response) -> str:
    """The server's own sentence (ErrorResponse.message), else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason or ""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"][:500]
    return str(data)[:200]


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def parse_batch_answer(data: dict, sent_ids: set[str]) -> BatchAnswer:
    """Only ids we sent are trusted; a vote the answer does not mention stays unsettled (the
    agent returns it to pending). An answer that mentions none of them is garbled."""
    answer = BatchAnswer(server_time=data.get("server_time"))
    try:
        accepted = [i for i in data["accepted"] if i in sent_ids]
        duplicate = [i for i in data["duplicate"] if i in sent_ids]
        rejected = [(r["id"], str(r.get("error") or "rejected"))
                    for r in data["rejected"] if isinstance(r, dict) and r.get("id") in sent_ids]
    except (KeyError, TypeError) as exc:
        raise TransientError(MSG_GARBLED, status=200, detail=f"unexpected answer: {exc}") from exc
    answer.accepted, answer.duplicate = len(accepted), len(duplicate)
    answer.synced = list(dict.fromkeys(accepted + duplicate))
    done = set(answer.synced)
    answer.rejected = [(vid, err) for vid, err in dict(rejected).items() if vid not in done]
    if sent_ids and not answer.synced and not answer.rejected:
        raise TransientError(MSG_GARBLED, status=200, detail="no vote of the batch in the answer")
    return answer
