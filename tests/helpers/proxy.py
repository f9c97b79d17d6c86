"""A real TCP proxy between the sync agent and the district server, for fault injection.

It listens on 127.0.0.1 and forwards HTTP/1.1 requests one by one: it reads a whole request
(headers and Content-Length body), forces ``Connection: close`` so that one connection carries
one request, then does what the next scheduled fault says:

=================  ==========================================================================
``pass``           forward the request, return the server's answer
``delay``          like pass, after ``delay_s`` (to catch the agent mid-upload)
``reset``          read part of the request, then reset the connection (SO_LINGER 0 → RST)
``drop_response``  forward the request, read the server's whole answer (the server has
                   committed), then reset the client's connection instead of answering
``hang``           read the request and answer nothing for ``hang_s`` (agent's timeout)
``500`` / ``429``  answer itself with a canned 500, or a 429 with ``Retry-After: 1``
=================  ==========================================================================

``down()`` closes the listening socket (connection refused), ``up()`` opens it again on the
same port. Faults are scheduled with ``fail_next([...])`` and applied to the next requests in
order; afterwards ``default`` applies (``pass``). ``hits`` counts what was done.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
import time

MODES = ("pass", "delay", "reset", "drop_response", "hang", "500", "429")


def _canned(status: str, extra: str = "") -> bytes:
    code = status.split()[0]
    body = json.dumps({"error": f"http_{code}", "message": "injected by the test proxy"}).encode()
    return (f"HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


CANNED = {
    "500": _canned("500 Internal Server Error"),
    "429": _canned("429 Too Many Requests", "Retry-After: 1\r\n"),
}


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                 port: int = 0, hang_s: float = 3.0, delay_s: float = 0.05):
        self.upstream = (upstream_host, upstream_port)
        self.hang_s = hang_s
        self.delay_s = delay_s
        self.default = "pass"
        self.hits: collections.Counter[str] = collections.Counter()
        self.paths: collections.Counter[str] = collections.Counter()
        self.active = 0  # requests being forwarded right now (between agent and server)
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._closing = threading.Event()
        self.port = port
        self.up()

    # -- control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, modes: list[str]) -> None:
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"unknown proxy mode {mode!r}")
        with self._lock:
            self._queue.extend(modes)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._queue)

    def up(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Close the listening socket: new connections are refused by the kernel."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def close(self) -> None:
        self._closing.set()
        self.down()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down() or close()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _next_mode(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(30)
            head, start = _read_head(client)
            if head is None:
                client.close()
                return
            mode = self._next_mode()
            self.hits[mode] += 1
            self.paths[head.split(b" ", 2)[1].decode("latin-1")] += 1
            if mode == "reset":
                _reset(client)  # mid-request: the rest of the body is never read
                return
            body = _read_body(client, head, start)
            if mode in CANNED:
                client.sendall(CANNED[mode])
                client.close()
            elif mode == "hang":
                self._closing.wait(self.hang_s)
                client.close()
            else:
                answer = self._forward(head, body, delay=mode == "delay")
                if mode == "drop_response" or answer is None:
                    _reset(client)
                else:
                    client.sendall(answer)
                    client.close()
        except OSError:
            client.close()

    def _forward(self, head: bytes, body: bytes, *, delay: bool = False) -> bytes | None:
        with self._lock:
            self.active += 1
        try:
            if delay:  # counted as active: the agent is waiting on this upload
                time.sleep(self.delay_s)
            with socket.create_connection(self.upstream, timeout=30) as upstream:
                upstream.sendall(_close_after(head) + body)
                chunks = []
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                return b"".join(chunks) or None
        except OSError:
            return None
        finally:
            with self._lock:
                self.active -= 1


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (up to the blank line) and whatever part of the body came with it."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _read_body(sock: socket.socket, head: bytes, body: bytes) -> bytes:
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    return body


def _close_after(head: bytes) -> bytes:
    lines = [line for line in head.rstrip(b"\r\n").split(b"\r\n")
             if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()
