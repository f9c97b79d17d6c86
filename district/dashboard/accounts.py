"""Officials' accounts and sessions.

Passwords are hashed with argon2id (argon2-cffi). A session is a random id kept server-side
as its SHA-256 (``dash_sessions``) and sent to the browser signed with the server's secret
(itsdangerous), HttpOnly and SameSite=Lax; each session has its own CSRF token that every
POST form must echo. The secret is generated at first start and kept in ``dash_settings``,
so every app process shares it and nothing secret is in the repository.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from district import audit
from district.dashboard.tables import ROLES, sessions, settings, users
from district.db import dialect_insert, units, utcnow
from district.errors import N_, DistrictError

SESSION_HOURS = 12
COOKIE = "hl_session"
_hasher = PasswordHasher()
# verifying against this keeps the time of "no such user" equal to "wrong password"
_DUMMY_HASH = _hasher.hash("not a password")
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True)
class Official:
    pk: int
    username: str
    role: str  # "district": every unit; "unit": unit_id and the units below it
    unit_id: str | None
    csrf_token: str = ""


def add_user(engine: Engine, username: str, password: str, role: str,
             unit_id: str | None = None, actor: audit.Actor | None = None) -> None:
    if not USERNAME_RE.fullmatch(username or ""):
        raise DistrictError(N_("invalid user name {name!r}: use 1-64 letters, digits, '.', "
                               "'_', '@' or '-'"), name=username)
    if role not in ROLES:
        raise DistrictError(N_("unknown role {role!r}: use district or unit"), role=role)
    if role == "unit" and not unit_id:
        raise DistrictError(N_("a unit official needs --unit UNIT_ID"))
    if role == "district":
        unit_id = None
    if len(password) < 10:
        raise DistrictError(N_("the password must have at least 10 characters"))
    with engine.begin() as conn:
        if unit_id and conn.execute(sa.select(units.c.id).where(units.c.id == unit_id)
                                    ).first() is None:
            raise DistrictError(N_("no unit {unit} exists (load the fleet file first: "
                                   "'district units load')"), unit=unit_id)
        stmt = dialect_insert(conn, users).values(
            username=username, password_hash=_hasher.hash(password), role=role,
            unit_id=unit_id, created_at=utcnow()).on_conflict_do_nothing(
            index_elements=["username"]).returning(users.c.pk)
        if conn.execute(stmt).first() is None:  # (rowcount is -1 with RETURNING on PG)
            raise DistrictError(N_("user {name} already exists"), name=username)
        audit.record(conn, actor or audit.cli_actor(), "user_added", username,
                     {"role": role, "unit": unit_id})


def set_password(engine: Engine, username: str, password: str,
                 actor: audit.Actor | None = None) -> None:
    if len(password) < 10:
        raise DistrictError(N_("the password must have at least 10 characters"))
    with engine.begin() as conn:
        row = conn.execute(sa.select(users.c.pk).where(users.c.username == username)).first()
        if row is None:
            raise DistrictError(N_("no user {name}"), name=username)
        conn.execute(users.update().where(users.c.pk == row.pk).values(
            password_hash=_hasher.hash(password)))
        conn.execute(sessions.delete().where(sessions.c.user_pk == row.pk))
        audit.record(conn, actor or audit.cli_actor(), "password_changed", username)


def disable_user(engine: Engine, username: str, actor: audit.Actor | None = None) -> None:
    with engine.begin() as conn:
        row = conn.execute(sa.select(users.c.pk).where(users.c.username == username)).first()
        if row is None:
            raise DistrictError(N_("no user {name}"), name=username)
        conn.execute(users.update().where(users.c.pk == row.pk).values(disabled_at=utcnow()))
        conn.execute(sessions.delete().where(sessions.c.user_pk == row.pk))
        audit.record(conn, actor or audit.cli_actor(), "user_disabled", username)


def list_users(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(users).order_by(users.c.username)).all()


def authenticate(engine: Engine, username: str, password: str) -> Official | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username,
                                                  users.c.disabled_at.is_(None))).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return Official(row.pk, row.username, row.role, row.unit_id)


def secret_key(engine: Engine) -> str:
    """The cookie-signing secret: generated once (first process wins), then read."""
    with engine.begin() as conn:
        conn.execute(dialect_insert(conn, settings).values(
            key="session_secret", value=secrets.token_urlsafe(48)
        ).on_conflict_do_nothing(index_elements=["key"]))
        return conn.execute(sa.select(settings.c.value).where(
            settings.c.key == "session_secret")).scalar_one()


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.signer = URLSafeTimedSerializer(secret_key(engine), salt="hl-session")

    def open(self, official: Official) -> str:
        """A new session; returns the cookie value."""
        session_id = secrets.token_urlsafe(32)
        now = utcnow()
        with engine_begin(self.engine) as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(
                id_hash=_hash(session_id), user_pk=official.pk,
                csrf_token=secrets.token_urlsafe(32), created_at=now,
                expires_at=now + dt.timedelta(hours=SESSION_HOURS)))
        return self.signer.dumps(session_id)

    def official(self, cookie: str | None) -> Official | None:
        if not cookie:
            return None
        try:
            session_id = self.signer.loads(cookie, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(users.c.pk, users.c.username, users.c.role, users.c.unit_id,
                          sessions.c.csrf_token)
                .join(users, users.c.pk == sessions.c.user_pk)
                .where(sessions.c.id_hash == _hash(session_id),
                       sessions.c.expires_at > utcnow(), users.c.disabled_at.is_(None))
            ).first()
        return Official(row.pk, row.username, row.role, row.unit_id, row.csrf_token) \
            if row else None

    def close(self, cookie: str | None) -> None:
        try:
            session_id = self.signer.loads(cookie or "")
        except BadSignature:
            return
        with engine_begin(self.engine) as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == _hash(session_id)))


def engine_begin(engine: Engine):
    from district.db import write_transaction

    return write_transaction(engine)


def csrf_ok(official: Official, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(official.csrf_token, sent)


