"""The settings a district decides (``ballot.settings``), kept per fleet, unit and terminal,
inherited down the unit tree, and versioned (table ``settings_versions``, revision d0009).

A **scope** is the fleet (every terminal), a unit (its terminals and those of the units
below it) or one terminal. Each scope holds a document of only the keys set there; what a
terminal runs is the fleet's document, overridden by each unit from the top of the tree down
to its own, then by its own (``effective``). Every change writes a new row: the whole
document of that scope after it, what changed (old and new value), who, when; the newest row
of a scope is its settings. A return to an earlier version writes that version's document
again as a new version (``restores`` says which), so the history only grows.

Every change is validated before it is stored: the merged settings it would give are
``ballot.settings.DistrictSettings``, the models the kiosk's own sections are made of, and
so are those of every scope below that has its own settings. A refused change stores
nothing and says, per key, why (``SettingsRefused``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from ballot import settings as model
from ballot.validation import validation_detail
from district import audit
from district.db import UTCDateTime, terminals, units, utcnow, write_transaction
from district.errors import N_, DistrictError

metadata = sa.MetaData()  # not district.db's: the tests' wipe() must not try to empty it
BIG_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")

settings_versions = sa.Table(
    "settings_versions", metadata,
    sa.Column("version", BIG_PK, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(10), nullable=False),
    sa.Column("scope_id", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("restores", sa.BigInteger, nullable=True),
)

FLEET, UNIT, TERMINAL = "fleet", "unit", "terminal"
SCOPES = (FLEET, UNIT, TERMINAL)
MAX_NOTE = 500
# Keys of kiosk.toml that stay on the terminal: named, so the refusal can say why.
LOCAL_SECTIONS = ("server", "storage", "gpio", "serial", "keyboard", "technician", "sync",
                  "attribution")


@dataclass(frozen=True)
class Scope:
    kind: str
    id: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == FLEET else f"{self.kind} {self.id}"


FLEET_SCOPE = Scope(FLEET)


class SettingsRefused(DistrictError):
    """A change the settings' model refuses; ``problems`` are pydantic's errors (their
    ``loc`` is the dotted key), or ours with a key."""

    def __init__(self, problems: list[dict]):
        self.problems = problems
        super().__init__(N_("settings refused: {error}"),
                         error="; ".join(f"{p['key']}: {p.get('msg', '')}" for p in problems))

    def by_key(self, gettext) -> dict[str, str]:
        """key (or "" for the settings as a whole) → the reason, in ``gettext``'s language."""
        out: dict[str, str] = {}
        for problem in self.problems:
            text = validation_detail(problem, gettext) if "type" in problem \
                else gettext(problem["msg"]).format(**problem.get("params", {}))
            out[problem["key"]] = f"{out[problem['key']]}; {text}" if problem["key"] in out \
                else text
        return out

    def translated(self, gettext) -> str:
        reasons = "; ".join(f"{key}: {text}" if key else text
                            for key, text in self.by_key(gettext).items())
        return gettext(self.message).format(error=reasons)


@dataclass(frozen=True)
class Version:
    version: int
    scope: Scope
    document: dict
    changes: dict
    author: str
    at: dt.datetime
    note: str
    restores: int | None


@dataclass(frozen=True)
class Effective:
    """What a scope runs: ``document`` (the keys set anywhere above it or on it, merged),
    ``origin`` (key → the scope that set it), ``version`` (the newest change among them)."""

    version: int
    document: dict
    origin: dict[str, Scope]

    @property
    def etag(self) -> str:
        return model.etag(self.document)

    def whole(self) -> model.DistrictSettings:
        return model.validate(self.document)


# --- the unit tree ---------------------------------------------------------------------------

def check_scope(conn: Connection, scope: Scope) -> None:
    """The unit or terminal must exist (a DistrictError otherwise)."""
    if scope.kind not in SCOPES:
        raise DistrictError(N_("unknown scope {scope!r}: use fleet, unit or terminal"),
                            scope=scope.kind)
    table = {UNIT: units, TERMINAL: terminals}.get(scope.kind)
    if table is not None and conn.execute(
            sa.select(table.c.id).where(table.c.id == scope.id)).first() is None:
        raise DistrictError(N_("no {kind} {id} on this server"), kind=scope.kind, id=scope.id)


