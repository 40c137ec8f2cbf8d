"""Reject reasons: thresholds are inclusive ranges, missing values pass, first reason wins."""

import numpy as np
import pandas as pd
import pytest

from pl_eval.errors import ConfigError
from pl_eval.ingest.screens import REASONS, ScreenSettings, verdicts


def typed_tests(**overrides):
    n = len(next(iter(overrides.values())))
    base = {
        "subject": pd.Series(["math"] * n, dtype="category"),
        "subject_text": pd.Series(["Mathematics"] * n, dtype="category"),
        "subject_column": np.full(n, "MeasurementScale", dtype=object),
        "end_of_course": np.zeros(n, dtype=bool),
        "district": pd.Series(["Riverside USD"] * n, dtype="category"),
        "rit": np.full(n, 200.0),
        "se": np.full(n, 3.0),
        "duration_minutes": np.full(n, 40.0),
        "rapid_guessing_pct": np.full(n, 0.0),
        "has_roster": np.ones(n, dtype=bool),
        "grade": pd.array([3] * n, dtype="Int64"),
        "grade_unknown": np.zeros(n, dtype=bool),
        "grade_note": pd.Series([pd.NA] * n, dtype="str"),
        "test_date": pd.Series(pd.to_datetime(["2014-09-15"] * n), dtype="datetime64[ms]"),
        "season": pd.Series(["fall"] * n, dtype="category"),
        "school_year": pd.Series(["2014-2015"] * n, dtype="category"),
        "term_name": pd.Series(["Fall 2014-2015"] * n, dtype="category"),
    }
    return pd.DataFrame(base | overrides)


def reasons(frame, settings=None):
    reason = verdicts(frame, settings or ScreenSettings()).reason
    return reason.cat.add_categories("ok").fillna("ok").astype("str").tolist()


def test_boundaries_are_inclusive_and_missing_values_pass():
    frame = typed_tests(
        rit=[100, 320, 99.9, 320.5, 200, 200, 200, 200, 200, 200],
        se=[1.5, 5.5, 3, 3, 1.4, 3, 3, 3, 3, 3],
        duration_minutes=[6, np.nan, 40, 40, 40, 5.9, 40, 40, 40, 40],
        rapid_guessing_pct=[29.9, np.nan, 0, 0, 0, 0, 30, 0, 0, 0],
        has_roster=[True] * 8 + [False, True],
        grade=pd.array([3] * 9 + [None], dtype="Int64"),
    )
    assert reasons(frame) == [
        "ok",
        "ok",
        "rit_out_of_range",
        "rit_out_of_range",
        "se_out_of_range",
        "short_duration",
        "rapid_guessing",
        "ok",
        "no_roster_row",
        "missing_grade",
    ]


def test_first_reason_wins_and_details_name_the_value():
    frame = typed_tests(
        subject=pd.Series([None, "math", "math", "reading"], dtype="category"),
        subject_text=pd.Series(
            ["Language Usage", "Mathematics", "Mathematics", "Reading"], dtype="category"
        ),
        rit=[95.0, np.nan, 95.0, 200.0],
        se=[9.0, 3.0, 9.0, 3.0],
        duration_minutes=[1.0, 1.0, 4.0, 2.5],
    )
    got = verdicts(frame, ScreenSettings())
    assert got.reason.astype("str").tolist() == [
        "subject_not_analysed",
        "missing_score",
        "rit_out_of_range",
        "short_duration",
    ]
    assert got.rejected.tolist() == [0, 1, 2, 3]
    assert got.column.tolist() == [
        "MeasurementScale",
        "TestRITScore",
        "TestRITScore",
        "TestDurationMinutes",
    ]
    assert got.detail.tolist() == [
        "Language Usage",
        "empty",
        "95 outside 100-320",
        "2.5 minutes, below 6",
    ]
    assert list(got.reason.cat.categories) == list(REASONS)


def test_a_date_outside_its_terms_dates_is_rejected_at_either_bound():
    """Fall: 1 July to 31 January; winter: 1 November to 30 April; spring: 1 February to 31
    August, of the term's school year; summer terms are not checked."""
    cases = [  # (season, date, reason)
        ("fall", "2014-07-01", "ok"),
        ("fall", "2014-06-30", "date_outside_term"),  # a school year early
        ("fall", "2015-01-31", "ok"),
        ("fall", "2015-02-01", "date_outside_term"),
        ("winter", "2014-10-31", "date_outside_term"),
        ("winter", "2015-04-30", "ok"),
        ("spring", "2014-08-12", "date_outside_term"),  # before the fall tests
        ("spring", "2015-02-01", "ok"),
        ("spring", "2015-09-01", "date_outside_term"),
        ("summer", "2013-01-01", "ok"),
    ]
    seasons, dates, expected = zip(*cases, strict=True)
    frame = typed_tests(
        season=pd.Series(seasons, dtype="category"),
        test_date=pd.Series(pd.to_datetime(dates), dtype="datetime64[ms]"),
        term_name=pd.Series([f"{s.title()} 2014-2015" for s in seasons], dtype="category"),
        rit=[200.0] * 9 + [95.0],  # the summer test: not date-checked, other screens apply
    )
    assert reasons(frame) == [*expected[:-1], "rit_out_of_range"]
    got = verdicts(frame, ScreenSettings())
    assert got.column.tolist()[:2] == ["TestStartDate"] * 2
    assert got.detail.tolist()[:2] == [
        "2014-06-30, outside Fall 2014-2015's 2014-07-01 to 2015-01-31",
        "2015-02-01, outside Fall 2014-2015's 2014-07-01 to 2015-01-31",
    ]


def test_configured_thresholds_apply():
    frame = typed_tests(duration_minutes=[7.0, 9.0], rapid_guessing_pct=[10.0, 0.0])
    strict = ScreenSettings.from_dict({"min_duration_minutes": 8, "max_rapid_guessing_pct": 10})
    assert reasons(frame, strict) == ["short_duration", "ok"]
    assert strict.rit_range == (100, 320)  # unspecified keys keep their defaults


@pytest.mark.parametrize(
    "bad", [{"rit_range": [320, 100]}, {"se_range": "wide"}, {"min_duration_minutes": "six"}]
)
def test_malformed_screens_are_config_errors(bad):
    with pytest.raises(ConfigError, match="ingest.screens"):
        ScreenSettings.from_dict(bad)
