"""The multi-year Monte Carlo check's pure parts: each analysis's truth taken from truth.json,
estimates joined to it, and the summary table from hand-made replications."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pl_eval.estimation.validate import summarise_years, years_compare_to_truth, years_truths


def _cell(tau: float | None) -> dict:
    return {"pooled": {"tau": tau, "n": 10}}


# A two-year truth.json, math only: the bits the multi-year check reads.
TRUTH = {
    "effects": {"math": _cell(0.09)},
    "school_years": ["2021-2022", "2022-2023"],
    "years": {
        "2021-2022": {"effects": {"math": _cell(0.08)}},
        "2022-2023": {"effects": {"math": _cell(0.09)}},
    },
    "spans": {"2021-2023": {"math": _cell(0.2)}},
    "exposure": {
        "2021-2022": {"math": {"1": {"tau": 0.08, "n": 5}}},
        "2022-2023": {
            "math": {
                "1": {"tau": 0.07, "n": 5},
                "2": {"tau": 0.1, "n": 4},
                "3+": {"tau": None, "n": 0},
            }
        },
    },  # fmt: skip
    "placebo": {"2021-2022": {"math": _cell(0.0), "selection": 0.0, "schools": 3}},
}


def test_every_analysis_takes_its_truth_from_its_own_block():
    truths = years_truths(TRUTH)
    assert list(truths.itertuples(index=False, name=None)) == [
        ("2021-2022", "math", "all", 0.08),
        ("2022-2023", "math", "all", 0.09),
        ("2021-2023", "math", "all", 0.2),
        ("exposure-2022-2023", "math", "1", 0.07),  # the last year's groups only,
        ("exposure-2022-2023", "math", "2", 0.1),  # and none without students
        ("placebo-2021-2022", "math", "all", 0.0),
    ]


def _estimates(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["scope", "group", "estimate"]).assign(subject="math")
    return frame.assign(se=0.05, ci_low=frame["estimate"] - 0.1, ci_high=frame["estimate"] + 0.1)


def test_pooled_rows_and_the_last_years_exposure_rows_are_joined_to_their_truths():
    estimates = {
        "2021-2022": _estimates([("pooled", "all", 0.05), ("exposure", "1", 0.05)]),
        "2022-2023": _estimates(
            [
                ("pooled", "all", 0.1),
                ("sector", "charter", 0.2),
                ("exposure", "1", 0.06),
                ("exposure", "2", 0.12),
                ("exposure", "3+", np.nan),
            ]
        ),  # fmt: skip
        "2021-2023": _estimates([("pooled", "all", 0.25)]),
        "placebo-2021-2022": _estimates([("pooled", "all", -0.02)]),
    }
    joined = years_compare_to_truth(estimates, TRUTH, rep=3)
    assert list(zip(joined["analysis"], joined["group"], strict=True)) == [
        ("2021-2022", "all"),
        ("2022-2023", "all"),
        ("exposure-2022-2023", "1"),
        ("exposure-2022-2023", "2"),
        ("2021-2023", "all"),
        ("placebo-2021-2022", "all"),
    ]  # fmt: skip  (no sector truth; 2021-2022's exposure is not the last year's)
    assert joined["estimate"].tolist() == [0.05, 0.1, 0.06, 0.12, 0.25, -0.02]
    assert joined["truth"].tolist() == [0.08, 0.09, 0.07, 0.1, 0.2, 0.0]
    assert (joined["rep"] == 3).all()


def test_summary_gives_bias_coverage_and_se_ratio_per_analysis():
    # Three replications of one placebo: truths 0.1, 0.1, 0.2; estimates 0.2, 0.0, 0.3 -> errors
    # +0.1, -0.1, +0.1: bias 0.0333, sample SD 0.11547, MC SE √(Σ(e - bias)²)/3 = 0.06285
    # (2·0.0667² + 0.1333² = 0.02667). Intervals ±0.15, ±0.05, ±0.15 around the estimates:
    # rep 1's [-0.05, 0.05] misses 0.1 -> coverage 2/3, MC SE √(2/9/3) = 0.2722.
    # SEs 0.075, 0.025, 0.075: root mean square √(0.011875/3) = 0.06292 -> se_ratio 0.5449.
    comparisons = pd.DataFrame(
        {
            "rep": [0, 1, 2],
            "subject": "math",
            "analysis": "placebo-2021-2022",
            "group": "all",
            "estimate": [0.2, 0.0, 0.3],
            "se": [0.075, 0.025, 0.075],
            "ci_low": [0.05, -0.05, 0.15],
            "ci_high": [0.35, 0.05, 0.45],
            "truth": [0.1, 0.1, 0.2],
        }
    )
    truth = comparisons["truth"]
    other = comparisons.assign(
        subject="reading", estimate=truth, ci_low=truth - 0.01, ci_high=truth + 0.01
    )
    table = summarise_years(pd.concat([other, comparisons], ignore_index=True))
    assert table["subject"].tolist() == ["math", "reading"]
    row = table.iloc[0]
    assert row["n_reps"] == 3
    assert row["mean_truth"] == pytest.approx(0.4 / 3)
    assert row["bias"] == pytest.approx(0.1 / 3)
    assert row["bias_mc_se"] == pytest.approx(np.sqrt(0.08 / 3) / 3)
    assert row["bias_z"] == pytest.approx((0.1 / 3) / (np.sqrt(0.08 / 3) / 3))
    assert row["coverage"] == pytest.approx(2 / 3)
    assert row["coverage_mc_se"] == pytest.approx(np.sqrt(2 / 27))
    assert row["sd_error"] == pytest.approx(np.sqrt(0.04 / 3))
    assert row["se_ratio"] == pytest.approx(np.sqrt(0.011875 / 3) / np.sqrt(0.04 / 3))
    # Its MC SE by the delta method: s²/m = 27/19, 3/19, 27/19 and d²/v = 1/2, 2, 1/2 (errors'
    # deviations 1/15, -2/15, 1/15, v = 2/225), so the terms are 35/38, -35/19, 35/38, the sum
    # of their squares 6·(35/38)², and the SE of log se_ratio ½·√6·(35/38)/3 = 35√6/228.
    assert row["se_ratio_mc_se"] == pytest.approx(row["se_ratio"] * 35 * np.sqrt(6) / 228)
    # reading: every estimate on its truth -> no bias, full coverage
    assert table.iloc[1]["bias"] == pytest.approx(0) and table.iloc[1]["coverage"] == 1
