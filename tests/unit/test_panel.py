"""Panel pairing on a hand-made cohort where every student hits one known exclusion reason."""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import norm

from pl_eval import io, stages
from pl_eval import panel as panel_module
from pl_eval.errors import InputError
from pl_eval.norms import Norms, SchoolCalendar, instructional_weeks, percentile_points
from pl_eval.panel import (
    REASONS,
    build_panel,
    combine,
    missing_seasons,
    school_year_of,
    subject_parts,
)
from pl_eval.years import exposure

NORMS = Norms.from_frame(io.read_norms_table(), 2020)
WEEK_NORMS = Norms.from_frame(io.read_norms_table(), 2020, io.read_norms_week_means())
YEAR = "2022-2023"


def exam(key, season, school, rit, *, subject="math", grade=3, district="D1", date=None):
    return {
        "student_key": key,
        "district": district,
        "school": school,
        "term_name": f"{season.title()} {YEAR}",
        "season": season,
        "school_year": YEAR,
        "subject": subject,
        "test_date": pd.Timestamp(date or ("2022-09-15" if season == "fall" else "2023-05-01")),
        "rit": float(rit),
        "se": 3.1,
        "grade": grade,
        "gender": "F",
        "ethnicity": "White",
    }


@pytest.fixture
def schools():
    return pd.DataFrame(
        {
            "district_name": ["D1", "D1", "D1", "D2"],
            "school_name": ["PL One", "Plain", "Future PL", "PL Three"],
            "nces_id": [pd.NA] * 4,
            "sector": ["charter", "district", "district", "district"],
            "pl_start_year": pd.array([2022, pd.NA, 2023, 2020], dtype="Int64"),
            "frl_pct": [80.0, 40.0, 50.0, 90.0],
            "locale": pd.array([11, 21, 11, 41], dtype="Int64"),
            "locale_group": ["city", "suburb", "city", "rural"],
        }
    )


@pytest.fixture
def scores():
    rows = [
        # s1: treated (first year of PL), paired in math; grade-3 norms 188.48/13.46 fall
        exam("s1", "fall", "PL One", 188.48),
        exam("s1", "spring", "PL One", 201.08 + 14.09),
        # s2: comparison, paired in math and reading
        exam("s2", "fall", "Plain", 175),
        exam("s2", "spring", "Plain", 190),
        exam("s2", "fall", "Plain", 180, subject="reading"),
        exam("s2", "spring", "Plain", 185, subject="reading"),
        # s3: no spring; s4: no fall; s5: moved school; s6: school not in frame
        exam("s3", "fall", "PL One", 190),
        exam("s4", "spring", "Plain", 190),
        exam("s5", "fall", "Plain", 190),
        exam("s5", "spring", "PL One", 195),
        exam("s6", "fall", "Nowhere", 190),
        exam("s6", "spring", "Nowhere", 195),
        # s7: PL starts next year; s8: grade 13 has no norms
        exam("s7", "fall", "Future PL", 190),
        exam("s7", "spring", "Future PL", 195),
        exam("s8", "fall", "Plain", 190, grade=13),
        exam("s8", "spring", "Plain", 195, grade=13),
        # s9: third year of PL in another district; a winter test is ignored
        exam("s9", "fall", "PL Three", 200, district="D2"),
        exam("s9", "winter", "PL Three", 205, district="D2"),
        exam("s9", "spring", "PL Three", 210, district="D2"),
    ]
    return pd.DataFrame(rows).astype({"grade": "Int64"})


@pytest.fixture
def rejects():
    # s10 has only a rejected test; s1's rejected retest must not count s1 twice.
    return pd.DataFrame(
        {
            "student_key": ["s10", "s1"],
            "district": ["D1", "D1"],
            "school": ["PL One", "PL One"],
            "season": ["fall", "fall"],
            "school_year": [YEAR, YEAR],
            "subject": ["math", "math"],
            "reason": ["rapid_guessing", "short_duration"],
        }
    )


