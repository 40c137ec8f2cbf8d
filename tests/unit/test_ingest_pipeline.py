"""The pure ingest steps: inputs left untouched, lost rows caught, folder-level problems."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pl_eval import io
from pl_eval.errors import ConfigError
from pl_eval.ingest import layouts, pipeline

MINIMAL = Path(__file__).parents[1] / "data" / "ingest" / "minimal"
KEY = "test-key-16chars"


def survey(folder: Path) -> pipeline.Inventory:
    aliases = layouts.alias_table({})
    exports = [
        layouts.recognise(io.sniff_raw_file(path, name), aliases)
        for path, name in io.list_raw_files(folder)
    ]
    return pipeline.Inventory(tuple(exports), ())


def test_build_does_not_modify_the_raw_frames():
    inventory = survey(MINIMAL)
    raw = pipeline.RawInputs(
        **{
            part: io.read_raw_exports([e.request() for e in inventory.of_kind(*kinds)])
            for part, kinds in pipeline.PARTS.items()
        }
    )
    before = {part: getattr(raw, part).frame.copy() for part in pipeline.PARTS}
    result = pipeline.build(raw, inventory, pipeline.IngestSettings.from_dict({}), KEY)
    assert len(result.scores) == 3
    for part, frame in before.items():
        assert getattr(raw, part).frame.equals(frame)


def test_lost_rows_are_a_bug_not_an_input_problem():
    entry = {"rows_read": 3, "kept": 1, "duplicates": 1, "rejected": 0}
    with pytest.raises(RuntimeError, match="ingest lost rows in a.csv"):
        pipeline._check_adds_up("a.csv", entry, pipeline.TEST_STATUSES)


def test_folder_problems_are_silenced_by_files_already_reported():
    empty = pipeline.Inventory((), ())
    assert [p.file for p in empty.problems()] == ["schools.csv", ""]
    unreadable = pipeline.Inventory((), (), ("AssessmentResults.csv", "schools.csv"))
    assert unreadable.problems() == []
    results_only = survey(MINIMAL)
    results_only = pipeline.Inventory(
        tuple(e for e in results_only.exports if e.kind != layouts.ROSTER), ()
    )
    assert "StudentsBySchool" in results_only.problems()[0].expected


def test_district_and_end_of_course_settings():
    default = pipeline.IngestSettings.from_dict({})
    assert (default.district_name, default.end_of_course) == (None, "reject")
    chosen = pipeline.IngestSettings.from_dict(
        {"district_name": " Riverside USD ", "end_of_course": "keep"}
    )
    assert (chosen.district_name, chosen.end_of_course) == ("Riverside USD", "keep")
    with pytest.raises(ConfigError, match="ingest.end_of_course must be one of reject, keep"):
        pipeline.IngestSettings.from_dict({"end_of_course": "drop"})
    with pytest.raises(ConfigError, match="ingest.district_name must be the district's name"):
        pipeline.IngestSettings.from_dict({"district_name": " "})


def test_codes_of_chunks_with_their_own_dictionaries_are_unified():
    # an Arrow file from pandas shares one dictionary across batches; other tables may not
    column = pa.chunked_array(
        [pa.array(["b", None, "a"]).dictionary_encode(), pa.array(["c", "a"]).dictionary_encode()]
    )
    codes, dictionary = pipeline._codes(column)
    assert dictionary.to_pylist() == ["b", "a", "c"]
    assert codes.tolist() == [0, -1, 1, 2, 1]


def _text(values):
    return pd.Series(values, dtype="category").cat.rename_categories(str)


def test_grade_codes_that_are_no_grade_are_noted_from_the_row_or_its_roster_row():
    # rows: own code '99' (combined file), joined to a roster 'PK', joined to a roster row
    # with no code, own grade 5, and a row with no grade, no code and no roster row
    tests = pd.DataFrame(
        {
            "grade": pd.array([None, None, None, 5, None], dtype="Int64"),
            "grade_code": _text(["99", None, None, "5", None]),
            "combined": [True, False, False, True, False],
            "gender": _text(["F", None, None, "M", None]),
            "ethnicity": _text(["A", None, None, "B", None]),
        }
    )
    roster = pd.DataFrame(
        {
            "grade": pd.array([None, None], dtype="Int64"),
            "grade_code": _text(["PK", None]),
            "gender": _text(["M", "F"]),
            "ethnicity": _text(["C", "D"]),
            "source_file": _text(["r.csv", "r.csv"]),
            "source_line": [2, 3],
        }
    )
    match = np.array([-1, 0, 1, -1, -1])
    out = pipeline._with_roster(tests, roster, match)
    assert out["grade_unknown"].tolist() == [True, True, False, False, False]
    not_a_grade = (
        "is not a grade (K, KG, 0, 13 or K5 for kindergarten, 1-12, or written out as Grade 3 "
        "or 3rd)"
    )
    assert out["grade_note"].fillna("-").tolist() == [
        f"'99' {not_a_grade}",
        f"StudentsBySchool row at r.csv line 2: 'PK' {not_a_grade}",
        "StudentsBySchool row at r.csv line 3 has no grade",
        "-",
        "-",
    ]
    assert out["gender"].tolist()[:3] == ["F", "M", "F"]
    alone = pipeline._with_roster(tests, roster.iloc[:0], np.full(5, -1))  # no roster files
    assert alone["grade_unknown"].tolist() == [True, False, False, False, False]
    assert alone["grade_note"].tolist()[0] == f"'99' {not_a_grade}"
