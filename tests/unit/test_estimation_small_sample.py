"""Small-sample inference: CR2 with Satterthwaite degrees of freedom and the HTZ test, against
clubSandwich (tests/data/r/make_small_sample_fixtures.R made tests/data/r/small_sample.json),
and what the intervals do with few treated schools."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pl_eval.estimation.models import estimate_effect, estimate_interaction

DATA = Path(__file__).resolve().parents[1] / "data" / "r"
R = json.loads((DATA / "small_sample.json").read_text())["results"]
TOL = 1e-6


@pytest.fixture(scope="module")
def schools60() -> pd.DataFrame:
    return pd.read_csv(DATA / "data.csv", dtype={"grade": str, "school": str})


@pytest.fixture(scope="module")
def few() -> pd.DataFrame:
    return pd.read_csv(DATA / "few_clusters.csv")


def r_name(term: str) -> str:
    """Our patsy-style term name as R's lm spells it."""
    if term == "Intercept":
        return "(Intercept)"
    return term.replace("[T.", "").replace("]", "")


def assert_coefficients_match(fit, reference: dict) -> None:
    """Estimate, SE, Satterthwaite df and p of every coefficient agree with coef_test's."""
    table = fit.coefficients.rename(index=r_name).loc[reference["terms"]]
    for column in ("estimate", "se", "df", "p_value"):
        np.testing.assert_allclose(table[column], reference[column], rtol=TOL, err_msg=column)


