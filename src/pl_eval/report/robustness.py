"""The report's answers to a skeptical reader: an omitted confounder, and students lost.

Pure functions from the robustness stage's tables (``confounding.csv``, ``attrition.csv``,
``attrition_baseline.csv``, ``lee_bounds.csv``) to suppressed tables and plain sentences. Every
sentence says only what its numbers allow: a robustness value is "how strong a confounder would
have to be", never "there is no confounding"; benchmarks are described as they are after
matching (matching removed most of their link with PL status, so they understate what an
unmatched confounder could be); attrition is judged against the WWC cautious boundary as a
yardstick (WWC rates attrition only in randomised trials); Lee bounds are a range, not an
estimate, and their interval covers the range.
Cells resting on fewer than ``min_n`` students are suppressed as the other tables are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.report.disclosure import Decision, Rounded, row_name
from pl_eval.report.suppression import Suppressed, suppress

BENCHMARK_NAMES = {"frl_pct": "the school's FRL share", "fall_z": "the fall score"}
CONFOUNDING_HIDDEN = [
    "estimate", "se", "df", "model_se", "dof", "partial_r2", "rv", "rv_alpha", "r2dz_x",
    "r2yz_dx", "adjusted_estimate", "adjusted_se", "ci_low", "ci_high", "mde",
]  # fmt: skip


@dataclass(frozen=True)
class Robustness:
    """What the report shows of the robustness stage: tables (suppressed), sentences and the
    limitation lines, and the suppression log."""

    confounding: Suppressed | None
    attrition: Suppressed | None
    baseline: Suppressed | None
    lee: Suppressed | None
    confounding_text: list[str]
    attrition_text: list[str]
    limitations: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        parts = {
            "confounding": self.confounding, "attrition": self.attrition,
            "attrition_baseline": self.baseline, "lee_bounds": self.lee,
        }  # fmt: skip
        return {name: part.table for name, part in parts.items() if part is not None}

    def log(self) -> list[pd.DataFrame]:
        parts = (self.confounding, self.attrition, self.baseline, self.lee)
        return [part.log for part in parts if part is not None]


def robustness(
    confounding: pd.DataFrame | None,
    attrition: pd.DataFrame | None,
    baseline: pd.DataFrame | None,
    lee: pd.DataFrame | None,
    *,
    min_n: int = 10,
    decision: Decision | None = None,
) -> Robustness:
    """The sections' tables and sentences (any input may be None: its part is left out)."""
    conf = _confounding(confounding, min_n, decision) if confounding is not None else None
    rates = baseline_part = lee_part = None
    if attrition is not None:
        rates = suppress(
            attrition, name="attrition",
            counts=["n_treated", "n_treated_lost", "n_comparison", "n_comparison_lost"],
            key=["subject"], group=["subject"],
            hide=["treated_rate", "comparison_rate", "overall_rate", "differential"], min_n=min_n,
            decision=decision,
        )  # fmt: skip
    if baseline is not None:
        baseline_part = suppress(
            baseline, name="attrition_baseline", counts=["n_lost", "n_kept"],
            key=["subject", "arm", "covariate"], group=["subject", "arm", "covariate"],
            hide=["mean_lost", "mean_kept", "smd"], min_n=min_n, decision=decision,
        )  # fmt: skip
    if lee is not None:
        lee_part = suppress(
            lee, name="lee_bounds", counts=["n_treated", "n_comparison"], key=["subject"],
            group=["subject"], hide=["estimate", "lower", "upper", "ci_low", "ci_high"],
            min_n=min_n, decision=decision,
        )  # fmt: skip
    if rates is not None and lee_part is not None:
        lee_part = _without_rates(lee_part, set(rates.table.loc[rates.hidden, "subject"]))
    conf_text = _confounding_text(conf) if conf is not None else []
    attr_text = _attrition_text(rates, baseline_part, lee_part) if rates is not None else []
    return Robustness(
        conf, rates, baseline_part, lee_part, conf_text, attr_text,
        _limitations(conf, rates, lee_part),
    )  # fmt: skip


