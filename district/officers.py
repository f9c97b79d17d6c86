"""Officers: who serves at the counters (docs/attribution.md).

``district officers add|import|list|disable|badges`` and the dashboard's officer pages read
and write them here. An officer has a code (what their badge carries and each vote's
``officer`` field holds: letters, digits, ``.``, ``_``, ``-``, at most 32), a full name, a
unit and, optionally, a photo (JPEG or PNG, at most 512 KiB, shown on the rating screen).
Disabling an officer revokes their badge: terminals refuse it once they hear of it. Officers
are never deleted (their past votes keep their code); docs/attribution.md says what personal
data is kept and for how long.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from district import audit
from district.attribution import MAX_PHOTO_BYTES, OFFICER_CODE, PHOTO_TYPES, officers
from district.audit import Actor
from district.db import units, utcnow, write_transaction
from district.errors import N_, DistrictError


@dataclass(frozen=True)
class Officer:
    code: str
    full_name: str
    unit_id: str
    badge_issue: int
    has_photo: bool
    disabled: bool

    def as_json(self) -> dict:
        return {"code": self.code, "full_name": self.full_name, "unit_id": self.unit_id,
                "badge_issue": self.badge_issue, "has_photo": self.has_photo,
                "active": not self.disabled}


def _officer(row) -> Officer:
    return Officer(row.code, row.full_name, row.unit_id, row.badge_issue,
                   row.photo_type is not None, row.disabled_at is not None)


_LISTED = (officers.c.code, officers.c.full_name, officers.c.unit_id, officers.c.badge_issue,
           officers.c.photo_type, officers.c.disabled_at)


def check_code(code: str) -> str:
    if not OFFICER_CODE.match(code or ""):
        raise DistrictError(N_("officer code {code!r}: use 1 to 32 letters, digits, '.', '_' "
                               "or '-'"), code=code)
    return code


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        raise DistrictError(N_("an officer's full name is 1 to 200 characters"))
    return name


def read_photo(path: str | Path) -> tuple[bytes, str]:
    """A JPEG or PNG file's bytes and type; anything else is a clear error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DistrictError(N_("{path} cannot be read: {error}"), path=path,
                            error=exc.strerror or str(exc)) from None
    return check_photo(data, str(path))


