"""The report's four charts (trend, index by unit, levels, reasons), drawn by matplotlib
once per report as PNG at 160 dpi (sharp on paper), the same image in the PDF and the
DOCX. PNG rather than SVG: WeasyPrint takes ~1 s a chart to draw matplotlib's SVG (every
glyph a path), a PNG ~10 ms; Word places raster images everywhere. Text in Noto Sans, the
font the project bundles, so every Vietnamese diacritic is drawn.

matplotlib is imported here only (a report is made): the dashboard's pages never load it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from district.dashboard import aggregates as agg
from district.dashboard.report_data import Report

FONTS = Path(__file__).resolve().parent.parent / "fonts"
BLUE, GREY, RED, GREEN = "#1f5f99", "#9aa5b1", "#b3261e", "#2e7d32"
LEVEL_COLOURS = {3: [RED, "#7cb342", GREEN], 4: [RED, "#ef6c00", "#7cb342", GREEN],
                 5: [RED, "#ef6c00", GREY, "#7cb342", GREEN]}
DPI = 160  # 1,120 px across the 16.5 cm of text: sharp on paper
MAX_UNITS = 30  # bars of the index-by-unit chart (a province's 100 districts: the lowest)


@dataclass
class Chart:
    key: str  # trend, units, levels, reasons
    title: str
    png: bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    for name in ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"):
        font_manager.fontManager.addfont(str(FONTS / name))
    plt.rcParams.update({"font.family": "Noto Sans", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(plt, fig) -> bytes:
    png = io.BytesIO()
    # (no bbox_inches="tight": it draws the figure twice; the constrained layout fits it)
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return png.getvalue()


def charts(report: Report, _: Callable[[str], str], label: Callable[[str], str]) -> list[Chart]:
    """``label`` writes a trend key as officials read it (render.trend_label)."""
    plt = _pyplot()
    out = []
    for key, title, draw in (
            ("trend", _("Index and votes over the period"), _trend),
            ("units", _("Index by unit"), _units),
            ("levels", _("Votes by level"), _levels),
            ("reasons", _("Reasons given after a negative vote"), _reasons)):
        fig = draw(plt, report, _, label)
        out.append(Chart(key, title, _save(plt, fig)))
    return out


def _trend(plt, report: Report, _, label):
    fig, ax = plt.subplots(layout="constrained", figsize=(7, 2.6))
    keys = [label(k) for k, _c in report.trend]
    ax.bar(keys, [c.votes for _k, c in report.trend], color=GREY, label=_("Votes"))
    ax.set_ylabel(_("Votes"))
    ax2 = ax.twinx()
    ax2.plot(keys, [c.index for _k, c in report.trend], color=BLUE, marker="o", markersize=3,
             label=_("Index (0–100)"))
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(_("Index (0–100)"))
    step = max(1, len(keys) // 12)
    ax.set_xticks(range(0, len(keys), step), keys[::step], rotation=45, ha="right")
    return fig


def _units(plt, report: Report, _, label):
    rows = [r for r in report.overview.rows if r.counts.votes][:MAX_UNITS]
    fig, ax = plt.subplots(layout="constrained", figsize=(7, 0.8 + 0.28 * max(1, len(rows))))
    names = [_short(r.name + (" " + _("(own terminals)") if r.own_only else "")) for r in rows]
    ax.barh(names[::-1], [r.counts.index for r in rows][::-1], color=BLUE)
    ax.set_xlim(0, 100)
    ax.set_xlabel(_("Index (0–100)"))
    for i, r in enumerate(rows[::-1]):
        ax.text(r.counts.index + 1, i, agg.format_number(r.counts.index, 1, _lang(_)),
                va="center", fontsize=8)
    return fig


def _levels(plt, report: Report, _, label):
    dist = report.total.distribution()
    fig, ax = plt.subplots(layout="constrained", figsize=(7, 0.9 + 0.5 * max(1, len(dist))))
    for row, (scale, counts) in enumerate(sorted(dist.items())):
        left = 0
        total = sum(counts) or 1
        for level, n in enumerate(counts, 1):
            share = 100 * n / total
            ax.barh(row, share, left=left, color=LEVEL_COLOURS[scale][level - 1],
                    label=_(agg.LEVEL_NAMES[scale][level - 1]))
            if share >= 6:
                ax.text(left + share / 2, row, agg.format_number(share, 0, _lang(_)) + " %",
                        ha="center", va="center", color="white", fontsize=8)
            left += share
    ax.set_yticks(range(len(dist)), [_("{n} levels").format(n=s) for s in sorted(dist)])
    ax.set_xlim(0, 100)
    ax.set_xlabel(_("Share of counted votes (%)"))
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), ncol=5, fontsize=7, frameon=False,
               loc="outside lower center")
    return fig


def _reasons(plt, report: Report, _, label):
    from district.dashboard.exports import REASON_NAMES

    reasons = report.total.reasons
    fig, ax = plt.subplots(layout="constrained", figsize=(7, 2.2))
    names = [_(REASON_NAMES.get(code, code)) for code in reasons]
    ax.barh(names[::-1], list(reasons.values())[::-1], color=RED)
    ax.set_xlabel(_("Votes"))
    return fig


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def _lang(_) -> str:
    return "en" if _("Votes") == "Votes" else "vi"