def _confounding(table: pd.DataFrame, min_n: int, decision: Decision | None = None) -> Suppressed:
    """Rows suppressed as their estimate's row is in the headline and breakouts (same counts,
    same groups), every benchmark row of a hidden estimate with it."""
    keys = ["subject", "scope", "group"]
    estimates = table.drop_duplicates(keys).reset_index(drop=True)
    shown = suppress(
        estimates, name="confounding", counts=["n_treated", "n_comparison"], key=keys,
        group=["subject", "scope"], hide=CONFOUNDING_HIDDEN, min_n=min_n, decision=decision,
    )  # fmt: skip
    hidden_keys = estimates.loc[shown.hidden.to_numpy(), keys]
    hidden = (
        table[keys].merge(hidden_keys.assign(_h=True), on=keys, how="left")["_h"].eq(True)
    ).set_axis(table.index)
    out = table.copy()
    for column in ["n_treated", "n_comparison", *CONFOUNDING_HIDDEN]:
        out[column] = out[column].astype("Float64" if column not in ("n_treated", "n_comparison")
                                          else "Int64")  # fmt: skip
        out.loc[hidden, column] = pd.NA
    if decision is not None:  # benchmark rows show their estimate's rounded counts too
        names = pd.Series([row_name(r, keys) for _, r in table.iterrows()], table.index, object)
        rounded = decision.mask("confounding", names, "rounded") & ~hidden
        for column in ["n_treated", "n_comparison"]:
            out[column] = out[column].astype(object)
            out.loc[rounded, column] = [v if pd.isna(v) else Rounded(v, decision.round_to)
                                        for v in table.loc[rounded, column]]  # fmt: skip
    return Suppressed(out, shown.log, hidden)


#: Lee columns that would give a suppressed attrition count away.
RETENTION_COLUMNS = ["trim_share", "treated_retention", "comparison_retention"]


def _without_rates(lee: Suppressed, subjects: set[str]) -> Suppressed:
    """Lee rows of subjects whose attrition counts are suppressed lose their retention rates
    and trimmed share (they would give the counts away), logged as the other hidden cells."""
    rows = lee.table["subject"].isin(subjects)
    if not rows.any():
        return lee
    table = lee.table.astype(dict.fromkeys(RETENTION_COLUMNS, "Float64"))
    table.loc[rows, RETENTION_COLUMNS] = pd.NA
    log = pd.DataFrame(
        [
            {"table": "lee_bounds", "row": subject, "column": column,
             "reason": "complementary: would give away a suppressed attrition count"}
            for subject in table.loc[rows, "subject"] for column in RETENTION_COLUMNS
        ]
    )  # fmt: skip
    return Suppressed(table, pd.concat([lee.log, log], ignore_index=True), lee.hidden)


def _pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}%"


def _sd(value: float) -> str:
    return f"{value:.2f}".replace("-", "\u2212")


def _confounding_text(conf: Suppressed) -> list[str]:
    """Per subject, the pooled estimate's robustness values and its 1× benchmark bounds."""
    table, lines = conf.table, []
    pooled = table[(table["scope"] == "pooled") & ~conf.hidden]
    for subject, rows in pooled.groupby("subject", sort=True):
        first = rows.iloc[0]
        name = subject.capitalize()
        if pd.isna(first["rv"]):
            lines.append(f"{name}: not computed ({first['note'] or 'no estimate'}).")
            continue
        line = (
            f"{name}: to bring the pooled estimate ({_sd(first['estimate'])} SD) to zero, an "
            f"omitted confounder would have to explain at least {_pct(first['rv'])} of the "
            "variance left unexplained in both PL status and the spring score"
        )
        if pd.isna(first["rv_alpha"]):
            line += "."
        elif first["rv_alpha"] == 0:
            line += (
                "; the estimate is not statistically significant at the 5% level as it stands, "
                "so no confounder is needed to make it so."
            )
        else:
            line += (
                f"; {_pct(first['rv_alpha'])} would make it no longer statistically "
                "significant at the 5% level."
            )
        lines.append(line)
        for row in rows[rows["multiplier"] == 1].itertuples():
            lines.append(_bound_sentence(name, row))
    return lines


def _bound_sentence(name: str, row) -> str:
    what = BENCHMARK_NAMES.get(row.benchmark, row.benchmark)
    if pd.isna(row.adjusted_estimate):
        return f"{name}: no bound for a confounder as strong as {what} ({row.note})."
    if row.r2yz_dx >= 1:  # the bound is capped: its link with the outcome set to the maximum
        return (
            f"{name}: a confounder as strong as {what} is after matching could move the "
            f"estimate as far as {_sd(row.adjusted_estimate)} SD (the bound gives it all of "
            "the spring-score variance left unexplained, so there is no interval)."
        )
    text = (
        f"{name}: a confounder as strong as {what} is after matching would move the estimate "
        f"to {_sd(row.adjusted_estimate)} SD"
    )
    if pd.isna(row.ci_low):
        return text + " (no interval: the estimate has none)."
    return text + f" (95% CI {_sd(row.ci_low)} to {_sd(row.ci_high)})."


def _attrition_text(rates: Suppressed, baseline: Suppressed | None, lee: Suppressed | None):
    """Per subject: lost shares, the WWC verdict, how the lost differed, the Lee bounds."""
    lines = []
    for i, row in rates.table.iterrows():
        name = row["subject"].capitalize()
        if row["wwc_attrition"] == "not computable":
            lines.append(f"{name}: not computable ({row['note']}).")
            continue
        lines.append(_rate_sentence(name, row, hidden=bool(rates.hidden[i])))
        if baseline is not None:
            lines += _baseline_sentences(name, row["subject"], baseline)
        if lee is not None:
            lines += _lee_sentences(name, row["subject"], lee)
    return lines