def flow(panel, subject, arm):
    rows = panel.exclusions.query("subject == @subject and arm == @arm")
    return {r: n for r, n in zip(rows["reason"], rows["n_students"], strict=True) if n}


def test_every_student_lands_in_one_reason(scores, schools, rejects):
    panel = build_panel(scores, schools, NORMS, rejects=rejects)
    assert flow(panel, "math", "treated") == {
        "paired": 2,
        "no_spring": 1,
        "no_valid_test": 1,
    }
    assert flow(panel, "math", "comparison") == {
        "paired": 1,
        "no_fall": 1,
        "changed_school": 1,
        "grade_without_norms": 1,
    }
    assert flow(panel, "math", "unknown") == {"school_not_in_frame": 1}
    assert flow(panel, "math", "not_yet_pl") == {"school_not_yet_pl": 1}
    assert flow(panel, "reading", "comparison") == {"paired": 1}
    assert panel.exclusions["n_students"].sum() == 11
    assert set(panel.exclusions["reason"]) == set(REASONS)


def test_scores_and_school_facts(scores, schools):
    panel = build_panel(scores, schools, NORMS)
    s1 = panel.data.set_index(["student_key", "subject"]).loc[("s1", "math")]
    assert s1["fall_z"] == pytest.approx(0.0, abs=1e-12)
    assert s1["spring_z"] == pytest.approx(1.0, abs=1e-12)
    assert s1["fall_pct"] == pytest.approx(50.0)
    assert s1["spring_pct"] == pytest.approx(100 * norm.cdf(1.0))
    assert s1["treated"] and s1["years_pl"] == "1" and s1["sector"] == "charter"
    assert s1["days_between"] == (pd.Timestamp("2023-05-01") - pd.Timestamp("2022-09-15")).days
    assert s1["grade_band"] == "K-5"
    s9 = panel.data.set_index("student_key").loc["s9"]
    assert s9["years_pl"] == "3+" and s9["locale_group"] == "rural"
    s2 = panel.data[panel.data["student_key"] == "s2"]
    assert not s2["treated"].any() and s2["years_pl"].isna().all()
    assert np.isclose(s2.loc[s2["subject"] == "reading", "fall_z"].item(), (180 - 186.62) / 16.67)


def test_scores_at_each_tests_instructional_week(scores, schools):
    """With a calendar, z-scores and percentiles are taken at each test's week (from its date);
    without one, at the seasons' default weeks 4 and 32 as the tables are."""
    scores = scores.copy()
    # s2's fall test has no date: it is normed at the fall's default week
    s2_fall = (scores["student_key"] == "s2") & (scores["season"] == "fall")
    scores.loc[s2_fall & (scores["subject"] == "math"), "test_date"] = pd.NaT
    calendar = SchoolCalendar()
    panel = build_panel(scores, schools, WEEK_NORMS, calendar=calendar).data
    s1 = panel.set_index(["student_key", "subject"]).loc[("s1", "math")]
    # 15 Sep 2022 is 31 days after 15 Aug; 1 May 2023 is 259 days, less 28 days of breaks
    assert s1["fall_week"] == pytest.approx(31 / 7) and s1["spring_week"] == pytest.approx(33)
    mean, sd = WEEK_NORMS.at_week(["math", "math"], [3, 3], np.array([31 / 7, 33.0]))
    assert mean[0] > 188.48 and mean[1] > 201.08  # later than the default weeks: higher norms
    assert s1["fall_z"] == pytest.approx((188.48 - mean[0]) / sd[0], abs=1e-12)
    assert s1["spring_z"] == pytest.approx((201.08 + 14.09 - mean[1]) / sd[1], abs=1e-12)
    assert s1["fall_pct"] == pytest.approx(100 * norm.cdf(s1["fall_z"]))
    assert s1["spring_pct"] == pytest.approx(100 * norm.cdf(s1["spring_z"]))
    s2 = panel.set_index(["student_key", "subject"]).loc[("s2", "math")]
    assert s2["fall_week"] == 4 and s2["fall_z"] == pytest.approx((175 - 188.48) / 13.46)
    default = build_panel(scores, schools, WEEK_NORMS).data
    assert (default["fall_week"] == 4).all() and (default["spring_week"] == 32).all()
    s1 = default.set_index(["student_key", "subject"]).loc[("s1", "math")]
    assert s1["fall_z"] == pytest.approx(0.0, abs=1e-12)
    assert s1["spring_z"] == pytest.approx(1.0, abs=1e-12)


