"""Recognising exports by header: kinds, layouts, aliases, missing columns."""

from pathlib import Path

import pytest

from pl_eval.errors import ConfigError, InputError
from pl_eval.ingest import layouts
from pl_eval.io import RawFile

ALIASES = layouts.alias_table({})
A = (
    "TermName",
    "DistrictName",
    "SchoolName",
    "StudentID",
    "MeasurementScale",
    "Discipline",
    "GrowthMeasureYN",
    "TestID",
    "TestStartDate",
    "TestDurationMinutes",
    "TestRITScore",
    "TestStandardError",
    "TestPercentile",
    "TypicalFallToSpringGrowth",
    "TestStartTime",
)
B = A[:7] + ("NormsReferenceData", "WISelectedAYFall") + A[7:]
C = (
    "TermName",
    "DistrictName",
    "District_StateID",
    "SchoolName",
    "StudentID",
    "Student_StateID",
    "Subject",
    "Course",
    "GrowthMeasureYN",
    "NormsReferenceData",
    "TestID",
    "TestStartDate",
    "TestStartTime",
    "TestDurationMinutes",
    "TestRITScore",
    "TestStandardError",
    "TestPercentile",
    "RapidGuessingPercentage",
)
ROSTER = (
    "TermName",
    "DistrictName",
    "SchoolName",
    "StudentLastName",
    "StudentFirstName",
    "StudentMI",
    "StudentID",
    "StudentDateOfBirth",
    "StudentEthnicGroup",
    "StudentGender",
    "Grade",
)


def recognise(header, name="x/export.csv", aliases=ALIASES):
    return layouts.recognise(RawFile(Path(name), name, tuple(header), ",", "utf-8"), aliases)


@pytest.mark.parametrize(("header", "layout"), [(A, "A"), (B, "B"), (C, "C")])
def test_assessment_layouts(header, layout):
    found = recognise(header)
    assert (found.kind, found.layout) == (layouts.ASSESSMENT, layout)
    assert found.columns["TestRITScore"] == header.index("TestRITScore")
    assert "TestID" not in found.columns  # only the columns ingest uses are read


def test_combined_has_roster_fields_and_no_test_id():
    header = (
        C[:6]
        + (
            "StudentLastName",
            "StudentFirstName",
            "StudentDateOfBirth",
            "Grade",
            "StudentGender",
            "StudentEthnicGroup",
        )
        + C[6:8]
        + C[11:]
    )
    found = recognise(header, "ComboStudentAssessment.csv")
    assert (found.kind, found.layout) == (layouts.COMBINED, "Combined")
    assert {"Grade", "StudentGender", "StudentEthnicGroup"} <= set(found.columns)
    assert "StudentLastName" not in found.columns and "StudentDateOfBirth" not in found.columns


def test_roster_and_school_frame():
    assert recognise(ROSTER).kind == layouts.ROSTER
    frame = recognise(
        ("district_name", "school_name", "sector", "pl_start_year", "frl_pct", "locale"),
        "sub/Schools.CSV",
    )
    assert frame.kind == layouts.SCHOOLS and "nces_id" not in frame.columns


def test_case_blank_first_column_and_builtin_alias():
    header = ("",) + tuple(h.lower() for h in C)
    header = tuple("student_number" if h == "studentid" else h for h in header)
    found = recognise(header)
    assert found.layout == "C"
    assert found.columns["StudentID"] == header.index("student_number")
    assert found.names["StudentID"] == "student_number"


def test_exact_name_wins_over_alias_and_config_aliases_apply():
    header = ("Student_Number",) + A
    assert recognise(header).columns["StudentID"] == header.index("StudentID")
    renamed = tuple("Local_ID" if h == "StudentID" else h for h in A)
    aliases = layouts.alias_table({"StudentID": ["Local_ID"]})
    assert recognise(renamed, aliases=aliases).columns["StudentID"] == A.index("StudentID")
    with pytest.raises(ConfigError, match="NotAColumn"):
        layouts.alias_table({"NotAColumn": ["x"]})


def test_nwea_names_written_with_blanks_underscores_or_hyphens_are_read():
    # a district warehouse's re-export: "Student ID", "test_rit_score", "Term-Name"
    spelt = {"StudentID": "Student ID", "TestRITScore": "test_rit_score", "TermName": "Term-Name"}
    header = tuple(spelt.get(h, h) for h in C)
    found = recognise(header, "x/scores.csv")  # told by its header, not its name
    assert (found.kind, found.layout) == (layouts.ASSESSMENT, "C")
    assert {c: found.names[c] for c in spelt} == spelt
    assert found.columns["StudentID"] == C.index("StudentID")
    # the name as NWEA writes it wins; the other spelling is a copy, refused as one
    with pytest.raises(InputError, match="each column once in the header") as caught:
        recognise(("Student ID",) + C, "AssessmentResults.csv")
    assert caught.value.problems[0].found == f"columns 1 and {C.index('StudentID') + 2}"


def test_schools_csv_names_written_as_a_spreadsheet_heads_them_are_read():
    header = ("District Name", "SchoolName", "NCES ID", "Sector", "PL Start Year", "FRL Pct")
    frame = recognise(header + ("locale",), "schools.csv")
    assert frame.kind == layouts.SCHOOLS
    assert frame.names == dict(zip(layouts.SCHOOL_COLUMNS, header + ("locale",), strict=True))
    # a name of neither schools.csv nor NWEA is still missing
    with pytest.raises(InputError, match="'frl_pct'"):
        recognise(header[:5] + ("FRL %", "locale"), "schools.csv")


def test_missing_required_columns_are_all_named_at_line_1():
    header = tuple(h for h in A if h not in ("TestStandardError", "MeasurementScale"))
    with pytest.raises(InputError) as caught:
        recognise(header, "AssessmentResults.csv")
    assert {(p.line, p.column) for p in caught.value.problems} == {
        (1, "TestStandardError"),
        (1, "MeasurementScale"),
    }


def test_other_nwea_files_are_ignored_and_unknown_files_refused():
    assert isinstance(
        recognise(("TermName", "StudentID", "ClassName", "TeacherName")), layouts.IgnoredFile
    )
    assert (
        "accommodations"
        in recognise(("TermName", "TestID", "StudentID", "AccommodationCategory"), "a.csv").reason
    )
    assert (
        "ProgramAssignments" in recognise(("StudentID", "Program"), "ProgramAssignments.csv").reason
    )
    with pytest.raises(InputError, match="gradebook.csv, line 1: expected an NWEA export"):
        recognise(("Student", "Score"), "gradebook.csv")


def test_files_ignored_by_name():
    assert layouts.ignored_by_extension("truth.json").reason == "not a .csv or .txt export"
    assert layouts.ignored_by_extension("sub/.gitkeep").reason == "hidden file"
    # a Mac's resource forks, and LibreOffice's and Excel's lock files: none is an export
    assert layouts.ignored_by_extension("__MACOSX/._AssessmentResults.csv").reason == "hidden file"
    assert layouts.ignored_by_extension(".~lock.schools.csv#").reason == "hidden file"
    lock = layouts.ignored_by_extension("~$schools.xlsx")
    assert (lock.reason, lock.unread) == (
        "an Office lock file (a workbook open in Excel), not an export",
        False,
    )
    assert layouts.ignored_by_extension("a/AssessmentResults.TXT") is None
