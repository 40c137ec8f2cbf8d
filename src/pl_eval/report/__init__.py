"""The funder reports: suppression, findings, figures and the rendered HTML pages."""

from pl_eval.report.compare import Comparison, across_cohorts, describe_overrides, sensitivity
from pl_eval.report.findings import Finding, findings
from pl_eval.report.render import (
    CombinedInputs,
    Report,
    ReportInputs,
    build_combined_report,
    build_report,
    draw_school_page,
)
from pl_eval.report.school_pages import SchoolLinks
from pl_eval.report.suppression import Suppressed, suppress

__all__ = [
    "CombinedInputs",
    "Comparison",
    "Finding",
    "Report",
    "ReportInputs",
    "SchoolLinks",
    "Suppressed",
    "across_cohorts",
    "build_combined_report",
    "build_report",
    "describe_overrides",
    "draw_school_page",
    "findings",
    "sensitivity",
    "suppress",
]
