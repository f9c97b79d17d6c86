"""CSV (UTF-8 with BOM, so Excel shows Vietnamese) and Excel (openpyxl write-only) exports.

Text cells that a spreadsheet would run as a formula (starting with = + - @) get a leading
apostrophe in CSV and are written as plain strings in xlsx.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy.engine import Engine

from district.dashboard.aggregates import Counts, Overview, UnitTree, counts_by_day, trend
from district.dashboard.periods import Period
from district.dashboard.rollup import LOCAL_TZ, UTC_OFFSET_S
from district.db import votes

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _pct(value: float | None):
    return None if value is None else round(value, 2)


def csv_stream(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else _safe(v) for v in row])
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
            c = WriteOnlyCell(ws, value=h)
            c.font = bold
            cells.append(c)
        ws.append(cells)
        ws.freeze_panes = "A2"
        for row in rows:
            ws.append(row)
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

def vote_header(_: Callable[[str], str]) -> list[str]:
    return [_("Vote id"), _("Local time"), _("Unit id"), _("Unit"), _("Terminal"),
            _("Level"), _("Scale"), _("Index (0–100)"), _("Counted"), _("Flags"),
            _("Reasons"), _("Counter"), _("Officer"), _("Time uncertain")]


def vote_rows(engine: Engine, tree: UnitTree, unit_ids: list[str], period: Period
              ) -> Iterator[list]:
    """Every vote of the units in the period (local days), oldest first, streamed."""
    start = dt.datetime.combine(period.start, dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(),
                              LOCAL_TZ).astimezone(dt.UTC)
    v = votes.c
    q = (sa.select(v.vote_id, v.corrected_at, v.unit_id, v.terminal_id, v.level, v.scale,
                   v.flags, v.reasons, v.counter, v.officer, v.time_uncertain)
         .where(v.corrected_at >= start, v.corrected_at < end, v.unit_id.in_(unit_ids))
         .order_by(v.corrected_at, v.pk))
    offset = dt.timedelta(seconds=UTC_OFFSET_S)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(q)
        for r in result:
            flags = set(filter(None, (r.flags or "").split(";")))
            counted = not flags & {"test", "suspected_misuse"}
            yield [r.vote_id, (r.corrected_at + offset).replace(tzinfo=None, microsecond=0),
                   r.unit_id, tree.names.get(r.unit_id, r.unit_id), r.terminal_id, r.level,
                   r.scale, round((r.level - 1) / (r.scale - 1) * 100, 2), int(counted),
                   r.flags, r.reasons, r.counter, r.officer, int(bool(r.time_uncertain))]


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
            members = [r.unit_id] if r.own_only else tree.subtree(r.unit_id)
            by_day = counts_by_day(conn, ov.period, members)
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
