"""Effect models: agreement with R (lm + sandwich, clubSandwich, lme4) and MatchIt's fixtures,
hand-computed small cases, statsmodels' MixedLM, a planted effect, and bad input.

R's numbers come from tests/data/r/make_fixtures.R (its outputs sit beside it); the mixed
model's lme4 checks are in test_estimation_mixed.py.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from pl_eval.estimation.models import (
    EstimationError,
    EstimationWarning,
    estimate_effect,
    estimate_indicator_effects,
    estimate_interaction,
)
from pl_eval.estimation.ols import CentredDesign

DATA = Path(__file__).resolve().parents[1] / "data"
R = json.loads((DATA / "r" / "results.json").read_text())["results"]
SMALL_SAMPLE = json.loads((DATA / "r" / "small_sample.json").read_text())["results"]
COVARIATES = ["baseline", "female", "grade"]


@pytest.fixture(scope="module")
def rdata() -> pd.DataFrame:
    return pd.read_csv(DATA / "r" / "data.csv", dtype={"grade": str, "school": str})


def r_name(term: str) -> str:
    """Our patsy-style term name as R's lm spells it."""
    if term == "Intercept":
        return "(Intercept)"
    return term.replace("[T.", "").replace("]", "")


def assert_matches_r(fit, reference: dict, rtol: float) -> None:
    """Every coefficient and the whole covariance matrix agree with R's, term by term."""
    order = [reference["terms"].index(r_name(t)) for t in fit.coefficients.index]
    assert len(order) == len(reference["terms"])
    np.testing.assert_allclose(
        fit.coefficients["estimate"], np.array(reference["coef"])[order], rtol=rtol, atol=1e-12
    )
    expected = np.array(reference["vcov"])[np.ix_(order, order)]
    np.testing.assert_allclose(fit.vcov.to_numpy(), expected, rtol=rtol, atol=1e-12)


LEAST_SQUARES = {
    "wls_cr1": dict(weights="weight", cluster="school", se="CR1"),
    "ols_cr1": dict(cluster="school", se="CR1"),
    "wls_hc1": dict(weights="weight", se="CR1"),
    "ols_hc1": dict(se="CR1"),
    "wls_cr2": dict(weights="weight", cluster="school", se="CR2"),
    "ols_cr2": dict(cluster="school", se="CR2"),
    "ols_vcovcl_hc2": dict(cluster="school", se="CR2"),
    "wls_hc2": dict(weights="weight", se="CR2"),
    "ols_hc2": dict(se="CR2"),
}
SE_TYPES = {"wls_cr1": "CR1", "ols_cr1": "CR1", "wls_hc1": "HC1", "ols_hc1": "HC1",
            "wls_cr2": "CR2", "ols_cr2": "CR2", "ols_vcovcl_hc2": "CR2", "wls_hc2": "HC2",
            "ols_hc2": "HC2"}  # fmt: skip


@pytest.mark.parametrize("name", list(LEAST_SQUARES))
def test_least_squares_equals_r(rdata, name):
    fit = estimate_effect(rdata, "outcome", "treat", COVARIATES, **LEAST_SQUARES[name])
    assert_matches_r(fit, R[name], rtol=1e-6)
    assert fit.se_type == SE_TYPES[name]
    clustered = "cluster" in LEAST_SQUARES[name]
    if clustered and fit.se_type == "CR2":  # Satterthwaite df, as clubSandwich's coef_test
        satterthwaite = SMALL_SAMPLE["ols_cr2" if name == "ols_vcovcl_hc2" else name]
        assert fit.df == pytest.approx(satterthwaite["df"][1], rel=1e-6)
    else:  # G − 1 for CR1, N − K unclustered
        assert fit.df == (59 if clustered else 2000 - 6)
    assert fit.n_clusters == (60 if clustered else None)


def test_cr2_with_a_leverage_one_cluster_equals_clubsandwich(rdata):
    data = rdata.assign(only_s05=(rdata["school"] == "s05").astype(int))
    fit = estimate_effect(
        data, "outcome", "treat", [*COVARIATES, "only_s05"], weights="weight", cluster="school",
        se="CR2",
    )  # fmt: skip
    assert_matches_r(fit, R["wls_cr2_leverage_one"], rtol=1e-6)


