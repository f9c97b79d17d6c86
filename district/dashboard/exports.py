"""CSV (UTF-8 with BOM, so Excel shows Vietnamese) and Excel (openpyxl write-only) exports.

No text cell is ever evaluated by a spreadsheet, whatever a unit, terminal, counter or
officer is called: in CSV a text starting with = + - @, a tab or a carriage return gets a
leading apostrophe (what Excel and LibreOffice read as "this is text"); in xlsx every text is
a string cell (openpyxl would write a text starting with = as a formula, so its cells are
typed explicitly; rust_xlsxwriter writes strings as strings).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator

import rustpy_xlsxwriter
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy.engine import Engine

import ballot.vote
from ballot.spreadsheet import text_cell
from district.counting import is_counted, vote_points
from district.dashboard.aggregates import Counts, Overview, UnitTree, counts_by_day, trend
from district.dashboard.periods import Period
from district.db import votes
from district.rollups import LOCAL_TZ, UTC_OFFSET_S

BOM = "\ufeff"
FETCH_ROWS = 10_000


_safe = text_cell  # a CSV cell no spreadsheet evaluates


def _cell(ws, value):
    """A workbook cell: text always a string cell, never a formula; other values as they
    are (numbers stay numbers, dates dates)."""
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"  # openpyxl types a text starting with "=" as a formula
        return cell
    return value


def _pct(value: float | None):
    return None if value is None else round(value, 2)


# The two CSV dialects (issue 16): "comma" (UTF-8 with BOM, "," between fields, "." in
# numbers: what LibreOffice's default import and English Excel read) and "semicolon" (";"
# between fields, "," in numbers: what Excel set to Vietnamese reads, its list separator
# being ";" where the decimal sign is ",").
CSV_DIALECTS = ("comma", "semicolon")


def csv_stream(header: list[str], rows: Iterable[list], dialect: str = "comma"
               ) -> Iterator[bytes]:
    buf = io.StringIO()
    comma = dialect != "semicolon"
    writer = csv.writer(buf, lineterminator="\r\n", delimiter="," if comma else ";")
    buf.write(BOM)
    writer.writerow([_safe(h) for h in header])
    for i, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else
                         _safe(v) if comma or not isinstance(v, float) else
                         repr(v).replace(".", ",") for v in row])
        if i % 2000 == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def xlsx_file(sheets: Iterable[tuple[str, list[str], Iterable[list]]]
              ) -> tempfile.SpooledTemporaryFile:
    """A workbook (write-only: rows stream to disk) as a file object at position 0."""
    wb = Workbook(write_only=True)
    used: set[str] = set()
    bold = Font(bold=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(_sheet_title(title, used))
        cells = []
        for h in header:
            c = _cell(ws, h)
            c.font = bold
            cells.append(c)
        ws.append(cells)
        ws.freeze_panes = "A2"
        for row in rows:
            ws.append([_cell(ws, value) for value in row])
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    wb.save(out)
    out.seek(0)
    return out


def _sheet_title(title: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.casefold() in used:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(name.casefold())
    return name


# --- votes ---------------------------------------------------------------------------------

# The kiosk's codes as officials read them (vote export, unit page): ballot's one list
REASON_NAMES, FLAG_NAMES = ballot.vote.REASON_NAMES, ballot.vote.FLAG_NAMES


def code_words(names: dict[str, str], _: Callable[[str], str]) -> Callable[[str], str]:
    """``"test;suspected_misuse"`` → ``"thử nghiệm; nghi lạm dụng"`` (an unknown code as it
    is), remembered per distinct value: a year's export has a handful of them."""
    memo: dict[str, str] = {"": ""}

    def words(codes: str) -> str:
        text = memo.get(codes)
        if text is None:
            text = memo[codes] = "; ".join(_(names[c]) if c in names else c
                                           for c in codes.split(";") if c)
        return text
    return words


def vote_header(_: Callable[[str], str]) -> list[str]:
    return [_("Vote id"), _("Local time"), _("Unit id"), _("Unit"), _("Terminal"),
            _("Level"), _("Scale"), _("Index (0–100)"), _("Counted"), _("Flags"),
            _("Reasons"), _("Counter"), _("Officer"), _("Time uncertain")]


def vote_rows(engine: Engine, tree: UnitTree, unit_ids: list[str], period: Period,
              _: Callable[[str], str] = str) -> Iterator[list]:
    """Every vote of the units in the period (local days), oldest first, streamed; flags
    and reasons in words of ``_``'s language.

    Local time comes back as a naive datetime (whole seconds); numbers stay numbers. Rows are
    fetched in chunks of ``FETCH_ROWS`` (a server-side cursor on PostgreSQL), so memory stays
    bounded whatever the period.
    """
    start = dt.datetime.combine(period.start, dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(),
                              LOCAL_TZ).astimezone(dt.UTC)
    v = votes.c
    # The plain DateTime type (not UTCDateTime) skips a Python conversion per row: SQLite
    # gives naive UTC, PostgreSQL an aware timestamp; both become local time below.
    q = (sa.select(v.vote_id, sa.type_coerce(v.corrected_at, sa.DateTime()), v.unit_id,
                   v.terminal_id, v.level, v.scale, v.flags, v.reasons, v.counter, v.officer,
                   v.time_uncertain)
         .where(v.corrected_at >= start, v.corrected_at < end, v.unit_id.in_(unit_ids))
         .order_by(v.corrected_at, v.pk))
    offset = dt.timedelta(seconds=UTC_OFFSET_S)
    names = tree.names
    index_of: dict[tuple[int, int], float] = {}
    flag_words, reason_words = code_words(FLAG_NAMES, _), code_words(REASON_NAMES, _)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A cursor makes PostgreSQL plan for the first 10 % of rows: it walks the
            # whole year in corrected_at order and filters the units (30 s at 10 M votes
            # for one district) instead of reading the district's index range and sorting
            # (0.5 s). Every row is read, so plan for all of them.
            conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
        result = conn.execution_options(yield_per=FETCH_ROWS).execute(q)
        for (vote_id, at, unit_id, terminal_id, level, scale, flags, reasons, counter, officer,
             uncertain) in result:
            if at.tzinfo is None:
                at = at + offset
            else:
                at = at.astimezone(LOCAL_TZ).replace(tzinfo=None)
            if at.microsecond:
                at = at.replace(microsecond=0)
            index = index_of.get((level, scale))
            if index is None:
                index = index_of[(level, scale)] = round(vote_points(level, scale), 2)
            flags = flags or ""
            counted = int(is_counted(flags))  # remembered per distinct flags (lru_cache)
            yield [vote_id, at, unit_id, names.get(unit_id, unit_id), terminal_id, level, scale,
                   index, counted, flag_words(flags), reason_words(reasons or ""), counter,
                   officer, int(bool(uncertain))]


