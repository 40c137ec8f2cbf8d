"""Small and odd cohorts: every estimate row is present, with numbers or with a note saying why
not, and few PL schools give wide, labelled intervals (issue 11 §2, issue 12 defect 2)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from pl_eval.estimation import EstimateConfig, estimate_cohort, estimate_effect
from pl_eval.estimation.cohort import BREAKOUTS, ESTIMATE_COLUMNS, TRAJECTORY_COLUMNS

NUMBERS = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "percentile_points",
           "hedges_g", "improvement_index"]  # fmt: skip


def cohort(
    pl_sizes: list[int],
    *,
    n_comparison_schools: int = 6,
    matches: int = 2,
    effect: float = 0.0,
    school_sd: float = 0.0,
    seed: int = 0,
    grade_bands: tuple[str, ...] = ("K-5", "6-8"),
    sectors: tuple[str, ...] = ("charter", "district"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A matched sample and its pairs: PL school s has pl_sizes[s] students, each matched to
    ``matches`` comparison students drawn from ``n_comparison_schools`` schools; every school
    has its own shock (SD ``school_sd``) and PL students gain ``effect``."""
    rng = np.random.default_rng(seed)
    shock = rng.normal(0, school_sd, len(pl_sizes) + n_comparison_schools)
    rows, pairs = [], []
    for s, size in enumerate(pl_sizes):
        for i in range(size):
            fall = rng.normal(-0.1, 1)
            key = f"t{s}-{i}"
            rows.append(
                {
                    "student_key": key, "district": "D", "school": f"PL {s}", "treated": True,
                    "sector": sectors[s % len(sectors)], "years_pl": "1" if s % 2 else "2",
                    "grade_band": grade_bands[i % len(grade_bands)], "fall_z": fall,
                    "spring_z": 0.8 * fall + effect + shock[s] + rng.normal(0, 0.5),
                }
            )  # fmt: skip
            for slot in range(1, matches + 1):
                c = len(pl_sizes) + int(rng.integers(n_comparison_schools))
                cfall = fall + rng.normal(0, 0.05)
                rows.append(
                    {
                        "student_key": f"c{s}-{i}-{slot}", "district": "D",
                        "school": f"C {c}", "treated": False, "sector": "district",
                        "years_pl": pd.NA, "grade_band": rows[-slot]["grade_band"],
                        "fall_z": cfall,
                        "spring_z": 0.8 * cfall + shock[c] + rng.normal(0, 0.5),
                    }
                )  # fmt: skip
                pairs.append({"treated_key": key, "slot": slot, "control_key": f"c{s}-{i}-{slot}"})
    data = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    data["weight"] = np.where(data["treated"], 1.0, 1.0 / matches)
    data["fall_pct"] = 100 * norm.cdf(data["fall_z"])
    data["spring_pct"] = 100 * norm.cdf(data["spring_z"])
    return data, pd.DataFrame(pairs, columns=["treated_key", "slot", "control_key"])


