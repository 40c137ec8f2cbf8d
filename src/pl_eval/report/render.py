"""Assemble the funder reports: suppressed tables, findings, figures and the HTML page.

:func:`build_report` (one cohort) and :func:`build_combined_report` (cohorts side by side)
are pure (DataFrames in, a :class:`Report` out); the stages read the inputs and write the
page, figures, tables and suppression log. Pages are rendered by a Jinja2 environment with
autoescaping on, so school, analysis and cohort names and every other interpolated text are
escaped; figures are embedded as base64 PNG with their alt text. Both pages extend one base
template and share its macros and stylesheet.

Rows without numbers (an estimate that could not be made, a test that could not be run, a
balance statistic that cannot be computed) keep their place and show their note; rows resting
on few PL schools say so next to their numbers and in the limitations.
"""

from __future__ import annotations

import base64
import functools
import io as bytes_io
import math
from dataclasses import dataclass, field

import jinja2
import markupsafe
import pandas as pd
from matplotlib.figure import Figure

from pl_eval.estimation.cohort import POOLED_SCHOOLS, significant_schools
from pl_eval.matching.result import describe_reasons
from pl_eval.report import brief, compare, disclosure, figures, growth, school_pages
from pl_eval.report import years as several_years
from pl_eval.report.findings import FEW_SCHOOLS_CAVEAT, Finding, few_schools, findings
from pl_eval.report.methods import method_text
from pl_eval.report.robustness import robustness
from pl_eval.report.suppression import LOG_COLUMNS, Suppressed, suppress
from pl_eval.wording import counted

BREAKOUT_SCOPES = ("sector", "years", "grade_band", "baseline_quintile")
ARMS = ("treated", "comparison")
#: Estimates' notes as written before estimation said "PL students", and as the report says them.
OLD_NOTES = {"no treated students": "no PL students"}
#: Columns of the estimates, tests and balance tables that hold numbers (or nothing).
NUMBER_COLUMNS = (
    "estimate", "se", "ci_low", "ci_high", "p_value", "df", "p_value_bh", "percentile_points",
    "hedges_g", "improvement_index", "shrunken_estimate", "statistic", "smd", "abs_smd",
    "var_ratio", "mean_percentile", "comparison_percentile", "percentile_ci_low",
    "percentile_ci_high", "percentile_points_median", "mde", "mde_percentile_points",
)  # fmt: skip
#: An estimate row's numbers in percentile points and its minimum detectable effect: hidden
#: with its counts wherever its estimate is.
SCALES = [
    "comparison_percentile", "percentile_ci_low", "percentile_ci_high",
    "percentile_points_median", "mde", "mde_percentile_points",
]  # fmt: skip
#: Numbers hidden with a pooled row's counts in the headline.
HEADLINE_HIDDEN = [
    "estimate", "se", "ci_low", "ci_high", "p_value", "percentile_points", "percentile_ci_low",
    "percentile_ci_high", "hedges_g", "improvement_index", "n_schools",
    "percentile_points_median", "mde", "mde_percentile_points", "comparison_percentile",
]  # fmt: skip


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
    # The robustness stage's tables of the main analysis (None: that section is left out):
    # confounding.csv, attrition.csv, attrition_baseline.csv, lee_bounds.csv.
    confounding: pd.DataFrame | None = None
    attrition: pd.DataFrame | None = None
    attrition_baseline: pd.DataFrame | None = None
    lee_bounds: pd.DataFrame | None = None
    # "2014-2015": the school year the brief names (None: "one school year")
    school_year: str | None = None
    # each PL school's trajectory against its comparison group (the school pages'; None: the
    # pages show none and publish no counts of it)
    school_trajectory: pd.DataFrame | None = None
    # growth against NWEA's norms by arm (the growth_norms stage's table; None: no section)
    growth_norms: pd.DataFrame | None = None
    # a multi-year cohort's other analyses ("<cohort>@<F>-<S>", "<cohort>@placebo-<F>-<F+1>")
    # -> their main estimates: the section on several school years (empty: none)
    years: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class CombinedInputs:
    """The combined report's inputs: each cohort's main estimates, in display order."""

    estimates: dict[str, pd.DataFrame]
    school_years: dict[str, str]  # cohort -> "YYYY-YYYY"; a cohort left out shows a dash
    links: dict[str, str]  # cohort -> relative href of its own report
    config: dict
    provenance: dict = field(default_factory=dict)
    # cohort -> its school frame (sector and PL start of each school): the cohort report's
    # suppression of its pooled and sector rows is decided again from it, so both agree
    schools: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """The rendered page with the figures, tables and suppression log written beside it."""

    html: str
    figures: dict[str, Figure]
    tables: dict[str, pd.DataFrame]
    suppression_log: pd.DataFrame
    findings: list[Finding]
    # drawn by draw_school_page: the costly part, which the report stage spreads over processes
    school_pages: list[school_pages.PagePlan] = field(default_factory=list)

    def summary(self) -> str:
        pages = f", {len(self.school_pages)} school pages" if self.school_pages else ""
        return (
            f"Report: {len(self.findings)} findings, {len(self.figures)} figures, "
            f"{len(self.tables)} tables, {len(self.suppression_log)} cells suppressed{pages}"
        )


