"""Ingest as pure steps: check the raw text, type it, join the roster, screen, de-duplicate.

Every test row read ends in exactly one of scores, duplicates or rejects; every roster row is
used, unused, a duplicate or rejected. The counts are checked against the rows read before
anything is returned (DESIGN.md "Input contract").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pl_eval import io
from pl_eval.errors import ConfigError, InputError, Problem, quoted
from pl_eval.ingest import dedupe, growth, layouts, parse, pseudonym, schemas, schools, screens
from pl_eval.ingest.layouts import ExportFile, IgnoredFile
from pl_eval.io import RawExports

SCORE_COLUMNS = list(schemas.SCORE_COLUMNS)
DUPLICATE_COLUMNS = SCORE_COLUMNS + ["kept_source_file", "kept_source_line"]
REJECT_COLUMNS = [
    "source_file",
    "source_line",
    "record",
    "reason",
    "column",
    "detail",
    "student_key",
    "district",
    "school",
    "term_name",
    "season",
    "school_year",
    "subject",
]
TEST_STATUSES = ("kept", "duplicates", "rejected")
#: The parts of a cohort folder read together, by file kind (fields of :class:`RawInputs`).
PARTS = {
    "tests": layouts.TEST_KINDS,
    "roster": (layouts.ROSTER,),
    "schools": (layouts.SCHOOLS,),
}
#: Each part's pandera schema in :mod:`schemas` (by name: schemas are built on first use).
RAW_SCHEMAS = {"tests": "RAW_TESTS", "roster": "RAW_ROSTER", "schools": "RAW_SCHOOLS"}
ROSTER_STATUSES = ("used", "unused", "duplicates", "rejected")


#: What ``ingest.end_of_course`` may say about end-of-course math tests (Algebra I, Geometry).
END_OF_COURSE = ("reject", "keep")


@dataclass(frozen=True)
class IngestSettings:
    """config ``ingest``: column aliases (lower-case name -> canonical), screens, the district
    of files without a DistrictName column, and what to do with end-of-course math tests."""

    aliases: dict[str, str]
    screens: screens.ScreenSettings
    district_name: str | None = None
    end_of_course: str = "reject"

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> IngestSettings:
        """From config ``ingest`` (missing keys take their defaults)."""
        aliases = settings.get("column_aliases") or {}
        screening = settings.get("screens") or {}
        if not isinstance(aliases, Mapping) or not isinstance(screening, Mapping):
            raise ConfigError("ingest.column_aliases and ingest.screens must be mappings")
        district = settings.get("district_name")
        if district is not None and (not isinstance(district, str) or not district.strip()):
            raise ConfigError(
                "ingest.district_name must be the district's name as the exports spell it, or null"
            )
        end_of_course = settings.get("end_of_course", "reject")
        if end_of_course not in END_OF_COURSE:
            raise ConfigError(
                f"ingest.end_of_course must be one of {', '.join(END_OF_COURSE)}, "
                f"not {end_of_course!r}"
            )
        return cls(
            layouts.alias_table(aliases),
            screens.ScreenSettings.from_dict(screening),
            unicodedata.normalize("NFC", district.strip()) if district else None,  # as names are
            end_of_course,
        )


@dataclass(frozen=True)
class Inventory:
    """Every file in a cohort folder: recognised inputs, ignored files (with why) and files
    that could not be recognised (already reported; they silence follow-on problems)."""

    exports: tuple[ExportFile, ...]
    ignored: tuple[IgnoredFile, ...]
    failed: tuple[str, ...] = ()

    def of_kind(self, *kinds: str) -> list[ExportFile]:
        return [e for e in self.exports if e.kind in kinds]

    def unread(self) -> list[IgnoredFile]:
        """Files that probably hold test rows in a form ingest cannot read (workbooks)."""
        return [f for f in self.ignored if f.unread]

    def names(self) -> dict[str, dict[str, str]]:
        """Per file, canonical column -> the name written in its header (for messages)."""
        return {e.name: e.names for e in self.exports}

    def problems(self) -> list[Problem]:
        """What the folder as a whole lacks (schools.csv, test exports, a roster), with file
        names relative to the folder ("" is the folder itself)."""
        found = []
        failed_frame = any(_base(f) == layouts.SCHOOLS_FILE for f in self.failed)
        failed_export = any(_base(f) != layouts.SCHOOLS_FILE for f in self.failed)
        frames = self.of_kind(layouts.SCHOOLS)
        if len(frames) > 1 or (not frames and not failed_frame):
            found.append(
                Problem(
                    layouts.SCHOOLS_FILE,
                    "exactly one school frame schools.csv in the cohort folder"
                    + (f" (there are {', '.join(f.name for f in frames)})" if frames else ""),
                    found=f"{len(frames)}" if frames else "none",
                )
            )
        if not self.of_kind(*layouts.TEST_KINDS) and not failed_export:
            found.append(
                Problem(
                    "",
                    "at least one AssessmentResults or ComboStudentAssessment export (.csv/.txt)",
                    found="none",
                )
            )
        if (
            self.of_kind(layouts.ASSESSMENT)
            and not self.of_kind(layouts.ROSTER)
            and not failed_export
        ):
            found.append(
                Problem(
                    "",
                    "a StudentsBySchool export giving grades for the AssessmentResults exports",
                    found="none",
                )
            )
        return found


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class RawInputs:
    """The text read from a cohort folder: test rows, roster rows, the school frame."""

    tests: RawExports
    roster: RawExports
    schools: RawExports


@dataclass(frozen=True)
class Folder:
    """A cohort folder as read for ingest: what each file is, the text of every part that could
    be read, and every problem found (file names relative to the folder). Ingest builds its
    outputs from it only when there are no problems; check-inputs reports them."""

    inventory: Inventory
    parts: dict[str, RawExports]
    problems: tuple[Problem, ...]

    def raw_inputs(self) -> RawInputs:
        """The parts for :func:`build` (every part was read: there are no problems)."""
        return RawInputs(**self.parts)

    def located_problems(self, raw_dir: str | Path) -> list[Problem]:
        """The problems with file names the evaluator can open (``raw_dir`` joined on)."""
        return [replace(p, file=str(Path(raw_dir) / p.file)) for p in self.problems]


def validate(part: str, raw: RawExports, inventory: Inventory) -> list[Problem]:
    """Every cell of one part (a :data:`PARTS` key) that cannot be read as what its column
    holds, at file, line and column."""
    frame = raw.frame
    if part == "schools":  # names are compared (for duplicates) without surrounding blanks
        frame = frame.assign(
            **{c: parse.strip(frame[c]) for c in ("district_name", "school_name") if c in frame}
        )
    written = inventory.names()
    found = schemas.problems(frame, getattr(schemas, RAW_SCHEMAS[part]), written)
    if part == "schools":  # in file and line order, a file's counts of more rows last
        repeats = [
            replace(p, column=written.get(p.file, {}).get(p.column, p.column))
            for p in schools.loose_repeats(frame)
        ]
        found = sorted(found + repeats, key=lambda p: (p.file, p.line is None, p.line))
    return _repeated_headers(found)


def _repeated_headers(problems: list[Problem]) -> list[Problem]:
    """``problems`` with those of a line that repeats the header (exports pasted one after
    another) as one problem saying so: every cell of such a line that fails, two or more,
    holds its own column's name, and a problem per column hid what is wrong with the line
    (one such cell alone keeps its own problem)."""
    cells: dict[tuple[str, int], list[Problem]] = {}
    for problem in problems:
        if problem.line is not None and problem.column is not None:
            cells.setdefault((problem.file, problem.line), []).append(problem)
    headers = {
        place
        for place, found in cells.items()
        if len(found) > 1
        and all((p.found or "").strip().lower() == (p.column or "").strip().lower() for p in found)
    }
    if not headers:
        return problems
    expected = "a data row, but this line repeats the header (files pasted together?); delete it"
    kept = [p for p in problems if (p.file, p.line) not in headers]
    kept += [Problem(file, expected, line=line) for file, line in headers]
    return schemas.in_order(kept)


def district_problems(
    inventory: Inventory, parts: Mapping[str, RawExports], district_name: str | None
) -> list[Problem]:
    """Files without a DistrictName column that nothing else gives a district.

    A pre-2015 (layout A) AssessmentResults file has none: its rows take the district of the
    StudentsBySchool row of the same term, StudentID and SchoolName, or ``ingest.district_name``
    in a folder of one district. Only a file with neither (no roster of its terms, no setting)
    is a problem, one line saying which to supply; a StudentsBySchool file needs the setting.
    Parts that could not be read are skipped (their problems are already reported).
    """
    if district_name is not None:
        return []
    setting = "ingest.district_name in config/config.yaml (a folder of one district)"
    found = [
        Problem(
            e.name,
            f"a DistrictName column, or {setting}",
            line=1,
            column="DistrictName",
            found="no such column",
        )
        for e in inventory.of_kind(layouts.ROSTER)
        if "DistrictName" not in e.columns
    ]
    lacking = [
        e.name for e in inventory.of_kind(layouts.ASSESSMENT) if "DistrictName" not in e.columns
    ]
    if not lacking or "tests" not in parts or "roster" not in parts:
        return found
    roster = parts["roster"].frame
    covered = set(parse.per_distinct(parse.terms, parse.column(roster, "TermName"))["term_name"])
    tests = parts["tests"].frame
    terms = parse.per_distinct(parse.terms, tests["TermName"])["term_name"]
    for name in lacking:
        uncovered = sorted(set(terms[tests["source_file"].eq(name)].dropna()) - covered)
        if uncovered:
            found.append(
                Problem(
                    name,
                    f"a DistrictName column, a StudentsBySchool export of {', '.join(uncovered)} "
                    f"to take it from (by StudentID and SchoolName), or {setting}",
                    line=1,
                    column="DistrictName",
                    found="no such column",
                )
            )
    return found


@dataclass(frozen=True)
class IngestResult:
    """Where every test row went, as Arrow tables with text dictionary-encoded: the kept rows
    (positions ``kept_rows`` of ``tests``, which :attr:`scores` takes), duplicates and rejects;
    the school frame; and counts that add up (checked when screened)."""

    tests: pa.Table  # the typed tests' score columns, every row read
    kept_rows: np.ndarray  # ascending positions in ``tests``: one test per student x subject x term
    duplicates: pa.Table
    rejects: pa.Table
    schools: pd.DataFrame
    files: dict[str, dict[str, Any]]
    terms: dict[str, dict[str, int]]
    rejects_by_reason: dict[str, dict[str, int]]
    students: int
    ignored: dict[str, str]
    unread: dict[str, str]  # files that may hold test rows ingest could not read, and why

    @property
    def scores(self) -> pa.Table:
        """The kept tests (the scores output), taken from ``tests``."""
        return self.tests.take(self.kept_rows)

    def summary(self) -> dict[str, Any]:
        """The ingest_summary.json content: per file, per term, by reason, totals."""

        def total(kinds: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, int]:
            files = [f for f in self.files.values() if f["kind"] in kinds]
            return {k: sum(f[k] for f in files) for k in ("rows_read", *keys)}

        return {
            "files": self.files,
            "terms": self.terms,
            "rejects_by_reason": self.rejects_by_reason,
            "ignored_files": self.ignored,
            "unread_files": self.unread,
            "totals": total(layouts.TEST_KINDS, TEST_STATUSES)
            | {"students": self.students, "schools_in_frame": len(self.schools)},
            "roster_totals": total((layouts.ROSTER,), ROSTER_STATUSES),
        }


#: Config ``ingest`` keys that change how the exports are read and typed; the others (screens,
#: end_of_course) apply to the typed rows, so analyses differing only in them share one read.
READ_KEYS = ("column_aliases", "district_name")
#: The typed test columns that screening, de-duplication and the outputs use (no student IDs:
#: only their pseudonymous keys).
TYPED_COLUMNS = [
    *SCORE_COLUMNS,
    "subject_text",
    "subject_column",
    "end_of_course",
    "test_time",
    "has_roster",
    "grade_unknown",
    "grade_note",
]


@dataclass(frozen=True)
class ReadExports:
    """A cohort folder read and typed once: test rows with the roster joined and pseudonymous
    keys (:data:`TYPED_COLUMNS`, in file and line order), rejected roster rows, the school
    frame, and per file what it is and how many rows it gave (test rows' fates come later).

    Screens and de-duplication (:func:`screen`) work from it, so analyses that change only
    screening settings never read the exports again.
    """

    tests: pa.Table
    roster_rejects: pa.Table
    schools: pd.DataFrame
    files: dict[str, dict[str, Any]]
    ignored: dict[str, str]
    unread: dict[str, str]  # files that may hold test rows ingest could not read, and why


def build(raw: RawInputs, inventory: Inventory, settings: IngestSettings, key: str) -> IngestResult:
    """The ingest outputs from validated raw text (``validate`` returned no problems)."""
    return screen(read_exports(typed_inputs(raw, settings), inventory, settings, key), settings)


@dataclass(frozen=True)
class TypedInputs:
    """Validated raw text typed: test and roster rows, the school frame, and per file the
    rows read, blank lines and encoding; what :func:`read_exports` needs of the raw text, so
    the text can be freed before the roster is joined and students are pseudonymised."""

    tests: pd.DataFrame
    roster: pd.DataFrame
    schools: pd.DataFrame
    rows_read: dict[str, int]
    blank_lines: dict[str, int]
    encodings: dict[str, str]


def typed_inputs(raw: RawInputs, settings: IngestSettings) -> TypedInputs:
    """Type validated raw text (uses ``settings.district_name``); end_of_course flags every
    such test (see :func:`screen`)."""
    parts = (raw.tests, raw.roster, raw.schools)
    rows_read: dict[str, int] = {}
    for source in parts:
        rows_read |= _counts(source.frame["source_file"])
    return TypedInputs(
        tests=typed_tests(raw.tests.frame),
        roster=typed_roster(raw.roster.frame, settings.district_name),
        schools=schools.school_frame(raw.schools.frame),
        rows_read=rows_read,
        blank_lines=raw.tests.blank_lines | raw.roster.blank_lines,
        encodings={name: code for p in parts for name, code in p.encodings.items()},
    )


def read_exports(
    typed: TypedInputs, inventory: Inventory, settings: IngestSettings, key: str
) -> ReadExports:
    """Typed rows joined once: the roster joined to the tests, students pseudonymised (uses
    ``settings.district_name``; screens come later).

    Raw rows come in (source_file, source_line) order, so outputs taken in row order are
    sorted without a sort.
    """
    # names as schools.csv spells them (schools.Spellings), before students are keyed by
    # district; a district taken from the roster is found by the names as the exports write them
    spellings = schools.Spellings.of_frame(typed.schools)
    roster = spellings.framed(typed.roster)
    tests = typed.tests.assign(
        district=districts(typed.tests, typed.roster, settings.district_name)
    )
    tests = spellings.framed(tests)
    # the students' keys on a second thread, beside the roster's join: both mostly group rows
    # by their codes (pandas' factorize lets go of the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        student_keys = pool.submit(_student_keys, tests["district"], tests["student_id"], key)
        test_ids, roster_ids = parse.shared_ids(
            [tests[c] for c in ("term_name", "district", "student_id")],
            [roster[c] for c in ("term_name", "district", "student_id")],
        )
        roster_status, match = _resolve_roster(roster, roster_ids, test_ids, tests["combined"])
        tests = _with_roster(tests, roster, match)
        tests["student_key"] = student_keys.result()

    roster_rejected = np.flatnonzero(roster_status.eq("rejected").to_numpy())
    rejected_roster = _select(roster, REJECT_COLUMNS, roster_rejected)
    code = _select(roster, ["grade_code"], roster_rejected)["grade_code"].astype("str")
    rejected_roster["reason"] = np.where(code.notna(), "grade_unknown", "missing_grade")
    rejected_roster["detail"] = np.where(
        code.notna(), _not_grades(code.fillna("").to_numpy(object)), "empty"
    )
    rejected_roster["student_key"] = _student_keys(
        rejected_roster["district"],
        _select(roster, ["student_id"], roster_rejected)["student_id"],
        key,
    )
    return ReadExports(
        tests=pa.Table.from_pandas(tests[TYPED_COLUMNS], preserve_index=False),
        roster_rejects=pa.Table.from_pandas(
            rejected_roster.assign(record="roster", column="Grade"), preserve_index=False
        ),
        schools=typed.schools,
        files=_file_entries(inventory, typed, roster_status),
        ignored={f.name: f.reason for f in inventory.ignored if not f.unread},
        unread={f.name: f.reason for f in inventory.unread()},
    )


def screen(exports: ReadExports, settings: IngestSettings) -> IngestResult:
    """Screen and de-duplicate typed test rows (``settings.screens`` and ``end_of_course``):
    every test row ends in scores, duplicates or rejects; the counts are checked to add up.

    Works on the Arrow table as read_exports wrote it (memory-mapped by the ingest stage):
    screens and de-duplication look at the few columns they need, as numbers and dictionary
    codes; rows are taken from the table only for the outputs.
    """
    tests = exports.tests
    checked = tests.select(VERDICT_COLUMNS).to_pandas()
    if settings.end_of_course != "reject":  # kept: analysed as math (typed_tests)
        checked["end_of_course"] = False
    verdicts = screens.verdicts(checked, settings.screens)
    del checked
    if tests.num_rows and not verdicts.usable.any():
        raise _nothing_usable(tests, verdicts)
    kept_rows, duplicate_rows, kept_for = _one_per_term(tests, verdicts.usable)

    # kept_for is not ascending: taken in order, then put in place
    order = np.argsort(kept_for, kind="stable")
    kept_from = io.take_rows(tests.select(["source_file", "source_line"]), kept_for[order])
    kept_from = kept_from.take(np.argsort(order))
    duplicates = (
        io.take_rows(tests.select(SCORE_COLUMNS), duplicate_rows)
        .append_column("kept_source_file", kept_from["source_file"])
        .append_column("kept_source_line", kept_from["source_line"])
    )
    where = ["source_file", "source_line", *REJECT_COLUMNS[REJECT_COLUMNS.index("student_key") :]]
    rejected_tests = _as_text(io.take_rows(tests.select(where), verdicts.rejected)).append_column(
        "record", pa.array(["test"] * len(verdicts.rejected), pa.large_string())
    )
    for name, values in (
        ("reason", verdicts.reason.iloc[verdicts.rejected].astype(object).to_numpy()),
        ("column", verdicts.column),
        ("detail", verdicts.detail),
    ):
        rejected_tests = rejected_tests.append_column(
            name, pa.array(values, pa.large_string(), from_pandas=True)
        )
    rejects = pa.concat_tables(
        [rejected_tests.select(REJECT_COLUMNS), _as_text(exports.roster_rejects, REJECT_COLUMNS)]
    ).sort_by([("source_file", "ascending"), ("source_line", "ascending")])

    files, terms = _where_rows_went(
        tests, exports.files, kept_rows, duplicate_rows, verdicts.rejected
    )
    student, _ = _codes(tests["student_key"])
    roster_reasons = exports.roster_rejects["reason"].to_pandas()
    return IngestResult(
        tests=tests.select(SCORE_COLUMNS),
        kept_rows=kept_rows,
        duplicates=duplicates,
        rejects=rejects,
        schools=exports.schools,
        files=files,
        terms=terms,
        rejects_by_reason={
            "test": _counts(verdicts.reason.iloc[verdicts.rejected]),
            "roster": _counts(roster_reasons),
        },
        students=int(np.count_nonzero(np.bincount(student[kept_rows] + 1)[1:])),
        ignored=exports.ignored,
        unread=exports.unread,
    )


#: The typed test columns the screens look at (:func:`screens.verdicts`).
VERDICT_COLUMNS = [
    "rit",
    "se",
    "duration_minutes",
    "rapid_guessing_pct",
    "end_of_course",
    "subject",
    "subject_text",
    "subject_column",
    "has_roster",
    "district",
    "grade",
    "grade_unknown",
    "grade_note",
    "test_date",
    "season",
    "school_year",
    "term_name",
]
#: The typed test columns that order a student's tests of a subject and term (:mod:`dedupe`).
DEDUPE_COLUMNS = ["growth_measure", "se", "test_date", "test_time", "source_file", "source_line"]


def _one_per_term(tests: pa.Table, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of kept tests, of duplicates, and of the test kept for each duplicate.

    A usable test is kept when it is its student x subject x term's only one (nineteen in
    twenty in a national cohort); :func:`dedupe.choose` orders the others.
    """
    group = np.zeros(tests.num_rows, dtype=np.int64)  # the combination's codes, as one number
    for name in ("student_key", "subject", "term_name"):
        codes, dictionary = _codes(tests[name])
        group = group * (len(dictionary) + 1) + codes + 1
    rows = np.flatnonzero(usable)
    group = group[rows]
    shared = np.bincount(group)[group] > 1
    shared_rows = rows[shared]
    candidates = io.take_rows(tests.select(DEDUPE_COLUMNS), shared_rows).to_pandas()
    choice = dedupe.choose(candidates, np.unique(group[shared], return_inverse=True)[1])
    kept = usable.copy()
    kept[shared_rows[choice.duplicates]] = False
    return (
        np.flatnonzero(kept),
        shared_rows[choice.duplicates],
        shared_rows[choice.kept_row[choice.duplicates]],
    )


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """A dictionary-encoded column's codes (-1: missing) and its dictionary."""
    if not column.num_chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], column.type.value_type)
    dictionary = io.one_dictionary(column)
    chunks = column.chunks
    if dictionary is None:  # chunks of their own dictionaries: unified
        chunks = [pa.concat_arrays(chunks)]
        dictionary = chunks[0].dictionary
    codes = [c.indices.fill_null(-1).to_numpy().astype(np.int64) for c in chunks]
    return np.concatenate(codes), dictionary


