"""Hypothesis strategies for small, odd cohorts, and a writer of their NWEA-layout files.

Written independently of :mod:`pl_eval.simulate` (the simulator is one test among several,
never the definition of the input). A strategy draws a cohort's *shape* (districts, schools,
grades, sectors, years of PL, sizes, terms, subjects, data quirks); a numpy generator seeded
from the draw fills in the scores. :func:`write_cohort` writes the cohort as an evaluator
would hand it over (AssessmentResults + StudentsBySchool of the 2015+ layouts B and C, or the
2020+ Combined file, plus schools.csv) and returns what ingest and the panel must make of it,
counted from the rows as written.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

SUBJECTS = ("math", "reading")  # the analysed subjects
#: What each layout calls a subject: (MeasurementScale) for B, (Subject, Course) for C.
SCALE_NAME = {"math": "Mathematics", "reading": "Reading", "language": "Language Usage"}
COURSE_NAME = {
    "math": ("Mathematics", "Math K-12"),
    "reading": ("Language Arts", "Reading"),
    "language": ("Language Arts", "Language Usage"),
}
#: Grade sets as districts test them: sparse bands as well as K-12.
GRADE_SETS = (
    (3, 4, 5), (0, 1, 2), (9, 10, 11, 12), (6, 7, 8), (0, 1, 2, 3, 4, 5, 6, 7, 8),
    (0, 12), (5,), (2, 5, 8, 11), tuple(range(13)),
)  # fmt: skip
SCHOOL_NAMES = (
    "Lincoln Elementary", "Jefferson Middle", "Roosevelt High", "Escuela Peña", "Oak Academy",
    "Riverside Charter", "Hill Prep", "Maple K-8", "Cedar School", "Harbor Leadership",
)  # fmt: skip
DISTRICT_NAMES = ("Riverside USD", "Hill County SD", "Bayview Public Schools", "Ñandú ISD")
LOCALES = (11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43)
#: Input faults a cohort may carry; each must end in an InputError at ingest.
FAULTS = ("bad_date", "bad_sector", "no_schools_file", "missing_column", "bad_term")
#: Why a test row is invalid, as the default ingest screens see it.
INVALID_KINDS = ("rit_low", "se_high", "short", "guessing")

AR_B = (
    "TermName", "DistrictName", "SchoolName", "StudentID", "MeasurementScale", "Discipline",
    "GrowthMeasureYN", "NormsReferenceData", "WISelectedAYFall", "WISelectedAYWinter",
    "WISelectedAYSpring", "TestType", "TestName", "TestID", "TestStartDate",
    "TestDurationMinutes", "TestRITScore", "TestStandardError", "TestPercentile",
    "TypicalFallToSpringGrowth", "TestStartTime", "PercentCorrect",
)  # fmt: skip
AR_C = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData",
    "WISelectedAYFall", "WISelectedAYWinter", "WISelectedAYSpring", "TestType", "TestName",
    "TestID", "TestStartDate", "TestStartTime", "TestDurationMinutes", "TestRITScore",
    "TestStandardError", "TestPercentile", "AchievementQuintile", "PercentCorrect",
    "RapidGuessingPercentage",
)  # fmt: skip
ROSTER = (
    "TermName", "DistrictName", "SchoolName", "StudentLastName", "StudentFirstName", "StudentMI",
    "StudentID", "StudentDateOfBirth", "StudentEthnicGroup", "StudentGender", "Grade",
)  # fmt: skip
COMBINED = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "StudentLastName", "StudentFirstName", "StudentMI", "StudentDateOfBirth",
    "StudentEthnicGroup", "NWEAStandard_EthnicGroup", "StudentGender", "Grade",
    "NWEAStandard_Grade", "Subject", "Course", "NormsReferenceData", "TestType", "TestName",
    "TestStartDate", "TestStartTime", "TestDurationMinutes", "TestRITScore", "TestStandardError",
    "TestPercentile", "RapidGuessingPercentage", "AccommodationCategories", "Accommodations",
)  # fmt: skip
SCHOOLS = (
    "district_name",
    "school_name",
    "nces_id",
    "sector",
    "pl_start_year",
    "frl_pct",
    "locale",
)


@dataclass(frozen=True)
class SchoolSpec:
    """One school: where it is, what it is, whom it tests. ``years_pl`` 0 means comparison,
    -1 PL starting after this school year, else the year of PL in this school year."""

    district: int
    name: str
    sector: str  # as written in schools.csv
    years_pl: int
    frl_pct: float | None
    locale: int
    grades: tuple[int, ...]
    n_students: int
    in_frame: bool = True


@dataclass(frozen=True)
class CohortSpec:
    """A cohort's shape; ``seed`` drives every score, date and per-student quirk."""

    fall_year: int
    layout: str  # "B" | "C" | "Combined"
    n_districts: int
    schools: tuple[SchoolSpec, ...]
    terms: tuple[str, ...]  # seasons exported: ("fall", "spring"), ("fall",) or ("spring",)
    subjects: tuple[str, ...]  # tested subjects; "language" is exported but not analysed
    pl_free_subject: str | None  # a subject no PL school's students take
    missing_term_rate: float  # students absent from one of the two terms
    mover_rate: float  # students at another school of their district in spring
    duplicate_rate: float  # a second test event in the same term (GrowthMeasureYN FALSE)
    invalid_rate: float  # tests the validity screens reject
    no_grade_rate: float  # roster (or Combined) rows with the grade left blank
    no_roster_rate: float  # students missing from a term's StudentsBySchool export
    blank_gender_rate: float
    split_by_district: bool  # one export per district and term, else one per term
    subfolders: bool  # exports in fall/ and spring/ folders
    tab_delimited: bool  # .txt tab-delimited exports
    fault: str | None
    seed: int
    line_ending: str = "\r\n"  # of every file: Windows, Unix or old Mac ("\r")
    gender_words: bool = False  # districts after the first spell gender out (Male, Female)
    empty_as: str = ""  # what every empty cell holds: "", or a marker (NULL, #N/A, NA)
    # hand-typed forms: start years as school years (2014-2015), FRL with a % sign, and
    # TermName without its space (Fall2014-2015)
    typed_by_hand: bool = False

    @property
    def school_year(self) -> str:
        return f"{self.fall_year}-{self.fall_year + 1}"

    def describe(self) -> str:
        """A compact description for failure reports and crashes.md."""
        kinds = Counter(
            "pl" if s.years_pl > 0 else "comparison" if s.years_pl == 0 else "not_yet"
            for s in self.schools
        )
        students = sum(s.n_students for s in self.schools)
        return (
            f"{self.school_year} layout {self.layout}, {self.n_districts} districts, "
            f"{kinds['pl']} PL / {kinds['comparison']} comparison / {kinds['not_yet']} not-yet "
            f"schools, {students} students, terms {'+'.join(self.terms)}, subjects "
            f"{'+'.join(self.subjects)}, PL-free subject {self.pl_free_subject}, fault "
            f"{self.fault}, empty cells {self.empty_as!r}, typed by hand "
            f"{self.typed_by_hand}, seed {self.seed}"
        )


