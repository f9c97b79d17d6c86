"""The printed report of a unit and period, as PDF or DOCX (docs/dashboard.md, "The
report"): the figures (``report_data``), the text (``report_doc``), the charts
(``report_charts``), laid out by ``report_pdf`` (WeasyPrint) or ``report_docx``
(python-docx); its workbook by ``report_workbook``. The dashboard's downloads and
``district report`` all call ``make``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from district.dashboard import aggregates as agg
from district.dashboard.periods import Period
from district.dashboard.render import environments, gettext_for, trend_label
from district.dashboard.report_charts import charts
from district.dashboard.report_data import Report, Signature, gather
from district.dashboard.report_doc import document

FORMATS = {"pdf": "application/pdf",
           "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_ENVS: dict = {}


def render(report: Report, fmt: str, lang: str, envs: dict | None = None) -> bytes:
    """The report's file in ``fmt`` (pdf or docx) and ``lang`` (vi or en)."""
    _ = gettext_for(lang)
    drawn = charts(report, _, lambda key: trend_label(key, _))
    doc = document(report, _, lang, {c.key: c.title for c in drawn})
    if fmt == "docx":
        from district.dashboard.report_docx import report_docx

        return report_docx(doc, drawn)
    from district.dashboard.report_pdf import report_pdf

    if envs is None:
        envs = _ENVS or _ENVS.update(environments()) or _ENVS
    return report_pdf(doc, envs[lang], drawn)


def make(engine: Engine, tree: agg.UnitTree, unit: str, period: Period, fmt: str, lang: str,
         signature: Signature | None = None, today: dt.date | None = None,
         envs: dict | None = None) -> bytes:
    if fmt == "xlsx":  # the figures to compute with (report_workbook), no text or charts
        from district.dashboard import periods
        from district.dashboard.report_workbook import report_workbook

        return report_workbook(engine, tree, unit, period, gettext_for(lang),
                               today or periods.today_local())
    return render(gather(engine, tree, unit, period, signature, today), fmt, lang, envs)


def filename(unit: str, period: Period, fmt: str) -> str:
    return f"hailong-{unit}-{period.start:%Y%m%d}-{period.end:%Y%m%d}-report.{fmt}"