def test_interaction_equals_r(rdata):
    fit = estimate_interaction(
        rdata, "outcome", "treat", "grade", ["baseline", "female"], weights="weight",
        cluster="school",
    )  # fmt: skip
    reference = R["interaction_cr1"]
    rtol = 1e-6
    assert_matches_r(fit, reference, rtol=rtol)
    assert list(fit.groups["group"]) == reference["groups"]
    np.testing.assert_allclose(fit.groups["estimate"], reference["estimate"], rtol=rtol)
    np.testing.assert_allclose(fit.groups["se"], reference["se"], rtol=rtol)
    test = reference["test"]
    assert fit.statistic == pytest.approx(test["statistic"], rel=rtol)
    assert fit.p_value == pytest.approx(test["p_value"], rel=rtol)
    assert fit.df == test["df1"]
    assert fit.test.distribution == "F" and fit.test.df_denominator == test["df2"]
    counts = rdata.groupby("grade")["treat"].agg(["sum", "size"])
    assert list(fit.groups["n_treated"]) == list(counts["sum"])
    assert list(fit.groups["n_comparison"]) == list(counts["size"] - counts["sum"])


MATCHIT = json.loads((DATA / "matchit" / "results.json").read_text())["results"]


@pytest.mark.parametrize("name", list(MATCHIT))
def test_matchit_weighted_regression(name):
    """MatchIt's outcome model: lm(weights = match weights) on the matched rows, school CR1."""
    data = pd.read_csv(DATA / "matchit" / "data.csv")
    units = pd.read_csv(DATA / "matchit" / f"{name}_units.csv")
    data = data.merge(units[["student_id", "weight"]], on="student_id", validate="1:1")
    fit = estimate_effect(
        data, "outcome_z", "treat", ["baseline_z", "frl_school", "urban", "female"],
        weights="weight", cluster="school_id",
    )  # fmt: skip
    expected = MATCHIT[name]
    assert fit.estimate == pytest.approx(expected["att_adjusted"], abs=1e-8)
    assert fit.se == pytest.approx(expected["se_cluster_school_cr1"], abs=1e-8)
    assert fit.n_treated == expected["n_treated_matched"]
    assert fit.n_comparison == expected["n_controls_matched"]
    assert fit.n_zero_weight == len(data) - fit.n_obs


# ---- hand-computed cases ---------------------------------------------------------------------


def small() -> pd.DataFrame:
    # treated 1, 3, 5 (mean 3, residuals −2, 0, 2); comparison 0, 2 (mean 1, residuals −1, 1)
    return pd.DataFrame(
        {"y": [1.0, 3.0, 5.0, 0.0, 2.0], "t": [1, 1, 1, 0, 0], "school": ["a", "b", "a", "c", "d"]}
    )


def test_difference_in_means_with_hc1():
    fit = estimate_effect(small(), "y", "t")
    # HC0 = Σ_T e²/n1² + Σ_C e²/n0² = 8/9 + 2/4 = 25/18; HC1 = HC0·n/(n−k) = 25/18·5/3
    assert fit.estimate == pytest.approx(2.0)
    assert fit.se == pytest.approx(np.sqrt(125 / 54))
    assert fit.df == 3
    half = 3.182446305284263 * np.sqrt(125 / 54)  # t(3) 97.5% quantile
    assert (fit.ci_low, fit.ci_high) == pytest.approx((2 - half, 2 + half))
    assert fit.se_type == "HC1" and fit.n_treated == 3 and fit.n_comparison == 2


def test_cluster_robust_cr1_by_hand():
    fit = estimate_effect(small(), "y", "t", cluster="school")
    # cluster residual sums: a = −2 + 2 = 0, b = 0, c = −1, d = 1 (clusters do not mix arms)
    # CR0 = (0² + 0²)/3² + ((−1)² + 1²)/2² = 1/2; CR1 = CR0 · G/(G−1) · (n−1)/(n−k) = 1/2·4/3·4/3
    assert fit.estimate == pytest.approx(2.0)
    assert fit.se == pytest.approx(np.sqrt(8 / 9))
    assert fit.df == 3 and fit.n_clusters == 4 and fit.se_type == "CR1"
    assert fit.p_value == pytest.approx(2 * stats.t(3).sf(2 / np.sqrt(8 / 9)))


def test_weights_act_as_replication_for_the_estimate():
    frame = small().assign(w=[2.0, 1.0, 1.0, 1.0, 3.0])
    repeated = frame.loc[frame.index.repeat(frame["w"].astype(int))]
    weighted = estimate_effect(frame, "y", "t", weights="w")
    assert weighted.estimate == pytest.approx(estimate_effect(repeated, "y", "t").estimate)
    # weighted means: treated (2·1 + 3 + 5)/4 = 2.5, comparison (0 + 3·2)/4 = 1.5
    assert weighted.estimate == pytest.approx(1.0)
    assert weighted.weighted and weighted.n_treated == 3 and weighted.n_comparison == 2


