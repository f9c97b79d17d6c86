"""The report as PDF: ``templates/report.html`` (Jinja, the dashboard's own environment)
lays out ``report_doc``'s blocks, WeasyPrint makes the pages, with the bundled Noto Serif
(Decree 30/2020 asks for a serif face of the Vietnamese alphabet; Noto Serif has every
diacritic) and the charts as PNG.

WeasyPrint, not fpdf2 (which draws the badge sheets): a report is flowing text and tables
that break across pages with their header repeated, which HTML and CSS paged media say in
a few lines and fpdf2 would have us compute by hand.
"""

from __future__ import annotations

import base64

import jinja2

from district.dashboard.render import TEMPLATES
from district.dashboard.report_charts import FONTS, Chart
from district.dashboard.report_doc import Document


def report_html(doc: Document, env: jinja2.Environment, drawn: list[Chart]) -> str:
    charts = {c.key: "data:image/png;base64," + base64.b64encode(c.png).decode()
              for c in drawn}
    return env.get_template("report.html").render(doc=doc, charts=charts, fonts=FONTS.as_uri())


def report_pdf(doc: Document, env: jinja2.Environment, drawn: list[Chart]) -> bytes:
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    html = report_html(doc, env, drawn)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(
        font_config=FontConfiguration())
