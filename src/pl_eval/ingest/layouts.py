"""Recognise NWEA exports and the school frame by their header, and map columns by name.

Layouts (reference/nwea_formats.md §1.1): AssessmentResults A (pre-2015, MeasurementScale, no
NormsReferenceData), B (2015-2020, adds NormsReferenceData), C (2020+, Subject + Course);
Combined (roster and results in one row: Grade beside TestRITScore); StudentsBySchool.
Column names match case-insensitively after stripping whitespace, through built-in aliases
for known drift and the analyst's ``column_aliases``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from pl_eval.errors import ConfigError, InputError, Problem
from pl_eval.ingest.growth import RAW_COLUMNS as GROWTH_COLUMNS
from pl_eval.io import RawFile, RawRequest

ASSESSMENT = "assessment_results"
COMBINED = "combined"
ROSTER = "students_by_school"
SCHOOLS = "school_frame"
#: Kinds that carry test events (their rows are stacked into one frame).
TEST_KINDS = (ASSESSMENT, COMBINED)
#: File name (case-insensitive) of the evaluator's school frame.
SCHOOLS_FILE = "schools.csv"
#: Extensions of delimited exports; every other file is listed as ignored.
EXPORT_SUFFIXES = (".csv", ".txt")
#: Spreadsheet workbooks: an export saved from Excel, which ingest cannot read (unread files).
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
UNREAD_SPREADSHEET = (
    "a spreadsheet workbook, which ingest does not read: open it in Excel, Save As "
    "'CSV UTF-8 (Comma delimited) (*.csv)' into this folder, then move the workbook out"
)
#: Archives ingest does not open (unread): a .zip in the cohort folder is read as the files it
#: holds (:func:`pl_eval.io.unzip_archives`), but not one within it, nor any other kind.
ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".tar", ".tgz", ".gz", ".bz2", ".xz")
UNREAD_ARCHIVE = (
    "an archive, which ingest does not open: extract its exports into this folder, then "
    "move the archive out"
)

#: Columns read from test files; the rest of the 64-152 columns are never read.
TEST_COLUMNS = (
    "TermName",
    "DistrictName",
    "SchoolName",
    "StudentID",
    "MeasurementScale",
    "Subject",
    "Course",
    "TestStartDate",
    "TestName",
    "TestStartTime",
    "TestRITScore",
    "TestStandardError",
    "TestPercentile",
    "TestDurationMinutes",
    "RapidGuessingPercentage",
    "GrowthMeasureYN",
    "NormsReferenceData",
    "Grade",
    "StudentGender",
    "StudentEthnicGroup",
    *GROWTH_COLUMNS,  # NWEA's growth fields of the windows the panel can use, when present
)
#: Required in every test file; DistrictName too, except in AssessmentResults, whose pre-2015
#: layout A has none (the district then comes from the roster or ``ingest.district_name``).
TEST_REQUIRED = (
    "TermName",
    "SchoolName",
    "StudentID",
    "TestStartDate",
    "TestRITScore",
    "TestStandardError",
)
ROSTER_COLUMNS = (
    "TermName",
    "DistrictName",
    "SchoolName",
    "StudentID",
    "Grade",
    "StudentGender",
    "StudentEthnicGroup",
)
#: DistrictName is required unless ``ingest.district_name`` names the folder's one district
#: (checked with the folder, :func:`pl_eval.ingest.pipeline.district_problems`).
ROSTER_REQUIRED = ("TermName", "StudentID", "Grade")
SCHOOL_COLUMNS = (
    "district_name",
    "school_name",
    "nces_id",
    "sector",
    "pl_start_year",
    "frl_pct",
    "locale",
)
SCHOOL_REQUIRED = ("district_name", "school_name", "sector", "pl_start_year", "frl_pct", "locale")

#: Renamed columns seen in real exports (nwea_formats.md §1.1 "Real exports drift").
BUILTIN_ALIASES = {"StudentID": ("Student_Number", "StudentNumber")}
#: Blanks, underscores, hyphens and dots a header may write inside an NWEA column's name
#: ("Student ID", "Test_RIT_Score", "Term-Name"), as a district's warehouse re-export may.
_SEPARATORS = re.compile(r"[\s_.-]+")


@cache  # a cohort exported per school has 19,000 files of the same few header names
def _loose(name: str) -> str:
    """``name`` as matched when it is not written as NWEA writes it: lower case, without
    :data:`_SEPARATORS`."""
    return _SEPARATORS.sub("", name).lower()


#: NWEA's columns by their loose names, for the exports, and schools.csv's, for schools.csv
#: ("District Name", "PL Start Year", as a spreadsheet's header may write them): apart, since
#: schools.csv's district_name would be the exports' DistrictName.
LOOSE_NAMES = {_loose(c): c for c in TEST_COLUMNS + ROSTER_COLUMNS}
SCHOOL_LOOSE_NAMES = {_loose(c): c for c in SCHOOL_COLUMNS}
#: Each delimiter as the ingest summary names it.
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
#: NWEA files that are recognised but not used, by a fragment of their name or header.
IGNORED_EXPORTS = {
    "classassignments": "ClassAssignments export: class rosters are not used",
    "accommodation": "accommodations export: accommodations are not used",
    "programassignments": "ProgramAssignments export: program flags are not used",
}


@dataclass(frozen=True)
class ExportFile:
    """A recognised input file: its kind, layout and where each needed column sits."""

    raw: RawFile
    kind: str
    layout: str | None  # "A", "B", "C" or "Combined" for test files
    columns: dict[str, int]  # canonical name -> position in the header
    names: dict[str, str]  # canonical name -> the name as written in the file

    @property
    def name(self) -> str:
        return self.raw.name

    def request(self) -> RawRequest:
        return RawRequest(self.raw, self.columns)

    def describe(self) -> dict[str, str | None]:
        """Kind, layout, delimiter and encoding as shown in the ingest summary."""
        return {
            "kind": self.kind,
            "layout": self.layout,
            "delimiter": DELIMITER_NAMES[self.raw.delimiter],
            "encoding": self.raw.encoding,
        }


@dataclass(frozen=True)
class IgnoredFile:
    """A file in the cohort folder that ingest does not read, and why. ``unread`` marks a
    file that probably holds test rows in a form ingest cannot read (a spreadsheet): its
    students would be lost, so check-inputs reports it as a problem."""

    name: str
    reason: str
    unread: bool = False


def alias_table(column_aliases: Mapping[str, Sequence[str]] | None) -> dict[str, str]:
    """Lower-case name -> canonical column, from built-in and configured aliases."""
    known = {c.lower(): c for c in TEST_COLUMNS + ROSTER_COLUMNS + SCHOOL_COLUMNS}
    table = {c.lower(): c for c in known.values()}
    for source in (BUILTIN_ALIASES, column_aliases or {}):
        for canonical, aliases in source.items():
            if canonical.lower() not in known:
                raise ConfigError(
                    f"ingest.column_aliases: {canonical!r} is not a column ingest reads; "
                    f"use one of {sorted(known.values())}"
                )
            if isinstance(aliases, str):
                aliases = [aliases]
            for alias in aliases:
                table.setdefault(str(alias).strip().lower(), known[canonical.lower()])
    return table


def ignored_by_extension(name: str) -> IgnoredFile | None:
    """Files that are not delimited exports, listed in the summary rather than read."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith("."):
        return IgnoredFile(name, "hidden file")
    if base.startswith("~$"):  # Office's owner file, beside a workbook open (or left) in Excel
        return IgnoredFile(name, "an Office lock file (a workbook open in Excel), not an export")
    if base.lower().endswith(SPREADSHEET_SUFFIXES):
        return IgnoredFile(name, UNREAD_SPREADSHEET, unread=True)
    if base.lower().endswith(ARCHIVE_SUFFIXES):
        return IgnoredFile(name, UNREAD_ARCHIVE, unread=True)
    if not base.lower().endswith(EXPORT_SUFFIXES):
        return IgnoredFile(name, "not a .csv or .txt export")
    return None