def test_arm_intercepts_equal_statsmodels_mixedlm():
    """statsmodels' MixedLM with one variance component per arm (each school's random
    coefficient on its arm's indicator) is the same model; PL schools vary three times as much."""
    rng = np.random.default_rng(7)
    n, g = 600, 30
    school = rng.integers(0, g, n)
    data = pd.DataFrame(
        {
            "school": school,
            "t": (school < 12).astype(int),
            "x": rng.normal(size=n),
            "band": rng.choice(["lo", "mid", "hi"], n),
        }
    )
    school_sd = np.where(np.arange(g) < 12, 0.6, 0.2)
    data["y"] = (
        0.3 * data["t"] + 0.5 * data["x"] + rng.normal(0, school_sd)[school] + rng.normal(size=n)
    )
    ours = estimate_effect(data, "y", "t", ["x", "band"], cluster="school", model="mixed")
    reference = smf.mixedlm(
        "y ~ t + x + C(band)", data.assign(c=1 - data["t"]), groups=data["school"],
        re_formula="0", vc_formula={"treated": "0 + t", "comparison": "0 + c"},
    ).fit(reml=True)  # fmt: skip
    assert ours.estimate == pytest.approx(reference.params["t"], abs=1e-5)
    assert ours.se == pytest.approx(reference.bse["t"], abs=1e-5)
    assert ours.variance.residual == pytest.approx(reference.scale, rel=1e-5)
    comparison, treated = reference.vcomp  # statsmodels sorts the components by name
    assert ours.variance.treated == pytest.approx(treated, rel=1e-4)
    assert ours.variance.comparison == pytest.approx(comparison, rel=1e-4)


def test_planted_effect_is_recovered_with_calibrated_intervals():
    """100 simulated studies (30 schools, treatment by school, school effects, match-style
    weights): the estimates centre on the planted effect and ~95% of the CIs contain it."""
    rng = np.random.default_rng(2014)
    n, g, effect, reps = 1_000, 30, 0.25, 100
    found = {"ols_cluster": [], "mixed": []}
    for _ in range(reps):  # replicates of a simulation study, not rows
        school = rng.integers(0, g, n)
        treated = school < 12
        baseline = rng.normal(0.3 * treated, 1.0)
        data = pd.DataFrame(
            {
                "treated": treated,
                "baseline": baseline,
                "school": school,
                "weight": np.where(treated, 1.0, rng.choice([0.5, 1.0, 2.0], n)),
                "y": effect * treated + 0.7 * baseline + rng.normal(0, 0.2, g)[school]
                + rng.normal(0, 0.6, n),
            }
        )  # fmt: skip
        for model, fits in found.items():
            fit = estimate_effect(
                data, "y", "treated", ["baseline"], weights="weight", cluster="school", model=model
            )
            fits.append((fit.estimate, fit.ci_low < effect < fit.ci_high))
    for fits in found.values():
        estimates, covered = np.array(fits).T
        assert estimates.mean() == pytest.approx(effect, abs=0.02)  # Monte Carlo SE ≈ 0.008
        assert covered.mean() >= 0.88


# ---- design: encoding, dropped terms and rows ------------------------------------------------


