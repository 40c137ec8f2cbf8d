"""Issue 12's checks on hand-made tiny cohorts: sensitivity to an omitted confounder, attrition
and Lee bounds, the minimum detectable effect, the school-weighted pooled effect and the
doubly-robust (entropy-balancing) weights, with 1 PL school, 2 PL schools, a sector without PL
schools, no students lost, every PL student lost, one comparison school and a weighted sample.
Each case ends in numbers with a known answer where there is one, or in NaN with the reason
in the row's note: never an exception, never a number with no explanation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t
from test_estimation_scales import BIG_EFFECT, planted

from pl_eval.estimation import EstimateConfig, estimate_cohort
from pl_eval.estimation.attrition import RATE_COLUMNS, attrition_rates, lee_table, lost_vs_kept
from pl_eval.estimation.cohort import POOLED_SCHOOLS
from pl_eval.estimation.sensitivity import confounding
from pl_eval.matching import MatchConfig, match_cohort
from pl_eval.matching.weighting import STRATUM_COLUMN

CONFIG = EstimateConfig(covariates=("fall_z",), few_schools=10)


def flow(lost_treated: int, kept_treated: int, lost_comparison: int, kept_comparison: int):
    """The panel's sample flow for one subject (subject, arm, reason, n_students)."""
    rows = [
        ("treated", "paired", kept_treated), ("treated", "no_spring", lost_treated),
        ("comparison", "paired", kept_comparison), ("comparison", "no_spring", lost_comparison),
    ]  # fmt: skip
    return pd.DataFrame(
        [("math", arm, reason, n) for arm, reason, n in rows],
        columns=["subject", "arm", "reason", "n_students"],
    )


def checks(data, pairs, rates, config=CONFIG):
    """The estimates, the confounding table and the Lee bounds of one tiny cohort."""
    samples = {"math": (data, pairs)}
    estimates = estimate_cohort(samples, config).estimates
    return (
        estimates.set_index(["scope", "group"]),
        confounding(samples, estimates, config).set_index(["scope", "group"]),
        lee_table(samples, estimates, rates, config).iloc[0],
    )


def assert_explained(table: pd.DataFrame, numbers: list[str]):
    """Every row has its numbers, or says in its note why not."""
    missing = table[numbers].isna().any(axis=1)
    assert not (missing & table["note"].fillna("").eq("")).any(), table[missing]


def test_one_pl_school_gives_its_effect_without_an_interval_and_says_why():
    data, pairs = planted((40,))
    est, conf, lee = checks(data, pairs, attrition_rates(flow(0, 40, 0, 40)))
    pooled = est.loc[("pooled", "all")]
    # the one school gained 0.5: that is the estimate, student- and school-weighted alike
    assert pooled["estimate"] == pytest.approx(BIG_EFFECT, abs=1e-10)
    assert est.loc[(POOLED_SCHOOLS, "all"), "estimate"] == pytest.approx(BIG_EFFECT, abs=1e-10)
    assert np.isnan(pooled["se"]) and np.isnan(pooled["mde"])
    assert pooled["note"] == (
        "few PL schools (1): one PL school gives no school-clustered interval"
    )
    # the confounding rows keep the robustness value, and say why there is no RV at α
    assert np.isfinite(conf.loc[("pooled", "all"), "rv"]).all()
    assert conf.loc[("pooled", "all"), "rv_alpha"].isna().all()
    assert (
        conf.loc[("pooled", "all"), "note"]
        .str.startswith("no interval for the estimate: RV at α and intervals not computed")
        .all()
    )
    assert_explained(conf.reset_index(), ["rv", "rv_alpha", "adjusted_estimate", "mde"])
    # nobody lost: the bounds are the estimate, and there is no bootstrap with one school
    assert lee["lower"] == lee["upper"] == pytest.approx(BIG_EFFECT, abs=1e-10)
    assert lee["trimmed_arm"] in ("", np.nan) or pd.isna(lee["trimmed_arm"])
    assert lee["note"] == "no interval: no school counts"


def test_two_pl_schools_give_known_student_and_school_weighted_effects_and_their_mde():
    data, pairs = planted((40, 8))
    est, conf, lee = checks(data, pairs, attrition_rates(flow(4, 40, 40, 400)))
    pooled, schools = est.loc[("pooled", "all")], est.loc[(POOLED_SCHOOLS, "all")]
    # 40 of 48 PL students gained 0.5; one school of two did
    assert pooled["estimate"] == pytest.approx(BIG_EFFECT * 40 / 48, abs=1e-10)
    assert schools["estimate"] == pytest.approx(BIG_EFFECT / 2, abs=1e-10)
    for row in (pooled, schools):
        mde = (t.ppf(0.975, row["df"]) + t.ppf(0.8, row["df"])) * row["se"]
        assert row["mde"] == pytest.approx(mde, rel=1e-10)
        assert row["note"].startswith("few PL schools (2): CR2 small-sample df")
    # the MDE of each estimate sits beside it in the confounding table
    assert (conf.loc[("pooled", "all"), "mde"] == pooled["mde"]).all()
    # 4 of 44 PL and 40 of 440 comparison students lost: the same share, so nothing trimmed
    assert lee["treated_retention"] == lee["comparison_retention"]
    assert lee["lower"] == lee["upper"] == pytest.approx(pooled["estimate"], abs=1e-12)


