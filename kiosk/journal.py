"""Where the terminal's log records go: the journal, never the technician's console.

A command typed at the console (``kiosk sync --once``, ``kiosk vote``, ``kiosk doctor`` …)
prints translated sentences on stdout/stderr; its log records (English, for the district's
IT support) go to the journal through the syslog socket that journald reads (``/dev/log``),
tagged with the program's name: ``journalctl -t kiosk-sync``. Under systemd (``JOURNAL_STREAM``
set) stderr *is* the journal, so records go there. Where neither exists (a container, a
laptop), they go to a file in the user's state folder, and never to the console.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

SYSLOG_SOCKETS = ("/dev/log", "/run/systemd/journal/dev-log")
FORMAT = "%(levelname)s %(name)s: %(message)s"


def log_to_journal(tag: str, level: int = logging.WARNING) -> logging.Handler:
    """Replace the root logger's handlers by one that writes to the journal."""
    handler = _handler(tag)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.lastResort = None  # a record with no handler must not reach stderr either
    return handler


def _handler(tag: str) -> logging.Handler:
    if os.environ.get("JOURNAL_STREAM"):  # a systemd service: stderr is the journal
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        return handler
    for socket in SYSLOG_SOCKETS:
        if os.path.exists(socket):
            try:
                handler = logging.handlers.SysLogHandler(address=socket)
            except OSError:
                continue
            handler.ident = f"{tag}: "
            handler.setFormatter(logging.Formatter(FORMAT))
            return handler
    return _file_handler(tag)


def log_file(tag: str) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "hailong" / f"{tag}.log"


def _file_handler(tag: str) -> logging.Handler:
    path = log_file(tag)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    except OSError:
        return logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s " + FORMAT))
    return handler