def recognise(raw: RawFile, aliases: Mapping[str, str]) -> ExportFile | IgnoredFile:
    """Decide what ``raw`` is from its header (and name); InputError if it is unusable."""
    columns: dict[str, int] = {}
    names: dict[str, str] = {}
    # exact names first, then aliases for what is still missing (a name written twice is
    # refused by _export)
    for exact in (True, False):
        for position, written in enumerate(raw.header):
            canonical = aliases.get(written.lower())
            if (
                canonical
                and canonical not in columns
                and exact == (written.lower() == canonical.lower())
            ):
                columns[canonical], names[canonical] = position, written
    base = raw.name.rsplit("/", 1)[-1].lower()
    loose = SCHOOL_LOOSE_NAMES if base == SCHOOLS_FILE else LOOSE_NAMES
    for position, written in enumerate(raw.header):  # then names written with separators
        canonical = loose.get(_loose(written))
        if canonical and canonical not in columns:
            columns[canonical], names[canonical] = position, written
    present = {c.lower() for c in columns} | {h.lower() for h in raw.header}

    if base == SCHOOLS_FILE:
        return _export(raw, SCHOOLS, columns, names, SCHOOL_COLUMNS, SCHOOL_REQUIRED)
    if "testritscore" in present or "assessmentresults" in base or "combostudent" in base:
        combined = "grade" in present or "combostudent" in base
        return _export(
            raw,
            COMBINED if combined else ASSESSMENT,
            columns,
            names,
            TEST_COLUMNS,
            TEST_REQUIRED + (("DistrictName", "Grade") if combined else ()),
        )
    if ("grade" in present and "studentid" in present) or "studentsbyschool" in base:
        return _export(raw, ROSTER, columns, names, ROSTER_COLUMNS, ROSTER_REQUIRED)
    for fragment, reason in IGNORED_EXPORTS.items():
        if fragment in base or any(h.startswith(fragment) for h in present):
            return IgnoredFile(raw.name, reason)
    if {"classname", "teachername"} <= present:
        return IgnoredFile(raw.name, IGNORED_EXPORTS["classassignments"])
    raise InputError.at(
        raw.name,
        "an NWEA export (AssessmentResults, StudentsBySchool, ComboStudentAssessment) or "
        "schools.csv; the header matches none of them",
        line=1,
        found=_shown(raw.header),
    )


