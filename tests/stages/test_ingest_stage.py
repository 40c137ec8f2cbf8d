"""The ingest stage on hand-made cohort folders: known outcomes for every row, counts that add
up, no personal data in any output, byte-identical reruns, one-line errors and no partial
outputs for bad input."""

import json
import logging
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.errors import InputError, quoted

DATA = Path(__file__).parents[1] / "data" / "ingest"
KEY = "test-key-16chars"
OUTPUTS = ("scores", "duplicates", "rejects", "schools", "summary")
FALL = "2014-2015/fall/AssessmentResults_Fall2014.csv"
SPRING = "2014-2015/spring/AssessmentResults_Spring2015.txt"
HILL = "2014-2015/hill/AssessmentResults_Hill.csv"
WINTER = "2014-2015/winter/ComboStudentAssessment_Winter.csv"
SPRING_ROSTER = "2014-2015/spring/StudentsBySchool_Spring2015.csv"
SETTINGS = {
    "column_aliases": {},
    "screens": {
        "min_duration_minutes": 6,
        "max_rapid_guessing_pct": 30,
        "rit_range": [100, 320],
        "se_range": [1.5, 5.5],
    },
}
#: Personal data in the fixtures: names, birth dates, student and state IDs.
PERSONAL = (
    "Quillfeather",
    "Zebediah",
    "Thistlewood",
    "Marigold",
    "Brackenridge",
    "Fairweather",
    "Wolfsbane",
    "Nightingale",
    "Ashcombe",
    "Underhill",
    "Merriweather",
    "Pemberton",
    "Muñoz",
    "Ximena",
    "Okonkwo",
    "3/14/2009",
    "11/30/2003",
    "S1001",
    "S1002",
    "S2001",
    "S3001",
    "ST99887766",
    "ST11223344",
)


def run(raw_dir: Path, out: Path, settings=SETTINGS) -> dict[str, Path]:
    paths = {name: out / f"{name}.parquet" for name in OUTPUTS[:-1]}
    paths["summary"] = out / "ingest_summary.json"
    stages.ingest(raw_dir, **paths, settings=settings)
    return paths


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("PL_EVAL_KEY", KEY)


@pytest.fixture
def cohort(tmp_path):
    paths = run(DATA / "cohort", tmp_path / "out")
    frames = {n: io.read_parquet(paths[n]) for n in OUTPUTS[:-1]}
    return frames, io.read_json(paths["summary"]), paths


def located(frame: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(frame["source_file"], frame["source_line"], strict=True))


def test_every_row_lands_where_expected(cohort):
    (frames, _, _) = cohort
    assert located(frames["scores"]) == {
        (FALL, 2),
        (FALL, 4),
        (FALL, 6),
        (FALL, 8),
        (FALL, 16),
        (FALL, 17),
        (SPRING, 2),
        (SPRING, 3),
        (SPRING, 5),  # line 4 is blank
        (HILL, 2),
        (HILL, 3),
        (HILL, 4),
        (WINTER, 3),
        (WINTER, 5),
    }
    kept_by = {
        (f, n): (kf, kn)
        for f, n, kf, kn in frames["duplicates"][
            ["source_file", "source_line", "kept_source_file", "kept_source_line"]
        ].itertuples(index=False)
    }
    assert kept_by == {
        (FALL, 3): (FALL, 2),  # GrowthMeasureYN TRUE beats a lower SE
        (FALL, 5): (FALL, 6),  # lower SE
        (FALL, 7): (FALL, 8),  # same SE: later date
        (FALL, 15): (FALL, 16),  # same date: later time
        (WINTER, 2): (WINTER, 3),  # Combined (no GrowthMeasureYN): lower SE
    }
    reasons = {
        (f, n): (r, c, d)
        for f, n, r, c, d in frames["rejects"][
            ["source_file", "source_line", "reason", "column", "detail"]
        ].itertuples(index=False)
    }
    assert {k: v[0] for k, v in reasons.items()} == {
        (FALL, 9): "subject_not_analysed",
        (FALL, 10): "missing_score",
        (FALL, 11): "short_duration",
        (FALL, 12): "no_roster_row",
        (FALL, 13): "rit_out_of_range",
        (FALL, 14): "se_out_of_range",
        (HILL, 5): "rapid_guessing",
        (HILL, 6): "subject_not_analysed",
        (SPRING, 6): "missing_grade",
        (SPRING, 7): "missing_score",
        (SPRING, 8): "no_roster_row",
        (WINTER, 4): "missing_grade",
        (SPRING_ROSTER, 4): "missing_grade",
    }
    assert reasons[(FALL, 13)][1:] == ("TestRITScore", "95 outside 100-320")
    assert reasons[(HILL, 6)][1:] == ("Course", "Language Arts / Language Usage")
    assert reasons[(HILL, 5)][2] == "30%, at or above 30%"
    assert reasons[(SPRING, 6)][2] == f"StudentsBySchool row at {SPRING_ROSTER} line 4 has no grade"
    rejects = frames["rejects"].set_index(["source_file", "source_line"])
    assert rejects.loc[(SPRING_ROSTER, 4), "record"] == "roster"
    assert pd.isna(rejects.loc[(FALL, 9), "subject"])
    assert rejects.loc[(FALL, 10), "subject"] == "math"


def test_values_are_typed_and_roster_fields_joined(cohort):
    scores = cohort[0]["scores"].set_index(["source_file", "source_line"])
    assert scores["district"].dtype == "str" and scores["test_date"].dtype == "datetime64[ms]"
    fall = scores.loc[(FALL, 2)]
    assert (
        fall["subject"],
        fall["season"],
        fall["school_year"],
        fall["grade"],
        fall["gender"],
        fall["rit"],
        fall["se"],
        fall["growth_measure"],
    ) == ("math", "fall", "2014-2015", 0, "M", 160.0, 3.2, True)
    assert scores.loc[(SPRING, 3), "test_date"] == pd.Timestamp("2015-05-13")  # ISO date
    assert scores.loc[(SPRING, 2), "term_name"] == "Spring 2014-2015"  # roster wrote "Spring 2015"
    hill = scores.loc[(HILL, 2)]
    assert (hill["school"], hill["test_date"], hill["grade"], hill["norms_reference"]) == (
        "Escuela Peña",
        pd.Timestamp("2014-09-22"),
        1,
        2015,
    )  # Latin-1 and DD-MM-YYYY
    assert scores.loc[(HILL, 3), "rapid_guessing_pct"] == 29.9
    assert pd.isna(scores.loc[(HILL, 4), "duration_minutes"])
    winter = scores.loc[(WINTER, 5)]
    assert (winter["grade"], winter["ethnicity"], winter["school"]) == (
        7,
        "Asian",
        "Jefferson Middle",
    )
    assert pd.isna(winter["growth_measure"])


def test_student_keys(cohort, tmp_path, monkeypatch):
    scores = cohort[0]["scores"].set_index(["source_file", "source_line"])
    riverside = scores.loc[(FALL, 2), "student_key"]
    assert scores.loc[(SPRING, 2), "student_key"] == riverside  # same student, other term
    assert scores.loc[(HILL, 2), "student_key"] != riverside  # same StudentID, other district
    assert scores["student_key"].str.fullmatch(r"[0-9a-f]{16}").all()
    monkeypatch.setenv("PL_EVAL_KEY", "another-key-16ch")
    other = io.read_parquet(run(DATA / "cohort", tmp_path / "other")["scores"])
    assert set(other["student_key"]).isdisjoint(scores["student_key"])


