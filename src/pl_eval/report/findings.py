"""Plain-language findings from the estimates, never stated more strongly than the interval.

Each finding carries its 95% interval; an interval that covers zero is reported as "not
statistically distinguishable from zero", never as an effect (nor as no effect: it is read
against the minimum detectable effect, what the study could have detected). Percentile points
are for a student at the comparison group's average, with the national-median figure RAND
reported beside the pooled effect. An estimate that could not be made
says why (its ``note``); a suppressed one says there were too few students; one resting on few
PL schools (its note starts "few PL schools") is never a confident finding, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pl_eval.report.disclosure import count_text
from pl_eval.wording import counted

SUBJECT_NAMES = {"math": "math", "reading": "reading"}
#: The start of an estimate's note when it rests on fewer PL schools than estimate.few_schools.
FEW_SCHOOLS = "few PL schools"
#: What the report says about such an estimate, wherever it shows one.
FEW_SCHOOLS_CAVEAT = (
    "school-clustered inference rests on few PL schools, so its interval is wide and it is not "
    "a confident finding"
)
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


def note_of(row: pd.Series) -> str:
    """An estimate's note ("" when it has none)."""
    note = row.get("note", "")
    return "" if pd.isna(note) else str(note)


def rests_on_few_schools(row: pd.Series) -> bool:
    """Whether an estimate's note says it rests on few PL schools."""
    return FEW_SCHOOLS in note_of(row)


def few_schools(notes: pd.Series) -> pd.Series:
    """Per row of a table's notes, whether it says the estimate rests on few PL schools."""
    return notes.fillna("").astype(str).str.contains(FEW_SCHOOLS, regex=False)


def pooled_finding(row: pd.Series, min_n: int = 10) -> Finding:
    """The pooled effect of one subject in percentile points and SD units, with its CI.

    A suppressed row (counts missing) says there were too few students; a row without an
    estimate gives its note; a row resting on few PL schools is worded without confidence.
    """
    subject = SUBJECT_NAMES.get(row["subject"], row["subject"])
    if pd.isna(row["n_treated"]):
        return Finding(
            f"In {subject}, fewer than {min_n} PL or comparison students were matched: too few "
            "to report an effect.",
            significant=False,
        )
    if pd.isna(row["estimate"]):
        why = note_of(row) or "no estimate"
        return Finding(f"In {subject}, no effect could be estimated: {why}.", significant=False)
    if pd.isna(row["ci_low"]) or pd.isna(row["ci_high"]):
        why = f" ({note_of(row)})" if note_of(row) else ""
        return Finding(
            f"In {subject}, the estimated difference was {_signed(row['estimate'], 2)} SD, but "
            f"no interval could be computed{why}, so it is not a finding.",
            significant=False,
        )
    if rests_on_few_schools(row):
        n = int(row["n_schools"])
        text = (
            f"In {subject}, the estimated difference between PL students and similar students "
            f"elsewhere was {_signed(row['percentile_points'], 1)} percentile points "
            f"{_at_average(row)} ({_interval(row)}), but it rests on only {n} PL "
            f"school{'s' if n != 1 else ''}: {FEW_SCHOOLS_CAVEAT} ({note_of(row)})."
        )
        if row["ci_low"] <= 0 <= row["ci_high"]:
            text += _detectable(row)
        return Finding(text, significant=False)
    return _pooled_effect(row, subject)


def _interval(row: pd.Series) -> str:
    """A pooled row's intervals in percentile points and SD, and its PL students and schools."""
    students = (
        f"{count_text(row['n_treated'])} PL students in {counted(int(row['n_schools']), 'school')}"
    )
    low, high = row["percentile_ci_low"], row["percentile_ci_high"]
    return (
        f"95% CI {_signed(low, 1)} to {_signed(high, 1)} percentile points; "
        f"{_signed(row['estimate'], 2)} SD, 95% CI {_signed(row['ci_low'], 2)} to "
        f"{_signed(row['ci_high'], 2)}; {students}"
    )


def _pooled_effect(row: pd.Series, subject: str) -> Finding:
    """The pooled effect's sentence, worded by its interval."""
    interval = _interval(row)
    points = abs(float(row["percentile_points"]))
    if row["ci_low"] <= 0 <= row["ci_high"]:
        text = (
            f"In {subject}, the difference between PL students and similar students elsewhere "
            f"was not statistically distinguishable from zero (estimate "
            f"{_signed(row['percentile_points'], 1)} percentile points {_at_average(row)}, "
            f"{interval})." + _detectable(row)
        )
        return Finding(text, significant=False)
    direction = "more" if row["estimate"] > 0 else "less"
    median = row["percentile_points_median"]
    rand = "" if pd.isna(median) else f"; {abs(median):.1f} at the national median"
    text = (
        f"In {subject}, PL students gained {direction} than similar students elsewhere: "
        f"about {points:.0f} percentile points {_at_average(row)}{rand} ({interval})."
    )
    return Finding(text, significant=True)


