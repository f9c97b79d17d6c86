"""The report's workbook (``report.xlsx``): the same unit and period as the PDF, fit to print
and to compute with (docs/dashboard.md, "The report's workbook").

- a title block on every sheet (the unit, the period, the day it was made);
- column widths from the content, dates as dd/mm/yyyy, counts ``#,##0``, rates ``0.0``;
- the header row frozen and repeated on every printed page; A4, landscape where wide,
  fitted to the page's width;
- the summary sheet ranked as the dashboard ranks; totals, satisfaction rates and indexes
  are formulas (over the counts and the index points beside them), which Excel and
  LibreOffice recompute to the dashboard's values;
- one chart per sheet: the index by unit on the summary, the index by day on each unit's;
- the index sheets last (``indices``): Circular 01/2018's four indicators per unit (the
  scores, total and grade as formulas over the counts), Decision 766's ratio and the
  coverage per unit and month (formulas over the dossier counts).

Every text is a string cell, whatever a unit is called (a name starting with ``=`` is never
a formula: ``exports``' rule); the only formulas are the ones written here.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.engine import Engine

from district.counting import POINTS
from district.dashboard import aggregates as agg
from district.dashboard import indices as legal
from district.dashboard.exports import REASON_NAMES, _sheet_title
from district.dashboard.periods import Period

HEADER_ROW = 5  # rows 1–3: the title block; 4 empty
COUNT, RATE, DATE = "#,##0", "0.0", "dd/mm/yyyy"
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDE3EA")
THIN = Side(style="thin", color="999999")
GRID = Border(top=THIN, bottom=THIN, left=THIN, right=THIN)


def points(c: agg.Counts) -> float:
    """The sum of the counted votes' index points: index = points / votes."""
    return sum(n * POINTS[key] for key, n in c.levels.items())


def text(ws: Worksheet, row: int, col: int, value: str, **style):
    cell = ws.cell(row=row, column=col)
    cell.value = value
    cell.data_type = "s"  # never a formula, whatever the text
    for k, v in style.items():
        setattr(cell, k, v)
    return cell


def _title(ws: Worksheet, title: str, period: Period, made: dt.date, _) -> None:
    text(ws, 1, 1, title, font=Font(bold=True, size=14))
    text(ws, 2, 1, _("Period: {label} ({start} – {end})").format(
        label=period.label(_), start=f"{period.start:%d/%m/%Y}", end=f"{period.end:%d/%m/%Y}"))
    text(ws, 3, 1, _("Made on {date} by Hài Lòng").format(date=f"{made:%d/%m/%Y}"),
         font=Font(italic=True))


def _header(ws: Worksheet, header: list[str]) -> None:
    for col, h in enumerate(header, 1):
        text(ws, HEADER_ROW, col, h, font=BOLD, fill=HEAD_FILL, border=GRID,
             alignment=Alignment(wrap_text=True, vertical="center", horizontal="center"))
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"


ONE_PAGE_ROWS = 40  # a month's days and its chart fit on one landscape page


def _print_setup(ws: Worksheet, columns: int, rows: int) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if columns > 8 else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    # a page wide; a month on one page, a longer period as many pages down as it needs
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if rows <= ONE_PAGE_ROWS else 0
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.oddFooter.center.text = "&P / &N"


