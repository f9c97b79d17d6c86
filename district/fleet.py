"""The unit tree and the terminals: loading a fleet file, registering terminals.

Functions here are the Python API other commands build on (``district fleet provision``):
``read_fleet``, ``load_units``, ``register_terminal``, ``rotate_token``, ``revoke_terminal``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import Connection, Engine

from ballot.errors import Invalid
from ballot.validation import validation_details
from district import audit, rollups
from district.auth import hash_token, new_token
from district.db import dialect_insert, terminals, units, utcnow, write_transaction
from district.errors import N_, DistrictError

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class FleetUnit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Annotated[str, Field(max_length=64)] = ""
    parent: str = ""  # the id of the unit above; empty for a root


class FleetTerminal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Id
    unit: Id
    name: Annotated[str, Field(max_length=200)] = ""


class FleetInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = ""
    scale: int = 3
    language: str = "vi"


class Fleet(BaseModel):
    """A fleet file: ``[fleet]``, ``[[units]]`` (a tree by ``parent``), ``[[terminals]]``."""

    model_config = ConfigDict(extra="forbid")
    fleet: FleetInfo = FleetInfo()
    units: list[FleetUnit] = []
    terminals: list[FleetTerminal] = []

    @model_validator(mode="after")
    def _consistent(self) -> Fleet:
        ids = [u.id for u in self.units]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise Invalid(N_("unit ids used twice: {ids}"), ids=", ".join(sorted(dup)))
        known = set(ids)
        for unit in self.units:
            if unit.parent and unit.parent not in known:
                raise Invalid(N_("unit {unit!r}: parent {parent!r} is not a unit"), unit=unit.id,
                              parent=unit.parent)
        tids = [t.id for t in self.terminals]
        dup = {i for i in tids if tids.count(i) > 1}
        if dup:
            raise Invalid(N_("terminal ids used twice: {ids}"), ids=", ".join(sorted(dup)))
        for term in self.terminals:
            if term.unit not in known:
                raise Invalid(N_("terminal {terminal!r}: unit {unit!r} is not a unit"),
                              terminal=term.id, unit=term.unit)
        self.units_in_tree_order()  # raises on a cycle
        return self

    def units_in_tree_order(self) -> list[FleetUnit]:
        """Parents before children (so foreign keys hold at every insert)."""
        by_id = {u.id: u for u in self.units}
        ordered: list[FleetUnit] = []
        placed: set[str] = set()
        for unit in self.units:
            chain, seen = [], set()
            node = unit
            while node and node.id not in placed:
                if node.id in seen:
                    raise Invalid(N_("units form a cycle through {unit!r}"), unit=node.id)
                seen.add(node.id)
                chain.append(node)
                node = by_id.get(node.parent) if node.parent else None
            for item in reversed(chain):
                ordered.append(item)
                placed.add(item.id)
        return ordered


def read_fleet(path: str | Path) -> Fleet:
    """Parse and validate a fleet TOML file; errors name the file and the place."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DistrictError(N_("cannot read {path}: {error}"), path=path, error=exc.strerror) \
            from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DistrictError(N_("{path} is not valid TOML: {error}"), path=path, error=exc) \
            from exc
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        raise InvalidContent(N_("{path}: {error}"), exc.errors(), whole=N_("(file)"),
                             path=path) from exc


class InvalidContent(DistrictError):
    """A file pydantic refused: ``{error}`` lists its problems (``where: detail; …``), in
    the reader's language when translated."""

    def __init__(self, message: str, errors: list, *, whole: str = "", **params):
        self.errors = errors
        self.whole = whole
        super().__init__(message, error=validation_details(errors, whole=whole), **params)

    def translated(self, gettext) -> str:
        params = {k: gettext(v) if isinstance(v, str) and v else v
                  for k, v in self.params.items() if k != "error"}
        return gettext(self.message).format(
            error=validation_details(self.errors, gettext, whole=self.whole), **params)