def build_report(
    inputs: ReportInputs,
    *,
    min_n: int = 10,
    title: str = "",
    round_to: int = 1,
    pages: school_pages.SchoolLinks | None = None,
    name_others: bool = False,
) -> Report:
    """The report of one cohort, with cells under ``min_n`` students per arm suppressed and
    complementary suppression (or counts rounded to ``round_to``) solved over every count the
    report, its tables and its school pages publish (:func:`published_cells`). With ``pages``,
    one page per PL school (:mod:`pl_eval.report.school_pages`; other schools named on them
    only with ``name_others``), which the report's school table links to and which link back."""
    est = _unmatched_notes(with_notes(inputs.estimates), inputs.match_summaries)
    tests = with_notes(inputs.tests)
    subjects = sorted(set(est["subject"]))
    decision = disclose(inputs, min_n=min_n, round_to=round_to)
    headline = _headline(
        est[est["scope"] == "pooled"].reset_index(drop=True), min_n, decision=decision
    )
    pooled_row = {s: headline.table[headline.table["subject"] == s].iloc[0] for s in subjects}
    school_weighted = _headline(
        est[est["scope"] == POOLED_SCHOOLS].reset_index(drop=True),
        min_n,
        name="headline_school_weighted",
        decision=decision,
    )
    schools = _school_table(est, inputs.schools, min_n, decision)
    flow = _flow_tables(inputs.exclusions, inputs.match_summaries, min_n, decision)
    shown = schools.table[~schools.hidden]
    counts = {
        s: {
            **significant_schools(shown[shown["subject"] == s]),
            "n": int(((shown["subject"] == s) & shown["estimate"].notna()).sum()),
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
              "improvement_index", "n_schools", *SCALES],
        min_n=min_n, decision=decision,
    )  # fmt: skip
    shown_breakouts = breakouts.table[~breakouts.hidden]
    trajectory = suppress(
        with_notes(inputs.trajectory).drop(columns="note"),
        name="trajectory",
        counts=["n_students"],
        key=["subject", "arm", "season"],
        group=["subject", "arm"],
        hide=["mean_percentile", "ci_low", "ci_high"],
        min_n=min_n,
        decision=decision,
    )
    found = findings(headline.table.assign(scope="pooled"), tests, counts, min_n)

    figs: dict[str, Figure] = {}
    forest: dict[str, list[str]] = {}  # each subject's forest plot figures: one, or its parts
    for s in subjects:
        rows = shown[shown["subject"] == s]
        n_hidden = int((schools.hidden & (schools.table["subject"] == s)).sum())
        parts = figures.forest_plots(rows, pooled_row[s], n_hidden)
        forest[s] = [
            f"forest_{s}" + (f"_{k}" if len(parts) > 1 else "") for k in range(1, len(parts) + 1)
        ]
        figs |= dict(zip(forest[s], parts, strict=True))
        figs[f"breakouts_{s}"] = figures.breakout_plot(
            shown_breakouts[shown_breakouts["subject"] == s], pooled_row[s]
        )
    figs["trajectory"] = figures.trajectory_plot(trajectory.table)
    for s, table in sorted(inputs.balance.items()):
        figs[f"love_{s}"] = figures.love_plot(table)
    for s, scores in sorted(inputs.propensity.items()):
        if len(scores):
            outside = inputs.match_summaries.get(s, {}).get("outside_support", 0)
            figs[f"overlap_{s}"] = figures.overlap_plot(scores, outside)

    sensitivity = None
    if inputs.analyses:
        sensitivity = compare.sensitivity(
            {name: with_notes(table) for name, table in inputs.analyses.items()},
            inputs.config.get("analyses") or {},
            min_n=min_n,
            decision=decision,
        )
        figs["sensitivity"] = figures.comparison_plot(
            sensitivity.shown(), "analysis", "specification", highlight=compare.MAIN
        )

    window = growth.window_text(inputs.config, inputs.school_year)
    norms_growth = growth.section(inputs.growth_norms, window, min_n=min_n, decision=decision)
    checks = robustness(
        inputs.confounding,
        inputs.attrition,
        inputs.attrition_baseline,
        inputs.lee_bounds,
        min_n=min_n,
        decision=decision,
    )
    years = None
    if inputs.years:
        years = several_years.years_section(
            _year_rows(inputs),
            several_years.exposure_rows(est),
            tests,
            min_n=min_n,
            decision=decision,
        )
        figs["years"] = figures.comparison_plot(
            years.effects.table[~years.effects.hidden].assign(scope="pooled", group="all"),
            "school_years",
            "period",  # a school year or a span of several
        )
    balance = _balance_table(inputs.balance)
    plans, pages_path = [], None
    if pages is not None:
        pages_path = _school_trajectory(inputs.school_trajectory, min_n, decision)
        plans = school_pages.plan_school_pages(
            est, inputs.schools, schools, pages_path,
            headline.table.set_index("subject")["estimate"],
            subjects=subjects, min_n=min_n, name_others=name_others, links=pages,
            school_year=inputs.school_year,
        )  # fmt: skip
    front = brief.build_brief(
        headline.table,
        breakouts.table,
        tests,
        counts,
        inputs.config,
        school_year=inputs.school_year,
        checks=checks,
        min_n=min_n,
        years_studied=1 + sum(1 for n in inputs.years if several_years.is_one_year(n)),
    )
    figs["brief"] = brief.answer_plot(front.answer)
    tables = {
        "headline": headline.table,
        "headline_school_weighted": school_weighted.table,
        "breakouts": breakouts.table.drop(columns=["district", "p_value_bh", "shrunken_estimate"]),
        "breakout_tests": tests,
        "schools": schools.table.rename(columns={"group": "school"}),
        "sample_flow": flow["flow"].table,
        "exclusions": flow["exclusions"].table,
        "balance": balance,
        "brief": front.answer,
    }
    logs = [headline.log, schools.log, breakouts.log, trajectory.log, school_weighted.log]
    logs += [flow["flow"].log, flow["exclusions"].log]
    if sensitivity is not None:
        tables["sensitivity"] = sensitivity.to_frame()
        logs.append(sensitivity.log)
    tables |= checks.tables()
    logs += checks.log()
    if norms_growth is not None:
        tables |= norms_growth.tables()
        logs += norms_growth.log()
    if years is not None:
        tables |= years.tables()
        logs += years.log()
    log = pd.concat(logs, ignore_index=True)
    context = {
        "title": title,
        "subjects": subjects,
        "brief": front,
        "school_year": inputs.school_year,
        "findings": found,
        "headline": headline.table.assign(hidden=headline.hidden),
        "school_weighted": school_weighted.table.assign(hidden=school_weighted.hidden),
        "few_schools": few_schools_rows(est),
        "few_schools_caveat": FEW_SCHOOLS_CAVEAT,
        "breakouts": breakouts.table.assign(hidden=breakouts.hidden),
        "tests": tests,
        "schools": schools.table,
        "school_hidden": schools.hidden,
        "school_links": {(p.school, p.district): pages.page(p.slug) for p in plans},
        "school_counts": counts,
        "trajectory": trajectory.table.assign(hidden=trajectory.hidden),
        "flow": flow["flow"].table,
        "exclusions": flow["exclusions"].table,
        "match_rates": _match_rates(inputs.match_summaries),
        "balance": balance,
        "sensitivity": _for_page(sensitivity),
        "robustness": checks,
        "window": window,
        "growth": norms_growth,
        "years": years,
        "figures": {name: (_png_data_uri(fig), fig.get_label()) for name, fig in figs.items()},
        "forest": forest,
        "config": _flatten(inputs.config),
        "method": method_text(inputs.config),
        "provenance": inputs.provenance,
        "min_n": min_n,
        "n_suppressed": len(log),
    }
    html = environment().get_template("report.html.j2").render(**context)
    if pages_path is not None:  # the pages' suppressed cells: logged after the report's count
        log = pd.concat([log, pages_path.log], ignore_index=True)
    return Report(html, figs, tables, log[LOG_COLUMNS], found, plans)


