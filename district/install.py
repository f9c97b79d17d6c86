"""``district setup [--host NAME]… [--listen ADDR:PORT] [--official NAME] [--renew]``: the
district server's set-up, non-interactive, safe to run again (the Debian package's postinst
runs it; so may an administrator, any number of times).

What it makes, beside the configuration file (``--config``, ``$DISTRICT_CONFIG``, else
``/etc/district/district.toml``; district/pki.py says how each is made):

- ``ca.pem`` / ``ca.key``: the district's own certificate authority (kept once made);
- ``server.pem`` / ``server.key``: the server certificate for every ``--host`` name and IP
  address, ``localhost``, ``127.0.0.1`` and the listen address. Issued again only when it is
  missing, does not cover the names asked for, is not the CA's, is within 30 days of its end,
  or ``--renew`` is given, always by the same CA (terminals keep verifying);
- ``release.key`` / ``release.pub``: the Ed25519 key that will sign software releases;
- ``badge.key`` / ``badge.pub``: the Ed25519 key that signs officers' badges
  (district/badges.py; its public half goes into every provisioned kiosk.toml);
- ``district.toml`` itself, then the database migrated (``[database] url``: ``--db``,
  ``$DISTRICT_DB``, the file's, else ``district.db`` in the data folder, /var/lib/district
  for root), and with ``--official NAME`` a first district official (password printed once).

A second run with the same options changes no byte of any file and says "nothing to change".
Run as root, the server's key, the configuration and the SQLite database are given to the
service's user (``--service-user``, default ``district``, when it exists); the CA's and the
release key stay root's alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from district import config, pki
from district.errors import N_, DistrictError

CONFIG_MODE = 0o640   # may hold a PostgreSQL password; readable by the service's group
FILES = {"ca_cert": "ca.pem", "ca_key": "ca.key", "cert": "server.pem", "key": "server.key",
         "release": "release.key", "release_pub": "release.pub"}
AUTOMATIC_NAMES = ("localhost", "127.0.0.1")  # the server's own checks and CLI reach it so
ANY_ADDRESS = ("0.0.0.0", "::")


def add_cli(sub, _) -> dict:
    setup = sub.add_parser("setup", help=_(
        "set the server up: configuration file, the district's CA and server certificate, "
        "release key, database (run again: changes only what it must)"))
    setup.add_argument("--host", action="append", default=[], metavar="NAME", help=_(
        "a host name or IP address terminals and browsers use for this server (repeat for "
        "several); default: the names already configured, else this machine's name"))
    setup.add_argument("--listen", metavar="ADDR:PORT", help=_(
        "address and port the service listens on (default: the configured one, else "
        "0.0.0.0:8443)"))
    setup.add_argument("--official", metavar="USERNAME", help=_(
        "create this district official if missing; their password is printed once"))
    setup.add_argument("--renew", action="store_true", help=_(
        "issue a new server certificate now, from the same CA (otherwise done when it is "
        "within 30 days of its end)"))
    setup.add_argument("--service-user", default="district", metavar="USER", help=_(
        "when run as root: the user the service runs as, who gets its key and database"))
    return {"setup": cmd_setup}


@dataclass
class Plan:
    path: Path
    names: list[str]
    listen: tuple[str, int]
    db_url: str
    language: str

    @property
    def folder(self) -> Path:
        return self.path.parent

    def file(self, key: str) -> Path:
        return self.folder / FILES[key]


class Changes(list):
    """The lines ``district setup`` prints, and the steps that wrote them: the audit log
    keeps the steps' names only (a line may hold the new official's password)."""

    def __init__(self) -> None:
        super().__init__()
        self.step, self.steps = "", []

    def append(self, line: str) -> None:
        super().append(line)
        if self.step not in self.steps:
            self.steps.append(self.step)


def cmd_setup(args, _db_url, _) -> int:
    plan = make_plan(args)
    changes = Changes()
    plan.folder.mkdir(parents=True, exist_ok=True, mode=0o755)
    owner = _service_owner(args.service_user)
    changes.step = "certificate_authority"
    ca_key, ca_cert, made_ca = _ensure_ca(plan, changes, _)
    changes.step = "server_certificate"
    _ensure_server_cert(plan, ca_key, ca_cert, made_ca, args.renew, owner, changes, _)
    changes.step = "signing_keys"
    _ensure_release_key(plan, changes, _)
    _ensure_badge_key(plan, changes, _)
    changes.step = "configuration"
    _ensure_config_file(plan, owner, changes, _)
    changes.step = "database"
    engine = _ensure_database(plan, owner, changes, _)
    try:
        changes.step = "official"
        if args.official:
            _ensure_official(engine, args.official, changes, _)
        _audit_setup(engine, plan, changes)
    finally:
        engine.dispose()
    if not changes:
        print(_("nothing to change: {path} and its files are up to date").format(path=plan.path))
    for line in changes:
        print(line)
    return 0


def _audit_setup(engine, plan: Plan, changes: Changes) -> None:
    """A run that changed something is in the audit log (an unchanged one is not)."""
    from district import audit

    if changes.steps:
        audit.record_now(engine, audit.cli_actor(), "server_set_up", str(plan.path),
                         {"changed": changes.steps, "names": plan.names})


def make_plan(args) -> Plan:
    path, _explicit = config.config_path(args.config)
    existing = config.load_settings(str(path)) if path.exists() else None
    if args.listen:
        listen = config.parse_listen(args.listen)
    elif existing is not None:
        listen = (existing.listen.host, existing.listen.port)
    else:
        listen = config.SETUP_LISTEN
    for name in args.host:
        if not _valid_name(name):
            raise DistrictError(N_("--host {name}: not a host name or IP address"), name=name)
    asked = args.host or (list(existing.tls.names) if existing and existing.tls.names
                          else [socket.gethostname()])
    extra = [listen[0]] if listen[0] not in ANY_ADDRESS else []
    names = list(dict.fromkeys([*asked, *AUTOMATIC_NAMES, *extra]))
    db_url = (args.db or os.environ.get("DISTRICT_DB")
              or (existing.database.url if existing else "") or config.default_db_url())
    language = existing.messages.language if existing else config.DEFAULT_LANG
    return Plan(path, names, listen, db_url, language)


def _valid_name(name: str) -> bool:
    if config.is_ip(name):
        return True
    labels = name.rstrip(".").split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        and not label.startswith("-") and not label.endswith("-") for label in labels)


# ---------------------------------------------------------------------------------------
# The files


def _ensure_ca(plan: Plan, changes: list[str], _):
    cert_path, key_path = plan.file("ca_cert"), plan.file("ca_key")
    if cert_path.exists():
        cert = pki.load_cert(cert_path)
        key = pki.load_key(key_path) if key_path.exists() else None
        return key, cert, False
    key, cert = pki.make_ca(plan.names[0])
    pki.write_file(key_path, pki.key_pem(key), 0o600)
    pki.write_file(cert_path, pki.cert_pem(cert), 0o644)
    changes.append(_("made the district's certificate authority: {path} (valid until {date}; "
                     "import it once in officials' browsers)").format(
        path=cert_path, date=_date(cert.not_valid_after_utc)))
    return key, cert, True


def _ensure_server_cert(plan: Plan, ca_key, ca_cert, new_ca: bool, renew: bool, owner,
                        changes: list[str], _) -> None:
    cert_path, key_path = plan.file("cert"), plan.file("key")
    had_cert = cert_path.exists()
    reason = None
    if new_ca or not cert_path.exists() or not key_path.exists():
        reason = "new"
    elif renew:
        reason = "renew"
    else:
        state = pki.cert_state(pki.load_cert(cert_path), ca_cert)
        if not state.issued_by_ca or state.names != frozenset(plan.names):
            reason = "names"
        elif state.days_left() <= pki.RENEW_WITHIN_DAYS:
            reason = "renew"
    if reason is None:
        _give(key_path, owner, 0o600)
        return
    if ca_key is None:
        raise DistrictError(N_("the CA's private key {path} is missing: the server certificate "
                               "cannot be issued. Fix: put the key back (from the backup), "
                               "or move the folder's ca.* files away to make a new CA (then "
                               "provision the terminals again)"), path=plan.file("ca_key"))
    key, cert = pki.make_server_cert(ca_key, ca_cert, plan.names)
    pki.write_file(key_path, pki.key_pem(key), 0o600)
    _give(key_path, owner, 0o600)
    pki.write_file(cert_path, pki.cert_pem(cert), 0o644)
    message = (_("renewed the server certificate (same CA: terminals need nothing): {path}, "
                 "valid until {date}") if reason == "renew" else
               _("issued the server certificate for {names}: {path}, valid until {date}"))
    changes.append(message.format(path=cert_path, names=", ".join(plan.names),
                                  date=_date(cert.not_valid_after_utc)))
    if had_cert:
        changes.append(_("restart the service to use it: systemctl restart district"))


def _ensure_release_key(plan: Plan, changes: list[str], _) -> None:
    key_path, pub_path = plan.file("release"), plan.file("release_pub")
    if key_path.exists():
        if not pub_path.exists():
            pki.write_file(pub_path, pki.public_pem(pki.load_key(key_path)), 0o644)
        return
    key = pki.make_release_key()
    pki.write_file(key_path, pki.key_pem(key), 0o600)
    pki.write_file(pub_path, pki.public_pem(key), 0o644)
    changes.append(_("made the release-signing key: {path} (keep a copy in a safe place)")
                   .format(path=key_path))


def _ensure_badge_key(plan: Plan, changes: list[str], _) -> None:
    """The officers' badge key (district/badges.py), beside the configuration file."""
    from district.badges import ensure_key

    _key, made = ensure_key(plan.folder)
    if made:
        changes.append(_("made the badge-signing key: {path} (keep a copy in a safe place)")
                       .format(path=plan.folder / "badge.key"))


