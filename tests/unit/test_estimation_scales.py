"""Issue 12: percentile points at each row's own comparison average, the minimum detectable
effect beside every estimate, and the school-weighted pooled effect beside the student-weighted
one, on hand-computed numbers and a planted cohort with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.cohort import ESTIMATE_COLUMNS, POOLED_SCHOOLS, school_weights
from pl_eval.estimation.power import minimum_detectable_effect
from pl_eval.norms import percentile_points


def test_percentile_points_at_the_30th_percentile_by_hand():
    # Φ⁻¹(0.30) = −0.5244; −0.5244 + 0.2 = −0.3244; Φ(−0.3244) = 0.37282: 37.28 − 30 = 7.28
    assert percentile_points(0.2, at=30) == pytest.approx(7.2817, abs=1e-4)
    # at the national median it is RAND's 100·(Φ(0.2) − 0.5) = 7.93, the default
    assert percentile_points(0.2) == pytest.approx(7.9260, abs=1e-4)
    assert percentile_points(0.2, at=50) == pytest.approx(percentile_points(0.2), abs=1e-12)
    # row by row, a missing effect or base gives NaN
    got = percentile_points(pd.Series([0.2, 0.2, np.nan]), at=pd.Series([30.0, np.nan, 30.0]))
    np.testing.assert_allclose(got, [7.2817, np.nan, np.nan], atol=1e-4)
    # a negative effect at the 30th percentile: Φ(−0.7244) = 0.23441, so −6.56 points
    assert percentile_points(-0.2, at=30) == pytest.approx(-6.5590, abs=1e-4)


def test_minimum_detectable_effect_by_hand():
    # t(0.975, 10) = 2.228139, t(0.80, 10) = 0.879058: (2.228139 + 0.879058) × 0.05 = 0.155360
    assert minimum_detectable_effect(0.05, 10) == pytest.approx(0.155360, abs=1e-6)
    # normal (df inf): (1.959964 + 0.841621) × 0.1 = 0.280159
    assert minimum_detectable_effect(0.1, np.inf) == pytest.approx(0.280159, abs=1e-6)
    got = minimum_detectable_effect(pd.Series([0.05, np.nan, 0.05]), pd.Series([10, 10, np.nan]))
    np.testing.assert_allclose(got, [0.155360, np.nan, np.nan], atol=1e-6)


#: Each block of 8 students: four fall scores, each twice, once with +0.1 and once with −0.1
#: added to the spring score of the student and of their match (orthogonal to fall and school,
#: so the regression recovers the weighted mean of the schools' effects exactly).
FALL = [-1.5, -1.0, -0.5, 0.0] * 2
NOISE = [0.1] * 4 + [-0.1] * 4
BIG_EFFECT = 0.5


def planted(sizes: tuple[int, ...] = (40, 8, 8, 8)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PL school 0 gains BIG_EFFECT, the others nothing; each PL student matched 1:1 to a
    comparison student with the same fall score, in one of four comparison schools."""
    rows, pairs = [], []
    for s, size in enumerate(sizes):
        effect = BIG_EFFECT if s == 0 else 0.0
        for i in range(size):
            fall, noise = FALL[i % 8], NOISE[i % 8]
            common = {"district": "D", "fall_z": fall, "grade_band": "K-5", "years_pl": "1"}
            rows.append(
                common | {"student_key": f"t{s}-{i}", "school": f"PL {s}", "treated": True,
                          "sector": "charter", "spring_z": fall + noise + effect}
            )  # fmt: skip
            rows.append(
                common | {"student_key": f"c{s}-{i}", "school": f"C {i % 4}", "treated": False,
                          "sector": "district", "spring_z": fall + noise}
            )  # fmt: skip
            pairs.append({"treated_key": f"t{s}-{i}", "slot": 1, "control_key": f"c{s}-{i}"})
    data = pd.DataFrame(rows).assign(weight=1.0)
    data["fall_pct"] = 100 * norm.cdf(data["fall_z"])
    data["spring_pct"] = 100 * norm.cdf(data["spring_z"])
    return data, pd.DataFrame(pairs)


def estimates(data, pairs, **config) -> pd.DataFrame:
    out = estimate_cohort({"math": (data, pairs)}, EstimateConfig(few_schools=3, **config))
    assert list(out.estimates.columns) == ESTIMATE_COLUMNS
    return out.estimates.set_index(["scope", "group"])


def test_school_weights_give_every_school_the_same_total():
    data, pairs = planted()
    weights = school_weights(data.assign(school_id=data["school"]), pairs)
    # 64 PL students in 4 schools: each school 16 in all, so 16/40 = 0.4 and 16/8 = 2 a student
    assert weights[weights.index.str.startswith("t0-")].eq(0.4).all()
    assert weights[~weights.index.str.startswith("t0-")].eq(2.0).all()
    assert weights.sum() == pytest.approx(64)