def draw_school_page(plan: school_pages.PagePlan) -> school_pages.SchoolPage:
    """A school page of the report, drawn: its figures embedded as PNG, its HTML rendered."""
    page = environment().get_template("school.html.j2")
    return school_pages.draw_page(
        plan, render=lambda context: page.render(**context), png=_png_data_uri
    )


def _school_trajectory(
    table: pd.DataFrame | None, min_n: int, decision: disclosure.Decision | None
) -> Suppressed:
    """The school pages' trajectories with the report's decision applied (empty without)."""
    columns = ["subject", "school", "district", "arm", "season", "mean_percentile", "ci_low",
               "ci_high", "n_students", "note"]  # fmt: skip
    table = pd.DataFrame(columns=columns) if table is None else with_notes(table)
    return suppress(
        table[columns].reset_index(drop=True),
        name="school_pages",
        counts=["n_students"],
        key=["subject", "school", "district", "arm", "season"],
        group=["subject", "school", "district", "arm"],
        hide=["mean_percentile", "ci_low", "ci_high"],
        min_n=min_n,
        decision=decision,
    )


def published_cells(inputs: ReportInputs, *, estimates_only: bool = False):
    """Every student count the report publishes, as one set of cells with the relations
    between them (:class:`pl_eval.report.disclosure.PublishedCells`): headline, breakouts,
    schools and, unless ``estimates_only``, the sample flow, exclusions, trajectory, school
    pages, sensitivity, robustness and growth-against-norms tables."""
    cells = disclosure.PublishedCells()
    disclosure.add_estimates(cells, with_notes(inputs.estimates), inputs.schools)
    if estimates_only:
        return cells
    flow, ex = _flow_frames(inputs.exclusions, inputs.match_summaries)
    disclosure.add_flow(cells, flow, ex)
    disclosure.add_trajectory(cells, inputs.trajectory)
    if inputs.school_trajectory is not None:
        disclosure.add_school_pages(cells, inputs.school_trajectory, inputs.trajectory)
    if inputs.analyses:
        disclosure.add_sensitivity(
            cells, compare.stacked(inputs.analyses, "analysis"), "sensitivity", "analysis"
        )
    confounding = inputs.confounding
    if confounding is not None:
        confounding = confounding.drop_duplicates(["subject", "scope", "group"])
    disclosure.add_robustness(
        cells, confounding, inputs.attrition, inputs.attrition_baseline, inputs.lee_bounds
    )
    if inputs.growth_norms is not None:
        growth.add_cells(cells, inputs.growth_norms)
    if inputs.years:
        several_years.add_cells(
            cells, _year_rows(inputs), several_years.exposure_rows(inputs.estimates)
        )
    return cells


