"""What keeps one client from freezing the server for the others (docs/server.md, "Limits").

Below the app, in uvicorn (``district serve`` passes these):

- **a bounded request head**: request line and header fields together at most
  ``MAX_HEAD_BYTES``, at most ``MAX_HEADERS`` fields; beyond, 431 and the connection closes
  (uvicorn's httptools parser has no limit of its own: a 120 MB header cost 16.7 s of CPU);
- **head and body timeouts** (slow-loris): the head must arrive within ``HEAD_TIMEOUT_S`` of
  the connection (or of the previous answer), the body within ``BODY_TIMEOUT_S`` of the head;
- **a connection limit below the file-descriptor limit**: when a process holds
  ``connection_limit()`` connections, a new one closes the connection that has waited longest
  for its client (a half-sent head or body, an idle keep-alive), so a crowd of slow clients
  cannot shut out a quick one; the TLS handshake must end within ``TLS_HANDSHAKE_TIMEOUT_S``.

In the app: request-rate limits (``limits``) for sign-in (per account and address, per
address; a moving window, so a lockout ends by itself) and for the ingest API per terminal
token. With ``district serve --workers N`` (``prepare_processes``) the sign-in counts are
kept in one SQLite file all the workers share (``SharedWindows``: a guesser gets the same
tries whichever worker answers), and the ingest limit, kept in each worker's memory (its
hot path stays free of file locks), is divided by N. Every value can be changed through the
environment (``/etc/district/district.env``): the names are beside them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import resource
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httptools
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, value, default)
        return default


MAX_HEAD_BYTES = int(_env_number("DISTRICT_MAX_HEAD_BYTES", 32 * 1024))
MAX_HEADERS = int(_env_number("DISTRICT_MAX_HEADERS", 100))
HEAD_TIMEOUT_S = _env_number("DISTRICT_HEAD_TIMEOUT_S", 10)
BODY_TIMEOUT_S = _env_number("DISTRICT_BODY_TIMEOUT_S", 60)
TLS_HANDSHAKE_TIMEOUT_S = _env_number("DISTRICT_TLS_HANDSHAKE_TIMEOUT_S", 10)
KEEP_ALIVE_S = 5  # uvicorn's idle time between two requests of a connection
CLOSE_GRACE_S = 1.0  # after a refusal, time for the answer to leave before the cut
MAX_CONNECTIONS = int(_env_number("DISTRICT_MAX_CONNECTIONS", 4096))
# Descriptors kept for what is not a client: the database, logs, the TLS files, PostgreSQL.
FD_RESERVE = 128


def connection_limit(asked: int | None = None) -> int:
    """Connections one process holds at most: ``DISTRICT_MAX_CONNECTIONS`` (4096), and always
    ``FD_RESERVE`` below the process's file-descriptor limit (``LimitNOFILE`` in
    district.service), so accepting never fails for want of a descriptor."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = asked or MAX_CONNECTIONS
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft - FD_RESERVE)
    return max(limit, 16)


def uvicorn_options() -> dict:
    """The keyword arguments of ``uvicorn.run`` that bound what a client may hold."""
    limit = connection_limit()
    return {
        "http": GuardedHttpToolsProtocol,
        "loop": "district.limits:new_event_loop",
        "ws": "none",  # no WebSocket routes: an upgrade is refused, not handed on
        "timeout_keep_alive": KEEP_ALIVE_S,
        # uvicorn's own ceiling (503 beyond), a backstop well above ours: it counts closing
        # connections too
        "limit_concurrency": 2 * limit,
        # the head bound of uvicorn's pure-Python parser, were httptools ever missing
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }


# --- the guarded HTTP protocol -----------------------------------------------------------

class HeadRefused(Exception):
    """Raised from a parser callback: answer ``status`` and close."""


