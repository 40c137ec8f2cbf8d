"""Report figures: school forest plot, breakout dot-and-whisker, trajectory, Love plot.

Functions return a matplotlib ``Figure`` built without pyplot and never save it; the stage
does (io.save_figure). Colours are Okabe-Ito and groups also differ by marker shape, never by
colour alone. Each figure's alt text is its label, ``fig.get_label()``. matplotlib is
imported when a figure is drawn: its 0.35 s import is then paid only by the commands that draw.

Names are data: every figure is built with mathtext and TeX off (``literal_text``), so a school
called "A$x^2$" is drawn as written. A row without an estimate (its ``note`` says why: "no PL
students", "one cluster", ...) keeps its place and shows its note instead of a point; a figure
with nothing to show says so.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval import matching
from pl_eval.matching.balance import Balance
from pl_eval.matching.plots import LEGEND_HEIGHT, empty_plot, legend_below, literal_text
from pl_eval.report.findings import FEW_SCHOOLS, few_schools
from pl_eval.wording import counted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe-Ito hues and a marker per group, so groups differ by shape as well as colour. Orange
#: and vermillion are darkened (#E69F00 to #A35F00, #D55E00 to #B04A00) to reach WCAG AA's 4.5:1
#: against white: they also colour text (direct labels), not only marks.
STYLE = {
    "charter": ("#A35F00", "o"),
    "district": ("#0072B2", "s"),
    "treated": ("#B04A00", "o"),
    "comparison": ("#0072B2", "s"),
}
GREY = "#555555"
SCOPE_TITLES = {
    "sector": "Sector",
    "years": "Years of PL",
    "grade_band": "Grade band",
    "baseline_quintile": "Fall quintile",
}


def mid_sentence(text: str) -> str:
    """A label to run inside a sentence: its first letter lower-cased, unless its first word
    is an acronym ("This school" -> "this school"; "PL schools" and "Years of PL" keep PL)."""
    first = text.split(" ", 1)[0]
    return text if len(first) > 1 and first.isupper() else text[:1].lower() + text[1:]


def no_estimate(row: pd.Series | object) -> str:
    """Why a row has no estimate, as the figures and tables show it: "no estimate: <note>"."""
    note = getattr(row, "note", "")
    note = "" if pd.isna(note) else str(note)
    return f"no estimate: {note}" if note else "no estimate"


#: Names (of schools, cohorts, analyses) longer than this are drawn on two lines, cut short
#: after the second ("…"): written out on one line, a long name left the plot beside it a
#: sliver of the figure (the report's tables and alt texts give every name in full).
LABEL_WIDTH = 40


def name_label(name: str) -> str:
    """``name`` as a figure labels it: as it is up to LABEL_WIDTH characters, else wrapped at
    spaces and hyphens (or mid-word in a longer word) into at most two such lines."""
    if len(name) <= LABEL_WIDTH:
        return name
    lines = textwrap.wrap(name, LABEL_WIDTH)
    if len(lines) > 2:  # (textwrap's max_lines drops a cut word's last piece for its "…")
        lines = [lines[0], lines[1][: LABEL_WIDTH - 1] + "…"]
    return "\n".join(lines)


def _say_why_missing(ax, rows: pd.DataFrame, known, y, *, fontsize: float) -> None:
    """Write "no estimate: <note>" on the rows of ``rows`` that have no estimate drawn."""
    for row in np.flatnonzero(~known):
        ax.annotate(
            no_estimate(rows.iloc[row]), (0.01, y[row]), xycoords=ax.get_yaxis_transform(),
            va="center", fontsize=fontsize, color=GREY,
        )  # fmt: skip


#: The number columns a figure reads, drawn from plain floats (NaN where missing).
NUMBERS = (
    "estimate", "ci_low", "ci_high", "shrunken_estimate", "mean_percentile", "n_treated",
)  # fmt: skip


def _floats(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with its number columns as float64: suppressed tables hold nullable ``Float64``
    (pd.NA), and estimates joined from empty parts can hold None, which matplotlib rejects."""
    return rows.assign(
        **{
            name: pd.to_numeric(rows[name], errors="coerce").astype("float64")
            for name in NUMBERS
            if name in rows
        }
    )


