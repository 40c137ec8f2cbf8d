"""Entropy-balancing weights (issue 12, the doubly-robust variant): hand-computed weights,
exact balance of means within strata and of variances across them, the fallbacks and reasons
for strata that cannot be balanced, and the school-weighted pooled effect of a weighted sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_estimation_scales import BIG_EFFECT, estimates, planted

from pl_eval.estimation.cohort import POOLED_SCHOOLS
from pl_eval.matching import match
from pl_eval.matching.weighting import (
    MEANS,
    MEANS_AND_VARIANCES,
    STRATUM_COLUMN,
    entropy_weights,
)


def test_three_point_weights_by_hand():
    # Comparison x = 0, 1, 2 and a PL mean of 1.5: the weights closest to uniform with that
    # mean are exponential in x, p ∝ r^x, with (r + 2r²)/(1 + r + r²) = 1.5, i.e.
    # r² − r − 3 = 0, r = (1 + √13)/2 = 2.302776; two PL students, so they sum to 2.
    x = np.array([[1.0], [2.0], [0.0], [1.0], [2.0]])
    treat = np.array([True, True, False, False, False])
    found = entropy_weights(x, treat, np.zeros(5, dtype=np.int64), np.array([False]))
    r = (1 + np.sqrt(13)) / 2
    expected = 2 * np.array([1, r, r**2]) / (1 + r + r**2)
    np.testing.assert_allclose(found.weights, [1, 1, *expected], rtol=1e-9)
    assert found.moments == MEANS and len(found.unmatched) == 0


def test_two_points_leave_one_answer_whatever_the_objective():
    # x = 0 or 1 among comparison rows and a PL mean of 0.75: weights 0.25 and 0.75 (× 4 PL)
    x = np.array([[1.0], [1.0], [1.0], [0.0], [0.0], [1.0]])
    treat = np.array([True, True, True, True, False, False])
    x[3] = 0.0  # PL: 1, 1, 1, 0
    found = entropy_weights(x, treat, np.zeros(6, dtype=np.int64), np.array([False]))
    np.testing.assert_allclose(found.weights[4:], [1.0, 3.0], rtol=1e-9)


def cohort(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three strata: PL students score higher and have a narrower spread; stratum 2 holds one
    PL student, whose spread (none) no weighting can reach within the stratum."""
    rng = np.random.default_rng(seed)
    sizes = [(40, 300), (25, 200), (1, 50)]
    xs, treats, strata = [], [], []
    for s, (n_t, n_c) in enumerate(sizes):
        xs += [rng.normal([0.5, 1.0], [0.6, 0.7], (n_t, 2)), rng.normal(0, 1, (n_c, 2))]
        treats += [np.ones(n_t, bool), np.zeros(n_c, bool)]
        strata += [np.full(n_t + n_c, s)]
    return np.vstack(xs), np.concatenate(treats), np.concatenate(strata)


def weighted_moments(x, w):
    mean = np.average(x, weights=w, axis=0)
    return mean, np.average((x - mean) ** 2, weights=w, axis=0)


def test_means_within_strata_and_variances_across_them_equal_the_pl_students():
    x, treat, strata = cohort()
    found = entropy_weights(x, treat, strata, np.array([True, True]))
    w = found.weights
    assert found.moments == MEANS_AND_VARIANCES and len(found.unmatched) == 0
    assert (w[treat] == 1).all() and (w[~treat] > 0).all()
    for s in range(3):
        t, c = treat & (strata == s), ~treat & (strata == s)
        assert w[c].sum() == pytest.approx(t.sum(), rel=1e-12)
        np.testing.assert_allclose(
            np.average(x[c], weights=w[c], axis=0), x[t].mean(axis=0), atol=1e-6
        )
    mean_t, var_t = weighted_moments(x[treat], w[treat])
    mean_c, var_c = weighted_moments(x[~treat], w[~treat])
    np.testing.assert_allclose(mean_c, mean_t, atol=1e-6)
    np.testing.assert_allclose(var_c, var_t, rtol=1e-5)
    # unweighted, the arms differ by about half an SD and a variance ratio far from 1
    assert np.abs(x[treat].mean(axis=0) - x[~treat].mean(axis=0)).min() > 0.4


