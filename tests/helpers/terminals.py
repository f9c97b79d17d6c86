"""The district's own CLI as the tests run it, and the terminal token it prints."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.env import clean_env
from tests.helpers.services import BIN


def district(db_url: str | None, *args: str, env: dict[str, str] | None = None,
             cwd: Path | None = None, lang: str = "en") -> subprocess.CompletedProcess:
    """``district [--db URL] --lang LANG ARGS…`` (no ``--db`` when ``env`` carries
    ``DISTRICT_DB``); its output as text, never raising on a failure."""
    db = ["--db", db_url] if db_url else []
    return subprocess.run([str(BIN / "district"), *db, "--lang", lang, *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=env if env is not None else clean_env(), cwd=cwd)


def printed_token(stdout: str) -> str:
    """The token ``district terminals add|rotate`` (and ``officials token``) prints: the last
    line of its output, so a script can take it with ``tail -n1``."""
    return stdout.strip().splitlines()[-1]


def add_terminal(db_url: str | None, terminal_id: str, unit: str, *,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Registers ``terminal_id`` in ``unit`` with ``district terminals add``; its token."""
    done = district(db_url, "terminals", "add", terminal_id, "--unit", unit, env=env, cwd=cwd)
    assert done.returncode == 0, f"district terminals add {terminal_id}: {done.stderr}"
    return printed_token(done.stdout)


def terminal_at_old_revision(engine, terminal_id: str, unit_id: str) -> None:
    """A terminal row in a database migrated to an old revision, where today's
    ``register_terminal`` cannot run (it writes the audit log, d0006). The columns are
    those of the first schema; the unit must exist (``load_units``)."""
    import datetime as dt
    import hashlib

    import sqlalchemy as sa

    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO terminals (id, unit_id, name, token_hash, created_at, token_issued_at)"
            " VALUES (:id, :unit, '', :hash, :now, :now)"),
            {"id": terminal_id, "unit": unit_id, "now": now,
             "hash": hashlib.sha256(terminal_id.encode()).hexdigest()})  # unique, unused
