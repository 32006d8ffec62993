"""Rendering of the attribution report: an altair bar chart, a self-contained HTML page, a PNG.

Why inline SVG in the HTML rather than altair's own HTML: that page loads Vega from a CDN, so it
renders blank offline or behind a firewall. vl-convert renders the chart to SVG/PNG in-process
(no browser, no network), and the HTML embeds the SVG, so the file opens anywhere.

It renders a loaded `model.AttributionReport` and imports nothing else of the report: it never
reads the database and never writes a file (`build` does).
"""

from __future__ import annotations

import html
import re
import textwrap
import zlib
from decimal import Decimal
from typing import Any

import altair as alt
import vl_convert as vlc

from pipelines.report.model import AttributionReport, SourceRow, footnotes, visible_columns

ROW_HEIGHT = 22
BAR_WIDTH = 360
FONT = "Helvetica, Arial, sans-serif"
PALETTE = [
    "#2563eb", "#16a34a", "#ea580c", "#9333ea", "#dc2626", "#0891b2",
    "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488",
]  # fmt: skip
NO_SOURCE = "#9ca3af"
# The shipped map's buckets keep these colours in every report; any other bucket gets a palette
# colour from a hash of its name, so the same bucket is the same colour in every run and file.
BUCKET_COLORS = {
    "Google": "#2563eb",
    "Facebook": "#7c3aed",
    "Referral": "#16a34a",
    "Repeat customer": "#65a30d",
    "Website": "#0891b2",
    "Yelp": "#dc2626",
    "Angi": "#ea580c",
    "Thumbtack": "#0d9488",
    "Nextdoor": "#ca8a04",
    "Signs & vehicles": "#db2777",
    "Other": "#4b5563",
    "No lead source": NO_SOURCE,
}
TREND_HEIGHT = 180
NOTE_WIDTH = 150  # characters per footnote line in the PNG


def bucket_color(bucket: str) -> str:
    """The bucket's colour: fixed for the shipped buckets, else by a hash of its name (stable
    across runs, unlike Python's `hash`)."""
    return BUCKET_COLORS.get(bucket) or PALETTE[zlib.crc32(bucket.encode()) % len(PALETTE)]


def _bucket_colors(report: AttributionReport) -> tuple[list[str], list[str]]:
    """Buckets in revenue order (the legend's), each with its own stable colour."""
    buckets: list[str] = []
    for name in [r.lead_source_bucket for r in report.rows] + [
        m.lead_source_bucket for m in report.trend
    ]:
        if name not in buckets:
            buckets.append(name)
    return buckets, [bucket_color(b) for b in buckets]


def _values(report: AttributionReport) -> list[dict[str, Any]]:
    return [
        {
            "source": r.lead_source,
            "bucket": r.lead_source_bucket,
            "revenue": float(r.job_revenue),
            "revenue_label": f"${r.job_revenue:,.0f}",
            "jobs": r.new_jobs,
            "completed": r.jobs_completed,
            "rank": i,
        }
        for i, r in enumerate(report.rows)
    ]


def _color(report: AttributionReport, legend: bool = True) -> alt.Color:
    buckets, colors = _bucket_colors(report)
    return alt.Color(
        "bucket:N",
        title="Bucket",
        scale=alt.Scale(domain=buckets, range=colors),
        legend=alt.Legend(orient="bottom", columns=6, labelFontSize=11, titleFontSize=11)
        if legend
        else None,
    )


def trend_chart(report: AttributionReport) -> alt.LayerChart:
    """Revenue by cohort month, stacked by bucket; spend as a line when there is any."""
    values = [
        {
            "month": m.month.strftime("%Y-%m"),
            "bucket": m.lead_source_bucket,
            "revenue": float(m.job_revenue),
            "customers": m.new_customers,
        }
        for m in report.trend
    ]
    months = [m.strftime("%Y-%m") for m, *_ in report.months()]
    x = alt.X("month:O", sort=months, title="Month the customers were created")
    bars = (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("sum(revenue):Q", title="Revenue ($)", axis=alt.Axis(format="$,.0f")),
            color=_color(report, legend=False),
            tooltip=[
                "month:O",
                "bucket:N",
                alt.Tooltip("revenue:Q", format="$,.2f"),
                "customers:Q",
            ],
        )
    )
    layers: list[Any] = [bars]
    spend = [
        {"month": m.strftime("%Y-%m"), "spend": float(s)}
        for m, _, _, _, s, _ in report.months()
        if s
    ]
    if spend:
        layers.append(
            alt.Chart(alt.Data(values=spend))
            .mark_line(color="#111827", point=True, strokeDash=[4, 3])
            .encode(x=x, y="spend:Q", tooltip=["month:O", alt.Tooltip("spend:Q", format="$,.2f")])
        )
    title = "Monthly trend: revenue by bucket" + (" (dashed: spend)" if spend else "")
    return alt.layer(*layers).properties(
        width=BAR_WIDTH * 1.7 + 24, height=TREND_HEIGHT, title=title
    )


