"""The report's confounding and attrition parts: suppression like the other tables, and
sentences that say no more than the numbers."""

import numpy as np
import pandas as pd

from pl_eval.report.robustness import robustness


def _confounding():
    rows = []
    estimates = [
        ("pooled", "all", 300, 0.12), ("sector", "charter", 5, 0.3),
        ("sector", "district", 295, 0.1),
    ]  # fmt: skip
    for scope, group, n_t, estimate in estimates:
        for benchmark in ("frl_pct", "fall_z"):
            for k in (1.0, 2.0):
                rows.append({
                    "subject": "math", "scope": scope, "group": group, "n_treated": n_t,
                    "n_comparison": 600, "estimate": estimate, "se": 0.04, "df": 12.5,
                    "mde": 0.112,
                    "model_se": 0.03, "dof": 890, "partial_r2": 0.02, "rv": 0.131,
                    "rv_alpha": 0.052, "alpha": 0.05, "benchmark": benchmark, "multiplier": k,
                    "r2dz_x": 0.01, "r2yz_dx": 1.0 if benchmark == "fall_z" else 0.1,
                    "adjusted_estimate": 0.08 if benchmark == "frl_pct" else -0.4,
                    "adjusted_se": 0.04 if benchmark == "frl_pct" else np.nan,
                    "ci_low": 0.0 if benchmark == "frl_pct" else np.nan,
                    "ci_high": 0.16 if benchmark == "frl_pct" else np.nan, "note": "",
                })  # fmt: skip
    return pd.DataFrame(rows)


def _attrition(lost_t=30):
    return pd.DataFrame([{
        "subject": "math", "n_treated": 300, "n_treated_lost": lost_t,
        "treated_rate": lost_t / 300, "n_comparison": 1000, "n_comparison_lost": 80,
        "comparison_rate": 0.08, "overall_rate": (lost_t + 80) / 1300,
        "differential": abs(lost_t / 300 - 0.08), "boundary": "cautious",
        "max_differential": 0.057, "wwc_attrition": "low", "note": "",
    }])  # fmt: skip


def _baseline():
    return pd.DataFrame([
        {"subject": "math", "arm": "treated", "covariate": "fall_z", "n_lost": 30, "n_kept": 270,
         "mean_lost": -0.4, "mean_kept": 0.0, "smd": -0.41, "note": ""},
        {"subject": "math", "arm": "comparison", "covariate": "fall_z", "n_lost": 4,
         "n_kept": 920, "mean_lost": 0.3, "mean_kept": 0.0, "smd": 0.3, "note": ""},
    ])  # fmt: skip


def _lee():
    return pd.DataFrame([{
        "subject": "math", "estimate": 0.12, "lower": 0.05, "upper": 0.2,
        "ci_low": -0.01, "ci_high": 0.27, "reps": 500,
        "trimmed_arm": "comparison", "trim_share": 0.022, "treated_retention": 0.9,
        "comparison_retention": 0.92, "n_treated": 300, "n_comparison": 600, "note": "",
    }])  # fmt: skip


def test_sentences_say_what_the_numbers_allow():
    r = robustness(_confounding(), _attrition(), _baseline(), _lee(), min_n=10)
    assert r.confounding_text[0] == (
        "Math: to bring the pooled estimate (0.12 SD) to zero, an omitted confounder would have "
        "to explain at least 13.1% of the variance left unexplained in both PL status and the "
        "spring score; 5.2% would make it no longer statistically significant at the 5% level."
    )
    assert r.confounding_text[1] == (
        "Math: a confounder as strong as the school's FRL share is after matching would move "
        "the estimate to 0.08 SD (95% CI 0.00 to 0.16)."
    )
    assert r.confounding_text[2] == (
        "Math: a confounder as strong as the fall score is after matching could move the "
        "estimate as far as \u22120.40 SD (the bound gives it all of the spring-score variance "
        "left unexplained, so there is no interval)."
    )
    assert r.attrition_text[0].startswith(
        "Math: 10.0% of PL students tested in the fall had no spring test at the same school, "
        "against 8.0% of students in comparison schools (overall 8.5%, differential 2.0 "
        "points): low attrition against the WWC cautious boundary"
    )
    assert (
        "lost PL students started 0.41 SD lower in fall score than those kept"
        in (r.attrition_text[1])
    )
    assert r.attrition_text[-1] == (
        "Math: had the extra 2.2% of students the comparison group kept been its lowest or its "
        "highest scorers (after adjustment), the pooled effect would lie between 0.05 and 0.20 "
        "SD (Lee bounds; 95% CI of the bounds \u22120.01 to 0.27, school bootstrap)."
    )
    assert r.limitations[0].startswith("Unobserved confounding: the robustness values (math 13.1%)")
    assert "they do not show that no such confounder exists" in r.limitations[0]