def frame(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = rng.integers(0, 20, n)
    data = pd.DataFrame(
        {
            "t": (school < 8).astype(int),
            "x": rng.normal(size=n),
            "level": pd.Categorical(rng.choice(["low", "mid", "high"], n), ["mid", "low", "high"]),
            "flag": rng.random(n) < 0.4,
            "school": school,
            "w": rng.choice([0.5, 1.0, 2.0], n),
        }
    )
    data["y"] = 0.2 * data["t"] + data["x"] + rng.normal(0, 0.2, 20)[school] + rng.normal(size=n)
    return data


def test_terms_follow_r_model_matrix():
    fit = estimate_effect(frame(), "y", "t", ["x", "level", "flag"])
    # a Categorical's first category is the reference; booleans are an indicator of True
    assert list(fit.coefficients.index) == [
        "Intercept", "t", "x", "level[T.low]", "level[T.high]", "flag[T.True]",
    ]  # fmt: skip
    text = frame().assign(level=lambda d: d["level"].astype(str))
    fit = estimate_effect(text, "y", "t", ["level"])
    assert list(fit.coefficients.index) == ["Intercept", "t", "level[T.low]", "level[T.mid]"]


def test_constant_and_collinear_covariates_are_dropped_with_a_warning():
    data = frame().assign(year=2015, double_x=lambda d: 2 * d["x"])
    with pytest.warns(EstimationWarning, match="'year', 'double_x'"):
        fit = estimate_effect(data, "y", "t", ["x", "year", "double_x"], cluster="school")
    assert fit.dropped == ("year", "double_x")
    reference = estimate_effect(data, "y", "t", ["x"], cluster="school")
    assert fit.estimate == pytest.approx(reference.estimate, abs=1e-12)
    assert fit.se == pytest.approx(reference.se, abs=1e-12)
    assert "year" not in fit.coefficients.index


def test_an_aliased_indicator_of_a_rare_level_is_dropped_as_lms_qr_drops_it():
    # Indicators of grades and of the bands grouping them (a grade-band breakout with grade in
    # its covariates): two grades are aliased. With a rare grade (0.04% of 300,000 weighted
    # rows) the Gram matrix's rounding alone was about lm's cut-off, and one aliased grade
    # survived it by chance (a design of condition 1e18; a school leverage of 1.28).
    rng = np.random.default_rng(0)
    n = 300_000
    share = np.array([30, 30, 30, 30, 30, 30, 20, 20, 0.05, 20, 1, 1, 0.5])
    grade = rng.choice(13, size=n, p=share / share.sum())
    band = np.digitize(grade, [6, 9])
    columns = [np.ones(n), rng.normal(size=n) * 1e3]
    columns += [(band == b).astype(float) for b in (1, 2)]
    columns += [(grade == g).astype(float) for g in range(1, 13)]
    x = np.column_stack(columns)
    keep = CentredDesign.build(x.copy(), rng.exponential(size=n)).independent()
    assert keep.sum() == np.linalg.matrix_rank(x) == x.shape[1] - 2
    assert not keep[[11, 15]].any()  # grades 8 and 12, the last of each band, as lm drops them


def test_effects_on_level_indicators_equal_one_fit_each():
    # rows left out (a missing covariate, zero weights) and a constant covariate dropped
    data = frame().assign(year=2015, school=lambda d: "s" + d["school"].astype(str))
    data.loc[[0, 5], "x"] = np.nan
    data.loc[[10, 11], "w"] = 0.0
    schools = sorted(data.loc[data["t"] == 0, "school"].unique())
    levels = [*schools, "s99"]  # a level no row holds: its indicator is 0 everywhere
    covariates = ["x", "level", "flag", "year"]
    with pytest.warns(EstimationWarning, match="'year'"):
        effects = estimate_indicator_effects(data, "school", levels, "t", covariates, weights="w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        one_by_one = [
            estimate_effect(
                data.assign(y=(data["school"] == level).astype(float)),
                "y", "t", covariates, weights="w",
            ).estimate
            for level in levels
        ]  # fmt: skip
    np.testing.assert_allclose(effects, one_by_one, rtol=1e-12, atol=1e-15)
    # the comparison schools' indicators add up to 1 − t, whose effect is exactly −1
    assert effects[: len(schools)].sum() == pytest.approx(-1.0, abs=1e-12)
    assert effects[-1] == 0.0
    assert estimate_indicator_effects(data, "school", [], "t", covariates).shape == (0,)
    with pytest.raises(EstimationError, match="indicator column 'campus' is not in the frame"):
        estimate_indicator_effects(data, "campus", schools, "t", covariates)


def test_indicator_effects_of_rows_without_a_level():
    # a row with no school is in the fit (its indicators are all 0) but in no level's sum
    data = frame().assign(school=lambda d: "s" + d["school"].astype(str))
    data.loc[[3, 4], "school"] = None
    levels = sorted(data.loc[data["t"] == 0, "school"].dropna().unique())
    effects = estimate_indicator_effects(data, "school", levels, "t", ["x"], weights="w")
    one_by_one = [
        estimate_effect(
            data.assign(y=(data["school"] == level).astype(float)), "y", "t", ["x"], weights="w"
        ).estimate
        for level in levels
    ]
    np.testing.assert_allclose(effects, one_by_one, rtol=1e-12, atol=1e-15)


def test_treatment_collinear_with_a_covariate_is_an_error():
    data = frame().assign(copy=lambda d: 1 - d["t"])
    with pytest.raises(EstimationError, match="treatment .t. is a combination of the covariates"):
        estimate_effect(data, "y", "t", ["copy"])


def test_missing_values_and_zero_weights_are_left_out_and_counted():
    data = frame()
    data.loc[[0, 5], "x"] = np.nan
    data.loc[7, "school"] = np.nan
    data.loc[[10, 11, 12], "w"] = 0.0
    before = data.copy()
    fit = estimate_effect(data, "y", "t", ["x"], weights="w", cluster="school")
    pd.testing.assert_frame_equal(data, before)  # the input is not modified
    assert (fit.n_missing, fit.n_zero_weight, fit.n_obs) == (3, 3, 194)
    complete = data.drop(index=[0, 5, 7, 10, 11, 12])
    reference = estimate_effect(complete, "y", "t", ["x"], weights="w", cluster="school")
    assert fit.estimate == reference.estimate and fit.se == reference.se
    assert fit.n_treated + fit.n_comparison == 194


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda d: d.assign(t=1), {}, "treatment column 't' does not vary"),
        (lambda d: d.assign(t=d["t"] * 2), {}, "must hold 0/1 or True/False, found 2"),
        (lambda d: d.assign(w=-d["w"]), {"weights": "w"}, "must not be negative"),
        (lambda d: d.assign(school=1), {"cluster": "school"}, "at least 2"),
        (lambda d: d.iloc[:0], {}, "no rows"),
        (lambda d: d.assign(y=np.nan), {}, "no rows left"),
        (lambda d: d.assign(y="high"), {}, "outcome column 'y' must be numeric"),
        (lambda d: d, {"cluster": "district"}, "cluster column 'district' is not in the frame"),
        (lambda d: d, {"model": "gee"}, "model must be one of"),
        (lambda d: d, {"se": "CR3"}, "se must be one of"),
        (lambda d: d, {"model": "mixed"}, "needs a cluster column"),
    ],
)
def test_bad_input_is_a_one_line_error(change, options, message):
    with pytest.raises(EstimationError, match=message) as caught:
        estimate_effect(change(frame()), "y", "t", ["x"], **options)
    assert "\n" not in str(caught.value)