def _widths(ws: Worksheet, header: list[str], first: int, last: int) -> None:
    """Each column as wide as its longest value (dates and numbers as shown), its header
    wrapped at its longest word; at most 45 characters."""
    for col in range(1, len(header) + 1):
        longest = max((len(w) for w in header[col - 1].split()), default=4)
        for row in range(first, last + 1):
            cell = ws.cell(row=row, column=col)
            v = cell.value
            if cell.data_type == "f":
                n = 9  # a formula's value: a count or a rate
            elif isinstance(v, dt.date):
                n = 10
            elif isinstance(v, float):
                n = len(f"{v:,.1f}")
            elif isinstance(v, int):
                n = len(f"{v:,}")
            else:
                n = len(str(v or ""))
            longest = max(longest, n)
        ws.column_dimensions[get_column_letter(col)].width = min(45, longest + 2)
    # the header row tall enough for its longest wrapped header (no cut header)
    lines = max(-(-len(h) // max(1, int(ws.column_dimensions[get_column_letter(i)].width) - 1))
                for i, h in enumerate(header, 1))
    ws.row_dimensions[HEADER_ROW].height = 15 * max(1, lines) + 3


def _rate_formulas(row: int, votes: str, positive: str, pts: str) -> tuple[str, str]:
    return (f'=IF({votes}{row}>0,{positive}{row}/{votes}{row}*100,"")',
            f'=IF({votes}{row}>0,{pts}{row}/{votes}{row},"")')


def summary_sheet(ws: Worksheet, ov: agg.Overview, made: dt.date, _) -> None:
    header = [_("Rank"), _("Unit id"), _("Unit"), _("Votes"), _("Positive"), _("Negative"),
              _("Index points"), _("Satisfaction rate (%)"), _("Index (0–100)"),
              _("Previous index"), _("Change in index"), _("Excluded: test"),
              _("Excluded: misuse")]
    _title(ws, _("Satisfaction by unit: {unit}").format(unit=ov.total.name), ov.period, made, _)
    _header(ws, header)
    first = row = HEADER_ROW + 1
    for r in ov.rows:
        name = legal.row_label(r, len(ov.rows), _)
        c = r.counts
        ws.cell(row=row, column=1, value=r.rank)
        text(ws, row, 2, r.unit_id)
        text(ws, row, 3, name)
        for col, v in ((4, c.votes), (5, c.positive), (6, c.negative), (7, points(c)),
                       (10, r.previous.index), (12, c.test), (13, c.misuse)):
            ws.cell(row=row, column=col, value=v)
        ws.cell(row=row, column=8).value, ws.cell(row=row, column=9).value = \
            _rate_formulas(row, "D", "E", "G")
        ws.cell(row=row, column=11).value = \
            f'=IF(AND(ISNUMBER(I{row}),ISNUMBER(J{row})),I{row}-J{row},"")'
        row += 1
    last = row - 1
    text(ws, row, 3, _("Total"), font=BOLD)
    for col in (4, 5, 6, 7, 12, 13):
        letter = get_column_letter(col)
        ws.cell(row=row, column=col).value = f"=SUM({letter}{first}:{letter}{last})"
    ws.cell(row=row, column=8).value, ws.cell(row=row, column=9).value = \
        _rate_formulas(row, "D", "E", "G")
    ws.cell(row=row, column=10, value=ov.total.previous.index)
    ws.cell(row=row, column=11).value = \
        f'=IF(AND(ISNUMBER(I{row}),ISNUMBER(J{row})),I{row}-J{row},"")'
    for col in range(1, len(header) + 1):
        ws.cell(row=row, column=col).font = BOLD
    _formats(ws, first, row, counts=(1, 4, 5, 6, 12, 13), rates=(7, 8, 9, 10, 11))
    _widths(ws, header, first, row)
    _print_setup(ws, len(header), row - first + 1)
    if last >= first:
        chart = BarChart()
        chart.gapWidth = 40
        chart.type, chart.style = "bar", 10
        chart.title, chart.y_axis.title = _("Index by unit"), _("Index (0–100)")
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        chart.add_data(Reference(ws, min_col=9, min_row=HEADER_ROW, max_row=last),
                       titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=3, min_row=first, max_row=last))
        chart.x_axis.scaling.orientation = "maxMin"  # the first ranked at the top
        chart.legend = None
        chart.height, chart.width = max(7.5, 0.6 * (last - first + 1) + 3), 16
        ws.add_chart(chart, f"B{row + 3}")


def _formats(ws: Worksheet, first: int, last: int, counts=(), rates=(), dates=()) -> None:
    for row in range(first, last + 1):
        for cols, fmt in ((counts, COUNT), (rates, RATE), (dates, DATE)):
            for col in cols:
                ws.cell(row=row, column=col).number_format = fmt
        for col in range(1, ws.max_column + 1):
            ws.cell(row=row, column=col).border = GRID


