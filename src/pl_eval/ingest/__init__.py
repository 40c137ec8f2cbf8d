"""Ingest: NWEA MAP exports + schools.csv -> clean scores, duplicates, rejects, school frame.

``survey`` recognises the files of a cohort folder (layouts), ``pipeline.validate`` reports
every unreadable cell at file/line/column (pandera, lazily), ``pipeline.typed_inputs`` types
the rows and ``pipeline.read_exports`` joins the roster and pseudonymises, once per cohort, and
``pipeline.screen`` screens and de-duplicates the typed rows (reference/nwea_formats.md §4);
``pipeline.build`` does all three.
"""

from pl_eval.ingest.layouts import ExportFile, IgnoredFile, ignored_by_extension, recognise
from pl_eval.ingest.pipeline import (
    Folder,
    IngestResult,
    IngestSettings,
    Inventory,
    RawInputs,
    ReadExports,
    TypedInputs,
    build,
    district_problems,
    districts,
    read_exports,
    screen,
    typed_inputs,
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
    "ReadExports",
    "TypedInputs",
    "build",
    "district_problems",
    "districts",
    "ignored_by_extension",
    "read_exports",
    "recognise",
    "screen",
    "typed_inputs",
    "typed_roster",
    "typed_tests",
    "validate",
]