def test_summary_counts_add_up(cohort):
    summary = cohort[1]
    files = summary["files"]
    assert {
        k: files[FALL][k] for k in ("kind", "layout", "rows_read", "kept", "duplicates", "rejected")
    } == {
        "kind": "assessment_results",
        "layout": "A",
        "rows_read": 16,
        "kept": 6,
        "duplicates": 4,
        "rejected": 6,
    }
    assert {k: files[SPRING][k] for k in ("layout", "delimiter", "encoding", "blank_lines")} == {
        "layout": "B",
        "delimiter": "tab",
        "encoding": "utf-8-sig",
        "blank_lines": 1,
    }
    assert (files[HILL]["layout"], files[HILL]["encoding"]) == ("C", "latin-1")
    assert files[WINTER]["kind"] == "combined"
    assert {
        k: files[SPRING_ROSTER][k]
        for k in ("rows_read", "used", "unused", "duplicates", "rejected")
    } == {"rows_read": 4, "used": 3, "unused": 0, "duplicates": 0, "rejected": 1}
    fall_roster = files["2014-2015/fall/StudentsBySchool_Fall2014.csv"]
    assert (fall_roster["used"], fall_roster["unused"], fall_roster["duplicates"]) == (6, 1, 1)
    assert summary["totals"] == {
        "rows_read": 31,
        "kept": 14,
        "duplicates": 5,
        "rejected": 12,
        "students": 8,
        "schools_in_frame": 3,
    }
    assert summary["roster_totals"] == {
        "rows_read": 14,
        "used": 11,
        "unused": 1,
        "duplicates": 1,
        "rejected": 1,
    }
    assert summary["terms"]["Fall 2014-2015"] == {
        "rows_read": 21,
        "kept": 9,
        "duplicates": 4,
        "rejected": 8,
    }
    for entry in [*summary["terms"].values(), *(f for f in files.values() if "kept" in f)]:
        assert entry["rows_read"] == entry["kept"] + entry["duplicates"] + entry["rejected"]
    assert sum(summary["rejects_by_reason"]["test"].values()) == summary["totals"]["rejected"]
    assert summary["rejects_by_reason"]["roster"] == {"missing_grade": 1}
    assert set(summary["ignored_files"]) == {
        "truth.json",
        "notes.md",
        "2014-2015/fall/ClassAssignments_Fall2014.csv",
        "2014-2015/fall/StudentTestAccommodations.csv",
        "2014-2015/fall/ProgramAssignments.csv",
    }


def test_no_personal_data_in_any_output(cohort):
    frames, _, paths = cohort
    text = [paths["summary"].read_text(encoding="utf-8")]
    for frame in frames.values():
        text.append(" ".join(map(str, frame.columns)))
        text.append(frame.astype("str").to_csv(index=False))
    found = [word for word in PERSONAL if any(word in t for t in text)]
    assert found == []
    assert any("Escuela Peña" in t for t in text)  # the scan does see the outputs' text


def test_rerun_is_byte_identical(cohort, tmp_path):
    again = run(DATA / "cohort", tmp_path / "again")
    for name, path in cohort[2].items():
        assert path.read_bytes() == again[name].read_bytes(), name


def test_schools_output(cohort):
    schools = cohort[0]["schools"]
    assert schools[["district_name", "school_name", "sector", "locale_group"]].values.tolist() == [
        ["Hill County SD", "Escuela Peña", "district", "rural"],
        ["Riverside USD", "Jefferson Middle", "district", "suburb"],
        ["Riverside USD", "Lincoln Elementary", "charter", "city"],
    ]
    assert schools["nces_id"].tolist()[1:] == ["062271003230", "062271003228"]


