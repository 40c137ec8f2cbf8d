"""Ingest: NWEA MAP exports + schools.csv -> clean scores, duplicates, rejects, school frame.

``survey`` recognises the files of a cohort folder (layouts), ``pipeline.validate`` reports
every unreadable cell at file/line/column (pandera, lazily), and ``pipeline.build`` types,
joins the roster, screens, de-duplicates and pseudonymises (reference/nwea_formats.md §4).
"""

from pl_eval.ingest.layouts import ExportFile, IgnoredFile, ignored_by_extension, recognise
from pl_eval.ingest.pipeline import (
    Folder,
    IngestResult,
    IngestSettings,
    Inventory,
    RawInputs,
    build,
    district_problems,
    districts,
    typed_roster,
    typed_tests,
    validate,
)

__all__ = [
    "ExportFile",
    "Folder",
    "IgnoredFile",
    "IngestResult",
    "IngestSettings",
    "Inventory",
    "RawInputs",
    "build",
    "district_problems",
    "districts",
    "ignored_by_extension",
    "recognise",
    "typed_roster",
    "typed_tests",
    "validate",
]
