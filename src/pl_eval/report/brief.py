"""The two-page brief in front of the funder report, built from the report's suppressed tables.

What was studied (school year, PL schools by sector and year of PL, students), the answer in
percentile points with 95% intervals in one figure (subject × all / charter / district schools),
three to five findings and what the study cannot tell. Every count and estimate comes from a
table that has already been through :func:`pl_eval.report.suppression.suppress` (the headline,
breakout and school tables), so the brief shows no cell the rest of the report hides.

Findings are worded by :func:`verdict` and :func:`finding_text` from the interval alone: an
interval covering zero never reads as a gain or a loss, only as "not distinguishable from zero"
with the range it leaves open; an estimate resting on few PL schools is never a confident
finding. RAND's published estimates are reference lines in the figure, not claims about these
schools. Percentile points in the brief are for a student at the national median,
100·(Φ(d) − 0.5), the scale RAND reported, so the reference lines and the estimates are on one
scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from pl_eval.matching.plots import literal_text
from pl_eval.norms import percentile_points
from pl_eval.report.findings import FEW_SCHOOLS, Finding, note_of
from pl_eval.report.methods import method_text
from pl_eval.windows import Window
from pl_eval.wording import counted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pl_eval.report.robustness import Robustness

#: The groups of the brief's figure and sample table: every PL school, then each sector.
GROUPS = ("all", "charter", "district")
GROUP_NAMES = {"all": "All PL schools", "charter": "Charter", "district": "District"}
ALT_NAMES = {"all": "all PL schools", "charter": "charter schools", "district": "district schools"}
YEARS = (("1", "first"), ("2", "second"), ("3+", "third or later"))

Verdict = Literal["above", "below", "covers zero", "no interval", "few schools"]


@dataclass(frozen=True)
class Reference:
    """A published estimate drawn as a reference line: context, never a comparison."""

    study: str
    span: str
    subject: str
    effect_sd: float
    source: str

    @property
    def points(self) -> float:
        """The effect in percentile points at the national median, as RAND reported it."""
        return float(percentile_points(self.effect_sd))


RAND_2015 = (
    "Pane, Steiner, Baird and Hamilton (2015), Continued Progress: Promising Evidence on "
    "Personalized Learning, RAND Corporation RR-1365-BMGF"
)
RAND_2017 = (
    "Pane, Steiner, Baird, Hamilton and Pane (2017), Informing Progress: Insights on "
    "Personalized Learning Implementation and Effects, RAND Corporation RR-2042-BMGF"
)
#: RAND's published pooled estimates (SD units, approximate): two-year effects of the 2015 study
#: and one-year (fall 2014 to spring 2015) effects of the 2017 study.
RAND = (
    Reference("RAND 2015", "two years", "math", 0.27, RAND_2015),
    Reference("RAND 2015", "two years", "reading", 0.19, RAND_2015),
    Reference("RAND 2017", "one year", "math", 0.09, RAND_2017),
    Reference("RAND 2017", "one year", "reading", 0.07, RAND_2017),
)


@dataclass(frozen=True)
class Brief:
    """The brief's content: sentences, the sample and answer tables, findings and limits."""

    studied: str  # one paragraph: school year, test, subjects, how comparison students were found
    sample: pd.DataFrame  # subject, group, n_treated, n_comparison, n_schools (suppressed: NA)
    years: pd.DataFrame  # subject, group ("1", "2", "3+"), n_schools (suppressed: NA)
    answer: pd.DataFrame  # subject, group, points, points_low, points_high, verdict, note
    findings: list[Finding]
    cannot_tell: list[tuple[str, str]]  # (what the study cannot tell, why)
    references: tuple[Reference, ...] = RAND