def _as_text(table: pa.Table, columns: list[str] | None = None) -> pa.Table:
    """``columns`` of ``table`` (default all) with text as plain large strings; a column the
    table lacks is missing throughout."""
    out = {}
    for name in columns or table.column_names:
        if name not in table.column_names:
            out[name] = pa.nulls(table.num_rows, pa.large_string())
            continue
        values = table[name]
        kind = values.type
        text = pa.types.is_dictionary(kind) or pa.types.is_null(kind) or pa.types.is_string(kind)
        out[name] = values.cast(pa.large_string()) if text else values
    return pa.table(out)


def _where_rows_went(
    tests: pa.Table,
    entries: dict[str, dict[str, Any]],
    kept: np.ndarray,
    duplicates: np.ndarray,
    rejected: np.ndarray,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """``entries`` with, per test file, where its rows went, and the same per term; checks
    that no row was lost."""
    landed, read = {}, {}
    for column in ("source_file", "term_name"):
        codes, dictionary = _codes(tests[column])
        names = dictionary.to_pylist()
        landed[column] = {
            status: _tally(codes[rows], names)
            for status, rows in (("kept", kept), ("duplicates", duplicates), ("rejected", rejected))
        }
        read[column] = _tally(codes, names)
    files = {}
    for name, entry in entries.items():
        if entry["kind"] in layouts.TEST_KINDS:
            entry = entry | {k: landed["source_file"][k].get(name, 0) for k in TEST_STATUSES}
            _check_adds_up(name, entry, TEST_STATUSES)
        files[name] = entry
    by_term = landed["term_name"]
    terms = {}
    for term, rows in read["term_name"].items():
        entry = {"rows_read": rows} | {k: by_term[k].get(term, 0) for k in TEST_STATUSES}
        _check_adds_up(term, entry, TEST_STATUSES)
        terms[term] = entry
    total = {"rows_read": tests.num_rows} | {k: sum(by_term[k].values()) for k in TEST_STATUSES}
    _check_adds_up("all test rows", total, TEST_STATUSES)
    return files, terms


def _tally(codes: np.ndarray, names: list[str]) -> dict[str, int]:
    """Rows per value of a dictionary column's ``codes`` (missing and zeros left out), by value."""
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    return {str(k): int(v) for k, v in sorted(zip(names, counts, strict=True)) if v}


def typed_tests(raw: pd.DataFrame, reject_end_of_course: bool = True) -> pd.DataFrame:
    """Typed columns of validated raw test rows (one row per row read, same order).

    ``district`` is missing for rows of files without a DistrictName column (see
    :func:`districts`). End-of-course tests are flagged for rejection when
    ``reject_end_of_course``, else analysed as math.
    """

    def col(name: str) -> pd.Series:
        return parse.column(raw, name)

    def number(name: str, parser: Callable[[pd.Series], pd.Series] = parse.numbers) -> np.ndarray:
        return parse.per_distinct(parser, col(name)).to_numpy(float)

    term = parse.per_distinct(parse.terms, col("TermName"))
    # the growth fields on a second thread, beside the other columns: mostly numpy over every
    # row, which lets go of the GIL (a three-year national cohort: 3 of typing's 5-6 s)
    with ThreadPoolExecutor(max_workers=1) as pool:
        growth_columns = pool.submit(growth.typed, col, term["season"])
        subject = subjects(raw)
        end_of_course = subject["end_of_course"].to_numpy(bool)
        date_time = parse.per_distinct(parse.date_times, col("TestStartDate"))
        test_time = parse.per_distinct(parse.times, col("TestStartTime")).to_numpy(float)
        return pd.DataFrame(
            {
                "source_file": raw["source_file"],
                "source_line": raw["source_line"].to_numpy(np.int64),
                "district": parse.strip(col("DistrictName")),
                "school": parse.strip(col("SchoolName")),
                "student_id": parse.student_ids(col("StudentID")),
                "term_name": term["term_name"],
                "season": term["season"],
                "school_year": term["school_year"],
                "subject": subject["subject"],
                "subject_text": subject["subject_text"],
                "subject_column": subject["subject_column"],
                "end_of_course": end_of_course & reject_end_of_course,
                "test_date": date_time["date"],
                # a time in the date cell ("9/16/2013 9:00:00 AM") when TestStartTime has none
                "test_time": np.where(
                    np.isnan(test_time), date_time["time"].to_numpy(float), test_time
                ),
                "rit": number("TestRITScore"),
                "se": number("TestStandardError"),
                "nwea_percentile": pd.array(
                    np.round(number("TestPercentile", parse.percentages))
                ).astype("Int64"),
                "duration_minutes": number("TestDurationMinutes"),
                "rapid_guessing_pct": number("RapidGuessingPercentage", parse.percentages),
                "growth_measure": parse.per_distinct(parse.flags, col("GrowthMeasureYN")),
                # not a norms year (e.g. USER): kept, as missing
                "norms_reference": parse.per_distinct(parse.norms_years, col("NormsReferenceData")),
                "combined": col("Grade").notna().to_numpy(),
                "grade": parse.per_distinct(parse.grades, col("Grade")),
                "grade_code": parse.text(col("Grade")),
                "gender": parse.genders(col("StudentGender")),
                "ethnicity": parse.text(col("StudentEthnicGroup")),
                **growth_columns.result(),
            },
            index=raw.index,
            copy=False,  # a block per column: consolidating the numbers copied them all at once
        )


def typed_roster(raw: pd.DataFrame, district_name: str | None = None) -> pd.DataFrame:
    """Typed columns of validated StudentsBySchool rows; ``district_name`` is the district of
    rows from files without a DistrictName column."""

    def col(name: str) -> pd.Series:
        return parse.column(raw, name)

    term = parse.per_distinct(parse.terms, col("TermName"))
    district = with_district(parse.strip(col("DistrictName")), district_name)
    return pd.DataFrame(
        {
            "source_file": raw["source_file"],
            "source_line": raw["source_line"].to_numpy(np.int64),
            "district": district,
            "school": parse.text(col("SchoolName")),
            "student_id": parse.student_ids(col("StudentID")),
            "term_name": term["term_name"],
            "season": term["season"],
            "school_year": term["school_year"],
            "grade": parse.per_distinct(parse.grades, col("Grade")),
            "grade_code": parse.text(col("Grade")),
            "gender": parse.genders(col("StudentGender")),
            "ethnicity": parse.text(col("StudentEthnicGroup")),
        },
        index=raw.index,
    )


def with_district(district: pd.Series, district_name: str | None) -> pd.Series:
    """``district`` (categorical) with ``district_name``, the folder's one district when the
    config names it, where it is missing (rows of files without a DistrictName column)."""
    if district_name is None or not district.isna().any():
        return district
    return district.cat.add_categories([district_name]).fillna(district_name)


def districts(tests: pd.DataFrame, roster: pd.DataFrame, district_name: str | None) -> pd.Series:
    """Each test row's district: its DistrictName; for rows of files without that column,
    ``district_name`` (a folder of one district) or else the district of the first roster
    row of the same term, StudentID and SchoolName; missing when there is none (the row is
    then rejected as no_roster_row)."""
    own = parse.categorical(tests["district"])
    lacking = own.isna().to_numpy()
    if not lacking.any():
        return own
    if district_name is not None:
        return with_district(own, district_name)
    keys = ("term_name", "student_id", "school")
    test_ids, roster_ids = parse.shared_ids(
        [tests[c] for c in keys], [parse.strip(roster[c]) for c in keys]
    )
    named = np.flatnonzero(roster["district"].notna().to_numpy())
    ids, first = np.unique(roster_ids[named], return_index=True)  # first row of each key
    lookup = np.full(max(roster_ids.max(initial=-1), test_ids.max(initial=-1)) + 1, -1)
    lookup[ids] = named[first]
    match = lookup[test_ids]
    joined = lacking & (match >= 0)
    return pd.Series(
        _coalesce(joined, own, roster["district"], np.where(joined, match, 0)),
        index=tests.index,
        name="district",
    )


def _student_keys(district: pd.Series, student_id: pd.Series, key: str) -> pd.Series:
    """Pseudonymous keys; missing for rows without a district (no district, no student)."""
    keys = pseudonym.student_keys(district, student_id, key)
    if not district.isna().any():
        return keys
    codes = np.where(district.isna().to_numpy(), -1, keys.cat.codes.to_numpy())
    return pd.Series(
        pd.Categorical.from_codes(codes, keys.cat.categories), index=keys.index, name=keys.name
    )


def _not_grades(codes: np.ndarray) -> np.ndarray:
    """Per grade code that is not a grade, the detail saying so (built once per distinct code)."""
    ids, distinct = pd.factorize(codes)
    return np.array(
        [f"{quoted(c)} is not a grade ({parse.GRADES_READ})" for c in distinct] + [""],
        dtype=object,
    )[ids]


def subjects(raw: pd.DataFrame) -> pd.DataFrame:
    """Per raw test row, its analysis subject, the text and column it came from, and whether
    it is an end-of-course math test (:func:`_subject`, once per distinct combination)."""
    names = ("MeasurementScale", "Subject", "Course", "TestName")
    return parse.per_distinct(_subject, *(parse.column(raw, n) for n in names))


def _subject(
    scale: pd.Series, subject: pd.Series, course: pd.Series, test_name: pd.Series
) -> pd.DataFrame:
    """Analysis subject from MeasurementScale (A/B) or Subject + Course (C), whichever of
    MeasurementScale and Subject is filled (files of one era have blanks in either); the text
    and column it came from; whether it is an end-of-course math test (Algebra I, Geometry,
    Integrated Math, filed as Mathematics in older exports), and if so the text naming it."""
    scale, subject, course, test_name = map(parse.unmarked, (scale, subject, course, test_name))
    scale_text = scale.fillna("").str.strip()
    from_scale = scale_text.ne("")
    from_subject = ~from_scale & subject.fillna("").str.strip().ne("")
    course_text = subject.fillna("").str.strip() + " / " + course.fillna("").str.strip()
    analysed = parse.subject_from_scale(scale_text).where(
        from_scale, parse.subject_from_course(subject.fillna(""), course)
    )
    names = {"Course": course, "TestName": test_name, "MeasurementScale": scale}
    eoc_column = pd.Series(None, index=scale.index, dtype="str")
    for name, values in reversed(names.items()):  # the first that names it wins
        eoc_column = eoc_column.mask(parse.end_of_course(values), name)
    math = (
        analysed.eq("math")
        | scale_text.str.contains("math", case=False)
        | subject.fillna("").str.contains("math", case=False)
        | eoc_column.eq("MeasurementScale")
    )
    eoc = eoc_column.notna() & math.fillna(False).astype(bool)
    eoc_text = pd.Series(
        np.select(
            [eoc_column.eq(n).fillna(False).to_numpy(bool) for n in names],
            [v.fillna("").str.strip().to_numpy(object) for v in names.values()],
            default=None,
        ),
        index=scale.index,
    )
    text = scale_text.where(from_scale, course_text.where(from_subject, ""))
    column = np.where(from_scale, "MeasurementScale", np.where(from_subject, "Course", None))
    return pd.DataFrame(
        {
            "subject": analysed.where(~eoc, "math"),
            "subject_text": eoc_text.where(eoc, text).astype("str"),
            "subject_column": pd.Series(
                np.where(eoc, eoc_column.to_numpy(object), column), index=scale.index
            ).astype("str"),
            "end_of_course": eoc.astype(bool),
        }
    )


def _resolve_roster(
    roster: pd.DataFrame, roster_ids: np.ndarray, test_ids: np.ndarray, combined: pd.Series
) -> tuple[pd.Series, np.ndarray]:
    """Status of each roster row and, per test row, the roster row it joins to (-1: none).

    One roster row per term x district x student: a row with a grade first, then the first
    by file and line; the others are duplicates. A kept row without a grade is rejected.
    """
    no_grade = roster["grade"].isna().to_numpy()
    order = np.lexsort(
        (
            roster["source_line"].to_numpy(),
            roster["source_file"].cat.codes.to_numpy(),
            no_grade,
            roster_ids,
        )
    )
    first = np.ones(len(order), dtype=bool)
    first[1:] = roster_ids[order][1:] != roster_ids[order][:-1]
    primary = order[first]
    lookup = np.full(max(roster_ids.max(initial=-1), test_ids.max(initial=-1)) + 1, -1)
    lookup[roster_ids[primary]] = primary
    match = np.where(combined.to_numpy(), -1, lookup[test_ids])
    used = np.zeros(len(roster), dtype=bool)
    used[match[match >= 0]] = True
    status = np.full(len(roster), ROSTER_STATUSES.index("duplicates"), dtype=np.int8)
    status[primary] = ROSTER_STATUSES.index("unused")
    status[used] = ROSTER_STATUSES.index("used")
    status[primary[no_grade[primary]]] = ROSTER_STATUSES.index("rejected")
    return pd.Series(pd.Categorical.from_codes(status, ROSTER_STATUSES), index=roster.index), match


def _with_roster(tests: pd.DataFrame, roster: pd.DataFrame, match: np.ndarray) -> pd.DataFrame:
    """Grade, gender and ethnicity from the joined roster row for AssessmentResults rows;
    for rows left without a grade, whether the grade was an unknown code and a note saying
    where it was missing or unreadable."""
    joined = match >= 0
    take = np.where(joined, match, 0)
    grade = tests["grade"].to_numpy(dtype=float, na_value=np.nan)
    if len(roster):
        theirs = roster["grade"].to_numpy(dtype=float, na_value=np.nan)[take]
        grade = np.where(joined, theirs, grade)
    # the grade code the grade came from, on categorical codes: as text it was a Python
    # string per row (0.7 CPU s for a national cohort), read only where no grade came of it
    code = _coalesce(joined, tests["grade_code"], roster["grade_code"], take)
    grade = pd.array(grade, dtype="Float64").astype("Int64")
    missing = np.asarray(grade.isna(), dtype=bool)
    unknown = missing & ~code.isna()
    note = pd.Series(pd.NA, index=tests.index, dtype="str")
    own = missing & tests["combined"].to_numpy()
    note[own] = "empty"
    via = missing & joined
    if via.any():
        note[via] = (_roster_places(roster, take[via]) + " has no grade").to_numpy()
    if unknown.any():
        text = _not_grades(np.asarray(code[unknown], dtype=object))
        from_roster = joined[unknown]
        places = _roster_places(roster, take[unknown & joined])
        text[from_roster] = (places + ": " + pd.Series(text[from_roster], dtype="str")).to_numpy()
        note[unknown] = text
    return tests.assign(
        has_roster=tests["combined"].to_numpy() | joined,
        grade=grade,
        grade_unknown=unknown,
        gender=_coalesce(joined, tests["gender"], roster["gender"], take),
        ethnicity=_coalesce(joined, tests["ethnicity"], roster["ethnicity"], take),
        grade_note=note,
    )


def _roster_places(roster: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """Where each of the roster ``rows`` is ("StudentsBySchool row at <file> line <n>")."""
    where = pd.Series(roster["source_file"].to_numpy()[rows], dtype="str")
    line = pd.Series(roster["source_line"].to_numpy()[rows]).astype("str")
    return "StudentsBySchool row at " + where + " line " + line


def _coalesce(
    joined: np.ndarray, own: pd.Series, theirs: pd.Series, take: np.ndarray
) -> pd.Categorical:
    """Per row, ``theirs[take]`` where ``joined`` else ``own``, on categorical codes."""
    both = pd.api.types.union_categoricals(
        [parse.categorical(own).array, parse.categorical(theirs).array]
    )
    codes = both.codes
    own_codes, their_codes = codes[: len(own)], codes[len(own) :]
    picked = their_codes[take] if len(their_codes) else np.full(len(own), -1, dtype=codes.dtype)
    return pd.Categorical.from_codes(np.where(joined, picked, own_codes), both.categories)


def _select(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """``columns`` of ``frame`` at positions ``rows`` (absent columns missing); text stays
    categorical."""
    out = {}
    for name in columns:
        if name not in frame:
            out[name] = pd.Categorical.from_codes(np.full(len(rows), -1), pd.Index([], dtype="str"))
            continue
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[name] = pd.Categorical.from_codes(
                values.cat.codes.to_numpy()[rows], values.cat.categories
            )
        else:
            out[name] = values.array.take(rows)
    return pd.DataFrame(out, copy=False)  # the taken columns as they are: no second copy


def _nothing_usable(tests: pa.Table, verdicts: screens.Verdicts) -> InputError:
    """Every test row rejected: one line at the first row of the commonest reason, with each
    reason's count. Analysed, such a cohort gives a report of "no PL students" that hides the
    cause (e.g. a roster whose StudentIDs a spreadsheet changed: every test has no roster row).
    """
    reasons = verdicts.reason.iloc[verdicts.rejected]
    counts = sorted(_counts(reasons).items(), key=lambda item: (-item[1], item[0]))
    commonest = counts[0][0]
    at = int(np.flatnonzero((reasons == commonest).to_numpy())[0])  # into verdicts.rejected
    row = tests.select(["source_file", "source_line"]).slice(int(verdicts.rejected[at]), 1)
    listed = ", ".join(f"{reason} {count:,}" for reason, count in counts)
    detail = "" if verdicts.detail[at] is None else f" ({verdicts.detail[at]})"
    return InputError.at(
        row["source_file"][0].as_py(),
        f"test rows that pass the screens, but all {len(verdicts.rejected):,} were rejected "
        f"({listed}), this one as {commonest}{detail}; `pl-eval check-inputs` tells more",
        line=row["source_line"][0].as_py(),
        column=verdicts.column[at],
    )


def _counts(values: pd.Series) -> dict[str, int]:
    """Rows per distinct value, by value (zeros left out)."""
    counts = parse.categorical(values).value_counts(sort=False)
    return {str(k): int(v) for k, v in sorted(counts.items()) if v}


def _file_entries(
    inventory: Inventory, typed: TypedInputs, roster_status: pd.Series
) -> dict[str, dict[str, Any]]:
    """Per input file: what it is and rows read; where roster rows went (checked to add up).
    Test files' rows are counted by :func:`_where_rows_went` once screened."""
    roster = typed.roster
    roster_by_file = {
        status: _counts(roster["source_file"][roster_status.eq(status)])
        for status in ROSTER_STATUSES
    }
    files: dict[str, dict[str, Any]] = {}
    for export in inventory.exports:
        entry = export.describe() | {"rows_read": typed.rows_read.get(export.name, 0)}
        entry["encoding"] = typed.encodings.get(export.name, entry["encoding"])
        if export.kind in layouts.TEST_KINDS:
            entry["blank_lines"] = typed.blank_lines.get(export.name, 0)
        elif export.kind == layouts.ROSTER:
            entry |= {k: roster_by_file[k].get(export.name, 0) for k in ROSTER_STATUSES}
            entry["blank_lines"] = typed.blank_lines.get(export.name, 0)
            _check_adds_up(export.name, entry, ROSTER_STATUSES)
        else:
            entry["schools"] = entry["rows_read"]
        files[export.name] = entry
    return files


def _check_adds_up(where: str, entry: Mapping[str, int], parts: tuple[str, ...]) -> None:
    """rows_read must equal the sum of where the rows went: a lost row is a bug, not input."""
    if entry["rows_read"] != sum(entry[p] for p in parts):
        raise RuntimeError(f"ingest lost rows in {where}: {dict(entry)}")
