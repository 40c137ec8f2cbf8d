"""check-inputs on hand-made cohort folders: ingest's problems with ingest's messages, schools.csv
against the exports, the school year, exit status 0 only when ready, and nothing written."""

import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest

from pl_eval import io, stages
from pl_eval.cli import main
from pl_eval.errors import InputError, quoted

DATA = Path(__file__).parents[1] / "data" / "ingest"
INGEST = {"column_aliases": {}, "screens": {}}


def check(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit status and the lines check-inputs printed."""
    status = main(["check-inputs", *argv])
    return status, capsys.readouterr().err.splitlines()


def warned(lines: list[str]) -> list[str]:
    """The warnings among check-inputs' lines."""
    return [line for line in lines if ": warning: " in line]


def cohort(tmp_path: Path, source: str = "minimal") -> Path:
    raw = tmp_path / "raw" / "mine"
    shutil.copytree(DATA / source, raw)
    return raw


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


def test_ready_folder_prints_its_summary_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PL_EVAL_KEY", raising=False)
    monkeypatch.setenv("PL_EVAL_KEY_FILE", str(tmp_path / "key"))
    raw = cohort(tmp_path, "cohort")
    before = tree(tmp_path)
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert lines == [
        f"pl-eval check-inputs: warning: {raw}: 2 of 27 AssessmentResults rows (7.4%) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        "2014-2015/fall/AssessmentResults_Fall2014.csv, line 12); ingest rejects them as "
        "no_roster_row",
        f"{raw} is ready: 1 AssessmentResults (layout A), 1 AssessmentResults (layout B), "
        "1 AssessmentResults (layout C), 1 ComboStudentAssessment, 3 StudentsBySchool, "
        "1 schools.csv; 5 other files ignored",
        "  test rows: 31 (Fall 2014-2015: 21; Spring 2014-2015: 6; Winter 2014-2015: 4); "
        "roster rows: 14",
        "  students: 13",
        "  schools: 3 in schools.csv (2 PL, 1 comparison, 0 not yet PL), 2 tested in fall or "
        "spring",
        "  school year: 2014-2015",
    ]
    assert tree(tmp_path) == before  # no outputs, and no pseudonymisation key made


def test_cohort_name_is_a_folder_under_raw_root(tmp_path, capsys):
    raw = cohort(tmp_path)
    status, lines = check(capsys, "mine", "--raw-root", str(raw.parent))
    assert status == 0 and lines[0].startswith(f"{raw} is ready: ")


def test_problems_are_ingests_own_lines_then_the_count(tmp_path, capsys):
    raw = cohort(tmp_path)
    shutil.copytree(DATA / "bad" / "non_numeric", raw / "more")
    shutil.copy(DATA / "bad" / "schools_values" / "schools.csv", raw / "schools.csv")
    # check first: it points logging at this test's stderr (ingest logs the files it reads)
    status, lines = check(capsys, str(raw))
    with pytest.raises(InputError) as caught:
        stages.ingest(raw, **{k: tmp_path / k for k in ("scores", "duplicates", "rejects",
                      "schools", "summary")}, settings=INGEST)  # fmt: skip
    prefix = "pl-eval check-inputs: error: "
    assert status == 1
    assert [line.removeprefix(prefix) for line in lines[:-1]] == str(caught.value).splitlines()
    assert len(lines) == 1 + 6 and lines[-1] == f"{prefix}6 problems; the folder is not ready"
    assert (
        f"{prefix}{raw}/schools.csv, line 2, column 'sector': expected charter or district, "
        "found 'magnet'" in lines
    )