def test_configured_column_alias(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    results = raw / "AssessmentResults.csv"
    results.write_text(results.read_text().replace("StudentID", "Local_ID", 1))
    with pytest.raises(InputError, match="column 'StudentID': expected this column"):
        run(raw, tmp_path / "out")
    settings = SETTINGS | {"column_aliases": {"StudentID": ["local_id"]}}
    scores = io.read_parquet(run(raw, tmp_path / "out", settings)["scores"])
    assert len(scores) == 3


def overlay(tmp_path: Path, case: str) -> Path:
    """The minimal folder with one case's files laid over it (or removed)."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    if case == "no_exports":
        for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
            (raw / name).unlink()
        (raw / "truth.json").write_text("{}")
    elif case == "missing_schools":
        (raw / "schools.csv").unlink()
    else:
        shutil.copytree(DATA / "bad" / case, raw, dirs_exist_ok=True)
    return raw


@pytest.mark.parametrize(
    ("case", "messages"),
    [
        (
            "missing_column",
            [
                "AssessmentResults.csv, line 1, column 'TestStandardError': "
                "expected this column in the header"
            ],
        ),
        (
            "empty_file",
            ["AssessmentResults.csv, line 1: expected a header line", "found 'an empty file'"],
        ),
        ("header_only", ["StudentsBySchool.csv, line 2: expected a data row after the header"]),
        (
            "bad_term",
            [
                "AssessmentResults.csv, line 3, column 'TermName': expected a term",
                "found 'Autumn 2014-2015'",
            ],
        ),
        (
            "bad_date",
            [
                "AssessmentResults.csv, line 4, column 'TestStartDate': expected a date",
                "found '13/45/2014'",
            ],
        ),
        (
            "rounded_ids",  # Excel's 1.23457E+11 for 12-digit IDs: two students would merge
            [
                "AssessmentResults.csv, line 2, column 'StudentID': expected an ID as written, "
                "not a number a spreadsheet showed in scientific notation (rounded, so that "
                "students share it: save the column as text), found '1.23457E+11'",
                "AssessmentResults.csv, line 4, column 'StudentID'",
                "StudentsBySchool.csv, line 3, column 'StudentID'",
            ],
        ),
        (
            "non_numeric",
            [
                "AssessmentResults.csv, line 2, column 'TestRITScore': expected a number",
                "AssessmentResults.csv, line 3, column 'TestStandardError': expected a "
                "number (or empty), found '3;3'",
            ],
        ),
        (
            "short_row",
            [
                "AssessmentResults.csv, line 3: expected 11 fields like the header, "
                "found '9 fields'",
                "line 4: expected 11 fields like the header, found '1 field'",  # a footer
            ],
        ),
        (
            "binary",
            [
                "AssessmentResults.csv: expected a delimited text export, but this is a "
                "spreadsheet workbook (or a zip file); open it in Excel and Save As CSV UTF-8, "
                "found 'binary data'"
            ],
        ),
        ("unrecognised", ["gradebook.csv, line 1: expected an NWEA export"]),
        (
            "repeated_column",
            [
                "AssessmentResults.csv, line 1, column 'StudentID': expected each column once in "
                "the header; delete the copy that is not the export's, found 'columns 4 and 13'",
                "AssessmentResults.csv, line 1, column 'TestRITScore': expected each column once "
                "in the header; delete the copy that is not the export's, found 'columns 9 and "
                "12'",
            ],
        ),
        (
            "schools_duplicate",
            [
                "schools.csv, line 3, column 'school_name': expected one row per "
                "district_name and school_name, found 'Lincoln Elementary'"
            ],
        ),
        (
            "schools_values",
            [
                "schools.csv, line 2, column 'sector': expected charter or district, "
                "found 'magnet'",
                "schools.csv, line 3, column 'frl_pct'",
                "line 3, column 'locale'",
                "line 3, column 'pl_start_year'",
            ],
        ),
        ("no_exports", ["raw: expected at least one AssessmentResults or ComboStudentAssessment"]),
        (
            "missing_schools",
            ["schools.csv: expected exactly one school frame schools.csv", "found 'none'"],
        ),
    ],
)
def test_bad_input_is_one_line_per_problem_and_writes_nothing(tmp_path, case, messages):
    raw = overlay(tmp_path, case)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        run(raw, out)
    text = str(caught.value)
    for message in messages:
        assert message in text
    assert all(line.startswith(str(raw)) for line in text.splitlines())
    assert not out.exists() or not any(out.iterdir())


def test_frl_written_as_shares_is_one_line_at_the_first_share(tmp_path):
    """0.62 and 0.455 beside 1 and a blank: shares, reported once, at 0.62 (1 could be 1%)."""
    raw = overlay(tmp_path, "frl_shares")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/schools.csv, line 3, column 'frl_pct': expected a percentage from 0 to 100, but "
        "every frl_pct is from 0 to 1, as shares are (0.45 for 45%); multiply them by 100, "
        "found '0.62'"
    )
    schools = raw / "schools.csv"
    schools.write_text(schools.read_text().replace("0.62", "62"))
    run(raw, tmp_path / "out")  # a school of 0.455% beside one of 62%: possible, so read


def test_two_rows_of_schools_csv_alike_but_for_case_or_blanks_are_one_line_each(tmp_path):
    """Exports are read as schools.csv spells a name (case and blanks aside) only if it spells
    it one way: two such rows would frame one school twice, so the later is a problem naming
    the earlier; a row repeating one exactly keeps its own line, and blank names theirs."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    with (raw / "schools.csv").open("a") as schools:
        schools.write(
            "RIVERSIDE USD,LINCOLN  ELEMENTARY,062271003228,charter,2013,45.5,11\n"
            "Riverside USD,Lincoln Elementary,062271003228,charter,2013,45.5,11\n"
            "Riverside USD,Oak Park,,district,,50,11\n"
            "Riverside USD,,,district,,50,11\n"
            "Riverside usd,Oak Park Academy,,district,,50,11\n"
            "Riverside usd,oak park,,district,,50,11\n"
            "Hill County SD,Oak Park,,district,,50,11\n"
        )
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    alike = (
        "expected one row per district_name and school_name, which letter case and blanks do "
        "not tell apart: line {} names this school {!r} of 'Riverside USD', found {!r}"
    )
    required = "expected a value (this column is required), found ''"
    assert [
        line.removeprefix(f"{raw}/schools.csv, line ") for line in str(caught.value).splitlines()
    ] == [
        "3, column 'school_name': " + alike.format(2, "Lincoln Elementary", "LINCOLN  ELEMENTARY"),
        "4, column 'school_name': expected one row per district_name and school_name, found "
        "'Lincoln Elementary'",
        f"6, column 'school_name': {required}",
        "8, column 'school_name': " + alike.format(5, "Oak Park", "oak park"),
    ]


def test_a_frame_copied_from_the_common_core_of_data_reads_as_codes(tmp_path):
    """ULOCALE as the CCD directory writes it (11-City: Large), and SY2014-15 as a start:
    the outputs are the minimal folder's, byte for byte."""
    expected = run(DATA / "minimal", tmp_path / "codes")
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    schools = raw / "schools.csv"
    schools.write_text(
        schools.read_text().replace(",2013,45.5,11", ",SY2013-14,45.5,11-City: Large")
    )
    found = run(raw, tmp_path / "out")
    assert {n: found[n].read_bytes() for n in OUTPUTS[:-1]} == {
        n: expected[n].read_bytes() for n in OUTPUTS[:-1]
    }


def test_an_nces_id_a_spreadsheet_rounded_says_so(tmp_path):
    """Excel shows a 12-digit id as 4.80001E+11 and saves it so: rounded, not an id."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    schools = raw / "schools.csv"
    schools.write_text(schools.read_text().replace("062271003228", "4.80001E+11"))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/schools.csv, line 2, column 'nces_id': expected an NCES school id of 12 digits, "
        "not a number a spreadsheet showed in scientific notation (rounded: save the column as "
        "text, or leave it empty), found '4.80001E+11'"
    )


def test_frl_copied_from_nces_missing_codes_says_what_they_are(tmp_path):
    """The Common Core of Data writes -1, -2 and -9 for an unknown count: a frame copied from
    it gets a line naming the codes and to leave the cell empty; -3 is only out of range."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    header, row = (raw / "schools.csv").read_text().splitlines()
    rows = [row.replace("Lincoln Elementary", f"School {i}").replace(",45.5,", f",{frl},")
            for i, frl in enumerate(["-1", "-2", "-9", "-9%", "-3", "", "0"])]  # fmt: skip
    (raw / "schools.csv").write_text("\n".join([header, *rows, ""]))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    unknown = (
        "expected a percentage from 0 to 100, or empty where it is unknown: -1, -2 and -9 are "
        "the NCES codes for missing, not applicable and failing its quality standards"
    )
    assert str(caught.value).splitlines() == [
        *(f"{raw}/schools.csv, line {n}, column 'frl_pct': {unknown}, found {v!r}"
          for n, v in ((2, "-1"), (3, "-2"), (4, "-9"), (5, "-9%"))),
        f"{raw}/schools.csv, line 6, column 'frl_pct': expected a percentage from 0 to 100 (or "
        "empty), found '-3'",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "title_line",
            "line 1: expected a header naming the columns (TermName, SchoolName, StudentID, "
            "...); delete any title or note above it, found 'MAP Growth results, Riverside USD'",
        ),
        (
            "repeated_header",
            "line 5: expected a data row, but this line repeats the header (files pasted "
            "together?); delete it",
        ),
    ],
)
def test_a_file_wrong_throughout_a_line_is_one_line_not_a_line_per_column(tmp_path, case, message):
    raw = overlay(tmp_path, case)
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == f"{raw}/AssessmentResults.csv, {message}"