def _rate_sentence(name: str, row: pd.Series, *, hidden: bool) -> str:
    if hidden:
        return (
            f"{name}: counts suppressed (fewer than the minimum in a cell); "
            f"{row['wwc_attrition']} attrition against the WWC cautious boundary."
        )
    limit = row["max_differential"]
    allowed = (
        f"allows up to {100 * limit:.1f} points at this overall rate"
        if np.isfinite(limit) else "counts any differential as high at this overall rate"
    )  # fmt: skip
    return (
        f"{name}: {_pct(row['treated_rate'])} of PL students tested in the fall had no "
        f"spring test at the same school, against {_pct(row['comparison_rate'])} of "
        f"students in comparison schools (overall {_pct(row['overall_rate'])}, differential "
        f"{100 * row['differential']:.1f} points): {row['wwc_attrition']} attrition against "
        f"the WWC cautious boundary, which {allowed}."
    )


def _baseline_sentences(name: str, subject: str, baseline: Suppressed) -> list[str]:
    rows = baseline.table[(baseline.table["subject"] == subject) & ~baseline.hidden]
    rows = rows[rows["covariate"] == "fall_z"].dropna(subset=["smd"])
    return [
        f"{name}: lost {'PL' if r.arm == 'treated' else 'comparison'} students started "
        + (
            f"{abs(r.smd):.2f} SD {'higher' if r.smd > 0 else 'lower'} in fall score than"
            if round(abs(r.smd), 2) > 0
            else "at the same fall score (to 0.01 SD) as"
        )
        + f" those kept ({r.n_lost:,} lost, {r.n_kept:,} kept)."
        for r in rows.itertuples()
    ]


def _lee_sentences(name: str, subject: str, lee: Suppressed) -> list[str]:
    rows = lee.table[(lee.table["subject"] == subject) & ~lee.hidden]
    out = []
    for r in rows.itertuples():
        if pd.isna(r.lower):
            out.append(f"{name}: no Lee bounds ({r.note or 'not computable'}).")
        elif not r.trimmed_arm or pd.isna(r.trimmed_arm):
            out.append(f"{name}: both groups kept the same share; Lee bounds equal the estimate.")
        else:
            arm = "PL" if r.trimmed_arm == "treated" else "comparison"
            share = "" if pd.isna(r.trim_share) else f" {_pct(r.trim_share)} of"
            interval = (
                f"95% CI of the bounds {_sd(r.ci_low)} to {_sd(r.ci_high)}, school bootstrap"
                if pd.notna(r.ci_low)
                else (r.note if isinstance(r.note, str) and r.note else "no interval")
            )
            out.append(
                f"{name}: had the extra{share} students the {arm} group kept "
                "been its lowest or its highest scorers (after adjustment), the pooled effect "
                f"would lie between {_sd(r.lower)} and {_sd(r.upper)} SD (Lee bounds; "
                f"{interval})."
            )
    return out


def _limitations(
    conf: Suppressed | None, rates: Suppressed | None, lee: Suppressed | None
) -> list[str]:
    """One limitation line each for unobserved confounding and attrition."""
    lines = []
    if conf is not None:
        pooled = conf.table[(conf.table["scope"] == "pooled") & ~conf.hidden]
        values = [
            f"{s} {_pct(r)}" for s, r in pooled.drop_duplicates("subject")[["subject", "rv"]]
            .itertuples(index=False) if pd.notna(r)
        ]  # fmt: skip
        lines.append(
            "Unobserved confounding: the robustness values ("
            + ("; ".join(values) or "not computed")
            + ") say how strong an omitted confounder would have to be to explain the pooled "
            "estimates away; they do not show that no such confounder exists, and benchmarks "
            "taken after matching understate what an unmatched confounder could do."
        )
    if rates is not None:
        shown = rates.table[~rates.hidden]
        parts = [
            f"{r.subject} {_pct(r.treated_rate)} of PL and {_pct(r.comparison_rate)} of "
            "comparison students"
            for r in shown.itertuples() if pd.notna(r.treated_rate) and pd.notna(r.comparison_rate)
        ]  # fmt: skip
        bounds = []
        if lee is not None:
            bounds = [
                f"{r.subject} {_sd(r.lower)} to {_sd(r.upper)} SD"
                for r in lee.table[~lee.hidden].itertuples() if pd.notna(r.lower)
            ]  # fmt: skip
        lines.append(
            "Attrition: students without a spring test at the same school are not in the "
            "estimates ("
            + ("; ".join(parts) or "rates suppressed or not computable")
            + "). "
            + (f"Lee bounds: {'; '.join(bounds)}. " if bounds else "")
            + "If those lost differ in ways the fall score does not capture, the estimates "
            "could be biased."
        )
    return lines
