"""Estimates of several analyses or cohorts side by side, suppressed, with a range sentence.

The report's sensitivity section sets the main specification beside its variants (another
matching method, caliper or model); the combined report sets cohorts (school years) beside
each other. Both show each one's pooled and sector estimates (in percentile points for a
student at each row's comparison group's average, with each row's minimum detectable effect),
hide small cells as the main report's breakouts do, and say per subject how far the estimates
range and on which side of zero their 95% intervals lie: never more than the intervals allow.
A row without an estimate keeps its place with its note; a pooled estimate resting on few PL
schools is never part of a confident sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pl_eval.errors import ConfigError
from pl_eval.report.disclosure import Decision
from pl_eval.report.findings import FEW_SCHOOLS_CAVEAT, SUBJECT_NAMES, Finding, few_schools
from pl_eval.report.suppression import Suppressed, suppress

#: The main specification's name among ``analyses:``; the others are sensitivity variants.
MAIN = "main"
SCOPES = {"pooled": 0, "sector": 1}
COLUMNS = [
    "subject", "scope", "group", "estimate", "ci_low", "ci_high", "percentile_points", "p_value",
    "n_treated", "n_comparison", "n_schools", "note", "comparison_percentile", "mde",
    "mde_percentile_points",
]  # fmt: skip
HIDDEN_WITH_COUNTS = [
    "estimate", "ci_low", "ci_high", "percentile_points", "p_value", "n_schools",
    "comparison_percentile", "mde", "mde_percentile_points",
]  # fmt: skip

#: Plain words for the settings a variant usually changes; any other setting shows its key.
SETTING_NAMES = {
    "ingest.screens.max_rapid_guessing_pct": "rapid-guessing screen (max %)",
    "ingest.screens.min_duration_minutes": "shortest valid test (minutes)",
    "panel.norms_year": "NWEA norms year",
    "match.method": "matching",
    "match.caliper": "caliper (SD of the logit)",
    "match.covariate_calipers": "covariate calipers (SD)",
    "match.ratio": "comparison students per PL student",
    "match.replace": "comparison students reused",
    "match.covariates": "matching covariates",
    "match.exact": "matched exactly on",
    "estimate.model": "model",
    "estimate.se": "standard errors",
    "estimate.covariates": "model covariates",
}
VALUE_NAMES = {
    ("match.method", "vcg"): "virtual comparison group (VCG)",
    ("match.method", "propensity"): "nearest neighbour on the propensity score",
    ("match.method", "ipw"): "inverse-probability (odds) weights, no matching (doubly robust)",
    ("match.method", "entropy"): "entropy-balancing weights, no matching (doubly robust)",
    ("estimate.model", "mixed"): "school random intercepts by arm (pooled estimate only)",
    ("estimate.model", "ols_cluster"): "school-clustered standard errors",
    ("ingest.screens.max_rapid_guessing_pct", None): "off",
    ("ingest.screens.min_duration_minutes", None): "off",
    ("match.caliper", None): "none",
}
#: Where a 95% interval lies, and how a sentence says it.
SIDES = {
    "above": ("lies above zero", "lie above zero"),
    "zero": ("includes zero", "include zero"),
    "below": ("lies below zero", "lie below zero"),
}


@dataclass(frozen=True)
class Comparison:
    """Pooled and sector estimates side by side, one row per ``label`` × subject × group.

    ``label`` names the column telling the compared estimates apart ("analysis" or
    "cohort"); suppressed rows keep their names with counts and estimates missing.
    """

    label: str
    table: pd.DataFrame
    hidden: pd.Series
    log: pd.DataFrame
    findings: list[Finding]

    def shown(self) -> pd.DataFrame:
        """The rows not suppressed, for the dot plot."""
        return self.table[~self.hidden].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """The suppressed table as the report's CSV holds it."""
        return self.table

    def summary(self) -> str:
        return (
            f"{self.table[self.label].nunique()} {self.label}s side by side: "
            f"{len(self.table)} rows, {int(self.hidden.sum())} suppressed"
        )


