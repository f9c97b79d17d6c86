"""The report as DOCX (python-docx), for an office that edits before it signs: the same
blocks as the PDF (``report_doc``), in the layout Decree 30/2020 gives for a Word document:
A4, margins 20 mm top and bottom, 30 mm left, 15 mm right, Times New Roman 13 pt (the
decree's font; LibreOffice shows it as the metric-compatible Liberation Serif), the page
number at the top centre from page 2, tables with their header row repeated on every page.
"""

from __future__ import annotations

import io

from docx import Document as new_document
from docx.enum.section import WD_SECTION_START
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from district.dashboard.report_charts import Chart
from district.dashboard.report_doc import Document, Table

FONT = "Times New Roman"
TEXT_WIDTH_CM = 21 - 3 - 1.5


def report_docx(doc: Document, drawn: list[Chart]) -> bytes:
    out = new_document()
    _page(out)
    _head(out, doc)
    charts = {c.key: c.png for c in drawn}
    for b in doc.blocks:
        if b.kind == "heading":
            p = out.add_paragraph()
            p.paragraph_format.space_before, p.paragraph_format.keep_with_next = Pt(8), True
            p.add_run(b.text).bold = True
        elif b.kind == "paragraph":
            p = out.add_paragraph(b.text)
            p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
            p.paragraph_format.first_line_indent = Cm(1)
        elif b.kind == "note":
            p = out.add_paragraph()
            run = p.add_run(b.text)
            run.italic, run.font.size = True, Pt(11)
        elif b.kind == "chart":
            out.add_picture(io.BytesIO(charts[b.chart]), width=Cm(TEXT_WIDTH_CM))
            out.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            p = out.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run(b.text).italic = True
        elif b.kind == "table":
            _table(out, b.table)
    _signature(out, doc)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def _page(out) -> None:
    style = out.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(13)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    style.paragraph_format.space_after = Pt(3)
    section = out.sections[0]
    section.start_type = WD_SECTION_START.NEW_PAGE
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(1.5)
    section.different_first_page_header_footer = True  # no number on the first page
    p = section.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _field(p, "PAGE")


def _field(paragraph, code: str) -> None:
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, code), ("separate", None), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)


def _rule(paragraph) -> None:
    """A short line under the paragraph (under the issuing body and under the motto)."""
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{key}"), value)
    border.append(bottom)
    paragraph._p.get_or_add_pPr().append(border)


def _cell_text(cell, lines: list[tuple[str, dict]], size: float = 12.5) -> None:
    cell.paragraphs[0].text = ""
    for i, (text, style) in enumerate(lines):
        p = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        run = p.add_run(text)
        run.font.size = Pt(style.get("size", size))
        run.bold, run.italic = style.get("bold", False), style.get("italic", False)
        if style.get("rule"):  # a line of its own, narrower than the text above it
            line = cell.add_paragraph()
            line.paragraph_format.space_after = Pt(4)
            line.paragraph_format.left_indent = line.paragraph_format.right_indent = \
                Cm(style["rule"])
            line.add_run().font.size = Pt(2)
            _rule(line)


def _head(out, doc: Document) -> None:
    table = out.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, [Cm(6.5), Cm(10)])
    left, right = table.rows[0].cells
    issuer = [(doc.parent.upper(), {})] if doc.parent else []
    issuer += [(doc.issuer.upper(), {"bold": True, "rule": 1.5}),
               (f"{doc.no_word}: {doc.number}", {"size": 13})]
    _cell_text(left, issuer)
    _cell_text(right, [(doc.motto[0].upper(), {"bold": True}),
                       (doc.motto[1], {"bold": True, "size": 13.5, "rule": 2}),
                       (doc.date_line, {"italic": True, "size": 13.5})])
    for text, bold, size in ((doc.title.upper(), True, 14), (doc.subtitle, True, 13.5)):
        p = out.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.space_before = Pt(12 if text == doc.title.upper() else 0)
        run = p.add_run(text)
        run.bold, run.font.size = bold, Pt(size)


def _table(out, t: Table) -> None:
    table = out.add_table(rows=1, cols=len(t.header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = [Cm(TEXT_WIDTH_CM * s) for s in t.widths] if t.widths else None
    if widths:
        _widths(table, widths)
    header = table.rows[0]
    repeat = OxmlElement("w:tblHeader")  # the header row again on every page
    repeat.set(qn("w:val"), "true")
    header._tr.get_or_add_trPr().append(repeat)
    rows = [(t.header, True)] + [(r, False) for r in t.rows]
    if t.total:
        rows.append((t.total, True))
    for i, (cells, bold) in enumerate(rows):
        row = header if i == 0 else table.add_row()
        for j, text in enumerate(cells):
            cell = row.cells[j]
            if widths:
                cell.width = widths[j]
            p = cell.paragraphs[0]
            p.paragraph_format.space_after = Pt(0)
            p.alignment = (WD_ALIGN_PARAGRAPH.CENTER if i == 0 else
                           WD_ALIGN_PARAGRAPH.RIGHT if t.numeric[j] else WD_ALIGN_PARAGRAPH.LEFT)
            run = p.add_run(text)
            run.bold, run.font.size = bold, Pt(10.5)
    out.add_paragraph().paragraph_format.space_after = Pt(0)


def _widths(table, widths) -> None:
    """Fixed column widths: Word reads the cells', LibreOffice the grid's."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
        for cell in column.cells:
            cell.width = width


def _signature(out, doc: Document) -> None:
    table = out.add_table(rows=1, cols=2)
    _widths(table, [Cm(7.5), Cm(9)])
    left, right = table.rows[0].cells
    p = left.paragraphs[0]
    run = p.add_run(doc.recipients_title)
    run.bold, run.italic, run.font.size = True, True, Pt(12)
    for line in doc.recipients:
        q = left.add_paragraph()
        q.paragraph_format.space_after = Pt(0)
        q.add_run("- " + line).font.size = Pt(11)
    _cell_text(right, [(doc.position.upper(), {"bold": True, "size": 13}),
                       (doc.sign_hint, {"italic": True, "size": 12}),
                       ("", {}), ("", {}), ("", {}), ("", {}),
                       (doc.signer, {"bold": True, "size": 13})])
