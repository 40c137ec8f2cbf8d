"""Property: any small matched sample (1-6 schools per arm, 1-30 students each, empty breakout
groups, a missing arm) gives complete estimate tables, every number finite or explained by a
note, and no exception (issue 11 §2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.cohort import (
    BREAKOUTS,
    ESTIMATE_COLUMNS,
    NOTES,
    TEST_COLUMNS,
    TRAJECTORY_COLUMNS,
)

NUMBERS = ["estimate", "se", "ci_low", "ci_high", "p_value", "percentile_points", "hedges_g",
           "improvement_index"]  # fmt: skip


@st.composite
def matched_samples(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A matched sample and its pairs, as the match stage writes them, small and uneven."""
    n_pl = draw(st.integers(1, 6))
    n_comparison = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 30), min_size=n_pl, max_size=n_pl))
    # each breakout attribute takes only some of its values: the rest are empty groups
    values = {
        column: draw(st.lists(st.sampled_from(groups), min_size=1, unique=True))
        for column, groups in BREAKOUTS.values()
        if column != "baseline_quintile"  # made from fall_pct
    }
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, draw(st.sampled_from([0.0, 0.3])), n_pl + n_comparison)
    pool = draw(st.integers(1, 40))  # comparison students to draw matches from (with reuse)
    comparison_school = rng.integers(n_pl, n_pl + n_comparison, pool)
    comparison_fall = rng.normal(0, 1, pool)
    rows, pairs = [], []
    for s, size in enumerate(sizes):
        school_values = {c: rng.choice(v) for c, v in values.items()}
        for i in range(size):
            key = f"t{s}-{i}"
            fall = rng.normal(0, 1)
            row = {"student_key": key, "school": f"PL {s}", "treated": True, "fall_z": fall}
            row["spring_z"] = 0.8 * fall + 0.1 + shocks[s] + rng.normal(0, 0.5)
            band = rng.choice(values["grade_band"])
            rows.append(row | school_values | {"grade_band": band})
            k = int(rng.integers(1, 4))
            for slot, c in enumerate(rng.choice(pool, size=min(k, pool), replace=False), 1):
                pairs.append({"treated_key": key, "slot": slot, "control_key": f"c{c}"})
    for c in range(pool):
        fall = comparison_fall[c]
        rows.append(
            {
                "student_key": f"c{c}", "school": f"C {comparison_school[c]}", "treated": False,
                "fall_z": fall, "sector": "district", "years_pl": None, "grade_band": "K-5",
                "spring_z": 0.8 * fall + shocks[comparison_school[c]] + rng.normal(0, 0.5),
            }
        )  # fmt: skip
    data = pd.DataFrame(rows)
    pairs = pd.DataFrame(pairs)
    used = data["treated"] | data["student_key"].isin(pairs["control_key"])
    data = data[used].assign(district="D")  # the match stage keeps matched students only
    drop = draw(st.sampled_from(["nothing", "nothing", "nothing", "comparison", "treated"]))
    if drop != "nothing":  # a subject with no comparison (or no PL) students
        data = data[data["treated"] == (drop == "comparison")]
    weights = 1.0 / pairs.groupby("treated_key")["control_key"].transform("size")
    control_weight = weights.groupby(pairs["control_key"]).sum()
    data["weight"] = np.where(
        data["treated"], 1.0, data["student_key"].map(control_weight).fillna(0.0)
    )
    data["fall_pct"] = 100 * norm.cdf(data["fall_z"])
    data["spring_pct"] = 100 * norm.cdf(data["spring_z"])
    return data.reset_index(drop=True), pairs


configs = st.builds(
    EstimateConfig,
    model=st.sampled_from(["ols_cluster", "mixed"]),
    se=st.sampled_from(["CR2", "CR1"]),
    min_school_students=st.sampled_from([2, 10]),
    shrinkage=st.sampled_from(["reml", "dl"]),
)


def explained(table: pd.DataFrame, numbers: list[str]) -> bool:
    """Every cell of ``numbers`` is finite, or its row has a note."""
    values = table[numbers].to_numpy(float)
    return bool((np.isfinite(values).all(axis=1) | (table["note"] != "")).all())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=matched_samples(), config=configs)
def test_any_small_matched_sample_gives_complete_explained_tables(sample, config):
    data, pairs = sample
    result = estimate_cohort({"math": (data, pairs)}, config)

    est = result.estimates
    assert list(est.columns) == ESTIMATE_COLUMNS
    assert list(result.tests.columns) == TEST_COLUMNS
    assert list(result.trajectory.columns) == TRAJECTORY_COLUMNS
    for scope, (_, groups) in BREAKOUTS.items():
        assert est.loc[est["scope"] == scope, "group"].tolist() == list(groups)
    assert (est["scope"] == "pooled").sum() == 1 and len(result.tests) == len(BREAKOUTS)
    n_pl_schools = data.loc[data["treated"], "school"].nunique()
    assert (est["scope"] == "school").sum() == n_pl_schools
    assert len(result.trajectory) == 4

    assert explained(est, NUMBERS)
    df = est["df"].to_numpy(float)
    assert ((df > 0) | (est["note"] != "")).all()  # a df is positive (inf: normal) or explained
    schools = est[est["scope"] == "school"]
    assert (schools["p_value_bh"].notna() == schools["p_value"].notna()).all()
    assert explained(result.tests, ["statistic", "p_value", "df_denominator"])
    assert explained(result.trajectory, ["mean_percentile", "ci_low", "ci_high"])
    notes = pd.concat([est["note"], result.tests["note"], result.trajectory["note"]])
    assert notes[notes != ""].str.startswith(NOTES).all()