# Connections waiting for their client (connected, between requests, or sending a head or
# body), oldest first: the ones to close when the process is at its connection limit. One
# uvicorn server per process, so one module-level table.
_waiting: dict[GuardedHttpToolsProtocol, None] = {}
_closing: set[GuardedHttpToolsProtocol] = set()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head, head/body timeouts and the
    connection limit (see the module's docstring)."""

    limit = 0  # set on first use (connection_limit())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._heads_ended = False
        self._deadline: asyncio.TimerHandle | None = None

    # -- connections --
    def connection_made(self, transport) -> None:
        cls = type(self)
        if not cls.limit:
            cls.limit = connection_limit()
        super().connection_made(transport)
        if len(self.connections) - len(_closing) > cls.limit and not self._evict_one():
            self._refuse(503, "the server has too many connections; try again")
            return
        self._wait_for_client(HEAD_TIMEOUT_S)

    def connection_lost(self, exc) -> None:
        self._disarm()
        _waiting.pop(self, None)
        _closing.discard(self)
        super().connection_lost(exc)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for its client (not this one)."""
        for victim in _waiting:
            if victim is not self:
                del _waiting[victim]
                _closing.add(victim)
                victim._disarm()
                victim.transport.abort()  # at once: no TLS goodbye for an evicted client
                return True
        return False

    def _wait_for_client(self, seconds: float) -> None:
        _waiting.pop(self, None)
        _waiting[self] = None  # (again at the end: waiting since now)
        self._arm(seconds)

    def _client_done(self) -> None:
        _waiting.pop(self, None)
        self._disarm()

    # -- timers --
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head and (self.cycle is None or self.cycle.response_complete):
            self._refuse(408, "the request took too long to arrive")
        else:  # a body too slow: the app sees the client disconnect
            self._close()

    # -- parsing --
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._heads_ended = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadRefused):
                self._refuse(*exc.__context__.args)
            else:
                self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        # Counted after parsing, only while a head is still incomplete and none ended in
        # this chunk (it may carry a whole request and its body): at most one chunk more
        # than the bound is ever held.
        if self._in_head and not self._heads_ended and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, f"the request head is over {MAX_HEAD_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            raise HeadRefused(431, f"over {MAX_HEADERS} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._heads_ended = False, True
        self._head_bytes = self._header_count = 0
        self._wait_for_client(BODY_TIMEOUT_S)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what comes next is the next request's head
        self._heads_ended = True  # (this chunk's bytes were a body's: not counted)
        self._client_done()  # the app works now: its time is not the client's
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_head and not self.transport.is_closing():
            self._wait_for_client(HEAD_TIMEOUT_S)

    # -- answers --
    def _bad_request(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse(self, status: int, message: str) -> None:
        """A plain answer written straight away (no request reached the app), then close."""
        self._client_done()
        _log_refusal(_address(self.client), status, message)
        reasons = {408: "Request Timeout", 431: "Request Header Fields Too Large",
                   503: "Service Unavailable"}
        body = message.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self._close()

    def _close(self) -> None:
        """Close after what was written is sent; a TLS client that does not answer the
        goodbye (a slow-loris) is cut off a second later instead of holding its descriptor
        for the whole TLS shutdown timeout (30 s)."""
        self.transport.close()
        self.loop.call_later(CLOSE_GRACE_S, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if self in self.connections:
            self.transport.abort()


def _address(client) -> str:
    return client[0] if client else "?"


_refusals = {"since": 0.0, "count": 0}
LOG_EVERY_S = 10.0


def _log_refusal(address: str, status: int, message: str) -> None:
    """One line per LOG_EVERY_S at most, with the count: an attack must not flood the
    journal."""
    now = time.monotonic()
    _refusals["count"] += 1
    if now - _refusals["since"] >= LOG_EVERY_S:
        log.warning("refused %d connection(s) in %.0f s; the last from %s: %s %s",
                    _refusals["count"], min(now - _refusals["since"], LOG_EVERY_S), address,
                    status, message)
        _refusals.update(since=now, count=0)


# --- the event loop: a bounded TLS handshake ------------------------------------------------

def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's ``loop`` (``module:function``, called for each new loop): its usual loop
    (uvloop, else asyncio) whose servers end a TLS handshake that takes longer than
    TLS_HANDSHAKE_TIMEOUT_S (asyncio's default is 60 s, during which a silent client holds a
    descriptor)."""
    return _guarded_loop_class()()


@functools.cache
def _guarded_loop_class() -> type:
    try:
        import uvloop

        base = uvloop.Loop
    except ImportError:  # pragma: no cover (uvloop is in the [server] extra)
        base = asyncio.SelectorEventLoop

    class GuardedLoop(base):
        async def create_server(self, *args, **kwargs):
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", TLS_HANDSHAKE_TIMEOUT_S)
            return await super().create_server(*args, **kwargs)

    return GuardedLoop


# --- request-rate limits (limits) ------------------------------------------------------------

WORKERS_ENV = "DISTRICT_WORKERS"
SHARED_FILE_ENV = "DISTRICT_LIMITS_FILE"


def prepare_processes(workers: int) -> None:
    """Before uvicorn starts its worker processes: how many there are, and with more than
    one a fresh file for the counts they share (a restart starts them afresh, as one
    process's memory would)."""
    os.environ[WORKERS_ENV] = str(max(1, workers))
    if workers > 1:
        folder = tempfile.mkdtemp(prefix="district-limits-")
        os.environ[SHARED_FILE_ENV] = str(Path(folder) / "limits.db")
    else:
        os.environ.pop(SHARED_FILE_ENV, None)


def workers() -> int:
    return max(1, int(_env_number(WORKERS_ENV, 1)))


class SharedWindows(Storage, MovingWindowSupport):
    """The moving windows of ``limits`` in a SQLite file the workers of one ``district
    serve`` share: each hit is a row (key, time), counted and added in one ``BEGIN
    IMMEDIATE`` transaction, so two workers never both take the last try. The counts are
    worth nothing after a crash (``synchronous=OFF``): they only slow a guesser down."""

    STORAGE_SCHEME = ["hailong-shared"]

    def __init__(self, path: str, **_options):
        super().__init__()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)")

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM hits WHERE key = ? AND at < ?", (key, now - expiry))
                (count,) = self._db.execute("SELECT count(*) FROM hits WHERE key = ?",
                                            (key,)).fetchone()
                if count + amount > limit:
                    return False
                self._db.executemany("INSERT INTO hits VALUES (?, ?)", [(key, now)] * amount)
                return True
            finally:
                self._db.execute("COMMIT")

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._lock:
            oldest, count = self._db.execute(
                "SELECT min(at), count(*) FROM hits WHERE key = ? AND at >= ?",
                (key, now - expiry)).fetchone()
        return (oldest, count) if count else (now, 0)

    def clear(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM hits WHERE key = ?", (key,))

    def reset(self) -> int | None:
        with self._lock:
            return self._db.execute("DELETE FROM hits").rowcount

    def check(self) -> bool:
        return True

    # The fixed-window methods, which the moving window does not use.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        self.acquire_entry(key, 1 << 30, expiry, amount)
        return self.get_moving_window(key, 1 << 30, expiry)[1]

    def get(self, key: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM hits WHERE key = ?",
                                    (key,)).fetchone()[0]

    def get_expiry(self, key: str) -> float:
        with self._lock:
            (newest,) = self._db.execute("SELECT max(at) FROM hits WHERE key = ?",
                                         (key,)).fetchone()
        return newest or time.time()


def signin_storage() -> Storage:
    """Shared by the workers when there are several (``prepare_processes``), else in
    memory."""
    path = os.environ.get(SHARED_FILE_ENV)
    return SharedWindows(path) if path else MemoryStorage()


@dataclass(frozen=True)
class Refusal:
    """A limit was reached: how long until the next try is allowed."""

    retry_after_s: int


class SigninLimits:
    """Failed sign-ins counted in moving windows; a limit reached refuses further tries
    (before the password is checked, so a guesser costs no argon2) until the window has
    moved on. Three counts:

    - per account and address (``DISTRICT_SIGNIN_PER_ACCOUNT``, 5 per 15 minutes): a
      guesser is stopped without touching the official's own browser elsewhere;
    - per address, any account (``DISTRICT_SIGNIN_PER_ADDRESS``, 20 per 15 minutes);
    - per account from every address (``DISTRICT_SIGNIN_ACCOUNT_ANYWHERE``, 50 per hour),
      which a browser this account has signed in from before (``known``: a signed cookie)
      does not count: many guessers cannot lock an official out of their own browser.

    A successful sign-in clears its account-and-address count.
    """

    def __init__(self):
        self.window = MovingWindowRateLimiter(signin_storage())
        self.pair = _limit("DISTRICT_SIGNIN_PER_ACCOUNT", "5/15minutes")
        self.address = _limit("DISTRICT_SIGNIN_PER_ADDRESS", "20/15minutes")
        self.anywhere = _limit("DISTRICT_SIGNIN_ACCOUNT_ANYWHERE", "50/hour")
        self.refusal_records = parse("1/minute")

    def _checks(self, account: str, address: str, known: bool):
        account = account.lower()
        yield self.pair, ("pair", account, address)
        yield self.address, ("address", address)
        if not known:
            yield self.anywhere, ("account", account)

    def refusal(self, account: str, address: str, known: bool) -> Refusal | None:
        """None when this try may go ahead."""
        for limit, keys in self._checks(account, address, known):
            if not self.window.test(limit, *keys):
                reset = self.window.get_window_stats(limit, *keys).reset_time
                return Refusal(max(1, int(reset - _now()) + 1))
        return None

    def failed(self, account: str, address: str, known: bool) -> None:
        for limit, keys in self._checks(account, address, known):
            self.window.hit(limit, *keys)

    def succeeded(self, account: str, address: str) -> None:
        self.window.clear(self.pair, "pair", account.lower(), address)

    def should_record_refusal(self, address: str) -> bool:
        """Refused tries go to the audit log once a minute per address: a guesser who
        keeps trying must not fill the database."""
        return self.window.hit(self.refusal_records, "refused", address)


class IngestLimits:
    """Requests per terminal token on the ingest API (``DISTRICT_INGEST_PER_TERMINAL``, 20
    a second: a sync agent catching up sends one batch after another, each up to 1000
    votes). Beyond: 429 with Retry-After, which the sync agent waits (kiosk/sync/client.py).
    A request without a token costs no database work (401 at once) and is not counted.
    Counted in each worker's memory (no lock on the ingest's hot path), the whole rate in
    each: a sync agent keeps one connection, which one worker serves, so dividing the rate
    by N workers would slow every honest terminal N times; a client spreading its requests
    over new connections gets at most N times the rate, still a bound."""

    def __init__(self):
        self.window = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.per_terminal = _limit("DISTRICT_INGEST_PER_TERMINAL", "20/second")

    def refusal(self, token: str) -> Refusal | None:
        # keyed by a hash: tokens are not kept in memory as they are
        key = hashlib.sha256(token.encode(errors="replace")).hexdigest()[:32]
        if self.window.hit(self.per_terminal, key):
            return None
        reset = self.window.get_window_stats(self.per_terminal, key).reset_time
        return Refusal(max(1, int(reset - _now()) + 1))


def _limit(env: str, default: str) -> RateLimitItem:
    text = os.environ.get(env) or default
    try:
        return parse(text)
    except ValueError:
        log.warning("%s=%r is not a rate like 5/15minutes; using %s", env, text, default)
        return parse(default)


def _now() -> float:
    return time.time()
