"""What runs in the processes a power cut kills: the real commands' code (``kiosk vote``,
``kiosk sync``, ``district serve``) and the capture path, each in a process of its own.

The processes are forked from a multiprocessing forkserver that imported the kiosk and the
district beforehand (``forkserver()``): a power cut test restarts every writer after every
cut, and a fresh interpreter importing FastAPI and pydantic per restart would make 200 cuts
take minutes. A forked child runs the same functions as the console scripts (``main`` of
``kiosk.cli`` and ``district.cli``); the tests also run the real console scripts for some
of the cuts.

Acknowledgements travel on a pipe (``multiprocessing.Pipe``): a message smaller than the
pipe buffer is written whole or not at all, so a child killed mid-send never sends half an
acknowledgement.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
import time

PRELOAD = ["tests.powercut.workers", "tests.powercut.warm", "kiosk.cli", "kiosk.capture",
           "kiosk.status", "kiosk.sync.agent", "district.cli", "district.app", "uvicorn",
           "fastapi"]
_CONTEXT: multiprocessing.context.BaseContext | None = None


def forkserver() -> multiprocessing.context.BaseContext:
    """The multiprocessing context whose children start with everything imported."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        # "__main__" too: else every child would run the main module (pytest's) again
        _CONTEXT.set_forkserver_preload([*PRELOAD, "__main__"])
    return _CONTEXT


def _quiet(log_path: str) -> None:
    """The child's output into a log file (not the test's captured output)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def weaken_store(synchronous: str | None) -> None:
    """For the proof of the harness only: every vote store this process opens commits with
    ``PRAGMA synchronous = synchronous`` instead of FULL (the regression it must catch)."""
    if not synchronous:
        return
    from kiosk import store

    opened = store.VoteStore.__init__

    def __init__(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")

    store.VoteStore.__init__ = __init__


def capture_writer(config_path: str, acks, log_path: str, synchronous: str | None) -> None:
    """Votes through the capture path in a loop, as the buttons make them; each stored vote's
    ``(id, seq)`` is sent once ``process`` returned it (the moment the LED would light)."""
    _quiet(log_path)
    weaken_store(synchronous)
    from kiosk.capture import Capture
    from kiosk.config import load
    from kiosk.rules import ButtonEvent, Edge
    from kiosk.status import open_store
    from kiosk.vote import Source

    config = load(config_path, environ={})
    capture = Capture(config, lambda: open_store(config))
    level = 0
    while True:
        level = level % config.scale.levels + 1
        vote = capture.process(ButtonEvent(level, Edge.CLICK, Source.GPIO, time.monotonic_ns()))
        if vote is not None:
            acks.send((vote.id, vote.seq))
        # A citizen's pace, only faster: a writer committing back to back would keep the
        # sync agent and `kiosk vote` waiting for the lock (SQLite's busy wait is not fair).
        time.sleep(0.003)


def kiosk_vote(config_path: str, level: int, acks, log_path: str,
               synchronous: str | None) -> None:
    """``kiosk vote LEVEL``: the printed id is acknowledged when the command exits 0."""
    _quiet(log_path)
    weaken_store(synchronous)
    from kiosk.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", config_path, "--lang", "en", "vote", str(level)])
    if code == 0:
        acks.send((out.getvalue().strip(), None))
    sys.exit(code)


def kiosk_sync(config_path: str, log_path: str, synchronous: str | None) -> None:
    """``kiosk sync``: the agent, claiming, uploading and settling until killed."""
    _quiet(log_path)
    weaken_store(synchronous)
    from kiosk.cli import main

    sys.exit(main(["--config", config_path, "--lang", "en", "sync"]))


def weaken_district(synchronous: str | None) -> None:
    """For the proof of the harness only: the server's SQLite commits with
    ``PRAGMA synchronous = synchronous`` (set after district.db's own FULL)."""
    if not synchronous:
        return
    from sqlalchemy import event

    from district import db

    configure = db._configure_sqlite

    def _configure_sqlite(engine):
        configure(engine)
        event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.execute(
            f"PRAGMA synchronous = {synchronous}"))

    db._configure_sqlite = _configure_sqlite


def district_serve(db_url: str, port: int, log_path: str, synchronous: str | None = None) -> None:
    """``district --db URL serve`` on 127.0.0.1:PORT."""
    _quiet(log_path)
    weaken_district(synchronous)
    for name in [n for n in os.environ if n.startswith(("DISTRICT_", "KIOSK_"))]:
        del os.environ[name]
    from district.cli import main

    sys.exit(main(["--db", db_url, "--lang", "en", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]))