def test_a_tested_school_missing_from_schools_csv_is_a_problem(tmp_path, capsys):
    raw = cohort(tmp_path)
    schools = raw / "schools.csv"
    schools.write_text(schools.read_text().replace("Lincoln Elementary", "Lincoln Elem."))
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert lines == [
        f"pl-eval check-inputs: warning: {raw}/schools.csv, line 2: PL school 'Lincoln Elem.' of "
        "district 'Riverside USD' has no students tested in fall or spring 2014-2015; if it took "
        "part, add its exports or spell its name as they do",
        f"pl-eval check-inputs: error: {raw}/schools.csv: no row for school 'Lincoln Elementary' "
        "of district 'Riverside USD', where the exports test 2 students in fall or spring "
        "2014-2015 (first at AssessmentResults.csv, line 2); add one with its sector, "
        "pl_start_year, frl_pct and locale, or, if it is 'Lincoln Elem.', spell that school_name "
        "as the exports do",
        "pl-eval check-inputs: error: 1 problem; the folder is not ready",
    ]


def test_a_pl_school_without_tests_is_only_a_warning(tmp_path, capsys):
    raw = cohort(tmp_path)
    with open(raw / "schools.csv", "a", encoding="utf-8") as out:
        out.write("Riverside USD,Oak Academy,,charter,2012,50,11\n")
        out.write("Riverside USD,Elm Middle,,district,,50,11\n")  # comparison: no warning
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert lines[0] == (
        f"pl-eval check-inputs: warning: {raw}/schools.csv, line 3: PL school 'Oak Academy' of "
        "district 'Riverside USD' has no students tested in fall or spring 2014-2015; if it "
        "took part, add its exports or spell its name as they do"
    )
    assert "  schools: 3 in schools.csv (2 PL, 1 comparison, 0 not yet PL), 1 tested" in lines[4]


def test_two_school_years_need_the_config_to_choose(tmp_path, capsys):
    raw = cohort(tmp_path)
    results = raw / "AssessmentResults.csv"
    text = results.read_text().splitlines()
    text[3] = text[3].replace("Fall 2014-2015", "Fall 2015-2016")
    results.write_text("\n".join(text) + "\n")
    roster = raw / "StudentsBySchool.csv"  # the student's roster row too, so it has one
    rows = roster.read_text().splitlines()
    rows.append(rows[2].replace("Fall 2014-2015", "Fall 2015-2016"))
    roster.write_text("\n".join(rows) + "\n")
    status, lines = check(capsys, str(raw))
    assert (status, lines[0]) == (
        1,
        f"pl-eval check-inputs: error: {raw}: the exports hold fall/spring tests of 2 school "
        "years (2014-2015, 2015-2016); choose one in config/config.yaml with "
        "school_years: {<cohort>: YYYY-YYYY}, or list consecutive ones to analyse them all "
        "(the last is the main analysis): {<cohort>: [YYYY-YYYY, ...]}",
    )
    listed = write_config(tmp_path, school_years={"mine": ["2014-2015", "2015-2016"]})
    status, lines = check(capsys, str(raw), "--config", str(listed))
    assert status == 0 and lines[-1] == "  school year: 2015-2016"  # the last: the main one
    config = write_config(tmp_path, school_years={"mine": "2015-2016"})
    status, lines = check(capsys, str(raw), "--config", str(config))
    assert status == 0 and lines[-1] == "  school year: 2015-2016"


def test_every_analysed_year_is_checked_not_only_the_main_one(tmp_path, capsys):
    # S1001 is tested in fall 2014-2015 at a school schools.csv lacks; 2015-2016 is main
    raw = cohort(tmp_path)
    for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
        path = raw / name
        rows = path.read_text().splitlines()
        moved = [r.replace("Fall 2014-2015", "Fall 2015-2016") for r in rows[1:]]
        old = [r.replace("Lincoln Elementary", "Maple Academy") for r in rows[1:] if "S1001" in r]
        path.write_text("\n".join([rows[0], *moved, *old]) + "\n")
    two = write_config(tmp_path, school_years={"mine": ["2014-2015", "2015-2016"]})
    status, lines = check(capsys, str(raw), "--config", str(two))
    assert status == 1
    assert lines[0] == (
        f"pl-eval check-inputs: error: {raw}/schools.csv: no row for school 'Maple Academy' of "
        "district 'Riverside USD', where the exports test 1 student in fall or spring "
        "2014-2015 to 2015-2016 (first at AssessmentResults.csv, line 5); add one with its "
        "sector, pl_start_year, frl_pct and locale"
    )
    main_only = write_config(tmp_path, school_years={"mine": "2015-2016"})
    status, lines = check(capsys, str(raw), "--config", str(main_only))
    assert status == 0, lines  # 2014-2015 is not analysed: its school needs no row
    early = write_config(tmp_path, school_years={"mine": ["2013-2014", "2014-2015", "2015-2016"]})
    status, lines = check(capsys, str(raw), "--config", str(early))
    assert status == 1
    assert lines[0] == (
        f"pl-eval check-inputs: error: {raw}: school_year '2013-2014' has no fall or spring "
        "tests; the exports hold 2014-2015, 2015-2016"
    )


