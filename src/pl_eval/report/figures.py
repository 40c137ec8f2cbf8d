"""Report figures: school forest plot, breakout dot-and-whisker, trajectory, Love plot.

Functions return a matplotlib ``Figure`` built without pyplot and never save it; the stage
does (io.save_figure). Colours are Okabe-Ito and groups also differ by marker shape, never by
colour alone. Each figure's alt text is its label, ``fig.get_label()``. matplotlib is
imported when a figure is drawn: its 0.35 s import is then paid only by the commands that draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval import matching
from pl_eval.matching.balance import Balance

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe-Ito colours and a marker per group, so groups differ by shape as well as colour.
STYLE = {
    "charter": ("#E69F00", "o"),
    "district": ("#0072B2", "s"),
    "treated": ("#D55E00", "o"),
    "comparison": ("#0072B2", "s"),
}
GREY = "#555555"
SCOPE_TITLES = {
    "sector": "Sector",
    "years": "Years of PL",
    "grade_band": "Grade band",
    "baseline_quintile": "Fall quintile",
}


def forest_plot(schools: pd.DataFrame, pooled: pd.Series, n_suppressed: int = 0) -> Figure:
    """School effects sorted by estimate with 95% CIs, shrunken estimates and the pooled line.

    ``schools`` holds one subject's shown school rows with a ``sector`` column; suppressed
    schools are left out by the caller and counted in ``n_suppressed``.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    data = schools.sort_values(["estimate", "group"]).reset_index(drop=True)
    y = np.arange(len(data))
    fig = Figure(figsize=(7.5, 1.8 + 0.2 * len(data)), layout="constrained")
    ax = fig.subplots()
    ax.axvline(0, color="0.75", linewidth=0.8)
    ax.axvline(pooled["estimate"], color=GREY, linestyle="--", linewidth=1.2)
    for sector, (colour, marker) in STYLE.items():
        if sector not in ("charter", "district"):
            continue
        rows = data["sector"] == sector
        ax.errorbar(
            data.loc[rows, "estimate"],
            y[rows],
            xerr=[
                data.loc[rows, "estimate"] - data.loc[rows, "ci_low"],
                data.loc[rows, "ci_high"] - data.loc[rows, "estimate"],
            ],
            fmt=marker,
            color=colour,
            markersize=5,
            elinewidth=1,
            capsize=0,
            zorder=3,
        )
        ax.scatter(
            data.loc[rows, "shrunken_estimate"],
            y[rows],
            marker=marker,
            facecolors="white",
            edgecolors=colour,
            s=22,
            zorder=4,
        )
    labels = data["group"] + " (n = " + data["n_treated"].astype("Int64").astype(str) + ")"
    ax.set_yticks(y, labels, fontsize=6.5)
    if n_suppressed:
        ax.annotate(
            f"{n_suppressed} schools not shown: too few students",
            (0.01, 0.99), xycoords="axes fraction", va="top", fontsize=7, color=GREY,
        )  # fmt: skip
    ax.set_ylim(-1, len(data))
    ax.set_xlabel("Effect on spring score (national SD units), 95% CI")
    subject = pooled["subject"]
    ax.set_title(f"School effects, {subject}")
    handles = [
        Line2D([], [], color=c, marker=m, linestyle="", label=f"{s} (raw)")
        for s, (c, m) in STYLE.items()
        if s in ("charter", "district")
    ] + [
        Line2D(
            [],
            [],
            color=GREY,
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label="shrunken (empirical Bayes)",
        ),
        Line2D([], [], color=GREY, linestyle="--", label=f"pooled {pooled['estimate']:.2f}"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=True)
    above = int((data["ci_low"] > 0).sum())
    below = int((data["ci_high"] < 0).sum())
    fig.set_label(
        f"Forest plot of {len(data)} PL schools' {subject} effects sorted from lowest "
        f"({data['estimate'].min():.2f} SD) to highest ({data['estimate'].max():.2f} SD) with "
        f"95% intervals; the pooled effect is {pooled['estimate']:.2f} SD. {above} intervals lie "
        f"above zero and {below} below. Charter schools are orange circles, district schools "
        f"blue squares; open markers are shrunken estimates."
        + (f" {n_suppressed} schools are not shown (too few students)." if n_suppressed else "")
    )
    return fig


def breakout_plot(breakouts: pd.DataFrame, pooled: pd.Series) -> Figure:
    """Dot-and-whisker plot of one subject's breakout estimates, one panel per breakout."""
    from matplotlib.figure import Figure

    scopes = [s for s in SCOPE_TITLES if s in set(breakouts["scope"])]
    sizes = [int((breakouts["scope"] == s).sum()) for s in scopes]
    fig = Figure(figsize=(7.5, 1.2 + 0.3 * sum(sizes) + 0.3 * len(scopes)), layout="constrained")
    axes = np.atleast_1d(
        fig.subplots(len(scopes), 1, sharex=True, gridspec_kw={"height_ratios": sizes})
    )
    for ax, scope in zip(axes, scopes, strict=True):
        rows = breakouts[breakouts["scope"] == scope].reset_index(drop=True)
        y = np.arange(len(rows))
        ax.axvline(0, color="0.75", linewidth=0.8)
        ax.axvline(pooled["estimate"], color=GREY, linestyle="--", linewidth=1)
        ax.errorbar(
            rows["estimate"],
            y,
            xerr=[rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]],
            fmt="o",
            color="#009E73",
            markersize=5,
            capsize=2,
        )
        ax.set_yticks(y, rows["group"])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.invert_yaxis()
        ax.set_ylabel(SCOPE_TITLES[scope], fontsize=8)
    axes[-1].set_xlabel("Effect (national SD units), 95% CI; dashed line: pooled")
    axes[0].set_title(f"Breakouts, {pooled['subject']}")
    parts = [
        f"{r.group} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})"
        for r in breakouts.itertuples()
    ]
    fig.set_label(
        f"Dot-and-whisker plot of {pooled['subject']} effects in SD units with 95% intervals by "
        + ", ".join(SCOPE_TITLES[s].lower() for s in scopes)
        + ": "
        + "; ".join(parts)
        + "."
    )
    return fig


