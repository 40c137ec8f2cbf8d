"""The demo-cohort generator within one school year: NWEA layout, realism rates, and the planted
truth recovered from the written tables by an independent mini-ingest (screen, de-duplicate,
pair, z-score). One year is simulated here (the year-to-year parts are in
test_simulate_years.py), so that a year's draws are not mixed with carried-over ones."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pl_eval import io
from pl_eval.errors import ConfigError
from pl_eval.norms import Norms, instructional_weeks, reported_percentile
from pl_eval.simulate import (
    ASSESSMENT_COLUMNS,
    LOCALES,
    SCHOOL_COLUMNS,
    STUDENT_COLUMNS,
    SimulationSettings,
    simulate_cohort,
)

# Layout C, all 143 columns in order (reference/nwea_formats.md §1.1), as the oracle for order.
_SEASONS = ("Fall", "Winter", "Spring")
_WINDOWS = (
    "FallToFall", "FallToWinter", "FallToSpring", "WinterToWinter", "WinterToSpring",
    "SpringToSpring",
)  # fmt: skip
_GROWTH = (
    "ProjectedGrowth", "ObservedGrowth", "ObservedGrowthSE", "MetProjectedGrowth",
    "ConditionalGrowthIndex", "ConditionalGrowthPercentile", "GrowthQuintile",
)  # fmt: skip
LAYOUT_C = [
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData",
    *(f"WISelectedAY{s}" for s in _SEASONS), *(f"WIPreviousAY{s}" for s in _SEASONS),
    "TestType", "TestName", "TestID", "TestStartDate", "TestStartTime", "TestDurationMinutes",
    "TestRITScore", "TestStandardError", "TestPercentile", "AchievementQuintile",
    "PercentCorrect", "RapidGuessingPercentage",
    *(f"{w}{f}" for w in _WINDOWS for f in _GROWTH),
    "LexileScore", "LexileMin", "LexileMax", "QuantileScore", "QuantileMin", "QuantileMax",
    *(f"Goal{i}{f}" for i in range(1, 9)
      for f in ("Name", "RitScore", "StdErr", "Range", "Adjective")),
    *(f"Typical{w}Growth" for w in _WINDOWS),
    *(f"ProjectedProficiency{f}{i}" for i in range(1, 11) for f in ("Study", "Level")),
]  # fmt: skip

COURSES = {"Math K-12": "math", "Reading": "reading"}
SEASON = {"Fall": "fall", "Winter": "winter", "Spring": "spring"}
ONE_YEAR = ("2022-2023",)
TINY = dict(
    school_years=ONE_YEAR,
    n_treated_schools=6,
    n_treated_charter=4,
    treated_years=(2, 2, 2),
    n_treated_charter_in_districts=1,
    n_treated_rural=1,
    n_comparison_schools=6,
    elementary_size=60.0,
    secondary_size=60.0,
    size_sd=5.0,
)


@pytest.fixture(scope="module")
def norms() -> Norms:
    return Norms.from_frame(io.read_norms_table(), 2020, io.read_norms_week_means())


@pytest.fixture(scope="module")
def settings() -> SimulationSettings:
    return SimulationSettings(n_comparison_schools=30, school_years=ONE_YEAR)


@pytest.fixture(scope="module")
def cohort(settings, norms):
    return simulate_cohort(settings, norms)


def _stack(cohort, prefix: str) -> pd.DataFrame:
    """Every export of one kind (``prefix``), of every year's folder."""
    return pd.concat(
        [t for name, t in cohort.exports.items() if name.split("/")[1].startswith(prefix)],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def tests(cohort) -> pd.DataFrame:
    return _stack(cohort, "AssessmentResults_")


@pytest.fixture(scope="module")
def rosters(cohort) -> pd.DataFrame:
    return _stack(cohort, "StudentsBySchool_")


@pytest.fixture(scope="module")
def graded(tests, rosters) -> pd.DataFrame:
    """Math and reading tests with the roster's grade (0 = K) and numbers parsed."""
    rows = tests[tests["Course"].isin(list(COURSES))]
    grade = rosters[["TermName", "DistrictName", "StudentID", "Grade"]]
    rows = rows.merge(grade, on=["TermName", "DistrictName", "StudentID"], how="left")
    return rows.assign(
        subject=rows["Course"].map(COURSES),
        season=rows["TermName"].str.split(" ").str[0].map(SEASON),
        grade=rows["Grade"].replace("K", "0").astype(int),
        rit=rows["TestRITScore"].astype(int),
        se=rows["TestStandardError"].astype(float),
        date=pd.to_datetime(rows["TestStartDate"], format="%m/%d/%Y"),
        duration=rows["TestDurationMinutes"].astype(int),
        guessing=rows["RapidGuessingPercentage"].astype(float),
        growth_measure=rows["GrowthMeasureYN"].eq("TRUE"),
    )


@pytest.fixture(scope="module")
def pairs(graded, cohort, norms, settings) -> pd.DataFrame:
    """Analysable student × subject pairs, found from the files the way ingest and panel will:
    screen, keep GrowthMeasureYN then lowest SE then latest date, pair at the same school."""
    valid = graded[(graded["duration"] >= 6) & (graded["guessing"] < 30)]
    best = valid.sort_values(
        ["growth_measure", "se", "date"], ascending=[False, True, False]
    ).drop_duplicates(["DistrictName", "StudentID", "subject", "season"])
    cols = ["DistrictName", "StudentID", "subject", "SchoolName", "grade", "rit"]
    fall, spring = (best.loc[best["season"] == s, cols] for s in ("fall", "spring"))
    both = fall.merge(spring, on=["DistrictName", "StudentID", "subject"], suffixes=("_f", "_s"))
    both = both[both["SchoolName_f"] == both["SchoolName_s"]]
    schools = cohort.schools.rename(
        columns={"district_name": "DistrictName", "school_name": "SchoolName_f"}
    )
    both = both.merge(schools, on=["DistrictName", "SchoolName_f"], how="left", validate="m:1")
    rho = np.where(
        both["subject"] == "math",
        np.asarray(settings.rho_math)[both["grade_f"]],
        np.asarray(settings.rho_reading)[both["grade_f"]],
    )
    z_f = norms.z_score(both["rit_f"], both["subject"], both["grade_f"], ["fall"] * len(both))
    z_s = norms.z_score(both["rit_s"], both["subject"], both["grade_f"], ["spring"] * len(both))
    return both.assign(treated=both["pl_start_year"].notna(), z_fall=z_f, residual=z_s - rho * z_f)


# ------------------------------------------------------------------------------- schools ---


def test_treated_schools_follow_the_2017_study(cohort):
    frame = cohort.schools
    treated = frame[frame["pl_start_year"].notna()]
    assert len(treated) == 40
    assert treated["sector"].value_counts().to_dict() == {"charter": 31, "district": 9}
    # Staggered: 17 in their 1st year in 2022-2023, 15 in their 2nd, the 8 in their 3rd or
    # later spread over 3, 4 and 5 years (3, 3, 2 schools).
    assert treated["pl_start_year"].value_counts().to_dict() == {
        "2022": 17,
        "2021": 15,
        "2020": 3,
        "2019": 3,
        "2018": 2,
    }
    locale = treated["locale"].astype(int)
    assert (locale >= 41).sum() == 2 and locale[locale < 41].isin([11, 12, 13]).all()
    frl = treated["frl_pct"].astype(float)
    assert frl.between(60, 95).all() and 72 <= frl.median() <= 88


def test_school_frame_columns_and_domains(cohort, settings):
    frame = cohort.schools
    assert list(frame.columns) == list(SCHOOL_COLUMNS)
    assert all(frame[c].dtype == "str" for c in frame.columns)
    assert not frame.duplicated(["district_name", "school_name"]).any()
    assert len(frame) == settings.n_treated_schools + settings.n_comparison_schools
    nces = frame["nces_id"].dropna()
    assert nces.str.fullmatch(r"\d{12}").all() and frame["nces_id"].isna().any()
    assert set(frame["sector"]) == {"charter", "district"}
    comparison = frame[frame["pl_start_year"].isna()]
    assert comparison["sector"].eq("charter").sum() == 3  # 10 % of 30
    frl = frame["frl_pct"].astype(float)
    assert frl.between(0, 100).all() and frame["frl_pct"].str.fullmatch(r"\d+\.\d").all()
    assert frame["locale"].astype(int).isin(LOCALES).all()
    # comparison schools spread wider than the PL schools, so matching has work to do
    comparison_frl = comparison["frl_pct"].astype(float)
    assert (
        comparison_frl.min() < 40
        and comparison_frl.std() > frl[frame["pl_start_year"].notna()].std()
    )
    assert comparison["locale"].astype(int).ge(21).any()


def test_charter_pl_schools_mostly_have_their_own_lea_district_ones_share(cohort):
    frame = cohort.schools.assign(treated=cohort.schools["pl_start_year"].notna())
    has_comparison = frame.groupby("district_name")["treated"].transform(lambda t: (~t).any())
    pl = frame[frame["treated"]]
    shared = has_comparison[pl.index]
    assert shared[pl["sector"] == "district"].all()
    assert (~shared[pl["sector"] == "charter"]).sum() >= 31 - 3


# ------------------------------------------------------------------------------- exports ---


def test_file_names_headers_and_text_cells(cohort):
    pattern = re.compile(
        r"2022-2023/(AssessmentResults|StudentsBySchool)_[a-z0-9-]+_(Fall|Winter|Spring)"
        r"_2022-2023\.csv"
    )
    assert all(pattern.fullmatch(name) for name in cohort.exports)
    assert any("_Winter_" in name for name in cohort.exports)
    kinds = pd.Series([n.split("/")[1].split("_")[0] for n in cohort.exports]).value_counts()
    assert kinds["AssessmentResults"] == kinds["StudentsBySchool"]
    positions = [LAYOUT_C.index(c) for c in ASSESSMENT_COLUMNS]
    assert positions == sorted(positions)  # a subsequence of layout C, in its order
    for name, table in cohort.exports.items():
        expected = ASSESSMENT_COLUMNS if "/Assessment" in name else STUDENT_COLUMNS
        assert list(table.columns) == list(expected)
        assert all(table[c].dtype == "str" for c in table.columns)
        assert table["TermName"].nunique() == 1 and table["DistrictName"].nunique() == 1


def test_roster_has_the_brief_fields_and_plausible_values(rosters):
    assert {
        "StudentLastName", "StudentFirstName", "StudentMI", "StudentDateOfBirth",
        "StudentEthnicGroup", "StudentGender", "Grade", "District_StateID", "School_StateID",
        "Student_StateID", "NWEAStandard_EthnicGroup", "NWEAStandard_Grade",
    } <= set(rosters.columns)  # fmt: skip
    assert set(rosters["Grade"]) <= {"K", *map(str, range(1, 13))}
    assert set(rosters["StudentGender"]) == {"F", "M"}
    born = pd.to_datetime(rosters["StudentDateOfBirth"], format="%m/%d/%Y")
    grade = rosters["Grade"].replace("K", "0").astype(int)
    age = (pd.Timestamp("2022-09-01") - born).dt.days / 365.25
    assert ((age - grade).between(4.9, 7.1)).all()
    colour = rosters["NWEAStandard_EthnicGroup"].ne("White").mean()
    assert 0.6 < colour < 0.98


def test_student_ids_are_per_district_sequences_that_repeat_across_districts(rosters):
    fall = rosters[rosters["TermName"] == "Fall 2022-2023"]
    assert not fall.duplicated(["DistrictName", "StudentID"]).any()
    districts_per_id = fall.groupby("StudentID")["DistrictName"].nunique()
    assert (districts_per_id > 1).mean() > 0.1
    assert fall["Student_StateID"].is_unique


def test_one_growth_measure_test_per_student_subject_term(graded, tests):
    keys = ["DistrictName", "StudentID", "Course", "TermName"]
    per_slot = tests["GrowthMeasureYN"].eq("TRUE").groupby([tests[k] for k in keys]).sum()
    assert (per_slot == 1).all()
    false_share = tests["GrowthMeasureYN"].eq("FALSE").mean()
    assert 0.045 < false_share < 0.075
    # NWEA's rule picks the TRUE one: the FALSE test has a higher SE, or the same SE and an
    # earlier date, or it fails a screen
    slot = ["DistrictName", "StudentID", "subject", "season"]
    true = graded[graded["growth_measure"]].set_index(slot)[["se", "date"]]
    false = graded[~graded["growth_measure"]].merge(
        true, left_on=slot, right_index=True, suffixes=("", "_true")
    )
    screened = (false["duration"] < 6) | (false["guessing"] >= 30)
    later_or_worse = (false["se"] > false["se_true"]) | (
        (false["se"] == false["se_true"]) & (false["date"] < false["date_true"])
    )
    assert (screened | later_or_worse).all() and screened.any() and (~screened).any()


def test_value_formats(tests):
    assert tests["TestStandardError"].str.fullmatch(r"\d\.\d").all()
    se = tests["TestStandardError"].astype(float)
    assert se.between(1.5, 5.5).all() and 3.0 < se.median() < 3.4
    assert tests["TestRITScore"].astype(int).between(100, 320).all()
    dates = tests["TestStartDate"]
    assert dates.str.fullmatch(r"\d{1,2}/\d{1,2}/20\d\d").all()
    assert dates.str.fullmatch(r"\d{2}/\d{2}/\d{4}").any() and dates.str.match(r"\d/").any()
    assert tests["TestStartTime"].str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d").all()
    guessing = tests["RapidGuessingPercentage"]
    assert {"0", "0.0000"} <= set(guessing)
    assert guessing[~guessing.isin(["0", "0.0000"])].str.fullmatch(r"\d+\.\d{3}").all()
    assert guessing.isin(["0", "0.0000"]).mean() > 0.6
    assert set(tests["GrowthMeasureYN"]) == {"TRUE", "FALSE"}
    assert set(tests["NormsReferenceData"]) == {"2020"}
    assert set(zip(tests["Subject"], tests["Course"], strict=True)) == {
        ("Mathematics", "Math K-12"),
        ("Language Arts", "Reading"),
        ("Language Arts", "Language Usage"),
    }
    assert tests["TestID"].str.fullmatch(r"\d{9}").all() and tests["TestID"].is_unique
    assert tests["PercentCorrect"].astype(int).between(10, 64).all()


def test_realism_rates(tests, rosters):
    duration = tests["TestDurationMinutes"].astype(int)
    guessing = tests["RapidGuessingPercentage"].astype(float)
    short = duration < 6
    assert 0.008 < short.mean() < 0.025 and guessing[short].median() >= 30
    assert 0.012 < (~short & (guessing >= 30)).mean() < 0.03
    assert duration[~short & (guessing < 30)].between(12, 245).all()
    by_student = [tests["DistrictName"], tests["StudentID"]]
    assert 0.03 < tests["Course"].eq("Language Usage").groupby(by_student).any().mean() < 0.07
    student = [rosters["DistrictName"], rosters["StudentID"]]
    seen = pd.crosstab(student, rosters["TermName"]) > 0
    assert len(seen) > 10_000
    # a change of district gives a new StudentID, so such movers add to both shares
    assert 0.05 < (~seen["Spring 2022-2023"]).mean() < 0.11
    assert 0.03 < (~seen["Fall 2022-2023"]).mean() < 0.08
    school = rosters.pivot_table(
        index=student, columns="TermName", values="SchoolName", aggfunc="first"
    )[["Fall 2022-2023", "Spring 2022-2023"]].dropna()
    moved = school["Fall 2022-2023"] != school["Spring 2022-2023"]
    assert 0.015 < moved.mean() < 0.035


def test_test_percentile_and_quintile_follow_the_norms(graded, norms):
    z = norms.z_score(graded["rit"], graded["subject"], graded["grade"], graded["season"])
    assert (graded["TestPercentile"].astype(int) == reported_percentile(z)).all()
    quintile = pd.cut(
        graded["TestPercentile"].astype(int), [0, 20, 40, 60, 80, 99],
        labels=["Low", "LoAvg", "Avg", "HiAvg", "High"],
    ).astype(str)  # fmt: skip
    assert (graded["AchievementQuintile"] == quintile).all()


def test_fall_to_spring_growth_fields(graded, norms, settings):
    fall = graded[(graded["season"] == "fall") & graded["growth_measure"]]
    spring = graded[graded["season"] == "spring"]
    assert fall["FallToSpringObservedGrowth"].isna().all()
    assert fall["TypicalFallToSpringGrowth"].notna().all()
    assert spring["TypicalFallToSpringGrowth"].isna().all()
    keys = ["DistrictName", "StudentID", "subject"]
    rows = spring.merge(fall[[*keys, "rit", "se"]], on=keys, how="left", suffixes=("", "_fall"))
    with_fall = rows["rit_fall"].notna()
    assert (rows["FallToSpringObservedGrowth"].notna() == with_fall).all()
    rows = rows[with_fall]
    observed = rows["FallToSpringObservedGrowth"].astype(int)
    assert (observed == rows["rit"] - rows["rit_fall"]).all()
    se = np.round(np.sqrt(rows["se"] ** 2 + rows["se_fall"] ** 2), 1)
    assert np.allclose(rows["FallToSpringObservedGrowthSE"].astype(float), se, atol=0.051)
    # conditional growth, bivariate-normal form (nwea_formats.md §2)
    grade, subject = rows["grade"], rows["subject"]
    mu1, sd1 = norms.lookup(subject, grade, ["fall"] * len(rows))
    mu2, sd2 = norms.lookup(subject, grade, ["spring"] * len(rows))
    rho = np.where(
        subject == "math",
        np.asarray(settings.rho_math)[grade],
        np.asarray(settings.rho_reading)[grade],
    )
    projected = (mu2 - mu1) + (rho * sd2 / sd1 - 1) * (rows["rit_fall"] - mu1)
    assert (rows["FallToSpringProjectedGrowth"].astype(int) == np.rint(projected)).all()
    cgi = (observed - projected) / (sd2 * np.sqrt(1 - rho**2))
    assert np.allclose(rows["FallToSpringConditionalGrowthIndex"].astype(float), cgi, atol=0.0051)
    cgp = rows["FallToSpringConditionalGrowthPercentile"].astype(int)
    assert (cgp == reported_percentile(cgi.to_numpy())).all()
    met = np.where(observed >= np.rint(projected), "Yes", "No")
    star = np.where(np.abs(observed - np.rint(projected)) < se, "*", "")
    assert (rows["FallToSpringMetProjectedGrowth"] == pd.Series(met + star, index=rows.index)).all()


# ----------------------------------------------------------------------------------- truth ---


def test_truth_sectors_are_the_planted_effects_and_pooled_is_their_mix(cohort):
    for subject, charter, district in (("math", 0.10, 0.05), ("reading", 0.09, 0.0)):
        truth = cohort.truth["effects"][subject]
        assert truth["by_sector"]["charter"]["tau"] == pytest.approx(charter, abs=1e-6)
        assert truth["by_sector"]["district"]["tau"] == pytest.approx(district, abs=1e-6)
        pooled = {"math": 0.09, "reading": 0.07}[subject]
        assert truth["pooled"]["tau"] == pytest.approx(pooled, abs=0.006)
    by_years = cohort.truth["effects"]["math"]["by_years"]
    assert by_years["1"]["tau"] < by_years["2"]["tau"] < by_years["3+"]["tau"]


def test_truth_is_the_mean_over_the_analysable_students_found_in_the_files(cohort, pairs):
    treated = pairs[pairs["treated"]]
    for subject in ("math", "reading"):
        truth = cohort.truth["effects"][subject]
        schools = pd.DataFrame(truth["by_school"].values())
        assert len(schools) == 40
        found = treated[treated["subject"] == subject].groupby(["DistrictName", "SchoolName_f"])
        n = found.size().rename("found").reset_index()
        merged = schools.merge(
            n, left_on=["district_name", "school_name"], right_on=["DistrictName", "SchoolName_f"]
        )
        assert (merged["n"] == merged["found"]).all() and len(merged) == 40
        # a school's truth is all one school-year shows of it: planted effect, its deviation
        # and its growth shock (the baseline gradient averages to zero over its students)
        parts = schools["planted"] + schools["deviation"] + schools["shock"]
        assert np.allclose(schools["tau"], parts, atol=2e-6)
        # pooled and sector truths are the planted effects without deviations or shocks ...
        pooled = np.average(schools["planted"], weights=schools["n"])
        assert truth["pooled"]["tau"] == pytest.approx(pooled, abs=1e-5)
        assert truth["pooled"]["n"] == schools["n"].sum()
        by_sector = schools.groupby("sector").apply(
            lambda g: np.average(g["planted"], weights=g["n"]), include_groups=False
        )
        for sector, value in by_sector.items():
            assert truth["by_sector"][sector]["tau"] == pytest.approx(value, abs=1e-5)
        # ... and the sample truth adds the 40 schools' deviations, not their shocks
        sample = np.average(schools["tau"] - schools["shock"], weights=schools["n"])
        assert truth["sample"]["pooled"]["tau"] == pytest.approx(sample, abs=1e-5)
        # between-school spread of true effects ≈ 0.20 (RAND: half significantly positive)
        assert 0.1 < schools["tau"].std() < 0.3
        n_comparison = (~pairs["treated"] & (pairs["subject"] == subject)).sum()
        assert truth["n_comparison"] == n_comparison


def test_crude_adjusted_difference_is_near_the_planted_effect(cohort, pairs):
    for subject in ("math", "reading"):
        rows = pairs[pairs["subject"] == subject]
        crude = rows.groupby("treated")["residual"].mean()
        difference = crude[True] - crude[False]
        assert difference == pytest.approx(
            cohort.truth["effects"][subject]["pooled"]["tau"], abs=0.03
        )


def test_pl_students_start_near_the_40th_percentile(pairs):
    fall = pairs[pairs["treated"]]["z_fall"].mean()
    assert 35 < reported_percentile(np.array([fall]))[0] < 45
    assert pairs[~pairs["treated"]]["z_fall"].mean() > fall + 0.1


def test_truth_echoes_settings_and_counts(cohort, settings, tests):
    truth = cohort.truth
    assert truth["school_year"] == "2022-2023" and truth["norms_year"] == 2020
    assert truth["settings"]["seed"] == settings.seed
    assert truth["settings"]["charter_effect"] == [0.10, 0.09]
    assert truth["counts"]["assessment_rows"] == len(tests)
    assert truth["counts"]["treated_schools"] == 40


# ------------------------------------------------------------------ determinism, settings ---


def test_same_seed_same_frames_other_seed_other_frames(norms):
    first = simulate_cohort(SimulationSettings(**TINY), norms)
    again = simulate_cohort(SimulationSettings(**TINY), norms)
    other = simulate_cohort(SimulationSettings(**TINY, seed=7), norms)
    assert list(first.exports) == list(again.exports)
    for name, table in first.exports.items():
        pd.testing.assert_frame_equal(table, again.exports[name])
    pd.testing.assert_frame_equal(first.schools, again.schools)
    assert first.truth == again.truth
    assert not first.schools.equals(other.schools)
    assert first.truth["effects"] != other.truth["effects"]


def test_presets_and_invalid_settings():
    national = SimulationSettings.preset("national", seed=3)
    assert national.n_comparison_schools == 4000 and national.seed == 3
    assert SimulationSettings.preset("demo") == SimulationSettings()
    # ½× and 2× national (the growth benchmark): comparison schools scale, PL schools do not
    half, double = (SimulationSettings.preset("national", 3, scale) for scale in (0.5, 2))
    assert (half.n_comparison_schools, double.n_comparison_schools) == (2000, 8000)
    assert half.n_treated_schools == double.n_treated_schools == 40
    assert replace(double, n_comparison_schools=4000) == national
    with pytest.raises(ConfigError, match="simulate scale"):
        SimulationSettings.preset("national", scale=0)
    with pytest.raises(ConfigError, match="simulate.size"):
        SimulationSettings.preset("huge")
    with pytest.raises(ConfigError, match="treated_years"):
        SimulationSettings(treated_years=(10, 10, 10))
    with pytest.raises(ConfigError, match="school_years"):
        SimulationSettings(school_years=("2022-2024",))
    with pytest.raises(ConfigError, match="consecutive"):
        SimulationSettings(school_years=("2020-2021", "2022-2023"))
    assert SimulationSettings.preset("demo", school_years=ONE_YEAR).school_years == ONE_YEAR


def test_population_truth_equals_realised_only_when_recentred():
    from pl_eval import io
    from pl_eval.norms import Norms
    from pl_eval.simulate import SimulationSettings, simulate_cohort

    norms = Norms.from_frame(io.read_norms_table(), 2020)
    base = replace(
        SimulationSettings.preset("demo", 7), n_comparison_schools=20, school_years=ONE_YEAR
    )
    for recentre in (True, False):
        effects = simulate_cohort(replace(base, recentre_school_effects=recentre), norms).truth[
            "effects"
        ]
        for subject in ("math", "reading"):
            realised, population = effects[subject]["sample"], effects[subject]
            gap = abs(realised["pooled"]["tau"] - population["pooled"]["tau"])
            if recentre:
                assert gap < 1e-5
                for group, cell in population["by_sector"].items():
                    assert cell["tau"] == pytest.approx(
                        realised["by_sector"][group]["tau"], abs=1e-5
                    )
            else:
                assert gap > 1e-4  # 40 schools' deviations (SD 0.2) do not average to zero


# ------------------------------------------------ biases an estimator must survive (issue 12) ---


def _growth_tests(cohort, season: str) -> pd.DataFrame:
    """Growth-measure math and reading tests of one season, keyed by district, student and
    subject, with the roster's grade and school."""
    tests = _stack(cohort, "AssessmentResults_")
    term = f"{season} 2022-2023"
    rows = tests[
        tests["GrowthMeasureYN"].eq("TRUE") & tests["Course"].isin(list(COURSES))
        & tests["TermName"].eq(term)
    ]  # fmt: skip
    rosters = _stack(cohort, "StudentsBySchool_")
    grade = rosters.loc[rosters["TermName"] == term, ["DistrictName", "StudentID", "Grade"]]
    rows = rows.merge(grade, on=["DistrictName", "StudentID"], how="left", validate="m:1")
    pl = cohort.schools.loc[
        cohort.schools["pl_start_year"].notna(), ["district_name", "school_name"]
    ]
    pl_keys = set(zip(pl["district_name"], pl["school_name"], strict=True))
    frame = pd.DataFrame(
        {
            "DistrictName": rows["DistrictName"],
            "StudentID": rows["StudentID"],
            "subject": rows["Course"].map(COURSES),
            "school": rows["SchoolName"],
            "treated": [
                k in pl_keys for k in zip(rows["DistrictName"], rows["SchoolName"], strict=True)
            ],
            "grade": rows["Grade"].replace("K", "0").astype(int),
            "rit": rows["TestRITScore"].astype(int),
            "se": rows["TestStandardError"].astype(float),
            "date": pd.to_datetime(rows["TestStartDate"], format="%m/%d/%Y"),
        }
    )
    return frame.set_index(["DistrictName", "StudentID", "subject"]).sort_index()


def _fall_and_spring(cohort) -> pd.DataFrame:
    """Students tested at the same school in fall and spring, one row per subject."""
    both = _growth_tests(cohort, "Fall").join(
        _growth_tests(cohort, "Spring"), how="inner", lsuffix="_f", rsuffix="_s"
    )
    return both[both["school_f"] == both["school_s"]]


def test_observed_scores_carry_measurement_error_drawn_from_each_tests_se(norms):
    on = simulate_cohort(SimulationSettings(**TINY), norms)
    off = simulate_cohort(SimulationSettings(**TINY, measurement_error=False), norms)
    fall = _growth_tests(on, "Fall").join(_growth_tests(off, "Fall"), rsuffix="_off")
    assert len(fall) > 1000
    assert (fall["se"] == fall["se_off"]).all()  # the same tests with the same reported SEs
    error = fall["rit"] - fall["rit_off"]  # true score + N(0, SE²), rounded, minus the true score
    assert error.mean() == pytest.approx(0, abs=0.2)
    # rint(x + e) - rint(x) has variance SE² + 1/6 (two roundings)
    assert (error**2).mean() / ((fall["se"] ** 2).mean() + 1 / 6) == pytest.approx(1, abs=0.1)
    noisy = fall["se"] > fall["se"].median()
    assert error[noisy].var() > error[~noisy].var()


def test_spring_attrition_is_higher_in_pl_schools_and_among_low_scorers(cohort, norms):
    fall = _growth_tests(cohort, "Fall")
    fall = fall.assign(
        z=norms.z_score(
            fall["rit"], fall.index.get_level_values("subject"), fall["grade"], ["fall"] * len(fall)
        )  # fmt: skip
    )
    students = fall.groupby(level=["DistrictName", "StudentID"]).agg(
        z=("z", "mean"), treated=("treated", "first")
    )
    spring = _growth_tests(cohort, "Spring").groupby(level=["DistrictName", "StudentID"]).size()
    students["missing"] = ~students.index.isin(spring.index)
    share = students.groupby("treated")["missing"].mean()
    assert share[True] - share[False] > 0.02  # differential attrition: PL schools lose more
    for _, arm in students.groupby("treated"):
        lost, kept = arm.loc[arm["missing"], "z"], arm.loc[~arm["missing"], "z"]
        assert lost.mean() < kept.mean() - 0.15  # low scorers leave more often


def test_growth_follows_the_norms_week_curve_and_pl_schools_test_further_apart(norms):
    base = _fall_and_spring(
        simulate_cohort(SimulationSettings(**TINY, treated_days_shift=0), norms)
    )
    wide = _fall_and_spring(
        simulate_cohort(SimulationSettings(**TINY, treated_days_shift=30), norms)
    )
    both = base.join(wide, rsuffix="_w", how="inner")
    days = (both["date_s"] - both["date_f"]).dt.days
    extra = (both["date_s_w"] - both["date_f_w"]).dt.days - days
    comparison, pl = both[~both["treated_f"]], both[both["treated_f"]]
    assert (extra[~both["treated_f"]] == 0).all() and (
        comparison["rit_s"] == comparison["rit_s_w"]
    ).all()
    assert extra[both["treated_f"]].between(26, 34).all() and extra[both["treated_f"]].mean() > 28
    subject, grade = pl.index.get_level_values("subject"), pl["grade_f"]
    for term, season, moved in (("f", "fall", -1), ("s", "spring", 1)):
        week = instructional_weeks(pl[f"date_{term}"], season)
        week_w = instructional_weeks(pl[f"date_{term}_w"], season)
        assert (np.sign(week_w - week) == moved).mean() > 0.95  # 15 days earlier / later
        # RIT = μ_w + z·σ_w at the test's own week: the RIT moves with the norms' curve ...
        z = norms.z_at_week(pl[f"rit_{term}"], subject, grade, week)
        mean, sd = norms.at_week(subject, grade, week)
        mean_w, sd_w = norms.at_week(subject, grade, week_w)
        expected = (mean_w + z * sd_w) - (mean + z * sd)
        gained = pl[f"rit_{term}_w"] - pl[f"rit_{term}"]
        assert np.abs(expected).mean() > 0.2  # the curve moves the RIT by a fraction of a point
        # up to the two roundings, and z read from the rounded RIT scales the SD's change
        assert np.abs(gained - expected).max() < 1.05
        assert np.mean(gained - expected) == pytest.approx(0, abs=0.05)
        # ... and the z-score at the test's own week does not (two roundings of half a point)
        z_w = norms.z_at_week(pl[f"rit_{term}_w"], subject, grade, week_w)
        assert np.mean(z_w - z) == pytest.approx(0, abs=0.005)
        assert np.abs(z_w - z).max() < 1 / sd.min() + 1e-9

    # at the seasons' default weeks the PL students' fall-to-spring growth in z rises with the
    # extra 30 days (about 4 weeks of instruction)
    def growth(suffix: str) -> np.ndarray:
        return norms.z_score(pl[f"rit_s{suffix}"], subject, grade, ["spring"] * len(pl)) - (
            norms.z_score(pl[f"rit_f{suffix}"], subject, grade, ["fall"] * len(pl))
        )

    assert np.mean(growth("_w") - growth("")) > 0.03


@pytest.mark.parametrize("level", ["school", "district"])
def test_growth_shocks_hit_both_arms_and_both_subjects_of_a_school(norms, level):
    quiet = dict(school_shock_sd=0.0, district_shock_sd=0.0)
    loud = quiet | {f"{level}_shock_sd": 0.2}
    base = simulate_cohort(SimulationSettings(**TINY, **quiet), norms)
    shocked = simulate_cohort(SimulationSettings(**TINY, **loud), norms)
    both = _fall_and_spring(base).join(_fall_and_spring(shocked), rsuffix="_x", how="inner")
    assert (both["rit_f"] == both["rit_f_x"]).all()
    sd = norms.lookup(
        both.index.get_level_values("subject"), both["grade_f"], ["spring"] * len(both)
    )[1]
    both["shift"] = (both["rit_s_x"] - both["rit_s"]) / sd
    by_school = (
        both.groupby(
            [
                both.index.get_level_values("DistrictName"),
                "school_f",
                both.index.get_level_values("subject"),
            ]
        )["shift"]
        .mean()
        .unstack("subject")
    )
    assert np.allclose(by_school["math"], by_school["reading"], atol=0.03)  # shared by subjects
    arm = both.groupby([both.index.get_level_values("DistrictName"), "school_f"])[
        "treated_f"
    ].first()
    for treated in (True, False):
        assert by_school.loc[arm[arm == treated].index, "math"].std() > 0.08  # in both arms
    district_spread = by_school["math"].groupby(level=0).std().dropna()
    if level == "district":  # schools of a district share its shock
        assert (district_spread < 0.03).all() and len(district_spread) > 0
    truth = pd.DataFrame(shocked.truth["effects"]["math"]["by_school"].values())
    truth = truth.set_index(["district_name", "school_name"])["shock"]
    measured = by_school["math"].reindex(truth.index)
    assert np.allclose(measured, truth, atol=0.03)


def test_all_treated_truth_counts_the_attriters_that_common_support_loses(norms):
    # with a steep baseline gradient the low scorers who leave before spring have larger
    # effects, so the truth over every fall-tested PL student exceeds the analysable one
    steep = simulate_cohort(SimulationSettings(**TINY, baseline_gradient=-0.3), norms)
    for subject in ("math", "reading"):
        pooled = steep.truth["effects"][subject]["pooled"]
        assert pooled["n_all_treated"] > pooled["n"]
        assert pooled["all_treated"] - pooled["tau"] > 0.005
        for cell in steep.truth["effects"][subject]["by_school"].values():
            assert {"tau", "all_treated", "n_all_treated", "planted", "deviation", "shock",
                    "centre"} <= set(cell)  # fmt: skip