def test_column_aliases_come_from_the_config(tmp_path, capsys):
    raw = cohort(tmp_path)
    results = raw / "AssessmentResults.csv"
    results.write_text(results.read_text().replace("StudentID", "Local_ID", 1))
    status, lines = check(capsys, str(raw))
    assert (status, lines[0]) == (
        1,
        f"pl-eval check-inputs: error: {raw}/AssessmentResults.csv, line 1, column "
        "'StudentID': expected this column in the header, found 'no such column'",
    )
    config = write_config(tmp_path, ingest={"column_aliases": {"StudentID": ["local_id"]}})
    status, lines = check(capsys, str(raw), "--config", str(config))
    assert status == 0


def write_config(tmp_path: Path, **changes) -> Path:
    """The shipped config with ``changes``, beside a copy of the schema."""
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    shutil.copy("config/schema.yaml", folder / "schema.yaml")
    io.write_json(io.read_yaml("config/config.yaml") | changes, folder / "config.yaml")
    return folder / "config.yaml"


QUIRKS = DATA / "quirks"


@pytest.mark.parametrize(
    ("quirk", "students"),
    [
        ("no_district", 4),
        ("kindergarten", 5),
        ("end_of_course", 5),
        ("scale_or_subject", 3),
        ("dates", 1),
        ("timestamps", 1),
        ("grade_words", 7),
        ("school_names", 4),
        ("formula_text", 3),
    ],
)
def test_real_export_quirks_are_ready(tmp_path, capsys, quirk, students):
    raw = cohort(tmp_path, f"quirks/{quirk}")
    status, lines = check(capsys, str(raw))
    assert status == 0, lines
    assert f"  students: {students}" in lines


def test_grades_ingest_does_not_read_are_a_warning_naming_the_codes(tmp_path, capsys):
    raw = cohort(tmp_path, "quirks/grade_words")
    roster = raw / "StudentsBySchool_Fall2014.csv"
    roster.write_text(roster.read_text().replace("Grade 3", "Pre-K"))
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert warned(lines) == [
        f"pl-eval check-inputs: warning: {raw}: 3 of 7 StudentsBySchool rows with a Grade "
        "(42.9%) have one that ingest does not read (K, KG, 0, 13 or K5 for kindergarten, 1-12, or "
        "written out as Grade 3 or 3rd): 'Pre-K' (2), '13th' (1) (first at "
        "StudentsBySchool_Fall2014.csv, line 2); ingest rejects their tests as grade_unknown"
    ]
    # a Combined file's own Grade too, with the codes past the third left at "..."
    combo = raw / "ComboStudentAssessment_Winter2014.csv"
    shutil.copy(DATA / "quirks/kindergarten/ComboStudentAssessment_Winter2012.csv", combo)
    combo.write_text(
        combo.read_text().replace("2012-2013", "2014-2015").replace("1/14/2013", "1/14/2015")
        + "".join(
            f"Winter 2014-2015,Riverside USD,Lincoln Elementary,Hale,Ivy,S10{n},F,{code},"
            "Mathematics,Math K-12,Growth: Math K-2 CCSS 2010 V2,1/14/2015,30,149,3.3,50\n"
            for n, code in ((10, "PK"), (11, "TK"), (12, "TK"), (13, "5th Grade"), (14, "Gr. 14"))
        )
    )
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert (
        f"pl-eval check-inputs: warning: {raw}: 5 of 7 ComboStudentAssessment rows with a Grade "
        "(71.4%) have one that ingest does not read (K, KG, 0, 13 or K5 for kindergarten, 1-12, or "
        "written out as Grade 3 or 3rd): 'TK' (2), '99' (1), 'Gr. 14' (1), ... (first at "
        "ComboStudentAssessment_Winter2014.csv, line 3); ingest rejects their tests as "
        "grade_unknown"
    ) in lines


