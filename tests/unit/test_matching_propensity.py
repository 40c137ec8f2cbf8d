"""The hand-written glm-style IRLS equals statsmodels; classifiers, categoricals, separation."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from sklearn.linear_model import LogisticRegression

from pl_eval.matching import MatchingError, MatchingWarning, match
from pl_eval.matching.propensity import fit_logistic


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(11)
    n = 3000
    x1 = rng.normal(size=n)
    x2 = rng.uniform(size=n)
    school = rng.choice(["north", "east", "west"], size=n)
    eta = -2 + 0.8 * x1 - 1.0 * x2 + np.where(school == "west", 0.7, 0.0)
    treat = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"treat": treat, "x1": x1, "x2": x2, "school": school})


def test_irls_equals_statsmodels_glm(sample):
    x = sm.add_constant(sample[["x1", "x2"]].to_numpy())
    y = sample["treat"].to_numpy(dtype=float)
    ours = fit_logistic(x, y)
    reference = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100)
    assert ours.converged and ours.iterations < 10
    np.testing.assert_allclose(ours.coefficients, reference.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(x @ ours.coefficients, x @ reference.params, rtol=0, atol=1e-8)


def test_categorical_covariates_are_drop_first_indicators(sample):
    result = match(sample, "treat", ["x1", "x2", "school"])
    coefs = result.propensity.coefficients
    # levels sorted (east, north, west): east is the reference, as R's factor
    assert list(coefs.index) == ["(Intercept)", "x1", "x2", "school_north", "school_west"]
    reference = smf.glm("treat ~ x1 + x2 + C(school)", sample, family=sm.families.Binomial()).fit(
        tol=1e-14, maxiter=100
    )
    np.testing.assert_allclose(
        result.distance.to_numpy(), reference.predict(sample, which="linear"), atol=1e-8
    )
    # balance shows every level
    levels = set(result.balance().table["covariate"])
    assert {"school_east", "school_north", "school_west"} <= levels


def test_collinear_covariate_is_dropped_with_a_warning(sample):
    df = sample.assign(x1_again=2 * sample["x1"] + 1, constant=3.0)
    with pytest.warns(MatchingWarning, match="x1_again, constant dropped"):
        result = match(df, "treat", ["x1", "x2", "x1_again", "constant"])
    plain = match(sample, "treat", ["x1", "x2"])
    assert result.propensity.aliased == ("x1_again", "constant")
    np.testing.assert_allclose(result.distance, plain.distance, atol=1e-10)


def test_any_sklearn_classifier_can_score(sample):
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)  # unpenalised
    result = match(sample, "treat", ["x1", "x2"], ps_model=model)
    glm = match(sample, "treat", ["x1", "x2"])
    assert result.settings.ps_model == "LogisticRegression"
    assert result.propensity.coefficients is None
    np.testing.assert_allclose(result.distance, glm.distance, atol=1e-4)
    assert not hasattr(model, "coef_")  # the caller's estimator is cloned, not fitted


def test_a_model_without_predict_proba_is_refused(sample):
    from sklearn.linear_model import LinearRegression

    with pytest.raises(MatchingError, match="LinearRegression has no predict_proba"):
        match(sample, "treat", ["x1"], ps_model=LinearRegression())


def test_complete_separation_is_a_clear_error_naming_the_covariate():
    df = pd.DataFrame(
        {
            "treat": [0, 0, 0, 1, 1, 1],
            "x": [1.0, 2, 3, 4, 5, 6],
            "z": [0.3, 0.1, 0.2, 0.2, 0.1, 0.3],
        }
    )
    with pytest.raises(MatchingError, match="complete separation.*x separates"):
        match(df, "treat", ["x", "z"])


def test_quasi_separation_warns_and_still_matches():
    rng = np.random.default_rng(2)
    n = 400
    rural = np.r_[np.ones(40), np.zeros(n - 40)]  # rural rows are all comparison rows
    treat = np.r_[np.zeros(40), (rng.random(n - 40) < 0.3)].astype(int)
    df = pd.DataFrame({"treat": treat, "x": rng.normal(size=n), "rural": rural})
    with pytest.warns(MatchingWarning, match="quasi-separation by rural"):
        result = match(df, "treat", ["x", "rural"])
    assert result.n_matched_treated == treat.sum()
    assert (result.weights.iloc[:40] == 0).all()


def test_no_warning_on_a_clean_fit(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        match(sample, "treat", ["x1", "x2"], caliper=0.2, replace=True)