# Vote columns written as text (``vote_header`` order): an empty one stays a blank cell.
VOTE_TEXT_COLUMNS = (9, 10, 11, 12)


def votes_xlsx(header: list[str], rows: Iterable[list], sheet: str = "Votes"
               ) -> tempfile.SpooledTemporaryFile:
    """The vote export as a workbook, streamed by rust_xlsxwriter (``rustpy-xlsxwriter``).

    A year of a district is 300 k votes × 14 columns: openpyxl (even write-only with lxml)
    takes 40–50 s, XlsxWriter ~9 s (~3.5 µs a cell in Python), rust_xlsxwriter ~4 s with
    flat memory (rows stream from the database cursor through a generator). Cells keep
    their types: text is a string cell (never read as a formula or a URL), numbers are
    numbers, the local time a date with a date format.
    """
    blank_if_empty = [i in VOTE_TEXT_COLUMNS for i in range(len(header))]

    def records():
        for row in rows:
            yield {title: (None if empty and not value else value)
                   for title, value, empty in zip(header, row, blank_if_empty, strict=True)}

    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    rustpy_xlsxwriter.write_worksheet(
        records(), out, sheet_name=_sheet_title(sheet, set()), bold_headers=True,
        freeze_row=1, datetime_format="yyyy-mm-dd hh:mm:ss", column_widths={header[1]: 19})
    out.seek(0)
    return out


def csv_vote_rows(rows: Iterable[list]) -> Iterator[list]:
    for row in rows:
        row[1] = row[1].isoformat(sep=" ")
        yield row


# --- period summary ------------------------------------------------------------------------

def summary_header(_: Callable[[str], str]) -> list[str]:
    return [_("Rank"), _("Unit id"), _("Unit"), _("Votes"), _("Positive"), _("Negative"),
            _("Satisfaction rate (%)"), _("Index (0–100)"), _("Previous index"),
            _("Change in index"), _("Change in satisfaction rate (points)"),
            _("Excluded: test"), _("Excluded: misuse")]


def summary_rows(ov: Overview, _: Callable[[str], str]) -> list[list]:
    out = []
    for r in ov.rows:
        name = r.name + (" " + _("(own terminals)") if r.own_only and len(ov.rows) > 1 else "")
        out.append(_summary_row(r.rank, r.unit_id, name, r.counts, r.previous, r))
    out.append(_summary_row(None, ov.total.unit_id, _("Total") + ": " + ov.total.name,
                            ov.total.counts, ov.total.previous, ov.total))
    return out


def _summary_row(rank, unit_id, name, c: Counts, prev: Counts, row) -> list:
    return [rank, unit_id, name, c.votes, c.positive, c.negative, _pct(c.satisfaction),
            _pct(c.index), _pct(prev.index), _pct(row.change("index")),
            _pct(row.change("satisfaction")), c.test, c.misuse]


def daily_header(_: Callable[[str], str]) -> list[str]:
    return [_("Date"), _("Votes"), _("Positive"), _("Negative"), _("Satisfaction rate (%)"),
            _("Index (0–100)"), _("Excluded: test"), _("Excluded: misuse"),
            _("Reason: waiting time"), _("Reason: too many trips"),
            _("Reason: unclear guidance"), _("Reason: officer attitude"), _("Reason: other")]


def monthly_workbook(engine: Engine, tree: UnitTree, ov: Overview, _: Callable[[str], str]):
    """Ranked summary sheet first, then one sheet per unit row with its days."""
    sheets = [(_("Summary"), summary_header(_), summary_rows(ov, _))]
    with engine.connect() as conn:
        for r in ov.rows:
            by_day = counts_by_day(conn, ov.period, r.unit_id, own_only=r.own_only)
            rows = []
            for key, c in trend(by_day, ov.period, "day"):
                rows.append([dt.date.fromisoformat(key), c.votes, c.positive, c.negative,
                             _pct(c.satisfaction), _pct(c.index), c.test, c.misuse,
                             *c.reasons.values()])
            tot = r.counts
            rows.append([_("Total"), tot.votes, tot.positive, tot.negative,
                         _pct(tot.satisfaction), _pct(tot.index), tot.test, tot.misuse,
                         *tot.reasons.values()])
            sheets.append((r.name, daily_header(_), rows))
    return xlsx_file(sheets)