def test_layout_a_schools_are_checked_with_the_roster_district(tmp_path, capsys):
    raw = cohort(tmp_path, "quirks/no_district")
    schools = raw / "schools.csv"
    schools.write_text(schools.read_text().replace("Escuela Vista", "Escuela Visto"))
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert lines[-2].startswith(
        f"pl-eval check-inputs: error: {raw}/schools.csv: no row for school 'Escuela Vista' of "
        "district 'Hill County SD', where the exports test 1 student in fall or spring 2013-2014"
    )


def test_a_name_written_in_decomposed_unicode_is_the_same_name(tmp_path, capsys):
    # schools.csv saved on a Mac: "Peña" as n and a combining tilde, the exports' as ñ
    raw = cohort(tmp_path, "cohort")
    schools = raw / "schools.csv"
    schools.write_text(unicodedata.normalize("NFD", schools.read_text()))
    assert "Pen\u0303a" in schools.read_text()
    status, lines = check(capsys, str(raw))
    assert status == 0, lines
    assert "  schools: 3 in schools.csv (2 PL, 1 comparison, 0 not yet PL), 2 tested" in "\n".join(
        lines
    )
    assert not [line for line in lines if "Pe" in line and ": warning: " in line]


def test_tests_without_a_roster_row_are_a_warning_that_spots_lost_leading_zeros(tmp_path, capsys):
    # the roster was saved from a spreadsheet: S1001 is 001001 in the results, 1001 there
    raw = cohort(tmp_path)
    for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
        path = raw / name
        ids = "001001" if name.startswith("Assessment") else "1001"
        path.write_text(path.read_text().replace("S1001", ids))
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert lines[0] == (
        f"pl-eval check-inputs: warning: {raw}: 2 of 3 AssessmentResults rows (66.7%) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        "AssessmentResults.csv, line 2); ingest rejects them as no_roster_row; 2 of them match a "
        "roster StudentID once leading zeros, a trailing .0 and letter case are ignored (the "
        "first at AssessmentResults.csv, line 2 and StudentsBySchool.csv, line 2); "
        "IDs are compared as written, so take the export whose IDs were changed (often by a "
        "spreadsheet, which drops leading zeros when it saves a file) from NWEA again rather than "
        "re-saving it"
    )
    assert lines[1].startswith(f"{raw} is ready: ")
    out = {k: tmp_path / k for k in ("scores", "duplicates", "rejects", "schools", "summary")}
    stages.ingest(raw, **out, settings=INGEST)
    assert io.read_json(out["summary"])["rejects_by_reason"]["test"] == {"no_roster_row": 2}


def test_tests_without_a_roster_row_spot_a_district_the_roster_writes_otherwise(tmp_path, capsys):
    # the district's own system wrote its roster under its long name
    raw = cohort(tmp_path)
    roster = raw / "StudentsBySchool.csv"
    roster.write_text(roster.read_text().replace("Riverside USD", "Riverside Unified SD"))
    status, lines = check(capsys, str(raw))
    assert status == 1  # no test has a roster row
    assert lines[0] == (
        f"pl-eval check-inputs: error: {raw}: 3 of 3 AssessmentResults rows (100.0%) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        "AssessmentResults.csv, line 2); ingest rejects them as no_roster_row; 3 of them match a "
        "roster row of the same term, school and StudentID whose district is written otherwise "
        "(the roster writes 'Riverside Unified SD' at StudentsBySchool.csv, line 2, where the "
        "tests write 'Riverside USD' at AssessmentResults.csv, line 2): write the district "
        "alike in both exports"
    )


