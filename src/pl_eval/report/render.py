"""Assemble the funder reports: suppressed tables, findings, figures and the HTML page.

:func:`build_report` (one cohort) and :func:`build_combined_report` (cohorts side by side)
are pure (DataFrames in, a :class:`Report` out); the stages read the inputs and write the
page, figures, tables and suppression log. Pages are rendered by a Jinja2 environment with
autoescaping on, so school, analysis and cohort names and every other interpolated text are
escaped; figures are embedded as base64 PNG with their alt text. Both pages extend one base
template and share its macros and stylesheet.
"""

from __future__ import annotations

import base64
import io as bytes_io
import math
from dataclasses import dataclass, field

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from pl_eval.estimation.cohort import significant_schools
from pl_eval.norms import percentile_points
from pl_eval.report import compare, figures
from pl_eval.report.findings import Finding, findings
from pl_eval.report.suppression import LOG_COLUMNS, Suppressed, suppress

BREAKOUT_SCOPES = ("sector", "years", "grade_band", "baseline_quintile")
ARMS = ("treated", "comparison")


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report reads, already loaded; ``provenance`` is shown as given."""

    estimates: pd.DataFrame
    tests: pd.DataFrame
    trajectory: pd.DataFrame
    exclusions: pd.DataFrame
    balance: dict[str, pd.DataFrame]
    match_summaries: dict[str, dict]
    schools: pd.DataFrame
    config: dict
    provenance: dict = field(default_factory=dict)
    propensity: dict[str, pd.DataFrame] = field(default_factory=dict)  # per subject; VCG: empty
    # analysis name -> its estimates, in display order ("main" among them); empty: no
    # sensitivity section. Each one's overrides are read from config["analyses"].
    analyses: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class CombinedInputs:
    """The combined report's inputs: each cohort's main estimates, in display order."""

    estimates: dict[str, pd.DataFrame]
    school_years: dict[str, str]  # cohort -> "YYYY-YYYY"; a cohort left out shows a dash
    links: dict[str, str]  # cohort -> relative href of its own report
    config: dict
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """The rendered page with the figures, tables and suppression log written beside it."""

    html: str
    figures: dict[str, Figure]
    tables: dict[str, pd.DataFrame]
    suppression_log: pd.DataFrame
    findings: list[Finding]

    def summary(self) -> str:
        return (
            f"Report: {len(self.findings)} findings, {len(self.figures)} figures, "
            f"{len(self.tables)} tables, {len(self.suppression_log)} cells suppressed"
        )


def build_report(inputs: ReportInputs, *, min_n: int = 10, title: str = "") -> Report:
    """The report of one cohort, with cells under ``min_n`` students per arm suppressed."""
    est = inputs.estimates
    subjects = sorted(set(est["subject"]))
    pooled = est[est["scope"] == "pooled"].reset_index(drop=True)
    pooled_row = {s: pooled[pooled["subject"] == s].iloc[0] for s in subjects}
    schools = _school_table(est, inputs.schools, min_n)
    flow = _flow_tables(inputs.exclusions, inputs.match_summaries, min_n)
    shown = schools.table[~schools.hidden]
    counts = {
        s: {
            **significant_schools(shown[shown["subject"] == s]),
            "n": int((shown["subject"] == s).sum()),
        }
        for s in subjects
    }
    breakouts = suppress(
        est[est["scope"].isin(BREAKOUT_SCOPES)].reset_index(drop=True),
        name="breakouts",
        counts=["n_treated", "n_comparison"],
        key=["subject", "scope", "group"],
        group=["subject", "scope"],
        hide=["estimate", "se", "ci_low", "ci_high", "p_value", "percentile_points", "hedges_g",
              "improvement_index", "n_schools"],
        min_n=min_n,
    )  # fmt: skip
    shown_breakouts = breakouts.table[~breakouts.hidden]
    found = findings(est, inputs.tests, counts)

    figs: dict[str, Figure] = {}
    for s in subjects:
        rows = shown[shown["subject"] == s]
        n_hidden = int((schools.hidden & (schools.table["subject"] == s)).sum())
        figs[f"forest_{s}"] = figures.forest_plot(rows, pooled_row[s], n_hidden)
        figs[f"breakouts_{s}"] = figures.breakout_plot(
            shown_breakouts[shown_breakouts["subject"] == s], pooled_row[s]
        )
    figs["trajectory"] = figures.trajectory_plot(inputs.trajectory)
    for s, table in sorted(inputs.balance.items()):
        figs[f"love_{s}"] = figures.love_plot(table)
    for s, scores in sorted(inputs.propensity.items()):
        if len(scores):
            outside = inputs.match_summaries.get(s, {}).get("outside_support", 0)
            figs[f"overlap_{s}"] = figures.overlap_plot(scores, outside)

    sensitivity = None
    if inputs.analyses:
        sensitivity = compare.sensitivity(
            inputs.analyses, inputs.config.get("analyses") or {}, min_n=min_n
        )
        figs["sensitivity"] = figures.comparison_plot(
            sensitivity.shown(), "analysis", "specification", highlight=compare.MAIN
        )

    headline = _headline(pooled)
    balance = _balance_table(inputs.balance)
    tables = {
        "headline": headline,
        "breakouts": breakouts.table.drop(columns=["district", "p_value_bh", "shrunken_estimate"]),
        "breakout_tests": inputs.tests,
        "schools": schools.table.rename(columns={"group": "school"}),
        "sample_flow": flow["flow"].table,
        "exclusions": flow["exclusions"].table,
        "balance": balance,
    }
    logs = [schools.log, breakouts.log, flow["flow"].log, flow["exclusions"].log]
    if sensitivity is not None:
        tables["sensitivity"] = sensitivity.to_frame()
        logs.append(sensitivity.log)
    log = pd.concat(logs, ignore_index=True)
    context = {
        "title": title,
        "subjects": subjects,
        "findings": found,
        "headline": headline,
        "breakouts": breakouts.table.assign(hidden=breakouts.hidden),
        "tests": inputs.tests,
        "schools": schools.table,
        "school_hidden": schools.hidden,
        "school_counts": counts,
        "trajectory": inputs.trajectory,
        "flow": flow["flow"].table,
        "exclusions": flow["exclusions"].table,
        "match_rates": _match_rates(inputs.match_summaries),
        "balance": balance,
        "sensitivity": _for_page(sensitivity),
        "figures": {name: (_png_data_uri(fig), fig.get_label()) for name, fig in figs.items()},
        "config": _flatten(inputs.config),
        "provenance": inputs.provenance,
        "min_n": min_n,
        "n_suppressed": len(log),
    }
    html = environment().get_template("report.html.j2").render(**context)
    return Report(html, figs, tables, log[LOG_COLUMNS], found)


def build_combined_report(inputs: CombinedInputs, *, min_n: int = 10, title: str = "") -> Report:
    """Cohorts side by side: pooled and sector estimates, a dot plot and range findings."""
    cohorts = compare.across_cohorts(inputs.estimates, inputs.school_years, min_n=min_n)
    figs = {"cohorts": figures.comparison_plot(cohorts.shown(), "cohort", "cohort")}
    context = {
        "title": title,
        "findings": cohorts.findings,
        "cohorts": _for_page(cohorts),
        "links": inputs.links,
        "figures": {name: (_png_data_uri(fig), fig.get_label()) for name, fig in figs.items()},
        "config": _flatten(inputs.config),
        "provenance": inputs.provenance,
        "min_n": min_n,
        "n_suppressed": len(cohorts.log),
    }
    html = environment().get_template("combined.html.j2").render(**context)
    tables = {"cohorts": cohorts.to_frame()}
    return Report(html, figs, tables, cohorts.log[LOG_COLUMNS], cohorts.findings)


def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescaping always on."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pl_eval.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["count"] = count
    return env


def number(value, digits: int = 2) -> str:
    """A rounded number with a true minus sign; missing values (suppressed) as a dash."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{float(value):.{digits}f}"
    return text.replace("-", "\u2212")


