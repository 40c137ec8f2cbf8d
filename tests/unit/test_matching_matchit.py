"""Agreement with R's MatchIt 4.7.2 on its four reference configurations (tests/data/matchit).

Each configuration must give MatchIt's logit distance (1e-8), the very same pairs, the same
weights (1e-8), the same matched counts, and the same ATT and school-clustered CR1 SE from the
weighted regression in ``results.json``.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from pl_eval.matching import match

DATA = Path(__file__).resolve().parents[1] / "data" / "matchit"
COVARIATES = ["baseline_z", "frl_school", "urban", "female"]
RESULTS = json.loads((DATA / "results.json").read_text())["results"]
CONFIGS = {
    "nn1_rep_cal02_exact_grade": dict(ratio=1, replace=True, caliper=0.2, exact="grade"),
    "nn3_rep_cal02_exact_grade": dict(ratio=3, replace=True, caliper=0.2, exact="grade"),
    "nn1_norep_largest": dict(ratio=1, replace=False),
    "nn2_norep_cal01_largest": dict(ratio=2, replace=False, caliper=0.1, exact="grade"),
}


@pytest.fixture(scope="module")
def data():
    # a string index: results must come back in labels, not positions
    frame = pd.read_csv(DATA / "data.csv")
    return frame.set_index(frame["student_id"].map("s{}".format).rename("key"))


@pytest.fixture(scope="module", params=list(CONFIGS))
def case(request, data):
    name = request.param
    result = match(data, "treat", COVARIATES, order="largest", **CONFIGS[name])
    units = pd.read_csv(DATA / f"{name}_units.csv")
    pairs = pd.read_csv(DATA / f"{name}_pairs.csv")
    return name, result, units, pairs


def test_options_echo_the_reference(case):
    name, result, _, _ = case
    options = RESULTS[name]["options"]
    assert result.settings.ratio == options["ratio"]
    assert result.settings.replace == options["replace"]
    assert result.settings.caliper == (options["caliper"] or None)
    assert result.settings.exact == ((options["exact"],) if options["exact"] else ())


def test_distance_is_matchits_logit(case, data):
    _, result, units, _ = case
    ours = result.distance.loc["s" + units["student_id"].astype(str)].to_numpy()
    np.testing.assert_allclose(ours, units["distance"].to_numpy(), rtol=0, atol=1e-8)


def test_pairs_are_identical(case):
    _, result, _, pairs = case
    expected = pairs.sort_values(["treated_id", "slot"]).reset_index(drop=True)
    ours = pd.DataFrame(
        {
            "treated_id": result.pairs["treated"].str[1:].astype(int),
            "slot": result.pairs["slot"],
            "control_id": result.pairs["control"].str[1:].astype(int),
        }
    )
    pd.testing.assert_frame_equal(ours, expected, check_dtype=False)


def test_weights_and_counts(case):
    name, result, units, _ = case
    ours = result.weights.loc["s" + units["student_id"].astype(str)].to_numpy()
    np.testing.assert_allclose(ours, units["weight"].to_numpy(), rtol=0, atol=1e-8)
    assert result.n_matched_treated == RESULTS[name]["n_treated_matched"]
    assert result.n_matched_controls == RESULTS[name]["n_controls_matched"]
    sizes = result.sample_sizes()
    assert sizes.loc["matched", "treated"] == RESULTS[name]["n_treated_matched"]
    n_unmatched = 500 - RESULTS[name]["n_treated_matched"]
    assert len(result.unmatched) == n_unmatched
    assert set(result.unmatched["reason"]) <= {"outside_caliper"}


def test_att_and_cluster_robust_se(case, data):
    name, result, _, _ = case
    matched = result.matched_data(data)
    adjusted = smf.wls(
        "outcome_z ~ treat + baseline_z + frl_school + urban + female",
        matched,
        weights=matched["weight"],
    ).fit(cov_type="cluster", cov_kwds={"groups": matched["school_id"]})
    unadjusted = smf.wls("outcome_z ~ treat", matched, weights=matched["weight"]).fit()
    expected = RESULTS[name]
    assert adjusted.params["treat"] == pytest.approx(expected["att_adjusted"], abs=1e-8)
    assert adjusted.bse["treat"] == pytest.approx(expected["se_cluster_school_cr1"], abs=1e-8)
    assert unadjusted.params["treat"] == pytest.approx(expected["att_unadjusted"], abs=1e-8)