def test_a_roster_whose_every_id_was_changed_is_not_ready_and_ingest_stops(tmp_path, capsys):
    # every roster ID re-saved as a decimal ("S1001" -> "S1001.0"): no test has a roster row,
    # so an analysis would have no student; check-inputs says so, and ingest stops in one line
    raw = cohort(tmp_path)
    roster = raw / "StudentsBySchool.csv"
    roster.write_text(
        roster.read_text().replace(",S1001,", ",S1001.0,").replace(",S1002,", ",S1002.0,")
    )
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert lines[0].startswith(
        f"pl-eval check-inputs: error: {raw}: 3 of 3 AssessmentResults rows (100.0%) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        "AssessmentResults.csv, line 2); ingest rejects them as no_roster_row; 3 of them match"
    )
    out = {
        k: tmp_path / "out" / k for k in ("scores", "duplicates", "rejects", "schools", "summary")
    }
    with pytest.raises(InputError) as caught:
        stages.ingest(raw, **out, settings=INGEST)
    assert str(caught.value) == (
        "AssessmentResults.csv, line 2: expected test rows that pass the screens, but all 3 were "
        "rejected (no_roster_row 3), this one as no_roster_row (no StudentsBySchool row for this "
        "term, district and student); `pl-eval check-inputs` tells more"
    )
    assert not (tmp_path / "out").exists()


def test_when_every_test_is_rejected_the_commonest_reason_is_named_with_every_count(tmp_path):
    # durations too short for all but one test, whose score is out of range: no test is kept
    raw = cohort(tmp_path)
    results = raw / "AssessmentResults.csv"
    rows = results.read_text().splitlines()
    rows[1:] = [r.replace(",45,160,", ",2,160,").replace(",38,155,", ",3,155,") for r in rows[1:]]
    rows[3] = rows[3].replace(",188,", ",400,")
    results.write_text("\n".join(rows) + "\n")
    out = {
        k: tmp_path / "out" / k for k in ("scores", "duplicates", "rejects", "schools", "summary")
    }
    with pytest.raises(InputError) as caught:
        stages.ingest(raw, **out, settings=INGEST)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (
        "AssessmentResults.csv",
        2,
        "TestDurationMinutes",
    )
    assert problem.expected.startswith(
        "test rows that pass the screens, but all 3 were rejected (short_duration 2, "
        "rit_out_of_range 1), this one as short_duration (2 minutes, below 6)"
    )


def test_an_export_saved_twice_is_a_warning_and_counts_once(tmp_path, capsys):
    # the results and the roster downloaded twice; a third file of the same size differs
    raw = cohort(tmp_path)
    for name in ("AssessmentResults", "StudentsBySchool"):
        shutil.copy(raw / f"{name}.csv", raw / f"{name} (1).csv")
    same_size = (raw / "AssessmentResults.csv").read_text().replace(",160,", ",161,")
    (raw / "AssessmentResults_other.csv").write_text(same_size)
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert lines[:2] == [
        f"pl-eval check-inputs: warning: {raw}: AssessmentResults (1).csv and "
        "AssessmentResults.csv hold the same bytes: ingest reads each of their rows 2 times "
        "and keeps one (the others are counted as duplicates); move the extra copies out of "
        "the folder",
        f"pl-eval check-inputs: warning: {raw}: StudentsBySchool (1).csv and "
        "StudentsBySchool.csv hold the same bytes: ingest reads each of their rows 2 times "
        "and keeps one (the others are counted as duplicates); move the extra copies out of "
        "the folder",
    ]
    assert lines[2].startswith(f"{raw} is ready: 3 AssessmentResults")
    out = {k: tmp_path / k for k in ("scores", "duplicates", "rejects", "schools", "summary")}
    stages.ingest(raw, **out, settings=INGEST)
    files = io.read_json(out["summary"])["files"]
    copies = [files[f"AssessmentResults{end}.csv"] for end in ("", " (1)")]
    assert sum(f["kept"] for f in copies) == 3 and sum(f["duplicates"] for f in copies) == 3


