"""A server that holds against hostile clients (issue 14, item 1), each attack by a real
client on loopback against a real ``district serve``, plain HTTP and HTTPS: while it runs,
another client's requests are answered. No timings are asserted: what is proven is that the
attacker is refused or cut off and the others served."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.trust.conftest import answer_of, raw

HEAD = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"


def other_client_answered(url: str, verify=True) -> None:
    """A well-behaved client (a new connection each time) gets its answer."""
    for _ in range(3):
        answer = httpx.get(url + "/healthz", verify=verify, timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"


@pytest.fixture(params=["http", "https"])
def target(request, server_on):
    """(url, port, CA file or None, verify) of a server with the small limits."""
    if request.param == "http":
        server = server_on()
        return server.url, server.port, None, True
    district = request.getfixturevalue("https")
    return district.url, district.port, district.ca, str(district.ca)


def test_a_huge_header_is_refused_with_431_and_others_are_answered(target):
    url, port, ca, verify = target
    sock = raw(port, ca)
    sent = 0
    try:
        # 64 MiB of one header, as an attacker would: the server answers long before
        while sent < 64 * 1024 * 1024:
            sock.sendall(HEAD if sent == 0 else b"")
            sock.sendall(b"X-Big: " if sent == 0 else b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass  # the server closed the connection while we were still sending
    answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    other_client_answered(url, verify)


def test_too_many_header_fields_are_refused(target):
    url, port, ca, verify = target
    sock = raw(port, ca)
    sock.sendall(HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n")
    assert answer_of(sock).startswith(b"HTTP/1.1 431 ")
    fine = raw(port, ca)  # 90 fields are fine
    fine.sendall(HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(90))
                 + b"Connection: close\r\n\r\n")
    assert answer_of(fine).startswith(b"HTTP/1.1 200 ")
    other_client_answered(url, verify)


def test_a_half_sent_head_is_answered_408_and_closed(target):
    url, port, ca, verify = target
    sock = raw(port, ca)
    sock.sendall(HEAD)  # and never the blank line
    assert answer_of(sock).startswith(b"HTTP/1.1 408 ")
    other_client_answered(url, verify)


def test_a_body_that_never_arrives_is_cut_off(target):
    url, port, ca, verify = target
    sock = raw(port, ca)
    sock.sendall(b"POST /api/v1/votes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x"
                 b"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"a\"")
    answer_of(sock)  # returns: the server closed it (else the test times out)
    other_client_answered(url, verify)


def test_slow_loris_beyond_the_connection_limit_cannot_shut_others_out(target):
    """Five times the connection limit (40 in these tests) of clients that send a head one
    byte at a time: the quick client is still answered, every time, and the slow ones are
    closed (the oldest to make room, the others at their head timeout)."""
    url, port, ca, verify = target
    slow = []
    for _ in range(200):
        sock = raw(port, ca)
        sock.sendall(b"G")
        slow.append(sock)
    other_client_answered(url, verify)
    for sock in slow[:20]:
        sock.sendall(b"E")
    other_client_answered(url, verify)
    for sock in slow:
        answer_of(sock)  # each is closed by the server (else the test times out)


def test_idle_connections_beyond_the_limit_make_room_for_a_new_one(target):
    url, port, ca, verify = target
    idle = [raw(port, ca) for _ in range(60)]  # more than the limit, saying nothing
    other_client_answered(url, verify)
    closed = []
    threads = [threading.Thread(target=lambda s=s: closed.append(answer_of(s)))
               for s in idle]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(closed) == 60  # every one was closed by the server


def test_silent_tls_clients_are_dropped_at_the_handshake_timeout(https):
    """Plain TCP connections to the HTTPS port that never say hello: each is closed by the
    server (the handshake timeout), and a real TLS client is served meanwhile."""
    silent = [raw(https.port) for _ in range(100)]
    other_client_answered(https.url, str(https.ca))
    for sock in silent:
        answer_of(sock)