CASES = {
    "wls_cr2": ("schools60", ["baseline", "female", "grade"], "weight"),
    "ols_cr2": ("schools60", ["baseline", "female", "grade"], None),
    "few_wls_cr2": ("few", ["baseline", "band"], "weight"),
    "few_ols_cr2": ("few", ["baseline", "band"], None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cr2_satterthwaite_equals_clubsandwich(name, request):
    frame, covariates, weights = CASES[name]
    data = request.getfixturevalue(frame)
    fit = estimate_effect(
        data, "outcome", "treat", covariates, weights=weights, cluster="school", se="CR2"
    )
    assert_coefficients_match(fit, R[name])
    treat = R[name]["terms"].index("treat")
    assert fit.df == pytest.approx(R[name]["df"][treat], rel=TOL)
    assert fit.p_value == pytest.approx(R[name]["p_value"][treat], rel=TOL)


INTERACTIONS = {
    "interaction_cr2": ("schools60", "grade", ["baseline", "female"]),
    "few_interaction_cr2": ("few", "band", ["baseline"]),
}


@pytest.mark.parametrize("name", list(INTERACTIONS))
def test_group_effects_and_htz_test_equal_clubsandwich(name, request):
    frame, group, covariates = INTERACTIONS[name]
    data = request.getfixturevalue(frame)
    fit = estimate_interaction(
        data, "outcome", "treat", group, covariates, weights="weight", cluster="school", se="CR2"
    )
    reference = R[name]
    assert_coefficients_match(fit, reference)
    groups = fit.groups.set_index("group").loc[reference["groups"]["levels"]]
    for column in ("estimate", "se", "df", "ci_low", "ci_high", "p_value"):
        np.testing.assert_allclose(
            groups[column], reference["groups"][column], rtol=TOL, err_msg=column
        )
    test = reference["test"]
    assert fit.test.method == "HTZ" and fit.test.distribution == "F"
    assert fit.test.statistic == pytest.approx(test["statistic"], rel=TOL)
    assert fit.test.df == test["df_num"]
    assert fit.test.df_denominator == pytest.approx(test["df_denom"], rel=TOL)
    assert fit.test.p_value == pytest.approx(test["p_value"], rel=TOL)


def test_cr1_keeps_g_minus_one_df(few):
    fit = estimate_effect(
        few, "outcome", "treat", ["baseline", "band"], weights="weight", cluster="school", se="CR1"
    )
    assert fit.df == few["school"].nunique() - 1 == 8
    assert (fit.coefficients["df"] == 8).all()
    inter = estimate_interaction(
        few, "outcome", "treat", "band", ["baseline"], weights="weight", cluster="school", se="CR1"
    )
    assert inter.test.method == "Wald F" and inter.test.df_denominator == 8


def test_two_treated_schools_leave_few_df_however_many_comparison_schools():
    """2 PL schools among 40: G−1 would be 39, the Satterthwaite df is about 1."""
    rng = np.random.default_rng(5)
    school = np.repeat(np.arange(40), 30)
    data = pd.DataFrame(
        {
            "school": school,
            "treat": (school < 2).astype(int),
            "x": rng.normal(size=school.size),
        }
    )
    data["y"] = 0.5 * data["x"] + rng.normal(0, 0.3, 40)[school] + rng.normal(size=school.size)
    fit = estimate_effect(data, "y", "treat", ["x"], cluster="school", se="CR2")
    assert 0.5 < fit.df < 2
    # the interval is wide: at least 4 SEs either side (t(2)'s 97.5% quantile is 4.3)
    assert fit.ci_high - fit.estimate > 4 * fit.se


def test_rounding_near_a_leverage_of_one_is_a_leverage_of_one():
    """1 − λ of 1.2e-12 is rounding where the exact value is 0 (it came from a validation
    replication's breakout group whose PL students were all in one school): its CR2 weight is 0,
    not 1.2e-12^(-1/2) ≈ 900,000, which swamped the HTZ df and divided by zero."""
    from pl_eval.estimation.ols import _inverse_root

    np.testing.assert_allclose(_inverse_root(np.array([1.24e-12, 0.0, 0.25])), [0.0, 0.0, 2.0])


def test_cr2_does_not_depend_on_a_covariates_units():
    """CR2 SEs and Satterthwaite df are invariant to rescaling a covariate (the column space,
    so every leverage, is unchanged). A covariate in units 1e6 times too large made (X'WX)⁻¹
    huge in its direction, and the cluster eigenproblems on the raw design moved the SE by
    7e-5 relative; on the whitened design it stays to rounding."""
    rng = np.random.default_rng(7)
    n, n_schools = 3000, 40
    school = rng.integers(0, n_schools, n)
    treated = (school < 12).astype(int)
    x = rng.normal(size=n)
    y = 0.2 * treated + 0.5 * x + rng.normal(0, 0.3, n_schools)[school] + rng.normal(size=n)
    data = pd.DataFrame({
        "y": y, "t": treated, "x": x, "band": rng.integers(0, 3, n).astype(str),
        "school": school, "w": np.where(treated == 1, 1.0, rng.uniform(0.2, 3, n)),
    })  # fmt: skip

    def fits(scale: float) -> np.ndarray:
        scaled = data.assign(x=data["x"] * scale)
        options = {"weights": "w", "cluster": "school", "se": "CR2"}
        effect = estimate_effect(scaled, "y", "t", ["x"], **options)
        groups = estimate_interaction(scaled, "y", "t", "band", ["x"], **options)
        return np.array([
            effect.se, effect.df, *groups.groups["se"], *groups.groups["df"],
            groups.test.df_denominator,
        ])  # fmt: skip

    np.testing.assert_allclose(fits(1e-6), fits(1.0), rtol=1e-10)


def test_cr2_is_the_same_whether_rows_come_in_school_order_or_not():
    """Clusters summed run by run (rows in school order, as matched samples come) or after
    sorting (rows shuffled) give the same CR2 fit: the order of rows is not part of the model."""
    rng = np.random.default_rng(3)
    n = 2000
    school = np.sort(rng.integers(0, 30, n))
    data = pd.DataFrame({
        "school": school, "t": (school < 10).astype(int), "x": rng.normal(size=n),
        "y": rng.normal(size=n) + 0.3 * rng.normal(size=30)[school], "w": rng.uniform(0.5, 2, n),
    })  # fmt: skip
    shuffled = data.sample(frac=1.0, random_state=1)
    options = {"weights": "w", "cluster": "school", "se": "CR2"}
    ordered, mixed = (estimate_effect(d, "y", "t", ["x"], **options) for d in (data, shuffled))
    np.testing.assert_allclose([mixed.se, mixed.df], [ordered.se, ordered.df], rtol=1e-12)