def render_config(plan: Plan) -> str:
    """The configuration file's text: the same plan always gives the same bytes."""
    def s(value) -> str:  # a JSON string is a TOML basic string
        return json.dumps(str(value), ensure_ascii=False)

    names = ", ".join(s(n) for n in plan.names)
    return "\n".join([
        "# Cấu hình máy chủ Hài Lòng của quận/huyện, do `district setup` viết. Dịch vụ và mọi",
        "# lệnh `district` đều đọc tệp này. Giải thích từng khoá: config/district.toml.",
        "# The Hài Lòng district server's configuration, written by `district setup`. The",
        "# service and every `district` command read it. Every key: config/district.toml.",
        "",
        "[database]",
        f"url = {s(plan.db_url)}",
        "",
        "[listen]",
        f"host = {s(plan.listen[0])}",
        f"port = {plan.listen[1]}",
        "",
        "[tls]",
        f"ca_cert = {s(plan.file('ca_cert'))}",
        f"ca_key = {s(plan.file('ca_key'))}",
        f"cert = {s(plan.file('cert'))}",
        f"key = {s(plan.file('key'))}",
        f"names = [{names}]",
        "",
        "[release]",
        f"key = {s(plan.file('release'))}",
        "",
        "[messages]",
        f"language = {s(plan.language)}",
        "",
    ])


