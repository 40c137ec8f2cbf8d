"""Cohort estimates on hand-made matched samples with planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.cohort import ESTIMATE_COLUMNS, hedges_g, sorted_codes, subsample


def test_subsample_rebuilds_att_weights_from_pairs():
    data = pd.DataFrame(
        {
            "student_key": ["t1", "t2", "t3", "c1", "c2", "c3"],
            "treated": [True, True, True, False, False, False],
        }
    )
    # t1 -> c1, c2; t2 -> c2; t3 -> c3 (t3 is not in the subsample)
    pairs = pd.DataFrame(
        {
            "treated_key": ["t1", "t1", "t2", "t3"],
            "slot": [1, 2, 1, 1],
            "control_key": ["c1", "c2", "c2", "c3"],
        }
    )
    out = subsample(data, pairs, pd.Index(["t1", "t2"])).set_index("student_key")
    # c1: 1/2; c2: 1/2 + 1 = 3/2; rescaled to sum to 2 distinct controls: unchanged.
    assert out["weight"].to_dict() == {"t1": 1.0, "t2": 1.0, "c1": 0.5, "c2": 1.5}


@pytest.mark.parametrize("dtype", ["str", object])
def test_sorted_codes_rank_text_keys_as_factorize_sorts_them(dtype):
    # duplicates, digits that sort as text, case, and letters beyond ASCII (UTF-8 bytes)
    keys = pd.Series(["b", "é", "10", "B", "9", "b", "z", "ß", "10"], dtype=dtype)
    codes = sorted_codes(keys)
    np.testing.assert_array_equal(codes, [3, 6, 0, 2, 1, 3, 4, 5, 0])
    np.testing.assert_array_equal(codes, pd.factorize(keys, sort=True)[0])
    assert codes.dtype == np.int64


def test_sorted_codes_leave_missing_and_numeric_keys_to_factorize():
    missing = pd.Series(["b", None, "a"], dtype="str")
    np.testing.assert_array_equal(sorted_codes(missing), [1, -1, 0])
    np.testing.assert_array_equal(sorted_codes(pd.Series([30, 10, 30])), [1, 0, 1])


def test_hedges_g_by_hand():
    data = pd.DataFrame(
        {
            "treated": [True, True, True, False, False, False],
            "spring_z": [1.0, 2.0, 3.0, 0.0, 1.0, 2.0],
            "weight": 1.0,
        }
    )
    # Both arms have SD 1, so S_pooled = 1; ω = 1 − 3/(4·6 − 9) = 0.8.
    assert hedges_g(0.5, data) == pytest.approx(0.8 * 0.5)


def matched_sample(seed: int = 11):
    """12 PL schools (8 charter +0.25, 4 district 0) and their 2:1 matched comparisons."""
    rng = np.random.default_rng(seed)
    rows, pairs = [], []
    for s in range(12):
        charter = s < 8
        n = 4 if s == 11 else 120  # the last school is too small for its own estimate
        for i in range(n):
            fall = rng.normal(-0.2, 1)
            key = f"t{s}-{i}"
            grade = int(rng.choice([3, 7]))
            rows.append(
                {
                    "student_key": key,
                    "district": "D",
                    "school": f"PL {s}",
                    "treated": True,
                    "sector": "charter" if charter else "district",
                    "years_pl": "1" if s % 2 else "2",
                    "grade_band": "K-5" if grade == 3 else "6-8",
                    "fall_z": fall,
                    "spring_z": 0.9 * fall + (0.25 if charter else 0.0) + rng.normal(0, 0.4),
                    "weight": 1.0,
                }
            )
            for slot in (1, 2):
                ckey = f"c{s}-{i}-{slot}"
                cfall = fall + rng.normal(0, 0.05)
                rows.append(
                    {
                        "student_key": ckey,
                        "district": "D",
                        "school": f"C {(s * 2 + slot) % 20}",
                        "treated": False,
                        "sector": "district",
                        "years_pl": pd.NA,
                        "grade_band": "K-5" if grade == 3 else "6-8",
                        "fall_z": cfall,
                        "spring_z": 0.9 * cfall + rng.normal(0, 0.4),
                        "weight": 0.5,
                    }
                )
                pairs.append({"treated_key": key, "slot": slot, "control_key": ckey})
    data = pd.DataFrame(rows)
    data["fall_pct"] = 100 * norm.cdf(data["fall_z"])
    data["spring_pct"] = 100 * norm.cdf(data["spring_z"])
    return data, pd.DataFrame(pairs)


@pytest.fixture(scope="module")
def result():
    data, pairs = matched_sample()
    return estimate_cohort({"math": (data, pairs)}, EstimateConfig())


def rows(result, scope):
    est = result.estimates
    return est[est["scope"] == scope].set_index("group")


def test_pooled_effect_covers_the_planted_mix(result):
    pooled = rows(result, "pooled").loc["all"]
    truth = (7 * 120 * 0.25 + 4 * 120 * 0.0 + 4 * 0.25) / (11 * 120 + 4)
    assert pooled["ci_low"] < truth < pooled["ci_high"]
    # percentile points for a student at the comparison group's average spring percentile; the
    # national-median figure RAND reported is kept beside it for the pooled row
    data, _ = matched_sample()
    comparison = data[~data["treated"]]
    at = np.average(comparison["spring_pct"], weights=comparison["weight"])
    assert pooled["comparison_percentile"] == pytest.approx(at)
    moved = 100 * norm.cdf(norm.ppf(at / 100) + pooled["estimate"]) - at
    assert pooled["percentile_points"] == pytest.approx(moved)
    median = 100 * (norm.cdf(pooled["estimate"]) - 0.5)
    assert pooled["percentile_points_median"] == pytest.approx(median)
    assert pooled["n_treated"] == 11 * 120 + 4 and pooled["n_schools"] == 12
    assert list(result.estimates.columns) == ESTIMATE_COLUMNS


def test_sector_breakout_and_its_test(result):
    sector = rows(result, "sector")
    # Recovered: within three standard errors of the planted effect (bias checked by validate).
    assert abs(sector.loc["charter", "estimate"] - 0.25) < 3 * sector.loc["charter", "se"]
    assert abs(sector.loc["district", "estimate"] - 0.0) < 3 * sector.loc["district", "se"]
    test = result.tests.set_index("scope").loc["sector"]
    assert test["p_value"] < 0.001 and test["df"] == 1
    # A group nobody is in is listed with its reason, not dropped.
    band = rows(result, "grade_band")
    assert band.loc["9-12", "note"] == "no PL students" and np.isnan(band.loc["9-12", "estimate"])


def test_school_rows_flag_small_schools_and_shrink(result):
    schools = rows(result, "school")
    assert len(schools) == 12
    small = schools.loc["PL 11"]
    assert np.isnan(small["estimate"]) and "too few students" in small["note"]
    ok = schools.dropna(subset=["estimate"])
    assert ok["p_value_bh"].ge(ok["p_value"]).all()
    covered = (ok["ci_low"] < np.where(ok.index.isin([f"PL {s}" for s in range(8)]), 0.25, 0)) & (
        np.where(ok.index.isin([f"PL {s}" for s in range(8)]), 0.25, 0) < ok["ci_high"]
    )
    assert covered.sum() >= 9  # 95% intervals: nearly all of 11 cover their school's truth
    pooled = rows(result, "pooled").loc["all", "estimate"]
    moved_in = (ok["shrunken_estimate"] - pooled).abs() <= (ok["estimate"] - pooled).abs() + 1e-12
    assert moved_in.all()


def test_trajectory_is_the_weighted_mean_percentile(result):
    data, _ = matched_sample()
    traj = result.trajectory.set_index(["arm", "season"])
    comparison = data[~data["treated"]]
    expected = np.average(comparison["fall_pct"], weights=comparison["weight"])
    assert traj.loc[("comparison", "fall"), "mean_percentile"] == pytest.approx(expected)
    treated_spring = traj.loc[("treated", "spring")]
    assert treated_spring["ci_low"] < treated_spring["mean_percentile"] < treated_spring["ci_high"]


def test_the_summary_of_one_pl_school_says_no_interval_in_words():
    # one PL school: the pooled estimate has no school-clustered interval, which the summary
    # (estimate_summary.txt and the job's log) had printed as "95% CI +nan to +nan"
    data, pairs = matched_sample()
    keys = data.loc[data["school"] == "PL 0", "student_key"]
    pairs = pairs[pairs["treated_key"].isin(keys)]
    one = data[data["student_key"].isin(keys) | data["student_key"].isin(pairs["control_key"])]
    text = estimate_cohort({"math": (one, pairs)}, EstimateConfig()).summary()
    assert "  math     +0.2" in text and "(no interval; " in text
    assert "120 treated, 240 comparison students, 1 PL school);" in text
    assert "no minimum detectable effect (no standard error)" in text
    assert "math: 1 school estimated;" in text
    assert "nan" not in text


def test_significant_school_counts_raw_and_bh():
    from pl_eval.estimation.cohort import significant_schools

    schools = pd.DataFrame(
        {
            "estimate": [0.3, 0.2, -0.25, 0.1, np.nan],
            "p_value": [0.001, 0.04, 0.01, 0.5, np.nan],
            "p_value_bh": [0.005, 0.08, 0.025, 0.5, np.nan],
        }
    )
    assert significant_schools(schools) == {
        "positive": 2, "negative": 1, "positive_bh": 1, "negative_bh": 1,
    }  # fmt: skip


def test_same_school_name_in_two_districts_is_two_clusters():
    data, pairs = matched_sample()
    # PL 0..5 move to district E: names now recur across districts (PL 0 in D and E, say).
    moved = data["school"].isin([f"PL {s}" for s in range(6)])
    renamed = data["school"].str.replace(r"^PL (\d+)$", lambda m: f"PL {int(m[1]) % 6}", regex=True)
    data = data.assign(district=np.where(moved, "E", "D"), school=renamed)
    out = estimate_cohort({"math": (data, pairs)}, EstimateConfig()).estimates
    pooled = out[out["scope"] == "pooled"].iloc[0]
    assert pooled["n_schools"] == 12  # six names, each in both districts
    schools = out[out["scope"] == "school"]
    assert len(schools) == 12 and schools.groupby("group")["district"].nunique().eq(2).all()
    # Clustering by name alone would pool D's and E's "PL 0" into one cluster (11 df -> 5).
    same = estimate_cohort({"math": matched_sample()}, EstimateConfig()).estimates
    assert pooled["se"] == pytest.approx(same[same["scope"] == "pooled"].iloc[0]["se"])


def test_school_estimates_leave_out_school_level_covariates():
    """A school's sample holds its own school and two comparison schools: with two school-level
    covariates the PL school's indicator is a combination of them, so a school estimate adjusting
    for them is not estimable (issue 12: ±7 SD estimates when nearly so). School rows adjust for
    what varies among their PL students; pooled rows still adjust for everything."""
    data, pairs = matched_sample()
    number = data["school"].str.split().str[-1].astype(int)
    data = data.assign(frl_pct=60.0 + 2 * number + 5 * data["treated"], size=300.0 + 7 * number**2)
    both = estimate_cohort(
        {"math": (data, pairs)}, EstimateConfig(covariates=("fall_z", "frl_pct", "size"))
    ).estimates
    fall = estimate_cohort({"math": (data, pairs)}, EstimateConfig()).estimates
    schools = both[both["scope"] == "school"].set_index("group")
    expected = fall[fall["scope"] == "school"].set_index("group")
    assert schools["estimate"].notna().sum() == 11
    pd.testing.assert_series_equal(schools["estimate"], expected["estimate"])
    pooled = both[both["scope"] == "pooled"].iloc[0]
    assert pooled["estimate"] != pytest.approx(
        fall.loc[fall["scope"] == "pooled", "estimate"].iloc[0]
    )


def _one_pl_school_two_comparison_schools() -> pd.DataFrame:
    """PL school P (x 1 and 2), comparison school A (x 0, 0) and B (x 2, 2): x differs between
    the comparison schools, as days between tests does (each school has its own test windows)."""
    return pd.DataFrame(
        {
            "treated": [True, True, False, False, False, False],
            "x": [1.0, 2.0, 0.0, 0.0, 2.0, 2.0],
            "spring_z": [0.0, 1.0, 0.3, -0.1, 0.5, 0.9],
            "weight": 1.0,
            "school_id": ["P", "P", "A", "A", "B", "B"],
        }
    )


def test_comparison_school_influence_by_hand():
    from pl_eval.estimation.cohort import comparison_school_influence

    # τ̂ = ȳ_P − ȳ_C − β̂(x̄_P − x̄_C), x̄_P − x̄_C = 0.5, β̂ = (S_xy,P + S_xy,C)/(0.5 + 4). Shifting
    # A's two outcomes by 1 moves ȳ_C by 1/2 and S_xy,C by −2, so β̂ by −4/9:
    # c_A = −1/2 + 0.5·4/9 = −5/18, and c_B = −1 − c_A = −13/18 (the shares are 1/2 each).
    influence = comparison_school_influence(_one_pl_school_two_comparison_schools(), ("x",))
    assert influence.to_dict() == pytest.approx({"A": -5 / 18, "B": -13 / 18})
    # without the covariate the estimate is a difference in means: minus each school's share
    plain = comparison_school_influence(_one_pl_school_two_comparison_schools(), ())
    assert plain.to_dict() == pytest.approx({"A": -0.5, "B": -0.5})


def test_school_interval_adds_comparison_school_variance_by_influence():
    from pl_eval.estimation.cohort import _with_shared_comparison_noise

    sample = _one_pl_school_two_comparison_schools()
    row = {"estimate": 0.2, "se": 0.1, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    out = _with_shared_comparison_noise(row, sample, ("x",), 0.01)
    # SE² = 0.1² + σ_v²·Σc_k² = 0.01 + 0.01·(25 + 169)/324; weight shares would give 0.01·1/2
    se = np.sqrt(0.01 + 0.01 * 194 / 324)
    assert out["se"] == pytest.approx(se)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(
        (0.2 - 1.959964 * se, 0.2 + 1.959964 * se)
    )
    assert out["p_value"] == pytest.approx(2 * norm.sf(0.2 / se))


def test_comparison_school_variance_is_lme4s_reml_comparison_variance():
    import json
    from pathlib import Path

    from pl_eval.estimation.cohort import comparison_school_variance

    # tests/data/r/make_mixed_fixtures.R: lmer(outcome ~ treat + baseline + band + baseline_x2 +
    # (0 + dummy(treat, "1") | school) + (0 + dummy(treat, "0") | school)), unweighted, REML.
    # The method-of-moments ANOVA on least-squares residuals gave 0.011996 here.
    folder = Path(__file__).resolve().parents[1] / "data" / "r"
    reference = json.loads((folder / "mixed_arms.json").read_text())["results"]
    frame = pd.read_csv(folder / "mixed_arms.csv").rename(
        columns={"outcome": "spring_z", "school": "school_id"}
    )
    frame = frame.assign(treated=frame["treat"].astype(bool))
    variance = comparison_school_variance(frame, ("baseline", "band", "baseline_x2"))
    assert variance == pytest.approx(reference["planted_unweighted"]["var_comparison"], abs=1e-7)


def test_school_trajectory_is_each_schools_students_against_their_matches(result):
    data, _ = matched_sample()
    table = result.school_trajectory.set_index(["school", "arm", "season"])
    assert set(table.index.get_level_values("school")) == {f"PL {s}" for s in range(12)}
    school = rows(result, "school").loc["PL 3"]
    # its own students: their mean, an interval over them (HC1 of a mean: s / sqrt(n), normal)
    own = data[data["school"] == "PL 3"]["spring_pct"]
    spring = table.loc[("PL 3", "treated", "spring")]
    half = norm.ppf(0.975) * own.std() / np.sqrt(len(own))
    assert spring["mean_percentile"] == pytest.approx(own.mean())
    assert (spring["ci_low"], spring["ci_high"]) == pytest.approx((own.mean() - half,
                                                                   own.mean() + half))  # fmt: skip
    assert spring["n_students"] == school["n_treated"] == 120 and spring["note"] == ""
    # its comparison group: the students matched to it (each serves one PL student, so equal
    # weights), from two comparison schools (a clustered interval)
    matched = data[data["student_key"].str.startswith("c3-")]["fall_pct"]
    fall = table.loc[("PL 3", "comparison", "fall")]
    assert fall["mean_percentile"] == pytest.approx(matched.mean())
    assert fall["n_students"] == school["n_comparison"] == 240
    assert fall["ci_low"] < fall["mean_percentile"] < fall["ci_high"]