def _year_rows(inputs: ReportInputs) -> pd.DataFrame:
    """The pooled rows of a multi-year cohort's analyses, the main one's among them."""
    return several_years.year_rows(
        with_notes(inputs.estimates),
        {name: with_notes(table) for name, table in inputs.years.items()},
        inputs.school_year,
    )


def disclose(inputs: ReportInputs, *, min_n: int, round_to: int = 1) -> disclosure.Decision:
    """Which rows the report hides or rounds. Solved first over the estimates' cells alone
    (what the combined report shows of this cohort decides the same way from the estimates),
    then over every cell with that decision kept."""
    first = disclosure.solve(
        published_cells(inputs, estimates_only=True), min_n=min_n, round_to=round_to
    )
    return disclosure.solve(published_cells(inputs), min_n=min_n, round_to=round_to, frozen=first)


def with_notes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a text ``note`` on every row ("" when none), in the report's words, and
    its number columns as floats (an estimate table joined from empty parts can hold None)."""
    note = table["note"] if "note" in table else pd.Series("", index=table.index)
    note = note.astype("object").where(note.notna(), "").astype(str)
    numbers = {
        name: pd.to_numeric(table[name], errors="coerce").astype("float64")
        for name in NUMBER_COLUMNS
        if name in table and table[name].dtype == object
    }
    return table.assign(note=note.replace(OLD_NOTES), **numbers)


def _unmatched_notes(estimates: pd.DataFrame, summaries: dict[str, dict]) -> pd.DataFrame:
    """Estimates whose subject had PL students but matched none say "no PL students matched"
    rather than "no PL students" (the match summary, shown in the report, says why)."""
    unmatched = [
        subject
        for subject, summary in summaries.items()
        if (arm := summary.get("sample_sizes", {}).get("treated", {})).get("all", 0) > 0
        and arm.get("matched", 0) == 0
    ]
    which = estimates["subject"].isin(unmatched) & (estimates["note"] == "no PL students")
    return estimates.assign(note=estimates["note"].mask(which, "no PL students matched"))


def few_schools_rows(estimates: pd.DataFrame) -> list[str]:
    """Which estimates rest on few PL schools, per subject: "math pooled (2 PL schools) and 4
    breakout groups" (school rows are not clustered, so never listed)."""
    # the school-weighted pooled row rests on the same PL schools as the pooled one
    listed = ~estimates["scope"].isin(["school", POOLED_SCHOOLS])
    rows = estimates[few_schools(estimates["note"]) & listed]
    out = []
    for subject, part in rows.groupby("subject", sort=True):
        pooled = part[part["scope"] == "pooled"]
        phrases = [
            f"{subject} pooled ({_schools_phrase(r.n_schools)})" for r in pooled.itertuples()
        ]
        n_groups = len(part) - len(pooled)
        if n_groups:
            groups = f"{n_groups} {subject} breakout group{'s' if n_groups != 1 else ''}"
            phrases.append(groups)
        out.append(" and ".join(phrases))
    return out


