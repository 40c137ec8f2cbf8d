"""Findings are worded no more strongly than their 95% intervals allow."""

from __future__ import annotations

import pandas as pd

from pl_eval.norms import percentile_points
from pl_eval.report.findings import breakout_finding, findings, pooled_finding, school_finding


def _pooled(subject: str, estimate: float, low: float, high: float) -> pd.Series:
    return pd.Series(
        {
            "subject": subject,
            "scope": "pooled",
            "estimate": estimate,
            "ci_low": low,
            "ci_high": high,
            "comparison_percentile": 40.0,
            "percentile_points": percentile_points(estimate, at=40),
            "percentile_ci_low": percentile_points(low, at=40),
            "percentile_ci_high": percentile_points(high, at=40),
            "percentile_points_median": percentile_points(estimate),
            "mde": 0.08,
            "mde_percentile_points": percentile_points(0.08, at=40),
            "n_treated": 8362,
            "n_schools": 40,
        }
    )


def test_an_interval_above_zero_is_an_effect_in_percentile_points():
    # 0.076 SD at the 40th percentile: 100 Φ(Φ⁻¹(0.4) + 0.076) − 40 = 2.96 percentile points
    f = pooled_finding(_pooled("math", 0.076, 0.02, 0.13))
    assert f.significant
    assert "PL students gained more" in f.text
    assert "about 3 percentile points" in f.text
    assert "0.08 SD, 95% CI 0.02 to 0.13" in f.text
    assert "8,362 PL students in 40 schools" in f.text
    assert "distinguishable" not in f.text


def test_an_interval_covering_zero_is_never_called_an_effect():
    f = pooled_finding(_pooled("reading", 0.069, -0.009, 0.148))
    assert not f.significant
    assert "not statistically distinguishable from zero" in f.text
    assert "gained" not in f.text
    assert "95% CI \u22120.01 to 0.15" in f.text  # true minus sign


def test_an_interval_below_zero_says_less():
    f = pooled_finding(_pooled("math", -0.1, -0.18, -0.02))
    assert f.significant and "gained less" in f.text and "about 4 percentile points" in f.text


def test_breakout_and_school_findings():
    test = pd.Series({"subject": "reading", "scope": "sector", "p_value": 0.0187})
    assert breakout_finding(test).text == (
        "The reading effect differed between charter and district schools (p = 0.019)."
    )
    flat = breakout_finding(test.replace(0.0187, 0.66))
    assert not flat.significant and "no clear evidence" in flat.text
    counts = {"positive": 3, "negative": 1, "positive_bh": 1, "negative_bh": 0}
    text = school_finding("math", 40, counts).text
    assert "Of 40 PL schools" in text and "3 were significantly above and 1" in text
    assert "1 above and 0 below" in text
    one = {"positive": 1, "negative": 0, "positive_bh": 0, "negative_bh": 0}
    assert school_finding("math", 2, one).text.startswith(
        "Of 2 PL schools with their own math estimate, 1 was significantly above and 0 "
        "significantly below"
    )
    assert school_finding("math", 1, one).text.startswith(
        "Of 1 PL school with its own math estimate, 1 was significantly above"
    )


def test_three_to_five_findings_per_report():
    estimates = pd.DataFrame([_pooled("math", 0.1, 0.05, 0.15), _pooled("reading", 0.0, -0.1, 0.1)])
    tests = pd.DataFrame(
        {"subject": ["math", "reading"], "scope": ["sector", "sector"], "p_value": [0.5, 0.01]}
    )
    counts = {"math": {"positive": 2, "negative": 0, "positive_bh": 1, "negative_bh": 0, "n": 9}}
    out = findings(estimates, tests, counts)
    assert len(out) == 5
    assert [f.significant for f in out] == [True, False, False, True, True]
    assert len(findings(estimates.iloc[:1], tests.iloc[:0], {})) == 1 + 0
