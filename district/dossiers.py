"""Dossiers: the one counted rating per dossier, and the one-stop software's dossier list.

**One counted rating per dossier** (``claim``), across every terminal of the system: in the
transaction that stores a batch, each counted vote carrying a dossier code tries to insert
its row into ``dossier_ratings`` (``INSERT … ON CONFLICT DO NOTHING RETURNING``). The first
to reach the server wins and counts; any later rating of the same dossier is stored as sent
but flagged ``repeat_dossier`` (``ballot.vote``), which the counting rules leave out of the
figures and count apart (``n_repeat``). Within one batch the earliest recorded wins. Test and
suspected-misuse votes claim nothing (they never count), so a genuine rating after one of
them still counts. With several server processes the unique key decides, exactly as for
votes.

**The dossier list** (``import_dossiers``): a CSV or XLSX file as exported by a one-stop
software, or the same rows pushed to ``POST /api/v1/dossiers``: dossier code, procedure code
and name, unit, received / due / finished dates, handling officer. All or nothing: every row
is checked first and the errors name their line; the same file twice changes nothing.
Storage only: this module is below the ingest (which calls ``claim``) and imports none of the
API or the dashboard.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ballot.vote import NOT_COUNTED_FLAGS, Flag
from district import attribution_rollups
from district.attribution import OFFICER_CODE, dossier_ratings, dossiers
from district.db import UTCDateTime, dialect_insert, units, utcnow, write_transaction
from district.errors import N_, DistrictError

REPEAT = Flag.REPEAT_DOSSIER.value
_UNCOUNTED_BEFORE = tuple(f for f in NOT_COUNTED_FLAGS if f != REPEAT)


# --- one counted rating per dossier ---------------------------------------------------------

def claim(conn: Connection, rows: list[dict]) -> dict[str, str]:
    """Flag ``repeat_dossier`` on the vote rows (``votes`` column dicts, not yet inserted)
    whose dossier already has its counted rating; claim the dossier for the others. Returns
    the codes claimed now and the vote that claimed each (``release_unstored`` undoes those
    whose vote was not stored)."""
    first: dict[str, dict] = {}
    for row in sorted((r for r in rows if r.get("dossier_code")),
                      key=lambda r: (r["recorded_at"], r["vote_id"])):
        flags = set(filter(None, (row["flags"] or "").split(";")))
        if flags & set(_UNCOUNTED_BEFORE):
            continue
        if row["dossier_code"] in first:
            _flag_repeat(row)
        else:
            first[row["dossier_code"]] = row
    if not first:
        return {}
    candidates = [first[code] for code in sorted(first)]  # one lock order everywhere
    stmt = (dialect_insert(conn, dossier_ratings)
            .on_conflict_do_nothing(index_elements=["dossier_code"])
            .returning(dossier_ratings.c.dossier_code))
    won = set(conn.execute(stmt, [{
        "dossier_code": r["dossier_code"], "terminal_id": r["terminal_id"],
        "vote_id": r["vote_id"], "unit_id": r["unit_id"], "officer": r.get("officer"),
        "level": r["level"], "scale": r["scale"], "corrected_at": r["corrected_at"],
    } for r in candidates]).scalars())
    for row in candidates:
        if row["dossier_code"] not in won:
            _flag_repeat(row)
    return {code: first[code]["vote_id"] for code in sorted(won)}


def release_unstored(conn: Connection, claimed: Mapping[str, str], rows: list[dict],
                     stored: set[str]) -> None:
    """Settle the batch's claims once its votes are stored: a claim whose own vote turned
    out to be on the server already (not stored now) is given back, so the claim always
    names a stored vote; the kept ones are counted into the coverage and procedure rollups
    (``district.attribution_rollups``) in the same transaction. (Only the claiming vote
    matters: another vote of the batch with the same code, resent and not stored, leaves
    the claim alone.)"""
    lost = {code for code, vote_id in claimed.items() if vote_id not in stored}
    if lost:
        conn.execute(dossier_ratings.delete().where(
            dossier_ratings.c.dossier_code.in_(sorted(lost))))
    attribution_rollups.count_claims(conn, (
        {"dossier_code": r["dossier_code"], "level": r["level"], "scale": r["scale"],
         "corrected_at": r["corrected_at"]} for r in rows
        if r.get("dossier_code") in claimed and claimed[r["dossier_code"]] == r["vote_id"]
        and r["vote_id"] in stored
        and not set((r["flags"] or "").split(";")) & set(NOT_COUNTED_FLAGS)))


def redated(conn: Connection, changes: Sequence[dict]) -> None:
    """Re-dated votes (``d`` dossier code, ``t`` terminal, ``v`` vote id, ``c`` its new
    time, district.redating) give their new time to their dossier's counted rating, when
    they are it: the per-procedure figures read the rating's own ``corrected_at``."""
    if not changes:
        return
    dr = dossier_ratings
    asked = {(c["d"], c["t"], c["v"]): c["c"] for c in changes}
    before = [dict(r) for r in conn.execute(
        sa.select(dr.c.dossier_code, dr.c.terminal_id, dr.c.vote_id, dr.c.level, dr.c.scale,
                  dr.c.corrected_at)
        .where(dr.c.dossier_code.in_(sorted({c["d"] for c in changes})))).mappings()
        if (r["dossier_code"], r["terminal_id"], r["vote_id"]) in asked]
    conn.execute(dr.update().where(dr.c.dossier_code == sa.bindparam("d"),
                                   dr.c.terminal_id == sa.bindparam("t"),
                                   dr.c.vote_id == sa.bindparam("v"))
                 .values(corrected_at=sa.bindparam("c")), list(changes))
    # the procedure rollups follow the rating to its new day
    attribution_rollups.move_ratings(conn, [
        (r, dict(r, corrected_at=asked[(r["dossier_code"], r["terminal_id"], r["vote_id"])]))
        for r in before])


