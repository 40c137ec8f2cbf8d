"""Parsers for NWEA values: known answers for every accepted form and for what is refused."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pl_eval.ingest import parse


def run(parser, *values):
    return parse.per_distinct(parser, *(pd.Series(v, dtype="category") for v in values))


def test_terms_long_and_short_forms():
    out = run(
        parse.terms,
        [
            "Fall 2014-2015",
            "spring 2015",
            "Fall 2013",
            " Winter  2014-2015 ",
            "Summer 2015",
            "Fall2014-2015",  # no space: a report tool's concatenation
            "Spring 2014-15",  # a district system's
            "Fall 2099-00",
        ],
    )
    assert out["term_name"].tolist() == [
        "Fall 2014-2015",
        "Spring 2014-2015",
        "Fall 2013-2014",
        "Winter 2014-2015",
        "Summer 2014-2015",
        "Fall 2014-2015",
        "Spring 2014-2015",
        "Fall 2099-2100",
    ]
    assert out["season"].tolist() == [
        "fall", "spring", "fall", "winter", "summer", "fall", "spring", "fall"
    ]  # fmt: skip
    assert out["school_year"].tolist() == [
        "2014-2015",
        "2014-2015",
        "2013-2014",
        "2014-2015",
        "2014-2015",
        "2014-2015",
        "2014-2015",
        "2099-2100",
    ]


def test_percentages_with_or_without_a_percent_sign():
    values = ["45.5", "45.5%", " 45.5 % ", "0", "100%", "101", "-1", "%", "NULL"]
    out = run(parse.percentages, values).tolist()
    assert out[:5] == [45.5, 45.5, 45.5, 0.0, 100.0]
    assert np.isnan(out[5:]).all()


def test_locales_as_nces_codes_with_or_without_their_names():
    """The Common Core of Data's directory writes ULOCALE as "11-City: Large"; a frame may
    hold the name alone."""
    values = ["11", "11.0", " 21 ", "11-City: Large", "43 - Rural: Remote", "City: Large",
              "suburb-midsize", "Town: Remote", "RURAL, DISTANT", "32-Town: Distant"]  # fmt: skip
    assert run(parse.locales, values).tolist() == [11, 11, 21, 11, 43, 11, 22, 33, 42, 32]
    refused = ["10", "14", "City", "99-x", "", "NULL", "11-", "11x", "1,1", "-1", "Urban"]
    assert run(parse.locales, refused).isna().all()


def test_start_years_as_a_year_a_decimal_or_the_school_year_begun():
    values = ["2014", "2014.0", "2014-2015", "2014-15", " 2014 - 2015 ", "SY2014-15",
              "SY 2014-2015", "sy2014", "Fall 2014", "FALL 2014-15", "Fall2014-2015"]  # fmt: skip
    assert run(parse.start_years, values).tolist() == [2014] * 11
    refused = ["2014-2016", "2014-16", "14", "2014.5", "2014/15", "soon", "", "Spring 2015",
               "SY", "Fall", "SY 14-15", "FY2014", "Fall 2014.0x"]  # fmt: skip
    assert run(parse.start_years, refused).isna().all()


@pytest.mark.parametrize(
    "bad",
    ["Autumn 2014-2015", "Fall 2014-2016", "Fall 2014-16", "Fall 2014-5", "Fall 2014-0015",
     "Fall 14-15", "Fall 2014/2015", "", "2014"],
)  # fmt: skip
def test_terms_refused(bad):
    assert run(parse.terms, [bad])["term_name"].isna().all()


def test_dates_every_form_and_invalid_days():
    out = run(
        parse.date_times,
        [
            "9/5/2014",
            "09/05/2014",
            "22-10-2020",
            "2014-09-15",
            "2014/9/15",  # a data warehouse's
            "15-Sep-14",  # Excel's d-mmm-yy display
            "5-OCT-2014",  # Oracle's DD-MON-YY(YY)
            "15.09.2014",  # a European spreadsheet's, day first
            "1.10.2014",
            "2/30/2014",
            "13/45/2014",
            "2014/13/01",
            "31-Feb-14",
            "15-Sept-14",
            "9.15.2014",
            "15.09.14",  # Excel's dotted time, not a date
            "15 Sep 2014",
            "",
        ],
    )["date"]
    valid = ["2014-09-05", "2014-09-05", "2020-10-22", "2014-09-15", "2014-09-15", "2014-09-15"]
    expected = pd.to_datetime(valid + ["2014-10-05", "2014-09-15", "2014-10-01"])
    assert out.iloc[:9].tolist() == expected.tolist()
    assert out.iloc[9:].isna().all()
    assert out.dtype == "datetime64[ms]"


def test_times_24h_12h_and_excel_dots():
    out = run(
        parse.times,
        [
            "13:05:00",
            "9:00:00 AM",
            "12:30:00 PM",
            "12:10:00 AM",
            "9.38.55",
            "1:05",
            "25:00:00",
            "13:00:00 PM",
            "",
        ],
    )
    assert out.iloc[:6].tolist() == [47100, 32400, 45000, 600, 34735, 3900]
    assert out.iloc[6:].isna().all()


def test_times_read_past_a_zone_or_utc_offset():
    # ISO 8601 timestamps of data warehouses and APIs end in Z or an offset: the clock as written
    out = run(
        parse.times,
        ["13:05:00Z", "13:05:00.123-05:00", "13:05:00+0000", "1:05:00 PM CST", "13:05 UTC",
         "13:05:00GMT+5", "1:05 PM CEST", "1:05:00 PM Central", "13:05:00+5", "13:05:00ZZ",
         "1:05 PMT", "1:05 AMST"],
    )  # fmt: skip
    assert out.iloc[:7].tolist() == [47100] * 7
    # no zone: a word, a bare one-digit offset, ZZ, or capitals opening with PM or AM (PMT: a
    # zone, or PM and a stray T?)
    assert out.iloc[7:].isna().all()
    dates = run(
        parse.date_times,
        ["2013-09-16T13:05:00Z", "2013-09-16 13:05:00.000 -05:00", "9/16/2013 1:05 PM CDT",
         "2013-09-16T13:05:00 Central", "2013-09-16T25:05:00Z"],
    )  # fmt: skip
    assert dates["time"].iloc[:3].tolist() == [47100] * 3
    assert dates["date"].iloc[:3].tolist() == [pd.Timestamp("2013-09-16")] * 3
    assert dates.iloc[3:].isna().all(axis=None)  # the time does not read: nor does the cell


def test_numbers_flags_grades_norms():
    assert run(parse.numbers, ["0", "0.0000", "2.381", " 215 ", "inf", "abc", ""]).iloc[
        :4
    ].tolist() == [0.0, 0.0, 2.381, 215.0]
    assert run(parse.numbers, ["inf", "abc", ""]).isna().all()
    # a decimal comma, as a spreadsheet set for Europe writes numbers: never a thousands
    # separator (no number read comes near 1,000), so 2,381 is 2.381
    assert run(parse.numbers, ["3,2", " 2,381 ", "-0,5", "215,0"]).tolist() == [
        3.2,
        2.381,
        -0.5,
        215.0,
    ]
    assert run(parse.numbers, ["1,234,5", ",5", "3,", "3,2.1", "3.2,1"]).isna().all()
    assert run(parse.percentages, ["45,5 %"]).tolist() == [45.5]
    assert run(parse.flags, ["TRUE", "false", "Y", "no", "maybe", ""]).tolist() == [
        True,
        False,
        True,
        False,
        pd.NA,
        pd.NA,
    ]
    grades = ["K", "kg", "1", " 12 ", "13", "0", "Kindergarten", "K5", "5k"]
    grades += ["1.5", "PK", "K4", "4K", "14", ""]
    assert run(parse.grades, grades).tolist() == [0, 0, 1, 12, 0, 0, 0, 0, 0] + [pd.NA] * 6
    assert run(parse.norms_years, ["2015", "2020.0", ""]).tolist() == [2015, pd.NA, pd.NA]


def test_grades_written_out_as_a_district_roster_writes_them():
    written = {
        "Grade 3": 3, "GRADE 03": 3, "Gr. 3": 3, "gr 12": 12, "Grade K": 0, "Gr.K": 0,
        "1st": 1, "2nd": 2, "3rd": 3, "11th": 11, "3rd Grade": 3, "4th grade": 4,
        "K Grade": 0, "Kindergarten Grade": 0, "Grade 0": 0,
    }  # fmt: skip
    assert run(parse.grades, list(written)).tolist() == list(written.values())
    # 13 is kindergarten only as older exports write it, bare; no code, no grade
    nothing = ["Grade 13", "13th", "Grade", "Gr.", "3rd.", "Grade PK", "Pre-K", "Grade 3 4"]
    assert run(parse.grades, nothing).isna().all()


def test_subjects_from_scale_and_from_course():
    scale = run(
        parse.subject_from_scale,
        ["Mathematics", "reading", "Language Usage", "Science - General Science"],
    )
    assert scale.tolist()[:2] == ["math", "reading"] and scale.iloc[2:].isna().all()
    course = run(
        parse.subject_from_course,
        [
            "Mathematics",
            "Language Arts",
            "Language Arts",
            "Mathematics",
            "Mathematics",
            "Language Arts",
            "Science",
        ],
        [
            "Math K-12",
            "Reading",
            "Language Usage",
            "Algebra 1",
            "Math 6+",
            "Reading (Spanish)",
            "Science K-12",
        ],
    )
    assert course.tolist()[:2] == ["math", "reading"] and course.iloc[4] == "math"
    assert course.iloc[[2, 3, 5, 6]].isna().all()
    # math by its short name, as a warehouse's re-export writes it; not by any name with it
    short = run(parse.subject_from_scale, ["Math", " MATHS ", "Math K", "Mathematics - Spanish"])
    assert short.tolist()[:2] == ["math", "math"] and short.iloc[2:].isna().all()
    course = run(
        parse.subject_from_course, ["Math", "Math", "Maths"], ["", "Math K-12", "Maths 6+"]
    )
    assert course.tolist() == ["math", "math", "math"]


def test_per_distinct_parses_each_value_once_and_keeps_missing():
    calls = []

    def spy(text):
        calls.append(len(text))
        return parse.numbers(text)

    values = pd.Series(["1", "2", "1", None, "2", "1"], dtype="category")
    out = parse.per_distinct(spy, values)
    assert calls == [3]  # "1", "2" and missing
    assert out.tolist()[:3] == [1.0, 2.0, 1.0] and np.isnan(out.iloc[3])


def test_a_column_checked_then_typed_is_parsed_once():
    """Reading a cohort checks each raw column (schemas), then types it (pipeline) with the
    same parser: the second pass reuses the first's parsed values, for those columns only."""
    calls = []

    def spy(text):
        calls.append(len(text))
        return parse.numbers(text)

    column = pd.Series(["1", "x", "1", None], dtype="category")
    first = parse.per_distinct(spy, column)
    again = parse.per_distinct(spy, column.iloc[::-1])  # its rows: the same categories object
    assert calls == [3]  # "1", "x" and missing, once
    np.testing.assert_array_equal(first.to_numpy(), [1.0, np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(again.to_numpy()[::-1], first.to_numpy())
    equal = pd.Series(["1", "x", "1", None], dtype="category")  # equal values, another column
    parse.per_distinct(spy, equal)
    assert calls == [3, 3]
    assert parse.per_distinct(spy, pd.Series(["3"], dtype="category")).tolist() == [3.0]
    assert calls == [3, 3, 2]


def test_group_ids_combine_columns_and_decode_codes():
    a = pd.Series(["x", "y", "x", "x"], dtype="category")
    b = pd.Series(["1", "1", "1", None], dtype="category")
    ids, (ca, cb) = parse.group_ids(a, b)
    assert ids.tolist() == [0, 1, 0, 2]
    assert a.cat.categories[ca].tolist() == ["x", "y", "x"] and cb.tolist() == [0, 0, -1]


def test_shared_ids_match_equal_keys_across_frames():
    left, right = parse.shared_ids(
        [pd.Series(["a", "b"]), pd.Series(["1", "2"])],
        [pd.Series(["b", "a", "b"]), pd.Series(["2", "1", "1"])],
    )
    assert right[0] == left[1] and right[1] == left[0] and right[2] not in left


def test_strip_keeps_a_column_with_nothing_to_strip_as_stripping_would_rebuild_it():
    # the column itself comes back (no remapping), equal to what the remapping gives when a
    # value is changed: missing values, an empty value, non-ASCII text, codes in their dtype
    values = ["Pe\u00f1a", "", None, "b", "Pe\u00f1a", "\u00e9cole"]
    clean = pd.Series(values, dtype="category", name="School")
    kept = parse.strip(clean)
    assert kept is clean
    padded = pd.Series([f" {v}" if v else v for v in values], dtype="category", name="School")
    rebuilt = parse.strip(padded)
    pd.testing.assert_series_equal(rebuilt, kept, check_categorical=False)
    assert kept.cat.codes.dtype == rebuilt.cat.codes.dtype
    assert sorted(kept.cat.categories) == sorted(rebuilt.cat.categories)
    assert parse.strip(pd.Series([" a", "a"], dtype="category")).cat.categories.tolist() == ["a"]


def test_strip_and_text_merge_and_blank_values():
    stripped = parse.strip(pd.Series([" a", "a ", "b", None]))
    assert stripped.tolist()[:3] == ["a", "a", "b"] and list(stripped.cat.categories) == ["a", "b"]
    assert parse.text(pd.Series([" ", "x", None])).isna().tolist() == [True, False, True]
    assert parse.blank_text(pd.Series([" ", "x", None])).tolist() == [True, False, False]
    absent = parse.column(pd.DataFrame({"x": [1, 2]}), "Grade")
    assert parse.strip(absent).isna().all()  # a column no file had


def test_student_ids_written_as_decimals_are_the_integers_they_are():
    ids = ["1001.0", "1001", " 7.00 ", "00123.0", "S1001.0", "1.5", "1e3", None]
    read = parse.student_ids(pd.Series(ids))
    assert read.tolist()[:6] == ["1001", "1001", "7", "00123", "S1001.0", "1.5"]
    assert read.iloc[6] == "1e3" and pd.isna(read.iloc[7])
    assert sorted(read.cat.categories) == sorted(["1001", "7", "00123", "S1001.0", "1.5", "1e3"])
    plain = pd.Series(["1001", "S7"], dtype="category")
    assert parse.student_ids(plain) is plain  # no decimal: the same column


def test_strip_drops_invisible_marks_at_the_edges_only():
    # a zero-width space, a byte-order mark or a word joiner pasted in with an ID
    stripped = parse.strip(
        pd.Series(["\u200b0012301", "0012301\ufeff ", "\u2060 0012301", "00\u200b1"])
    )
    assert stripped.tolist() == ["0012301"] * 3 + ["00\u200b1"]  # one inside is the ID's own
    assert list(stripped.cat.categories) == ["0012301", "00\u200b1"]


def test_strip_composes_text_so_names_that_look_alike_are_one():
    # "Peña" with ñ as n and a combining tilde (a Mac's, or text pasted from the web)
    composed, decomposed = "Escuela Pe\u00f1a", "Escuela Pen\u0303a"
    stripped = parse.strip(pd.Series([composed, f" {decomposed}", "Lincoln", decomposed]))
    assert stripped.tolist() == [composed, composed, "Lincoln", composed]
    assert sorted(stripped.cat.categories) == ["Escuela Pe\u00f1a", "Lincoln"]
    assert parse.text(pd.Series([decomposed])).tolist() == [composed]


def test_missing_value_markers_read_as_empty():
    # NULL (a database export), #N/A (Excel), NA (R): blank wherever "" is, and as missing
    # as an empty cell in text, grades, genders, numbers and subjects alike
    markers = ["NULL", " #N/A ", "NA", "n/a", "NaN", "null", "None"]
    assert parse.blank_text(pd.Series([*markers, "", "Nancy", "NAEP", None])).tolist() == [
        *[True] * 8,
        False,
        False,
        False,
    ]
    assert parse.text(pd.Series(["White", *markers], dtype="category")).notna().tolist() == [
        True,
        *[False] * len(markers),
    ]
    assert parse.genders(pd.Series(["male", "NULL"], dtype="category")).tolist()[0] == "M"
    assert parse.genders(pd.Series(["male", "NULL"], dtype="category")).isna().tolist() == [
        False,
        True,
    ]
    assert run(parse.numbers, ["NULL", "#N/A", "nan", "2.5"]).tolist()[3] == 2.5
    assert run(parse.numbers, ["NULL", "#N/A", "nan", "2.5"]).isna().tolist()[:3] == [True] * 3
    assert parse.unmarked(pd.Series(["NULL", "x", " ", None])).isna().tolist() == [
        True,
        False,
        True,
        True,
    ]
    assert parse.MISSING >= {"", "NULL", "#N/A", "NA", "N/A", "NaN", "null", "nan"}


def test_loose_ids_compare_without_leading_zeros_a_decimal_tail_or_case():
    ids = pd.Series(["001001", "1001.0", "s1001", "S1001", "1001", "0", "10010"], dtype="category")
    loose = parse.loose_ids(ids).astype("str").tolist()
    assert loose == ["1001", "1001", "S1001", "S1001", "1001", "", "10010"]


def test_two_digit_years_and_dates_with_times():
    out = run(
        parse.date_times,
        ["3/2/21", "9/16/2013", "9/16/2013 9:00:00 AM", "9/17/20 1:05:00 PM",
         "2013-09-16T09:00:00", "3/2/21 25:00", "3/2/1"],
    )["date"]  # fmt: skip
    expected = ["2021-03-02", "2013-09-16", "2013-09-16", "2020-09-17", "2013-09-16"]
    assert out.iloc[:5].tolist() == pd.to_datetime(expected).tolist()
    # a time that is not one (its date would lose it unseen); a one-digit year is not a year
    assert out.iloc[5:].isna().all()
    times = run(
        parse.times,
        [
            "9:00:00 AM",
            "9/16/2013 1:05:00 PM",
            "2013-09-16 09:00:00.000",
            "12:30 a.m.",
            "9/16/2013",
        ],
    )
    assert times.tolist()[:4] == [32400.0, 47100.0, 32400.0, 1800.0]
    assert np.isnan(times.iloc[4])  # a date alone has no time


def test_end_of_course_names():
    names = ["Algebra 1", "MAP: Geometry Goals 2.0", "Integrated Math II",
             "Growth: Integrated Mathematics I", "Pre-Calculus", "Math K-12",
             "Growth: Math 6+ CCSS 2010 V2", "", None]  # fmt: skip
    assert run(parse.end_of_course, names).tolist() == [True] * 5 + [False] * 4


def test_timestamps_parse_each_distinct_date_and_time_once_and_map_back():
    # a timestamp per test: many distinct cells, few distinct dates and times (parsed once
    # each); each row keeps its own date and time, missing and unparsable cells stay missing
    cells = pd.Series(
        ["9/16/2013 9:00:00 AM", None, "9/17/2013 9:00:00 AM", "9/16/2013 1:05:00 PM",
         "junk 9:00", "9/17/2013 1:05:00 PM", "9/16/2013 9:00:00 AM", ""],
        index=[70, 71, 72, 73, 74, 75, 76, 77],
        dtype="str",
    )  # fmt: skip
    parsed = parse.date_times(cells)
    assert parsed.index.tolist() == cells.index.tolist()
    on = ["2013-09-16", None, "2013-09-17", "2013-09-16", None, "2013-09-17", "2013-09-16", None]
    expected = pd.Series(pd.to_datetime(on), index=cells.index, dtype="datetime64[ms]")
    pd.testing.assert_series_equal(parsed["date"], expected, check_names=False)
    seconds = [32400, np.nan, 32400, 47100, 32400, 47100, 32400, np.nan]
    np.testing.assert_array_equal(parsed["time"].to_numpy(), seconds)
    # the same times as times() reads from the cells alone
    np.testing.assert_array_equal(parse.times(cells).to_numpy(), seconds)


#: Pieces of dates and times, blanks Python and RE2 read differently (\v, \x1c-\x1f), a
#: line break, non-ASCII text (no-break space, Arabic-Indic digits, an accent), and zones.
DATE_TIME_PIECES = st.sampled_from(
    ["9", "12", "2013", "00", "5", ":", ".", "/", "-", " ", "T", "AM", "p.m.", "m", "x",
     "\t", "\n", "\x0b", "\x1c", "\x1f", "\u00a0", "\u0663", "\u00e9",
     "Z", "+", "05:00", "UTC", "CEST", "PMT", "ABCDEF"]
)  # fmt: skip
DATE_TIME_CELLS = st.lists(DATE_TIME_PIECES, max_size=9).map("".join)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    cells=st.lists(DATE_TIME_CELLS, max_size=12),
    patterns=st.sampled_from(
        [(parse._DATE_TIME, parse._DATE_TIME_ASCII), (parse._TIME, parse._TIME_ASCII)]
    ),
)
@example(  # blanks only Python's \s knows, before a meridiem and between date and time
    cells=["9:00\x0bAM", "12:30:00\x1cp.m.", "9/16/2013\x0b9:00", "2013-09-16\x1f 9:00"],
    patterns=(parse._TIME, parse._TIME_ASCII),
)
@example(
    cells=["9/16/2013\x0b9:00", "2013-09-16\x1f 9:00", "9/16/2013 9:00:00.123 AM"],
    patterns=(parse._DATE_TIME, parse._DATE_TIME_ASCII),
)
@example(  # zones and offsets after a time, and blanks before them
    cells=["13:05:00Z", "9:00 PM\x0bCST", "13:05:00.5-05:00", "13:05+0500", "1:05 UTC+05"],
    patterns=(parse._TIME, parse._TIME_ASCII),
)
def test_dates_and_times_split_as_pythons_regular_expressions_split_them(cells, patterns):
    # ASCII cells are split by pyarrow's RE2: the same groups as Python's re, or the dates
    # and times of timestamps would silently differ from those of other cells
    stripped = pd.Series(cells + [None], dtype="str").str.strip()
    pattern, ascii_pattern = patterns
    expected = stripped.str.extract(pattern)
    pd.testing.assert_frame_equal(parse._extract(stripped, pattern, ascii_pattern), expected)
    if pattern == parse._DATE_TIME:  # most cells by the one-pass expression instead
        pd.testing.assert_frame_equal(parse._date_and_time(stripped), expected)


#: Cells shaped like timestamps, with the pieces that could make the one-pass expression
#: (_DATE_TIME_ONE_PASS) read them otherwise than _DATE_TIME: a T in the date or the
#: separator, several spaces, other blanks, a line break, non-ASCII text, a time that is not one.
TIMESTAMP_CELLS = st.tuples(
    st.sampled_from(["9/16/2013", "2013-09-16", "16-09-2013", "9/16/13", "T9/16", "x", ""]),
    st.sampled_from(["", " ", "  ", "T", " T", "T ", "\t", " \x0b", "\u00a0"]),
    st.sampled_from(["9:00:00", "13.05", "9:00:00.000", "1:5", "9:00", "", "x9:00"]),
    st.sampled_from(["", " AM", " p.m.", "\nx", " \u00e9", " 9:00", "Z", "-05:00", " PM CST"]),
).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(cells=st.lists(st.one_of(TIMESTAMP_CELLS, DATE_TIME_CELLS), max_size=12))
@example(
    cells=["9/16/2013 9:00:00 AM", "9/16/2013", "9/16/2013  9:00", "9/16/2013 T9:00",
           "2013-09-16T09:00:00Z", "2013-09-16TT 9:00", "2013-09-16T"]
)  # fmt: skip
def test_timestamps_split_by_the_one_pass_expression_as_pythons_re_splits_them(cells):
    stripped = pd.Series(cells + [None], dtype="str").str.strip()
    expected = stripped.str.extract(parse._DATE_TIME)
    pd.testing.assert_frame_equal(parse._date_and_time(stripped), expected)
