"""The attribution report: which lead sources make money (`build`; rendering in `charts`)."""

from pipelines.report.build import (
    FORMATS,
    AttributionReport,
    ReportError,
    SourceRow,
    attribution_report,
    load_report,
)

__all__ = [
    "FORMATS",
    "AttributionReport",
    "ReportError",
    "SourceRow",
    "attribution_report",
    "load_report",
]