# ---- interactions ----------------------------------------------------------------------------


def test_group_without_comparison_rows_is_flagged_and_left_out():
    data = frame(400)
    data["band"] = np.where(data["x"] > 0.5, "top", np.where(data["x"] > -0.5, "middle", "bottom"))
    data = data[~((data["band"] == "top") & (data["t"] == 0))]  # no comparison rows at the top
    fit = estimate_interaction(data, "y", "t", "band", ["x"], cluster="school")
    top = fit.groups.set_index("group").loc["top"]
    assert np.isnan(top["estimate"]) and top["note"] == "no comparison rows"
    assert top["n_comparison"] == 0 and top["n_treated"] > 0
    assert fit.test.groups == ("bottom", "middle") and fit.df == 1
    rest = estimate_interaction(
        data[data["band"] != "top"], "y", "t", "band", ["x"], cluster="school"
    )
    assert fit.statistic == pytest.approx(rest.statistic)
    pd.testing.assert_series_equal(
        fit.groups.set_index("group").loc[["bottom", "middle"], "se"],
        rest.groups.set_index("group")["se"],
    )


def test_group_effects_are_the_treatment_coefficient_plus_interaction():
    data = frame(400)
    fit = estimate_interaction(data, "y", "t", "level", ["x"], weights="w", cluster="school")
    effects = fit.groups.set_index("group")["estimate"]
    coef = fit.coefficients["estimate"]
    assert list(effects.index) == ["mid", "low", "high"]
    assert effects["mid"] == pytest.approx(coef["t"])
    assert effects["high"] == pytest.approx(coef["t"] + coef["t:level[T.high]"])
    # a single estimable group: its effect equals the plain model on its rows, no test
    only = data[data["level"] == "low"]
    single = estimate_interaction(only, "y", "t", "level", ["x"], cluster="school")
    plain = estimate_effect(only, "y", "t", ["x"], cluster="school")
    assert single.groups["estimate"].iloc[0] == pytest.approx(plain.estimate)
    assert np.isnan(single.statistic) and "fewer than two groups" in single.test.note


def test_no_estimable_group_is_an_error():
    data = frame().assign(band=lambda d: np.where(d["t"] == 1, "a", "b"))
    with pytest.raises(EstimationError, match="no group of 'band' has rows in both arms"):
        estimate_interaction(data, "y", "t", "band")


def test_tidy_outputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about here
        fit = estimate_effect(frame(), "y", "t", ["x"], weights="w", cluster="school")
    row = fit.to_frame()
    assert len(row) == 1
    assert row.loc[0, ["estimate", "se", "n_clusters", "se_type"]].tolist() == [
        fit.estimate, fit.se, 20, "CR1",
    ]  # fmt: skip
    assert "CR1 standard errors over 20 clusters" in fit.summary()
    inter = estimate_interaction(frame(), "y", "t", "level", weights="w", cluster="school")
    tidy = inter.to_frame()
    assert list(tidy["group"]) == ["mid", "low", "high"]
    assert (tidy["test_p_value"] == inter.p_value).all()
    assert "equal effects (Wald F): F(2, 19)" in inter.summary()