def test_a_file_name_with_a_line_break_or_escape_stays_one_inert_line(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    raw = overlay(tmp_path, "non_numeric")
    (raw / "AssessmentResults.csv").rename(raw / "Assessment\nResults\x1b[2J.csv")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{raw}/Assessment\\nResults\\x1b[2J.csv, line 2, column ")
    assert len(lines) == 2 and "\x1b" not in str(caught.value)
    logged = [r.getMessage() for r in caplog.records if "Assessment" in r.getMessage()]
    assert logged and all("\n" not in m and "\x1b" not in m for m in logged)


def test_a_link_to_a_missing_export_is_a_problem_not_a_lost_file(tmp_path):
    raw = overlay(tmp_path, "header_only")
    (raw / "AssessmentResults_Spring.csv").symlink_to(tmp_path / "moved" / "Spring.csv")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert (
        f"{raw}/AssessmentResults_Spring.csv: expected a readable file, found 'a link to a file "
        "that does not exist'"
    ) in str(caught.value).splitlines()


def test_rows_of_a_wrong_field_count_beyond_those_listed_are_counted(tmp_path):
    # rows of an export with a column fewer pasted under this header: 25 rows of 10 fields
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    results = raw / "AssessmentResults.csv"
    header, *rows = results.read_text().splitlines()
    rows += [rows[2].replace("S1002", f"S{9000 + i}") for i in range(22)]
    short = [r.rsplit(",", 1)[0] for r in rows]
    results.write_text("".join(f"{line}\n" for line in [header, *short]))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    lines = str(caught.value).splitlines()  # all printed: the count, not "... and 1 more"
    assert len(lines) == io.MAX_ROW_PROBLEMS + 1 == 21
    assert lines[0] == f"{results}, line 2: expected 11 fields like the header, found '10 fields'"
    assert (
        lines[-1]
        == f"{results}: expected 11 fields like the header (5 more rows have other counts)"
    )


def ending_rows_with_a_delimiter(path: Path, delimiter: bytes = b",") -> list[bytes]:
    """Rewrite ``path`` as an exporter that ends every data row (not the header, nor a blank
    line) with a delimiter writes it; its data rows."""
    header, *rows = path.read_bytes().splitlines()
    rows = [row + delimiter if row else row for row in rows]
    path.write_bytes(b"".join(line + b"\n" for line in [header, *rows]))
    return rows


def test_exports_saved_as_excel_unicode_text_read_as_the_originals(tmp_path):
    # Excel's "Unicode Text" save: UTF-16 with a byte-order mark (the Latin-1 file decoded)
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "cohort", raw)
    for path in sorted(p for p in raw.rglob("*") if p.suffix in (".csv", ".txt")):
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252")
        path.write_bytes(text.encode("utf-16"))
    direct = run(DATA / "cohort", tmp_path / "direct")
    paths = run(raw, tmp_path / "out")
    for name in ("scores", "duplicates", "rejects", "schools"):
        assert paths[name].read_bytes() == direct[name].read_bytes(), name
    summary = io.read_json(paths["summary"])
    assert {f["encoding"] for f in summary["files"].values() if "encoding" in f} == {"utf-16"}


def test_rows_ending_in_a_delimiter_the_header_lacks_read_as_the_header_says(tmp_path):
    # every data row one field longer, empty (pandas would shift every value a column)
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "cohort", raw)
    exports = sorted(p for p in raw.rglob("*") if p.suffix in (".csv", ".txt"))
    for path in exports:
        ending_rows_with_a_delimiter(path, b"\t" if path.suffix == ".txt" else b",")
    direct = run(DATA / "cohort", tmp_path / "direct")
    paths = run(raw, tmp_path / "out")
    assert {n: p.read_bytes() for n, p in paths.items()} == {
        n: p.read_bytes() for n, p in direct.items()
    }


def test_a_value_after_the_delimiter_ending_rows_or_a_row_without_it_is_a_problem(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    results = raw / "AssessmentResults.csv"
    rows = ending_rows_with_a_delimiter(results)
    results.write_bytes(results.read_bytes().replace(rows[1], rows[1] + b"99"))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{results}, line 3: expected nothing after the header's 11 fields but the delimiter "
        "ending the row, as on line 2, found '99'"
    )
    results.write_bytes(results.read_bytes().replace(rows[1] + b"99", rows[1][:-1]))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{results}, line 3: expected 12 fields like line 2, the header's 11 and an empty one "
        "after a delimiter ending the row, found '11 fields'"
    )


def test_all_problems_are_reported_together(tmp_path):
    raw = overlay(tmp_path, "bad_date")
    shutil.copytree(DATA / "bad" / "non_numeric", raw / "more")
    shutil.copy(DATA / "bad" / "schools_values" / "schools.csv", raw / "schools.csv")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    where = {
        (Path(p.file).relative_to(raw).as_posix(), p.line, p.column) for p in caught.value.problems
    }
    assert where == {
        ("AssessmentResults.csv", 4, "TestStartDate"),
        ("more/AssessmentResults.csv", 2, "TestRITScore"),
        ("more/AssessmentResults.csv", 3, "TestStandardError"),
        ("schools.csv", 2, "sector"),
        ("schools.csv", 3, "frl_pct"),
        ("schools.csv", 3, "locale"),
        ("schools.csv", 3, "pl_start_year"),
    }


def test_summary_json_is_plain_and_sorted(cohort):
    text = cohort[2]["summary"].read_text()
    assert json.loads(text)["files"]["schools.csv"]["schools"] == 3
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_combined_files_alone_need_no_roster(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(DATA / "cohort" / WINTER, raw / "ComboStudentAssessment.csv")
    shutil.copy(DATA / "cohort" / "schools.csv", raw / "schools.csv")
    paths = run(raw, tmp_path / "out")
    summary = io.read_json(paths["summary"])
    assert summary["totals"]["kept"] == 2 and summary["roster_totals"]["rows_read"] == 0
    assert io.read_parquet(paths["scores"])["grade"].tolist() == [6, 7]


# --- Real exports as districts send them (issue 11 §1): one hand-made folder per quirk ------

QUIRKS = DATA / "quirks"


def ingested(raw: Path, out: Path, settings=SETTINGS):
    """Outputs and summary of ingesting ``raw``, after checking every row is accounted for."""
    paths = run(raw, out, settings)
    frames = {n: io.read_parquet(paths[n]) for n in OUTPUTS[:-1]}
    summary = io.read_json(paths["summary"])
    assert_rows_accounted_for(summary, frames)
    return frames, summary


def assert_rows_accounted_for(summary: dict, frames: dict) -> None:
    """Per test file: kept + duplicates + rejected = rows read, and the outputs hold them."""
    tests = {n: f for n, f in summary["files"].items() if "kept" in f}
    assert tests
    for name, entry in tests.items():
        assert entry["rows_read"] == entry["kept"] + entry["duplicates"] + entry["rejected"]
        landed = [
            (frames["scores"]["source_file"] == name).sum(),
            (frames["duplicates"]["source_file"] == name).sum(),
            (frames["rejects"]["source_file"] == name).sum(),
        ]
        assert landed == [entry["kept"], entry["duplicates"], entry["rejected"]], name


def where(frame: pd.DataFrame, *columns: str) -> dict:
    return {
        (f, n): tuple(rest) if len(rest) > 1 else rest[0]
        for f, n, *rest in frame[["source_file", "source_line", *columns]].itertuples(index=False)
    }


def test_layout_a_without_district_takes_it_from_the_roster(tmp_path):
    frames, _ = ingested(QUIRKS / "no_district", tmp_path / "out")
    results = "AssessmentResults_Fall2013.csv"
    assert where(frames["scores"], "district", "school", "grade") == {
        (results, 2): ("Riverside USD", "Lincoln Elementary", 2),
        (results, 3): ("Hill County SD", "Escuela Vista", 4),  # same StudentID, other school
        (results, 4): ("Riverside USD", "Lincoln Elementary", 3),
    }
    scores = frames["scores"]
    assert scores["student_key"].iloc[0] != scores["student_key"].iloc[1]
    rejects = frames["rejects"]
    assert where(rejects, "reason", "detail") == {
        (results, 5): (
            "no_roster_row",
            "no StudentsBySchool row for this term, school and student to take the district "
            "from (the file has no DistrictName)",
        )
    }
    assert rejects["student_key"].isna().all()  # no district, no pseudonymous student


def test_layout_a_without_district_and_roster_is_one_line_saying_what_to_supply(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "no_district", raw)
    roster = raw / "StudentsBySchool_Fall2013.csv"
    roster.write_text(roster.read_text().replace("Fall 2013-2014", "Spring 2013-2014"))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/AssessmentResults_Fall2013.csv, line 1, column 'DistrictName': expected a "
        "DistrictName column, a StudentsBySchool export of Fall 2013-2014 to take it from (by "
        "StudentID and SchoolName), or ingest.district_name in config/config.yaml (a folder "
        "of one district), found 'no such column'"
    )


