"""Attrition between fall and spring: rates on a hand-made panel, the WWC cautious boundary,
lost against kept students, and Lee bounds computed by hand."""

import numpy as np
import pandas as pd
import pytest

from pl_eval import io
from pl_eval.estimation.attrition import (
    AdjustedOutcome,
    attrition_rates,
    lee_bounds,
    lee_interval,
    lost_vs_kept,
    trimmed_mean,
)
from pl_eval.estimation.errors import EstimationError
from pl_eval.norms import Norms
from pl_eval.panel import LOST_COLUMNS, build_panel

NORMS = Norms.from_frame(io.read_norms_table(), 2020)
YEAR = "2022-2023"


def exam(key, season, school, rit, subject="math"):
    return {
        "student_key": key, "district": "D1", "school": school, "term_name": f"{season} {YEAR}",
        "season": season, "school_year": YEAR, "subject": subject,
        "test_date": pd.Timestamp("2022-09-15" if season == "fall" else "2023-05-01"),
        "rit": float(rit), "se": 3.1, "grade": 3, "gender": "F", "ethnicity": "White",
    }  # fmt: skip


@pytest.fixture(scope="module")
def panel():
    """PL One: 10 students tested in the fall, 2 without a spring test, 1 who moved to Plain
    (3 lost of 10); Plain: 20 tested in the fall, 2 without a spring test (2 of 20)."""
    rows = []
    for i in range(10):
        rows.append(exam(f"p{i}", "fall", "PL One", 180 + i))
        if i >= 3:
            rows.append(exam(f"p{i}", "spring", "PL One", 195 + i))
    rows.append(exam("p2", "spring", "Plain", 195))  # p2 moved: changed_school
    for i in range(20):
        rows.append(exam(f"c{i}", "fall", "Plain", 170 + i))
        if i >= 2:
            rows.append(exam(f"c{i}", "spring", "Plain", 185 + i))
    schools = pd.DataFrame(
        {
            "district_name": ["D1", "D1"], "school_name": ["PL One", "Plain"],
            "nces_id": [pd.NA] * 2, "sector": ["charter", "district"],
            "pl_start_year": pd.array([2022, pd.NA], dtype="Int64"), "frl_pct": [80.0, 40.0],
            "locale": pd.array([11, 21], dtype="Int64"), "locale_group": ["city", "suburb"],
        }
    )  # fmt: skip
    return build_panel(pd.DataFrame(rows).astype({"grade": "Int64"}), schools, NORMS)


def test_the_panel_keeps_the_lost_students_baseline_without_ids(panel):
    lost = panel.lost_students
    assert list(lost.columns) == LOST_COLUMNS and "student_key" not in lost
    assert lost.groupby(["arm", "reason"]).size().to_dict() == {
        ("comparison", "no_spring"): 2, ("treated", "changed_school"): 1,
        ("treated", "no_spring"): 2,
    }  # fmt: skip
    # their fall z-scores are the norms' (grade 3 fall: mean 188.48, SD 13.46)
    treated = lost[lost["arm"] == "treated"].sort_values("fall_z")
    assert treated["fall_z"].to_numpy() == pytest.approx((np.array([180, 181, 182]) - 188.48)
                                                        / 13.46, abs=1e-9)  # fmt: skip
    assert set(lost["frl_pct"]) == {80.0, 40.0}


def test_rates_on_the_hand_made_panel_against_the_cautious_boundary(panel):
    rates = attrition_rates(panel.exclusions).set_index("subject")
    math = rates.loc["math"]
    assert (math["n_treated"], math["n_treated_lost"]) == (10, 3)
    assert (math["n_comparison"], math["n_comparison_lost"]) == (20, 2)
    assert math["treated_rate"] == pytest.approx(0.3)
    assert math["comparison_rate"] == pytest.approx(0.1)
    assert math["overall_rate"] == pytest.approx(5 / 30)
    assert math["differential"] == pytest.approx(0.2)
    # overall 16.7% rounds to 17%: the cautious boundary allows 5.8 points; 20 is high
    assert math["max_differential"] == pytest.approx(0.058)
    assert math["wwc_attrition"] == "high" and math["boundary"] == "cautious"
    reading = rates.loc["reading"]
    assert reading["wwc_attrition"] == "not computable"
    assert reading["note"] == "no PL and comparison students tested in the fall"