def test_a_missing_student_is_counted_without_a_spelling_hint(tmp_path, capsys):
    raw = cohort(tmp_path, "quirks/no_district")  # S1009 is in no roster; districts from it
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert lines[0] == (
        f"pl-eval check-inputs: warning: {raw}: 1 of 4 AssessmentResults rows (25.0%) have no "
        "StudentsBySchool row for their term, district and StudentID (first at "
        "AssessmentResults_Fall2013.csv, line 5); ingest rejects them as no_roster_row"
    )


def test_a_workbook_is_a_problem_saying_how_to_export_csv(tmp_path, capsys):
    raw = cohort(tmp_path, "quirks/workbook")
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert lines == [
        f"pl-eval check-inputs: error: {raw}/AssessmentResults_Spring2015.xlsx: not read: a "
        "spreadsheet workbook, which ingest does not read: open it in Excel, Save As 'CSV UTF-8 "
        "(Comma delimited) (*.csv)' into this folder, then move the workbook out",
        "pl-eval check-inputs: error: 1 problem; the folder is not ready",
    ]


def test_nweas_zipped_export_is_read_as_the_files_it_holds(tmp_path, capsys):
    # NWEA's data export arrives as a zip: its files are checked as ingest reads them
    raw = cohort(tmp_path)
    with zipfile.ZipFile(raw / "2015_CDF.zip", "w") as archive:
        for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
            archive.write(raw / name, f"CDF/{name}")
            (raw / name).unlink()
        archive.writestr("CDF/ClassAssignments.csv", "TermName,StudentID,ClassName,TeacherName\n")
    status, lines = check(capsys, str(raw))
    assert status == 0, lines
    assert lines[:2] == [
        f"{raw} is ready: 1 AssessmentResults (layout A), 1 StudentsBySchool, 1 schools.csv; "
        "1 other file ignored",
        "  test rows: 3 (Fall 2014-2015: 3); roster rows: 2",
    ]


def test_an_archive_in_an_archive_or_of_another_kind_is_a_problem_saying_to_extract_it(
    tmp_path, capsys
):
    raw = cohort(tmp_path)
    with zipfile.ZipFile(raw / "2015_CDF.zip", "w") as archive:
        archive.writestr("Spring.zip", b"PK\x05\x06" + bytes(18))  # an empty zip
    (raw / "Winter.7z").write_bytes(b"7z\xbc\xaf\x27\x1c")
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert lines == [
        f"pl-eval check-inputs: error: {raw}/{name}: not read: an archive, which ingest does "
        "not open: extract its exports into this folder, then move the archive out"
        for name in ("2015_CDF.zip/Spring.zip", "Winter.7z")
    ] + ["pl-eval check-inputs: error: 2 problems; the folder is not ready"]


def test_encoding_problems_are_the_same_lines_as_ingests(tmp_path, capsys):
    raw = cohort(tmp_path, "quirks/mixed_encoding")
    roster = b"TermName,DistrictName,StudentID,Grade\nFall 2014-2015,Riverside USD,S\x81,3\n"
    (raw / "StudentsBySchool.csv").write_bytes(roster)
    status, lines = check(capsys, str(raw))
    with pytest.raises(InputError) as caught:
        stages.ingest(raw, **{k: tmp_path / k for k in ("scores", "duplicates", "rejects",
                      "schools", "summary")}, settings=INGEST)  # fmt: skip
    prefix = "pl-eval check-inputs: error: "
    assert status == 1
    assert [line.removeprefix(prefix) for line in lines[:-1]] == str(caught.value).splitlines()
    assert lines[:-1] == [
        f"{prefix}{raw}/AssessmentResults.csv, line 4: expected one text encoding for the whole "
        "file, but it holds UTF-8 text and this byte, which is not UTF-8; re-save it as CSV "
        "UTF-8 (in Excel: Save As, CSV UTF-8), found 'byte 0xF1 at byte offset 374'",
        f"{prefix}{raw}/StudentsBySchool.csv, line 2: expected UTF-8 or Windows-1252/Latin-1 "
        "text, but this byte is neither; re-save it as CSV UTF-8 (in Excel: Save As, CSV "
        "UTF-8), found 'byte 0x81 at byte offset 68'",
    ]