def sensitivity(
    analyses: Mapping[str, pd.DataFrame],
    overrides: Mapping[str, dict | None],
    *,
    min_n: int = 10,
    decision: Decision | None = None,
) -> Comparison:
    """The main specification and its variants side by side, each described by its overrides.

    ``analyses`` maps each analysis name to its estimates table, in display order;
    ``overrides`` is the configuration's ``analyses:`` mapping (name → partial settings).
    """
    unknown = [name for name in analyses if name not in overrides]
    if unknown:
        raise ConfigError(
            f"analyses {', '.join(map(repr, unknown))} have no entry under 'analyses:' in the "
            f"configuration; configured: {', '.join(map(repr, overrides)) or 'none'}"
        )
    if MAIN not in analyses:
        raise ConfigError(f"the analyses compared must include the main specification {MAIN!r}")
    stacked = _stack(analyses, "analysis")
    changes = {name: describe_overrides(overrides[name] or {}, name == MAIN) for name in analyses}
    stacked.insert(1, "main", stacked["analysis"] == MAIN)
    stacked.insert(2, "changes", stacked["analysis"].map(changes))
    out = _suppress(stacked, "analysis", "sensitivity", min_n, decision)
    return _compared(out, "analysis", "specification", reference=MAIN)


def across_cohorts(
    cohorts: Mapping[str, pd.DataFrame],
    school_years: Mapping[str, str],
    *,
    min_n: int = 10,
    decision: Decision | None = None,
) -> Comparison:
    """Each cohort's pooled and sector estimates side by side, with its school year."""
    stacked = _stack(cohorts, "cohort")
    stacked.insert(1, "school_year", stacked["cohort"].map(school_years))
    out = _suppress(stacked, "cohort", "cohorts", min_n, decision)
    return _compared(out, "cohort", "cohort")


def describe_overrides(overrides: dict, main: bool = False) -> str:
    """What a variant changes, in words: "matching: virtual comparison group (VCG)"."""
    settings = dotted_settings(overrides)
    if not settings:
        return "main specification" if main else "same settings as the main specification"
    return "; ".join(
        f"{SETTING_NAMES.get(key, key)}: {_value(key, value)}" for key, value in settings
    )


def range_finding(
    rows: pd.DataFrame, label: str, noun: str, reference: str | None = None
) -> Finding:
    """How far one subject's pooled estimates range and where their 95% intervals lie.

    ``rows`` are the shown pooled rows of one subject, one per ``label`` value; ``noun`` is
    what they are ("specification", "cohort"); ``reference`` (the main specification) is
    named first, as "the main <noun>". Significant only when every interval lies on the same
    side of zero; when they do not, the sentence says the conclusion depends on the choice.
    """
    subject = SUBJECT_NAMES.get(rows["subject"].iloc[0], rows["subject"].iloc[0])
    found = _range_finding(rows, label, noun, reference, subject)
    notes = rows["note"] if "note" in rows else pd.Series("", index=rows.index)
    few = rows.loc[few_schools(notes), label]
    if few.empty:
        return found
    which = ", ".join(
        f"the main {noun}" if name == reference else str(name) for name in few.astype(str)
    )
    return Finding(f"{found.text} For {which}, {FEW_SCHOOLS_CAVEAT}.", significant=False)