def test_a_sector_without_pl_schools_has_rows_with_notes_in_every_table():
    data, pairs = planted((16, 16, 16, 16))  # every PL school is a charter school
    est, conf, _ = checks(data, pairs, attrition_rates(flow(0, 64, 0, 64)))
    district = est.loc[("sector", "district")]
    assert np.isnan(district["estimate"]) and district["note"] == "no PL students"
    assert np.isnan(district["mde"])
    row = conf.loc[("sector", "district")]
    assert np.isnan(row["rv"]) and row["note"] == "no estimate: no PL students"
    # the charter sector is every PL student: the pooled estimate again
    assert est.loc[("sector", "charter"), "estimate"] == pytest.approx(BIG_EFFECT / 4)


def test_differential_attrition_widens_the_bounds_around_the_estimate():
    data, pairs = planted((16, 16, 16, 16))
    # 16 of 80 PL students lost (80% kept) against none of the comparison students
    _, _, lee = checks(data, pairs, attrition_rates(flow(16, 64, 0, 64)))
    assert lee["trimmed_arm"] == "comparison" and lee["trim_share"] == pytest.approx(0.2)
    assert lee["lower"] < lee["estimate"] < lee["upper"]


def test_every_pl_student_lost_leaves_no_estimate_and_says_so():
    data, pairs = planted((16, 16))
    comparison_only = data[~data["treated"]]
    rates = attrition_rates(flow(32, 0, 5, 27))
    assert rates.loc[0, "treated_rate"] == 1.0 and rates.loc[0, "wwc_attrition"] == "high"
    est, conf, lee = checks(comparison_only, pairs.iloc[:0], rates)
    assert est["estimate"].isna().all() and est["note"].ne("").all()
    assert conf["note"].str.startswith("no estimate").all()
    assert np.isnan(lee["lower"]) and lee["note"] == "no estimate"
    kept = comparison_only.assign(subject="math", frl_pct=50.0)
    lost = pd.DataFrame(
        {"subject": "math", "arm": ["treated"] * 3, "fall_z": [0.1, 0.2, 0.3], "frl_pct": 50.0}
    )
    baseline = lost_vs_kept(kept, lost).set_index(["arm", "covariate"])
    assert baseline.loc[("treated", "fall_z"), "note"] == "fewer than two lost or kept students"


def test_no_pl_students_tested_in_the_fall_gives_a_rate_row_with_its_note():
    rates = attrition_rates(flow(0, 0, 3, 30))
    assert list(rates.columns) == RATE_COLUMNS
    row = rates.iloc[0]
    assert row["wwc_attrition"] == "not computable"
    assert row["note"] == "no PL students tested in the fall"


def test_one_comparison_school_still_gives_the_planted_effect():
    data, pairs = planted((40, 8, 8, 8))
    one = data.assign(school=data["school"].where(data["treated"], "C 0"))
    est, conf, _ = checks(one, pairs, attrition_rates(flow(0, 64, 0, 64)))
    pooled = est.loc[("pooled", "all")]
    assert pooled["estimate"] == pytest.approx(BIG_EFFECT * 40 / 64, abs=1e-10)
    assert est.loc[(POOLED_SCHOOLS, "all"), "estimate"] == pytest.approx(BIG_EFFECT / 4)
    assert np.isfinite(pooled[["se", "df", "mde"]].astype(float)).all()
    assert_explained(conf.reset_index(), ["rv", "mde"])


def test_doubly_robust_weights_on_a_cohort_with_one_pl_school():
    # one PL school of 12 students in grades 3 and 4, three comparison schools: the entropy
    # weights balance fall z per grade and its variance across grades, and the effect model
    # runs on them
    rng = np.random.default_rng(3)
    rows = []
    for school, treated, n in (("PL", True, 12), ("C0", False, 30), ("C1", False, 30),
                               ("C2", False, 30)):  # fmt: skip
        fall = rng.normal(0.3 if treated else 0.0, 0.8 if treated else 1.0, n)
        rows.append(pd.DataFrame({
            "student_key": [f"{school}-{i}" for i in range(n)], "subject": "math",
            "district": "D", "school": school, "treated": treated,
            "grade": np.where(np.arange(n) % 2 == 0, 3, 4), "gender": "F",
            "locale_group": "city", "frl_pct": 60.0, "fall_z": fall,
            "spring_z": fall + 0.2 * treated + rng.normal(0, 0.3, n), "sector": "charter",
            "years_pl": "1", "grade_band": "K-5", "fall_pct": 50.0, "spring_pct": 50.0,
            "days_between": 240.0,
        }))  # fmt: skip
    panel = pd.concat(rows, ignore_index=True)
    settings = {"method": "entropy", "covariates": ["fall_z"], "exact": ["grade"]}
    result = match_cohort(panel, "math", MatchConfig.from_config(settings))
    table = result.balance.table.set_index(["covariate", "sample"])
    assert abs(table.loc[("fall_z", "matched"), "effect_size"]) < 1e-6
    assert STRATUM_COLUMN in result.matched and result.pairs.empty
    est = estimate_cohort(
        {"math": (result.matched, result.pairs)}, EstimateConfig(covariates=("fall_z",))
    ).estimates.set_index(["scope", "group"])
    pooled = est.loc[("pooled", "all")]
    assert np.isfinite(pooled["estimate"]) and np.isnan(pooled["se"])
    assert pooled["note"].startswith("few PL schools (1)")
    school = est.loc[("school", "PL")]
    assert np.isfinite(school[["estimate", "se", "mde"]].astype(float)).all()
    assert est.loc[(POOLED_SCHOOLS, "all"), "estimate"] == pytest.approx(pooled["estimate"])