def _flow(lost_t, n_t, lost_c, n_c):
    return pd.DataFrame(
        {
            "subject": "math", "arm": ["treated"] * 2 + ["comparison"] * 2,
            "reason": ["no_spring", "paired"] * 2,
            "n_students": [lost_t, n_t - lost_t, lost_c, n_c - lost_c],
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flow", "verdict", "limit"),
    [
        (_flow(0, 1000, 57, 1000), "low", 0.059),  # overall 2.85% -> 3%: 5.9 points allowed
        (_flow(0, 1000, 60, 1000), "high", 0.059),  # 3% overall, 6.0 points: high
        (_flow(600, 1000, 560, 1000), "high", np.nan),  # 58% overall: high whatever
    ],
)
def test_wwc_cautious_boundary_edges(flow, verdict, limit):
    row = attrition_rates(flow).iloc[0]
    assert row["wwc_attrition"] == verdict
    assert row["max_differential"] == pytest.approx(limit, nan_ok=True)


def test_lost_and_kept_students_standardised_difference(panel):
    table = lost_vs_kept(panel.data, panel.lost_students).set_index(["subject", "arm",
                                                                     "covariate"])  # fmt: skip
    row = table.loc[("math", "treated", "fall_z")]
    lost = (np.array([180, 181, 182]) - 188.48) / 13.46
    kept = (np.arange(183, 190) - 188.48) / 13.46
    spread = np.sqrt((lost.var(ddof=1) + kept.var(ddof=1)) / 2)
    assert (row["n_lost"], row["n_kept"]) == (3, 7)
    assert row["smd"] == pytest.approx((lost.mean() - kept.mean()) / spread)
    frl = table.loc[("math", "treated", "frl_pct")]
    assert np.isnan(frl["smd"]) and frl["note"] == "no variation"


def test_trimmed_mean_removes_exactly_the_share_of_weight():
    values, ones = np.array([3.0, 1.0, 4.0, 2.0]), np.ones(4)
    # remove 30% of 4 = 1.2 from the top: 4 goes, 3 keeps 0.8 of its weight
    assert trimmed_mean(values, ones, 0.3, top=True) == pytest.approx((1 + 2 + 3 * 0.8) / 2.8)
    assert trimmed_mean(values, ones, 0.5, top=False) == pytest.approx(3.5)
    # a weight of 2 on the 4: removing 25% of 5 = 1.25 takes 1.25 of its 2
    weights = np.array([1.0, 1.0, 2.0, 1.0])
    assert trimmed_mean(values, weights, 0.25, top=True) == pytest.approx(
        (3 + 1 + 4 * 0.75 + 2) / 3.75
    )


def test_lee_bounds_by_hand():
    # PL 1..10 (all kept: retention 1.0), comparison 0, 2, 4, 6 (retention 0.8): trim PL by
    # (1.0 - 0.8)/1.0 = 20%: without 9 and 10 the PL mean is 4.5, without 1 and 2 it is 6.5
    outcome = np.array([*range(1, 11), 0, 2, 4, 6], dtype=float)
    treated = np.array([True] * 10 + [False] * 4)
    bounds = lee_bounds(outcome, treated, np.ones(14), (1.0, 0.8))
    assert bounds.estimate == pytest.approx(5.5 - 3)
    assert (bounds.lower, bounds.upper) == (pytest.approx(1.5), pytest.approx(3.5))
    assert bounds.trimmed_arm == "treated" and bounds.trim_share == pytest.approx(0.2)
    # the comparison group kept more: trim it by (0.9 - 0.6)/0.9 = 1/3 of its weight (weights
    # 1, 1, 1: one whole student); without its 6 the mean is 2, without its 0 it is 4
    outcome = np.array([5.0, 7.0, 0.0, 2.0, 4.0, 6.0])
    treated = np.array([True, True, False, False, False, False])
    weights = np.array([1.0, 1.0, 0.75, 0.75, 0.75, 0.75])
    bounds = lee_bounds(outcome, treated, weights, (0.6, 0.9))
    assert bounds.trimmed_arm == "comparison" and bounds.trim_share == pytest.approx(1 / 3)
    # 1/3 of weight 3.0 is 1.0: the 6 (0.75) and a quarter of the 4's (0.25) go from the top
    top = (0 * 0.75 + 2 * 0.75 + 4 * 0.5) / 2.0
    bottom = (6 * 0.75 + 4 * 0.75 + 2 * 0.5) / 2.0
    assert bounds.lower == pytest.approx(6 - bottom) and bounds.upper == pytest.approx(6 - top)
    assert bounds.estimate == pytest.approx(6 - 3)


def test_equal_retention_gives_the_estimate_and_bad_rates_are_refused():
    outcome, treated = np.array([1.0, 2.0, 0.0]), np.array([True, True, False])
    bounds = lee_bounds(outcome, treated, np.ones(3), (0.9, 0.9))
    assert bounds.lower == bounds.upper == bounds.estimate == 1.5
    with pytest.raises(EstimationError, match=r"retention rates must be in \(0, 1\]"):
        lee_bounds(outcome, treated, np.ones(3), (0.0, 0.9))


def test_lee_bounds_of_the_pooled_estimate_reproduce_it_untrimmed():
    from test_sensitivity import _matched

    from pl_eval.estimation import EstimateConfig, estimate_cohort
    from pl_eval.estimation.attrition import lee_table

    samples = {"math": _matched(seed=7)}
    config = EstimateConfig(covariates=("fall_z", "frl_pct"))
    estimates = estimate_cohort(samples, config).estimates
    pooled = estimates[estimates["scope"] == "pooled"].iloc[0]
    rates = attrition_rates(_flow(50, 500, 10, 500))  # PL lost 10%, comparison 2%
    row = lee_table(samples, estimates, rates, config).iloc[0]
    assert row["note"] == "no interval: no school counts"
    assert row["estimate"] == pooled["estimate"]
    assert row["trimmed_arm"] == "comparison"
    assert row["trim_share"] == pytest.approx((0.98 - 0.90) / 0.98)
    assert row["lower"] < pooled["estimate"] < row["upper"]
    same = lee_table(samples, estimates, attrition_rates(_flow(10, 500, 10, 500)), config)
    assert same.loc[0, "lower"] == pytest.approx(pooled["estimate"], abs=1e-12)
    assert same.loc[0, "upper"] == pytest.approx(pooled["estimate"], abs=1e-12)


def test_school_bootstrap_of_identical_schools_gives_the_bounds_themselves():
    """Three PL schools each with students 1, 2, 3, 4 (and one lost: retention 0.8), three
    comparison schools each with 0, 1, 2 (none lost): every draw has the same distributions
    and retention, so every replicate's bounds are the bounds. Trimming 20% of the comparison
    weight (1.8 of 9) from the top leaves mean (3 + 2 x 1.2)/7.2 = 0.75, from the bottom
    (3 + 6)/7.2 = 1.25; the PL mean is 2.5: bounds 1.25 to 1.75."""
    schools = [f"D\x1fP{i}" for i in range(3)] + [f"D\x1fC{i}" for i in range(3)]
    outcome = AdjustedOutcome(
        values=np.array([1.0, 2, 3, 4] * 3 + [0.0, 1, 2] * 3),
        treated=np.array([True] * 12 + [False] * 9),
        weights=np.ones(21),
        schools=np.array(
            [s for s in schools[:3] for _ in range(4)] + [s for s in schools[3:] for _ in range(3)]
        ),  # fmt: skip
    )
    counts = pd.DataFrame(
        {"subject": "math", "arm": ["treated"] * 3 + ["comparison"] * 3, "school_id": schools,
         "kept": [4] * 3 + [3] * 3, "lost": [1] * 3 + [0] * 3}
    )  # fmt: skip
    low, high, reps = lee_interval(outcome, counts, reps=50, seed=1)
    assert (low, high, reps) == (pytest.approx(1.25), pytest.approx(1.75), 50)
    bounds = lee_bounds(outcome.values, outcome.treated, outcome.weights, (0.8, 1.0))
    assert (bounds.lower, bounds.upper) == (pytest.approx(1.25), pytest.approx(1.75))


def test_school_bootstrap_is_reproducible_and_wider_than_the_bounds():
    rng = np.random.default_rng(3)
    schools = np.repeat([f"D\x1fS{i}" for i in range(20)], 30)
    treated = np.repeat(np.arange(20) < 10, 30)
    outcome = AdjustedOutcome(
        values=rng.normal(0, 1, 600) + 0.2 * treated + np.repeat(rng.normal(0, 0.3, 20), 30),
        treated=treated, weights=np.ones(600), schools=schools,
    )  # fmt: skip
    counts = pd.DataFrame(
        {"subject": "math", "arm": np.where(np.arange(20) < 10, "treated", "comparison"),
         "school_id": [f"D\x1fS{i}" for i in range(20)], "kept": 30,
         "lost": rng.integers(0, 8, 20)}
    )  # fmt: skip
    first = lee_interval(outcome, counts, reps=200, seed=7)
    assert first == lee_interval(outcome, counts, reps=200, seed=7)
    kept = counts.groupby("arm")[["kept", "lost"]].sum()
    retention = tuple(kept.loc[a, "kept"] / kept.loc[a].sum() for a in ("treated", "comparison"))
    bounds = lee_bounds(outcome.values, outcome.treated, outcome.weights, retention)
    assert first[0] < bounds.lower <= bounds.upper < first[1] and first[2] == 200


def test_a_student_whose_school_has_no_counts_stops_the_bootstrap():
    outcome = AdjustedOutcome(np.zeros(2), np.array([True, False]), np.ones(2),
                              np.array(["a", "b"]))  # fmt: skip
    counts = pd.DataFrame({"subject": "math", "arm": ["treated"], "school_id": ["a"],
                           "kept": [1], "lost": [0]})  # fmt: skip
    with pytest.raises(EstimationError, match="an analysed student's school has no kept"):
        lee_interval(outcome, counts)
