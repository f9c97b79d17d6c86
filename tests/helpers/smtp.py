"""A real SMTP receiver on loopback (aiosmtpd), for the tests that mail: alerts, reports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def smtp_receiver() -> Iterator[tuple[object, list]]:
    """Yields (the aiosmtpd controller, its ``port`` the one to send to; the messages
    received so far, a list that grows as mails arrive)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:  # a free port (aiosmtpd cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, received
    finally:
        controller.stop()
