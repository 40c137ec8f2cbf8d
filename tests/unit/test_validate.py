"""Validation against the planted truth: the common-support truth, the summary and its gates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pl_eval import cli, stages
from pl_eval.estimation import (
    EstimationError,
    GateMissed,
    compare_to_truth,
    summarise_validation,
)
from pl_eval.estimation.validate import common_support_truth

ROOT = Path(__file__).resolve().parents[2]

# Two PL schools; school B's one student is in common support, A's two of four (one unmatched,
# one without a spring score). Hand-computed truths with gradient -0.1:
#   population  A: 0.1 - 0.1·(z - 0)  -> z = 0: 0.10, z = 1: 0.00;  B: 0.3 - 0.1·(1 - 1) = 0.30
#   pooled (0.10 + 0.00 + 0.30) / 3 = 0.1333; charter (A) 0.05; district (B) 0.30
#   school A: population + deviation 0.05 + shock 0.02 -> 0.12; school B: 0.30 - 0.10 + 0 = 0.20
EFFECTS = {
    "pooled": {"tau": 0.15, "n": 4, "all_treated": 0.16, "n_all_treated": 6},
    "by_sector": {
        "charter": {"tau": 0.05, "n": 3, "all_treated": 0.06, "n_all_treated": 4},
        "district": {"tau": 0.3, "n": 1, "all_treated": 0.31, "n_all_treated": 2},
    },
    "by_years": {"1": {"tau": 0.15, "n": 4, "all_treated": 0.16, "n_all_treated": 6}},
    "by_school": {
        "D1|A": {"tau": 0.17, "n": 3, "all_treated": 0.18, "n_all_treated": 4, "planted": 0.1,
                 "deviation": 0.05, "shock": 0.02, "centre": 0.0},
        "D2|B": {"tau": 0.2, "n": 1, "all_treated": 0.21, "n_all_treated": 2, "planted": 0.3,
                 "deviation": -0.1, "shock": 0.0, "centre": 1.0},
    },
}  # fmt: skip
MATCHED = pd.DataFrame(
    {
        "district": ["D1", "D1", "D1", "D1", "D2", "D9", "D9"],
        "school": ["A", "A", "A", "A", "B", "C", "C"],
        "sector": ["charter"] * 4 + ["district", "district", "district"],
        "years_pl": ["1"] * 5 + [None, None],
        "treated": [True, True, True, True, True, False, False],
        "weight": [1.0, 1.0, 0.0, 1.0, 1.0, 2.0, 1.0],
        "fall_z": [0.0, 1.0, -2.0, 0.5, 1.0, 0.3, 0.4],
        "spring_z": [0.2, 1.0, -1.0, np.nan, 1.1, 0.2, 0.5],
    }
)


def test_common_support_truth_averages_over_the_matched_pl_students_with_both_scores():
    truth = common_support_truth(MATCHED, EFFECTS, gradient=-0.1)
    assert truth["pooled"].loc["all", "truth"] == pytest.approx(0.4 / 3)
    assert truth["pooled"].loc["all", "n"] == 3
    assert truth["sector"]["truth"].to_dict() == pytest.approx({"charter": 0.05, "district": 0.3})
    assert truth["years"].loc["1", "truth"] == pytest.approx(0.4 / 3)
    assert truth["school"]["truth"].to_dict() == pytest.approx({"D1|A": 0.12, "D2|B": 0.2})
    # ... which differs from the truth over every analysable (0.15) or fall-tested PL student
    assert truth["pooled"].loc["all", "truth"] != pytest.approx(EFFECTS["pooled"]["tau"])


def test_estimates_are_joined_to_their_truths():
    estimates = pd.DataFrame(
        {
            "subject": "math",
            "scope": ["pooled", "sector", "sector", "school", "school", "grade_band"],
            "group": ["all", "charter", "district", "A", "B", "K-5"],
            "district": [None, None, None, "D1", "D2", None],
            "estimate": [0.14, 0.06, 0.2, 0.1, np.nan, 0.3],
            "se": 0.05,
            "ci_low": [0.04, -0.04, 0.1, 0.0, np.nan, 0.2],
            "ci_high": [0.24, 0.16, 0.3, 0.2, np.nan, 0.4],
            "n_treated": [3, 2, 1, 2, 1, 3],
        }
    )
    truth = {"settings": {"baseline_gradient": -0.1}, "effects": {"math": EFFECTS}}
    joined = compare_to_truth(estimates, truth, rep=4, matched={"math": MATCHED})
    assert list(zip(joined["scope"], joined["group"], strict=True)) == [
        ("pooled", "all"),
        ("sector", "charter"),
        ("sector", "district"),
        ("school", "A"),
    ]  # fmt: skip  (school B has no estimate, grade bands no planted truth)
    assert joined["truth"].to_numpy() == pytest.approx([0.4 / 3, 0.05, 0.3, 0.12])
    assert joined["truth_analysable"].tolist() == [0.15, 0.05, 0.3, 0.17]
    assert joined["truth_all_treated"].tolist() == [0.16, 0.06, 0.31, 0.18]
    assert (joined["rep"] == 4).all() and joined["n_truth"].tolist() == [3, 2, 1, 2]


def _comparisons(scope: str, errors: np.ndarray, half_width: float) -> pd.DataFrame:
    truth = np.full(len(errors), 0.1)
    estimate = truth + errors
    return pd.DataFrame(
        {
            "rep": np.arange(len(errors)),
            "subject": "math",
            "scope": scope,
            "group": "all",
            "estimate": estimate,
            "se": half_width / 1.96,
            "ci_low": estimate - half_width,
            "ci_high": estimate + half_width,
            "truth": truth,
            "truth_all_treated": truth + 0.01,
        }
    )


def _hand_made() -> pd.DataFrame:
    """100 replications per scope, intervals ±0.04 (school ±0.045) around the estimate:
    pooled: 95 errors of about ±0.01 and 5 of ±0.05, mean 0 -> coverage 0.95, bias 0: pass;
    sector: 90 covered -> coverage 0.90: MISS; school: 95 errors of 0.03 or 0.01 and 5 of 0.06
    -> coverage 0.95 but bias +0.0221: MISS."""
    pooled = np.r_[np.tile([0.01, -0.01], 47), 0.01, [0.05, -0.05, 0.05, -0.05, 0.05]]
    pooled = pooled - pooled.mean()
    sector = np.r_[np.tile([0.01, -0.01], 45), np.tile([0.05, -0.05], 5)]
    school = np.r_[np.tile([0.03, 0.01], 47), 0.03, [0.06] * 5]
    return pd.concat(
        [_comparisons("pooled", pooled, 0.04), _comparisons("sector", sector, 0.04),
         _comparisons("school", school, 0.045)], ignore_index=True,
    )  # fmt: skip


def test_monte_carlo_ses_treat_replications_not_estimates_as_independent():
    # Two replications of two school estimates each; errors move together within a replication
    # (shared comparison schools): rep 0 errors +0.02, +0.04, both covered; rep 1 -0.02, 0.00,
    # neither covered. bias 0.01; per-replication sums 0.06 and -0.02, less 0.01·2 each: ±0.04,
    # so MC SE √(2·0.04²)/4 = 0.01414. Coverage 0.5; covered counts 2 and 0, less 0.5·2: ±1,
    # MC SE √2/4 = 0.354, not the √(0.25/4) = 0.25 of four independent estimates.
    comparisons = _comparisons("school", np.array([0.02, 0.04, -0.02, 0.0]), 0.05).assign(
        rep=[0, 0, 1, 1], group=["A", "B", "A", "B"],
        ci_low=[0.07, 0.09, 0.2, 0.2], ci_high=[0.17, 0.19, 0.3, 0.3],  # truth 0.1
    )  # fmt: skip
    row = summarise_validation(comparisons).table.iloc[0]
    assert row["bias"] == pytest.approx(0.01)
    assert row["bias_mc_se"] == pytest.approx(np.sqrt(2 * 0.04**2) / 4)
    assert row["coverage"] == pytest.approx(0.5)
    assert row["coverage_mc_se"] == pytest.approx(np.sqrt(2) / 4)


def _replicate(job: tuple) -> pd.DataFrame:
    """Stands in for a validation replication: the hand-made comparisons, without simulating."""
    return _hand_made().assign(rep=job[1])


def test_summary_gates_coverage_and_bias_for_every_scope():
    result = summarise_validation(_hand_made())
    table = result.table.set_index("scope")
    assert table.loc["pooled", "coverage"] == pytest.approx(0.95)
    assert table.loc["pooled", "bias"] == pytest.approx(0, abs=1e-12)
    assert table.loc["pooled", "bias_all_treated"] == pytest.approx(-0.01)
    assert table.loc["pooled", "coverage_mc_se"] == pytest.approx(np.sqrt(0.95 * 0.05 / 100))
    pooled = _hand_made().query("scope == 'pooled'")
    errors = pooled["estimate"] - pooled["truth"]  # one per replication: SD / √R
    assert table.loc["pooled", "bias_mc_se"] == pytest.approx(errors.std(ddof=0) / 10)
    # SEs 0.04/1.96 against errors whose SD is 0.0149: over-stated 1.37 times
    assert table.loc["pooled", "se_ratio"] == pytest.approx(0.04 / 1.96 / errors.std(ddof=1))
    assert table.loc["pooled", "se_ratio"] == pytest.approx(1.37, abs=0.005)
    assert table.loc["sector", "coverage"] == pytest.approx(0.90)
    assert table.loc["school", "coverage"] == pytest.approx(0.95)
    assert table.loc["school", "bias"] == pytest.approx(0.0221)
    assert table["gate"].to_dict() == {"pooled": "pass", "school": "MISS", "sector": "MISS"}
    with pytest.raises(GateMissed) as missed:
        result.check_gates()
    message = str(missed.value)
    assert "\n" not in message
    assert message.startswith(
        "2 of 3 validation gates missed: math school bias +0.0221 (target |bias| < 0.01); "
    )
    assert "math sector coverage 0.900 (target 0.93-0.97)" in message
    summarise_validation(_hand_made().query("scope == 'pooled'")).check_gates()  # passes


def test_validate_prints_the_gated_table_and_exits_1_on_a_miss(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(stages, "_replicate", _replicate)
    args = ["validate", str(tmp_path / "v"), "--reps", "2", "--workers", "1",
            "--config", str(ROOT / "config" / "config.yaml")]  # fmt: skip
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("pl-eval validate: error: ")]
    assert errors == [
        "pl-eval validate: error: 2 of 3 validation gates missed: math school bias +0.0221 "
        "(target |bias| < 0.01); math sector coverage 0.900 (target 0.93-0.97)"
    ]
    table = [line.split() for line in err.splitlines() if line.startswith("   math")]
    assert [(row[1], row[-1]) for row in table] == [
        ("pooled", "pass"),
        ("school", "MISS"),
        ("sector", "MISS"),
    ]  # fmt: skip  (the printed table, with its gate column)
    assert pd.read_csv(tmp_path / "v" / "validation.csv")["gate"].tolist() == [
        "pass",
        "MISS",
        "MISS",
    ]  # fmt: skip  (written before the gates are checked)
    assert cli.main([*args, "--no-gates"]) == 0


def test_a_matched_pl_school_without_truth_is_named():
    stranger = MATCHED.assign(school=MATCHED["school"].replace({"B": "Z"}))
    with pytest.raises(EstimationError, match=r"truth.json has no PL school 'D2\|Z'"):
        common_support_truth(stranger, EFFECTS, gradient=-0.1)