def _schools_phrase(n: object) -> str:
    """ "2 PL schools", "1 PL school"."""
    if pd.isna(n):
        return "few PL schools"
    return f"{int(n)} PL school{'s' if int(n) != 1 else ''}"


def build_combined_report(
    inputs: CombinedInputs, *, min_n: int = 10, title: str = "", round_to: int = 1
) -> Report:
    """Cohorts side by side: pooled and sector estimates, a dot plot and range findings.

    Each cohort's rows are hidden or rounded as its own report hides or rounds them (the same
    decision, :func:`disclose`'s first step, made again from its estimates and school frame)."""
    estimates = {name: with_notes(table) for name, table in inputs.estimates.items()}
    cohorts = compare.across_cohorts(
        estimates,
        inputs.school_years,
        min_n=min_n,
        decision=_cohort_decisions(estimates, inputs.schools, min_n, round_to),
    )
    figs = {"cohorts": figures.comparison_plot(cohorts.shown(), "cohort", "cohort")}
    context = {
        "title": title,
        "findings": cohorts.findings,
        "cohorts": _for_page(cohorts),
        "few_schools": [
            f"{cohort}: {row}"
            for cohort, table in estimates.items()
            for row in few_schools_rows(table[table["scope"].isin(list(compare.SCOPES))])
        ],
        "few_schools_caveat": FEW_SCHOOLS_CAVEAT,
        "links": inputs.links,
        "figures": {name: (_png_data_uri(fig), fig.get_label()) for name, fig in figs.items()},
        "config": _flatten(inputs.config),
        "method": method_text(inputs.config),
        "provenance": inputs.provenance,
        "min_n": min_n,
        "n_suppressed": len(cohorts.log),
    }
    html = environment().get_template("combined.html.j2").render(**context)
    tables = {"cohorts": cohorts.to_frame()}
    return Report(html, figs, tables, cohorts.log[LOG_COLUMNS], cohorts.findings)


