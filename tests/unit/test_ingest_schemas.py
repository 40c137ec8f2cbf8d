"""Raw-text contracts turned into located problems, and the typed school frame."""

import pandas as pd

from pl_eval.ingest import schemas
from pl_eval.ingest.schools import school_frame


def raw(columns: dict, file="a.csv") -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({k: pd.Series(v, dtype="category") for k, v in columns.items()})
    return frame.assign(source_file=pd.Categorical([file] * n), source_line=range(2, n + 2))


def test_problems_name_file_line_and_the_column_as_written():
    frame = raw(
        {
            "TermName": ["Fall 2014-2015", "Autumn 2014"],
            "TestRITScore": ["200", "abc"],
            "TestStandardError": ["", "3.1"],
        }
    )
    problems = schemas.problems(frame, schemas.RAW_TESTS, {"a.csv": {"TestRITScore": "RIT"}})
    assert [(p.file, p.line, p.column, p.found) for p in problems] == [
        ("a.csv", 3, "RIT", "abc"),
        ("a.csv", 3, "TermName", "Autumn 2014"),
    ]
    assert problems[0].expected == schemas.EXPECT_NUMBER


def test_many_failures_of_one_kind_are_summarised():
    frame = raw({"TestStartDate": ["someday"] * (schemas.MAX_PER_CHECK + 5)})
    problems = schemas.problems(frame, schemas.RAW_TESTS, {})
    assert len(problems) == schemas.MAX_PER_CHECK + 1
    assert problems[-1].line is None and "5 more rows" in problems[-1].expected


def test_absent_optional_columns_pass_but_blank_required_values_fail():
    frame = raw({"StudentID": ["S1", " "], "Grade": [None, None]})
    problems = schemas.problems(frame, schemas.RAW_TESTS, {})
    assert [(p.line, p.column) for p in problems] == [(3, "StudentID")]


def test_missing_value_markers_pass_where_blanks_do_and_fail_where_a_value_is_required():
    frame = raw(
        {
            "StudentID": ["S1", "NULL"],
            "TestRITScore": ["#N/A", "200"],
            "TestPercentile": ["NA", "50"],
            "TestStartDate": ["9/8/2014", "null"],
        }
    )
    problems = schemas.problems(frame, schemas.RAW_TESTS, {})
    assert [(p.line, p.column, p.found) for p in problems] == [
        (3, "StudentID", "NULL"),
        (3, "TestStartDate", "null"),
    ]
    assert problems[0].expected == schemas.EXPECT_VALUE


def test_percentages_out_of_range_say_the_columns_are_misread():
    # TestPercentile is 1-99 and RapidGuessingPercentage 0-100; 150 is another column's value
    frame = raw(
        {"TestPercentile": ["0", "99", "150"], "RapidGuessingPercentage": ["-1", "0", "100"]}
    )
    problems = schemas.problems(frame, schemas.RAW_TESTS, {})
    assert [(p.line, p.column, p.found, p.expected) for p in problems] == [
        (2, "RapidGuessingPercentage", "-1", schemas.EXPECT_PERCENT),
        (4, "TestPercentile", "150", schemas.EXPECT_PERCENT),
    ]


def test_school_frame_types_and_locale_groups():
    frame = raw(
        {
            "district_name": ["B", "A", "A"],
            "school_name": [" x ", "y", "z"],
            "nces_id": ["62271003228", "", "010000500870"],
            "sector": ["Charter", "district", "DISTRICT"],
            "pl_start_year": ["2013-2014", "", ""],  # the school year it began, as in 2013
            "frl_pct": ["45.5%", "", "100"],
            "locale": ["11", "23", "43"],
        },
        file="schools.csv",
    )
    assert schemas.problems(frame, schemas.RAW_SCHOOLS, {}) == []
    out = school_frame(frame)
    assert out["school_name"].tolist() == ["y", "z", "x"]  # sorted by district, school
    assert out["nces_id"].tolist()[1:] == ["010000500870", "062271003228"]
    assert pd.isna(out["nces_id"].iloc[0])
    assert out["sector"].tolist() == ["district", "district", "charter"]
    assert out["pl_start_year"].tolist() == [pd.NA, pd.NA, 2013]
    assert out["locale_group"].tolist() == ["suburb", "rural", "city"]
    assert out["frl_pct"].fillna(-1).tolist() == [-1, 100.0, 45.5]


def test_school_frame_problems():
    frame = raw(
        {
            "district_name": ["A", "A", "A"],
            "school_name": ["x", "x", "y"],
            "sector": ["charter", "charter", "magnet"],
            "pl_start_year": ["2013", "soon", ""],
            "frl_pct": ["-1", "50", "50"],
            "locale": ["11", "14", "11"],
            "nces_id": ["", "", "123"],
        },
        file="schools.csv",
    )
    problems = schemas.problems(frame, schemas.RAW_SCHOOLS, {})
    assert [(p.line, p.column) for p in problems] == [
        (2, "frl_pct"),
        (3, "locale"),
        (3, "pl_start_year"),
        (3, "school_name"),
        (4, "nces_id"),
        (4, "sector"),
    ]
    assert next(p for p in problems if p.column == "school_name").expected == schemas.EXPECT_UNIQUE