def test_district_name_setting_for_a_single_district_folder(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "no_district", raw)
    roster = raw / "StudentsBySchool_Fall2013.csv"
    lines = roster.read_text().splitlines()
    # a one-district roster without DistrictName either: only the setting can name it
    kept = [lines[0]] + [line for line in lines[1:] if "Hill County" not in line]
    without = [",".join(line.split(",")[:1] + line.split(",")[2:]) for line in kept]
    roster.write_text("\n".join(without) + "\n")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/StudentsBySchool_Fall2013.csv, line 1, column 'DistrictName': expected a "
        "DistrictName column, or ingest.district_name in config/config.yaml (a folder of one "
        "district), found 'no such column'"
    )
    settings = SETTINGS | {"district_name": "Riverside USD"}
    frames, _ = ingested(raw, tmp_path / "out", settings)
    assert set(frames["scores"]["district"]) == {"Riverside USD"}
    # the one district's roster: Escuela Vista's S1001 is Lincoln Elementary's S1001
    assert where(frames["rejects"], "reason") == {
        ("AssessmentResults_Fall2013.csv", 5): "no_roster_row"
    }


def test_kindergarten_codes_and_unknown_grades(tmp_path):
    frames, summary = ingested(QUIRKS / "kindergarten", tmp_path / "out")
    results, combo = "AssessmentResults_Fall2012.csv", "ComboStudentAssessment_Winter2012.csv"
    roster = "StudentsBySchool_Fall2012.csv"
    assert where(frames["scores"], "grade") == {
        (results, 2): 0,  # 13
        (results, 3): 0,  # K
        (results, 4): 0,  # KG
        (results, 5): 0,  # 0
        (combo, 2): 0,  # 13 in a Combined file
    }
    not_a_grade = (
        "is not a grade (K, KG, 0, 13 or K5 for kindergarten, 1-12, or written out as Grade 3 "
        "or 3rd)"
    )
    assert where(frames["rejects"], "record", "reason", "detail") == {
        (results, 6): (
            "test",
            "grade_unknown",
            f"StudentsBySchool row at {roster} line 6: 'PK' {not_a_grade}",
        ),
        (combo, 3): ("test", "grade_unknown", f"'99' {not_a_grade}"),
        (roster, 6): ("roster", "grade_unknown", f"'PK' {not_a_grade}"),
    }
    assert summary["rejects_by_reason"] == {
        "roster": {"grade_unknown": 1},
        "test": {"grade_unknown": 2},
    }
    assert summary["files"][roster]["rejected"] == 1


def test_grades_written_out_by_a_district_roster_are_read(tmp_path):
    frames, summary = ingested(QUIRKS / "grade_words", tmp_path / "out")
    results, roster = "AssessmentResults_Fall2014.csv", "StudentsBySchool_Fall2014.csv"
    assert where(frames["scores"], "grade") == {
        (results, 2): 3,  # Grade 3
        (results, 3): 3,  # 3rd
        (results, 4): 4,  # 4th Grade
        (results, 5): 0,  # Gr. K
        (results, 6): 3,  # GRADE 03
    }
    assert where(frames["rejects"], "record", "reason") == {
        (results, 7): ("test", "grade_unknown"),  # Pre-K
        (results, 8): ("test", "grade_unknown"),  # 13th: 13 is kindergarten only bare
        (roster, 7): ("roster", "grade_unknown"),
        (roster, 8): ("roster", "grade_unknown"),
    }
    assert summary["files"][results]["kept"] == 5


def test_school_and_district_names_are_read_as_schools_csv_spells_them(tmp_path):
    """schools.csv copied from NCES's lists (LINCOLN ELEMENTARY), exports spelling its names in
    other cases and blanks from term to term: one school each, as schools.csv spells it; the
    spring tests join their roster (spelt Riverside USD, they say Riverside Usd); each student
    has one key and is paired fall to spring."""
    frames, summary = ingested(QUIRKS / "school_names", tmp_path / "out")
    scores = frames["scores"]
    assert frames["rejects"].empty and len(scores) == 8
    assert set(zip(scores["district"], scores["school"], strict=True)) == {
        ("RIVERSIDE USD", "LINCOLN ELEMENTARY"),
        ("RIVERSIDE USD", "JEFFERSON MIDDLE SCHOOL"),
    }
    fall, spring = scores.iloc[:4], scores.iloc[4:]
    assert fall["student_key"].tolist() == spring["student_key"].tolist()
    assert fall["student_key"].nunique() == 4
    out = tmp_path / "out"
    stages.build_panel(
        **{k: out / f"{k}.parquet" for k in ("scores", "rejects", "schools", "panel")},
        exclusions=out / "exclusions.csv",
        settings={},
    )
    panel = io.read_parquet(out / "panel.parquet")
    assert len(panel) == 4
    assert (
        sorted(panel["school"].astype("str"))
        == ["JEFFERSON MIDDLE SCHOOL"] * 2 + ["LINCOLN ELEMENTARY"] * 2
    )


def test_cells_written_as_formula_text_or_with_a_zero_width_space_read_as_their_text(tmp_path):
    """A student information system's roster writing IDs and grades as ="0012301" (so that a
    spreadsheet keeps the leading zeros), a RIT score written so, and an ID pasted with a
    zero-width space before it: every test meets its roster row and keeps its grade."""
    frames, _ = ingested(QUIRKS / "formula_text", tmp_path / "out")
    results = "AssessmentResults_Fall2014.csv"
    assert frames["rejects"].empty
    assert where(frames["scores"], "grade", "rit") == {
        (results, 2): (3, 190.0),
        (results, 3): (3, 192.0),
        (results, 4): (4, 201.0),
    }


