"""The report's section on several school years: one-year effects and spans side by side, the
exposure breakout and the pre-adoption placebo as a falsification check.

A multi-year cohort's main analysis is its last school year; its other one-year, span and
placebo analyses (``<cohort>@<F>-<S>``, ``<cohort>@placebo-<F>-<F+1>``, :mod:`pl_eval.years`)
each give one pooled estimate per subject. Their student counts are cells of the report's one
disclosure solve (:func:`add_cells`, called by ``render.published_cells``): the main year's
row is the headline's cell, the exposure groups add up to it, and every other analysis's
counts are cells of their own, rounded when the solve says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pl_eval.report.disclosure import ROUND, Decision, PublishedCells
from pl_eval.report.findings import SUBJECT_NAMES
from pl_eval.report.suppression import Suppressed, suppress
from pl_eval.years import YearAnalysis, fall_year, parse_analysis

COUNTS = ["n_treated", "n_comparison"]
COLUMNS = [
    "analysis", "kind", "school_years", "n_years", "subject", "estimate", "ci_low", "ci_high",
    "p_value", "percentile_points", "n_treated", "n_comparison", "n_schools", "note",
]  # fmt: skip
#: Numbers hidden with a row's counts.
HIDDEN = ["estimate", "ci_low", "ci_high", "p_value", "percentile_points", "n_schools"]
EXPOSURE_COLUMNS = [
    "subject", "group", "estimate", "ci_low", "ci_high", "p_value", "percentile_points",
    "n_treated", "n_comparison", "n_schools", "note",
]  # fmt: skip
#: How the placebo's result reads, by where its 95% interval lies.
PLACEBO_WORDS = {
    "zero": (
        "passes: the interval ({low} to {high} SD) includes zero. Before they adopted PL, the "
        "schools that adopted in {next} grew like comparable never-PL schools, as they should "
        "if the comparison is fair."
    ),
    "above": (
        "fails: the interval ({low} to {high} SD) lies above zero. In {year}, before adopting "
        "PL, the schools that adopted in {next} already grew more than comparable never-PL "
        "schools: the effects above may partly be that difference, not PL."
    ),
    "below": (
        "fails: the interval ({low} to {high} SD) lies below zero. In {year}, before adopting "
        "PL, the schools that adopted in {next} grew less than comparable never-PL schools: "
        "the effects above may understate or partly be that difference."
    ),
}


@dataclass(frozen=True)
class YearsSection:
    """The section's tables, suppressed, with the placebo's plain sentences."""

    effects: Suppressed  # one-year analyses and spans, per subject
    exposure: Suppressed  # the main year's exposure breakout
    exposure_tests: pd.DataFrame  # its difference test per subject
    placebo: Suppressed
    placebo_text: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "years": self.effects.table,
            "years_exposure": self.exposure.table,
            "years_placebo": self.placebo.table,
        }

    def log(self) -> list[pd.DataFrame]:
        return [self.effects.log, self.exposure.log, self.placebo.log]


def is_one_year(name: str) -> bool:
    """Whether an ``@`` analysis name is a one-year analysis (not a span or placebo)."""
    return parse_analysis(name).kind == "year"


def _label(analysis: YearAnalysis) -> str:
    """ "2020-2021", or "2020-2021 to 2021-2022" for a span."""
    return (
        analysis.fall
        if analysis.fall == analysis.spring
        else f"{analysis.fall} to {analysis.spring}"
    )


def year_rows(
    main: pd.DataFrame, years: dict[str, pd.DataFrame], main_year: str | None
) -> pd.DataFrame:
    """One row per analysis and subject (:data:`COLUMNS`) of the pooled estimates: the
    one-year analyses in year order (the main analysis as its year, ``main_year``), then the
    spans from shortest to longest, then the placebos. ``_cell`` names each row's count cells
    ("main" for the main analysis's, whose counts are the headline's)."""
    parsed = {name: parse_analysis(name) for name in years}
    cohort = next(iter(parsed.values())).cohort
    main_year = main_year or max(a.spring for a in parsed.values())
    analyses = [(cohort, "main", YearAnalysis(cohort, main_year, main_year), main)]
    analyses += [(name, name, parsed[name], years[name]) for name in years]

    def order(item) -> tuple:
        a = item[2]
        return ({"year": 0, "span": 1, "placebo": 2}[a.kind], a.n_years, a.fall)

    frames = []
    for name, cell, analysis, table in sorted(analyses, key=order):
        pooled = table[table["scope"] == "pooled"]
        frames.append(
            pooled.assign(
                analysis=name,
                kind=analysis.kind,
                school_years=_label(analysis),
                n_years=analysis.n_years,
                _cell=cell,
            )  # fmt: skip
        )
    rows = pd.concat(frames, ignore_index=True)
    return rows[[*COLUMNS, "_cell"]]


def add_cells(cells: PublishedCells, rows: pd.DataFrame, exposure: pd.DataFrame) -> None:
    """The section's counts as cells of the report's solve: each analysis's pooled counts
    (the main one's are the headline's), and the main year's exposure groups, whose sum is
    its pooled count (each PL student has one exposure)."""
    naming = {c: "{_cell}|{subject}|pooled|all|" + c for c in COUNTS}
    for table, part in (("years", rows[rows["kind"] != "placebo"]),
                        ("years_placebo", rows[rows["kind"] == "placebo"])):  # fmt: skip
        cells.add(table, part, key=["analysis", "subject"], cells=naming, action=ROUND)
    cells.add(
        "years_exposure", exposure, key=["subject", "group"],
        cells={c: "main|{subject}|exposure|{group}|" + c for c in COUNTS}, action=ROUND,
    )  # fmt: skip
    for subject, part in exposure.groupby("subject", sort=True):
        for c in COUNTS:
            cells.relate(
                f"main|{subject}|pooled|all|{c}",
                [f"main|{subject}|exposure|{g}|{c}" for g in part["group"]],
            )


def exposure_rows(estimates: pd.DataFrame) -> pd.DataFrame:
    """The main estimates' exposure breakout (:data:`EXPOSURE_COLUMNS`)."""
    rows = estimates[estimates["scope"] == "exposure"]
    return rows[EXPOSURE_COLUMNS].reset_index(drop=True)


