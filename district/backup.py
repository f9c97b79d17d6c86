"""``district backup`` and ``district restore`` (docs/server.md, "Backups").

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database in one
step, inside one read transaction: in WAL mode the server keeps writing meanwhile (a copy in
several steps would start again at every write of another connection), and the copy is of
one moment. It goes into a temporary file that is checked (``PRAGMA integrity_check``), fsynced and
renamed: a backup file either is whole or is not there. PostgreSQL: ``pg_dump --format=custom``
(one consistent snapshot, while serving). Either way the file is named by its time
(``district-20261202T030000Z.db`` / ``.pgdump``) in the backup folder (``--to``, default
``backups`` beside the SQLite database), and only the newest ``--keep`` (14) stay.

``district restore FILE``: into the configured database, which must be new (no votes) unless
``--replace`` is given; stop the service first. SQLite through the same backup API, then the
migrations; PostgreSQL with ``pg_restore --clean --if-exists --no-owner``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from district import config
from district.db import normalize_url, open_engine, shown_url, votes
from district.errors import N_, DistrictError

DEFAULT_KEEP = 14
NAME = re.compile(r"district-(\d{8}T\d{6}Z)(?:-(\d+))?\.(db|pgdump)$")


def default_folder(db_url: str) -> Path:
    """``backups`` beside a SQLite database, else in the data folder."""
    if not _is_postgres(db_url):
        return _sqlite_path(db_url).parent / "backups"
    return config.data_dir() / "backups"


def backup(db_url: str, folder: Path, keep: int = DEFAULT_KEEP,
           now: dt.datetime | None = None) -> Path:
    """One backup of the database into ``folder``; older ones beyond ``keep`` removed."""
    if keep < 1:
        raise DistrictError(N_("--keep must be at least 1"))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    kind = "pgdump" if _is_postgres(db_url) else "db"
    target = _free_name(folder, stamp, kind)
    partial = target.with_name(target.name + ".partial")
    try:
        if kind == "pgdump":
            _pg_dump(db_url, partial)
        else:
            _sqlite_backup(_sqlite_path(db_url), partial)
        _fsync(partial)
        partial.rename(target)
        _fsync(folder)
    finally:
        partial.unlink(missing_ok=True)
    rotate(folder, keep)
    return target


def _free_name(folder: Path, stamp: str, kind: str) -> Path:
    target, n = folder / f"district-{stamp}.{kind}", 1
    while target.exists():  # two backups in one second
        target, n = folder / f"district-{stamp}-{n}.{kind}", n + 1
    return target


def backups_in(folder: Path) -> list[Path]:
    """The backup files of the folder, oldest first (by the time in their names)."""
    found = [p for p in folder.iterdir() if NAME.fullmatch(p.name)] if folder.is_dir() else []
    return sorted(found, key=_taken)


def _taken(path: Path) -> tuple[str, int]:
    """When a backup was taken, from its name (``-N``: the N+1st in that second)."""
    match = NAME.fullmatch(path.name)
    return match.group(1), int(match.group(2) or 0)


def rotate(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` backups; returns what was removed."""
    old = backups_in(folder)[:-keep]
    for path in old:
        path.unlink()
    return old


def _is_postgres(url: str) -> bool:
    return normalize_url(url).startswith("postgresql")


def _sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise DistrictError(N_("the database {url} is not a file: nothing to back up"),
                            url=url)
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise DistrictError(N_("the database {path} does not exist"), path=source)
    src = sqlite3.connect(source, timeout=10)  # (read-only would need the -shm file's rights)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # the copy leaves WAL mode for a plain file (one file to keep); checked before kept
        dst.execute("PRAGMA journal_mode=DELETE")
        verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise DistrictError(N_("the backup {path} failed its integrity check: {error}"),
                                path=target, error=verdict)
    finally:
        dst.close()
        src.close()