def trajectory_plot(trajectory: pd.DataFrame) -> Figure:
    """Mean national percentile in fall and spring, PL vs comparison, per subject, with CIs."""
    from matplotlib.figure import Figure

    subjects = sorted(set(trajectory["subject"]))
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(subjects), sharey=True))
    seasons = {"fall": 0, "spring": 1}
    parts = []
    for ax, subject in zip(axes, subjects, strict=True):
        for offset, arm in ((-0.03, "treated"), (0.03, "comparison")):
            rows = trajectory[(trajectory["subject"] == subject) & (trajectory["arm"] == arm)]
            rows = rows.sort_values("season", key=lambda s: s.map(seasons))
            x = rows["season"].map(seasons).to_numpy() + offset
            colour, marker = STYLE[arm]
            label = "PL schools" if arm == "treated" else "Matched comparison"
            ax.errorbar(
                x,
                rows["mean_percentile"],
                yerr=[
                    rows["mean_percentile"] - rows["ci_low"],
                    rows["ci_high"] - rows["mean_percentile"],
                ],
                fmt=f"{marker}-",
                color=colour,
                capsize=3,
                label=label,
            )
            ax.annotate(
                label,
                (x[-1], rows["mean_percentile"].iloc[-1]),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color=colour,
            )
            parts.append(
                f"{subject} {label.lower()} from {rows['mean_percentile'].iloc[0]:.1f} to "
                f"{rows['mean_percentile'].iloc[-1]:.1f}"
            )
        ax.set_xticks([0, 1], ["Fall", "Spring"])
        ax.set_xlim(-0.3, 1.6)
        ax.set_title(subject.capitalize())
    axes[0].set_ylabel("Mean national percentile (95% CI)")
    axes[0].legend(loc="lower left", fontsize=7, frameon=False)
    fig.set_label("Mean national percentile, fall to spring: " + "; ".join(parts) + ".")
    return fig


def overlap_plot(scores: pd.DataFrame, outside_support: int) -> Figure:
    """The matching stage's propensity overlap plot, redrawn from propensity_<subject>.parquet."""
    balance = Balance(
        table=pd.DataFrame(),
        samples=pd.DataFrame(),
        scores=scores,
        score_by_arm=None,
        outside_support=outside_support,
    )
    return matching.overlap_plot(balance)