def test_inputs_not_mutated(scores, schools, rejects):
    before = (scores.copy(), schools.copy(), rejects.copy())
    build_panel(scores, schools, NORMS, rejects=rejects)
    for a, b in zip(before, (scores, schools, rejects), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_school_year_is_inferred_or_checked(scores):
    assert school_year_of(scores) == YEAR
    two = pd.concat([scores, scores.assign(school_year="2023-2024")])
    with pytest.raises(ValueError, match="school_years: {<cohort>"):
        school_year_of(two)
    assert school_year_of(two, "2023-2024") == "2023-2024"
    with pytest.raises(ValueError, match="no fall or spring tests"):
        school_year_of(scores, "2019-2020")


def test_two_year_span_pairs_fall_with_next_years_spring(schools):
    later = "2023-2024"
    rows = [
        exam("a", "fall", "PL One", 188.48, grade=3),
        exam("a", "spring", "PL One", 999, grade=3),  # same-year spring: not part of the span
        exam("b", "fall", "Plain", 200, grade=3),
        exam("c", "fall", "Plain", 200, grade=3),
    ]
    next_year = [
        # a: grade 4 spring normed at grade 4 (2020 math spring mean 210.51, SD 15.56)
        exam("a", "spring", "PL One", 210.51 + 15.56, grade=4),
        exam("b", "spring", "Plain", 205, grade=4),
        exam("c", "spring", "PL One", 205, grade=4),  # moved school: kept, under its fall school
    ]
    scores = pd.DataFrame(rows).astype({"grade": "Int64"})
    spring = (
        pd.DataFrame(next_year)
        .assign(term_name=f"Spring {later}", school_year=later)
        .astype({"grade": "Int64"})
    )
    both = pd.concat([scores, spring], ignore_index=True)
    panel = build_panel(both, schools, NORMS, school_year=YEAR, spring_year=later)
    assert (panel.school_year, panel.spring_year) == (YEAR, later)
    data = panel.data.set_index("student_key")
    assert list(data.index) == ["a", "b", "c"]
    assert data.loc["a", "spring_z"] == pytest.approx(1.0)
    assert data.loc["a", "fall_z"] == pytest.approx(0.0)
    assert data.loc["a", "grade"] == 3 and data.loc["a", "years_pl"] == "1"
    # a span keeps a student who changed school, as a student of the fall school
    assert (data.loc["c", "school"], bool(data.loc["c", "treated"])) == ("Plain", False)
    assert flow(panel, "math", "comparison") == {"paired": 2}
    # a: PL One (PL from 2022) in 2022-2023 and 2023-2024: two years of exposure; comparison
    # students have none
    assert data.loc["a", "exposure"] == "2"
    assert data.loc[["b", "c"], "exposure"].isna().all()


def test_missing_seasons_of_analysed_subjects(scores):
    assert missing_seasons(scores) == []
    assert missing_seasons(scores, YEAR) == []
    assert missing_seasons(scores, "2019-2020") == ["fall", "spring"]
    fall = scores[scores["season"] == "fall"]
    assert missing_seasons(fall) == ["spring"]
    # a spring test of another subject does not make a spring term
    other = fall.assign(season="spring", subject="language").head(1)
    assert missing_seasons(pd.concat([fall, other]), YEAR) == ["spring"]


def _write_stage_inputs(folder, scores, schools, rejects) -> dict:
    paths = {name: folder / f"{name}.parquet" for name in ("scores", "rejects", "schools")}
    io.write_parquet(scores, paths["scores"])
    io.write_parquet(rejects, paths["rejects"])
    io.write_parquet(schools, paths["schools"])
    return paths | {"panel": folder / "panel.parquet", "exclusions": folder / "exclusions.csv"}


@pytest.mark.parametrize("season", ["fall", "spring"])
def test_stage_says_which_term_is_missing(tmp_path, scores, schools, rejects, season):
    # Found by the property suite: a fall-only (or spring-only) cohort made an empty panel
    # and the match stage then failed with "the panel has no math students to match".
    paths = _write_stage_inputs(tmp_path, scores[scores["season"] != season], schools, rejects)
    with pytest.raises(InputError) as error:
        stages.build_panel(**paths, settings={"norms_year": 2020})
    assert str(error.value) == (
        f"{paths['scores']}: expected fall and spring tests of {YEAR} to pair (add the missing "
        "term's exports to the cohort folder; rejected tests: rejects.parquet), found "
        f"'no kept {season} test of math or reading'"
    )
    assert not paths["panel"].exists() and not paths["exclusions"].exists()


def test_stage_writes_the_panel_of_a_cohort_with_both_terms(tmp_path, scores, schools, rejects):
    paths = _write_stage_inputs(tmp_path, scores, schools, rejects)
    stages.build_panel(**paths, settings={"norms_year": 2020})
    flow = pd.read_csv(paths["exclusions"])
    assert flow["n_students"].sum() == 11
    assert len(io.read_parquet(paths["panel"])) == 4


def test_percentile_points_of_a_missing_effect_is_nan():
    # Found by the property suite on the merged branches: a pooled row with an estimate but no
    # interval (one PL school) holds pd.NA in ci_low, and the report's findings crashed in
    # percentile_points with "TypeError: boolean value of NA is ambiguous".
    assert percentile_points(0.25) == pytest.approx(9.8706, abs=1e-4)  # 100 (Φ(0.25) - 0.5)
    assert np.isnan(percentile_points(pd.NA)) and np.isnan(percentile_points(None))
    got = percentile_points(pd.Series([0.25, pd.NA, -0.25], dtype="Float64"))
    np.testing.assert_allclose(got, [9.8706, np.nan, -9.8706], atol=1e-4)
    np.testing.assert_allclose(percentile_points(np.array([0.0, np.nan])), [0.0, np.nan])


def test_stage_panel_order_does_not_depend_on_row_groups(tmp_path, schools):
    # The stage selects the analysed year's rows before pandas sees them. The panel is sorted
    # by subject and student key in order of first appearance in the file, here in the
    # earlier year's rows ("reading" and "b" first): a selection that dropped those row
    # groups (and their dictionaries) sorted "math" and "a" first instead.
    earlier = [
        exam("b", season, "Plain", 190, subject="reading") for season in ("fall", "spring")
    ] + [
        exam("a", season, "PL Three", 190, subject="reading", district="D2")
        for season in ("fall", "spring")
    ]
    later = [
        exam(key, season, school, 200, subject=subject, district=district, grade=4)
        for subject in ("math", "reading")
        for key, school, district in (("a", "PL Three", "D2"), ("b", "Plain", "D1"))
        for season in ("fall", "spring")
    ]
    scores = pd.concat(
        [
            pd.DataFrame(earlier).assign(school_year="2021-2022", term_name="Fall 2021-2022"),
            pd.DataFrame(later),
        ],
        ignore_index=True,
    ).astype({"grade": "Int64"})
    rejects = pd.DataFrame(columns=["student_key", "district", "school", "season",
                                    "school_year", "subject"], dtype="str")  # fmt: skip
    panels = {}
    for groups in (len(scores), 2):  # one row group; the earlier year's in groups of its own
        folder = tmp_path / str(groups)
        folder.mkdir()
        paths = _write_stage_inputs(folder, scores, schools, rejects)
        pq.write_table(pa.Table.from_pandas(scores, preserve_index=False), paths["scores"],
                       row_group_size=groups)  # fmt: skip
        stages.build_panel(**paths, settings={"norms_year": 2020}, school_year=YEAR)
        panels[groups] = io.read_parquet(paths["panel"])
    panel = panels[2]
    assert list(panel["subject"]) == ["reading", "reading", "math", "math"]
    assert list(panel["student_key"]) == ["b", "a", "b", "a"]
    # a was at a PL school (PL since 2020) in both years: two years of exposure
    assert list(panel["exposure"].fillna("-")) == ["-", "2", "-", "2"]
    pd.testing.assert_frame_equal(panel, panels[len(scores)])


def test_norms_per_distinct_value_are_bitwise_the_row_by_row_ones():
    # The panel evaluates weeks once per test date and norms once per subject × grade × week;
    # the z-scores must be the very floats norming every row gives (outputs stay identical).
    rng = np.random.default_rng(5)
    n = 5000
    dates = pd.Series(pd.to_datetime("2022-09-01") + pd.to_timedelta(rng.integers(0, 60, n), "D"))
    dates[rng.random(n) < 0.05] = pd.NaT  # a test without a date: the season's default week
    subject = pd.Series(rng.choice(["math", "reading", "language"], n), dtype="category")
    grade = pd.Series(rng.integers(-1, 14, n), dtype="Int64").mask(rng.random(n) < 0.05)
    rit = pd.Series(rng.normal(200, 15, n))
    calendar = SchoolCalendar()
    week = panel_module._weeks(dates, "fall", calendar)
    expected_week = instructional_weeks(dates, "fall", calendar)
    np.testing.assert_array_equal(week, expected_week)
    z = panel_module._z_at_weeks(WEEK_NORMS, rit, subject, grade, week)
    with warnings.catch_warnings():  # "language" is no norms subject: NaN, as intended
        warnings.simplefilter("ignore")
        expected = WEEK_NORMS.z_at_week(rit, subject, grade, expected_week)
    np.testing.assert_array_equal(z, expected)
    assert np.isfinite(z).sum() > n // 2  # most rows have norms: the comparison is not vacuous


def test_panel_built_a_subject_at_a_time_is_the_whole_panel(scores, schools, rejects):
    # The stage pairs one subject at a time (half the memory) and combines the parts: the
    # rows, their order, the flow and the students lost must be the whole panel's. s11 and
    # s12 are lost in reading, so the lost students of both parts are merged.
    scores = pd.concat(
        [
            scores,
            pd.DataFrame(
                [
                    exam("s11", "fall", "Plain", 180, subject="reading"),
                    exam("s12", "fall", "PL One", 181, subject="reading"),
                    exam("s12", "spring", "Plain", 182, subject="reading"),
                ]
            ).astype({"grade": "Int64"}),
        ],
        ignore_index=True,
    )
    whole = build_panel(scores, schools, NORMS, rejects=rejects)
    exposed = exposure(scores, schools, YEAR)
    parts = [
        build_panel(
            scores[scores["subject"] == subject],
            schools,
            NORMS,
            school_year=YEAR,
            rejects=rejects[rejects["subject"] == subject],
            exposed=exposed,
        )
        for subject in ("math", "reading")
    ]
    assert [len(part.data) for part in parts] == [3, 1]
    combined = combine(parts)
    pd.testing.assert_frame_equal(combined.data, whole.data)
    pd.testing.assert_frame_equal(combined.exclusions, whole.exclusions)
    assert combined.exclusions["n_students"].sum() == 13
    pd.testing.assert_frame_equal(combined.lost_students, whole.lost_students)
    assert list(combined.lost_students["subject"]) == ["math", "math", "reading", "reading"]
    assert combined.summary() == whole.summary()
    assert combined.summary(rows=9) == whole.summary().replace(": 4 student", ": 9 student")


def test_subjects_are_paired_apart_only_when_each_has_both_terms():
    terms = {"fall": ("fall", YEAR), "spring": ("spring", YEAR)}
    held = pd.DataFrame(
        [(s, season, YEAR) for s in ("math", "reading") for season in ("fall", "spring")],
        columns=["subject", "season", "school_year"],
    )
    order = pd.CategoricalDtype(["language", "reading", "math"])  # the file's order
    assert subject_parts(held, terms, order) == [["reading"], ["math"]]
    no_reading_spring = held[~((held["subject"] == "reading") & (held["season"] == "spring"))]
    assert subject_parts(no_reading_spring, terms, order) == [["math", "reading"]]


def test_category_codes_are_unify_dictionaries_codes():
    # category_codes hashes each run of equal chunk dictionaries once (a Parquet read repeats
    # a row group's dictionary in each of its chunks); categories and codes must be
    # unify_dictionaries' own: new values in order of the dictionaries, missing as -1.
    first = pa.array(["k", "a", "z"])
    chunks = [
        pa.DictionaryArray.from_arrays(pa.array([0, 2, None], pa.int32()), first),
        pa.DictionaryArray.from_arrays(pa.array([1, 1], pa.int32()), first),  # same again
        pa.DictionaryArray.from_arrays(pa.array([2, 0], pa.int32()), pa.array(["b", "z", "k"])),
        pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()), first),  # first's, later
    ]
    column = pa.chunked_array(chunks)
    table, dtypes = panel_module.category_codes(pa.table({"key": column, "x": range(8)}))
    unified = column.unify_dictionaries()
    assert list(dtypes["key"].categories) == unified.chunk(0).dictionary.to_pylist()
    assert list(dtypes["key"].categories) == ["k", "a", "z", "b"]
    expected = [i if i is not None else -1 for c in unified.chunks for i in c.indices.to_pylist()]
    assert table["key"].to_pylist() == expected == [0, 2, -1, 1, 1, 0, 3, 0]
    assert table["key"].type == pa.int32() and table["x"].to_pylist() == list(range(8))
    empty, dtypes = panel_module.category_codes(
        pa.table({"key": pa.chunked_array([], column.type)})
    )
    assert empty.num_rows == 0 and empty["key"].type == pa.int32()
    assert list(dtypes["key"].categories) == []