def count(value) -> str:
    """A whole number with thousands separators; missing (suppressed) as "suppressed"."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "suppressed"
    return f"{int(value):,}"


def _for_page(comparison: compare.Comparison | None) -> dict | None:
    """A comparison as the page's macros read it: per subject, its rows with a hidden flag.

    ``span`` is the number of rows an analysis (or cohort) has in a subject's table on its
    first row and 0 on the others, so its name and description are written once (rowspan).
    """
    if comparison is None:
        return None
    keys = [comparison.label, "subject"]
    size = comparison.table.groupby(keys, sort=False)["group"].transform("size")
    rows = comparison.table.assign(
        hidden=comparison.hidden, span=size.where(~comparison.table.duplicated(keys), 0)
    )
    return {
        "label": comparison.label,
        "findings": comparison.findings,
        "subjects": {s: rows[rows["subject"] == s] for s in sorted(set(rows["subject"]))},
    }


def _headline(pooled: pd.DataFrame) -> pd.DataFrame:
    """Per subject: effect in SD and percentile points with 95% CIs, n students and schools."""
    return pooled.assign(
        percentile_ci_low=percentile_points(pooled["ci_low"]),
        percentile_ci_high=percentile_points(pooled["ci_high"]),
    )[
        [
            "subject",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "p_value",
            "percentile_points",
            "percentile_ci_low",
            "percentile_ci_high",
            "hedges_g",
            "improvement_index",
            "n_treated",
            "n_comparison",
            "n_schools",
        ]
    ]


def _school_table(estimates: pd.DataFrame, frame: pd.DataFrame, min_n: int) -> Suppressed:
    """School estimates with sector; schools under ``min_n`` students per arm suppressed."""
    sector = frame.rename(columns={"district_name": "district", "school_name": "group"})[
        ["district", "group", "sector"]
    ]
    rows = (
        estimates[estimates["scope"] == "school"]
        .merge(sector, on=["district", "group"], how="left", validate="many_to_one")
        .rename(columns={"group": "school"})[
            [
                "subject",
                "school",
                "district",
                "sector",
                "n_treated",
                "n_comparison",
                "estimate",
                "ci_low",
                "ci_high",
                "p_value",
                "p_value_bh",
                "shrunken_estimate",
            ]
        ]
        .sort_values(["subject", "school", "district"])
        .reset_index(drop=True)
    )
    out = suppress(
        rows,
        name="schools",
        counts=["n_treated", "n_comparison"],
        key=["subject", "school", "district"],
        group=["subject"],
        hide=["estimate", "ci_low", "ci_high", "p_value", "p_value_bh", "shrunken_estimate"],
        min_n=min_n,
    )
    # forest plot and counts use the shown rows under their plotting name
    return Suppressed(out.table.rename(columns={"school": "group"}), out.log, out.hidden)


def _flow_tables(
    exclusions: pd.DataFrame, summaries: dict[str, dict], min_n: int
) -> dict[str, Suppressed]:
    """Sample flow per subject and arm (files → valid → paired → matched) and exclusions."""
    ex = (
        exclusions[exclusions["arm"].isin(ARMS)]
        .sort_values(["subject", "arm"], key=_arm_order, kind="stable")
        .reset_index(drop=True)
    )
    by = ex.groupby(["subject", "arm"], sort=False)["n_students"]
    totals = by.sum()
    invalid = ex[ex["reason"] == "no_valid_test"].set_index(["subject", "arm"])["n_students"]
    paired = ex[ex["reason"] == "paired"].set_index(["subject", "arm"])["n_students"]
    matched = pd.Series(
        {
            (s, arm): int(summary["sample_sizes"][arm]["matched"])
            for s, summary in summaries.items()
            for arm in ARMS
        }
    )
    wide = pd.DataFrame(
        {
            "in_files": totals,
            "valid": totals - invalid.reindex(totals.index, fill_value=0),
            "paired": paired.reindex(totals.index, fill_value=0),
            "matched": matched.reindex(totals.index),
        }
    )
    stages = ["in_files", "valid", "paired", "matched"]
    flow = (
        wide.rename_axis(["subject", "arm"])
        .reset_index()
        .melt(
            id_vars=["subject", "arm"], value_vars=stages, var_name="stage", value_name="n_students"
        )
        .sort_values(["subject", "arm"], key=_arm_order, kind="stable")
        .reset_index(drop=True)
    )
    in_files = flow.groupby(["subject", "arm"])["n_students"].transform("first")
    flow = flow.assign(percent_of_files=100 * flow["n_students"] / in_files)
    common = {"counts": ["n_students"], "group": ["subject", "arm"], "min_n": min_n}
    return {
        "flow": suppress(
            flow,
            name="sample_flow",
            key=["subject", "arm", "stage"],
            hide=["percent_of_files"],
            **common,
        ),
        "exclusions": suppress(ex, name="exclusions", key=["subject", "arm", "reason"], **common),
    }


def _arm_order(column: pd.Series) -> pd.Series:
    """Sort key putting PL (treated) students before comparison students."""
    return column.map({"treated": 0, "comparison": 1}) if column.name == "arm" else column


def _match_rates(summaries: dict[str, dict]) -> pd.DataFrame:
    """Per subject: share of paired PL students matched and the comparison pool's use."""
    return pd.DataFrame(
        [
            {
                "subject": s,
                "match_rate": summary["match_rate"],
                "method": summary["method"],
                "comparison_ess": summary["sample_sizes"]["comparison"]["matched_ess"],
            }
            for s, summary in sorted(summaries.items())
        ]
    )


def _balance_table(balance: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per subject and covariate: SMD before and after matching and the WWC verdict after."""
    frames = []
    for subject, table in sorted(balance.items()):
        wide = table.pivot(index="covariate", columns="sample")
        wide = wide.reindex(pd.unique(table["covariate"]))
        frames.append(
            pd.DataFrame(
                {
                    "subject": subject,
                    "covariate": wide.index,
                    "smd_all": wide[("smd", "all")].to_numpy(),
                    "smd_matched": wide[("smd", "matched")].to_numpy(),
                    "var_ratio_matched": wide[("var_ratio", "matched")].to_numpy(),
                    "wwc_verdict": wide[("wwc_verdict", "matched")].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _flatten(config: dict) -> list[tuple[str, str]]:
    """A nested configuration as (dotted key, value) rows, for a readable table."""
    return [
        (key, "null" if value is None else str(value))
        for key, value in compare.dotted_settings(config)
    ]


def _png_data_uri(fig: Figure) -> str:
    """The figure as a reproducible base64 PNG data URI (no software/date metadata)."""
    buffer = bytes_io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
