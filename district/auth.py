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

from district import audit
from district.db import MAX_UNIT_DEPTH, api_tokens, terminals, utcnow


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class AuthenticatedTerminal:
    id: str
    unit_id: str
    # The unit, its parent, … up to the root, when the lookup read it (else empty).
    unit_chain: tuple[str, ...] = ()


# Built once: every terminal request runs one, and building a select costs more than
# running it.
_TERMINAL_BY_TOKEN = sa.select(terminals.c.id, terminals.c.unit_id).where(
    terminals.c.token_hash == sa.bindparam("token_hash"), terminals.c.revoked_at.is_(None))
# The same, with the terminal's unit chain (which the vote rollups need) in the same round
# trip: one row per unit from the terminal's own up to the root.
_TERMINAL_AND_CHAIN_BY_TOKEN = sa.text(
    "WITH RECURSIVE chain(id, depth) AS ("
    " SELECT unit_id, 0 FROM terminals WHERE token_hash = :token_hash AND revoked_at IS NULL"
    " UNION ALL SELECT u.parent_id, chain.depth + 1 FROM chain JOIN units u ON u.id = chain.id"
    f" WHERE u.parent_id IS NOT NULL AND chain.depth < {MAX_UNIT_DEPTH})"
    " SELECT t.id, t.unit_id, chain.id AS chain_id FROM terminals t, chain"
    " WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL ORDER BY chain.depth")


def terminal_for_token(conn: Connection, token: str, *, with_chain: bool = False
                       ) -> AuthenticatedTerminal | None:
    """The terminal whose current, non-revoked token this is, else None."""
    params = {"token_hash": hash_token(token)}
    if not with_chain:
        row = conn.execute(_TERMINAL_BY_TOKEN, params).first()
        return AuthenticatedTerminal(row.id, row.unit_id) if row else None
    rows = conn.execute(_TERMINAL_AND_CHAIN_BY_TOKEN, params).all()
    if not rows:
        return None
    return AuthenticatedTerminal(rows[0].id, rows[0].unit_id, tuple(r.chain_id for r in rows))


def is_admin_token(conn: Connection, token: str) -> bool:
    return token_has_scope(conn, token, "admin")


TOKEN_SCOPES = ("admin", "metrics")  # admin: /api/v1/stats, the dashboard's API; metrics


def token_has_scope(conn: Connection, token: str, scope: str) -> bool:
    """A current (non-revoked) API token of that scope."""
    row = conn.execute(
        sa.select(api_tokens.c.pk).where(
            api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None),
            api_tokens.c.scope == scope)
    ).first()
    return row is not None


def create_admin_token(engine: Engine, label: str = "", scope: str = "admin",
                       actor: audit.Actor | None = None) -> str:
    """A new API token: ``admin`` (for ``GET /api/v1/stats`` and the dashboard's JSON API)
    or ``metrics`` (for ``GET /metrics`` only); returned once, stored hashed, recorded in
    the audit log."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"unknown token scope {scope!r}")
    token = new_token()
    with engine.begin() as conn:
        conn.execute(api_tokens.insert().values(
            token_hash=hash_token(token), label=label, scope=scope, created_at=utcnow()))
        audit.record(conn, actor or audit.cli_actor(), "token_created", label,
                     {"scope": scope})
    return token


def revoke_admin_tokens(engine: Engine, actor: audit.Actor | None = None) -> int:
    """Revoke every API token (admin and metrics); returns how many were active."""
    with engine.begin() as conn:
        result = conn.execute(api_tokens.update().where(api_tokens.c.revoked_at.is_(None))
                              .values(revoked_at=utcnow()))
        audit.record(conn, actor or audit.cli_actor(), "tokens_revoked", "",
                     {"count": result.rowcount})
    return result.rowcount
