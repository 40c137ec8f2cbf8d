"""Omitted-variable-bias sensitivity (Cinelli & Hazlett 2020) against its published example,
and on the cohort's own weighted, clustered estimates."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.sensitivity import (
    confounding,
    critical_f,
    model_arrays,
    partial_r2_bound,
    robustness_value,
    sensitivity,
)

DARFUR = Path(__file__).parents[1] / "data" / "sensemakr" / "darfur.csv"
COVARIATES = ["age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female", "village"]


@pytest.fixture(scope="module")
def darfur():
    data = pd.read_csv(DARFUR).assign(w=1.0)
    y, d, controls, w, found, notes = model_arrays(
        data, "peacefactor", "directlyharmed", COVARIATES, weights="w", benchmarks=["female"]
    )
    assert notes == []
    # sensemakr's inference: the model-based SE, t with dof - 1 for the adjusted estimate
    return sensitivity(y, d, controls, w, se=0.02325654, df=782, benchmarks=found)


def test_darfur_robustness_values_are_the_published_ones(darfur):
    # Cinelli & Hazlett (2020) and sensemakr's README: estimate 0.0973 (SE 0.0233, df 783),
    # partial R2 2.19%, RV 13.88%, RV at alpha 0.05 7.63%
    assert darfur.estimate == pytest.approx(0.09731582, abs=1e-8)
    assert darfur.model_se == pytest.approx(0.02325654, abs=1e-8)
    assert darfur.dof == 783
    assert round(darfur.partial_r2, 4) == 0.0219
    assert round(darfur.rv, 4) == 0.1388
    assert round(darfur.rv_alpha, 4) == 0.0763


def test_darfur_bounds_for_female_are_the_published_ones(darfur):
    # sensemakr README: 1x, 2x, 3x female: R2dz.x, R2yz.dx, adjusted estimate, SE, t, CI
    published = [
        (0.0092, 0.1246, 0.0752, 0.0219, 3.4389, 0.0323, 0.1182),
        (0.0183, 0.2493, 0.0529, 0.0204, 2.6002, 0.0130, 0.0929),
        (0.0275, 0.3741, 0.0304, 0.0187, 1.6281, -0.0063, 0.0670),
    ]
    assert [b.multiplier for b in darfur.bounds] == [1, 2, 3]
    for bound, expected in zip(darfur.bounds, published, strict=True):
        t = bound.adjusted_estimate / bound.adjusted_se
        got = (bound.r2dz_x, bound.r2yz_dx, bound.adjusted_estimate, bound.adjusted_se, t,
               bound.ci_low, bound.ci_high)  # fmt: skip
        assert np.round(got, 4).tolist() == pytest.approx(expected, abs=1e-12)
        assert bound.benchmark == "female" and bound.note == ""


def test_robustness_value_formulas_by_hand():
    # f = 0.5: RV = (sqrt(f^4 + 4 f^2) - f^2)/2 = (sqrt(1.0625) - 0.25)/2
    assert robustness_value(0.5) == pytest.approx((np.sqrt(1.0625) - 0.25) / 2)
    assert robustness_value(0.1, 0.2) == 0.0  # already not significant
    # f > 1/f*: the extreme value (f^2 - f*^2)/(1 + f^2)
    assert robustness_value(3.0, 0.5) == pytest.approx((9 - 0.25) / 10)
    # the clustered critical f: t*(df) x (SE ratio) / sqrt(dof - 1)
    assert critical_f(0.2, 10, 0.1, 101) == pytest.approx(2.2281388519649 * 2 / 10)
    # a benchmark with no link to the treatment gives no confounder
    assert partial_r2_bound(0.0, 0.3, 1) == (0.0, pytest.approx(0.3 / 0.7), "")
    assert partial_r2_bound(0.6, 0.1, 2)[2].startswith("impossible")


def test_weighted_partial_r2_is_the_weighted_fits(darfur):
    # with weights the shares come from the weighted fit: t^2/(t^2 + df) of statsmodels' WLS
    data = pd.read_csv(DARFUR)
    weights = 1 + (np.arange(len(data)) % 3)
    y, d, controls, w, _, _ = model_arrays(
        data.assign(w=weights), "peacefactor", "directlyharmed", COVARIATES, weights="w"
    )
    fit = sm.WLS(y, np.column_stack([d, controls]), weights=w).fit()
    result = sensitivity(y, d, controls, w, se=np.nan, df=np.nan)
    assert result.estimate == pytest.approx(fit.params[0], rel=1e-10)
    assert result.model_se == pytest.approx(fit.bse[0], rel=1e-8)
    assert result.partial_r2 == pytest.approx(fit.tvalues[0] ** 2 / (fit.tvalues[0] ** 2
                                              + fit.df_resid), rel=1e-8)  # fmt: skip
    assert np.isnan(result.rv_alpha) and result.note.startswith("no interval")


def _matched(seed=5):
    """8 PL schools (4 charter, 4 district) with 2:1 matches; FRL a school covariate."""
    rng = np.random.default_rng(seed)
    rows, pairs = [], []
    for s in range(8):
        frl = 30 + 7 * s
        for i in range(60):
            fall = rng.normal(0, 1)
            key = f"t{s}-{i}"
            rows.append({"student_key": key, "school": f"PL {s}", "treated": True,
                         "sector": "charter" if s < 4 else "district", "frl_pct": frl,
                         "fall_z": fall, "spring_z": 0.8 * fall - 0.01 * frl + 0.2
                         + rng.normal(0, 0.5), "weight": 1.0})  # fmt: skip
            for slot in (1, 2):
                ckey = f"c{s}-{i}-{slot}"
                cfall, cfrl = fall + rng.normal(0, 0.1), frl + rng.normal(0, 3)
                rows.append({"student_key": ckey, "school": f"C {(2 * s + slot) % 10}",
                             "treated": False, "sector": "district", "frl_pct": cfrl,
                             "fall_z": cfall, "spring_z": 0.8 * cfall - 0.01 * cfrl
                             + rng.normal(0, 0.5), "weight": 0.5})  # fmt: skip
                pairs.append({"treated_key": key, "slot": slot, "control_key": ckey})
    data = pd.DataFrame(rows).assign(district="D", years_pl="1", grade_band="K-5")
    data["fall_pct"] = 100 * (0.5 + 0.3 * np.tanh(data["fall_z"]))
    data["spring_pct"] = 100 * (0.5 + 0.3 * np.tanh(data["spring_z"]))
    return data, pd.DataFrame(pairs)


@pytest.fixture(scope="module")
def cohort():
    samples = {"math": _matched()}
    config = EstimateConfig(covariates=("fall_z", "frl_pct"))
    estimates = estimate_cohort(samples, config).estimates
    return samples, estimates, config


def test_pooled_and_sector_rows_refit_the_reported_estimates(cohort):
    samples, estimates, config = cohort
    table = confounding(samples, estimates, config)
    assert set(zip(table["scope"], table["group"], strict=True)) == {
        ("pooled", "all"), ("sector", "charter"), ("sector", "district"),
    }  # fmt: skip
    assert not table["note"].fillna("").str.startswith("not computed").any()
    assert (table.groupby(["scope", "group"]).size() == 6).all()  # 2 benchmarks x 3 multipliers
    reported = estimates.set_index(["scope", "group"])
    for row in table.itertuples():
        assert row.estimate == reported.loc[(row.scope, row.group), "estimate"]
        assert row.se == reported.loc[(row.scope, row.group), "se"]
        # each estimate's minimum detectable effect beside it (80% power, 5% two-sided)
        assert row.mde == reported.loc[(row.scope, row.group), "mde"] and row.mde > 0
        assert 0 < row.rv < 1 and 0 <= row.rv_alpha <= row.rv
    # the sector model is the breakouts' interaction model: its charter coefficient is the
    # reported charter estimate, and its own partial R2 is statsmodels' t^2/(t^2 + df)
    charter = table[(table["group"] == "charter")].iloc[0]
    assert charter["partial_r2"] == pytest.approx(
        charter["estimate"] ** 2 / (charter["estimate"] ** 2
                                    + charter["model_se"] ** 2 * charter["dof"]))  # fmt: skip


def test_bounds_move_the_estimate_toward_zero_and_widen_with_strength(cohort):
    table = confounding(*cohort)
    pooled = table[(table["scope"] == "pooled") & (table["benchmark"] == "frl_pct")]
    moved = pooled["adjusted_estimate"].to_numpy()
    assert (np.abs(moved) <= abs(pooled["estimate"].iloc[0])).all()
    assert np.all(np.diff(np.abs(moved)) < 0)  # 1x, 2x, 3x: ever closer to zero
    assert (pooled["ci_low"] < pooled["adjusted_estimate"]).all()


def test_a_benchmark_outside_the_model_is_named_not_bounded(cohort):
    samples, _, _ = cohort
    config = EstimateConfig(covariates=("fall_z",))
    estimates = estimate_cohort(samples, config).estimates
    table = confounding(samples, estimates, config)
    assert set(table["benchmark"]) == {"fall_z"}
    assert (
        table["note"]
        .str.contains(
            "frl_pct is not in the outcome model (estimate.covariates): no bound", regex=False
        )
        .all()
    )


def test_mixed_model_and_missing_estimates_say_why():
    data, pairs = _matched()
    estimates = estimate_cohort({"math": (data, pairs)}, EstimateConfig()).estimates
    mixed = confounding(
        {"math": (data, pairs)}, estimates, EstimateConfig(model="mixed", covariates=("fall_z",))
    )
    assert set(mixed["note"]) == {
        "not computed: the bounds are for least-squares estimates; this analysis uses mixed"
    }
    assert mixed["rv"].isna().all()
    gone = estimates.assign(estimate=np.nan, note="no PL students")
    table = confounding({"math": (data, pairs)}, gone, EstimateConfig())
    assert set(table["note"]) == {"no estimate: no PL students"}