def test_a_roster_whose_ids_a_script_wrote_as_decimals_meets_its_tests(tmp_path):
    """Numeric StudentIDs, the roster's saved as 1001.0 by a script that read them as numbers:
    the outputs are those of a roster writing 1001, byte for byte."""
    plain, decimal = tmp_path / "plain", tmp_path / "decimal"
    for folder, suffix in ((plain, ""), (decimal, ".0")):
        shutil.copytree(DATA / "minimal", folder)
        for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
            path = folder / name
            tail = suffix if name.startswith("Students") else ""
            text = path.read_text().replace(",S1001,", f",1001{tail},")
            path.write_text(text.replace(",S1002,", f",1002{tail},"))
    expected, found = run(plain, tmp_path / "a"), run(decimal, tmp_path / "b")
    assert len(io.read_parquet(found["scores"])) == 3
    assert {n: found[n].read_bytes() for n in OUTPUTS[:-1]} == {
        n: expected[n].read_bytes() for n in OUTPUTS[:-1]
    }


def test_end_of_course_tests_are_set_aside_unless_kept(tmp_path):
    fall, spring = "AssessmentResults_Fall2013.csv", "AssessmentResults_Spring2014.csv"
    frames, summary = ingested(QUIRKS / "end_of_course", tmp_path / "out")
    assert where(frames["rejects"], "reason", "column", "detail") == {
        (fall, 3): ("end_of_course", "TestName", "MAP: Algebra 1 Goals 2.0"),  # layout A
        (fall, 4): ("end_of_course", "TestName", "MAP: Geometry Goals 2.0"),
        (spring, 3): ("end_of_course", "Course", "Integrated Math I"),  # layout C
    }
    assert set(where(frames["scores"], "subject")) == {(fall, 2), (fall, 5), (spring, 2)}
    kept = SETTINGS | {"end_of_course": "keep"}
    frames, _ = ingested(QUIRKS / "end_of_course", tmp_path / "keep", kept)
    assert frames["rejects"].empty
    assert where(frames["scores"], "subject")[(spring, 3)] == "math"


def test_measurement_scale_or_subject_whichever_is_filled(tmp_path):
    frames, _ = ingested(QUIRKS / "scale_or_subject", tmp_path / "out")
    results = "AssessmentResults_Fall2019.csv"
    assert where(frames["scores"], "subject") == {
        (results, 2): "math",  # MeasurementScale only
        (results, 3): "reading",  # Subject + Course only
        (results, 4): "math",
    }
    assert where(frames["rejects"], "reason", "detail") == {
        (results, 5): ("subject_not_analysed", "MeasurementScale and Subject empty"),
        (results, 6): ("subject_not_analysed", "Language Usage"),
    }


def test_missing_value_markers_read_as_empty_cells_and_invisible_header_marks_ignored(tmp_path):
    # NULL, #N/A, N/A and NA (database, Excel and R exports) mean an empty cell: optional
    # values become missing, a NULL score or grade is rejected as an empty one is; the header
    # opens with two byte-order marks and a zero-width space, which hid TermName
    frames, summary = ingested(QUIRKS / "missing_markers", tmp_path / "out")
    results, roster = "AssessmentResults_Fall2019.csv", "StudentsBySchool_Fall2019.csv"
    scores = frames["scores"].set_index("source_line")
    assert scores.loc[2, "subject"] == "math" and scores.loc[3, "subject"] == "reading"
    optional = [
        "nwea_percentile", "duration_minutes", "rapid_guessing_pct", "growth_measure",
        "norms_reference", "gender", "ethnicity",
    ]  # fmt: skip
    assert scores.loc[2, optional].isna().all()
    assert scores.loc[3, optional[:5]].tolist() == [52, 40.0, 0.0, True, 2015]
    assert where(frames["rejects"], "reason", "column") == {
        (results, 4): ("missing_score", "TestRITScore"),
        (results, 5): ("missing_grade", "Grade"),
        (roster, 4): ("missing_grade", "Grade"),
    }
    school = frames["schools"].iloc[0]
    assert pd.isna(school["nces_id"]) and pd.isna(school["frl_pct"])
    counts = ("rows_read", "kept", "rejected")
    assert [summary["files"][results][c] for c in counts] == [4, 2, 2]


def test_two_digit_years_times_in_date_cells_and_norms_that_are_not_years(tmp_path):
    frames, _ = ingested(QUIRKS / "dates", tmp_path / "out")
    results = "AssessmentResults_2020-2021.csv"
    assert where(frames["scores"], "test_date", "norms_reference") == {
        (results, 3): (pd.Timestamp("2020-09-17"), pd.NA),  # "9/17/20 1:05:00 PM", USER
        (results, 4): (pd.Timestamp("2020-09-16"), 2020),
        (results, 5): (pd.Timestamp("2021-03-02"), 2020),  # 3/2/21
        (results, 6): (pd.Timestamp("2021-03-03"), pd.NA),  # Custom
    }
    # same day, same SE: the later time in the date cell (1:05 PM) is kept over 9:00 AM
    assert where(frames["duplicates"], "kept_source_line") == {(results, 2): 3}
    assert frames["rejects"].empty


def test_dates_and_terms_a_warehouse_or_a_spreadsheet_writes_read_alike(tmp_path):
    # a data warehouse's 2020/09/16, Excel's d-mmm-yy display (Oracle's DD-MON-YY)
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "dates", raw)
    results = raw / "AssessmentResults_2020-2021.csv"
    text = results.read_text().replace(",9/16/2020,", ",2020/09/16,")
    text = text.replace("Spring 2020-2021", "Spring 2020-21")  # and a district's term name
    results.write_text(text.replace(",3/2/21,", ",2-MAR-21,").replace(",3/3/21,", ",3-Mar-2021,"))
    frames, _ = ingested(raw, tmp_path / "out")
    assert where(frames["scores"], "test_date", "term_name") == {
        (results.name, 3): (pd.Timestamp("2020-09-17"), "Fall 2020-2021"),
        (results.name, 4): (pd.Timestamp("2020-09-16"), "Fall 2020-2021"),
        (results.name, 5): (pd.Timestamp("2021-03-02"), "Spring 2020-2021"),
        (results.name, 6): (pd.Timestamp("2021-03-03"), "Spring 2020-2021"),
    }


def test_iso_timestamps_with_a_zone_or_offset_keep_their_time_of_day(tmp_path):
    frames, _ = ingested(QUIRKS / "timestamps", tmp_path / "out")
    results = "AssessmentResults_2020-2021.csv"
    assert where(frames["scores"], "test_date") == {
        (results, 3): pd.Timestamp("2020-09-17"),  # 2020-09-17T18:05:00.000Z
        (results, 5): pd.Timestamp("2020-09-16"),  # 2020-09-16T13:30:00.1234567-05:00
        (results, 6): pd.Timestamp("2021-03-02"),  # 2021-03-02 10:15:00 +0000
        (results, 7): pd.Timestamp("2021-03-03"),  # 3/3/2021 10:15:00 AM CST
    }
    # same day, same SE: the later test is kept, by the time read past its Z or offset (read
    # as no time, the earlier line was kept)
    assert where(frames["duplicates"], "kept_source_line") == {(results, 2): 3, (results, 4): 5}
    assert frames["rejects"].empty


def test_a_time_in_the_date_cell_that_is_not_one_stops_ingest(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "timestamps", raw)
    results = raw / "AssessmentResults_2020-2021.csv"
    results.write_text(results.read_text().replace("T14:00:00Z", "T25:00:00Z"))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value).splitlines()[-1] == (
        f"{results}, line 2, column 'TestStartDate': expected a date like 9/15/2014, "
        "15-09-2014 or 2014-09-15, alone or with a time like 13:05:00, found "
        "'2020-09-17T25:00:00Z'"
    )
    assert not (tmp_path / "out").exists()


