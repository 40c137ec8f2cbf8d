"""Covariate calipers (MatchIt's named caliper entries) and inverse-probability ATT weights,
against hand-computed cases and a direct transcription of MatchIt's walk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pl_eval.matching import MatchConfig, MatchingError, match
from pl_eval.matching.nearest import CovariateCalipers, matching_priority, nearest_neighbours
from pl_eval.matching.weighting import odds_weights


def pairs_of(found) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for t, c in zip(found.treated.tolist(), found.control.tolist(), strict=True):
        out.setdefault(t, []).append(c)
    return out


def run(distance, treat, z, width, *, ratio=1, replace=True, caliper=None):
    distance, treat = np.asarray(distance, float), np.asarray(treat, bool)
    return nearest_neighbours(
        distance,
        treat,
        np.zeros(len(distance), dtype=np.int64),
        ratio=ratio,
        replace=replace,
        caliper=caliper,
        priority=matching_priority(distance, treat, "largest", 0),
        calipers=CovariateCalipers(np.asarray(z, float)[:, None], np.array([width])),
    )


#: One treated unit T (row 0) and four controls: A is nearest on the logit but 0.5 away on z.
#:            T     A      B     C      D
LOGIT = [0.0, -0.1, 0.15, -0.3, 0.4]
TREAT = [1, 0, 0, 0, 0]
Z = [0.0, 0.5, 0.05, -0.02, 0.0]


def test_a_covariate_caliper_skips_the_nearest_control_outside_it():
    # no covariate caliper to speak of: A, nearest on the logit (0.1 away)
    assert pairs_of(run(LOGIT, TREAT, Z, 10.0)) == {0: [1]}
    # |z| within 0.1: A is skipped; B (0.15 right) is nearer than C (0.3 left)
    assert pairs_of(run(LOGIT, TREAT, Z, 0.1)) == {0: [2]}
    # 2:1: then C (0.3) before D (0.4)
    assert pairs_of(run(LOGIT, TREAT, Z, 0.1, ratio=2)) == {0: [2, 3]}
    # a logit caliper of 0.2 ends both walks: only B; T gets fewer than 2
    found = run(LOGIT, TREAT, Z, 0.1, ratio=2, caliper=0.2)
    assert pairs_of(found) == {0: [2]} and found.n_short == 1
    # no control within both calipers: unmatched, outside the caliper
    found = run(LOGIT, TREAT, Z, 0.01, caliper=0.2)
    assert pairs_of(found) == {} and found.reasons.tolist() == ["outside_caliper"]


def test_without_replacement_the_caliper_and_the_used_controls_are_both_skipped():
    #        T1   T2    B     C     A
    logit = [0.0, 0.05, 0.1, -0.2, 0.02]
    treat = [1, 1, 0, 0, 0]
    z = [0.0, 0.0, 0.05, 0.0, 0.9]
    # T2 (largest score) first: A is outside the z caliper, B (0.05) beats C (0.25); T1 then
    # finds A ineligible and B used, and takes C
    assert pairs_of(run(logit, treat, z, 0.1, replace=False)) == {1: [2], 0: [3]}
    # with replacement T1 takes B too (0.1 right beats C 0.2 left)
    assert pairs_of(run(logit, treat, z, 0.1, replace=True)) == {0: [2], 1: [2]}


def matchit_walk(d, treat, z, width, caliper, ratio, replace):
    """MatchIt 4.7's nn_matchC_vec, transcribed loop for loop: sort by distance, slot by slot
    over treated units in "largest" order, find_left / find_right skip used, ineligible and
    already-taken units and stop beyond the caliper; the left one wins ties."""
    order = np.argsort(d, kind="stable")
    ds, ts, zs = d[order], treat[order], z[order]
    usable = ~ts
    treated_sorted = [i for i in range(len(d)) if ts[i]]
    ranking = sorted(treated_sorted, key=lambda i: (-ds[i], order[i]))  # ties: data order
    rows = {i: [] for i in treated_sorted}

    def walk(i, step):
        k = i + step
        while 0 <= k < len(ds):
            if ts[k] or k in rows[i] or not usable[k]:
                k += step
                continue
            if caliper is not None and abs(ds[i] - ds[k]) > caliper:
                return -1
            if abs(zs[i] - zs[k]) > width:
                k += step
                continue
            return k
        return -1

    for _ in range(ratio):
        for i in ranking:
            left, right = walk(i, -1), walk(i, 1)
            if left >= 0 and (right < 0 or abs(ds[left] - ds[i]) <= abs(ds[right] - ds[i])):
                k = left
            elif right >= 0:
                k = right
            else:
                continue
            rows[i].append(k)
            if not replace:
                usable[k] = False
    return {int(order[i]): [int(order[k]) for k in ks] for i, ks in rows.items() if ks}


@pytest.mark.parametrize("replace", [True, False])
def test_matches_a_transcription_of_matchits_walk(replace):
    rng = np.random.default_rng(7)
    for rep in range(150):  # small random problems with ties in the score and in z
        n = int(rng.integers(6, 40))
        d = np.round(rng.normal(size=n), 1)
        treat = rng.random(n) < 0.35
        if treat.all() or not treat.any():
            continue
        z = np.round(rng.normal(size=n), 1)
        ratio, caliper = int(rng.integers(1, 4)), (None, 0.6)[rep % 2]
        found = run(d, treat, z, 0.3, ratio=ratio, replace=replace, caliper=caliper)
        expected = matchit_walk(d, treat, z, 0.3, caliper, ratio, replace)
        assert pairs_of(found) == expected, rep


def frame(n_treated=40, n_control=400, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treat = np.r_[np.ones(n_treated), np.zeros(n_control)].astype(int)
    return pd.DataFrame(
        {
            "treat": treat,
            "x": rng.normal(0.5 * treat, 1.0),
            "z": rng.normal(0.3 * treat, 1.0),
            "grade": rng.choice([3, 4], len(treat)),
            "school": rng.choice(["a", "b"], len(treat)),
        }
    )


def test_covariate_calipers_are_in_sds_of_the_column_over_the_rows_matched():
    df = frame()
    result = match(df, "treat", ["x", "z"], ratio=1, replace=True, covariate_calipers={"z": 0.05})
    width = 0.05 * df["z"].std(ddof=1)
    pairs = result.pairs
    gaps = np.abs(
        df.loc[pairs["treated"], "z"].to_numpy() - df.loc[pairs["control"], "z"].to_numpy()
    )
    assert gaps.max() <= width
    assert result.settings.covariate_calipers == (("z", 0.05),)
    assert "z within 0.05 SD" in result.settings.describe()
    # the same caliper in the config's words
    config = MatchConfig.from_config({"covariate_calipers": {"fall_z": 0.1}})
    assert config.covariate_calipers == {"fall_z": 0.1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariate_calipers": {"z": 0}}, "covariate caliper on 'z' must be a positive number"),
        ({"covariate_calipers": {"school": 0.1}}, "a caliper needs a numeric column; 'school'"),
        ({"covariate_calipers": {"z": 0.1}, "method": "vcg"}, "nearest-neighbour matching only"),
    ],
)
def test_bad_covariate_calipers_say_what_to_change(kwargs, message):
    with pytest.raises(MatchingError, match=message):
        match(frame(), "treat", ["x", "z"], **kwargs)


def test_ipw_with_match_strata_is_refused():
    with pytest.raises(
        MatchingError, match="match.strata cannot be combined with match.method ipw"
    ):
        MatchConfig.from_config({"method": "ipw", "strata": ["grade_band"]})


def logit(p):
    p = np.asarray(p, float)
    return np.log(p / (1 - p))


def test_odds_weights_by_hand():
    # stratum 0: PL p = .25, .5; comparison p = .2, .3, .45, .6. Common support is the overlap
    # of the two ranges, [.25, .5]: comparison .2 and .6 get 0; .3 and .45 their odds 3/7 and
    # 9/11, rescaled to sum to the 2 PL students: 2·(3/7)/(3/7 + 9/11) = 0.6875, and 1.3125.
    # stratum 1: PL .7, comparison .5 and .8: the overlap [.7, .7] holds no comparison student,
    # so the PL student is outside support. stratum 2: a PL student alone.
    p = [0.25, 0.5, 0.2, 0.3, 0.45, 0.6, 0.7, 0.5, 0.8, 0.4]
    treat = np.array([1, 1, 0, 0, 0, 0, 1, 0, 0, 1], bool)
    strata = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
    found = odds_weights(logit(p), treat, strata)
    expected = [1, 1, 0, 0.6875, 1.3125, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(found.weights, expected, rtol=1e-12)
    assert found.unmatched.tolist() == [6, 9]
    assert found.reasons.tolist() == ["outside_support", "no_stratum_controls"]
    # WeightIt's ATT weights are p / (1 - p) for comparison units: within a stratum the
    # weights keep their ratio
    assert found.weights[4] / found.weights[3] == pytest.approx((0.45 / 0.55) / (0.3 / 0.7))


def test_ipw_through_match_weights_every_comparison_student_in_support():
    df = frame(seed=4)
    result = match(df, "treat", ["x", "z"], exact="grade", method="ipw")
    w, t = result.weights, result.treated
    assert result.pairs.empty
    for grade in (3, 4):
        in_grade = df["grade"] == grade
        kept_treated = (w[t & in_grade] > 0).sum()
        assert w[~t & in_grade].sum() == pytest.approx(kept_treated)
    # the comparison weights are the odds of the fitted score, up to one factor per grade
    odds = np.exp(result.distance)
    ratio = (w / odds)[~t & (w > 0) & (df["grade"] == 3)]
    assert ratio.max() == pytest.approx(ratio.min())
    assert result.settings.describe().startswith("Inverse-probability (ATT odds) weights")
    balance = result.balance().table
    assert set(balance["sample"]) == {"all", "matched"}