def _at_average(row: pd.Series) -> str:
    """Whom a row's percentile points are for: "for a student at the comparison group's
    average (the 38th percentile)"."""
    base = row["comparison_percentile"]
    where = "" if pd.isna(base) else f" (the {_ordinal(round(float(base)))} percentile)"
    return f"for a student at the comparison group's average{where}"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 11th, 38th."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _detectable(row: pd.Series) -> str:
    """What a not-significant estimate is read against: the smallest effect the study could
    detect (80% power, 5% two-sided), never that there was no effect. Empty without an MDE."""
    mde = row["mde"]
    if pd.isna(mde):
        return ""
    return (
        f" The study could detect effects of about {mde:.2f} SD "
        f"({row['mde_percentile_points']:.1f} percentile points) or larger (80% power, 5% "
        "significance level); smaller effects cannot be ruled out."
    )


def breakout_finding(test: pd.Series, alpha: float = 0.05) -> Finding:
    """Whether an effect differed between a breakout's groups (the interaction test); a test
    that could not be run says why, one resting on few PL schools is never significant."""
    subject = SUBJECT_NAMES.get(test["subject"], test["subject"])
    between = BREAKOUT_NAMES.get(test["scope"], test["scope"])
    if pd.isna(test["p_value"]):
        why = note_of(test) or "no test"
        return Finding(
            f"Whether the {subject} effect differed between {between} could not be tested: {why}.",
            significant=False,
        )
    p = f"p = {test['p_value']:.3f}"
    if rests_on_few_schools(test):
        text = (
            f"The test of whether the {subject} effect differed between {between} ({p}) "
            f"rests on few PL schools and is not a confident finding ({note_of(test)})."
        )
        return Finding(text, significant=False)
    if test["p_value"] < alpha:
        text = f"The {subject} effect differed between {between} ({p})."
        return Finding(text, significant=True)
    text = (
        f"There was no clear evidence that the {subject} effect differed between {between} ({p})."
    )
    return Finding(text, significant=False)


def school_finding(subject: str, n_schools: int, counts: dict[str, int]) -> Finding:
    """How many schools' own estimates were significantly positive or negative."""
    schools = counted(n_schools, "PL school") + (" with its" if n_schools == 1 else " with their")
    were = "was" if counts["positive"] == 1 else "were"
    text = (
        f"Of {schools} own {subject} estimate, "
        f"{counts['positive']} {were} significantly above and {counts['negative']} significantly "
        f"below their comparison groups at the 5% level; after correcting for testing many "
        f"schools (Benjamini–Hochberg), {counts['positive_bh']} above and "
        f"{counts['negative_bh']} below."
    )
    return Finding(text, significant=counts["positive_bh"] + counts["negative_bh"] > 0)


def findings(
    estimates: pd.DataFrame,
    tests: pd.DataFrame,
    school_counts: dict[str, dict[str, int]],
    min_n: int = 10,
) -> list[Finding]:
    """Three to five findings: each subject's pooled effect, sector differences, schools.

    ``estimates``' pooled rows are as shown (suppressed ones with missing counts);
    ``school_counts`` maps subject to :func:`pl_eval.estimation.cohort.significant_schools`
    counts plus ``n`` (schools with an estimate).
    """
    pooled = estimates[estimates["scope"] == "pooled"].sort_values("subject")
    out = [pooled_finding(row, min_n) for _, row in pooled.iterrows()]
    sector = tests[tests["scope"] == "sector"].sort_values("subject")
    out += [breakout_finding(row) for _, row in sector.iterrows()][: 4 - len(out)]
    first = pooled["subject"].iloc[0] if len(pooled) else None
    if first in school_counts and school_counts[first]["n"] and len(out) < 5:
        counts = school_counts[first]
        out.append(school_finding(first, counts["n"], counts))
    return out


def _signed(value: float, digits: int) -> str:
    """A number with a true minus sign, as typeset text: −0.01, 0.15."""
    text = f"{float(value):.{digits}f}"
    return text.replace("-", "\u2212")