# The units above a unit, the unit first: one recursive query (a heartbeat asks it).
UNITS_UP = sa.text("""
WITH RECURSIVE up(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM units WHERE id = :unit
    UNION ALL
    SELECT u.id, u.parent_id, up.depth + 1 FROM units u JOIN up ON u.id = up.parent_id
    WHERE up.depth < 100
)
SELECT id FROM up ORDER BY depth DESC""")
TERMINAL_UNITS_UP = sa.text(UNITS_UP.text.replace(
    "WHERE id = :unit", "WHERE id = (SELECT unit_id FROM terminals WHERE id = :terminal)"))


def chain(conn: Connection, scope: Scope) -> list[Scope]:
    """The scopes ``scope`` inherits from, top first, ending with ``scope`` itself."""
    if scope.kind == FLEET:
        return [FLEET_SCOPE]
    if scope.kind == TERMINAL:
        found = conn.execute(TERMINAL_UNITS_UP, {"terminal": scope.id}).scalars()
    else:
        found = conn.execute(UNITS_UP, {"unit": scope.id}).scalars()
    out = [FLEET_SCOPE, *(Scope(UNIT, unit_id) for unit_id in found)]
    return [*out, scope] if scope.kind == TERMINAL else out


def below(conn: Connection, scope: Scope) -> list[Scope]:
    """The scopes under ``scope`` that have settings of their own."""
    rows = conn.execute(sa.select(settings_versions.c.scope, settings_versions.c.scope_id)
                        .where(settings_versions.c.scope != FLEET).distinct()).all()
    found = [Scope(r.scope, r.scope_id) for r in rows]
    if scope.kind == TERMINAL:
        return []
    if scope.kind == FLEET:
        return found
    return [s for s in found if s != scope and scope in chain(conn, s)]


# --- reading -----------------------------------------------------------------------------------

def _current(conn: Connection, scopes: Iterable[Scope]) -> dict[Scope, tuple[int, dict]]:
    """The newest version and document of each scope that has one."""
    scopes = list(scopes)
    if not scopes:
        return {}
    sv = settings_versions
    wanted = sa.or_(*(sa.and_(sv.c.scope == s.kind, sv.c.scope_id == s.id) for s in scopes))
    newest = sa.select(sa.func.max(sv.c.version)).where(wanted) \
        .group_by(sv.c.scope, sv.c.scope_id).scalar_subquery()
    rows = conn.execute(sa.select(sv.c.version, sv.c.scope, sv.c.scope_id, sv.c.document)
                        .where(sv.c.version.in_(newest))).all()
    return {Scope(r.scope, r.scope_id): (r.version, json.loads(r.document)) for r in rows}


def effective_in(conn: Connection, scope: Scope, own: Mapping | None = None) -> Effective:
    """What ``scope`` runs (with ``own`` instead of its stored document, when given)."""
    scopes = chain(conn, scope)
    current = _current(conn, scopes)
    if own is not None:
        current[scope] = (current.get(scope, (0, {}))[0], dict(own))
    document: dict = {}
    origin: dict[str, Scope] = {}
    version = 0
    for step in scopes:
        number, doc = current.get(step, (0, {}))
        version = max(version, number)
        document = model.merge(document, doc)
        for section, values in doc.items():
            for key in values:
                origin[f"{section}.{key}"] = step
    return Effective(version, document, origin)


def effective(engine: Engine, scope: Scope) -> Effective:
    with engine.connect() as conn:
        check_scope(conn, scope)
        return effective_in(conn, scope)


def own_document(engine: Engine, scope: Scope) -> dict:
    with engine.connect() as conn:
        return _current(conn, [scope]).get(scope, (0, {}))[1]


def history(engine: Engine, scopes: Iterable[Scope] | None = None, limit: int = 100
            ) -> list[Version]:
    """Newest first; of ``scopes`` only when given."""
    sv = settings_versions
    query = sa.select(sv).order_by(sv.c.version.desc()).limit(limit)
    if scopes is not None:
        scopes = list(scopes)
        if not scopes:
            return []
        query = query.where(sa.or_(*(sa.and_(sv.c.scope == s.kind, sv.c.scope_id == s.id)
                                     for s in scopes)))
    with engine.connect() as conn:
        return [_version(r) for r in conn.execute(query)]


def version(engine: Engine, number: int) -> Version | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(settings_versions)
                           .where(settings_versions.c.version == number)).first()
    return _version(row) if row else None


