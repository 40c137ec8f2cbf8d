"""Several school years on hand-made cohorts: the analyses a list of years gives, each PL
student's exposure, the placebo's arms and exclusions, and the errors a bad selector gets."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pl_eval import io, stages
from pl_eval.config import check_config
from pl_eval.errors import ConfigError
from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.cohort import NO_TEST
from pl_eval.ingest.pseudonym import student_keys
from pl_eval.norms import Norms
from pl_eval.panel import build_panel
from pl_eval.years import (
    PLACEBO_ARM,
    PLACEBO_REASON,
    exposure,
    exposure_labels,
    main_year,
    parse_analysis,
    placebo_panel,
    placebo_schools,
    year_analyses,
    year_problems,
)

NORMS = Norms.from_frame(io.read_norms_table(), 2020)
YEARS = ["2020-2021", "2021-2022", "2022-2023"]


@pytest.fixture
def schools():
    return pd.DataFrame(
        {
            "district_name": ["D1", "D1", "D1", "D1", "D2", "D2"],
            "school_name": ["Early PL", "Next PL", "Late PL", "Never", "Other PL", "Other Never"],
            "nces_id": [pd.NA] * 6,
            "sector": ["district"] * 6,
            "pl_start_year": pd.array([2020, 2021, 2022, pd.NA, 2019, pd.NA], dtype="Int64"),
            "frl_pct": [60.0] * 6,
            "locale": pd.array([11] * 6, dtype="Int64"),
            "locale_group": ["city"] * 6,
        }
    )


def exam(key, year, season, school, *, district="D1", grade=3, rit=200.0, subject="math"):
    fall = int(year[:4])
    return {
        "student_key": key,
        "district": district,
        "school": school,
        "season": season,
        "school_year": year,
        "subject": subject,
        "grade": grade,
        "gender": "F",
        "ethnicity": "White",
        "test_date": pd.Timestamp(f"{fall}-09-15" if season == "fall" else f"{fall + 1}-05-01"),
        "rit": rit,
        "se": 3.0,
    }


def frame(rows):
    return pd.DataFrame(rows).astype({"grade": "Int64"})


def moves():
    """Students followed over three years: (fall, spring) tests per year at one school."""
    schools_by_year = {
        "stay": ["Early PL", "Early PL", "Early PL"],  # PL all three years: 3+
        "into_pl": ["Never", "Next PL", "Early PL"],  # PL in 2021 and 2022: 2
        "out_and_back": ["Early PL", "Never", "Late PL"],  # PL in 2020 and 2022: 2
        "comparison": ["Never", "Never", "Never"],  # never in a PL school
        "new": [None, None, "Late PL"],  # arrives in 2022, Late PL's first year: 1
    }
    rows = []
    for key, places in schools_by_year.items():
        for grade, (year, school) in enumerate(zip(YEARS, places, strict=True), start=3):
            if school is not None:
                rows += [exam(key, year, s, school, grade=grade) for s in ("fall", "spring")]
    # a winter test alone makes a year: 2020-2021 at Early PL, then 2022-2023 at Never
    rows += [exam("winter_only", "2020-2021", "winter", "Early PL", grade=3)]
    rows += [exam("winter_only", "2022-2023", s, "Never", grade=5) for s in ("fall", "spring")]
    return frame(rows)


def test_exposure_counts_own_school_years_in_a_pl_school(schools):
    counts = exposure(moves(), schools, "2022-2023")
    assert counts.to_dict() == {
        "into_pl": 2, "new": 1, "out_and_back": 2, "stay": 3, "winter_only": 1,
    }  # fmt: skip
    # up to and including the spring year only: 2022-2023 does not count for 2021-2022
    assert exposure(moves(), schools, "2021-2022").to_dict() == {
        "into_pl": 1, "out_and_back": 1, "stay": 2, "winter_only": 1,
    }  # fmt: skip


def test_the_panel_labels_pl_students_exposure_and_leaves_comparison_students_without(schools):
    panel = build_panel(moves(), schools, NORMS, school_year="2022-2023")
    data = panel.data.set_index("student_key")
    assert data["exposure"].dropna().to_dict() == {
        "into_pl": "2", "new": "1", "out_and_back": "2", "stay": "3+",
    }  # fmt: skip
    assert data.loc[["comparison", "winter_only"], "exposure"].isna().all()
    assert not data.loc[["comparison", "winter_only"], "treated"].any()


def test_a_student_who_changes_district_starts_again(schools):
    # keys are a keyed hash of (district, ID): ID 42 in D2 and ID 42 in D1 are two students
    ids = pd.Series(["42", "42", "42"])
    keys = student_keys(pd.Series(["D2", "D2", "D1"]), ids, "0123456789abcdef").astype(str)
    rows = [
        exam(keys[0], "2020-2021", "fall", "Other PL", district="D2"),
        exam(keys[1], "2021-2022", "fall", "Other PL", district="D2", grade=4),
        exam(keys[2], "2022-2023", "fall", "Early PL", grade=5),
        exam(keys[2], "2022-2023", "spring", "Early PL", grade=5),
    ]
    panel = build_panel(frame(rows), schools, NORMS, school_year="2022-2023")
    assert panel.data["exposure"].tolist() == ["1"]  # the D2 years are another student's
    assert exposure(frame(rows), schools, "2022-2023").to_dict() == {keys[0]: 2, keys[2]: 1}


def test_span_keeps_movers_under_their_fall_school_and_counts_exposure_to_its_spring(schools):
    panel = build_panel(moves(), schools, NORMS, school_year="2020-2021", spring_year="2021-2022")
    data = panel.data.set_index("student_key")
    # into_pl: fall 2020 at Never (comparison) though at Next PL by spring 2022
    assert data.loc["into_pl", ["school", "treated"]].tolist() == ["Never", False]
    assert data.loc["out_and_back", ["school", "treated"]].tolist() == ["Early PL", True]
    assert data.loc["out_and_back", "grade"] == 3  # the fall grade; spring normed at grade 4
    assert data["exposure"].dropna().to_dict() == {"out_and_back": "1", "stay": "2"}


def placebo_cohort():
    """2020-2021, two students per school, fall and spring, plus one rejected-only student."""
    rows = []
    names = ["Early PL", "Next PL", "Late PL", "Never", "Other PL", "Other Never"]
    for i, school in enumerate(names):
        district = "D2" if school.startswith("Other") else "D1"
        for j in range(2):
            key = f"s{i}{j}"
            rows += [
                exam(key, "2020-2021", s, school, district=district, rit=190.0 + 5 * j)
                for s in ("fall", "spring")
            ]
    return frame(rows)


def test_placebo_treats_next_years_adopters_against_never_pl_schools(schools):
    fall = 2020
    panel = build_panel(
        placebo_cohort(), placebo_schools(schools, fall), NORMS, school_year="2020-2021"
    )
    panel = placebo_panel(panel, schools, fall)
    data = panel.data
    treated = data[data["treated"]]
    assert sorted(set(treated["school"])) == ["Next PL"]  # adopts in 2021: the year after
    assert sorted(set(data.loc[~data["treated"], "school"])) == ["Never", "Other Never"]
    assert treated["pl_start_year"].tolist() == [2021, 2021]  # its real start, kept
    assert data["years_pl"].isna().all() and data["exposure"].isna().all()
    flow = panel.exclusions
    math = flow[(flow["subject"] == "math") & (flow["n_students"] > 0)]
    counts = {(r.arm, r.reason): r.n_students for r in math.itertuples()}
    # Early PL (PL since 2020), Late PL (2022) and Other PL (2019): 3 schools x 2 students
    assert counts == {
        ("treated", "paired"): 2,
        ("comparison", "paired"): 4,
        (PLACEBO_ARM, PLACEBO_REASON): 6,
    }
    assert "not_yet_pl" not in set(flow["arm"])


def test_placebo_stage_writes_the_relabelled_flow(tmp_path, schools):
    paths = {name: tmp_path / f"{name}.parquet" for name in ("scores", "rejects", "schools")}
    scores = placebo_cohort()
    io.write_parquet(scores, paths["scores"])
    io.write_parquet(scores.head(0)[["student_key", "district", "school", "season",
                                     "school_year", "subject"]], paths["rejects"])  # fmt: skip
    io.write_parquet(schools, paths["schools"])
    out = {"panel": tmp_path / "panel.parquet", "exclusions": tmp_path / "exclusions.csv"}
    stages.build_panel(
        **paths, **out, settings={"norms_week": "default"}, school_year="2020-2021", placebo=True
    )
    flow = pd.read_csv(out["exclusions"])
    excluded = flow[(flow["arm"] == PLACEBO_ARM) & (flow["reason"] == PLACEBO_REASON)]
    assert excluded.set_index("subject")["n_students"].to_dict() == {"math": 6, "reading": 0}
    assert io.read_parquet(out["panel"])["treated"].sum() == 2


def test_a_multi_year_cohort_names_its_years_spans_and_placebos():
    names = [a.name for a in year_analyses("demo", YEARS)]
    assert names == [
        "demo@2020-2021", "demo@2021-2022",  # the last year is "demo" itself
        "demo@2020-2022", "demo@2021-2023", "demo@2020-2023",
        "demo@placebo-2020-2021", "demo@placebo-2021-2022",
    ]  # fmt: skip
    assert year_analyses("demo", "2022-2023") == [] and year_analyses("demo", None) == []
    assert main_year(YEARS) == "2022-2023" and main_year("2014-2015") == "2014-2015"


@pytest.mark.parametrize(
    ("name", "fall", "spring", "kind", "n_years"),
    [
        ("demo@2020-2021", "2020-2021", "2020-2021", "year", 1),
        ("demo@2020-2023", "2020-2021", "2022-2023", "span", 3),
        ("my.cohort@placebo-2021-2022", "2021-2022", "2021-2022", "placebo", 1),
    ],
)
def test_selector_parses_round_trip(name, fall, spring, kind, n_years):
    analysis = parse_analysis(name)
    assert (analysis.fall, analysis.spring, analysis.kind, analysis.n_years) == (
        fall, spring, kind, n_years,
    )  # fmt: skip
    assert analysis.name == name


@pytest.mark.parametrize(
    "name", ["demo@2022-2020", "demo@2020-2020", "demo@placebo-2020-2022", "demo@2020", "demo@x"]
)
def test_bad_selector_is_one_line(name):
    with pytest.raises(ConfigError) as error:
        parse_analysis(name)
    assert "\n" not in str(error.value) and str(error.value).startswith(f"{name!r}: expected")
    assert parse_analysis("demo") is None


def test_listed_years_must_be_consecutive_school_years():
    assert year_problems({"a": YEARS, "b": "2014-2015", "c": ["2014-2015"]}) == []
    assert year_problems({"demo": ["2020-2021", "2022-2023"]}) == [
        "school_years.demo: '2020-2021' is followed by '2022-2023'; expected consecutive "
        "school years in order ('2021-2022' next)"
    ]
    assert year_problems({"demo": "2020-2022"}) == [
        "school_years.demo: '2020-2022' is not a school year; expected '2020-2021' (a fall and "
        "the spring after it)"
    ]


def test_config_check_names_the_gap(tmp_path):
    schema = io.read_yaml("config/schema.yaml")
    config = io.read_yaml("config/config.yaml")
    assert config["school_years"]["demo"] == YEARS
    check_config(config, schema)
    config["school_years"] = {"demo": ["2021-2022", "2020-2021"]}
    with pytest.raises(ConfigError, match=r"^config/config.yaml: school_years.demo: '2021-2022' "
                       r"is followed by '2020-2021'; expected consecutive"):  # fmt: skip
        check_config(config, schema)


def test_placebo_over_two_years_is_one_line_and_non_zero(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pl_eval", "build-panel", "--scores", "s", "--rejects", "r",
         "--schools", "x", "--panel", "p", "--exclusions", "e", "--school-year", "2020-2021",
         "--spring-year", "2021-2022", "--placebo"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode != 0
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith("build_panel: a placebo takes one --school-year and no later spring")
    )
    assert "Traceback" not in run.stderr


def exposure_sample(effects: dict[str, float], seed: int = 5):
    """12 PL schools whose students have 1, 2 or 3+ years of exposure (a third each, within
    every school), effect ``effects[group]``; each matched 2:1 to comparison students."""
    rng = np.random.default_rng(seed)
    rows, pairs = [], []
    groups = list(effects)
    for s in range(12):
        for i in range(90):
            group = groups[i % len(groups)]
            fall = rng.normal(0, 1)
            key = f"t{s}-{i}"
            rows.append({"student_key": key, "district": "D", "school": f"PL {s}",
                         "treated": True, "exposure": group, "fall_z": fall,
                         "spring_z": 0.9 * fall + effects[group] + rng.normal(0, 0.4),
                         "weight": 1.0})  # fmt: skip
            for slot in (1, 2):
                ckey = f"c{s}-{i}-{slot}"
                cfall = fall + rng.normal(0, 0.05)
                spring = 0.9 * cfall + rng.normal(0, 0.4)
                rows.append({"student_key": ckey, "district": "D", "school": f"C {(s + slot) % 9}",
                             "treated": False, "exposure": pd.NA, "fall_z": cfall,
                             "spring_z": spring, "weight": 0.5})  # fmt: skip
                pairs.append({"treated_key": key, "slot": slot, "control_key": ckey})
    data = pd.DataFrame(rows).assign(sector="district", years_pl="1", grade_band="K-5")
    data["fall_pct"] = 100 * norm.cdf(data["fall_z"])
    data["spring_pct"] = 100 * norm.cdf(data["spring_z"])
    return data.astype({"exposure": "string"}), pd.DataFrame(pairs)


def test_exposure_breakout_recovers_each_groups_effect_and_tests_the_difference():
    planted = {"1": 0.1, "2": 0.3, "3+": 0.5}
    result = estimate_cohort({"math": exposure_sample(planted)}, EstimateConfig())
    rows = result.estimates[result.estimates["scope"] == "exposure"].set_index("group")
    assert list(rows.index) == ["1", "2", "3+"]
    for group, tau in planted.items():
        assert rows.loc[group, "ci_low"] < tau < rows.loc[group, "ci_high"]
        assert rows.loc[group, "n_treated"] == 12 * 30
    test = result.tests.set_index("scope").loc["exposure"]
    assert test["groups"] == "1, 2, 3+" and test["df"] == 2 and test["p_value"] < 0.001


def test_one_exposure_group_gets_no_test():
    # a one-year cohort: every PL student is in their first year in a PL school
    result = estimate_cohort({"math": exposure_sample({"1": 0.2})}, EstimateConfig())
    test = result.tests.set_index("scope").loc["exposure"]
    assert np.isnan(test["p_value"]) and test["note"] == NO_TEST
    rows = result.estimates[result.estimates["scope"] == "exposure"].set_index("group")
    assert rows.loc["2", "note"] == "no PL students" and np.isfinite(rows.loc["1", "estimate"])


def test_placebo_without_next_year_adopters_runs_to_estimates_that_say_so(tmp_path, schools):
    # No school starts PL in 2023: the placebo on 2022-2023 has no PL students, and every
    # stage still writes its files, the estimates saying why there is no number.
    scores = placebo_cohort().assign(school_year="2022-2023")
    scores["test_date"] = scores["test_date"] + pd.DateOffset(years=2)
    paths = {name: tmp_path / f"{name}.parquet" for name in ("scores", "rejects", "schools")}
    io.write_parquet(scores, paths["scores"])
    io.write_parquet(scores.head(0)[["student_key", "district", "school", "season",
                                     "school_year", "subject"]], paths["rejects"])  # fmt: skip
    io.write_parquet(schools, paths["schools"])
    panel = tmp_path / "panel.parquet"
    stages.build_panel(**paths, panel=panel, exclusions=tmp_path / "exclusions.csv",
                       settings={}, school_year="2022-2023", placebo=True)  # fmt: skip
    assert not io.read_parquet(panel)["treated"].any()
    settings = {"covariates": ["fall_z"], "exact": [], "ratio": 1}
    names = {"matched": "m.parquet", "pairs": "p.parquet", "propensity": "s.parquet",
             "balance": "b.csv", "summary": "s.json", "love_plot": "l.png",
             "overlap_plot": "o.png"}  # fmt: skip
    out = {k: tmp_path / name for k, name in names.items()}
    stages.match(panel=panel, subject="math", settings=settings, **out)
    estimates = tmp_path / "estimates.parquet"
    stages.estimate(subjects=["math"], matched=[out["matched"]], pairs=[out["pairs"]],
                    estimates=estimates, breakout_tests=tmp_path / "tests.parquet",
                    trajectory=tmp_path / "trajectory.parquet", settings={})  # fmt: skip
    pooled = io.read_parquet(estimates).query("scope == 'pooled'").iloc[0]
    assert np.isnan(pooled["estimate"]) and pooled["note"].startswith("no PL students")


def test_exposure_labels_by_each_students_count():
    # Looked up by Arrow's hash (not pandas' map): a PL student's count as its label, a student
    # without a PL year (or without a key) no label, a comparison student none at all.
    counts = pd.Series([5, 1, 2], index=pd.Index(["c", "a", "b"], name="student_key"))
    data = pd.DataFrame(
        {
            "student_key": pd.array(["a", "b", "c", "d", None, "a"], dtype="str"),
            "treated": [True, True, True, True, True, False],
        }
    )
    labels = exposure_labels(data, counts)
    assert labels.dtype == "string"
    assert list(labels.fillna("-")) == ["1", "2", "3+", "-", "-", "-"]
    as_object = data.assign(student_key=data["student_key"].astype(object))
    pd.testing.assert_series_equal(exposure_labels(as_object, counts), labels)
