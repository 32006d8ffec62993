"""The attribution report: which lead sources make money.

`model` reads and sums the analytics rows, `build` writes them as files, `charts` renders the
HTML and PNG. The terminal table is the CLI's (`pipelines.cli.report`): nothing here prints.
"""

from pipelines.report.build import FORMATS, attribution_report, write_report
from pipelines.report.model import AttributionReport, ReportError, SourceRow, load_report

__all__ = [
    "FORMATS",
    "AttributionReport",
    "ReportError",
    "SourceRow",
    "attribution_report",
    "load_report",
    "write_report",
]