def test_a_file_of_mixed_encodings_is_one_line_and_never_silently_misread(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "mixed_encoding", raw)
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/AssessmentResults.csv, line 4: expected one text encoding for the whole file, "
        "but it holds UTF-8 text and this byte, which is not UTF-8; re-save it as CSV UTF-8 "
        "(in Excel: Save As, CSV UTF-8), found 'byte 0xF1 at byte offset 374'"
    )
    assert not (tmp_path / "out").exists()


def test_latin1_after_the_first_mib_reads_the_whole_file_as_latin1(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    results = raw / "AssessmentResults.csv"
    header, *rows = results.read_text().splitlines()
    rows += [rows[2].replace("S1002", f"S{9000 + i}") for i in range(20_000)]  # > 1 MiB
    body = "".join(f"{row}\n" for row in rows)
    peña = rows[0].replace("Lincoln Elementary", "Escuela Pe\u00f1a") + "\n"
    results.write_bytes(f"{header}\n{body}{peña}".encode("latin-1"))
    assert results.stat().st_size > io.SNIFF_BYTES
    out = run(raw, tmp_path / "out")
    schools = {s for n in OUTPUTS[:-1] for s in io.read_parquet(out[n]).get("school", [])}
    assert "Escuela Pe\u00f1a" in schools and "Escuela Pe\u00c3\u00b1a" not in schools
    assert io.read_json(out["summary"])["files"]["AssessmentResults.csv"]["encoding"] == "latin-1"
    # UTF-8 Peña on line 2, Latin-1 Peña after the first MiB: refused at the Latin-1 byte
    results.write_bytes(f"{header}\n{peña}{body}".encode() + peña.encode("latin-1"))
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "again")
    assert f"AssessmentResults.csv, line {len(rows) + 3}: expected one text encoding" in str(
        caught.value
    )


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["windows", "old_mac"])
def test_every_line_ending_excel_writes_reads_as_the_same_cohort(tmp_path, ending):
    """Excel writes CRLF (Windows) or a lone CR ("CSV (Macintosh)"): the same exports with
    either give the bytes they give with LF, and an encoding problem names its line."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "cohort", raw)
    for path in raw.rglob("*.*"):
        if path.suffix in (".csv", ".txt"):
            path.write_bytes(path.read_bytes().replace(b"\n", ending))
    expected, found = run(DATA / "cohort", tmp_path / "lf"), run(raw, tmp_path / "out")
    assert {n: found[n].read_bytes() for n in OUTPUTS} == {
        n: expected[n].read_bytes() for n in OUTPUTS
    }
    roster = raw / SPRING_ROSTER
    lines = roster.read_bytes().split(ending)
    lines[3] = lines[3].replace(b",", b",\x81", 1)  # a byte no Western encoding has
    roster.write_bytes(ending.join(lines))
    with pytest.raises(InputError, match=f"{SPRING_ROSTER}, line 4: expected UTF-8 or Windows"):
        run(raw, tmp_path / "again")


def test_a_test_dated_outside_its_term_is_rejected_with_its_dates(tmp_path):
    """A spring test dated in the summer before the fall tests (a typo, or a mislabelled term)
    would pair into a growth window of negative length: rejected, and accounted for."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "cohort", raw)
    spring = raw / SPRING
    lines = spring.read_text(encoding="utf-8-sig").splitlines()
    assert "\t5/12/2015\t" in lines[1]
    lines[1] = lines[1].replace("\t5/12/2015\t", "\t8/12/2014\t")
    spring.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    frames, summary = ingested(raw, tmp_path / "out")
    rejected = frames["rejects"].set_index(["source_file", "source_line"])
    assert rejected.loc[(SPRING, 2), ["reason", "column", "detail"]].tolist() == [
        "date_outside_term",
        "TestStartDate",
        "2014-08-12, outside Spring 2014-2015's 2015-02-01 to 2015-08-31",
    ]
    assert summary["rejects_by_reason"]["test"]["date_outside_term"] == 1


def test_gender_spelt_out_is_nweas_m_and_f(tmp_path):
    """A roster writing Male and " female " gives the bytes of one writing M and F, so its
    students share a gender stratum with other files' (matching is exact on gender)."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    roster = raw / "StudentsBySchool.csv"
    spelt = roster.read_text().replace(",M,", ",Male,").replace(",F,", ", female ,")
    assert spelt != roster.read_text()
    roster.write_text(spelt)
    expected, found = run(DATA / "minimal", tmp_path / "codes"), run(raw, tmp_path / "out")
    assert {n: found[n].read_bytes() for n in OUTPUTS} == {
        n: expected[n].read_bytes() for n in OUTPUTS
    }
    assert set(io.read_parquet(found["scores"])["gender"]) == {"M", "F"}


def test_a_spreadsheets_csv_where_the_comma_is_the_decimal_mark_reads_as_the_original(tmp_path):
    """The minimal folder as a European-set Excel saves it: semicolons, decimal commas (3,2;
    45,5 in schools.csv), dates day first with dots, Windows-1252 and CRLF: the outputs are
    the original's, byte for byte; the summary says how each file was delimited."""
    expected = run(DATA / "minimal", tmp_path / "comma")
    found = run(QUIRKS / "european", tmp_path / "out")
    tables = OUTPUTS[:-1]
    assert {n: found[n].read_bytes() for n in tables} == {
        n: expected[n].read_bytes() for n in tables
    }
    files = io.read_json(found["summary"])["files"]
    assert {f["delimiter"] for f in files.values()} == {"semicolon"}
    # a pipe-delimited export (some student information systems') reads the same way
    raw = tmp_path / "raw"
    shutil.copytree(QUIRKS / "european", raw)
    for path in raw.glob("*.csv"):
        path.write_bytes(path.read_bytes().replace(b";", b"|"))
    piped = run(raw, tmp_path / "piped")
    assert io.read_parquet(piped["scores"]).equals(io.read_parquet(expected["scores"]))


def test_a_workbook_is_listed_as_unread_with_how_to_export_csv(tmp_path, caplog):
    frames, summary = ingested(QUIRKS / "workbook", tmp_path / "out")
    how = (
        "a spreadsheet workbook, which ingest does not read: open it in Excel, Save As "
        "'CSV UTF-8 (Comma delimited) (*.csv)' into this folder, then move the workbook out"
    )
    assert summary["unread_files"] == {"AssessmentResults_Spring2015.xlsx": how}
    assert summary["ignored_files"] == {}
    assert len(frames["scores"]) == 3
    assert f"AssessmentResults_Spring2015.xlsx not read: {how}" in caplog.text


def zipped_terms(raw: Path) -> dict[str, str]:
    """Each term's folder of the hand-made cohort replaced by a zip of its files, as NWEA's
    data export delivers a term (the files at its top, a Mac's ._ copies in __MACOSX/):
    the name each file had -> its name now."""
    renamed = {}
    for folder in sorted(p for p in (raw / "2014-2015").iterdir() if p.is_dir()):
        with zipfile.ZipFile(folder.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, path.name)
                archive.writestr(f"__MACOSX/._{path.name}", b"\x00\x05\x16\x07")
                old = path.relative_to(raw).as_posix()
                renamed[old] = old.replace(f"/{folder.name}/", f"/{folder.name}.zip/")
        shutil.rmtree(folder)
    return renamed