def _cohort_decisions(
    estimates: dict[str, pd.DataFrame],
    schools: dict[str, pd.DataFrame],
    min_n: int,
    round_to: int,
) -> disclosure.Decision:
    """The combined table's rows hidden or rounded: each cohort's report's decision on its
    headline and sector rows (solved from its estimates' cells, as that report solves them)."""
    hidden, rounded, rows = set(), set(), set()
    empty = pd.DataFrame(columns=["district_name", "school_name", "sector", "pl_start_year"])
    for cohort, table in estimates.items():
        cells = disclosure.PublishedCells()
        disclosure.add_estimates(cells, table, schools.get(cohort, empty))
        decision = disclosure.solve(cells, min_n=min_n, round_to=round_to)
        for scope, group, subject in table[["scope", "group", "subject"]].itertuples(index=False):
            if scope not in compare.SCOPES:
                continue
            own = ("headline", subject) if scope == "pooled" else (
                "breakouts", f"{subject} / {scope} / {group}")  # fmt: skip
            row = ("cohorts", f"{cohort} / {subject} / {scope} / {group}")
            rows.add(row)
            if own in decision.hidden:
                hidden.add(row)
            elif own in decision.rounded:
                rounded.add(row)
    return disclosure.Decision(
        primary=frozenset(), hidden=frozenset(hidden), rounded=frozenset(rounded),
        round_to=round_to, min_n=min_n, rows=frozenset(rows),
    )  # fmt: skip


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescaping always on. One per process,
    so each template is compiled once: the report and its 40 national school pages had
    compiled theirs 167 times (3 CPU s of the report's 25)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pl_eval.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["interval"] = interval
    env.filters["count"] = count
    env.filters["counted"] = counted
    env.filters["identifier"] = identifier
    env.filters["words"] = code_words
    env.tests["missing"] = is_missing
    return env


def identifier(value) -> markupsafe.Markup:
    """A config name such as an analysis's (``no_rapid_guessing_screen``), escaped, that a
    narrow table column may break after its underscores (``<wbr>``) rather than overflow."""
    return markupsafe.escape(str(value)).replace("_", markupsafe.Markup("_<wbr>"))


#: Acronyms a code's words keep in capitals.
ACRONYMS = {"pl": "PL"}


def code_words(code) -> str:
    """A snake_case code of the tables (an exclusion reason, a breakout scope, a flow stage) as
    words, acronyms in capitals: "school_not_yet_pl" -> "school not yet PL"."""
    return " ".join(ACRONYMS.get(word, word) for word in str(code).split("_"))


def is_missing(value) -> bool:
    """Whether a cell holds no number (None, NA or NaN)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def number(value, digits: int = 2, missing: str = "—") -> str:
    """A rounded number with a true minus sign; missing values (suppressed) as ``missing``."""
    if is_missing(value):
        return missing
    text = f"{float(value):.{digits}f}"
    return text.replace("-", "\u2212")


def interval(low, high, digits: int = 2, missing: str = "—") -> str:
    """An interval as "low to high" (:func:`number`); ``missing`` when either end is (no
    interval computed, or suppressed), not "— to —"."""
    if is_missing(low) or is_missing(high):
        return missing
    return f"{number(low, digits)} to {number(high, digits)}"


def count(value) -> str:
    """A whole number with thousands separators; missing (suppressed) as "suppressed"."""
    if is_missing(value):
        return "suppressed"
    return disclosure.count_text(value)


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


def _headline(
    pooled: pd.DataFrame,
    min_n: int,
    name: str = "headline",
    decision: disclosure.Decision | None = None,
) -> Suppressed:
    """Per subject: effect in SD and percentile points with 95% CIs, n students and schools,
    its minimum detectable effect and note; a subject with fewer than ``min_n`` students in an
    arm is suppressed. Percentile points are for a student at the comparison group's average,
    and (the pooled rows) at the national median."""
    table = pooled[
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
            "note",
            "percentile_points_median",
            "mde",
            "mde_percentile_points",
            "comparison_percentile",
        ]
    ]
    out = suppress(
        table,
        name=name,
        counts=["n_treated", "n_comparison"],
        key=["subject"],
        group=["subject"],
        hide=HEADLINE_HIDDEN,
        min_n=min_n,
        decision=decision,
    )
    note = out.table["note"].mask(out.hidden, f"suppressed: fewer than {min_n} students")
    return Suppressed(out.table.assign(note=note), out.log, out.hidden)


#: The school table's columns: the labels (names, counts, note) that a suppressed row keeps,
#: and the numbers it hides.
SCHOOL_LABELS = ("subject", "school", "district", "sector", "n_treated", "n_comparison", "note")
SCHOOL_COLUMNS = [
    "subject", "school", "district", "sector", "n_treated", "n_comparison", "estimate", "ci_low",
    "ci_high", "p_value", "p_value_bh", "shrunken_estimate", "note", "mde", "percentile_points",
    "percentile_ci_low", "percentile_ci_high", "comparison_percentile",
]  # fmt: skip


def _school_table(
    estimates: pd.DataFrame,
    frame: pd.DataFrame,
    min_n: int,
    decision: disclosure.Decision | None = None,
) -> Suppressed:
    """School estimates with sector; schools under ``min_n`` students per arm suppressed."""
    sector = frame.rename(columns={"district_name": "district", "school_name": "group"})[
        ["district", "group", "sector"]
    ]
    rows = (
        estimates[estimates["scope"] == "school"]
        .merge(sector, on=["district", "group"], how="left", validate="many_to_one")
        .rename(columns={"group": "school"})[SCHOOL_COLUMNS]
        .sort_values(["subject", "school", "district"])
        .reset_index(drop=True)
    )
    out = suppress(
        rows,
        name="schools",
        counts=["n_treated", "n_comparison"],
        key=["subject", "school", "district"],
        group=["subject"],
        hide=[c for c in SCHOOL_COLUMNS if c not in SCHOOL_LABELS],
        min_n=min_n,
        decision=decision,
    )
    # forest plot and counts use the shown rows under their plotting name
    return Suppressed(out.table.rename(columns={"school": "group"}), out.log, out.hidden)


def _flow_tables(
    exclusions: pd.DataFrame,
    summaries: dict[str, dict],
    min_n: int,
    decision: disclosure.Decision | None = None,
) -> dict[str, Suppressed]:
    """Sample flow per subject and arm (files → valid → paired → matched) and exclusions;
    a group's percentages are hidden with any of its counts (they would give them away)."""
    flow, ex = _flow_frames(exclusions, summaries)
    common = {"counts": ["n_students"], "group": ["subject", "arm"], "min_n": min_n}
    out = suppress(
        flow,
        name="sample_flow",
        key=["subject", "arm", "stage"],
        hide=["percent_of_files"],
        decision=decision,
        **common,
    )
    names = flow["subject"] + " / " + flow["arm"] + " / " + flow["stage"]
    inexact = out.hidden
    if decision is not None:
        inexact = inexact | decision.mask("sample_flow", names, "rounded")
    any_hidden = inexact.groupby([flow["subject"], flow["arm"]]).transform("any")
    if decision is not None and any_hidden.any():
        table = out.table.assign(percent_of_files=out.table["percent_of_files"].astype("Float64"))
        table.loc[any_hidden, "percent_of_files"] = pd.NA
        out = Suppressed(table, out.log, out.hidden)
    return {
        "flow": out,
        "exclusions": suppress(
            ex, name="exclusions", key=["subject", "arm", "reason"], decision=decision, **common
        ),
    }


def _flow_frames(
    exclusions: pd.DataFrame, summaries: dict[str, dict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample flow (one row per subject, arm and stage) and the exclusions, unsuppressed."""
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
    return flow.assign(percent_of_files=100 * flow["n_students"] / in_files), ex


def _arm_order(column: pd.Series) -> pd.Series:
    """Sort key putting PL (treated) students before comparison students."""
    return column.map({"treated": 0, "comparison": 1}) if column.name == "arm" else column


def _match_rates(summaries: dict[str, dict]) -> pd.DataFrame:
    """Per subject: share of paired PL students matched, the comparison pool's use, and why
    PL students were not matched (by reason, and the summary's note when nothing was)."""
    return pd.DataFrame(
        [
            {
                "subject": s,
                "match_rate": summary["match_rate"],
                "method": summary["method"],
                "comparison_ess": summary["sample_sizes"]["comparison"]["matched_ess"],
                "unmatched": describe_reasons(summary.get("unmatched_by_reason") or {}),
                "note": summary.get("note", ""),
            }
            for s, summary in sorted(summaries.items())
        ],
        columns=["subject", "match_rate", "method", "comparison_ess", "unmatched", "note"],
    )


def _balance_table(balance: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per subject and covariate: SMD before and after matching, the WWC verdict after, and
    why a statistic is not computable (its note)."""
    frames = []
    for subject, table in sorted(balance.items()):
        if table.empty:
            continue
        table = with_notes(table)
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
                    "note": [
                        _balance_note(before, after)
                        for before, after in zip(
                            wide[("note", "all")], wide[("note", "matched")], strict=True
                        )
                    ],
                }
            )
        )
    columns = ["subject", "covariate", "smd_all", "smd_matched", "var_ratio_matched"]
    empty = pd.DataFrame(columns=[*columns, "wwc_verdict", "note"])
    return pd.concat(frames, ignore_index=True) if frames else empty


def _balance_note(before: str, after: str) -> str:
    """Why a covariate's balance is not computable before and/or after matching."""
    if before == after:
        return before
    parts = [(f"before matching: {before}", before), (f"after matching: {after}", after)]
    return "; ".join(text for text, note in parts if note)


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
