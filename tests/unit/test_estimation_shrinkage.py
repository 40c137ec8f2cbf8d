"""Between-school variance and EB shrinkage against closed forms."""

import numpy as np
import pytest

from pl_eval.estimation.shrinkage import between_variance, shrink

Y = np.array([0.30, -0.10, 0.05, 0.22, 0.41, -0.02])


@pytest.mark.parametrize("method", ["reml", "dl"])
def test_equal_standard_errors_give_sample_variance_minus_noise(method):
    # With a common se, both REML and DL reduce to τ² = max(0, s² − se²).
    se = np.full(len(Y), 0.05)
    expected = np.var(Y, ddof=1) - 0.05**2
    assert between_variance(Y, se, method) == pytest.approx(expected, abs=1e-8)
    assert between_variance(Y, np.full(len(Y), 1.0), method) == 0.0  # noise swamps signal


def test_reml_solves_its_score_equation_with_unequal_errors():
    se = np.array([0.05, 0.08, 0.04, 0.10, 0.06, 0.07])
    tau2 = between_variance(Y, se, "reml")
    v = se**2

    def loglik(t):
        w = 1 / (v + t)
        mu = np.sum(w * Y) / np.sum(w)
        return -0.5 * (np.sum(np.log(v + t)) + np.log(np.sum(w)) + np.sum(w * (Y - mu) ** 2))

    h = 1e-6
    assert tau2 > 0
    assert (loglik(tau2 + h) - loglik(tau2 - h)) / (2 * h) == pytest.approx(0, abs=1e-4)


def test_shrinkage_moves_noisy_estimates_more():
    se = np.array([0.02, 0.2, 0.02, 0.2, 0.02, 0.2])
    result = shrink(Y, se, method="reml", mean=0.1)
    expected = 0.1 + result.tau2 / (result.tau2 + se**2) * (Y - 0.1)
    np.testing.assert_allclose(result.shrunken, expected)
    moved = np.abs(result.shrunken - Y)
    assert moved[1::2].min() > moved[0::2].max()  # noisy schools move more
    with pytest.raises(ValueError, match="reml, dl"):
        between_variance(Y, se, "ml")


@pytest.mark.parametrize("method", ["reml", "dl"])
def test_a_single_school_has_no_between_school_variance(method):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DL on one estimate used to warn (sqrt of a negative)
        assert between_variance(np.array([0.2]), np.array([0.1]), method) == 0.0
        assert shrink(np.array([0.2]), np.array([0.1]), method=method, mean=0.1).shrunken == [0.1]