def test_nweas_zipped_exports_read_as_the_files_they_hold(tmp_path):
    """The hand-made cohort with each term zipped reads as the folder did, row for row, its
    rows named "<archive>/<file>"; nothing is extracted into the cohort folder."""
    expected = run(DATA / "cohort", tmp_path / "folders")
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "cohort", raw)
    renamed = zipped_terms(raw)
    before = tree(raw)
    found = run(raw, tmp_path / "out")
    assert tree(raw) == before

    def named_anew(text):  # a file's name, or a reject's detail naming a roster row's file
        for old, new in renamed.items():
            text = text.replace(old, new) if isinstance(text, str) else text
        return text

    for name in OUTPUTS[:-1]:
        frame = io.read_parquet(expected[name])
        for column in {"source_file", "kept_source_file", "detail"} & set(frame):
            frame[column] = frame[column].map(named_anew).astype(frame[column].dtype)
        pd.testing.assert_frame_equal(io.read_parquet(found[name]), frame, check_categorical=False)
    summary, was = io.read_json(found["summary"]), io.read_json(expected["summary"])
    assert summary["files"] == {named_anew(n): entry for n, entry in was["files"].items()}
    macosx = {
        f"2014-2015/{term}.zip/__MACOSX/._{n.rsplit('/', 1)[1]}": "hidden file"
        for n in renamed
        for term in [n.split("/")[1]]
    }
    assert summary["ignored_files"] == {
        **{named_anew(n): why for n, why in was["ignored_files"].items()},
        **macosx,
    }


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


def damaged(path: Path, case: str) -> None:
    """Spoil the zip archive at ``path`` (one file, stored) as ``case`` says."""
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")  # its file's entry in the central directory
    if case == "cut short":  # a download cut off: the central directory is lost
        data = data[: len(data) // 2]
    elif case == "bad checksum":  # a byte of the file's data changed
        data[30 + int.from_bytes(data[26:28], "little") + 10] ^= 0xFF
    elif case == "password":  # the flag of an encrypted file, in both headers
        data[6] |= 1
        data[central + 8] |= 1
    elif case == "newer":  # a later version of the format, as its directory says
        data[central + 6] = 99
    elif case == "deflate64":  # the method Windows uses for large files, in both headers
        data[8:10] = data[central + 10 : central + 12] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("case", "where", "message"),
    [
        (
            "cut short",
            "Fall.zip",
            "expected a zip archive, neither damaged nor cut short: copy or download it again, "
            "found 'not a readable zip archive'",
        ),
        (
            "bad checksum",
            "Fall.zip/AssessmentResults.csv",
            "expected a zip archive, neither damaged nor cut short: copy or download it again, "
            "found 'damaged data'",
        ),
        (
            "password",
            "Fall.zip/AssessmentResults.csv",
            "expected a file without a password; extract it into this folder with another "
            "tool, then move 'Fall.zip' out, found 'password-protected'",
        ),
        (
            "a name twice",
            "Fall.zip/CDF/AssessmentResults.csv",
            "expected each name once in an archive (which of two files is meant is not for "
            "ingest to guess), found 'a second file of this name'",
        ),
        (
            "newer",
            "Fall.zip",
            "expected a zip archive Python's zipfile opens; extract it into this folder with "
            "another tool, then move 'Fall.zip' out, found 'a newer kind'",
        ),
        (
            "deflate64",
            "Fall.zip/AssessmentResults.csv",
            "expected a file compressed in a way Python's zipfile reads; extract it into this "
            "folder with another tool, then move 'Fall.zip' out, found 'compression method 9'",
        ),
    ],
)
def test_an_archive_that_cannot_be_read_is_one_line_and_writes_nothing(
    tmp_path, case, where, message
):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    with zipfile.ZipFile(raw / "Fall.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.write(raw / "AssessmentResults.csv", "AssessmentResults.csv")
        if case == "a name twice":  # written by Windows and by another system
            for name in ("CDF\\AssessmentResults.csv", "CDF/AssessmentResults.csv"):
                archive.write(raw / "AssessmentResults.csv", name)
    (raw / "AssessmentResults.csv").unlink()
    damaged(raw / "Fall.zip", case)
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == f"{raw}/{where}: {message}"
    assert not (tmp_path / "out").exists()


def test_names_in_an_archive_never_reach_outside_it(tmp_path):
    """A file in a zip named ../../AssessmentResults.csv (or /etc/...) is extracted under a
    number in a temporary folder, never at its name; it is read under its name in the zip."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    with zipfile.ZipFile(raw / "Fall.zip", "w") as archive:
        archive.writestr(
            "../../AssessmentResults.csv", (raw / "AssessmentResults.csv").read_bytes()
        )
        archive.writestr("/etc/StudentsBySchool.csv", (raw / "StudentsBySchool.csv").read_bytes())
    for name in ("AssessmentResults.csv", "StudentsBySchool.csv"):
        (raw / name).unlink()
    before = tree(tmp_path)
    frames, summary = ingested(raw, tmp_path / "out")
    assert {n for n in tree(tmp_path) if not n.startswith("out/")} == set(before)
    assert set(summary["files"]) == {
        "Fall.zip/../../AssessmentResults.csv",
        "Fall.zip/etc/StudentsBySchool.csv",
        "schools.csv",
    }
    assert len(frames["scores"]) == 3


@pytest.mark.parametrize(
    "hostile",
    ["A" * 10_000, "<script>alert(1)</script>", "\x1b[31mred\x1b[0m\x07", "3.2\nrm -rf /"],
)
def test_messages_show_a_short_escaped_excerpt_of_a_bad_cell(tmp_path, hostile):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    results = raw / "AssessmentResults.csv"
    lines = results.read_text().splitlines()
    cells = lines[2].split(",")
    cells[9] = '"' + hostile + '"'  # TestStandardError
    lines[2] = ",".join(cells)
    results.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    text = str(caught.value)
    found = text.split(", found ")[1]  # 40 characters at most, each escaped to 4 at most
    assert text.count("\n") == 0 and len(found) <= 2 + 4 * 40 + len("... (10,000 characters)")
    assert "\x1b" not in text and "\x07" not in text and "<script>" not in text
    expected = "line 3, column 'TestStandardError': expected a number (or empty), found "
    assert expected + quoted(hostile) in text


def test_a_hostile_header_is_shown_short_and_escaped(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(DATA / "minimal", raw)
    (raw / "gradebook.csv").write_text("<b>" + "x" * 10_000 + "\x1b[2J,Score\n1,2\n")
    with pytest.raises(InputError) as caught:
        run(raw, tmp_path / "out")
    assert str(caught.value) == (
        f"{raw}/gradebook.csv, line 1: expected an NWEA export (AssessmentResults, "
        "StudentsBySchool, ComboStudentAssessment) or schools.csv; the header matches none of "
        "them, found '\\x3cb\\x3exxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (10,014 characters)"
    )
