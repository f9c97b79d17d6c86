"""The report's text, once, for both of its forms: the PDF (``templates/report.html``,
WeasyPrint) and the DOCX (python-docx) lay out the same blocks, so they say the same
sentences and print the same figures, in the official's language (the dashboard's catalog).

The frame is Decree 30/2020/NĐ-CP's (Appendix I): the issuing body and the national motto,
the number and the place and date, the title ("BÁO CÁO" and what it is about), the body,
the addressees and the signature block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from district.dashboard import aggregates as agg
from district.dashboard import indices as legal
from district.dashboard.figures import ATTENTION_MIN_VOTES
from district.dashboard.periods import Period
from district.dashboard.report_data import Report

PLACEHOLDER = "……"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # right-aligned columns
    total: list[str] | None = None
    widths: list[float] = field(default_factory=list)  # shares of the text width


@dataclass
class Block:
    kind: str  # heading, paragraph, note, table, chart
    text: str = ""
    table: Table | None = None
    chart: str = ""  # the chart's key (report_charts)

    def __post_init__(self):
        # "89,7 %" never broken between the figure and its sign
        self.text = self.text.replace(" %", "\u00a0%")


@dataclass
class Document:
    parent: str
    issuer: str
    no_word: str  # "Số"
    number: str
    motto: tuple[str, str]
    date_line: str
    title: str
    subtitle: str
    blocks: list[Block]
    recipients_title: str  # "Nơi nhận:"
    recipients: list[str]
    position: str
    sign_hint: str
    signer: str
    chart_titles: dict[str, str]


def period_words(period: Period, _: Callable[[str], str]) -> str:
    """"tháng 11/2026", "Quý 4/2026", "năm 2026": the period as a title names it."""
    label = period.label(_)
    if period.kind == "month":
        return _("month {label}").format(label=label)
    if period.kind == "year":
        return _("year {label}").format(label=label)
    if period.kind == "quarter":
        return label
    return _("the period {label}").format(label=label)


class Words:
    """Numbers as the dashboard writes them in ``lang`` (``1.234,5`` in Vietnamese), a
    fall with a hyphen (the report's fonts have no minus sign)."""

    def __init__(self, lang: str):
        self.lang = lang

    def num(self, value, digits: int = 0) -> str:
        return agg.format_number(value, digits, self.lang)

    def signed(self, value, digits: int = 1) -> str:
        if value is None:
            return "–"
        text = agg.format_number(abs(value), digits, self.lang)
        return ("+" if value > 0 else "-" if value < 0 else "±") + text


def document(report: Report, _: Callable[[str], str], lang: str,
             chart_titles: dict[str, str]) -> Document:
    w = Words(lang)
    sig = report.signature
    d: dt.date = report.made_on
    return Document(
        parent=sig.parent, issuer=sig.issuer, no_word=_("No."),
        number=sig.number or f"{PLACEHOLDER}/BC-{PLACEHOLDER}",
        motto=(_("Socialist Republic of Viet Nam"), _("Independence - Freedom - Happiness")),
        date_line=_("{place}, {day:02d}/{month:02d}/{year}").format(
            place=sig.place or PLACEHOLDER, day=d.day, month=d.month, year=d.year),
        title=_("Report"),
        subtitle=_("Citizens' and organisations' satisfaction with {unit}, {period}").format(
            unit=report.unit_name, period=period_words(report.period, _)),
        blocks=[*_summary(report, _, w), *_units(report, _, w), *_charts(_, chart_titles),
                *_attention(report, _, w), *_fleet(report, _, w), *_not_counted(report, _, w),
                *_indices(report, _, w),
                Block("note", _("Made by Hài Lòng on {date}. The figures are those of the "
                                "dashboard for the same unit and period.").format(
                                    date=f"{report.made_on:%d/%m/%Y}"))],
        recipients_title=_("Recipients:"), recipients=[_("As above;"), _("Archived: Office.")],
        position=sig.position or _("Head of the office"),
        sign_hint="(" + _("Signature, full name and seal") + ")",
        signer=sig.signer or "……………………………", chart_titles=chart_titles)


def _summary(r: Report, _, w: Words) -> list[Block]:
    c, ov, prev = r.total, r.overview, r.overview.total.previous
    return [
        Block("heading", _("I. Summary")),
        Block("paragraph", _(
            "In the period {period} ({start} to {end}), the terminals of {unit} recorded "
            "{votes} counted votes: a satisfaction rate of {rate} % and an index of {index} "
            "out of 100.").format(
                period=r.period.label(_), start=f"{r.period.start:%d/%m/%Y}",
                end=f"{r.period.end:%d/%m/%Y}", unit=r.unit_name, votes=w.num(c.votes),
                rate=w.num(c.satisfaction, 1), index=w.num(c.index, 1))),
        Block("paragraph", _(
            "The previous period ({period}) had {votes} counted votes, a satisfaction rate of "
            "{rate} % and an index of {index}: a change of {d_rate} points in the rate and "
            "{d_index} points in the index.").format(
                period=ov.previous_period.label(_), votes=w.num(prev.votes),
                rate=w.num(prev.satisfaction, 1), index=w.num(prev.index, 1),
                d_rate=w.signed(ov.total.change("satisfaction")),
                d_index=w.signed(ov.total.change("index")))
              if prev.votes and c.votes else _(
            "The previous period ({period}) had {votes} counted votes: there is no change to "
            "give.").format(period=ov.previous_period.label(_), votes=w.num(prev.votes))),
        Block("paragraph", _(
            "Not counted: {n} votes ({test} test, {misuse} suspected misuse, {repeat} of a "
            "dossier already rated, {unknown} whose time is unknown, {refused} refused by the "
            "server); section VI says why.").format(
                n=w.num(r.not_counted), test=w.num(c.test), misuse=w.num(c.misuse),
                repeat=w.num(c.repeat), unknown=w.num(r.time_unknown.votes),
                refused=w.num(sum(n for _e, n in r.rejected)))),
    ]


def _units(r: Report, _, w: Words) -> list[Block]:
    ov, c = r.overview, r.total
    rows = []
    for row in ov.rows:
        name = legal.row_label(row, len(ov.rows), _)
        rows.append([str(row.rank or "–"), name, w.num(row.counts.votes),
                     w.num(row.counts.satisfaction, 1), w.num(row.counts.index, 1),
                     w.num(row.previous.index, 1), w.signed(row.change("index"))])
    total = ["", _("Total"), w.num(c.votes), w.num(c.satisfaction, 1), w.num(c.index, 1),
             w.num(ov.total.previous.index, 1), w.signed(ov.total.change("index"))]
    header = [_("Rank"), _("Unit"), _("Votes"), _("Satisfaction rate (%)"),
              _("Index (0–100)"), _("Previous index"), _("Change in index")]
    return [Block("heading", _("II. Results by unit")),
            Block("table", table=Table(header, rows, [True, False, *[True] * 5], total,
                                       [0.08, 0.32, 0.12, 0.12, 0.12, 0.12, 0.12])),
            Block("note", _("Ranked by index, then satisfaction rate, then votes; units "
                            "without votes are not ranked."))]


def _charts(_, titles: dict[str, str]) -> list[Block]:
    return [Block("heading", _("III. Charts")),
            *(Block("chart", _("Chart {n}: {title}").format(n=i, title=title), chart=key)
              for i, (key, title) in enumerate(titles.items(), 1))]


def _attention(r: Report, _, w: Words) -> list[Block]:
    out = [Block("heading", _("IV. Counters and officers to look at"))]
    if r.attention:
        rows = [[r.names.get(u, u), counter or "–", officer or _("not shown on the terminal"),
                 w.num(c.votes), w.num(c.satisfaction, 1), w.num(c.index, 1)]
                for u, counter, officer, c in r.attention]
        out.append(Block("table", table=Table(
            [_("Unit"), _("Counter"), _("Officer"), _("Votes"), _("Satisfaction rate (%)"),
             _("Index (0–100)")], rows, [False, False, False, True, True, True], None,
            [0.26, 0.14, 0.24, 0.12, 0.12, 0.12])))
    note = _("The lowest indexes of the period among counters and officers with at least {n} "
             "counted votes.").format(n=ATTENTION_MIN_VOTES)
    if not r.attention:
        note += " " + _("None in this period.")
    out.append(Block("note", note))
    return out


def _fleet(r: Report, _, w: Words) -> list[Block]:
    out = [Block("heading", _("V. Terminals: availability")),
           Block("paragraph", _("Of {total} terminals, {full} were heard from (a heartbeat or a "
                                "vote) on every one of the period's {days} days so far.").format(
               total=w.num(r.fleet_total), full=w.num(r.fleet_full), days=w.num(r.fleet_days)))]
    if r.fleet:
        rows = [[a.name, a.unit_name, f"{w.num(a.days_heard)} / {w.num(a.days)}",
                 w.num(a.share, 1)] for a in r.fleet]
        out.append(Block("table", table=Table(
            [_("Terminal"), _("Unit"), _("Days heard from"), _("Availability (%)")], rows,
            [False, False, True, True], None, [0.3, 0.38, 0.16, 0.16])))
    if r.fleet_total > len(r.fleet):
        out.append(Block("note", _("The {n} terminals heard from least are listed.").format(
            n=len(r.fleet))))
    return out


def _not_counted(r: Report, _, w: Words) -> list[Block]:
    c = r.total
    rows = [[_("Test votes (flagged test by a technician)"), w.num(c.test)],
            [_("Suspected misuse (many presses in a row)"), w.num(c.misuse)],
            [_("A dossier already rated (one rating counts per dossier)"), w.num(c.repeat)],
            [_("Time unknown (the terminal's clock could not be trusted; all periods)"),
             w.num(r.time_unknown.votes)]]
    rows += [[_("Refused by the server: {reason}").format(reason=error), w.num(n)]
             for error, n in r.rejected]
    return [Block("heading", _("VI. Votes not counted, and why")),
            Block("table", table=Table([_("Why"), _("Votes")], rows, [False, True],
                                       [_("Total"), w.num(r.not_counted)], [0.8, 0.2]))]


def _indices(r: Report, _, w: Words) -> list[Block]:
    """Section VII: the figures in the terms of Circular 01/2018 and Decision 766/2022."""
    ix = r.indices
    if ix is None:
        return []
    grade = legal.grade_words(_)
    out = [Block("heading", _("VII. Indices of Circular 01/2018/TT-VPCP and Decision "
                              "766/QĐ-TTg")),
           Block("paragraph", _(
               "Circular 01/2018/TT-VPCP scores nine indicators of how a procedure was "
               "handled 0, 1 or 2 points. The terminal collects four of them through the "
               "reason a citizen gives after a negative vote: ({numbers}). A positive vote "
               "scores 2 on each, a vote naming the indicator's reason 0, any other vote 1; "
               "the table gives the mean per indicator (0–2), their total (out of 8) and its "
               "grade.").format(numbers="; ".join(
                   f"{i.number}) {_(i.title)}" for i in legal.INDICATORS)))]
    header = [_("Unit"), _("Votes"), *(f"({i.number}) {_(i.short)}" for i in legal.INDICATORS),
              _("Total (of 8)"), _("Grade")]

    def circ(row: legal.CircularRow, name: str) -> list[str]:
        return [name, w.num(row.counts.votes), *(w.num(s.score, 2) for s in row.scores),
                w.num(row.total, 2), grade(row.grade)]
    rows = [circ(row, legal.row_label(row, len(ix.circular), _)) for row in ix.circular]
    n = len(legal.INDICATORS)
    out.append(Block("table", table=Table(
        header, rows, [False, *[True] * (n + 2), False], circ(ix.circular_total, _("Total")),
        [0.26, 0.09, *[0.1] * n, 0.11, 0.14])))
    out.append(Block("note", _(
        "Grades: good from 75 % of the maximum (1.5 of 2 points; 6 of 8), acceptable from "
        "50 %, not acceptable below (the project's reading: the Circular grades the whole "
        "18-point assessment).")))
    out += _decision_766(ix, _, w)
    return out


def _decision_766(ix, _, w: Words) -> list[Block]:
    out = [Block("paragraph", _(
        "Decision 766/QĐ-TTg (2022) gives satisfaction 18 of its 100 points; one of its ratios "
        "is the share of dossiers without an unsatisfied rating, a complaint or a delay. Of "
        "the dossiers finished in the period (imported from the one-stop software), it counts "
        "those neither finished after their due date nor rated unsatisfied; the coverage is "
        "the share of them that was rated at all."))]
    total = ix.dossiers_total.total
    if not total.finished:
        out.append(Block("note", _("No dossier finished in the period has been imported "
                                   "(district dossiers import).")))
        return out
    header = [_("Unit"), _("Finished dossiers"), _("Late"), _("Rated unsatisfied"),
              _("Decision 766 ratio (%)"), _("Rated"), _("Coverage (%)")]

    def line(name: str, d: legal.Dossiers) -> list[str]:
        return [name, w.num(d.finished), w.num(d.late), w.num(d.unsatisfied),
                w.num(d.ratio, 1), w.num(d.rated), w.num(d.coverage, 1)]
    widths = [0.3, 0.12, 0.1, 0.12, 0.12, 0.1, 0.14]
    numeric = [False, *[True] * 6]
    out.append(Block("table", table=Table(
        header, [line(legal.row_label(r, len(ix.dossiers), _), r.total) for r in ix.dossiers],
        numeric, line(_("Total"), total), widths)))
    if len(ix.months) > 1:
        out.append(Block("table", table=Table(
            [_("Month"), *header[1:]],
            [line(f"{m:%m/%Y}", ix.dossiers_total.months[m]) for m in ix.months],
            numeric, line(_("Total"), total), widths)))
    out.append(Block("note", _(
        "Complaints are not imported (the one-stop export has no column for them), so none "
        "is subtracted. The workbook gives the ratio per unit and month.")))
    return out