def _ensure_config_file(plan: Plan, owner, changes: list[str], _) -> None:
    text = render_config(plan).encode("utf-8")
    if plan.path.exists() and plan.path.read_bytes() == text:
        _give(plan.path, owner, CONFIG_MODE, group_only=True)
        return
    pki.write_file(plan.path, text, CONFIG_MODE)
    _give(plan.path, owner, CONFIG_MODE, group_only=True)
    changes.append(_("wrote the configuration file {path} (listens on {host}:{port})").format(
        path=plan.path, host=plan.listen[0], port=plan.listen[1]))


def _ensure_database(plan: Plan, owner, changes: list[str], _):
    from district.db import open_engine, shown_url, sqlite_folder

    folder = sqlite_folder(plan.db_url)
    if folder is not None and not folder.is_dir():
        folder.mkdir(parents=True, mode=0o750)
        _give(folder, owner, 0o750)
    before = _revisions(plan.db_url)
    engine = open_engine(plan.db_url)
    if folder is not None:
        path = Path(engine.url.database)
        for file in (path, path.with_name(path.name + "-wal"),
                     path.with_name(path.name + "-shm")):
            if file.exists():
                _give(file, owner, None)
    if _revisions(plan.db_url) != before:
        changes.append(_("database {url}: brought to the current schema").format(
            url=shown_url(plan.db_url)))
    return engine


def _revisions(db_url: str) -> set[str]:
    """The database's Alembic revisions now (none when it does not exist yet): compared
    before and after the migration, they say whether it changed anything."""
    import sqlalchemy as sa

    from district.db import create_db_engine, sqlite_folder

    if sqlite_folder(db_url) is not None and not Path(
            sa.engine.make_url(db_url).database).exists():
        return set()
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version")}
    except sa.exc.SQLAlchemyError:
        return set()  # no table yet, or open_engine will say what is wrong in one line
    finally:
        engine.dispose()


def _ensure_official(engine, username: str, changes: list[str], _) -> None:
    from district.dashboard import accounts

    if any(row.username == username for row in accounts.list_users(engine)):
        print(_("district official {name} exists: unchanged (new password: district users "
                "passwd {name})").format(name=username), file=sys.stderr)
        return
    password = secrets.token_urlsafe(12)
    accounts.add_user(engine, username, password, "district")
    changes.append(_("district official {name} created; password (shown only this once): "
                     "{password}").format(name=username, password=password))


# ---------------------------------------------------------------------------------------
# Owners (root only)


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def _service_owner(user: str) -> Owner | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return Owner(entry.pw_uid, entry.pw_gid)


def _give(path: Path, owner: Owner | None, mode: int | None, *, group_only: bool = False
          ) -> None:
    """Root: the service's user owns it (or, ``group_only``, its group reads it)."""
    if owner is None or not path.exists():
        return
    stat = path.stat()
    uid = 0 if group_only else owner.uid
    if (stat.st_uid, stat.st_gid) != (uid, owner.gid):
        os.chown(path, uid, owner.gid)
    if mode is not None and stat.st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d")


__all__ = ["add_cli", "cmd_setup", "make_plan", "render_config"]