def _version(row) -> Version:
    return Version(row.version, Scope(row.scope, row.scope_id), json.loads(row.document),
                   json.loads(row.changes), row.author, row.at, row.note, row.restores)


# --- changing ----------------------------------------------------------------------------------

def parse_key(key: str) -> tuple[str, str]:
    """``scale.question_vi`` → (section, key), or SettingsRefused naming why it is none."""
    section, _dot, name = key.partition(".")
    if name and name in model.KEYS.get(section, ()):
        return section, name
    if section in LOCAL_SECTIONS or (section, name) in (("terminal", "id"),
                                                          ("terminal", "unit")):
        msg = N_("not a district setting: what identifies and secures a terminal, and its "
                 "wiring, stay in its own kiosk.toml")
    else:
        msg = N_("not a district setting; the settings are: {keys}")
    return _refuse([{"key": key, "msg": msg, "params": {"keys": ", ".join(model.ALL_KEYS)}}])


def _refuse(problems: list[dict]):
    raise SettingsRefused(problems)


def apply_changes(document: Mapping, changes: Mapping[str, Any]) -> dict:
    """``document`` with ``changes`` (dotted key → value; None: inherit again)."""
    out = {section: dict(values) for section, values in document.items()}
    for key, value in changes.items():
        section, name = parse_key(key)
        if value is None:
            out.get(section, {}).pop(name, None)
        else:
            out.setdefault(section, {})[name] = value
    return {s: v for s, v in out.items() if v}


def checked(conn: Connection, scope: Scope, document: Mapping) -> dict:
    """``document`` as stored: every value typed by the model (``"3"`` → 3), after
    checking the settings it gives ``scope`` and every scope below with its own."""
    whole = _validated(effective_in(conn, scope, document).document, prefix="")
    typed = {section: {name: getattr(getattr(whole, section), name) for name in values}
             for section, values in document.items()}
    for lower in below(conn, scope):
        merged = model.merge(effective_in(conn, scope, typed).document,
                             *(_current(conn, [s]).get(s, (0, {}))[1]
                               for s in chain(conn, lower) if s not in chain(conn, scope)))
        _validated(merged, prefix=f"{lower}: ")
    return typed


def _validated(document: Mapping, prefix: str) -> model.DistrictSettings:
    try:
        return model.validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            problem = dict(error)
            problem["key"] = prefix + ".".join(str(p) for p in error["loc"]
                                               if not isinstance(p, int))
            problems.append(problem)
        raise SettingsRefused(problems) from None


def change(engine: Engine, scope: Scope, changes: Mapping[str, Any], actor: audit.Actor,
           note: str = "", *, restores: int | None = None, replace: Mapping | None = None
           ) -> int | None:
    """Store the settings of ``scope`` with ``changes`` (or ``replace``'s whole document);
    returns the new version, None when nothing changed. Refused: SettingsRefused."""
    with write_transaction(engine) as conn:
        check_scope(conn, scope)
        old = _current(conn, [scope]).get(scope, (0, {}))[1]
        new = checked(conn, scope, replace if replace is not None
                      else apply_changes(old, changes))
        if new == old:
            return None
        diff = {key: [_get(old, key), _get(new, key)] for key in model.ALL_KEYS
                if _get(old, key) != _get(new, key)}
        number = conn.execute(settings_versions.insert().values(
            scope=scope.kind, scope_id=scope.id, document=model.canonical(new),
            changes=json.dumps(diff, ensure_ascii=False), author=actor.name[:100],
            at=utcnow(), note=(note or "")[:MAX_NOTE], restores=restores
        ).returning(settings_versions.c.version)).scalar_one()
        audit.record(conn, actor, "settings_restored" if restores else "settings_changed",
                     str(scope), {"version": number, "restores": restores,
                                  "keys": ",".join(diff)} if restores
                     else {"version": number, "keys": ",".join(diff)})
        return number


def restore(engine: Engine, number: int, actor: audit.Actor, note: str = "") -> int | None:
    """Return the scope of version ``number`` to that version's settings (a new version)."""
    old = version(engine, number)
    if old is None:
        raise DistrictError(N_("there is no settings version {version}"), version=number)
    return change(engine, old.scope, {}, actor, note, restores=number, replace=old.document)


def _get(document: Mapping, key: str) -> Any:
    section, _dot, name = key.partition(".")
    return document.get(section, {}).get(name)
