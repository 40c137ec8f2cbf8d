"""Random intercepts with one school variance per arm: agreement with lme4 and lmerTest, hand-
computed balanced cases, the boundary, and the clusters the model cannot use.

R's numbers come from tests/data/r/make_mixed_fixtures.R (its outputs sit beside it); the
suite reads the stored JSON and needs no R.

Tolerances: coefficients, their covariance, SEs and Satterthwaite df agree with R's to 1e-6
(relative). θ and the variance components, which are where R's optimiser stops (bobyqa, rhoend
1e-12), agree to 1e-5: at R's θ the gradient of the REML criterion is ~20 times ours, and the two
differ by ~2e-7 relative. The REML criterion is flat there: absolute 1e-6.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pl_eval.estimation.models import (
    EstimationError,
    EstimationWarning,
    estimate_effect,
    estimate_interaction,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "r"
R = json.loads((DATA / "mixed_arms.json").read_text())["results"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {
        "data": pd.read_csv(DATA / "data.csv", dtype={"grade": str, "school": str}),
        "arms": pd.read_csv(DATA / "mixed_arms.csv"),
        "few": pd.read_csv(DATA / "few_clusters.csv"),
    }


def r_order(terms, reference: dict) -> list[int]:
    """Positions in R's term list of our terms, spelled as lm spells them."""
    names = ["(Intercept)" if t == "Intercept" else t.replace("[T.", "").replace("]", "")
             for t in terms]  # fmt: skip
    assert sorted(names) == sorted(reference["terms"])
    return [reference["terms"].index(name) for name in names]


def assert_matches_lmer(fit, reference: dict) -> None:
    order = r_order(fit.coefficients.index, reference)
    table = fit.coefficients
    for column, key in (("estimate", "coef"), ("se", "se"), ("df", "df"), ("p_value", "p_value")):
        np.testing.assert_allclose(table[column], np.array(reference[key])[order], rtol=1e-6)
    expected = np.array(reference["vcov"])[np.ix_(order, order)]
    np.testing.assert_allclose(fit.vcov.to_numpy(), expected, rtol=1e-6, atol=1e-14)
    v = fit.variance
    assert v.theta[0] == pytest.approx(reference["theta_treated"], rel=1e-5, abs=1e-12)
    assert v.theta[1] == pytest.approx(reference["theta_comparison"], rel=1e-5, abs=1e-12)
    assert v.treated == pytest.approx(reference["var_treated"], rel=1e-5, abs=1e-12)
    assert v.comparison == pytest.approx(reference["var_comparison"], rel=1e-5, abs=1e-12)
    assert v.residual == pytest.approx(reference["var_residual"], rel=1e-5)
    assert v.reml_criterion == pytest.approx(reference["reml_criterion"], abs=1e-6)


