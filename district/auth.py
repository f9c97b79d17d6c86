"""Bearer tokens of terminals and administrators.

Tokens are ``secrets.token_urlsafe(32)``: 256 random bits. The database keeps only their
SHA-256. A slow password hash (argon2) exists to make guessing *low-entropy* secrets
expensive; a 256-bit random token cannot be guessed either way, and a fast hash lets every
request be authenticated with one indexed lookup, which matters for 10,000 terminals.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district.db import api_tokens, terminals, utcnow


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class AuthenticatedTerminal:
    id: str
    unit_id: str


def terminal_for_token(conn: Connection, token: str) -> AuthenticatedTerminal | None:
    """The terminal whose current, non-revoked token this is, else None."""
    row = conn.execute(
        sa.select(terminals.c.id, terminals.c.unit_id).where(
            terminals.c.token_hash == hash_token(token), terminals.c.revoked_at.is_(None))
    ).first()
    return AuthenticatedTerminal(row.id, row.unit_id) if row else None


def is_admin_token(conn: Connection, token: str) -> bool:
    row = conn.execute(
        sa.select(api_tokens.c.pk).where(
            api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None),
            api_tokens.c.scope == "admin")
    ).first()
    return row is not None


def create_admin_token(engine: Engine, label: str = "") -> str:
    """A new administrator API token (for ``GET /api/v1/stats``); returned once, stored hashed."""
    token = new_token()
    with engine.begin() as conn:
        conn.execute(api_tokens.insert().values(
            token_hash=hash_token(token), label=label, scope="admin", created_at=utcnow()))
    return token


def revoke_admin_tokens(engine: Engine) -> int:
    """Revoke every administrator token; returns how many were active."""
    with engine.begin() as conn:
        result = conn.execute(api_tokens.update().where(api_tokens.c.revoked_at.is_(None))
                              .values(revoked_at=utcnow()))
    return result.rowcount