def _known(rows: pd.DataFrame, column: str = "estimate") -> pd.Series:
    """Rows whose ``column`` (and so interval) is a number."""
    return pd.to_numeric(rows[column], errors="coerce").notna()


#: Inches of school rows one forest plot holds: 40 schools at 0.2 in a row, or 26 when a name
#: takes two lines (0.3 in). A plot is 2.1 in taller than its rows and the PDF prints a figure
#: at most 195 mm tall, so a plot this full prints its 6.5 pt school labels at 4.9 pt; one plot
#: of RAND 2015's 62 schools printed them at 3.4 pt, of 100 schools at 2.3 pt. A larger study
#: is drawn in parts of equal size, none fuller than this.
FOREST_HEIGHT = 8.0


@literal_text
def forest_plots(schools: pd.DataFrame, pooled: pd.Series, n_suppressed: int = 0) -> list[Figure]:
    """School effects sorted by estimate with 95% CIs, shrunken estimates and the pooled line.

    ``schools`` holds one subject's shown school rows with a ``sector`` column; suppressed
    schools are left out by the caller and counted in ``n_suppressed``. A school without an
    estimate is listed last (at the top) with its note; a pooled effect without one draws no
    line. One figure up to FOREST_HEIGHT of rows; beyond, the same plot cut into parts of
    equal size, from its top down, that share one x axis and row height.
    """
    subject = pooled["subject"]
    if schools.empty:
        why = _not_shown(n_suppressed) if n_suppressed else "no PL school has an estimate"
        return [
            empty_plot(f"School effects, {subject}", f"No school effects for {subject}: {why}.")
        ]
    schools = _floats(schools)
    data = schools.assign(_known=_known(schools)).sort_values(
        ["_known", "estimate", "group"], ascending=[False, True, True]
    )
    data = data.reset_index(drop=True)
    data["_name"] = data["group"].astype(str).map(name_label)
    n = len(data)
    row_height = 0.3 if data["_name"].str.contains("\n").any() else 0.2
    # each part's rows as data indices, the plot's top part first (the plot's last rows)
    parts = np.array_split(np.arange(n)[::-1], -(-n // int(FOREST_HEIGHT / row_height)))
    figs = [
        _forest_part(
            data.iloc[rows[::-1]].reset_index(drop=True),
            pooled,
            n_suppressed,
            row_height,
            f"part {k} of {len(parts)}: rows {n - rows[0]}–{n - rows[-1]} of {n}"
            if len(parts) > 1
            else "",
        )
        for k, rows in enumerate(parts, 1)
    ]
    if len(figs) > 1:
        limits = np.array([fig.axes[0].get_xlim() for fig in figs])
        for fig in figs:
            fig.axes[0].set_xlim(limits[:, 0].min(), limits[:, 1].max())
    return figs


def _not_shown(n_suppressed: int) -> str:
    """What a forest plot says of the schools it leaves out (suppressed)."""
    return f"{counted(n_suppressed, 'school')} not shown: too few students"


def _forest_part(
    data: pd.DataFrame, pooled: pd.Series, n_suppressed: int, row_height: float, where: str
) -> Figure:
    """One figure of ``forest_plots``: the sorted rows ``data`` (with ``_known`` and their
    label's ``_name``), each ``row_height`` in tall; ``where`` says which part of the plot
    they are ("" for all of it)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    subject = pooled["subject"]
    known = data["_known"].to_numpy()
    has_pooled = pd.notna(pooled["estimate"])
    y = np.arange(len(data))
    labels = data["_name"] + " (n = " + data["n_treated"].astype("Int64").astype(str) + ")"
    fig = Figure(figsize=(7.5, 1.8 + LEGEND_HEIGHT + row_height * len(data)), layout="constrained")
    ax = fig.subplots()
    ax.axvline(0, color="0.75", linewidth=0.8)
    if has_pooled:
        ax.axvline(pooled["estimate"], color=GREY, linestyle="--", linewidth=1.2)
    for sector, (colour, marker) in STYLE.items():
        if sector not in ("charter", "district"):
            continue
        rows = (data["sector"] == sector).to_numpy() & known
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
        shrunk = rows & _known(data, "shrunken_estimate").to_numpy()
        ax.scatter(
            data.loc[shrunk, "shrunken_estimate"],
            y[shrunk],
            marker=marker,
            facecolors="white",
            edgecolors=colour,
            s=22,
            zorder=4,
        )
    _say_why_missing(ax, data, known, y, fontsize=6.5)
    ax.set_yticks(y, labels, fontsize=6.5)
    if n_suppressed:
        ax.annotate(
            _not_shown(n_suppressed),
            (0.01, 0.99), xycoords="axes fraction", va="top", fontsize=7, color=GREY,
        )  # fmt: skip
    ax.set_ylim(-1, len(data))
    ax.set_xlabel("Effect on spring score (national SD units), 95% CI")
    ax.set_title(f"School effects, {subject}" + (f" ({where})" if where else ""))
    pooled_text = f"pooled {pooled['estimate']:.2f}" if has_pooled else "pooled: no estimate"
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
        Line2D([], [], color=GREY, linestyle="--", label=pooled_text),
    ]
    legend_below(fig, handles)
    shown = data[known]
    above = int((shown["ci_low"] > 0).sum())
    below = int((shown["ci_high"] < 0).sum())
    if len(shown) == 1:
        sorted_text = f"({shown['estimate'].iloc[0]:.2f} SD) with its 95% interval"
    elif len(shown):
        sorted_text = (
            f"sorted from lowest ({shown['estimate'].min():.2f} SD) to highest "
            f"({shown['estimate'].max():.2f} SD) with 95% intervals"
        )
    else:
        sorted_text = "none of which has an estimate"
    pooled_alt = (
        f"the pooled effect is {pooled['estimate']:.2f} SD"
        if has_pooled
        else f"the pooled effect has {no_estimate(pooled)}"
    )
    whose = counted(len(data), "PL school") + ("'s" if len(data) == 1 else "'")
    effects = "effect" if len(data) == 1 else "effects"
    fig.set_label(
        "Forest plot"
        + (f" ({where})" if where else "")
        + f" of {whose} {subject} {effects} {sorted_text}; {pooled_alt}. "
        f"{counted(above, 'interval')} {'lies' if above == 1 else 'lie'} above zero and {below} "
        "below. Charter schools are orange "
        "circles, district schools blue squares; open markers are shrunken estimates."
        + "".join(f" {r.group}: {no_estimate(r)}." for r in data[~known].itertuples())
        + (f" {_not_shown(n_suppressed)}." if n_suppressed else "")
    )
    return fig


@literal_text
def breakout_plot(breakouts: pd.DataFrame, pooled: pd.Series) -> Figure:
    """Dot-and-whisker plot of one subject's breakout estimates, one panel per breakout.

    A group without an estimate keeps its row and shows its note ("no estimate: no PL
    students"); a group resting on few PL schools is labelled so.
    """
    from matplotlib.figure import Figure

    subject = pooled["subject"]
    breakouts = _floats(breakouts)
    scopes = [s for s in SCOPE_TITLES if s in set(breakouts["scope"])]
    if not scopes:
        return empty_plot(
            f"Breakouts, {subject}",
            f"No breakout group of {subject} can be shown: every group is suppressed "
            "(too few students).",
        )
    sizes = [int((breakouts["scope"] == s).sum()) for s in scopes]
    fig = Figure(figsize=(7.5, 1.2 + 0.3 * sum(sizes) + 0.3 * len(scopes)), layout="constrained")
    axes = np.atleast_1d(
        fig.subplots(len(scopes), 1, sharex=True, gridspec_kw={"height_ratios": sizes})
    )
    for ax, scope in zip(axes, scopes, strict=True):
        rows = breakouts[breakouts["scope"] == scope].reset_index(drop=True)
        known = _known(rows).to_numpy()
        y = np.arange(len(rows))
        ax.axvline(0, color="0.75", linewidth=0.8)
        if pd.notna(pooled["estimate"]):
            ax.axvline(pooled["estimate"], color=GREY, linestyle="--", linewidth=1)
        drawn = rows[known]
        ax.errorbar(
            drawn["estimate"],
            y[known],
            xerr=[drawn["estimate"] - drawn["ci_low"], drawn["ci_high"] - drawn["estimate"]],
            fmt="o",
            color="#009E73",
            markersize=5,
            capsize=2,
        )
        _say_why_missing(ax, rows, known, y, fontsize=7)
        labels = (
            rows["group"]
            .astype(str)
            .where(
                ~few_schools(rows.get("note", pd.Series("", index=rows.index))),
                rows["group"].astype(str) + f" ({FEW_SCHOOLS})",
            )
        )
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.invert_yaxis()
        ax.set_ylabel(SCOPE_TITLES[scope], fontsize=8)
    axes[-1].set_xlabel("Effect (national SD units), 95% CI; dashed line: pooled")
    axes[0].set_title(f"Breakouts, {subject}")
    parts = [
        f"{r.group} {no_estimate(r)}"
        if pd.isna(r.estimate)
        else f"{r.group} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})"
        if pd.notna(r.ci_low) and pd.notna(r.ci_high)
        else f"{r.group} {r.estimate:.2f} (no interval: {r.note or 'not computable'})"
        for r in breakouts.itertuples()
    ]
    fig.set_label(
        f"Dot-and-whisker plot of {subject} effects in SD units with 95% intervals by "
        + ", ".join(mid_sentence(SCOPE_TITLES[s]) for s in scopes)
        + ": "
        + "; ".join(parts)
        + "."
    )
    return fig


@literal_text
def trajectory_plot(
    trajectory: pd.DataFrame, labels: tuple[str, str] = ("PL schools", "Matched comparison")
) -> Figure:
    """Mean national percentile in fall and spring, PL vs comparison, per subject, with CIs.

    An arm without a mean (no students, or suppressed) is left out and named in the panel.
    ``labels`` name the PL and the comparison arm (a school page: the school and its group).
    """
    from matplotlib.figure import Figure

    trajectory = _floats(trajectory)
    subjects = sorted(set(trajectory["subject"]))
    if not subjects:
        return empty_plot("Trajectory", "No fall-to-spring trajectory: no matched students.")
    fig = Figure(figsize=(7.5, 3.2 + LEGEND_HEIGHT), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(subjects), sharey=True))
    seasons = {"fall": 0, "spring": 1}
    parts = []
    for ax, subject in zip(axes, subjects, strict=True):
        missing = []
        for offset, arm in ((-0.03, "treated"), (0.03, "comparison")):
            rows = trajectory[(trajectory["subject"] == subject) & (trajectory["arm"] == arm)]
            rows = rows.sort_values("season", key=lambda s: s.map(seasons))
            rows = rows[_known(rows, "mean_percentile")]
            label = labels[0] if arm == "treated" else labels[1]
            if rows.empty:
                missing.append(label)
                parts.append(
                    f"{subject} {mid_sentence(label)}: no mean (no students or suppressed)"
                )
                continue
            x = rows["season"].map(seasons).to_numpy() + offset
            colour, marker = STYLE[arm]
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
                f"{subject} {mid_sentence(label)} from {rows['mean_percentile'].iloc[0]:.1f} to "
                f"{rows['mean_percentile'].iloc[-1]:.1f}"
            )
        if missing:
            ax.text(
                0.5, 0.04, "not shown (no students or suppressed): " + ", ".join(missing),
                transform=ax.transAxes, ha="center", fontsize=7, color=GREY, wrap=True,
            )  # fmt: skip
        ax.set_xticks([0, 1], ["Fall", "Spring"])
        ax.set_xlim(-0.3, 1.6)
        ax.set_title(subject.capitalize())
    axes[0].set_ylabel("Mean national percentile (95% CI)")
    legend_below(fig)
    fig.set_label("Mean national percentile, fall to spring: " + "; ".join(parts) + ".")
    return fig


@literal_text
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


@literal_text
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


@literal_text
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

    rows = _floats(rows)
    rows = rows[_known(rows)]  # rows without an estimate are listed with their note in tables
    subjects = sorted(set(rows["subject"]))
    if not subjects:
        return empty_plot(
            f"Estimates by {noun}",
            f"No {noun} has an estimate that can be shown (none, or all suppressed).",
        )
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
    axes[0].set_yticks(range(len(names)), [name_label(n) for n in names], parse_math=False)
    axes[0].set_ylim(len(names) - 0.5, -0.5)  # first name on top
    for name, tick in zip(names, axes[0].get_yticklabels(), strict=True):
        tick.set_fontweight("bold" if name == highlight else "normal")
    handles = [  # the series drawn: a pooled-only comparison (school years) has no sectors
        Line2D([], [], color=c, marker=m, linestyle="", label=name)
        for key, (c, m, name, _) in COMPARED.items()
        if (series == key).any()
    ]
    if highlight:
        handles += [
            Line2D([], [], color=GREY, marker="o", linestyle="", label=f"{highlight} (filled)"),
            Line2D(
                [], [], color=GREY, marker="o", markerfacecolor="white", linestyle="",
                label="other specifications (open)",
            ),
        ]  # fmt: skip
    legend_below(fig, handles)
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
    sectors = (rows["scope"] != "pooled").any()
    drawn = "pooled and sector (charter, district)" if sectors else "pooled"
    return (
        f"Dot plot of {drawn} effects in SD units with 95% "
        f"intervals for {n} {noun}s, one row each, {' and '.join(subjects)} side by side, with "
        f"a vertical line at zero{marked}. " + "; ".join(ranges) + "."
    )


#: The type size a position plot names the other schools in, and the smallest it shrinks to
#: where their rows crowd: its height is capped at 6 in, to fit the school's one page, so
#: each row gets less room the more schools there are.
NAME_SIZE, SMALLEST_NAME_SIZE = 6.0, 5.0
#: A name's height per line as a share of its type size, with a little air between rows
#: (DejaVu Sans draws a 6 pt label 6.5 pt high).
LINE_HEIGHT = 1.2
#: The position plot's legend entry for the school's own estimate; without its interval when
#: it has none (too few comparison schools), as the alt text says.
OWN_ESTIMATE = "this school (95% CI)"


@literal_text
def position_plot(
    schools: pd.DataFrame, school: str, district: str, pooled: pd.Series, name_others: bool
) -> Figure:
    """Where one PL school's estimate sits among the PL schools' estimates the report shows:
    per subject, every school's estimate (sorted) with its 95% CI, this school's drawn larger
    with its shrunken estimate (a diamond), the pooled effect as a dashed line. The other
    schools are named only with ``name_others``; the alt text never names them otherwise.
    Names that crowd their rows shrink, and under SMALLEST_NAME_SIZE the figure names this
    school alone and says why (the alt text still names them all)."""
    from matplotlib.figure import Figure

    schools = _floats(schools)
    subjects = sorted(set(schools["subject"]))
    if not subjects:
        return empty_plot("Among the PL schools", "No school estimates shown.")
    schools["_name"] = schools["group"].astype(str).map(name_label)
    most = max(int((schools["subject"] == s).sum()) for s in subjects)
    wrapped = name_others and schools["_name"].str.contains("\n").any()
    height = 2.2 + (0.24 if wrapped else 0.16 if name_others else 0.04) * most
    fig = Figure(figsize=(7.5, min(height, 6.0) + LEGEND_HEIGHT), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(subjects)))
    parts = []
    own = []  # (axes, row, label) of this school, where it has an estimate
    n_others = 0  # the most other schools an axes shows
    for ax, subject in zip(axes, subjects, strict=True):
        rows = schools[(schools["subject"] == subject) & _known(schools)]
        rows = rows.sort_values(["estimate", "group", "district"]).reset_index(drop=True)
        mine = (rows["group"] == school) & (rows["district"] == district)
        y = np.arange(len(rows))
        others = rows[~mine]
        n_others = max(n_others, len(others))
        if len(others):  # no legend entry for schools that are not there
            ax.errorbar(
                others["estimate"], y[~mine], xerr=[others["estimate"] - others["ci_low"],
                others["ci_high"] - others["estimate"]], fmt="o", color=GREY, markersize=3,
                elinewidth=0.6, alpha=0.8, label="other PL schools",
            )  # fmt: skip
        colour, marker = STYLE["treated"]
        if mine.any():
            me = rows[mine].iloc[0]
            at = y[mine][0]
            own.append((ax, at, me["_name"]))
            interval = np.isfinite(me["ci_low"]) and np.isfinite(me["ci_high"])
            ax.errorbar(
                [me["estimate"]], [at], xerr=[[me["estimate"] - me["ci_low"]],
                [me["ci_high"] - me["estimate"]]], fmt=marker, color=colour, markersize=8,
                elinewidth=2, capsize=3, zorder=3,
                label=OWN_ESTIMATE if interval else "this school",
            )  # fmt: skip
            if np.isfinite(me["shrunken_estimate"]):
                ax.plot(
                    [me["shrunken_estimate"]], [at], "D", color="black", markersize=5,
                    markerfacecolor="white", label="this school, shrunken", zorder=4,
                )  # fmt: skip
            lower = int((others["estimate"] < me["estimate"]).sum())
            shrunk = me["shrunken_estimate"]
            shrunk = f", shrunken {shrunk:.2f}" if np.isfinite(shrunk) else ""
            rank = (
                f"is above {lower} of the {counted(len(others), 'other PL school')} shown"
                if len(others)
                else "is the only PL school estimate shown"
            )
            ci = f"95% CI {me['ci_low']:.2f} to {me['ci_high']:.2f}" if interval else "no interval"
            parts.append(
                f"{subject}: this school's estimate {me['estimate']:.2f} SD ({ci}{shrunk}) {rank}"
            )
        else:
            parts.append(f"{subject}: no estimate of this school shown")
        if pd.notna(average := pooled.get(subject)):
            ax.axvline(float(average), color=colour, linestyle="--", linewidth=1,
                       label="all PL students")  # fmt: skip
        ax.axvline(0, color="black", linewidth=0.8)
        if name_others:
            ax.set_yticks(y, rows["_name"], fontsize=NAME_SIZE)
            if len(others):
                named = zip(others["group"], others["estimate"], strict=True)
                parts[-1] += " (" + ", ".join(f"{g} {e:.2f}" for g, e in named) + ")"
        else:
            ax.set_yticks([])
        ax.set_title(subject.capitalize())
        ax.set_xlabel("Effect (SD of national scores)")
    legend_below(fig, fontsize=6, first=[OWN_ESTIMATE, "this school", "this school, shrunken"])
    crowded = ""
    if name_others and height > 6.0:  # capped: do the names still fit their rows?
        size = _name_size(fig, lines=2 if wrapped else 1)
        if size is None:
            for ax in axes:
                ax.set_yticks([])
            for ax, at, label in own:
                ax.set_yticks([at], [label], fontsize=NAME_SIZE)
            crowded = (
                f" The other schools are not named in the figure: {n_others} are too many to "
                "name legibly on one page (the report's school table lists them)."
            )
            fig.suptitle(crowded.strip(), fontsize=6, color=GREY)
        elif size < NAME_SIZE:
            for ax in axes:
                ax.tick_params(axis="y", labelsize=size)
    fig.set_label(
        "Each PL school's estimate with its 95% interval, sorted, "
        + ("schools named" if name_others else "other schools not named")
        + "; "
        + "; ".join(parts)
        + "."
        + crowded
    )
    return fig


def _name_size(fig: Figure, lines: int) -> float | None:
    """The type size, at most NAME_SIZE, at which names of ``lines`` lines fit the rows of
    every axes of ``fig`` once laid out; None when that is under SMALLEST_NAME_SIZE."""
    fig.draw_without_rendering()  # constrained layout places the axes
    row = min(  # points
        ax.get_position().height * fig.get_size_inches()[1] * 72 / abs(np.diff(ax.get_ylim())[0])
        for ax in fig.axes
    )
    size = min(NAME_SIZE, row / (LINE_HEIGHT * lines))
    return size if size >= SMALLEST_NAME_SIZE else None
