"""The funder report: suppression, findings, figures and the rendered HTML page."""

from pl_eval.report.findings import Finding, findings
from pl_eval.report.render import Report, ReportInputs, build_report
from pl_eval.report.suppression import Suppressed, suppress

__all__ = [
    "Finding",
    "Report",
    "ReportInputs",
    "Suppressed",
    "build_report",
    "findings",
    "suppress",
]