def test_school_names_in_messages_are_short_and_escaped(tmp_path, capsys):
    raw = cohort(tmp_path)
    results = raw / "AssessmentResults.csv"
    hostile = "<img src=x>\x1b[2J" + "Z" * 5000
    results.write_text(results.read_text().replace("Lincoln Elementary", f'"{hostile}"'))
    status, lines = check(capsys, str(raw))
    assert status == 1
    assert f"no row for school {quoted(hostile)} of district 'Riverside USD', where" in lines[-2]
    assert (
        "'\\x3cimg src=x\\x3e\\x1b[2JZZZZZZZZZZZZZZZZZZZZZZZZZ'... (5,015 characters)"
        in (lines[-2])
    )
    assert all("\x1b" not in line and "<img" not in line and len(line) < 500 for line in lines)


def test_names_that_differ_from_schools_csv_only_in_case_or_blanks_are_its_schools(
    tmp_path, capsys
):
    raw = cohort(tmp_path, "quirks/school_names")
    status, lines = check(capsys, str(raw))
    assert status == 0, lines
    assert not warned(lines)  # no roster gap, no PL school
    assert (
        "  schools: 2 in schools.csv (1 PL, 1 comparison, 0 not yet PL), 2 tested in "
        "fall or spring" in lines
    )
    # a school spelt otherwise than in case and blanks is unframed, with a hint
    for term in ("Fall2014", "Spring2015"):
        tests = raw / f"AssessmentResults_{term}.csv"
        tests.write_text(tests.read_text().replace("efferson", "eferson"))
    status, lines = check(capsys, str(raw))
    assert status == 1
    hinted = [
        line
        for line in lines
        if "if it is 'JEFFERSON MIDDLE SCHOOL', spell that school_name as the exports do" in line
    ]
    assert [line.split(": no row for school ")[1].split(" of district")[0] for line in hinted] == [
        "'Jeferson  Middle School'",
        "'Jeferson Middle School'",
        "'jeferson middle school'",
    ]


def test_a_subject_ingest_does_not_read_is_a_warning_naming_it(tmp_path, capsys):
    raw = cohort(tmp_path)
    results = raw / "AssessmentResults.csv"
    written = results.read_text()
    results.write_text(written.replace("Mathematics", "Math"))  # read: the short name
    status, lines = check(capsys, str(raw))
    assert status == 0 and not warned(lines), lines
    # a spelling of math ingest does not read: every math test would be set aside
    results.write_text(written.replace("Mathematics", "Math K-5"))
    status, lines = check(capsys, str(raw))
    assert status == 0
    assert warned(lines) == [
        f"pl-eval check-inputs: warning: {raw}: 2 of 3 test rows (66.7%) are of a subject "
        "ingest does not analyse, and no test row is of math: 'Math K-5' (2) (first at "
        "AssessmentResults.csv, line 2); ingest rejects them as subject_not_analysed (it "
        "analyses MeasurementScale Mathematics, Math or Reading, or Subject and Course "
        "Mathematics / Math K-12 or Language Arts / Reading)"
    ]
    # Language Usage beside both subjects is as expected: no warning
    results.write_text(
        written.replace("Reading", "Language Usage", 1) + written.splitlines()[2] + "\n"
    )
    status, lines = check(capsys, str(raw))
    assert status == 0 and not warned(lines), lines