def _shown(header: Sequence[str]) -> str:
    """A header's first four names, as a message shows them."""
    return ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")


def _export(
    raw: RawFile,
    kind: str,
    columns: dict[str, int],
    names: dict[str, str],
    wanted: Sequence[str],
    required: Sequence[str],
) -> ExportFile:
    """Keep the wanted columns; InputError naming every required column that is missing."""
    missing = [c for c in required if c not in columns]
    layout = None
    if kind in TEST_KINDS:
        layout = "Combined" if kind == COMBINED else _test_layout(raw.header)
        if "MeasurementScale" not in columns and "Subject" not in columns:
            missing.append("MeasurementScale")
    if missing and not any(c in columns for c in required):
        # a title or a note above the header (a warehouse's report): one line saying so, not
        # a missing column per column
        raise InputError.at(
            raw.name,
            f"a header naming the columns ({', '.join(required[:3])}, ...); delete "
            "any title or note above it",
            line=1,
            found=_shown(raw.header),
        )
    if missing:
        raise InputError(
            [
                Problem(
                    raw.name, "this column in the header", line=1, column=c, found="no such column"
                )
                for c in missing
            ]
        )
    keep = {c: columns[c] for c in wanted if c in columns}
    _refuse_repeated_columns(raw, keep, names)
    return ExportFile(raw, kind, layout, keep, {c: names[c] for c in keep})


def _refuse_repeated_columns(raw: RawFile, keep: dict[str, int], names: dict[str, str]) -> None:
    """A column ingest reads that the header names twice, in any case or with separators
    (:func:`_loose`: columns pasted in from another sheet): which copy holds the values is not
    for ingest to guess, so each is one line."""
    lowered = [_loose(h) for h in raw.header]
    if len(set(lowered)) == len(lowered):  # the usual case, once per file of thousands
        return
    problems = []
    for canonical, position in keep.items():
        written = _loose(names[canonical])
        copies = [i for i, h in enumerate(lowered) if h == written and i != position]
        if copies:
            problems.append(
                Problem(
                    raw.name,
                    "each column once in the header; delete the copy that is not the export's",
                    line=1,
                    column=names[canonical],
                    found="columns "
                    + " and ".join(str(i + 1) for i in sorted([position, *copies])),
                )
            )
    if problems:
        raise InputError(problems)


def _test_layout(header: Sequence[str]) -> str:
    """A (MeasurementScale only), B (plus norms and instructional weeks) or C (Subject+Course)."""
    present = {h.lower() for h in header}
    if "measurementscale" not in present and "subject" in present:
        return "C"
    b_only = any(h == "normsreferencedata" or h.startswith("wiselectedayfall") for h in present)
    return "B" if b_only else "A"