@st.composite
def school_specs(draw, *, district_count: int, kind: str, index: int) -> SchoolSpec:
    """One school of ``kind`` ("pl", "comparison" or "not_yet")."""
    district = draw(st.integers(0, district_count - 1))
    years = {
        "pl": draw(st.sampled_from([1, 2, 3, 5])),
        "comparison": 0,
        "not_yet": -1,
    }[kind]
    sector = draw(st.sampled_from(["charter", "district", "Charter", " District "]))
    frl = draw(st.one_of(st.none(), st.integers(0, 100).map(float)))
    grades = draw(st.sampled_from(GRADE_SETS))
    # Sparse draws within the cohort's band: some schools test a single grade.
    grades = tuple(sorted(draw(st.sets(st.sampled_from(grades), min_size=1))))
    size = draw(st.one_of(st.just(1), st.integers(1, 40)))
    in_frame = draw(st.integers(0, 9)) != 9  # rarely a school missing from schools.csv
    name = f"{SCHOOL_NAMES[index % len(SCHOOL_NAMES)]}"
    if index >= len(SCHOOL_NAMES):
        name += f" {index // len(SCHOOL_NAMES) + 1}"
    return SchoolSpec(
        district=district,
        name=name,
        sector=sector,
        years_pl=years,
        frl_pct=frl,
        locale=draw(st.sampled_from(LOCALES)),
        grades=grades,
        n_students=size,
        in_frame=in_frame,
    )


