"""Matching within grade bands (match.strata): weights over the merged pairs, a model per band,
strata without a match, and the checks on the parts a merge is given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pl_eval.matching import (
    MatchConfig,
    MatchingError,
    match_cohort,
    match_stratum,
    merge_parts,
    stratum_labels,
)
from pl_eval.matching.strata import pair_weights

BAND = {3: "K-5", 4: "K-5", 7: "6-8", 8: "6-8", 10: "9-12"}


def students(grade: int, n: int, *, treated: bool, school: str, fall_z, frl) -> pd.DataFrame:
    """``n`` math panel rows of one school and grade."""
    return pd.DataFrame(
        {
            "student_key": [f"{school}-{grade}-{i}" for i in range(n)],
            "subject": "math",
            "district": "D",
            "school": school,
            "grade": grade,
            "grade_band": BAND[grade],
            "treated": treated,
            "fall_z": fall_z,
            "frl_pct": frl,
        }
    )


def test_pair_weights_are_computed_over_all_pairs_not_per_stratum():
    # Stratum A: t1 -> c1, c2 (k = 2); t2 -> c2.  Stratum B: t3 -> c3; t4 -> c3, c4, c5 (k = 3).
    pairs = pd.DataFrame(
        {
            "treated_key": ["t1", "t1", "t2", "t3", "t4", "t4", "t4"],
            "slot": [1, 2, 1, 1, 1, 2, 3],
            "control_key": ["c1", "c2", "c2", "c3", "c3", "c4", "c5"],
        }
    )
    # Sums of 1/k: c1 1/2, c2 3/2, c3 4/3, c4 1/3, c5 1/3 (total 4), rescaled to 5 controls.
    # Per-stratum rescaling would give A: c1 0.5, c2 1.5 and B: c3 2, c4 0.5, c5 0.5.
    expected = {"t1": 1.0, "t2": 1.0, "t3": 1.0, "t4": 1.0, "c1": 5 / 8, "c2": 15 / 8}
    expected |= {"c3": 5 / 3, "c4": 5 / 12, "c5": 5 / 12}
    weights = pair_weights(pairs)
    assert weights.to_dict() == pytest.approx(expected, rel=1e-15)
    assert weights[["c1", "c2", "c3", "c4", "c5"]].sum() == pytest.approx(5.0)


def planted_panel(seed: int = 11) -> pd.DataFrame:
    """In K-5 PL students differ from comparison students in fall_z only; in 6-8 in FRL only,
    so one pooled model mixes both and each band's own model weighs just its own covariate."""
    rng = np.random.default_rng(seed)
    frames = []
    for grade, z_shift, frl_shift in ((3, 1.0, 0.0), (7, 0.0, 15.0)):
        frames.append(
            students(
                grade,
                40,
                treated=True,
                school="PL",
                fall_z=rng.normal(z_shift, 0.7, 40),
                frl=rng.normal(50 + frl_shift, 8, 40),
            )
        )
        frames.append(
            students(
                grade,
                300,
                treated=False,
                school="C",
                fall_z=rng.normal(0, 1, 300),
                frl=rng.normal(50, 12, 300),
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_each_band_has_its_own_propensity_model_and_caliper():
    panel = planted_panel()
    config = MatchConfig(covariates=("fall_z", "frl_pct"), exact=("grade",), ratio=2)
    pooled = match_cohort(panel, "math", config)
    banded = match_cohort(panel, "math", dataclasses.replace(config, strata=("grade_band",)))
    strata = {s["stratum"]: s for s in banded.to_dict()["strata"]}

    for part in banded.parts:
        if part.stratum == "9-12":  # no students in grades 9-12
            assert strata["9-12"]["n_treated"] == strata["9-12"]["n_comparison"] == 0
            continue
        rows = panel[panel["grade_band"] == part.stratum]
        x = sm.add_constant(rows[["fall_z", "frl_pct"]].to_numpy())
        own = sm.Logit(rows["treated"].astype(float).to_numpy(), x).fit(disp=0)
        logit = pd.Series(x @ own.params, index=rows["student_key"].to_numpy())
        distance = part.participants.set_index("student_key")["distance"]
        np.testing.assert_allclose(distance, logit.loc[distance.index], atol=1e-6)
        # The caliper is 0.2 SD of this band's own logit.
        assert f"({0.2 * logit.std(ddof=1):.4g} on the logit)" in strata[part.stratum]["method"]

    # The pooled model's scores are not any band's own scores ...
    pooled_logit = pooled.propensity_scores()["logit"].to_numpy()
    banded_logit = banded.participants["distance"].to_numpy()
    assert np.abs(np.sort(pooled_logit) - np.sort(banded_logit)).max() > 0.5
    # ... so the two pick different comparison students,
    key = ["treated_key", "control_key"]
    shared = set(map(tuple, pooled.pairs[key].to_numpy())) & set(
        map(tuple, banded.pairs[key].to_numpy())
    )
    assert len(shared) < len(banded.pairs) / 4

    # and in K-5, where fall_z alone drives selection, the band's own model balances it better.
    def k5_gap(result) -> float:
        m = result.matched[result.matched["grade_band"] == "K-5"]
        mean = m.groupby("treated").apply(lambda g: np.average(g["fall_z"], weights=g["weight"]))
        return abs(mean[True] - mean[False])

    assert k5_gap(banded) < 0.1 < k5_gap(pooled)


def test_one_band_alone_gives_the_pooled_match():
    rng = np.random.default_rng(5)
    panel = pd.concat(
        [
            students(
                g, n, treated=t, school=s, fall_z=rng.normal(m, 1, n), frl=rng.normal(60, 9, n)
            )
            for g in (3, 4)
            for t, s, n, m in ((True, "PL", 30, -0.3), (False, "C", 120, 0.0))
        ],
        ignore_index=True,
    )
    config = MatchConfig(covariates=("fall_z", "frl_pct"), exact=("grade",), ratio=3)
    pooled = match_cohort(panel, "math", config)
    banded = match_cohort(panel, "math", dataclasses.replace(config, strata=("grade_band",)))
    pd.testing.assert_frame_equal(banded.matched, pooled.matched)
    pd.testing.assert_frame_equal(banded.pairs, pooled.pairs)
    pd.testing.assert_frame_equal(banded.balance.table, pooled.balance.table)
    pd.testing.assert_frame_equal(banded.propensity_scores(), pooled.propensity_scores())
    summary = banded.to_dict()
    assert [s["stratum"] for s in summary.pop("strata")] == ["K-5", "6-8", "9-12"]
    assert summary.pop("method").startswith("Separately within each grade band (K-5, 6-8, 9-12)")
    expected = pooled.to_dict()
    del expected["method"]
    assert summary == expected


def test_bands_without_treated_or_comparison_students_are_counted_not_matched():
    rng = np.random.default_rng(8)
    panel = pd.concat(
        [
            students(3, 25, treated=True, school="PL", fall_z=rng.normal(0, 1, 25), frl=60.0),
            students(3, 100, treated=False, school="C", fall_z=rng.normal(0, 1, 100), frl=60.0),
            students(7, 50, treated=False, school="C", fall_z=rng.normal(0, 1, 50), frl=60.0),
            students(10, 12, treated=True, school="PL", fall_z=rng.normal(0, 1, 12), frl=60.0),
        ],
        ignore_index=True,
    )
    config = MatchConfig(covariates=("fall_z",), exact=("grade",), caliper=None, ratio=1,
                         strata=("grade_band",))  # fmt: skip
    no_treated = match_stratum(panel, "math", "6-8", config)
    assert no_treated.pairs.empty and no_treated.participants.empty
    result = match_cohort(panel, "math", config)
    summary = result.to_dict()
    assert summary["strata"][1:] == [
        {"stratum": "6-8", "n_treated": 0, "n_matched": 0, "n_comparison": 50,
         "n_comparison_matched": 0, "method": "not matched: no PL students"},
        {"stratum": "9-12", "n_treated": 12, "n_matched": 0, "n_comparison": 0,
         "n_comparison_matched": 0, "method": "not matched: no comparison students"},
    ]  # fmt: skip
    assert summary["sample_sizes"]["treated"] | {"matched_ess": 0} == {
        "all": 37, "matched": 25, "unmatched": 12, "discarded": 0, "matched_ess": 0
    }  # fmt: skip
    assert summary["sample_sizes"]["comparison"]["all"] == 150
    assert summary["unmatched_by_reason"] == {"no_stratum_controls": 12}
    assert summary["match_rate"] == pytest.approx(25 / 37)
    assert summary["schools"] == [
        {"district": "D", "school": "PL", "n_treated": 37, "n_matched": 25, "match_rate": 25 / 37}
    ]
    # Balance covers the students who took part in a match: the K-5 band's.
    samples = result.balance.samples.set_index(["sample", "arm"])["n"]
    assert samples[("all", "treated")] == 25 and samples[("all", "comparison")] == 100


def test_merge_needs_one_part_per_stratum_matched_alike():
    panel = planted_panel()
    config = MatchConfig(covariates=("fall_z",), strata=("grade_band",))
    parts = [match_stratum(panel, "math", s, config) for s in stratum_labels(config.strata)]
    with pytest.raises(MatchingError, match=r"one part per stratum .*\(K-5, 6-8, 9-12\); got K-5"):
        merge_parts("math", parts[:1], config)
    with pytest.raises(MatchingError, match="two parts for stratum K-5"):
        merge_parts("math", [*parts, parts[0]], config)
    with pytest.raises(MatchingError, match="the K-5 part matched math, not reading"):
        merge_parts("reading", parts, config)
    with pytest.raises(MatchingError, match="K-5 part of math was matched with other match"):
        merge_parts("math", parts, dataclasses.replace(config, ratio=2))
    # Any order: the merge puts the parts in stratum order.
    merged = merge_parts("math", parts[::-1], config)
    assert [p.stratum for p in merged.parts] == ["K-5", "6-8", "9-12"]
    pd.testing.assert_frame_equal(merged.pairs, match_cohort(panel, "math", config).pairs)


def test_strata_and_stratum_names_are_checked():
    panel = planted_panel()
    with pytest.raises(MatchingError, match="'grade' cannot be a stratum; choose from grade_band"):
        stratum_labels(["grade"])
    config = MatchConfig(covariates=("fall_z",), strata=("grade_band",))
    with pytest.raises(MatchingError, match=r"stratum '5-8' is not one of K-5, 6-8, 9-12"):
        match_stratum(panel, "math", "5-8", config)
    gaps = panel.assign(grade_band=panel["grade_band"].where(panel["grade"] != 7))
    with pytest.raises(MatchingError, match="340 panel rows have no grade_band"):
        match_stratum(gaps, "math", "K-5", config)
    with pytest.raises(MatchingError, match="match.strata is empty"):
        match_stratum(panel, "math", "K-5", MatchConfig(covariates=("fall_z",)))