def test_a_rate_without_comparison_students_is_left_out_not_printed_as_na():
    # no comparison student tested in the fall (a cohort of PL schools only): the attrition
    # stage writes the comparison rate as a missing Float64, which formats as "<NA>"
    none = _attrition().assign(
        n_comparison=0,
        n_comparison_lost=0,
        comparison_rate=pd.NA,
        wwc_attrition="not computable",
        note="no comparison students",
    )
    none = none.astype({"comparison_rate": "Float64"})  # fmt: skip
    r = robustness(None, none, None, None, min_n=10)
    assert r.attrition_text == ["Math: not computable (no comparison students)."]
    assert "(rates suppressed or not computable)" in r.limitations[0]
    assert "NA" not in " ".join(r.limitations)


def test_no_difference_at_baseline_is_said_as_such():
    same = _baseline().assign(n_lost=40, smd=[-0.41, -0.004])
    assert robustness(None, _attrition(), same, None).attrition_text[2] == (
        "Math: lost comparison students started at the same fall score (to 0.01 SD) as those "
        "kept (40 lost, 920 kept)."
    )


def test_small_cells_are_suppressed_as_in_the_other_tables():
    r = robustness(_confounding(), _attrition(lost_t=3), _baseline(), _lee(), min_n=10)
    # the charter group has 5 PL students: hidden, and the district group with it (its numbers
    # and the pooled ones would give the charter group's away), every benchmark row of each
    table = r.confounding.table
    sector = table["scope"] == "sector"
    assert r.confounding.hidden[sector].all() and not r.confounding.hidden[~sector].any()
    assert table.loc[sector, ["estimate", "rv", "adjusted_estimate"]].isna().all().all()
    # an estimate's minimum detectable effect is hidden with it, shown with it
    assert table.loc[sector, "mde"].isna().all() and (table.loc[~sector, "mde"] == 0.112).all()
    assert set(r.confounding.log["row"]) == {"math / sector / charter", "math / sector / district"}
    # 3 PL students lost: the counts and every rate that would give them away are hidden
    rates = r.attrition.table.iloc[0]
    assert pd.isna(rates["n_treated_lost"]) and pd.isna(rates["treated_rate"])
    assert pd.isna(rates["differential"]) and rates["wwc_attrition"] == "low"
    assert r.attrition_text[0] == (
        "Math: counts suppressed (fewer than the minimum in a cell); low attrition against the "
        "WWC cautious boundary."
    )
    assert "(rates suppressed or not computable)" in r.limitations[1]
    # nor can the Lee table's retention rates give them away
    lee = r.lee.table.iloc[0]
    assert lee[["trim_share", "treated_retention", "comparison_retention"]].isna().all()
    assert (
        lee["lower"] == 0.05
        and "had the extra students the comparison group kept" in (r.attrition_text[-1])
    )
    assert len(r.lee.log) == 3
    # 4 lost comparison students: their baseline row hidden, the PL one shown
    assert r.baseline.hidden.tolist() == [False, True]
    assert not any("comparison students started" in line for line in r.attrition_text)
    assert set(r.tables()) == {"confounding", "attrition", "attrition_baseline", "lee_bounds"}


def test_absent_tables_leave_their_parts_out():
    r = robustness(None, None, None, None)
    assert r.tables() == {} and r.log() == [] and r.limitations == []