def _range_finding(
    rows: pd.DataFrame, label: str, noun: str, reference: str | None, subject: str
) -> Finding:
    """The range sentence of :func:`range_finding`, worded by the intervals alone."""
    is_reference = rows[label] == reference
    rows = pd.concat([rows[is_reference], rows[~is_reference]])  # the reference named first
    side = _side(rows)
    names = rows[label].astype(str).mask(rows[label] == reference, f"the main {noun}")
    if len(rows) == 1:
        text = (
            f"The {subject} estimate is {_plus(rows['estimate'].iloc[0])} SD in the only {noun} "
            f"shown ({names.iloc[0]}); its 95% interval {SIDES[side.iloc[0]][0]}."
        )
        return Finding(text, significant=side.iloc[0] != "zero")
    low, high = _plus(rows["estimate"].min()), _plus(rows["estimate"].max())
    spread = f"is {low} SD" if low == high else f"ranges from {low} to {high} SD"
    text = f"The {subject} estimate {spread} across {len(rows)} {noun}s; "
    if side.nunique() == 1:
        every = "both" if len(rows) == 2 else f"all {len(rows)}"
        text += f"the 95% intervals of {every} {SIDES[side.iloc[0]][1]}."
        return Finding(text, significant=side.iloc[0] != "zero")
    parts = [
        f"{SIDES[s][0]} in {int((side == s).sum())} ({', '.join(names[side == s])})"
        for s in dict.fromkeys([*side.iloc[:1], *SIDES])  # the first row's side first
        if (side == s).any()
    ]
    joined = ", ".join(parts[:-1]) + " and " + parts[-1]
    text += f"its 95% interval {joined}, so the conclusion depends on the {noun}."
    return Finding(text, significant=False)


def stacked(estimates: Mapping[str, pd.DataFrame], label: str) -> pd.DataFrame:
    """Pooled and sector rows of each estimates table under its name (``label``), in order."""
    return _stack(estimates, label)


def _stack(estimates: Mapping[str, pd.DataFrame], label: str) -> pd.DataFrame:
    """Pooled and sector rows of each estimates table under its name, in the given order."""
    order = {name: i for i, name in enumerate(estimates)}
    stacked = pd.concat(
        [
            table.loc[table["scope"].isin(list(SCOPES))]
            .reindex(columns=COLUMNS)
            .assign(note=lambda t: t["note"].fillna(""), **{label: name})
            for name, table in estimates.items()
        ],
        ignore_index=True,
    )
    keys = pd.DataFrame(
        {
            "subject": stacked["subject"],
            "label": stacked[label].map(order),
            "scope": stacked["scope"].map(SCOPES),
            "group": stacked["group"],
        }
    )
    rows = keys.sort_values(list(keys.columns), kind="stable").index
    return stacked.loc[rows, [label, *COLUMNS]].reset_index(drop=True)


def _suppress(
    table: pd.DataFrame, label: str, name: str, min_n: int, decision: Decision | None = None
) -> Suppressed:
    """Small cells hidden as in the breakouts: a lone small sector drags the other with it."""
    return suppress(
        table,
        name=name,
        counts=["n_treated", "n_comparison"],
        key=[label, "subject", "scope", "group"],
        group=[label, "subject", "scope"],
        hide=HIDDEN_WITH_COUNTS,
        min_n=min_n,
        decision=decision,
    )


def _compared(out: Suppressed, label: str, noun: str, reference: str | None = None) -> Comparison:
    """The suppressed table with one range finding per subject that has a shown pooled row."""
    known = out.table["estimate"].notna()  # rows without an estimate show their note instead
    pooled = out.table[~out.hidden & known & (out.table["scope"] == "pooled")]
    found = [
        range_finding(rows, label, noun, reference)
        for _, rows in pooled.groupby("subject", sort=True)
    ]
    return Comparison(label, out.table, out.hidden, out.log, found)


def _side(rows: pd.DataFrame) -> pd.Series:
    """Per row, where the 95% interval lies: "above" zero, "below" it, or covering it ("zero")."""
    side = pd.Series("zero", index=rows.index)
    side = side.mask(rows["ci_low"] > 0, "above")
    return side.mask(rows["ci_high"] < 0, "below")


def dotted_settings(settings: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested settings as (dotted key, value) pairs, in the order they were written; an empty
    mapping is a value of its own."""
    pairs = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs += dotted_settings(value, f"{name}.")
        else:
            pairs.append((name, value))
    return pairs


def _value(key: str, value: object) -> str:
    """A setting's value as text: its name where it has one, none for null and empty lists."""
    if isinstance(value, str | int | float | bool | None) and (key, value) in VALUE_NAMES:
        return VALUE_NAMES[(key, value)]
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _plus(value: float) -> str:
    """A signed estimate as typeset text: +0.05, −0.02."""
    return f"{float(value):+.2f}".replace("-", "\u2212")