def load_units(engine: Engine, fleet: Fleet | Mapping) -> tuple[int, int]:
    """Insert or update the fleet's units (name, kind, parent); returns (added, updated).

    Units absent from the file are left alone: votes may refer to them. When an existing
    unit gets another parent, the rollups (counted per unit and ancestor) are
    rebuilt from the votes in the same transaction.
    """
    if not isinstance(fleet, Fleet):
        fleet = Fleet.model_validate(fleet)
    added = updated = 0
    moved = False
    with write_transaction(engine) as conn:
        existing = {r.id: r for r in conn.execute(sa.select(units))}
        for unit in fleet.units_in_tree_order():
            values = {"name": unit.name, "kind": unit.kind, "parent_id": unit.parent or None}
            old = existing.get(unit.id)
            if old is None:
                conn.execute(units.insert().values(id=unit.id, created_at=utcnow(), **values))
                added += 1
            elif (old.name, old.kind, old.parent_id) != tuple(values.values()):
                conn.execute(units.update().where(units.c.id == unit.id).values(**values))
                updated += 1
                moved = moved or old.parent_id != values["parent_id"]
        if moved:
            rollups.rebuild(conn)
    return added, updated


def unit_exists(engine: Engine, unit_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(units.c.id).where(units.c.id == unit_id)).first() is not None


def ensure_root_unit(conn: Connection, unit_id: str) -> bool:
    """Create ``unit_id`` as a root unit named after itself if missing; True if created."""
    stmt = dialect_insert(conn, units).values(
        id=unit_id, name=unit_id, kind="", parent_id=None, created_at=utcnow()
    ).on_conflict_do_nothing(index_elements=["id"]).returning(units.c.id)
    return conn.execute(stmt).first() is not None  # (rowcount is -1 on psycopg here)


def register_terminal(engine: Engine, terminal_id: str, unit_id: str, name: str = "",
                      actor: audit.Actor | None = None) -> str:
    """Register a terminal and return its token (shown once: only its hash is stored).

    A missing unit is created as a root unit (name = id). Raises ``DistrictError`` if the
    terminal id is already registered (use ``rotate_token`` for a new token). Audited, in
    the same transaction (``actor``: the command line's user unless given).
    """
    _check_id(terminal_id, N_("terminal id"))
    _check_id(unit_id, N_("unit id"))
    token = new_token()
    now = utcnow()
    with engine.begin() as conn:
        ensure_root_unit(conn, unit_id)
        stmt = dialect_insert(conn, terminals).values(
            id=terminal_id, unit_id=unit_id, name=name or "", token_hash=hash_token(token),
            created_at=now, token_issued_at=now,
        ).on_conflict_do_nothing(index_elements=["id"]).returning(terminals.c.id)
        if conn.execute(stmt).first() is None:
            raise DistrictError(
                N_("terminal {terminal_id} is already registered; use "
                   "'district terminals rotate {terminal_id}' for a new token"),
                terminal_id=terminal_id)
        audit.record(conn, actor or audit.cli_actor(), "terminal_added", terminal_id,
                     {"unit": unit_id, "name": name or ""})
    return token


def rotate_token(engine: Engine, terminal_id: str, actor: audit.Actor | None = None) -> str:
    """A new token for a registered terminal (the old one stops working); un-revokes it.
    Audited like ``register_terminal``."""
    token = new_token()
    with engine.begin() as conn:
        _change_terminal(conn, terminal_id, token_hash=hash_token(token),
                         token_issued_at=utcnow(), revoked_at=None)
        audit.record(conn, actor or audit.cli_actor(), "terminal_token_rotated", terminal_id)
    return token


def revoke_terminal(engine: Engine, terminal_id: str, actor: audit.Actor | None = None) -> None:
    """The terminal's token stops working at once; its votes stay. Audited."""
    with engine.begin() as conn:
        _change_terminal(conn, terminal_id, token_hash=None, revoked_at=utcnow())
        audit.record(conn, actor or audit.cli_actor(), "terminal_revoked", terminal_id)


def _change_terminal(conn: Connection, terminal_id: str, **values) -> None:
    """Inside the caller's transaction: an unknown terminal rolls it back, audit row too."""
    result = conn.execute(terminals.update().where(terminals.c.id == terminal_id)
                          .values(**values))
    if result.rowcount != 1:
        raise DistrictError(N_("no terminal {terminal_id} is registered"), terminal_id=terminal_id)


def _check_id(value: str, what: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value or ""):
        raise DistrictError(
            N_("invalid {what} {value!r}: use 1-64 letters, digits, '.', '_' or '-'"),
            what=what, value=value)