def love_plot(balance_table: pd.DataFrame) -> Figure:
    """The matching stage's Love plot, redrawn from its balance table (balance_<subject>.csv)."""
    balance = Balance(
        table=balance_table,
        samples=pd.DataFrame(),
        scores=None,
        score_by_arm=None,
        outside_support=0,
    )
    return matching.love_plot(balance)


#: The series of a side-by-side dot plot: pooled in black diamonds, sectors as elsewhere.
COMPARED = {
    "pooled": ("#000000", "D", "all PL schools", -0.22),
    "charter": (*STYLE["charter"], "charter", 0.0),
    "district": (*STYLE["district"], "district", 0.22),
}


def comparison_plot(
    rows: pd.DataFrame, label: str, noun: str, highlight: str | None = None
) -> Figure:
    """Per subject, one row per ``label`` value: pooled and sector estimates with 95% CIs.

    ``rows`` are a :class:`~pl_eval.report.compare.Comparison`'s shown rows; ``highlight``
    (the main specification) gets filled markers and a bold label, the others open markers.
    Without ``highlight`` (cohorts) every marker is filled.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    subjects = sorted(set(rows["subject"]))
    names = list(pd.unique(rows[label].astype(str)))
    position = {name: i for i, name in enumerate(names)}
    fig = Figure(figsize=(7.5, 1.9 + 0.42 * len(names)), layout="constrained")
    axes = fig.subplots(1, len(subjects), sharey=True, squeeze=False)[0]
    series = rows["group"].where(rows["scope"] != "pooled", "pooled")
    for ax, subject in zip(axes, subjects, strict=True):
        ax.axvline(0, color=GREY, linewidth=0.9)
        for key, (colour, marker, _, offset) in COMPARED.items():
            part = rows[(rows["subject"] == subject) & (series == key)]
            y = part[label].astype(str).map(position).to_numpy() + offset
            ax.errorbar(
                part["estimate"],
                y,
                xerr=[part["estimate"] - part["ci_low"], part["ci_high"] - part["estimate"]],
                fmt="none",
                ecolor=colour,
                elinewidth=1.1,
            )
            filled = (part[label] == highlight).to_numpy() if highlight else np.ones(len(y), bool)
            for fill, face in ((filled, colour), (~filled, "white")):
                ax.scatter(
                    part["estimate"][fill], y[fill], marker=marker, s=30, zorder=3,
                    facecolors=face, edgecolors=colour,
                )  # fmt: skip
        ax.set_title(subject.capitalize())
        ax.set_xlabel("Effect (national SD units), 95% CI", fontsize=8)
    axes[0].set_yticks(range(len(names)), names, parse_math=False)
    axes[0].set_ylim(len(names) - 0.5, -0.5)  # first name on top
    for tick in axes[0].get_yticklabels():
        tick.set_fontweight("bold" if tick.get_text() == highlight else "normal")
    handles = [
        Line2D([], [], color=c, marker=m, linestyle="", label=name)
        for c, m, name, _ in COMPARED.values()
    ]
    if highlight:
        handles += [
            Line2D([], [], color=GREY, marker="o", linestyle="", label=f"{highlight} (filled)"),
            Line2D(
                [], [], color=GREY, marker="o", markerfacecolor="white", linestyle="",
                label="other specifications (open)",
            ),
        ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7)
    fig.set_label(_comparison_alt(rows, label, noun, highlight, subjects, len(names)))
    return fig


def _comparison_alt(
    rows: pd.DataFrame, label: str, noun: str, highlight: str | None, subjects: list, n: int
) -> str:
    """Alt text of the comparison plot: what is drawn and each subject's pooled range."""
    pooled = rows[rows["scope"] == "pooled"]
    ranges = []
    for subject in subjects:
        part = pooled[pooled["subject"] == subject]
        if len(part):
            low, high = part.loc[part["estimate"].idxmin()], part.loc[part["estimate"].idxmax()]
            ranges.append(
                f"{subject} pooled estimates range from {low['estimate']:.2f} ({low[label]}) to "
                f"{high['estimate']:.2f} ({high[label]})"
            )
    marked = (
        f"; the main specification ({highlight}) has filled markers and a bold label"
        if highlight
        else ""
    )
    return (
        f"Dot plot of pooled and sector (charter, district) effects in SD units with 95% "
        f"intervals for {n} {noun}s, one row each, {' and '.join(subjects)} side by side, with "
        f"a vertical line at zero{marked}. " + "; ".join(ranges) + "."
    )
