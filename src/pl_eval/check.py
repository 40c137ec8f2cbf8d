"""check-inputs: is a cohort folder ready for the workflow?

The folder is read and validated by the same code as ingest (``stages._read_folder``), so its
problems come with the same messages. On top, what would otherwise surface later or not at
all: the school years build_panel would analyse, schools.csv against the schools in the
exports, and test rows without a roster row. A school tested in an analysed year but absent
from schools.csv is an error: the input contract makes schools.csv the frame of every
school, and without a row its students can be neither PL nor comparison (the panel would
drop them as ``school_not_in_frame``). A PL school of schools.csv with no students tested is
a warning: the contract does not require tests of every school, but it usually means
missing exports or a name spelt differently. So are test rows without a roster row (ingest
rejects them): a few are usual, many usually mean IDs that one export changed; and so are
roster grades ingest does not read (it rejects their tests), which a district roster writing
its grades its own way would give every student. A spreadsheet workbook or an archive other
than a .zip (whose files are read) in the folder is a problem, though ingest goes on without
it (listing it under ``unread_files``): it is almost always exports the evaluator forgot to
save as CSV or to extract, whose students would silently be missing.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pl_eval import panel as panels
from pl_eval.errors import ConfigError, quoted
from pl_eval.ingest import Folder, IngestSettings, layouts, parse, pipeline
from pl_eval.ingest.schools import Spellings, loose_name
from pl_eval.io import RawFile
from pl_eval.wording import counted

#: Names of the file kinds in the summary.
KIND_NAMES = {
    layouts.ASSESSMENT: "AssessmentResults",
    layouts.COMBINED: "ComboStudentAssessment",
    layouts.ROSTER: "StudentsBySchool",
    layouts.SCHOOLS: "schools.csv",
}
SCHOOL_ARMS = ("PL", "comparison", "not yet PL")


@dataclass(frozen=True)
class FolderCheck:
    """What check-inputs found in a cohort folder: problems (the folder is not ready while
    there are any), warnings, and what the folder holds."""

    folder: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    files: dict[str, int]  # recognised files by kind and layout
    ignored: int  # files ingest does not read (listed in its summary)
    test_rows: int
    roster_rows: int
    students: int  # distinct (DistrictName, StudentID) in the test rows
    terms: dict[str, int]  # test rows per term
    schools: dict[str, int]  # schools.csv rows by arm, and schools tested in the exports
    school_year: str | None

    @property
    def ready(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        files = ", ".join(f"{n} {kind}" for kind, n in self.files.items())
        terms = "; ".join(f"{term}: {n:,}" for term, n in self.terms.items())
        arms = ", ".join(f"{self.schools[arm]:,} {arm}" for arm in SCHOOL_ARMS)
        others = f"{counted(self.ignored, 'other file')} ignored"
        return "\n".join(
            [
                f"{self.folder} is ready: {files}; {others}",
                f"  test rows: {self.test_rows:,} ({terms}); roster rows: {self.roster_rows:,}",
                f"  students: {self.students:,}",
                f"  schools: {self.schools['in_frame']:,} in schools.csv ({arms}), "
                f"{self.schools['tested']:,} tested in fall or spring",
                f"  school year: {self.school_year}",
            ]
        )


def check_folder(
    folder: str,
    read: Folder,
    settings: IngestSettings,
    *,
    school_years: Sequence[str] = (),
    copies: Sequence[Sequence[RawFile]] = (),
) -> FolderCheck:
    """Every problem and warning of a cohort folder read by ingest's reader, and its summary.

    ``settings`` are the ingest settings it was read with; ``school_years`` the configured
    years of this cohort, each analysed, the last the main analysis (none: the only year in
    the exports). A school tested in any of them needs a row in schools.csv. ``copies`` are
    groups of its exports that hold the same bytes (:func:`pl_eval.io.same_bytes`).
    """
    problems = [str(p) for p in read.located_problems(folder)]
    problems += [f"{Path(folder) / f.name}: not read: {f.reason}" for f in read.inventory.unread()]
    tests, frame = _rows(read, "tests"), _rows(read, "schools")
    spellings = Spellings.of_frame(frame)  # export names read as schools.csv spells them
    district = _own_districts(tests) if read.problems else _districts(read, settings)
    district = spellings.district(district)
    terms = parse.per_distinct(parse.terms, parse.column(tests, "TermName"))
    student = parse.student_ids(parse.column(tests, "StudentID"))
    analysed = []  # the configured years that have fall or spring tests
    for configured in (school_years or [None]) if len(tests) else []:
        try:
            analysed.append(panels.school_year_of(terms, configured))
        except ConfigError as exc:
            problems.append(f"{folder}: {exc}")
    main = school_years[-1] if school_years else None
    year = analysed[-1] if analysed and main in (None, analysed[-1]) else None
    tested = _tested_schools(tests, district, terms, student, spellings, [year] if year else None)
    arms = _school_arms(frame, year)
    warnings = [repeated_export(group, folder) for group in copies]
    if len(tested) and {"district_name", "school_name"} <= set(frame.columns):
        every_year = (  # one year analysed (the usual case): the same table
            tested
            if analysed == ([year] if year else [])
            else _tested_schools(tests, district, terms, student, spellings, analysed or None)
        )
        problems += unframed_schools(every_year, frame, folder, analysed)
        warnings += untested_pl_schools(tested, frame, arms, folder, year)
    if not read.problems:
        roster = _rows(read, "roster")
        gap = tests_without_roster(
            tests, district, terms, student, roster, settings, spellings, folder
        )
        if gap is not None:  # with no test to keep, ingest stops: not ready
            (problems if gap.every_test else warnings).append(gap.line)
        warnings += [
            line
            for kind, rows in (("StudentsBySchool", roster), ("ComboStudentAssessment", tests))
            if (line := unread_grades(rows, kind, folder))
        ]
        if line := unread_subjects(tests, folder):
            warnings.append(line)
    students, _ = parse.group_ids(district, student)
    return FolderCheck(
        folder=folder,
        problems=tuple(problems),
        warnings=tuple(warnings),
        files=dict(
            sorted(Counter(_kind_name(e.kind, e.layout) for e in read.inventory.exports).items())
        ),
        ignored=len(read.inventory.ignored),
        test_rows=len(tests),
        roster_rows=len(_rows(read, "roster")),
        students=len(np.unique(students)),
        terms={str(k): int(v) for k, v in sorted(terms["term_name"].value_counts().items()) if v},
        schools={arm: int((arms == arm).sum()) for arm in SCHOOL_ARMS}
        | {"in_frame": len(frame), "tested": len(tested)},
        school_year=year,
    )


def repeated_export(copies: Sequence[RawFile], folder: str) -> str:
    """A warning for exports that hold the same bytes: ingest reads each row once per copy,
    and de-duplication keeps one of each test, so the analysis is right but every count of
    rows read is inflated and reading takes longer."""
    names = " and ".join(sorted(copy.name for copy in copies))
    return (
        f"{folder}: {names} hold the same bytes: ingest reads each of their rows "
        f"{len(copies)} times and keeps one (the others are counted as duplicates); move the "
        "extra copies out of the folder"
    )


def unframed_schools(
    tested: pd.DataFrame, frame: pd.DataFrame, folder: str, years: Sequence[str]
) -> list[str]:
    """One sentence per school tested in the exports that has no row in schools.csv, saying
    where it was seen and what to add (or which row may be it, spelt differently)."""
    names = _frame_names(frame)
    rows = list(zip(names["district_name"], names["school_name"], strict=True))
    seen = set(zip(tested["district"], tested["school"], strict=True))
    untested = [r for r in rows if r not in seen]  # rows that may be a school spelt otherwise
    known = set(rows)
    file = _frame_file(frame, folder)
    when = "fall or spring" + "".join(f" {y}" for y in years[:1])
    when += f" to {years[-1]}" if len(years) > 1 else ""
    lines = []
    for row in tested.itertuples(index=False):  # a loop over schools, not students
        if (row.district, row.school) in known:
            continue
        students = counted(row.students, "student")
        lines.append(
            f"{file}: no row for school {quoted(row.school)} of district "
            f"{quoted(row.district)}, where the "
            f"exports test {students} in {when} (first at {row.file}, line {row.line}); add one "
            f"with its sector, pl_start_year, frl_pct and locale{_respelt(row, rows, untested)}"
        )
    return lines


def untested_pl_schools(
    tested: pd.DataFrame, frame: pd.DataFrame, arms: np.ndarray, folder: str, year: str | None
) -> list[str]:
    """One warning per PL school of schools.csv with no students tested in the exports."""
    names = _frame_names(frame)
    seen = set(zip(tested["district"], tested["school"], strict=True))
    file = _frame_file(frame, folder)
    when = f"fall or spring {year}" if year else "fall or spring"
    lines = []
    for position in np.flatnonzero(arms == "PL"):
        district, school = names["district_name"][position], names["school_name"][position]
        if (district, school) not in seen:
            lines.append(
                f"{file}, line {frame['source_line'].iloc[position]}: PL school "
                f"{quoted(school)} of district {quoted(district)} has no students tested in "
                f"{when}; if it took part, add "
                "its exports or spell its name as they do"
            )
    return lines


@dataclass(frozen=True)
class RosterGap:
    """Test rows without a roster row (:func:`tests_without_roster`)."""

    line: str  # the warning, or the problem when every_test
    every_test: bool  # no test row has one: ingest would keep none


def tests_without_roster(
    tests: pd.DataFrame,
    district: pd.Series,
    terms: pd.DataFrame,
    student: pd.Series,
    roster: pd.DataFrame,
    settings: IngestSettings,
    spellings: Spellings,
    folder: str,
) -> RosterGap | None:
    """AssessmentResults rows without a StudentsBySchool row for their term, district and
    StudentID (ingest rejects them as no_roster_row, for want of a grade), with how many
    match once leading zeros, a trailing ".0" and letter case are ignored
    (:func:`parse.loose_ids`): IDs one export changed, most often a spreadsheet dropping their
    leading zeros, which no later stage would point out; and how many match a roster row of
    their term, school and StudentID in a district written otherwise (Riverside Unified
    School District in the roster, Riverside USD in the tests). None when every row has one."""
    own_grade = parse.column(tests, "Grade").notna().to_numpy()  # Combined rows need no roster
    if own_grade.all():
        return None
    roster_terms = parse.per_distinct(parse.terms, parse.column(roster, "TermName"))
    roster_district = spellings.district(
        pipeline.with_district(
            parse.strip(parse.column(roster, "DistrictName")), settings.district_name
        )
    )
    ids = [student, parse.student_ids(parse.column(roster, "StudentID"))]

    def keys(id_of: Callable[[pd.Series], pd.Series]) -> tuple[np.ndarray, np.ndarray]:
        return parse.shared_ids(
            [terms["term_name"], district, id_of(ids[0])],
            [roster_terms["term_name"], roster_district, id_of(ids[1])],
        )

    test_keys, roster_keys = keys(lambda i: i)
    lacking = ~own_grade & ~np.isin(test_keys, roster_keys)
    if not lacking.any():
        return None
    count, rows = int(lacking.sum()), int((~own_grade).sum())
    line = (
        f"{folder}: {count:,} of {rows:,} AssessmentResults rows ({count / rows:.1%}) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        f"{_place(tests, int(np.argmax(lacking)))}); ingest rejects them as no_roster_row"
    )
    loose_tests, loose_roster = keys(parse.loose_ids)
    near = lacking & np.isin(loose_tests, loose_roster)
    if near.any():  # places, not the IDs themselves: no student's ID is printed
        one = int(np.argmax(near))
        theirs = int(np.argmax(loose_roster == loose_tests[one]))
        line += (
            f"; {int(near.sum()):,} of them match a roster StudentID once leading zeros, a "
            f"trailing .0 and letter case are ignored (the first at {_place(tests, one)} "
            f"and {_place(roster, theirs)}); IDs are compared as written, so take the export "
            "whose IDs were changed (often by a spreadsheet, which drops leading zeros when "
            "it saves a file) from NWEA again rather than re-saving it"
        )
    schools = [parse.strip(parse.column(frame, "SchoolName")) for frame in (tests, roster)]
    school_tests, school_roster = parse.shared_ids(
        [terms["term_name"], schools[0], ids[0]], [roster_terms["term_name"], schools[1], ids[1]]
    )
    elsewhere = lacking & ~near & np.isin(school_tests, school_roster)
    if elsewhere.any():  # the district written otherwise in the roster than in the tests
        one = int(np.argmax(elsewhere))
        theirs = int(np.argmax(school_roster == school_tests[one]))
        line += (
            f"; {int(elsewhere.sum()):,} of them match a roster row of the same term, school and "
            "StudentID whose district is written otherwise (the roster writes "
            f"{quoted(roster_district.iloc[theirs])} at {_place(roster, theirs)}, where the tests "
            f"write {quoted(district.iloc[one])} at {_place(tests, one)}): write the district "
            "alike in both exports"
        )
    return RosterGap(line, every_test=bool(lacking.all()))


def unread_grades(rows: pd.DataFrame, kind: str, folder: str) -> str | None:
    """A warning for ``kind`` rows whose Grade is written but is no grade ingest reads
    (:func:`parse.grades`): ingest rejects their tests as grade_unknown, every one when a
    roster writes its grades its own way, yet the folder would be "ready". The most common
    such codes are named (a grade code names no student). None when there are none."""
    code = parse.text(parse.column(rows, "Grade"))
    unread = code.notna().to_numpy() & parse.per_distinct(parse.grades, code).isna().to_numpy()
    if not unread.any():
        return None
    count, written = int(unread.sum()), int(code.notna().sum())
    return (
        f"{folder}: {count:,} of {written:,} {kind} rows with a Grade ({count / written:.1%}) "
        f"have one that ingest does not read ({parse.GRADES_READ}): "
        f"{_commonest(Counter(code[unread].astype('str')))} (first at "
        f"{_place(rows, int(np.argmax(unread)))}); ingest rejects their tests as grade_unknown"
    )


def unread_subjects(tests: pd.DataFrame, folder: str) -> str | None:
    """A warning for test rows set aside as subject_not_analysed whose subject looks like math
    or reading (it names either, and not Spanish), or, when no row is of math or of reading,
    for every such row: a spelling of the subject that ingest does not read set every test of
    it aside, yet the folder would be "ready". The most common such subjects are named. None
    otherwise (Language Usage or Science beside both subjects is as expected)."""
    subject = pipeline.subjects(tests)
    # on the subject texts' codes: a national cohort has millions of rows and a few texts
    text = parse.categorical(subject["subject_text"])
    names = text.cat.categories.astype("str")
    codes = text.cat.codes.to_numpy()
    alike = names.str.contains(r"(?i)math|read") & ~names.str.contains(r"(?i)spanish|espa")
    other = subject["subject"].isna().to_numpy() & ~subject["end_of_course"].to_numpy(bool)
    other &= np.append(names != "", False)[codes]  # code -1 (no text) takes the last
    missing = [s for s in parse.SUBJECTS if not subject["subject"].eq(s).any()]
    rows = other & np.append(alike, False)[codes] if not missing else other
    if not rows.any():
        return None
    count = int(rows.sum())
    counts = np.bincount(codes[rows], minlength=len(names))
    return (
        f"{folder}: {count:,} of {len(tests):,} test rows ({count / len(tests):.1%}) are of a "
        "subject ingest does not analyse"
        + (f", and no test row is of {' or '.join(missing)}" if missing else "")
        + f": {_commonest(dict(zip(names, counts.tolist(), strict=True)))} (first at "
        f"{_place(tests, int(np.argmax(rows)))}); ingest rejects them as subject_not_analysed "
        "(it analyses MeasurementScale Mathematics, Math or Reading, or Subject and Course "
        "Mathematics / Math K-12 or Language Arts / Reading)"
    )


def _commonest(counts: Mapping[str, int]) -> str:
    """The three commonest values of ``counts`` with their counts, ties in text order, and
    "..." when there are more: "'PK' (2), '13th' (1)"."""
    common = sorted(((v, n) for v, n in counts.items() if n), key=lambda c: (-c[1], c[0]))
    shown = ", ".join(f"{quoted(v)} ({n:,})" for v, n in common[:3])
    return shown + (", ..." if len(common) > 3 else "")


def _place(frame: pd.DataFrame, row: int) -> str:
    """Where raw row ``row`` of ``frame`` was read: "file, line N"."""
    return f"{frame['source_file'].iloc[row]}, line {frame['source_line'].iloc[row]}"


def _rows(read: Folder, part: str) -> pd.DataFrame:
    """The raw rows of one part, none when it could not be read (its problems say why)."""
    return read.parts[part].frame if part in read.parts else pd.DataFrame()


def _own_districts(tests: pd.DataFrame) -> pd.Series:
    """The DistrictName of each raw test row (missing where its file has none)."""
    return parse.strip(parse.column(tests, "DistrictName"))


def _districts(read: Folder, settings: IngestSettings) -> pd.Series:
    """Each raw test row's district as ingest decides it (:func:`pipeline.districts`), for a
    folder that read without problems."""
    tests = _rows(read, "tests")
    own = _own_districts(tests)
    if not own.isna().any():
        return own
    return pipeline.districts(
        pipeline.typed_tests(tests),
        pipeline.typed_roster(_rows(read, "roster"), settings.district_name),
        settings.district_name,
    )


def _kind_name(kind: str, layout: str | None) -> str:
    name = KIND_NAMES.get(kind, kind)
    return f"{name} (layout {layout})" if kind == layouts.ASSESSMENT else name


def _tested_schools(
    tests: pd.DataFrame,
    district: pd.Series,
    terms: pd.DataFrame,
    student: pd.Series,
    spellings: Spellings,
    years: Sequence[str] | None,
) -> pd.DataFrame:
    """Per school with fall or spring tests of ``years`` (all years when None): its students
    and its first test row (raw rows come in file and line order), by district and school.

    ``terms`` and ``student`` (StudentID, stripped) are per row, as categoricals. Counted on
    category codes: grouping a three-year national cohort's 14.6 million rows as text took 5
    to 10 s a table."""
    columns = ["district", "school", "students", "file", "line"]
    district = parse.text(district)
    school = spellings.school(district, parse.text(parse.column(tests, "SchoolName")))
    keep = terms["season"].isin(["fall", "spring"]).to_numpy(bool, copy=True)
    if years is not None:
        keep &= terms["school_year"].isin(years).to_numpy(bool)
    keep &= district.notna().to_numpy() & school.notna().to_numpy()
    rows = np.flatnonzero(keep)
    if not len(rows):
        return pd.DataFrame(columns=columns)
    ids, (district_code, school_code) = parse.group_ids(district.iloc[rows], school.iloc[rows])
    # ids number the schools in order of first appearance: a school's first row is where
    # the running maximum of the ids rises
    seen = np.maximum.accumulate(ids)
    first = np.flatnonzero(np.r_[True, seen[1:] > seen[:-1]])
    codes = student.cat.codes.to_numpy()[rows]
    size = np.int64(codes.max(initial=0)) + 2  # codes from -1
    _, pairs = pd.factorize(ids * size + codes + 1)  # each student once per school
    return pd.DataFrame(
        {
            "district": district.cat.categories.to_numpy(object)[district_code],
            "school": school.cat.categories.to_numpy(object)[school_code],
            "students": np.bincount(pairs // size, minlength=len(first)),
            "file": tests["source_file"].iloc[rows[first]].to_numpy(object),
            "line": tests["source_line"].to_numpy()[rows[first]],
        }
    ).sort_values(["district", "school"], kind="stable", ignore_index=True)


def _school_arms(frame: pd.DataFrame, year: str | None) -> np.ndarray:
    """Per schools.csv row: PL (start at or before the fall of ``year``), comparison (no start
    year), or not yet PL, as build_panel decides (any start year is PL when ``year`` is None)."""
    if "pl_start_year" not in frame:
        return np.full(len(frame), "", dtype=object)
    start = parse.per_distinct(parse.start_years, frame["pl_start_year"]).to_numpy(float)
    fall = int(year[:4]) if year else np.inf
    return np.select([np.isnan(start), start <= fall], ["comparison", "PL"], "not yet PL")


def _frame_names(frame: pd.DataFrame) -> dict[str, list[str]]:
    """schools.csv names as build_panel compares them (surrounding blanks removed)."""
    return {
        c: parse.strip(frame[c]).astype("str").tolist() for c in ("district_name", "school_name")
    }


def _frame_file(frame: pd.DataFrame, folder: str) -> str:
    return str(Path(folder) / str(frame["source_file"].iloc[0])) if len(frame) else folder


def _respelt(row, rows: list[tuple[str, str]], untested: list[tuple[str, str]]) -> str:
    """The end of the sentence when a schools.csv row looks like this school (or district)
    spelt otherwise: ", or, if it is 'X', spell ... as the exports do"; else "". Names are
    compared loosely (:func:`loose_name`): case and blanks alone would have matched."""
    if any(district == row.district for district, _ in rows):
        same = [school for district, school in untested if district == row.district]
        hint = _close(row.school, same)
        if hint:
            return f", or, if it is {hint!r}, spell that school_name as the exports do"
        return ""
    hint = _close(row.district, sorted({d for d, _ in rows}))
    if hint:
        return f", or, if district {hint!r} is this one, spell it as the exports do"
    return ""


def _close(name: str, names: list[str]) -> str | None:
    """The one of ``names`` closest to ``name`` when close enough (difflib), loosely compared."""
    loose = {loose_name(n): n for n in names}
    hint = difflib.get_close_matches(loose_name(name), list(loose), n=1)
    return loose[hint[0]] if hint else None