def verdict(row: pd.Series) -> Verdict:
    """What an estimate's 95% interval allows: "above" or "below" zero, "covers zero", "no
    interval" (none, or suppressed), or "few schools" (rests on few PL schools: never a
    confident finding, whatever its interval)."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if pd.isna(row.get("estimate")) or pd.isna(low) or pd.isna(high):
        return "no interval"
    if FEW_SCHOOLS in note_of(row):
        return "few schools"
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "covers zero"


def points_text(value: float) -> str:
    """Percentile points as typeset text, one decimal, a true minus sign: "−0.4", "3.6"."""
    return f"{float(value):.1f}".replace("-", "\u2212")


def interval_text(row: pd.Series) -> str:
    """ "95% CI 0.2 to 6.2" in percentile points at the national median."""
    low, high = percentile_points(row["ci_low"]), percentile_points(row["ci_high"])
    return f"95% CI {points_text(low)} to {points_text(high)}"


def finding_text(who: str, row: pd.Series, min_n: int = 10) -> str:
    """One estimate in words no stronger than its interval. ``who`` names the estimate
    ("Math"); ``row`` is a shown (suppressed) estimate row in SD units."""
    kind = verdict(row)
    if pd.isna(row.get("n_treated")):
        return f"{who}: too few students to report (fewer than {min_n} in a group)."
    if pd.isna(row.get("estimate")):
        return f"{who}: no estimate ({note_of(row) or 'not computable'})."
    points = percentile_points(row["estimate"])
    if kind == "no interval":
        return f"{who}: {points_text(points)} points, but without an interval; not a finding."
    interval = interval_text(row)
    if kind == "few schools":
        n = "few" if pd.isna(row.get("n_schools")) else int(row["n_schools"])
        return (
            f"{who}: {points_text(points)} points ({interval}), resting on only {n} PL "
            "schools: too few for a confident finding."
        )
    if kind == "covers zero":
        low, high = percentile_points(row["ci_low"]), percentile_points(row["ci_high"])
        return (
            f"{who}: the difference between PL students and similar students elsewhere is not "
            f"distinguishable from zero ({points_text(points)} points, {interval}); the data "
            f"are consistent with anything from a loss of {points_text(abs(low))} to a gain of "
            f"{points_text(high)} points."
        )
    direction = "more" if kind == "above" else "less"
    return (
        f"{who}: PL students gained {direction} than similar students elsewhere, by "
        f"{points_text(abs(points))} percentile points ({interval})."
    )


def sector_text(subject: str, sectors: pd.DataFrame, test: pd.Series | None) -> Finding:
    """Charter and district estimates of one subject, and whether they differed (the
    breakout test), worded by their intervals and the test."""
    parts = []
    for group in ("charter", "district"):
        rows = sectors[sectors["group"] == group]
        if rows.empty:
            continue
        row = rows.iloc[0]
        if pd.isna(row.get("n_treated")) or pd.isna(row.get("estimate")):
            parts.append(f"{group} schools: not shown")
            continue
        kind = verdict(row)
        points = f"{group} schools {points_text(percentile_points(row['estimate']))} points"
        if kind == "no interval":  # e.g. one PL school in the sector: no clustered SE
            parts.append(f"{points} (no interval)")
        else:
            few = ", few PL schools" if kind == "few schools" else ""
            parts.append(f"{points} ({interval_text(row)}{few})")
    shown = "; ".join(parts) if parts else "no sector estimates shown"
    if test is None or pd.isna(test.get("p_value")):
        return Finding(f"In {subject}, {shown}; whether they differed could not be tested.", False)
    p = f"p = {test['p_value']:.3f}"
    if FEW_SCHOOLS in note_of(test):
        return Finding(
            f"In {subject}, {shown}; the test of a difference ({p}) rests on few PL schools and "
            "is not a confident finding.",
            False,
        )
    if test["p_value"] < 0.05:
        return Finding(f"In {subject}, the effect differed between sectors ({p}): {shown}.", True)
    return Finding(
        f"In {subject}, {shown}; the two were not statistically distinguishable ({p}).", False
    )


def school_text(school_counts: dict[str, dict[str, int]]) -> Finding | None:
    """How many PL schools' own estimates were significantly above or below their comparison
    groups, per subject (from the shown school rows); None when no school has an estimate."""
    parts = [
        f"{c['positive']} of {c['n']} in {subject} significantly above and {c['negative']} below "
        f"({c['positive_bh']} and {c['negative_bh']} after the Benjamini–Hochberg correction)"
        for subject, c in sorted(school_counts.items())
        if c.get("n")
    ]
    if not parts:
        return None
    above = any(c["positive_bh"] for c in school_counts.values() if c.get("n"))
    below = any(c["negative_bh"] for c in school_counts.values() if c.get("n"))
    # "differed" only when, after correcting for testing many schools, some school is above
    # its comparison group and some below
    lead = "Schools differed" if above and below else "School by school"
    return Finding(
        f"{lead}: of the PL schools with their own estimate, " + "; ".join(parts) + ".",
        above or below,
    )


def build_brief(
    headline: pd.DataFrame,
    breakouts: pd.DataFrame,
    tests: pd.DataFrame,
    school_counts: dict[str, dict[str, int]],
    config: dict,
    *,
    school_year: str | None = None,
    checks: Robustness | None = None,
    min_n: int = 10,
    years_studied: int = 1,
) -> Brief:
    """The brief from the report's suppressed ``headline`` (pooled rows) and ``breakouts``
    tables, the breakout ``tests`` and the shown schools' ``school_counts``; ``years_studied``
    counts the school years of a multi-year cohort (its headline is the last)."""
    subjects = sorted(set(headline["subject"]))
    pooled = headline.assign(group="all")
    sectors = breakouts[breakouts["scope"] == "sector"]
    rows = pd.concat([pooled, sectors], ignore_index=True)
    rows = rows[rows["group"].isin(GROUPS)]
    order = {g: i for i, g in enumerate(GROUPS)}
    rows = rows.sort_values(["subject", "group"], key=lambda c: c.map(order) if c.name == "group"
                            else c).reset_index(drop=True)  # fmt: skip
    sample = rows[["subject", "group", "n_treated", "n_comparison", "n_schools"]]
    years = breakouts[breakouts["scope"] == "years"][["subject", "group", "n_schools"]]
    answer = rows.assign(
        points=percentile_points(rows["estimate"]),
        points_low=percentile_points(rows["ci_low"]),
        points_high=percentile_points(rows["ci_high"]),
        verdict=[verdict(r) for _, r in rows.iterrows()],
    )[["subject", "group", "points", "points_low", "points_high", "verdict", "note"]]
    found = [
        Finding(finding_text(f"In {s}, PL students", r, min_n), verdict(r) in ("above", "below"))
        for s in subjects
        for _, r in pooled[pooled["subject"] == s].iterrows()
    ]
    sector_tests = tests[tests["scope"] == "sector"]
    for s in subjects:
        test = sector_tests[sector_tests["subject"] == s]
        found.append(sector_text(s, sectors[sectors["subject"] == s],
                                 test.iloc[0] if len(test) else None))  # fmt: skip
    schools = school_text(school_counts)
    if schools is not None:
        found.append(schools)
    return Brief(
        studied=studied_text(subjects, config, school_year),
        sample=sample.reset_index(drop=True),
        years=years.reset_index(drop=True),
        answer=answer,
        findings=found[:5],
        cannot_tell=cannot_tell(config, sample, subjects, checks, years_studied),
    )


def studied_text(subjects: list[str], config: dict, school_year: str | None) -> str:
    """The paragraph saying what was compared, over what time, on which test."""
    year = f"the {school_year} school year" if school_year else "one school year"
    method = method_text(config)
    window = Window.named((config.get("panel") or {}).get("window"))
    span = f"from fall to spring of {year}"
    if window.name != "fall_to_spring":
        span = "from " + (window.describe(school_year) if school_year else window.name)
        span = span.replace("_", " ")
    return (
        f"NWEA MAP Growth {' and '.join(subjects)} scores {span}, of "
        "students in personalized-learning (PL) schools and of similar students in schools "
        f"that did not use PL. {method.matching}"
    )


def cannot_tell(
    config: dict,
    sample: pd.DataFrame,
    subjects: list[str],
    checks: Robustness | None = None,
    years_studied: int = 1,
) -> list[tuple[str, str]]:
    """What a careful reader must not take from the study, from the configuration in effect
    and the shown counts: selection, funding and support, one outcome measure over one year,
    which schools, and (with the robustness tables) how strong a hidden confounder would have
    to be and who was lost. Each item is (what it cannot tell, why)."""
    covariates = method_text(config).adjustment
    selection = (
        "Families and schools chose PL; the comparison students were matched and the "
        f"estimates {covariates}, but they can differ in ways these data do not record "
        "(motivation, leadership, other programmes)."
    )
    if checks is not None and checks.confounding is not None:
        conf = checks.confounding.table[
            (checks.confounding.table["scope"] == "pooled") & ~checks.confounding.hidden
        ].drop_duplicates("subject")
        values = [f"{r.subject} {100 * r.rv:.1f}%" for r in conf.itertuples() if pd.notna(r.rv)]
        if values:
            selection += (
                " A confounder would have to explain this share of what remains unexplained of "
                "both PL status and spring scores to bring an estimate to zero: "
                + "; ".join(values)
                + "."
            )
    lines = [("Whether PL caused the differences.", selection)]
    lines.append(
        (
            "Whether it was PL or the resources that came with it.",
            "Adopting PL came with extra funding, training and attention; a comparison of "
            "schools cannot separate the approach from that support, nor say which of its "
            "practices mattered.",
        )
    )
    norms = (config.get("panel") or {}).get("norms_year", 2020)
    time = (
        f"{years_studied} school years (one-year estimates and spans in their own section)"
        if years_studied > 1
        else "one school year"
    )
    lines.append(
        (
            f"Anything beyond {' and '.join(subjects)} test scores over {time}.",
            f"The only outcome is the NWEA MAP Growth score ({norms} national norms); "
            "engagement, other subjects and later outcomes were not measured, and test dates "
            "differ between schools.",
        )
    )
    shown = sample[(sample["group"] == "all") & sample["n_schools"].notna()]
    by = {g: sample[sample["group"] == g]["n_schools"].dropna() for g in ("charter", "district")}
    if len(shown):
        n = int(shown["n_schools"].max())
        sectors = ", ".join(f"{int(v.max())} {g}" for g, v in by.items() if len(v))
        lines.append(
            (
                "Whether the results hold for other schools.",
                f"The {counted(n, 'PL school')}"
                + (f" ({sectors})" if sectors else "")
                + (" was" if n == 1 else " were")
                + " not a random sample, and a group of few schools has a wide interval.",
            )
        )
    if checks is not None and checks.attrition is not None:
        rates = checks.attrition.table[~checks.attrition.hidden]
        parts = [
            f"{r.subject}: {100 * r.treated_rate:.0f}% of PL and {100 * r.comparison_rate:.0f}% "
            "of comparison students"
            for r in rates.itertuples()
            if pd.notna(r.treated_rate) and pd.notna(r.comparison_rate)
        ]
        if parts:
            lines.append(
                (
                    "How students with no spring test would have done.",
                    "They are not in the estimates (" + "; ".join(parts) + " tested in the fall).",
                )
            )
    return lines


#: The brief figure's marks: colour (at least 4.5:1 against white, so text in it passes WCAG
#: AA too) and marker, per group.
BRIEF_STYLE = {
    "all": ("#000000", "D"),
    "charter": ("#A35F00", "o"),
    "district": ("#0072B2", "s"),
}
REFERENCE_STYLE = {
    "RAND 2017": ("#595959", (0, (4, 2))),
    "RAND 2015": ("#595959", (0, (1, 1.5))),
}


@literal_text
def answer_plot(answer: pd.DataFrame, references: tuple[Reference, ...] = RAND) -> Figure:
    """The brief's one figure: per subject, the effect in percentile points (national median)
    with its 95% interval for all PL schools, charter and district schools, and each
    reference (RAND's published estimates) as a labelled vertical line.

    Groups differ by marker shape and row label as well as colour; a group without an
    estimate keeps its row and says why.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    subjects = sorted(set(answer["subject"]))
    fig = Figure(figsize=(7.2, 1.2 + 0.95 * len(subjects) + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(subjects), 1, sharex=True))
    y = {g: i for i, g in enumerate(GROUPS)}
    finite = answer[["points_low", "points_high"]].to_numpy(dtype=float)
    lows = [0.0, *[r.points for r in references]]
    highs = list(lows)
    if np.isfinite(finite).any():
        lows.append(float(np.nanmin(finite)))
        highs.append(float(np.nanmax(finite)))
    span = (min(lows) - 1.0, max(highs) + 1.0)
    alt = []
    for ax, subject in zip(axes, subjects, strict=True):
        rows = answer[answer["subject"] == subject]
        ax.axvline(0, color="#767676", linewidth=0.9)
        for ref in references:
            if ref.subject != subject:
                continue
            colour, dash = REFERENCE_STYLE.get(ref.study, ("#595959", (0, (3, 2))))
            ax.axvline(ref.points, color=colour, linestyle=dash, linewidth=1.1)
            ax.annotate(
                f"{ref.study}, {ref.span}: {ref.points:.1f}", (ref.points, 1.0),
                xycoords=("data", "axes fraction"), xytext=(2, 1), textcoords="offset points",
                va="bottom", ha="left", fontsize=6.5, color=colour,
            )  # fmt: skip
        values = {g: "" for g in GROUPS}
        for row in rows.itertuples():
            colour, marker = BRIEF_STYLE[row.group]
            at = y[row.group]
            if pd.isna(row.points) or pd.isna(row.points_low):
                why = "not shown: too few students" if pd.isna(row.points) else "no interval"
                values[row.group] = why
                alt.append(f"{subject} {ALT_NAMES[row.group]}: {why}")
                continue
            ax.errorbar(
                row.points, at,
                xerr=[[row.points - row.points_low], [row.points_high - row.points]],
                fmt=marker, color=colour, markersize=6, elinewidth=1.6, capsize=3,
            )  # fmt: skip
            values[row.group] = (
                f"{points_text(row.points)} ({points_text(row.points_low)} to "
                f"{points_text(row.points_high)})"
            )
            alt.append(
                f"{subject} {ALT_NAMES[row.group]} {row.points:.1f} points "
                f"(95% CI {row.points_low:.1f} to {row.points_high:.1f})"
            )
        ax.set_yticks(range(len(GROUPS)), [GROUP_NAMES[g] for g in GROUPS], fontsize=8)
        ax.set_ylim(len(GROUPS) - 0.4, -0.6)
        ax.set_ylabel(subject.capitalize(), fontsize=9, fontweight="bold")
        ax.set_xlim(*span)
        ax.tick_params(axis="x", labelsize=8)
        # each row's value and interval, in a column right of the panel
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(range(len(GROUPS)), [values[g] for g in GROUPS], fontsize=7.5)
        right.tick_params(axis="y", length=0)
        for label, group in zip(right.get_yticklabels(), GROUPS, strict=True):
            label.set_color(BRIEF_STYLE[group][0])
    axes[-1].set_xlabel(
        "Percentile points for a student at the national median, with 95% intervals", fontsize=8
    )
    handles = [
        Line2D([], [], color=c, marker=m, linestyle="", label=GROUP_NAMES[g])
        for g, (c, m) in BRIEF_STYLE.items()
    ] + [
        Line2D([], [], color=c, linestyle=d, label=f"{study} (published, for reference)")
        for study, (c, d) in REFERENCE_STYLE.items()
        if any(r.study == study for r in references)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    refs = "; ".join(
        f"{r.study} {r.subject} {r.span} {r.points:.1f} ({r.effect_sd:.2f} SD)" for r in references
    )
    fig.set_label(
        "Dot-and-whisker chart of the effect of PL schools in percentile points for a student "
        "at the national median, with 95% intervals, one panel per subject: "
        + "; ".join(alt)
        + f". A solid line marks zero; dashed and dotted lines mark RAND's published estimates "
        f"for reference: {refs}."
    )
    return fig
