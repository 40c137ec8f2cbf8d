"""Ingest: NWEA MAP exports + schools.csv -> clean scores, duplicates, rejects, school frame.

``survey`` recognises the files of a cohort folder (layouts), ``pipeline.validate`` reports
every unreadable cell at file/line/column (pandera, lazily), ``pipeline.typed_inputs`` types
the rows and ``pipeline.read_exports`` joins the roster and pseudonymises, once per cohort, and
``pipeline.screen`` screens and de-duplicates the typed rows (reference/nwea_formats.md §4);
``pipeline.build`` does all three.

Each name is imported from its module on first use (PEP 562): the panel, matching and
estimate jobs need the growth columns and parsing helpers only, not the pipeline.
"""

from pl_eval import lazy

#: Where each public name lives.
_SOURCES = {
    "ExportFile": "layouts",
    "IgnoredFile": "layouts",
    "ignored_by_extension": "layouts",
    "recognise": "layouts",
    "Folder": "pipeline",
    "IngestResult": "pipeline",
    "IngestSettings": "pipeline",
    "Inventory": "pipeline",
    "RawInputs": "pipeline",
    "ReadExports": "pipeline",
    "TypedInputs": "pipeline",
    "build": "pipeline",
    "district_problems": "pipeline",
    "districts": "pipeline",
    "read_exports": "pipeline",
    "screen": "pipeline",
    "typed_inputs": "pipeline",
    "typed_roster": "pipeline",
    "typed_tests": "pipeline",
    "validate": "pipeline",
}

__all__ = sorted(_SOURCES)
__getattr__ = lazy.exports(__name__, _SOURCES)
