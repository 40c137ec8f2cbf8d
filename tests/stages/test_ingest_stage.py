"""The ingest stage on hand-made cohort folders: known outcomes for every row, counts that add
up, no personal data in any output, byte-identical reruns, one-line errors and no partial
outputs for bad input."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.errors import InputError

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
            "non_numeric",
            [
                "AssessmentResults.csv, line 2, column 'TestRITScore': expected a number",
                "AssessmentResults.csv, line 3, column 'TestStandardError': expected a "
                "number (or empty), found '3;3'",
            ],
        ),
        (
            "short_row",
            ["AssessmentResults.csv, line 3: expected 11 fields like the header, found '9 fields'"],
        ),
        (
            "binary",
            ["AssessmentResults.csv: expected a delimited text export, found 'binary data'"],
        ),
        ("unrecognised", ["gradebook.csv, line 1: expected an NWEA export"]),
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