def run(data, pairs, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a degenerate sum either
        return estimate_cohort({"math": (data, pairs)}, EstimateConfig(**config))


def scope(result, name):
    est = result.estimates
    return est[est["scope"] == name].set_index("group")


def assert_every_gap_explained(result):
    """Complete tables; a number that is missing is explained by the row's note."""
    est = result.estimates
    assert list(est.columns) == ESTIMATE_COLUMNS
    for scope_name, (_, groups) in BREAKOUTS.items():
        assert list(scope(result, scope_name).index) == list(groups)
    assert (scope(result, "pooled").index == ["all"]).all()
    gaps = est[NUMBERS].isna().any(axis=1)
    assert (est.loc[gaps, "note"] != "").all(), est.loc[gaps & (est["note"] == "")]
    numbers = est[NUMBERS].to_numpy(float)
    df = est["df"].to_numpy(float)
    assert (np.isfinite(numbers) | np.isnan(numbers) | (np.isinf(df) & (df > 0))[:, None]).all()
    tests = result.tests
    assert len(tests) == len(BREAKOUTS)
    assert (tests.loc[tests["p_value"].isna(), "note"] != "").all()
    traj = result.trajectory
    assert list(traj.columns) == TRAJECTORY_COLUMNS and len(traj) == 4
    assert (traj.loc[traj[["mean_percentile", "ci_low"]].isna().any(axis=1), "note"] != "").all()


def test_one_pl_school_gives_rows_with_notes_not_a_crash():
    # Before: ZeroDivisionError in statsmodels' cov_cluster (the PL arm's trajectory CI).
    data, pairs = cohort([40], effect=0.2)
    result = run(data, pairs)
    assert_every_gap_explained(result)
    pooled = scope(result, "pooled").loc["all"]
    assert (
        np.isfinite(pooled["estimate"]) and np.isnan(pooled["se"]) and np.isnan(pooled["p_value"])
    )
    assert pooled["note"] == "few PL schools (1): one PL school gives no school-clustered interval"
    school = scope(result, "school").loc["PL 0"]
    assert np.isfinite(school["p_value"]) and school["note"] == ""  # within-school: no clusters
    traj = result.trajectory.set_index(["arm", "season"])
    assert traj.loc[("treated", "fall"), "note"] == "one cluster"
    assert np.isnan(traj.loc[("treated", "fall"), "ci_low"])
    assert np.isfinite(traj.loc[("treated", "fall"), "mean_percentile"])
    sector = scope(result, "sector")
    assert sector.loc["district", "note"] == "no PL students"  # PL 0 is a charter
    test = result.tests.set_index("scope").loc["sector"]
    assert test["note"] == "fewer than two groups with students in both arms"
    assert np.isnan(test["p_value"])


def test_empty_breakout_groups_and_no_high_school():
    data, pairs = cohort([15, 15, 15], grade_bands=("K-5",), seed=1)
    result = run(data, pairs)
    assert_every_gap_explained(result)
    band = scope(result, "grade_band")
    assert band.loc["6-8", "note"] == band.loc["9-12", "note"] == "no PL students"
    assert band.loc["6-8", ["n_treated", "n_comparison", "n_schools"]].tolist() == [0, 0, 0]
    assert np.isfinite(band.loc["K-5", "estimate"])  # the only group: its own model
    assert band.loc["K-5", "note"].startswith("few PL schools (3): CR2 small-sample df ")
    years = scope(result, "years")
    assert years.loc["3+", "note"] == "no PL students" and np.isnan(years.loc["3+", "se"])


def test_a_subject_with_no_pl_students():
    data, pairs = cohort([12, 12], seed=2)
    data = data[~data["treated"]]
    result = run(data, pairs.iloc[:0])
    assert_every_gap_explained(result)
    est = result.estimates
    assert (est["scope"] != "school").all()  # no PL school to list
    assert (est["note"] == "no PL students").all() and est["estimate"].isna().all()
    assert (result.tests["note"] == "fewer than two groups with students in both arms").all()
    traj = result.trajectory.set_index("arm")
    assert (traj.loc["treated", "note"] == "no PL students").all()
    assert (traj.loc["treated", "n_students"] == 0).all()


def test_no_comparison_students():
    data, pairs = cohort([12, 12], seed=3)
    data = data[data["treated"]]  # every comparison student is missing from the sample
    result = run(data, pairs)
    assert_every_gap_explained(result)
    pooled = scope(result, "pooled").loc["all"]
    assert pooled["note"] == "no comparison students" and pooled["n_treated"] == 24
    schools = scope(result, "school")
    assert (schools["note"] == "no comparison students").all()
    traj = result.trajectory.set_index("arm")
    assert (traj.loc["comparison", "note"] == "no comparison students").all()


def test_one_school_in_the_whole_sample_is_one_cluster():
    data, pairs = cohort([12], n_comparison_schools=1, seed=4)
    data = data.assign(school="Only school")  # PL and comparison students in one school
    result = run(data, pairs)
    assert_every_gap_explained(result)
    assert scope(result, "pooled").loc["all", "note"] == "one cluster"
    assert scope(result, "sector").loc["charter", "note"] == "one cluster"
    assert (result.trajectory["note"] == "one cluster").all()


@pytest.mark.parametrize("model", ["ols_cluster", "mixed"])
def test_a_single_student(model):
    data, pairs = cohort([1], n_comparison_schools=1, matches=1, seed=5)
    result = run(data, pairs, model=model)
    assert_every_gap_explained(result)
    pooled = scope(result, "pooled").loc["all"]
    assert pooled["note"] == "too few students (1 PL, 1 comparison)"
    school = scope(result, "school").loc["PL 0"]
    assert school["note"] == "too few students (1 < 10)"


def test_small_school_below_min_school_students():
    data, pairs = cohort([30, 30, 4], seed=6)
    result = run(data, pairs, min_school_students=5)
    schools = scope(result, "school")
    assert schools.loc["PL 2", "note"] == "too few students (4 < 5)"
    assert schools.loc[["PL 0", "PL 1"], "note"].eq("").all()


MIXED = "random intercepts, Satterthwaite df"


@pytest.mark.parametrize(
    ("make", "pooled_note"),
    [
        (lambda: cohort([40], effect=0.2)[0],
         "not estimable: model 'mixed' needs at least 2 clusters in each arm"),
        (lambda: cohort([15] * 3, grade_bands=("K-5",), seed=1)[0],
         f"few PL schools (3): {MIXED} 7.4"),
        (lambda: (d := cohort([12, 12], seed=2)[0])[~d["treated"]], "no PL students"),
        (lambda: (d := cohort([12, 12], seed=3)[0])[d["treated"]], "no comparison students"),
        (lambda: cohort([12], seed=4)[0].assign(school="One"), "one cluster"),
        (lambda: cohort([1], n_comparison_schools=1, matches=1, seed=5)[0], "too few students"),
        (lambda: cohort([20] * 4, seed=7, school_sd=0.2)[0],
         f"few PL schools (4): {MIXED} 8.8; PL schools' intercept variance estimated as 0"),
    ],
    ids=["one PL school", "empty groups", "no PL", "no comparison", "one school", "one student",
         "4 PL"],
)  # fmt: skip
def test_random_intercepts_on_degenerate_cohorts(make, pooled_note):
    data = make()
    # the pairs of every PL student in the sample (a comparison student may be absent)
    pairs = pd.DataFrame(
        [(k, 1, f"c{k[1:]}-1") for k in data.loc[data["treated"], "student_key"]],
        columns=["treated_key", "slot", "control_key"],
    )
    result = run(data, pairs, model="mixed")
    assert_every_gap_explained(result)
    pooled = scope(result, "pooled").loc["all"]
    assert pooled["note"].startswith(pooled_note)
    if MIXED in pooled_note:  # t on lmerTest's Satterthwaite df, no longer normal (inf)
        assert f"{MIXED} {pooled['df']:.1f}" in pooled["note"] and np.isfinite(pooled["se"])


def test_random_intercepts_change_only_the_pooled_estimate():
    """The mixed variant's school and breakout estimates are least squares, as in the main
    analysis (config/README.md): only the pooled row differs (and the shrunken school
    estimates, which shrink towards it)."""
    data, pairs = cohort([30] * 6, n_comparison_schools=10, school_sd=0.2, effect=0.1, seed=11)
    mixed, least_squares = run(data, pairs, model="mixed"), run(data, pairs)
    pooled = mixed.estimates["scope"] == "pooled"
    pd.testing.assert_frame_equal(
        mixed.estimates[~pooled].drop(columns="shrunken_estimate"),
        least_squares.estimates[~pooled].drop(columns="shrunken_estimate"),
    )
    pd.testing.assert_frame_equal(mixed.tests, least_squares.tests)
    assert (
        mixed.estimates.loc[pooled, "se"].item() != least_squares.estimates.loc[pooled, "se"].item()
    )


def test_two_pl_schools_with_school_shocks_give_a_wide_labelled_interval():
    """No effect planted; each school has a shock of SD 0.3, so two PL schools' mean is off by
    ~0.2 by chance. The old t(G−1) interval (G counting 8 comparison schools) called that
    significant; the Satterthwaite df (about 1) does not."""
    data, pairs = cohort([60, 60], n_comparison_schools=8, school_sd=0.3, seed=8)
    result = run(data, pairs)
    pooled = scope(result, "pooled").loc["all"]
    assert pooled["note"] == f"few PL schools (2): CR2 small-sample df {pooled['df']:.1f}"
    assert pooled["df"] < 3 and pooled["ci_low"] < 0 < pooled["ci_high"]
    assert pooled["p_value"] > 0.05
    n_schools = data["school"].nunique()  # the old df: every school in the sample, less one
    old = t(n_schools - 1)
    assert old.ppf(0.975) < 2.3  # the old interval: ±2.26 SE
    assert pooled["ci_high"] - pooled["ci_low"] > 2 * 3.5 * pooled["se"]  # now ±4.0 SE
    old_p = 2 * old.sf(abs(pooled["estimate"]) / pooled["se"])
    assert old_p < 0.05  # what it reported before: a false effect


def test_two_pl_schools_rarely_reject_a_true_null():
    """Across 40 such cohorts, 95% intervals that rest on two PL schools reject a zero effect
    about as often as they should (2 of 40); t(G−1) rejects several times that often."""
    rejected, old_rejected = 0, 0
    for seed in range(40):  # replications of a small simulation study
        data, _ = cohort([25, 25], n_comparison_schools=8, school_sd=0.3, seed=100 + seed)
        pooled = estimate_effect(  # the pooled row's model, without the rest of the cohort
            data, "spring_z", "treated", ["fall_z"], weights="weight", cluster="school", se="CR2"
        )
        rejected += pooled.p_value < 0.05
        old = 2 * t(data["school"].nunique() - 1).sf(abs(pooled.estimate) / pooled.se)
        old_rejected += old < 0.05
    assert rejected <= 4 and old_rejected >= 6


def test_planted_effect_with_many_pl_schools_is_covered():
    data, pairs = cohort([40] * 32, n_comparison_schools=40, effect=0.25, school_sd=0.15, seed=9)
    result = run(data, pairs)
    pooled = scope(result, "pooled").loc["all"]
    assert pooled["ci_low"] < 0.25 < pooled["ci_high"]
    assert pooled["ci_low"] > 0  # and it is detected
    assert pooled["note"] == "" and 15 < pooled["df"] < 80
    assert pooled["n_schools"] == 32


def test_few_schools_threshold_is_configurable():
    data, pairs = cohort([30, 30, 30], seed=10, school_sd=0.1)
    assert scope(run(data, pairs), "pooled").loc["all", "note"].startswith("few PL schools (3)")
    assert scope(run(data, pairs, few_schools=3), "pooled").loc["all", "note"] == ""
    cr1 = scope(run(data, pairs, se="CR1"), "pooled").loc["all"]
    assert cr1["df"] == data["school"].nunique() - 1
    assert cr1["note"] == f"few PL schools (3): CR1, t with {cr1['df']:g} df"