def years_section(
    rows: pd.DataFrame,
    exposure: pd.DataFrame,
    tests: pd.DataFrame,
    *,
    min_n: int,
    decision: Decision | None,
) -> YearsSection:
    """The section's tables with the report's ``decision`` applied, and the placebo's words."""
    common = {"counts": COUNTS, "min_n": min_n, "decision": decision}
    shown = rows.drop(columns="_cell")
    effects = suppress(
        shown[shown["kind"] != "placebo"].reset_index(drop=True), name="years",
        key=["analysis", "subject"], hide=HIDDEN, **common,
    )  # fmt: skip
    placebo = suppress(
        shown[shown["kind"] == "placebo"].reset_index(drop=True), name="years_placebo",
        key=["analysis", "subject"], hide=HIDDEN, **common,
    )  # fmt: skip
    groups = suppress(exposure, name="years_exposure", key=["subject", "group"], hide=HIDDEN,
                      **common)  # fmt: skip
    return YearsSection(
        effects=effects,
        exposure=groups,
        exposure_tests=tests[tests["scope"] == "exposure"].reset_index(drop=True),
        placebo=placebo,
        placebo_text=[
            _placebo_sentence(r, hidden)
            for r, hidden in zip(placebo.table.itertuples(), placebo.hidden, strict=True)
        ],  # fmt: skip
    )


def _placebo_sentence(row, hidden: bool) -> str:
    """One placebo × subject in plain words."""
    year = row.school_years
    following = f"{fall_year(year) + 1}-{fall_year(year) + 2}"
    subject = SUBJECT_NAMES.get(row.subject, row.subject)
    start = f"Placebo on {year}, {subject}:"
    if hidden:
        return f"{start} suppressed (too few students to show)."
    if row.n_treated == 0:
        return f"{start} no school adopted PL in {following}: nothing to check."
    if pd.isna(row.estimate) or pd.isna(row.ci_low):
        why = row.note if isinstance(row.note, str) and row.note else "not computable"
        return f"{start} no estimate ({why}); schools adopting PL in {following} not checked."
    side = "above" if row.ci_low > 0 else "below" if row.ci_high < 0 else "zero"
    words = PLACEBO_WORDS[side].format(
        low=f"{row.ci_low:.2f}".replace("-", "\u2212"),
        high=f"{row.ci_high:.2f}".replace("-", "\u2212"),
        year=year,
        next=following,
    )
    return f"{start} the check {words}"