def bar_chart(report: AttributionReport) -> alt.VConcatChart:
    """Revenue and jobs by lead source (or bucket), sorted by revenue, coloured by bucket, over
    the monthly trend."""
    data = alt.Data(values=_values(report))
    order = [r.lead_source for r in report.rows]
    height = max(ROW_HEIGHT * len(order), 60)
    y = alt.Y("source:N", sort=order, title=None, axis=alt.Axis(labelLimit=180, labelFontSize=12))
    revenue = alt.Chart(data).encode(y=y)
    revenue = alt.layer(
        revenue.mark_bar(cornerRadiusEnd=3).encode(
            x=alt.X(
                "revenue:Q",
                title="Revenue from completed jobs ($)",
                axis=alt.Axis(format="$,.0f", tickCount=5),
            ),
            color=_color(report),
            tooltip=["source:N", "bucket:N", alt.Tooltip("revenue:Q", format="$,.2f")],
        ),
        revenue.mark_text(align="left", dx=4, fontSize=11, color="#374151").encode(
            x="revenue:Q", text="revenue_label:N"
        ),
    ).properties(width=BAR_WIDTH, height=height, title=f"Revenue by {report.label}")
    jobs_base = alt.Chart(data).encode(
        y=y.axis(labels=False, ticks=False, domain=False, title=None)
    )
    jobs = alt.layer(
        jobs_base.mark_bar(color="#d1d5db", cornerRadiusEnd=3).encode(
            x=alt.X(
                "jobs:Q", title="Jobs (grey: booked, dark: completed)", axis=alt.Axis(tickCount=5)
            ),
            tooltip=["source:N", "jobs:Q", "completed:Q"],
        ),
        jobs_base.mark_bar(color="#1f2937", cornerRadiusEnd=3, height=8).encode(x="completed:Q"),
        jobs_base.mark_text(align="left", dx=4, fontSize=11, color="#374151").encode(
            x="jobs:Q", text="jobs:Q"
        ),
    ).properties(width=BAR_WIDTH * 0.7, height=height, title=f"Jobs by {report.label}")
    top = alt.hconcat(revenue, jobs, spacing=24)
    return alt.vconcat(top, trend_chart(report), spacing=28) if report.trend else top


def _configured(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (
        chart.configure(font=FONT, background="white")
        .configure_view(stroke=None)
        .configure_title(fontSize=14, anchor="start", color="#111827")
        .configure_axis(labelColor="#374151", titleColor="#374151", gridColor="#f3f4f6")
    )


def chart_svg(report: AttributionReport) -> str:
    return vlc.vegalite_to_svg(_configured(bar_chart(report)).to_dict())


def _svg_size(svg: str) -> tuple[float, float]:
    match = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg)
    if not match:
        raise ValueError("vl-convert returned an SVG without width/height")
    return float(match.group(1)), float(match.group(2))


def _text(
    x: float,
    y: float,
    value: str,
    *,
    anchor: str = "start",
    size: int = 12,
    weight: str = "normal",
    color: str = "#111827",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}" fill="{color}" font-family="{FONT}">{html.escape(value)}</text>'
    )


def _table_svg(report: AttributionReport, top: float, left: float) -> tuple[str, float, float]:
    """The table as SVG text (exact column alignment, which Vega-Lite concat cannot promise)."""
    cols = visible_columns(report)
    widths = [
        170 if not c.numeric else 118 if c.header in ("Est. close", "Cost/customer") else 84
        for c in cols
    ]
    parts: list[str] = []
    rows: list[tuple[SourceRow, bool]] = [(r, False) for r in report.rows] + [(report.total, True)]
    width = sum(widths)
    y = top + 16
    x = left
    for col, w in zip(cols, widths, strict=True):
        parts.append(
            _text(
                x + (w - 6 if col.numeric else 0),
                y,
                col.header,
                anchor="end" if col.numeric else "start",
                weight="bold",
            )
        )
        x += w
    parts.append(
        f'<line x1="{left}" x2="{left + width}" y1="{y + 7}" y2="{y + 7}" stroke="#111827"/>'
    )
    for i, (row, total) in enumerate(rows):
        y += ROW_HEIGHT
        if total:
            parts.append(
                f'<line x1="{left}" x2="{left + width}" y1="{y - 15}" y2="{y - 15}" stroke="#111827"/>'
            )
        elif i % 2:
            parts.append(
                f'<rect x="{left}" y="{y - 15}" width="{width}" height="{ROW_HEIGHT}" fill="#f9fafb"/>'
            )
        x = left
        for col, w in zip(cols, widths, strict=True):
            value = "" if total and col is cols[1] and not col.numeric else col.render(row)
            parts.append(
                _text(
                    x + (w - 6 if col.numeric else 0),
                    y,
                    value,
                    anchor="end" if col.numeric else "start",
                    weight="bold" if total else "normal",
                )
            )
            x += w
    return "".join(parts), width, y - top + 12