def _flag_repeat(row: dict) -> None:
    flags = [f for f in (row["flags"] or "").split(";") if f]
    if REPEAT not in flags:
        row["flags"] = ";".join([*flags, REPEAT])


# --- the dossier list ----------------------------------------------------------------------

# The columns, as one-stop exports name them (Vietnamese or English headers, any case,
# accents and spaces ignored) → our field.
HEADERS = {
    "code": ("ma ho so", "so ho so", "dossier code", "dossier_code", "code"),
    "procedure_code": ("ma thu tuc", "ma thu tuc hanh chinh", "procedure code",
                       "procedure_code"),
    "procedure_name": ("ten thu tuc", "ten thu tuc hanh chinh", "procedure name",
                       "procedure_name", "procedure"),
    "unit_id": ("don vi", "ma don vi", "unit", "unit_id"),
    "received_on": ("ngay tiep nhan", "ngay nhan", "received", "received_on", "received at"),
    "due_on": ("ngay hen tra", "han tra", "due", "due_on", "due at"),
    "finished_on": ("ngay tra ket qua", "ngay hoan thanh", "ngay tra", "finished",
                    "finished_on", "finished at"),
    "officer": ("can bo xu ly", "ma can bo", "nguoi xu ly", "officer", "handling officer"),
}
REQUIRED = ("code", "procedure_code", "procedure_name", "unit_id")
DATE_FIELDS = ("received_on", "due_on", "finished_on")
MAX_ERRORS = 20
CODE_TEXT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_/]{0,99}$")


@dataclass(frozen=True)
class DossierSummary:
    added: int
    updated: int
    unchanged: int

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.unchanged


class DossierErrors(DistrictError):
    """Bad rows: each as ``line N, column C: problem`` (the first MAX_ERRORS)."""

    def __init__(self, source: str, problems: list[tuple[int, str, str, dict]]):
        self.source, self.problems = source, problems
        super().__init__(N_("{source}: {n} problem(s), nothing imported:"),
                         source=source, n=len(problems))

    def translated(self, gettext) -> str:
        lines = [gettext("line {line}, column {column}: {problem}").format(
                     line=line, column=column, problem=gettext(problem).format(**params))
                 for line, column, problem, params in self.problems[:MAX_ERRORS]]
        more = len(self.problems) - MAX_ERRORS
        if more > 0:
            lines.append(gettext("… and {n} more").format(n=more))
        head = gettext("{source}: {n} problem(s), nothing imported:").format(
            source=self.source, n=len(self.problems))
        return head + "\n  " + "\n  ".join(lines)

    def as_details(self) -> list[dict]:
        return [{"loc": [line, column], "msg": problem.format(**params)}
                for line, column, problem, params in self.problems[:MAX_ERRORS]]


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFD", str(text)).replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(text.replace("_", " ").lower().split())


_FOLDED = {_fold(alias): name for name, aliases in HEADERS.items() for alias in aliases}