def _libpq_url(url: str) -> str:
    """The URL as libpq (pg_dump, pg_restore) reads it: without SQLAlchemy's driver."""
    return sa.engine.make_url(normalize_url(url)).set(drivername="postgresql") \
        .render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise DistrictError(N_("{tool} is not installed. Fix: apt install postgresql-client"),
                            tool=name)
    return tool


def _pg_dump(url: str, target: Path) -> None:
    _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target),
          "--dbname", _libpq_url(url)], url)


def _run(cmd: list[str], url: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DistrictError(N_("{tool} failed on {url}: {error}"), tool=Path(cmd[0]).name,
                            url=shown_url(url),
                            error=(done.stderr.strip().splitlines() or ["?"])[-1])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore ------------------------------------------------------------------------------

def restore(db_url: str, source: Path, replace: bool = False) -> int:
    """Restore ``source`` (a file of ``district backup``) into the database at ``db_url``;
    returns the number of votes it holds."""
    if not source.is_file():
        raise DistrictError(N_("no backup file {path}"), path=source)
    is_dump = source.suffix == ".pgdump"
    if is_dump != _is_postgres(db_url):
        raise DistrictError(N_("{path} is a backup of {kind}, the database {url} is not. "
                               "Fix: restore a .db file into SQLite, a .pgdump into "
                               "PostgreSQL"), path=source,
                            kind="PostgreSQL" if is_dump else "SQLite", url=shown_url(db_url))
    if not replace and _holds_votes(db_url):
        raise DistrictError(N_("the database {url} already holds votes. Fix: restore into a "
                               "new database, or give --replace (stop the service first)"),
                            url=shown_url(db_url))
    if is_dump:
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
              "--single-transaction", "--dbname", _libpq_url(db_url), str(source)], db_url)
    else:
        _sqlite_restore(source, _sqlite_path(db_url))
    engine = open_engine(db_url)  # a backup of an older server: migrated now
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar_one()
    finally:
        engine.dispose()


def _holds_votes(db_url: str) -> bool:
    if not _is_postgres(db_url) and not _sqlite_path(db_url).exists():
        return False
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("votes"):
                return False
            return conn.execute(sa.select(votes.c.pk).limit(1)).first() is not None
    finally:
        engine.dispose()


def _sqlite_restore(source: Path, target: Path) -> None:
    check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise DistrictError(N_("{path} is not a SQLite database: {error}"), path=source,
                            error=str(exc)) from None
    finally:
        check.close()
    if verdict != "ok":
        raise DistrictError(N_("the backup {path} failed its integrity check: {error}"),
                            path=source, error=verdict)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=10)
    try:
        src.backup(dst)  # replaces every page of the target, in one transaction
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()


# --- command line -------------------------------------------------------------------------

def add_cli(sub, _) -> dict:
    back = sub.add_parser("backup", help=_("back up the database now (while serving)"))
    back.add_argument("--to", metavar="DIR", help=_(
        "the backup folder (default: backups beside the SQLite database, else in the data "
        "folder)"))
    back.add_argument("--keep", type=int, default=DEFAULT_KEEP, help=_(
        "how many backups to keep, the newest (default 14)"))
    rest = sub.add_parser("restore", help=_("restore a backup into the database"))
    rest.add_argument("backup_file", metavar="FILE")
    rest.add_argument("--replace", action="store_true", help=_(
        "replace a database that holds votes (stop the service first)"))
    return {"backup": cmd_backup, "restore": cmd_restore}


def cmd_backup(args, db_url: str, _) -> int:
    folder = Path(args.to) if args.to else default_folder(db_url)
    path = backup(db_url, folder, args.keep)
    print(_("backup written: {path}").format(path=path))
    return 0


def cmd_restore(args, db_url: str, _) -> int:
    count = restore(db_url, Path(args.backup_file), args.replace)
    print(_("restored {path} into {url}: {n} votes").format(
        path=args.backup_file, url=shown_url(db_url), n=count))
    sys.stdout.flush()
    return 0