def report_svg(report: AttributionReport) -> str:
    """Title, key figures, bar chart and table in one SVG page."""
    pad = 32
    who = ", ".join(report.companies) or ", ".join(report.accounts) or "HCP"
    t = report.total
    head = [
        _text(pad, pad + 22, f"Lead-source attribution — {who}", size=24, weight="bold"),
        _text(pad, pad + 46, report.period, size=13, color="#4b5563"),
        _text(
            pad,
            pad + 66,
            f"{t.new_customers:,} customers · {t.jobs_completed:,} of {t.new_jobs:,} jobs completed · "
            f"${t.job_revenue:,.0f} revenue · ${t.amount_paid:,.0f} paid"
            + (f" · ${t.marketing_spend:,.0f} spend" if report.has_spend else ""),
            size=13,
            color="#4b5563",
        ),
    ]
    chart = chart_svg(report)
    cw, ch = _svg_size(chart)
    chart_top = pad + 84
    table, tw, th = _table_svg(report, chart_top + ch + 24, pad)
    notes_top = chart_top + ch + 24 + th + 20
    lines = [ln for note in footnotes(report) for ln in textwrap.wrap(note, NOTE_WIDTH)]
    notes = "".join(
        _text(pad, notes_top + 16 * i, line, size=11, color="#6b7280")
        for i, line in enumerate(lines)
    )
    width = max(cw, tw, NOTE_WIDTH * 6.2) + 2 * pad
    height = notes_top + 16 * len(lines) + pad
    nested = re.sub(r"^<svg", f'<svg x="{pad}" y="{chart_top}"', chart.strip(), count=1)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}"><rect width="100%" height="100%" fill="white"/>'
        + "".join(head)
        + nested
        + table
        + notes
        + "</svg>"
    )


def report_png(report: AttributionReport, scale: float = 2.0) -> bytes:
    return vlc.svg_to_png(report_svg(report), scale=scale)


def _kpi(label: str, value: str) -> str:
    return f'<div class="kpi"><div class="v">{html.escape(value)}</div><div class="l">{html.escape(label)}</div></div>'


def report_html(report: AttributionReport) -> str:
    """One self-contained page: heading, key figures, the chart (inline SVG), the table."""
    t = report.total
    who = ", ".join(report.companies) or ", ".join(report.accounts) or "HCP"
    kpis = [
        _kpi("new customers", f"{t.new_customers:,}"),
        _kpi("jobs completed", f"{t.jobs_completed:,} of {t.new_jobs:,}"),
        _kpi("revenue", f"${t.job_revenue:,.0f}"),
        _kpi("avg job size", f"${t.avg_job_size or Decimal(0):,.0f}"),
        _kpi("paid", f"${t.amount_paid:,.0f}"),
    ]
    if report.has_spend:
        kpis.append(_kpi("marketing spend", f"${t.marketing_spend:,.0f}"))
    cols = visible_columns(report)
    head = "".join(
        f'<th class="{"n" if c.numeric else ""}">{html.escape(c.header)}</th>' for c in cols
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if c.numeric else ""}">{html.escape(c.render(r))}</td>' for c in cols
        )
        + "</tr>"
        for r in report.rows
    )
    foot = "".join(
        f'<td class="{"n" if c.numeric else ""}">{html.escape("" if i == 1 and not c.numeric else c.render(t))}</td>'
        for i, c in enumerate(cols)
    )
    generated = report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    notes = "<br>\n".join(html.escape(n) for n in footnotes(report))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Lead-source attribution — {html.escape(who)}</title>
<style>
body {{ font-family: {FONT}; color: #111827; margin: 32px auto; max-width: 1180px; padding: 0 24px; }}
h1 {{ font-size: 26px; margin: 0 0 4px; }}
.sub {{ color: #4b5563; margin: 0 0 20px; }}
.kpis {{ display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 24px; }}
.kpi {{ border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 16px; min-width: 130px; }}
.kpi .v {{ font-size: 22px; font-weight: 600; }}
.kpi .l {{ color: #6b7280; font-size: 13px; }}
.chart {{ margin-bottom: 24px; overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ padding: 6px 10px; border-bottom: 1px solid #e5e7eb; text-align: left; white-space: nowrap; }}
th {{ background: #f9fafb; font-weight: 600; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tfoot td {{ font-weight: 700; border-top: 2px solid #111827; }}
.note {{ color: #6b7280; font-size: 12px; margin-top: 16px; }}
</style></head>
<body>
<h1>Lead-source attribution</h1>
<p class="sub">{html.escape(who)} · {html.escape(report.period)} · generated {generated}</p>
<div class="kpis">{"".join(kpis)}</div>
<div class="chart">{chart_svg(report)}</div>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
<tfoot><tr>{foot}</tr></tfoot>
</table>
<p class="note">{notes}</p>
</body></html>
"""