def unit_sheet(ws: Worksheet, row_of: agg.Row, days: list[tuple[str, agg.Counts]],
               period: Period, made: dt.date, _) -> None:
    reasons = list(REASON_NAMES)
    header = [_("Date"), _("Votes"), _("Positive"), _("Negative"), _("Index points"),
              _("Satisfaction rate (%)"), _("Index (0–100)"), _("Excluded: test"),
              _("Excluded: misuse"), *(_(REASON_NAMES[r]) for r in reasons)]
    _title(ws, row_of.name, period, made, _)
    _header(ws, header)
    first = row = HEADER_ROW + 1
    for key, c in days:
        ws.cell(row=row, column=1, value=dt.date.fromisoformat(key))
        for col, v in ((2, c.votes), (3, c.positive), (4, c.negative), (5, points(c)),
                       (8, c.test), (9, c.misuse)):
            ws.cell(row=row, column=col, value=v)
        for i, code in enumerate(reasons):
            ws.cell(row=row, column=10 + i, value=c.reasons.get(code, 0))
        ws.cell(row=row, column=6).value, ws.cell(row=row, column=7).value = \
            _rate_formulas(row, "B", "C", "E")
        row += 1
    last = row - 1
    text(ws, row, 1, _("Total"), font=BOLD)
    for col in [2, 3, 4, 5, 8, 9, *range(10, 10 + len(reasons))]:
        letter = get_column_letter(col)
        ws.cell(row=row, column=col).value = f"=SUM({letter}{first}:{letter}{last})"
    ws.cell(row=row, column=6).value, ws.cell(row=row, column=7).value = \
        _rate_formulas(row, "B", "C", "E")
    for col in range(1, len(header) + 1):
        ws.cell(row=row, column=col).font = BOLD
    _formats(ws, first, row, counts=(2, 3, 4, 8, 9, *range(10, 10 + len(reasons))),
             rates=(5, 6, 7), dates=(1,))
    _widths(ws, header, first, row)
    _print_setup(ws, len(header), row - first + 1)
    if last >= first:
        chart = LineChart()
        chart.title, chart.y_axis.title = _("Index by day"), _("Index (0–100)")
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        chart.add_data(Reference(ws, min_col=7, min_row=HEADER_ROW, max_row=last),
                       titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
        chart.x_axis.number_format = "dd/mm"
        chart.legend = None
        chart.height, chart.width = 6.5, 24
        ws.add_chart(chart, f"B{row + 3}")


def report_workbook(engine: Engine, tree: agg.UnitTree, unit: str, period: Period,
                    _: Callable[[str], str], made: dt.date) -> bytes:
    """The summary sheet (ranked), then one sheet per row of it with its days."""
    with engine.connect() as conn:
        ov = agg.overview(conn, tree, unit, period)
        by_row = [(r, agg.trend(agg.counts_by_day(conn, period, r.unit_id,
                                                  own_only=r.own_only), period, "day"))
                  for r in ov.rows]
        ix = legal.compute(conn, tree, unit, period, ov)
    wb = Workbook()
    used: set[str] = set()
    ws = wb.active
    ws.title = _sheet_title(_("Summary"), used)
    summary_sheet(ws, ov, made, _)
    for r, days in by_row:
        unit_sheet(wb.create_sheet(_sheet_title(r.name, used)), r, days, period, made, _)
    circular_sheet(wb.create_sheet(_sheet_title(_("Circular 01"), used)), ix, made, _)
    decision_sheet(wb.create_sheet(_sheet_title(_("Decision 766"), used)), ix, made, _)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _bar_chart(ws: Worksheet, title: str, axis: str, col: int, first: int, last: int,
               below: int, top: float) -> None:
    chart = BarChart()
    chart.type, chart.style, chart.gapWidth = "bar", 10, 40
    chart.title, chart.y_axis.title = title, axis
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, top
    chart.add_data(Reference(ws, min_col=col, min_row=first, max_row=last))
    chart.set_categories(Reference(ws, min_col=2, min_row=first, max_row=last))
    chart.x_axis.scaling.orientation = "maxMin"
    chart.legend = None
    chart.height, chart.width = max(7.5, 0.6 * (last - first + 1) + 3), 16
    ws.add_chart(chart, f"B{below + 3}")


def circular_sheet(ws: Worksheet, ix: legal.Indices, made: dt.date, _) -> None:
    """Circular 01/2018: per unit, the votes naming each indicator's reason and the scores
    computed from them (formulas): 2 × positive + (votes − positive − named), over votes."""
    n = len(legal.INDICATORS)
    header = [_("Unit id"), _("Unit"), _("Votes"), _("Positive")]
    for i in legal.INDICATORS:
        header += [_("({n}) {name}: reason named").format(n=i.number, name=_(i.short)),
                   _("({n}) {name}: score (0–2)").format(n=i.number, name=_(i.short))]
    header += [_("Total (of 8)"), _("Grade")]
    _title(ws, _("Circular 01/2018/TT-VPCP indicators: {unit}").format(unit=ix.name),
           ix.period, made, _)
    _header(ws, header)
    words = legal.grade_words(_)
    good, fair = (share * legal.MAX_SCORE * n for share, _g in legal.GRADES[:2])
    total_col = 5 + 2 * n
    first = row = HEADER_ROW + 1
    rows = [(r, legal.row_label(r, len(ix.circular), _)) for r in ix.circular]
    for r, name in [*rows, (ix.circular_total, _("Total"))]:
        is_total = r is ix.circular_total
        if not is_total:
            text(ws, row, 1, r.unit_id)
        text(ws, row, 2, name)
        if is_total and row > first:
            for col in [3, 4, *range(5, total_col, 2)]:
                letter = get_column_letter(col)
                ws.cell(row=row, column=col).value = f"=SUM({letter}{first}:{letter}{row - 1})"
        else:
            ws.cell(row=row, column=3, value=r.counts.votes)
            ws.cell(row=row, column=4, value=r.counts.positive)
            for k, s in enumerate(r.scores):
                ws.cell(row=row, column=5 + 2 * k, value=s.poor)
        scores = []
        for k in range(n):
            named = get_column_letter(5 + 2 * k)
            ws.cell(row=row, column=6 + 2 * k).value = (
                f'=IF(C{row}>0,(2*D{row}+MAX(0,C{row}-D{row}-{named}{row}))/C{row},"")')
            scores.append(f"{get_column_letter(6 + 2 * k)}{row}")
        total = f"{get_column_letter(total_col)}{row}"
        ws.cell(row=row, column=total_col).value = f'=IF(C{row}>0,{"+".join(scores)},"")'
        ws.cell(row=row, column=total_col + 1).value = (
            f'=IF({total}="","",IF({total}>={good:g},"{words("good")}",'
            f'IF({total}>={fair:g},"{words("fair")}","{words("poor")}")))')
        if is_total:
            for col in range(1, len(header) + 1):
                ws.cell(row=row, column=col).font = BOLD
        row += 1
    last = row - 1
    _formats(ws, first, last, counts=(3, 4, *range(5, total_col, 2)),
             rates=(*range(6, total_col, 2), total_col))
    for r in range(first, last + 1):
        for col in (*range(6, total_col, 2), total_col):
            ws.cell(row=r, column=col).number_format = "0.00"
    _widths(ws, header, first, last)
    ws.column_dimensions[get_column_letter(total_col + 1)].width = max(
        14, *(len(words(g)) + 4 for _s, g in legal.GRADES))
    _print_setup(ws, len(header), last - first + 1)
    if last > first:
        _bar_chart(ws, _("Total of the four indicators (of 8)"), _("Total (of 8)"),
                   total_col, first, last - 1, last, legal.MAX_SCORE * n)


def decision_sheet(ws: Worksheet, ix: legal.Indices, made: dt.date, _) -> None:
    """Decision 766/QĐ-TTg: per unit and month, the dossiers finished, those late or rated
    unsatisfied, the ratio of the others and the coverage (formulas over the counts)."""
    header = [_("Unit id"), _("Unit"), _("Month"), _("Finished dossiers"), _("Late"),
              _("Rated unsatisfied"), _("Late or rated unsatisfied"), _("Rated"),
              _("Decision 766 ratio (%)"), _("Coverage (%)")]
    _title(ws, _("Decision 766/QĐ-TTg: dossiers without an unsatisfied rating, complaint or "
                 "delay: {unit}").format(unit=ix.name), ix.period, made, _)
    # (in the title block's spare row: a text below the table would spill out of its cell)
    text(ws, HEADER_ROW - 1, 1, _("Complaints are not imported (the one-stop export has no "
                                  "column for them), so none is subtracted."),
         font=Font(italic=True))
    _header(ws, header)
    first = row = HEADER_ROW + 1
    for month in ix.months:  # month by month, as the ratio is published
        for r in ix.dossiers:
            name = legal.row_label(r, len(ix.dossiers), _)
            d = r.months[month]
            text(ws, row, 1, r.unit_id)
            text(ws, row, 2, name)
            ws.cell(row=row, column=3, value=month)
            for col, v in ((4, d.finished), (5, d.late), (6, d.unsatisfied), (7, d.flagged),
                           (8, d.rated)):
                ws.cell(row=row, column=col, value=v)
            _dossier_formulas(ws, row)
            row += 1
    last = row - 1
    text(ws, row, 2, _("Total"), font=BOLD)
    for col in range(4, 9):
        letter = get_column_letter(col)
        ws.cell(row=row, column=col).value = f"=SUM({letter}{first}:{letter}{last})"
    _dossier_formulas(ws, row)
    for col in range(1, len(header) + 1):
        ws.cell(row=row, column=col).font = BOLD
    _formats(ws, first, row, counts=(4, 5, 6, 7, 8), rates=(9, 10))
    for r in range(first, last + 1):
        ws.cell(row=r, column=3).number_format = "mm/yyyy"
    _widths(ws, header, first, row)
    _print_setup(ws, len(header), row - first + 1)
    if last >= first:  # the last month's rows
        _bar_chart(ws, _("Decision 766 ratio (%), {month}").format(
            month=f"{ix.months[-1]:%m/%Y}"), _("Decision 766 ratio (%)"), 9,
            last - len(ix.dossiers) + 1, last, row + 1, 100)


def _dossier_formulas(ws: Worksheet, row: int) -> None:
    ws.cell(row=row, column=9).value = f'=IF(D{row}>0,(D{row}-G{row})/D{row}*100,"")'
    ws.cell(row=row, column=10).value = f'=IF(D{row}>0,H{row}/D{row}*100,"")'