#: fixture name: (frame, outcome, covariates, weighted)
CASES = {
    "arms": ("data", "outcome", ["baseline", "female", "grade"], False),
    "arms_weighted": ("data", "outcome", ["baseline", "female", "grade"], True),
    "planted": ("arms", "outcome", ["baseline", "band", "baseline_x2"], True),
    "planted_unweighted": ("arms", "outcome", ["baseline", "band", "baseline_x2"], False),
    "few_clusters": ("few", "outcome", ["baseline", "band"], True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_arm_specific_intercepts_equal_lme4_and_lmertest(frames, name):
    frame, outcome, covariates, weighted = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)  # baseline_x2, as lme4 drops it
        fit = estimate_effect(
            frames[frame], outcome, "treat", covariates, weights="weight" if weighted else None,
            cluster="school", model="mixed",
        )  # fmt: skip
    assert_matches_lmer(fit, R[name])
    assert fit.se_type == "model (REML)"
    assert fit.ci_high == pytest.approx(fit.estimate + stats.t.ppf(0.975, fit.df) * fit.se)


def test_planted_arm_difference_is_found_and_narrows_the_df(frames):
    """10 PL schools (SD 0.5) and 30 comparison schools (SD 0.1): the PL variance is several
    times the comparison one, and the effect's df are about the PL schools' 10 — not the 40
    schools a single variance would lean on."""
    with pytest.warns(EstimationWarning, match="'baseline_x2'"):
        fit = estimate_effect(
            frames["arms"], "outcome", "treat", ["baseline", "band", "baseline_x2"],
            weights="weight", cluster="school", model="mixed",
        )  # fmt: skip
    assert fit.dropped == ("baseline_x2",)
    assert fit.variance.treated > 5 * fit.variance.comparison
    assert 9 < fit.df < 12
    frame = fit.to_frame().iloc[0]
    assert frame["var_cluster_treated"] == fit.variance.treated
    assert frame["var_cluster_comparison"] == fit.variance.comparison
    assert "between treated clusters 0.1387" in fit.summary()


def test_two_pl_schools_give_a_boundary_fit_as_lme4(frames):
    """With 2 PL schools REML puts their variance at 0 (lme4: "boundary (singular) fit"); the
    df then rest on the comparison schools and the residual, as lmerTest's do."""
    fit = estimate_effect(
        frames["few"], "outcome", "treat", ["baseline", "band"], weights="weight",
        cluster="school", model="mixed",
    )  # fmt: skip
    assert fit.variance.theta[0] == 0.0 and fit.variance.treated == 0.0
    assert fit.df == pytest.approx(R["few_clusters"]["df"][1], rel=1e-6)


def test_interaction_equals_lmertest(frames):
    fit = estimate_interaction(
        frames["data"], "outcome", "treat", "grade", ["baseline", "female"], weights="weight",
        cluster="school", model="mixed",
    )  # fmt: skip
    reference = R["arms_interaction"]
    assert_matches_lmer(fit, reference)
    groups = reference["groups"]
    assert list(fit.groups["group"]) == groups["groups"]
    for column in ("estimate", "se", "df", "ci_low", "ci_high", "p_value"):
        # a CI bound near 0 (grade 4's is 0.00097) is compared on the estimate's scale
        np.testing.assert_allclose(fit.groups[column], groups[column], rtol=1e-6, atol=1e-7)
    test = groups["test"]
    assert fit.test.method == "Satterthwaite F" and fit.test.distribution == "F"
    assert fit.test.df == test["df1"]
    assert fit.statistic == pytest.approx(test["statistic"], rel=1e-6)
    assert fit.test.df_denominator == pytest.approx(test["df2"], rel=1e-6)
    assert fit.p_value == pytest.approx(test["p_value"], rel=1e-6)


def four_clusters(values: list[list[float]]) -> pd.DataFrame:
    """Four clusters of three rows; the first two are treated."""
    return pd.DataFrame(
        {
            "y": np.concatenate(values),
            "t": np.repeat([1, 1, 0, 0], 3),
            "school": np.repeat(["c1", "c2", "c3", "c4"], 3),
        }
    )


def test_reml_equals_anova_by_arm_in_a_balanced_design():
    # cluster means 2, 5 (treated) and 1, 3 (comparison); SSW = 4 × 2 = 8 on 8 df: MSW = 1.
    # Between clusters within each arm, 1 df each: MSB_t = 3·(1.5² + 1.5²) = 13.5, MSB_c =
    # 3·(1² + 1²) = 6. REML = ANOVA by arm: σ²_a = (MSB_a − MSW)/3, and the effect's variance is
    # MSB_t/6 + MSB_c/6 on Welch–Satterthwaite df (a_t + a_c)²/(a_t² + a_c²), a = MSB/6.
    data = four_clusters([[1, 2, 3], [4, 5, 6], [0, 1, 2], [2, 3, 4]])
    fit = estimate_effect(data, "y", "t", cluster="school", model="mixed")
    assert fit.estimate == pytest.approx(3.5 - 2.0)  # the arms' means
    assert fit.variance.residual == pytest.approx(1.0, rel=1e-7)
    assert fit.variance.treated == pytest.approx((13.5 - 1) / 3, rel=1e-7)
    assert fit.variance.comparison == pytest.approx((6 - 1) / 3, rel=1e-7)
    assert fit.se == pytest.approx(np.sqrt(13.5 / 6 + 6 / 6), rel=1e-7)
    df = (2.25 + 1) ** 2 / (2.25**2 + 1**2)  # 1.742
    assert fit.df == pytest.approx(df, rel=1e-6)
    # (one variance for both arms, the old model, pooled MSB = 9.75 and gave a normal interval)
    assert fit.ci_high - fit.estimate == pytest.approx(stats.t.ppf(0.975, df) * fit.se)


def test_reml_at_the_boundary_is_least_squares():
    # MSB < MSW in both arms: no between-cluster variance, θ = 0 and the SE and df are the
    # classical OLS ones (N − K = 10)
    data = four_clusters([[0, 3, 6], [1, 4, 7], [0, 2, 4], [-1, 2, 5]])
    fit = estimate_effect(data, "y", "t", cluster="school", model="mixed")
    assert fit.variance.theta == (0.0, 0.0)
    y, t = data["y"].to_numpy(), data["t"].to_numpy() == 1
    residuals = np.concatenate([y[t] - y[t].mean(), y[~t] - y[~t].mean()])
    s2 = (residuals**2).sum() / (12 - 2)
    assert fit.estimate == pytest.approx(y[t].mean() - y[~t].mean())
    assert fit.se == pytest.approx(np.sqrt(s2 * (1 / 6 + 1 / 6)))
    assert fit.df == pytest.approx(10, rel=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.assign(school=["c1"] * 3 + ["c2"] * 6 + ["c4"] * 3),
         "every cluster must lie in one arm; 1 clusters have rows in both"),
        (lambda d: d.assign(school=["c1"] * 6 + ["c3"] * 3 + ["c4"] * 3),
         "at least 2 clusters in each arm .* found 1 treated and 2 comparison"),
    ],
    ids=["cluster in both arms", "one treated cluster"],
)  # fmt: skip
def test_clusters_the_model_cannot_use_are_a_one_line_error(change, message):
    data = change(four_clusters([[1, 2, 3], [4, 5, 6], [0, 1, 2], [2, 3, 4]]))
    with pytest.raises(EstimationError, match=message) as caught:
        estimate_effect(data, "y", "t", cluster="school", model="mixed")
    assert "\n" not in str(caught.value)