def test_parquet_rows_are_the_flagged_rows_read_a_batch_at_a_time(tmp_path):
    # The panel reads the measures of a multi-year cohort's window rows only, selecting
    # each batch as it is decoded: the rows kept, their order and the file's pandas
    # metadata must be those of the whole file filtered, across batch boundaries (65,536).
    n = 70_000
    frame = pd.DataFrame(
        {"rit": np.arange(n, dtype=float), "grade": pd.array(np.arange(n) % 13, dtype="Int64")}
    )
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=30_000)
    keep = (np.arange(n) % 7 == 0) | ((np.arange(n) > 65_530) & (np.arange(n) < 65_540))
    rows = pa.chunked_array([keep[:40_000], keep[40_000:]])  # chunks unlike the batches
    got = io.read_parquet_rows(path, ["grade", "rit"], rows)
    whole = pq.read_table(path, columns=["grade", "rit"])
    assert got.equals(whole.filter(pa.array(keep)))
    assert got.schema.metadata == whole.schema.metadata and got.num_rows == keep.sum()
    assert 65_535.0 in got["rit"].to_pylist() and 65_536.0 in got["rit"].to_pylist()
    expected = frame.loc[keep, ["grade", "rit"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.to_pandas(), expected)  # Int64 back from the metadata
    with pytest.raises(ValueError, match="69999 row flags for 70000 rows"):
        io.read_parquet_rows(path, ["rit"], rows.slice(1))


def test_measures_join_the_coded_columns_in_the_files_order():
    coded = pa.table({"key": [0, 1], "season": [1, 0]}, metadata={"pandas": "{}"})
    measures = pa.table({"rit": [200.0, 210.0]})
    table = panel_module.with_measures(coded, measures, ["key", "rit", "season"])
    assert table.column_names == ["key", "rit", "season"]
    assert table["rit"].to_pylist() == [200.0, 210.0] and table["season"].to_pylist() == [1, 0]
    assert table.schema.metadata == {b"pandas": b"{}"}
    with pytest.raises(ValueError, match="2 rows of text, 1 of measures"):
        panel_module.with_measures(coded, measures.slice(1), ["key", "rit", "season"])
