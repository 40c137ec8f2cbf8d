"""Plain-language findings from the estimates, never stated more strongly than the interval.

Each finding carries its 95% interval; an interval that covers zero is reported as "not
statistically distinguishable from zero", never as an effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pl_eval.norms import percentile_points

SUBJECT_NAMES = {"math": "math", "reading": "reading"}
BREAKOUT_NAMES = {
    "sector": "charter and district schools",
    "years": "schools in their first, second and third or later year of PL",
    "grade_band": "grade bands",
    "baseline_quintile": "students who started at different achievement levels",
}


@dataclass(frozen=True)
class Finding:
    """One sentence for the executive summary and whether its interval excludes zero."""

    text: str
    significant: bool


def pooled_finding(row: pd.Series) -> Finding:
    """The pooled effect of one subject in percentile points and SD units, with its CI."""
    subject = SUBJECT_NAMES.get(row["subject"], row["subject"])
    low, high = percentile_points(row["ci_low"]), percentile_points(row["ci_high"])
    interval = (
        f"95% CI {_signed(low, 1)} to {_signed(high, 1)} percentile points; "
        f"{_signed(row['estimate'], 2)} SD, 95% CI {_signed(row['ci_low'], 2)} to "
        f"{_signed(row['ci_high'], 2)}; {int(row['n_treated']):,} PL students in "
        f"{int(row['n_schools'])} schools"
    )
    points = abs(float(row["percentile_points"]))
    if row["ci_low"] <= 0 <= row["ci_high"]:
        text = (
            f"In {subject}, the difference between PL students and similar students elsewhere "
            f"was not statistically distinguishable from zero (estimate "
            f"{_signed(row['percentile_points'], 1)} percentile points, {interval})."
        )
        return Finding(text, significant=False)
    direction = "more" if row["estimate"] > 0 else "less"
    text = (
        f"In {subject}, PL students gained {direction} than similar students elsewhere: "
        f"about {points:.0f} percentile points ({interval})."
    )
    return Finding(text, significant=True)


def breakout_finding(test: pd.Series, alpha: float = 0.05) -> Finding:
    """Whether an effect differed between a breakout's groups (the interaction test)."""
    subject = SUBJECT_NAMES.get(test["subject"], test["subject"])
    between = BREAKOUT_NAMES.get(test["scope"], test["scope"])
    p = f"p = {test['p_value']:.3f}"
    if test["p_value"] < alpha:
        text = f"The {subject} effect differed between {between} ({p})."
        return Finding(text, significant=True)
    text = (
        f"There was no clear evidence that the {subject} effect differed between {between} ({p})."
    )
    return Finding(text, significant=False)


def school_finding(subject: str, n_schools: int, counts: dict[str, int]) -> Finding:
    """How many schools' own estimates were significantly positive or negative."""
    text = (
        f"Of {n_schools} PL schools with their own {subject} estimate, "
        f"{counts['positive']} were significantly above and {counts['negative']} significantly "
        f"below their comparison groups at the 5% level; after correcting for testing many "
        f"schools (Benjamini–Hochberg), {counts['positive_bh']} above and "
        f"{counts['negative_bh']} below."
    )
    return Finding(text, significant=counts["positive_bh"] + counts["negative_bh"] > 0)


def findings(
    estimates: pd.DataFrame, tests: pd.DataFrame, school_counts: dict[str, dict[str, int]]
) -> list[Finding]:
    """Three to five findings: each subject's pooled effect, sector differences, schools.

    ``school_counts`` maps subject to :func:`pl_eval.estimation.cohort.significant_schools`
    counts plus ``n`` (schools with an estimate).
    """
    pooled = estimates[estimates["scope"] == "pooled"].sort_values("subject")
    out = [pooled_finding(row) for _, row in pooled.iterrows()]
    sector = tests[tests["scope"] == "sector"].sort_values("subject")
    out += [breakout_finding(row) for _, row in sector.iterrows()][: 4 - len(out)]
    first = pooled["subject"].iloc[0] if len(pooled) else None
    if first in school_counts and len(out) < 5:
        counts = school_counts[first]
        out.append(school_finding(first, counts["n"], counts))
    return out


def _signed(value: float, digits: int) -> str:
    """A number with a true minus sign, as typeset text: −0.01, 0.15."""
    text = f"{float(value):.{digits}f}"
    return text.replace("-", "\u2212")