#: Students in a cohort at most (sizes are scaled down to it): a few hundred to about a
#: thousand test rows, so the stages' own work stays small beside their fixed costs.
MAX_STUDENTS = 200


@st.composite
def cohort_specs(draw) -> CohortSpec:
    """A small, odd cohort: 1-4 districts, 1-50 PL schools, 0-12 comparison schools, ..."""
    layout = draw(st.sampled_from(["C", "B", "Combined"]))
    fall_year = draw(st.integers(2020, 2023) if layout != "B" else st.integers(2015, 2019))
    n_districts = draw(st.integers(1, 4))
    n_pl = draw(st.integers(1, 50))
    n_comparison = draw(st.integers(0, 12))
    n_not_yet = draw(st.integers(0, 2))
    kinds = ["pl"] * n_pl + ["comparison"] * n_comparison + ["not_yet"] * n_not_yet
    schools = [
        draw(school_specs(district_count=n_districts, kind=kind, index=i))
        for i, kind in enumerate(kinds)
    ]
    # Names are unique within a district (the same name may recur across districts).
    # The first PL school is always in schools.csv, so the frame is never empty.
    seen: set[tuple[int, str]] = set()
    unique = []
    for i, school in enumerate(schools):
        name = school.name
        while (school.district, name) in seen:
            name += " II"
        seen.add((school.district, name))
        unique.append(replace(school, name=name, in_frame=school.in_frame or i == 0))
    total = sum(s.n_students for s in unique)
    if total > MAX_STUDENTS:  # scale sizes down, keeping at least one student per school
        unique = [
            replace(s, n_students=max(1, s.n_students * MAX_STUDENTS // total)) for s in unique
        ]
    subjects = draw(
        st.sampled_from(
            [("math", "reading")] * 3 + [("math",), ("reading",), ("math", "reading", "language")]
        )
    )
    return CohortSpec(
        fall_year=fall_year,
        layout=layout,
        n_districts=n_districts,
        schools=tuple(unique),
        terms=draw(st.sampled_from([("fall", "spring")] * 4 + [("fall",), ("spring",)])),
        subjects=subjects,
        pl_free_subject=draw(st.sampled_from([None] * 4 + list(SUBJECTS))),
        missing_term_rate=draw(st.sampled_from([0.0, 0.1, 0.4])),
        mover_rate=draw(st.sampled_from([0.0, 0.1])),
        duplicate_rate=draw(st.sampled_from([0.0, 0.1])),
        invalid_rate=draw(st.sampled_from([0.0, 0.1])),
        no_grade_rate=draw(st.sampled_from([0.0, 0.05])),
        no_roster_rate=draw(st.sampled_from([0.0, 0.05])),
        blank_gender_rate=draw(st.sampled_from([0.0, 0.1])),
        split_by_district=draw(st.booleans()),
        subfolders=draw(st.booleans()),
        tab_delimited=draw(st.booleans()),
        fault=draw(st.sampled_from([None] * 8 + list(FAULTS))),
        seed=draw(st.integers(0, 2**32 - 1)),
        line_ending=draw(st.sampled_from(["\r\n", "\n", "\r"])),
        gender_words=draw(st.booleans()),
        empty_as=draw(st.sampled_from(["", "", "NULL", "#N/A", "NA"])),
        typed_by_hand=draw(st.booleans()),
    )


@dataclass
class Expected:
    """What ingest and the panel must make of a written cohort, counted from its rows."""

    files: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> counts
    tests: list = field(default_factory=list)  # every test row written (_Test)
    test_rows: int = 0
    faulty: bool = False  # the spec's fault made it into the files: ingest must refuse them

    def seasons(self) -> set[str]:
        """The seasons with a test ingest keeps (usable, of an analysed subject)."""
        return {t.season for t in self.tests if t.usable}

    def flow(self, spec: CohortSpec, norms_year: int) -> Counter:
        """The panel's sample flow: (subject, arm, reason) -> students."""
        return _flow(spec, self.tests, norms_year)


@dataclass
class _Test:
    """One test event as written, with what ingest should decide about it."""

    file: str
    season: str
    district: int
    school: str
    student: str
    subject: str
    grade: int
    usable: bool  # passes the screens and has a roster grade


def write_cohort(spec: CohortSpec, folder: Path) -> Expected:
    """Write ``spec``'s exports and schools.csv into ``folder``; return the expected counts."""
    rng = np.random.default_rng(spec.seed)
    folder.mkdir(parents=True, exist_ok=True)
    tests, rows_by_file, roster_by_file = _events(spec, rng)
    expected = Expected(test_rows=len(tests))
    delimiter = "\t" if spec.tab_delimited else ","
    header = {"B": AR_B, "C": AR_C, "Combined": COMBINED}[spec.layout]
    for name, rows in sorted(rows_by_file.items()):
        columns = header
        if spec.fault == "missing_column" and name == min(rows_by_file):
            drop = header.index("TestRITScore")
            columns = header[:drop] + header[drop + 1 :]
            rows = [row[:drop] + row[drop + 1 :] for row in rows]
        _write(folder / name, columns, rows, delimiter, spec)
        mine = [t for t in tests if t.file == name]
        groups: dict[tuple, bool] = {}
        for t in mine:
            key = (t.district, t.student, t.subject, t.season)
            groups[key] = groups.get(key, False) or t.usable
        kept = sum(groups.values())
        rejected = sum(not t.usable for t in mine)
        expected.files[name] = {
            "rows_read": len(rows),
            "kept": kept,
            "duplicates": len(mine) - kept - rejected,
            "rejected": rejected,
        }
    for name, (rows, counts) in sorted(roster_by_file.items()):
        _write(folder / name, ROSTER, rows, delimiter, spec)
        expected.files[name] = {"rows_read": len(rows), **counts}
    frame = [s for s in spec.schools if s.in_frame]
    if spec.fault != "no_schools_file":
        _write(folder / "schools.csv", SCHOOLS, _school_rows(spec, frame, rng), ",", spec)
        expected.files["schools.csv"] = {"rows_read": len(frame)}
    expected.tests = tests
    # a bad term is written in the first season's rows: there must be some
    expected.faulty = spec.fault is not None and any(
        spec.fault != "bad_term" or t.season == spec.terms[0] for t in tests
    )
    return expected


def _term_name(spec: CohortSpec, season: str) -> str:
    if spec.fault == "bad_term" and season == spec.terms[0]:
        return f"{season.title()} {spec.fall_year}/{spec.fall_year + 1}"
    return f"{season.title()}{'' if spec.typed_by_hand else ' '}{spec.school_year}"


def _file_name(spec: CohortSpec, kind: str, season: str, district: int) -> str:
    year = spec.fall_year + (season == "spring")
    name = f"{kind}_{season.title()}{year}"
    if spec.split_by_district:
        name += f"_D{district + 1}"
    name += ".txt" if spec.tab_delimited else ".csv"
    return f"{season}/{name}" if spec.subfolders else name


def _events(spec: CohortSpec, rng: np.random.Generator):
    """Every test row and roster row of the cohort, by file; the test events' verdicts."""
    by_district: dict[int, list[SchoolSpec]] = {}
    for school in spec.schools:
        by_district.setdefault(school.district, []).append(school)
    tests: list[_Test] = []
    rows_by_file: dict[str, list[list[str]]] = {}
    roster_by_file: dict[str, tuple[list[list[str]], Counter]] = {}
    next_id = Counter()
    combined = spec.layout == "Combined"
    for school in spec.schools:
        for _ in range(school.n_students):
            # IDs are unique only within a district: every district counts from S1001.
            next_id[school.district] += 1
            student = f"S{1000 + next_id[school.district]}"
            grade = int(rng.choice(school.grades))
            gender = "" if rng.random() < spec.blank_gender_rate else str(rng.choice(["F", "M"]))
            ability = rng.normal(0.0, 1.0)
            terms = list(spec.terms)
            if len(terms) == 2 and rng.random() < spec.missing_term_rate:
                terms.remove(str(rng.choice(terms)))
            spring_school = school
            others = [s for s in by_district[school.district] if s is not school]
            if others and rng.random() < spec.mover_rate:
                spring_school = others[int(rng.integers(len(others)))]
            for season in terms:
                at = school if season == "fall" else spring_school
                file = _file_name(spec, "ComboStudentAssessment" if combined else
                                  "AssessmentResults", season, at.district)  # fmt: skip
                no_grade = rng.random() < spec.no_grade_rate
                on_roster = combined or rng.random() >= spec.no_roster_rate
                student_row = _student_fields(spec, season, at, student, grade, gender, no_grade)
                term_tests = []
                for subject in spec.subjects:
                    if subject == spec.pl_free_subject and at.years_pl > 0:
                        continue
                    events = 1 + (rng.random() < spec.duplicate_rate)
                    for event in range(events):
                        invalid = rng.random() < spec.invalid_rate
                        kind = str(rng.choice(INVALID_KINDS[: 3 if spec.layout == "B" else 4]))
                        row = _test_row(
                            spec, rng, season, at, student, subject, grade, ability,
                            growth_measure=event == 0, invalid=kind if invalid else None,
                        )  # fmt: skip
                        usable = not invalid and subject in SUBJECTS and on_roster and not no_grade
                        if combined:
                            row = _combined_row(row, student_row)
                        rows_by_file.setdefault(file, []).append(row)
                        term_tests.append(
                            _Test(
                                file, season, at.district, at.name, student, subject, grade, usable
                            )
                        )
                tests += term_tests
                if not combined and on_roster:
                    name = _file_name(spec, "StudentsBySchool", season, at.district)
                    rows, counts = roster_by_file.setdefault(name, ([], Counter()))
                    rows.append(student_row)
                    status = "rejected" if no_grade else "used" if term_tests else "unused"
                    counts[status] += 1
    for _, counts in roster_by_file.values():
        for status in ("used", "unused", "duplicates", "rejected"):
            counts.setdefault(status, 0)
    if spec.fault == "bad_date" and rows_by_file:
        rows = rows_by_file[max(rows_by_file)]
        header = {"B": AR_B, "C": AR_C, "Combined": COMBINED}[spec.layout]
        rows[len(rows) // 2][header.index("TestStartDate")] = "13/45/20x"
    return tests, rows_by_file, roster_by_file


def _student_fields(spec, season, school, student, grade, gender, no_grade) -> list[str]:
    """A StudentsBySchool row (names and birth dates are there only to be dropped)."""
    if spec.gender_words and school.district > 0:
        gender = {"M": "Male", "F": "female"}.get(gender, gender)
    return [
        _term_name(spec, season), DISTRICT_NAMES[school.district], school.name, "Doe",
        f"Kid{student[1:]}", "", student, f"3/14/{spec.fall_year - 6 - grade}", "White",
        gender, "" if no_grade else ("K" if grade == 0 else str(grade)),
    ]  # fmt: skip


def _test_row(spec, rng, season, school, student, subject, grade, ability, *,
              growth_measure: bool, invalid: str | None) -> list[str]:  # fmt: skip
    """An AssessmentResults row of layout B or C (Combined rows are built from C's fields)."""
    mean = 140 + 9 * min(grade, 8) + 2 * max(grade - 8, 0) + (8 if season == "spring" else 0)
    effect = 3 if season == "spring" and school.years_pl > 0 else 0
    rit = round(float(np.clip(mean + 14 * ability + effect + rng.normal(0, 4), 105, 300)))
    se = round(float(rng.uniform(2.8, 3.6)), 1)
    duration = int(rng.integers(15, 70))
    guessing = 0.0 if rng.random() < 0.8 else round(float(rng.uniform(0, 20)), 3)
    if invalid == "rit_low":
        rit = 95
    elif invalid == "se_high":
        se = 6.5
    elif invalid == "short":
        duration = 3
    elif invalid == "guessing":
        guessing = 45.0
    year = spec.fall_year + (season == "spring")
    month = 9 if season == "fall" else 5
    date = f"{month}/{int(rng.integers(1, 29))}/{year}"
    pct = str(int(np.clip(round(50 + 30 * ability), 1, 99)))
    flag = "TRUE" if growth_measure else "FALSE"
    norms = "2015" if spec.layout == "B" else "2020"
    term = _term_name(spec, season)
    district = DISTRICT_NAMES[school.district]
    if spec.layout == "B":
        return [
            term, district, school.name, student, SCALE_NAME[subject], SCALE_NAME[subject],
            flag, norms, "5", "", "", "Survey With Goals", f"Growth: {SCALE_NAME[subject]}",
            str(rng.integers(10**8, 10**9)), date, str(duration), str(rit), f"{se:.1f}", pct,
            "9", "9:15:00 AM", "50",
        ]  # fmt: skip
    subject_text, course = COURSE_NAME[subject]
    return [
        term, district, f"D{school.district}", school.name, "", student, "", subject_text,
        course, flag, norms, "5", "", "", "Survey With Goals", f"Growth: {course}",
        str(rng.integers(10**8, 10**9)), date, "09:15:00", str(duration), str(rit), f"{se:.2f}",
        pct, "Avg", "50", f"{guessing:g}",
    ]  # fmt: skip


def _combined_row(test: list[str], student: list[str]) -> list[str]:
    """A Combined-file row from a layout-C test row and the student's roster fields."""
    c = dict(zip(AR_C, test, strict=True))
    s = dict(zip(ROSTER, student, strict=True))
    values = (
        c
        | s
        | {
            "NWEAStandard_EthnicGroup": s["StudentEthnicGroup"],
            "NWEAStandard_Grade": s["Grade"],
            "AccommodationCategories": "",
            "Accommodations": "",
        }
    )
    return [values[name] for name in COMBINED]


def _school_rows(spec: CohortSpec, frame: list[SchoolSpec], rng) -> list[list[str]]:
    rows = []
    for school in frame:
        start = {0: "", -1: str(spec.fall_year + 1)}.get(
            school.years_pl, str(spec.fall_year - school.years_pl + 1)
        )
        frl = "" if school.frl_pct is None else f"{school.frl_pct:g}"
        if spec.typed_by_hand:
            start = start and f"{start}-{int(start) + 1}"
            frl = frl and f"{frl}%"
        rows.append(
            [
                DISTRICT_NAMES[school.district],
                school.name,
                "" if rng.random() < 0.5 else f"{int(rng.integers(10**11, 10**12))}",
                school.sector,
                start,
                frl,
                str(school.locale),
            ]
        )
    if spec.fault == "bad_sector" and rows:
        rows[-1][3] = "magnet"
    return rows


def _write(
    path: Path, header: tuple[str, ...], rows: list[list[str]], delimiter: str, spec: CohortSpec
) -> None:
    """One file, with ``spec``'s line endings and text for empty cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator=spec.line_ending)
        writer.writerow(header)
        writer.writerows([[cell or spec.empty_as for cell in row] for row in rows])


#: Grades a norms study has no mean and SD for (nwea_norms.csv: 2015 lacks K SDs and grade 12).
GRADES_WITHOUT_NORMS = {2015: {0, 12}, 2020: set(), 2025: set()}


def _flow(spec: CohortSpec, tests: list[_Test], norms_year: int) -> Counter:
    """The panel's sample flow, from the rows as written: (subject, arm, reason) -> students.

    The panel's rules, applied to each student x subject: the first of no valid test, no
    fall, no spring, changed school, school not in the frame, PL not yet started, grade
    without norms; else paired. The school is the fall one when the fall test is usable.
    """
    schools = {(s.district, s.name): s for s in spec.schools}
    students: dict[tuple, dict] = {}
    for t in tests:
        if t.subject not in SUBJECTS:
            continue
        entry = students.setdefault((t.district, t.student, t.subject), {})
        slot = entry.setdefault(t.season, {"usable": False, "school": t.school, "grade": t.grade})
        slot["usable"] |= t.usable
    flow: Counter = Counter()
    for (district, _student, subject), seasons in students.items():
        fall, spring = seasons.get("fall"), seasons.get("spring")
        valid = {k: v for k, v in seasons.items() if v["usable"]}
        if not valid:
            seen = fall or spring
            reason = "no_valid_test"
        else:
            seen = valid.get("fall") or valid["spring"]
            if "fall" not in valid:
                reason = "no_fall"
            elif "spring" not in valid:
                reason = "no_spring"
            elif valid["fall"]["school"] != valid["spring"]["school"]:
                reason = "changed_school"
            else:
                reason = None
        school = schools[(district, seen["school"])]
        if not school.in_frame:
            arm = "unknown"
        elif school.years_pl > 0:
            arm = "treated"
        elif school.years_pl == 0:
            arm = "comparison"
        else:
            arm = "not_yet_pl"
        if reason is None:
            reason = {"unknown": "school_not_in_frame", "not_yet_pl": "school_not_yet_pl"}.get(
                arm, "paired"
            )
        if reason == "paired" and seen["grade"] in GRADES_WITHOUT_NORMS[norms_year]:
            reason = "grade_without_norms"
        flow[(subject, arm, reason)] += 1
    return flow
