"""The attribution report as files: load it once, write each `--out` in the format its suffix names.

`attribution_report` is what the CLI, the demo and the drills call. The CSV is written here,
through `pipelines.csvsafe` (Lead Source strings are typed by the public: no cell may start a
formula in a spreadsheet); the HTML and PNG are rendered by `charts`, imported only when a file
needs them (altair and vl-convert take about a second to load). Writes only the files it is
given; never the database.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from pathlib import Path

from pipelines.csvsafe import safe_writer
from pipelines.report.model import AttributionReport, ReportError, SourceRow, load_report

FORMATS = (".html", ".png", ".csv")


def write_csv(report: AttributionReport, out: Path) -> Path:
    """Machine-readable: every field of every row, exact decimals, no totals row; in the bucket
    view the first column is `lead_source_bucket` (there is no lead source to name).

    Figures are written as numbers (unquoted, negatives as `-12.50`); text cells are quoted and
    one starting with = + - @ tab or CR gets a leading `'` (`pipelines.csvsafe`).
    """
    names = [f.name for f in fields(SourceRow)]
    if report.by == "bucket":
        names.remove("lead_source")
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = safe_writer(handle)
        writer.writerow(names)
        for row in report.rows:
            writer.writerow([getattr(row, n) for n in names])
    return out


def write_report(report: AttributionReport, out: str | Path) -> Path:
    """Write `out` in the format its suffix names (.html, .png or .csv)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ReportError(
            f"unknown report format {suffix or path.name!r}: use one of {', '.join(FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        return write_csv(report, path)
    from pipelines.report import (
        charts,  # altair + vl-convert load in ~1 s: only when a file needs them
    )

    if suffix == ".html":
        path.write_text(charts.report_html(report), encoding="utf-8")
    else:
        path.write_bytes(charts.report_png(report))
    return path


def attribution_report(
    db_path: str | Path,
    *,
    since: date | None = None,
    until: date | None = None,
    by: str = "source",
    account: str | None = None,
    out: str | Path | list[str | Path] | None = None,
) -> tuple[AttributionReport, list[Path]]:
    """Load the report and write each file in `out`; returns the report and the paths written."""
    report = load_report(db_path, since=since, account=account, until=until, by=by)
    outs = [] if out is None else (list(out) if isinstance(out, list) else [out])
    return report, [write_report(report, o) for o in outs]