def check_photo(data: bytes, name: str) -> tuple[bytes, str]:
    """The photo's bytes and type (told by its first bytes, not by its name): JPEG or PNG,
    not empty, at most 512 KiB."""
    if not data:
        raise DistrictError(N_("the photo {path} is empty"), path=name)
    if len(data) > MAX_PHOTO_BYTES:
        raise DistrictError(N_("the photo {path} is over 512 KiB: make it smaller"), path=name)
    kind = next((k for k, magic in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise DistrictError(N_("the photo {path} is neither JPEG nor PNG"), path=name)
    # a file that only starts like one would break the badge sheet and the rating screen
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DistrictError(N_("the photo {path} is damaged: it cannot be read as an image"),
                            path=name) from None
    return data, kind


def _audit(conn: Connection, actor: Actor | None, action: str, code: str,
           detail: dict | None = None) -> None:
    if actor is not None:
        audit.record(conn, actor, action, code, detail)


def _unit_known(conn: Connection, unit_id: str) -> None:
    if conn.execute(sa.select(units.c.id).where(units.c.id == unit_id)).first() is None:
        raise DistrictError(N_("unit {unit} does not exist (load the units first: district "
                               "units load)"), unit=unit_id)


def add_officer(engine: Engine, code: str, full_name: str, unit_id: str,
                photo: str | Path | None = None, *, photo_data: tuple[bytes, str] | None = None,
                actor: Actor | None = None) -> Officer:
    """A new officer (``photo``: a file, or ``photo_data`` already checked); recorded in
    the audit log under ``actor`` in the same transaction."""
    check_code(code)
    full_name = check_name(full_name)
    data, kind = read_photo(photo) if photo else (photo_data or (None, None))
    now = utcnow()
    with write_transaction(engine) as conn:
        _unit_known(conn, unit_id)
        if conn.execute(sa.select(officers.c.code).where(officers.c.code == code)).first():
            raise DistrictError(N_("officer {code} exists already"), code=code)
        conn.execute(officers.insert().values(
            code=code, full_name=full_name, unit_id=unit_id, photo=data, photo_type=kind,
            badge_issue=1, created_at=now, updated_at=now))
        _audit(conn, actor, "officer_added", code, {"full_name": full_name, "unit": unit_id,
                                                    "photo": data is not None})
    return Officer(code, full_name, unit_id, 1, data is not None, False)


def change_officer(engine: Engine, code: str, full_name: str, unit_id: str,
                   actor: Actor | None = None) -> dict:
    """A new name and/or unit; returns what changed ({field: [old, new]}, empty: nothing)."""
    full_name = check_name(full_name)
    with write_transaction(engine) as conn:
        old = _row(conn, code)
        _unit_known(conn, unit_id)
        changes = {f: [getattr(old, f), v] for f, v in (("full_name", full_name),
                                                        ("unit_id", unit_id))
                   if getattr(old, f) != v}
        if changes:
            conn.execute(officers.update().where(officers.c.code == code).values(
                full_name=full_name, unit_id=unit_id, updated_at=utcnow()))
            _audit(conn, actor, "officer_changed", code, changes)
    return changes


def set_photo(engine: Engine, code: str, photo: tuple[bytes, str],
              actor: Actor | None = None) -> None:
    """Replace the officer's photo with a checked one (``check_photo``)."""
    data, kind = photo
    with write_transaction(engine) as conn:
        _row(conn, code)
        conn.execute(officers.update().where(officers.c.code == code).values(
            photo=data, photo_type=kind, updated_at=utcnow()))
        _audit(conn, actor, "officer_photo_set", code, {"type": kind, "bytes": len(data)})


def _row(conn: Connection, code: str):
    row = conn.execute(sa.select(officers).where(officers.c.code == code)).first()
    if row is None:
        raise DistrictError(N_("officer {code} does not exist"), code=code)
    return row


def import_officers(engine: Engine, path: str | Path) -> tuple[int, int, int]:
    """A CSV file ``code,full_name,unit[,photo]`` (header row; photo a file path relative to
    the CSV): all or nothing; new officers added, known ones updated (name, unit, photo).
    Returns (added, updated, unchanged)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DistrictError(N_("{path} cannot be read as UTF-8 text: {error}"), path=path,
                            error=getattr(exc, "strerror", None) or str(exc)) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if not {"code", "full_name", "unit"} <= set(header) or not set(header) <= {
            "code", "full_name", "unit", "photo"}:
        raise DistrictError(N_("{path}: the header must be code,full_name,unit[,photo]"),
                            path=path)
    rows, problems, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        raw = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        try:
            code = check_code(raw["code"])
            if code in seen:
                raise DistrictError(N_("officer {code} is twice in the file"), code=code)
            seen.add(code)
            photo = read_photo(path.parent / raw["photo"]) if raw.get("photo") else None
            rows.append((code, check_name(raw["full_name"]), raw["unit"], photo))
        except DistrictError as exc:
            problems.append((line, exc))
    if problems:
        raise ImportProblems(path, problems)
    return _store_officers(engine, rows, path)


class ImportProblems(DistrictError):
    """Every bad line of an officers file, by number."""

    def __init__(self, path, problems: list[tuple[int, DistrictError]]):
        self.path, self.problems = path, problems
        super().__init__(N_("{path}: bad lines, nothing imported"), path=path)

    def translated(self, gettext) -> str:
        lines = [gettext("line {line}: {problem}").format(line=line,
                                                           problem=exc.translated(gettext))
                 for line, exc in self.problems[:20]]
        return super().translated(gettext) + "\n  " + "\n  ".join(lines)


def _store_officers(engine: Engine, rows, path) -> tuple[int, int, int]:
    added = updated = 0
    now = utcnow()
    with write_transaction(engine) as conn:
        known_units = set(conn.execute(sa.select(units.c.id)).scalars())
        bad = [(i + 2, DistrictError(N_("unit {unit} does not exist (load the units first: "
                                        "district units load)"), unit=unit))
               for i, (_c, _n, unit, _p) in enumerate(rows) if unit not in known_units]
        if bad:
            raise ImportProblems(path, bad)
        existing = {r.code: r for r in conn.execute(sa.select(officers))}
        for code, name, unit, photo in rows:
            data, kind = photo if photo else (None, None)
            old = existing.get(code)
            if old is None:
                conn.execute(officers.insert().values(
                    code=code, full_name=name, unit_id=unit, photo=data, photo_type=kind,
                    badge_issue=1, created_at=now, updated_at=now))
                added += 1
                continue
            values = {"full_name": name, "unit_id": unit}
            if photo:
                values.update(photo=data, photo_type=kind)
            if any(getattr(old, k) != v for k, v in values.items()):
                conn.execute(officers.update().where(officers.c.code == code)
                             .values(**values, updated_at=now))
                updated += 1
    return added, updated, len(rows) - added - updated


def list_officers(conn_or_engine, unit_ids: set[str] | None = None,
                  include_disabled: bool = True) -> list[Officer]:
    """Officers (of ``unit_ids`` when given), by unit then code."""
    stmt = sa.select(*_LISTED).order_by(officers.c.unit_id, officers.c.code)
    if unit_ids is not None:
        stmt = stmt.where(officers.c.unit_id.in_(sorted(unit_ids)))
    if not include_disabled:
        stmt = stmt.where(officers.c.disabled_at.is_(None))
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return [_officer(r) for r in conn.execute(stmt)]
    return [_officer(r) for r in conn_or_engine.execute(stmt)]


def get_officer(engine: Engine, code: str) -> Officer | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_LISTED).where(officers.c.code == code)).first()
    return _officer(row) if row else None


def photo_of(engine: Engine, code: str) -> tuple[bytes, str] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(officers.c.photo, officers.c.photo_type)
                           .where(officers.c.code == code)).first()
    return (row.photo, row.photo_type) if row and row.photo else None


def disable_officer(engine: Engine, code: str, actor: Actor | None = None) -> bool:
    """Revoke the officer's badge; False when they were disabled already."""
    with write_transaction(engine) as conn:
        row = _row(conn, code)
        if row.disabled_at is not None:
            return False
        conn.execute(officers.update().where(officers.c.code == code)
                     .values(disabled_at=utcnow(), updated_at=utcnow()))
        _audit(conn, actor, "officer_disabled", code)
    return True


def enable_officer(engine: Engine, code: str, actor: Actor | None = None) -> bool:
    """Serving again. The badge printed before stays refused: enabling gives the next badge
    number, so a badge handed in (or lost) when the officer left cannot come back with them.
    False when they were active already."""
    with write_transaction(engine) as conn:
        row = _row(conn, code)
        if row.disabled_at is None:
            return False
        conn.execute(officers.update().where(officers.c.code == code).values(
            disabled_at=None, badge_issue=row.badge_issue + 1, updated_at=utcnow()))
        _audit(conn, actor, "officer_enabled", code, {"badge_issue": row.badge_issue + 1})
    return True


def reissue_badge(engine: Engine, code: str, actor: Actor | None = None) -> int:
    """A new badge for a lost one: the next issue number; the old badge is refused."""
    with write_transaction(engine) as conn:
        row = _row(conn, code)
        conn.execute(officers.update().where(officers.c.code == code)
                     .values(badge_issue=row.badge_issue + 1, updated_at=utcnow()))
        _audit(conn, actor, "officer_badge_reissued", code,
               {"badge_issue": row.badge_issue + 1})
    return row.badge_issue + 1