def test_weights_through_match_balance_every_covariate_and_report_the_ess():
    x, treat, strata = cohort(2)
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "grade": strata, "treat": treat.astype(int)})
    result = match(df, "treat", ["a", "b"], exact="grade", method="entropy")
    table = result.balance().table.set_index(["covariate", "sample"])
    assert "propensity (logit)" not in table.index.get_level_values(0)  # no score
    for name in ("a", "b"):
        before, after = table.loc[(name, "all")], table.loc[(name, "matched")]
        assert abs(before["effect_size"]) > 0.3
        assert abs(after["effect_size"]) < 1e-6 and after["var_ratio"] == pytest.approx(1, abs=0.02)
    sizes = result.sample_sizes()
    w = result.weights[~result.treated]
    assert sizes.loc["matched_ess", "comparison"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert sizes.loc["matched_ess", "comparison"] < sizes.loc["all", "comparison"]
    assert result.pairs.empty
    assert result.settings.describe().startswith("Entropy-balancing weights, exact on grade")
    assert "Balanced: means within strata, variances across them" in result.summary()


def test_unreachable_variances_fall_back_to_means():
    # every PL student has the same value: only a point mass of comparison weight on it
    # would give the same (zero) variance, so the means alone are balanced
    x = np.array([[1.0], [1.0], [0.0], [1.5], [2.0], [0.5]])
    treat = np.array([True, True, False, False, False, False])
    found = entropy_weights(x, treat, np.zeros(6, dtype=np.int64), np.array([True]))
    assert found.moments == MEANS
    assert np.average(x[2:, 0], weights=found.weights[2:]) == pytest.approx(1.0, abs=1e-6)


def test_strata_that_cannot_be_balanced_leave_their_pl_students_out_with_a_reason():
    # stratum 0 balances; stratum 1's PL mean (5) is beyond every comparison value (0-2);
    # stratum 2 has no comparison student; stratum 3 has no PL student (weights 0)
    x = np.array([[1.0], [0.0], [2.0], [5.0], [0.0], [2.0], [1.0], [1.0]])
    treat = np.array([True, False, False, True, False, False, True, False])
    strata = np.array([0, 0, 0, 1, 1, 1, 2, 3])
    found = entropy_weights(x, treat, strata, np.array([False]))
    np.testing.assert_allclose(found.weights, [1, 0.5, 0.5, 0, 0, 0, 0, 0], atol=1e-9)
    assert found.unmatched.tolist() == [3, 6]
    assert found.reasons.tolist() == ["not_balanceable", "no_stratum_controls"]


def test_a_column_constant_in_a_stratum_is_balanced_only_when_the_pl_students_share_it():
    # column 1 is 1 for every comparison student of the stratum: PL students at 1 balance,
    # a PL student at 0 cannot be reached
    x = np.array([[0.5, 1.0], [0.0, 1.0], [1.0, 1.0]])
    treat = np.array([True, False, False])
    ok = entropy_weights(x, treat, np.zeros(3, dtype=np.int64), np.array([False, False]))
    np.testing.assert_allclose(ok.weights, [1, 0.5, 0.5], atol=1e-9)
    x[0, 1] = 0.0
    out = entropy_weights(x, treat, np.zeros(3, dtype=np.int64), np.array([False, False]))
    assert out.reasons.tolist() == ["not_balanceable"] and (out.weights == 0).all()


def test_school_weighted_pooled_effect_of_a_weighted_sample():
    # The planted cohort of test_estimation_scales, weighted instead of matched (one stratum,
    # no pairs): the school-weighted effect is still one school in four gaining 0.5.
    data, _ = planted()
    weighted = data.assign(**{STRATUM_COLUMN: 0})
    no_pairs = pd.DataFrame({"treated_key": [], "slot": [], "control_key": []})
    est = estimates(weighted, no_pairs)
    assert est.loc[("pooled", "all"), "estimate"] == pytest.approx(BIG_EFFECT * 40 / 64)
    schools = est.loc[(POOLED_SCHOOLS, "all")]
    assert schools["estimate"] == pytest.approx(BIG_EFFECT / 4, abs=1e-10)
    assert schools["n_treated"] == 64 and schools["n_schools"] == 4