def test_student_and_school_weighted_pooled_effects_differ_as_planted():
    est = estimates(*planted())
    pooled, schools = est.loc[("pooled", "all")], est.loc[(POOLED_SCHOOLS, "all")]
    # the average PL student: 40 of 64 students gained 0.5, so 0.5 × 40/64 = 0.3125;
    # the average PL school: one of four schools gained 0.5, so 0.125
    assert pooled["estimate"] == pytest.approx(0.3125, abs=1e-10)
    assert schools["estimate"] == pytest.approx(0.125, abs=1e-10)
    # the same students and schools, each row with its own clustered interval and df
    for column in ("n_treated", "n_comparison", "n_schools"):
        assert schools[column] == pooled[column]
    assert schools["n_schools"] == 4 and np.isfinite(schools["se"]) and schools["df"] > 0
    assert schools["ci_low"] < 0.125 < schools["ci_high"]
    assert schools["df"] != pytest.approx(pooled["df"])
    # the national-median figure is the student-weighted headline's only
    assert np.isnan(schools["percentile_points_median"])


def test_equal_school_sizes_give_equal_student_and_school_weighted_effects():
    est = estimates(*planted((16, 16, 16, 16)))
    pooled, schools = est.loc[("pooled", "all")], est.loc[(POOLED_SCHOOLS, "all")]
    assert pooled["estimate"] == pytest.approx(BIG_EFFECT / 4, abs=1e-10)
    for column in ("estimate", "se", "df", "percentile_points", "mde"):
        assert schools[column] == pytest.approx(pooled[column], rel=1e-9)


def test_school_weighted_pooled_effect_is_least_squares_under_the_mixed_model():
    data, pairs = planted()
    mixed = estimates(data, pairs, model="mixed").loc[(POOLED_SCHOOLS, "all")]
    assert mixed["estimate"] == pytest.approx(0.125, abs=1e-10)
    assert mixed["df"] == pytest.approx(estimates(data, pairs).loc[(POOLED_SCHOOLS, "all"), "df"])


def test_each_row_in_percentile_points_at_its_own_comparison_average():
    est = estimates(*planted())
    # every comparison student's spring score is its fall score ± 0.1, four falls equally often
    spring = np.array(FALL) + np.array(NOISE)
    pooled_base = 100 * norm.cdf(spring).mean()  # 25.97: far below the national median
    pooled = est.loc[("pooled", "all")]
    assert pooled["comparison_percentile"] == pytest.approx(pooled_base)
    moved = 100 * norm.cdf(norm.ppf(pooled_base / 100) + 0.3125) - pooled_base
    assert pooled["percentile_points"] == pytest.approx(moved)
    # 12.27 points at the national median (RAND's figure) against 11.03 at the 26th percentile
    assert pooled["percentile_points_median"] == pytest.approx(100 * (norm.cdf(0.3125) - 0.5))
    assert pooled["percentile_points"] != pytest.approx(pooled["percentile_points_median"])
    # Q1 (fall below the 20th percentile: falls −1.5 and −1.0) sits at its own comparison average
    q1 = est.loc[("baseline_quintile", "Q1")]
    q1_base = 100 * norm.cdf(spring[[0, 1, 4, 5]]).mean()
    assert q1["comparison_percentile"] == pytest.approx(q1_base)
    assert q1["percentile_points"] == pytest.approx(percentile_points(q1["estimate"], at=q1_base))
    assert np.isnan(q1["percentile_points_median"])
    # the interval's ends and the MDE are converted at the same point as the estimate
    for scope_group in [("pooled", "all"), ("baseline_quintile", "Q1"), (POOLED_SCHOOLS, "all")]:
        row = est.loc[scope_group]
        at = row["comparison_percentile"]
        assert row["percentile_ci_low"] == pytest.approx(percentile_points(row["ci_low"], at=at))
        assert row["percentile_ci_high"] == pytest.approx(percentile_points(row["ci_high"], at=at))
        assert row["percentile_ci_low"] < row["percentile_points"] < row["percentile_ci_high"]
        assert row["mde_percentile_points"] == pytest.approx(percentile_points(row["mde"], at=at))


def test_every_estimate_has_its_minimum_detectable_effect():
    est = estimates(*planted())
    shown = est.dropna(subset=["se"])
    assert len(shown) > 5  # pooled, school-weighted, schools and breakout groups
    expected = (t.ppf(0.975, shown["df"]) + t.ppf(0.80, shown["df"])) * shown["se"]
    np.testing.assert_allclose(shown["mde"], expected, rtol=1e-10)
    # a row without an SE has no MDE either
    assert est.loc[est["se"].isna(), "mde"].isna().all()