def read_table(path: str | Path) -> list[list[Any]]:
    """The rows of a CSV (UTF-8, with or without BOM; comma or semicolon) or XLSX file, the
    header first. A file that is neither is a clear error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DistrictError(N_("{path} cannot be read: {error}"), path=path,
                            error=exc.strerror or str(exc)) from None
    if data[:2] == b"PK":  # a zip: XLSX
        return _xlsx_rows(path, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DistrictError(N_("{path} is neither UTF-8 CSV nor an XLSX workbook"),
                            path=path) from None
    return csv_rows(text)


def csv_rows(text: str) -> list[list[Any]]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _xlsx_rows(path: Path, data: bytes) -> list[list[Any]]:
    """The first sheet's rows from A1 (so line numbers are the sheet's). python-calamine
    (Rust) reads 300,000 rows in seconds where openpyxl needs minutes; it gives a formula's
    cached value, though, so a workbook holding formulas is read by openpyxl, which gives
    their text (``=HYPERLINK(…)`` stored as the text it is, never evaluated)."""
    if _has_formulas(data):
        return _openpyxl_rows(path, data)
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        return book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # a broken zip, no sheet, not a workbook…
        raise DistrictError(N_("{path} is not a readable XLSX workbook: {error}"),
                            path=path, error=str(exc)) from None


def _has_formulas(data: bytes) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return any(_FORMULA.search(z.read(name)) for name in z.namelist()
                       if name.startswith("xl/worksheets/") and name.endswith(".xml"))
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
        return True  # let openpyxl say what is wrong with it


_FORMULA = re.compile(rb"<(?:\w+:)?f[ >/]")


def _openpyxl_rows(path: Path, data: bytes) -> list[list[Any]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException…
        raise DistrictError(N_("{path} is not a readable XLSX workbook: {error}"),
                            path=path, error=str(exc)) from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def parse_rows(table: list[list[Any]], source: str) -> list[dict]:
    """Checked dossier rows from a table whose first row is the header: every problem named
    by line and column, or ``DossierErrors`` (nothing is stored)."""
    if not table:
        raise DossierErrors(source, [(1, "*", N_("the file is empty"), {})])
    header = [_FOLDED.get(_fold(h or "")) for h in table[0]]
    problems: list[tuple[int, str, str, dict]] = []
    for i, name in enumerate(header):
        if name is None and str(table[0][i] or "").strip():
            problems.append((1, str(table[0][i]), N_("unknown column"), {}))
    missing = [f for f in REQUIRED if f not in header]
    for name in missing:
        problems.append((1, name, N_("missing column (one of: {aliases})"),
                         {"aliases": ", ".join(HEADERS[name][:2])}))
    if problems:
        raise DossierErrors(source, problems)
    out: list[dict] = []
    seen: dict[str, int] = {}
    check = _RowCheck(header)
    for line, raw in enumerate(table[1:], start=2):
        if not any(str(v).strip() for v in raw if v is not None):
            continue  # a blank line (spreadsheets end with some)
        row, errors = check(raw)
        problems.extend((line, column, problem, params) for column, problem, params in errors)
        if row and row["code"] in seen:
            problems.append((line, "code", N_("dossier {code} is also on line {other}"),
                             {"code": row["code"], "other": seen[row["code"]]}))
        elif row:
            seen[row["code"]] = line
            row["line"] = line
            out.append(row)
    if problems:
        raise DossierErrors(source, problems)
    return out


_OPTIONAL = ("received_on", "due_on", "finished_on", "officer")


class _RowCheck:
    """Checks one row after another of a table with this header (the last column of a
    field wins, as a dict of the cells would). An export of 300,000 dossiers repeats a few
    hundred dates, procedures and officers: each distinct value is parsed and checked
    once, then remembered (the import's rows/s doubled)."""

    def __init__(self, header: list[str | None]):
        self.at = {name: i for i, name in enumerate(header) if name}
        # every field but the code repeats from row to row (a few hundred dates, procedures,
        # units, officers): raw cell → checked value, for the quick way
        self.repeated = [(name, i) for name, i in self.at.items() if name != "code"]
        self.last = max(self.at.values())
        self.good: dict[str, dict] = {name: {} for name, _i in self.repeated}
        self.dates: dict[tuple, dt.date | None | ValueError] = {}
        self.matches: dict[tuple, bool] = {}

    def cell(self, raw: list[Any], name: str) -> Any:
        i = self.at.get(name)
        return raw[i] if i is not None and i < len(raw) else None

    def date(self, value: Any) -> dt.date | None:
        key = (type(value), value)
        got = self.dates.get(key, self)
        if got is self:
            try:
                got = parse_date(value)
            except ValueError as exc:
                got = exc
            self.dates[key] = got
        if isinstance(got, ValueError):
            raise got
        return got

    def fits(self, pattern: re.Pattern, text: str) -> bool:
        key = (pattern.pattern, text)
        ok = self.matches.get(key)
        if ok is None:
            ok = self.matches[key] = pattern.match(text) is not None
        return ok

    def __call__(self, raw: list[Any]) -> tuple[dict | None, list[tuple]]:
        """The row, or its problems: most rows take the quick way (the cells' values seen
        and found good before); anything else goes through every check."""
        return self.quick(raw) or self.checked(raw)

    def quick(self, raw: list[Any]) -> tuple[dict, list] | None:
        if len(raw) <= self.last:
            return None
        code = raw[self.at["code"]]
        if type(code) is not str or not code.isascii() or "\x00" in code:
            return None
        code = code.strip()
        if not code or not CODE_TEXT.match(code):
            return None
        row = {"code": code}
        for name, i in self.repeated:
            cell = raw[i]
            value = self.good[name].get(cell, self)
            if value is self or type(cell) is bool:  # (True == 1: never taken for it)
                return None
            row[name] = value
        for name in _OPTIONAL:
            row.setdefault(name, None)
        finished, received = row["finished_on"], row["received_on"]
        if finished and received and finished < received:
            return None
        return row, []

    def learn(self, raw: list[Any], row: dict) -> None:
        """A good row's repeated cells, remembered for ``quick``."""
        if len(raw) > self.last:
            for name, i in self.repeated:
                if len(self.good[name]) < 10_000 and type(raw[i]) is not bool:
                    self.good[name][raw[i]] = row[name]

    def checked(self, raw: list[Any]) -> tuple[dict | None, list[tuple]]:
        row, errors = self._checked(raw)
        if row is not None:
            self.learn(raw, row)
        return row, errors

    def _checked(self, raw: list[Any]) -> tuple[dict | None, list[tuple]]:
        errors: list[tuple] = []
        row: dict[str, Any] = {}
        for name in REQUIRED:
            value = _text(self.cell(raw, name))
            if not value:
                errors.append((name, N_("empty"), {}))
            row[name] = value
        code = row["code"]
        if code and not CODE_TEXT.match(code):
            errors.append(("code", N_("not a dossier code: {value!r}"), {"value": code[:40]}))
        if row["procedure_code"] and not self.fits(CODE_TEXT, row["procedure_code"]):
            errors.append(("procedure_code", N_("not a procedure code: {value!r}"),
                           {"value": row["procedure_code"][:40]}))
        if len(row["procedure_name"]) > 500:
            errors.append(("procedure_name", N_("longer than 500 characters"), {}))
        for name in DATE_FIELDS:
            value = self.cell(raw, name)
            try:
                row[name] = self.date(value)
            except ValueError:
                errors.append((name, N_("not a date (dd/mm/yyyy or yyyy-mm-dd): {value!r}"),
                               {"value": str(value)[:40]}))
        officer = _text(self.cell(raw, "officer"))
        if officer and not self.fits(OFFICER_CODE, officer):
            errors.append(("officer", N_("not an officer code: {value!r}"),
                           {"value": officer[:40]}))
        row["officer"] = officer or None
        if not errors and row["finished_on"] and row["received_on"] \
                and row["finished_on"] < row["received_on"]:
            errors.append(("finished_on", N_("before the day it was received"), {}))
        return (None if errors else row), errors


def _text(value: Any) -> str:
    """A cell as text, kept as written: a name such as ``=HYPERLINK(…)`` is stored as text
    (never evaluated: openpyxl reads formulas as their text, data_only=False) and shown
    escaped; what the exports write again is made safe there."""
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value.strip()  # (most cells: nothing else to do)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\x00", "").strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON allows them): no database stores it
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def parse_date(value: Any) -> dt.date | None:
    """dd/mm/yyyy (Vietnamese), yyyy-mm-dd, either with a time after it, or a spreadsheet
    date; empty is None; anything else is ``ValueError``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip().split(" ")[0].split("T")[0]
    day = _quick_date(text)
    if day is not None:
        return day
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if 1990 <= day.year <= 2200:
            return day
    raise ValueError(text)


def _quick_date(text: str) -> dt.date | None:
    """dd/mm/yyyy and yyyy-mm-dd without strptime (five times faster: an export has
    hundreds of thousands of dates); None for anything else, left to the slow path."""
    try:
        if len(text) == 10 and text[2] == "/" == text[5] and text.isascii():
            day = dt.date(int(text[6:]), int(text[3:5]), int(text[:2]))
        elif len(text) == 10 and text[4] == "-" == text[7] and text.isascii():
            day = dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
        else:
            return None
    except ValueError:
        return None
    return day if 1990 <= day.year <= 2200 else None


def import_dossiers(engine: Engine, rows: list[dict], source: str,
                    unit: str | None = None) -> DossierSummary:
    """Store checked rows all or nothing. Every unit must exist (and be ``unit`` or below it
    when given: a ward imports its own dossiers); a dossier already stored for another unit
    is refused. Rows equal to what is stored change nothing. The coverage and procedure
    rollups follow in the same transaction (a dossier rated before it was imported brings
    its rating)."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # one import at a time (the new rows are copied in, not upserted); readers and
            # the ingest's claims still read the table meanwhile
            conn.exec_driver_sql("LOCK TABLE dossiers IN SHARE ROW EXCLUSIVE MODE")
        allowed = _units_below(conn, unit) if unit else set(
            conn.execute(sa.select(units.c.id)).scalars())
        if unit and not allowed:
            raise DistrictError(N_("unit {unit} does not exist"), unit=unit)
        existing, ratings = _known(conn, [r["code"] for r in rows])
        problems = []
        for r in rows:
            if r["unit_id"] not in allowed:
                msg = (N_("unit {unit} is not {top} or one of its units") if unit
                       else N_("unknown unit {unit}"))
                problems.append((r["line"], "unit_id", msg, {"unit": r["unit_id"], "top": unit}))
            old = existing.get(r["code"])
            if old is not None and old["unit_id"] != r["unit_id"]:
                problems.append((r["line"], "code", N_("dossier {code} belongs to unit {unit}"),
                                 {"code": r["code"], "unit": old["unit_id"]}))
        if problems:
            raise DossierErrors(source, problems)
        now = utcnow()
        new = [r for r in rows if r["code"] not in existing]
        changed = [r for r in rows if r["code"] in existing
                   and any(existing[r["code"]][f] != r[f] for f in _FIELDS)]
        _insert_new(conn, new, now)
        if changed:
            stmt = (dossiers.update().where(dossiers.c.code == sa.bindparam("b_code"))
                    .values({f: sa.bindparam(f"b_{f}") for f in (*_FIELDS, "imported_at")}))
            conn.execute(stmt, [{"b_code": r["code"], "b_imported_at": now,
                                 **{f"b_{f}": r[f] for f in _FIELDS}} for r in changed])
        if conn.dialect.name == "postgresql" and (new or changed):
            # A vote's claim committed since the ratings were read saw none of these rows
            # (not committed yet) and counted nothing for them: hold the claims until this
            # commits, then count from the ratings as they are now. (SQLite's writers take
            # turns: nothing came in between.)
            conn.exec_driver_sql("LOCK TABLE dossier_ratings IN SHARE MODE")
            _, ratings = _known(conn, [r["code"] for r in (*new, *changed)])
        _count_rollups(conn, new, changed, existing, ratings)
    return DossierSummary(len(new), len(changed), len(rows) - len(new) - len(changed))


_FIELDS = ("procedure_code", "procedure_name", "unit_id", "received_on", "due_on",
           "finished_on", "officer")
_COLUMNS = ("code", *_FIELDS, "imported_at")


def _count_rollups(conn: Connection, new: list[dict], changed: list[dict],
                   existing: dict[str, dict], ratings: dict[str, dict]) -> None:
    """New dossiers in (with the rating they may have already), changed ones moved."""
    from collections import Counter

    if not new and not changed:
        return
    count = attribution_rollups.contributions
    # most new dossiers have no rating yet: counted in one C-level pass
    coverage: Counter = Counter(
        (r["unit_id"], r["officer"] or "", r["finished_on"], "n_finished") for r in new
        if r["finished_on"] is not None and r["code"] not in ratings)
    procedures: Counter = Counter()
    for r in new:
        if r["code"] in ratings:
            count(r, ratings[r["code"]], 1, coverage, procedures)
    for r in changed:
        rating = ratings.get(r["code"])
        count(existing[r["code"]], rating, -1, coverage, procedures)
        count(r, rating, 1, coverage, procedures)
    attribution_rollups.add(conn, coverage, procedures)
    attribution_rollups.name_procedures(conn, [*new, *changed])


def _insert_new(conn: Connection, rows: list[dict], now: dt.datetime) -> None:
    """The new dossiers, in code order (the primary key's pages filled one after another),
    without SQLAlchemy's per-row parameter processing (four times the insert itself at
    300,000 rows): SQLite through the driver's executemany, with the values the column
    types would bind (dates as ISO text, the UTC time as naive text,
    ``district.db.UTCDateTime``); PostgreSQL through COPY (the table is locked for this
    import, so no other can add the same code meanwhile)."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["code"])
    days = {d for r in rows for d in (r["received_on"], r["due_on"], r["finished_on"])}
    if conn.dialect.name == "postgresql":
        _copy_new(conn, rows, days, now)
        return
    stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(
        sep=" ", timespec="microseconds")  # the same moment for every row
    sql = (f"INSERT INTO dossiers ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join(['?'] * len(_COLUMNS))})")
    iso = {d: d and d.isoformat() for d in days}  # a few hundred dates, each written once
    conn.exec_driver_sql(sql, [
        (r["code"], r["procedure_code"], r["procedure_name"], r["unit_id"],
         iso[r["received_on"]], iso[r["due_on"]], iso[r["finished_on"]], r["officer"], stamp)
        for r in rows])


def _copy_new(conn: Connection, rows: list[dict], days: set, now: dt.datetime) -> None:
    """PostgreSQL: the rows as COPY's text format, written in large pieces (psycopg's
    ``write_row`` adapts each value in Python: most of the import's time)."""
    iso = {d: d.isoformat() if d else "\\N" for d in days}
    stamp = now.isoformat()

    def text(value: str | None) -> str:
        if value is None:
            return "\\N"
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (value.replace("\\", "\\\\").replace("\t", "\\t")
                     .replace("\n", "\\n").replace("\r", "\\r"))
        return value

    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(
            f"COPY dossiers ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for start in range(0, len(rows), 10_000):
            copy.write("".join(
                f"{text(r['code'])}\t{text(r['procedure_code'])}\t"
                f"{text(r['procedure_name'])}\t{text(r['unit_id'])}\t{iso[r['received_on']]}\t"
                f"{iso[r['due_on']]}\t{iso[r['finished_on']]}\t{text(r['officer'])}\t{stamp}\n"
                for r in rows[start:start + 10_000]))


def _known(conn: Connection, codes: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """What the server has of these codes, in one pass over them (an import has 300,000):
    the stored dossiers, and the counted ratings (a rating may come before its dossier)."""
    if not codes:
        return {}, {}
    import json

    fields = ", ".join(f"d.{f}" for f in _FIELDS)
    if conn.dialect.name == "postgresql":
        source, param = "unnest(CAST(:codes AS text[])) AS j(value)", codes
    else:
        source, param = "json_each(:codes) AS j", json.dumps(codes)
    stmt = sa.text(
        f"SELECT j.value AS code, d.code AS stored, {fields}, r.level, r.scale, r.corrected_at "
        f"FROM {source} LEFT JOIN dossiers d ON d.code = j.value "
        f"LEFT JOIN dossier_ratings r ON r.dossier_code = j.value "
        f"WHERE d.code IS NOT NULL OR r.dossier_code IS NOT NULL").columns(
        received_on=sa.Date, due_on=sa.Date, finished_on=sa.Date, corrected_at=UTCDateTime)
    existing: dict[str, dict] = {}
    ratings: dict[str, dict] = {}
    for r in conn.execute(stmt, {"codes": param}).mappings():
        if r["stored"] is not None:
            existing[r["code"]] = {"code": r["code"], **{f: r[f] for f in _FIELDS}}
        if r["level"] is not None:
            ratings[r["code"]] = {"level": r["level"], "scale": r["scale"],
                                  "corrected_at": r["corrected_at"]}
    return existing, ratings


def _units_below(conn: Connection, top: str) -> set[str]:
    parent_of = dict(conn.execute(sa.select(units.c.id, units.c.parent_id)).all())
    if top not in parent_of:
        return set()
    below = set()
    for u in parent_of:
        seen, walk = 0, u
        while walk is not None and seen < 64:
            if walk == top:
                below.add(u)
                break
            walk, seen = parent_of.get(walk), seen + 1
    return below


def import_file(engine: Engine, path: str | Path, unit: str | None = None) -> DossierSummary:
    """``district dossiers import FILE``: read, check every row, store all or nothing."""
    return import_dossiers(engine, parse_rows(read_table(path), str(path)), str(path), unit)
