"""Balance figures: a Love plot and propensity-score overlap by arm.

Functions return a matplotlib ``Figure`` (built without pyplot, so no global state) and never
save it; the caller's stage does. Colours are Okabe-Ito and arms also differ by marker or
hatching, never by colour alone. Each figure's alt text is its label: ``fig.get_label()``.
matplotlib is imported when a figure is drawn: its 0.35 s import is then paid only by the
commands that draw. Labels are data (covariate levels, school names), drawn literally:
figures are built with mathtext and TeX off (:func:`literal_text`), so "$x$" stays "$x$".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from pl_eval.matching.balance import Balance
from pl_eval.matching.errors import MatchingError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe-Ito colours (colour-blind safe).
ORANGE = "#E69F00"
BLUE = "#0072B2"
GREY = "#555555"
#: What a missing statistic is called on a figure.
NOT_COMPUTABLE = "not computable"
#: Inches a figure grows by to hold a one-row legend under its axes (:func:`legend_below`).
LEGEND_HEIGHT = 0.3

P = ParamSpec("P")
R = TypeVar("R")


def literal_text(draw: Callable[P, R]) -> Callable[P, R]:
    """Build a figure with every text drawn as written: no mathtext ("$...$"), no TeX.

    A Text reads these settings when it is created, so the figure keeps them when saved later.
    """

    @functools.wraps(draw)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)

    return wrapped


def legend_below(
    fig: Figure, handles: list | None = None, fontsize: float = 7, first: Sequence[str] = ()
) -> None:
    """A one-row legend under the figure's axes (its constrained layout makes room), where no
    point or interval can be hidden behind it, as one inside the axes hid a sparse plot's
    lowest rows. ``handles`` are by default every labelled artist of the figure, each label
    once: those labelled as in ``first`` first, in its order, then the others in matplotlib's
    legend order; nothing is drawn when there are none."""
    if handles is None:
        labelled: dict = {}
        for ax in fig.axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                labelled.setdefault(label, handle)
        rank = {label: k for k, label in enumerate(first)}
        handles = [
            labelled[label] for label in sorted(labelled, key=lambda x: rank.get(x, len(rank)))
        ]
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncol=len(handles), fontsize=fontsize,
            frameon=False,
        )  # fmt: skip


@literal_text
def empty_plot(title: str, message: str) -> Figure:
    """A small figure saying why there is nothing to draw (its alt text is the message)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 1.6), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=9, color=GREY)
    fig.set_label(message)
    return fig


@literal_text
def love_plot(balance: Balance, threshold: float | None = None) -> Figure:
    """|SMD| per covariate before (open circles) and after (filled diamonds) matching; a
    covariate whose SMD cannot be computed is labelled "not computable" where its marker
    would be."""
    from matplotlib.figure import Figure

    threshold = balance.threshold if threshold is None else threshold
    table = balance.table
    names = list(dict.fromkeys(table["covariate"])) if len(table) else []
    if not names or table["abs_smd"].isna().all():
        notes = table["note"].dropna().unique() if "note" in table else []
        why = "; ".join(str(n) for n in notes if n) or "no covariates"
        return empty_plot("Covariate balance", f"Balance not computable: {why}.")
    wide = table.pivot(index="covariate", columns="sample", values="abs_smd").reindex(names)
    y = np.arange(len(names))
    fig = Figure(figsize=(6.5, 1.6 + LEGEND_HEIGHT + 0.32 * len(names)), layout="constrained")
    ax = fig.subplots()
    ax.axvline(0, color="0.8", linewidth=0.8)
    ax.axvline(threshold, color=GREY, linestyle="--", linewidth=1, label=f"|SMD| = {threshold:g}")
    ax.scatter(
        wide["all"],
        y,
        marker="o",
        facecolors="none",
        edgecolors=ORANGE,
        linewidths=1.5,
        s=42,
        label="Before matching",
        zorder=3,
    )
    ax.scatter(wide["matched"], y, marker="D", color=BLUE, s=34, label="After matching", zorder=4)
    missing = wide["matched"].isna().to_numpy()
    for row in np.flatnonzero(missing):
        ax.annotate(
            f"after matching: {NOT_COMPUTABLE}", (0, y[row]), xytext=(4, 0),
            textcoords="offset points", va="center", fontsize=7, color=GREY,
        )  # fmt: skip
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("Absolute standardised mean difference (binary: difference in proportions)")
    ax.set_title("Covariate balance")
    legend_below(fig, fontsize=9)
    over = balance.imbalanced()
    fig.set_label(
        f"Love plot of {len(names)} covariates: the largest absolute standardised mean "
        f"difference is {_largest(wide['all'])} before and {_largest(wide['matched'])} after "
        "matching; "
        + (
            f"{len(over)} exceed {threshold:g} after matching."
            if over
            else f"none exceeds {threshold:g} after matching."
        )
        + (f" {int(missing.sum())} not computable after matching." if missing.any() else "")
    )
    return fig


def _largest(values: pd.Series) -> str:
    """The largest of ``values`` to two decimals, or "not computable" when none is known."""
    known = values.dropna()
    return f"{known.max():.2f}" if len(known) else NOT_COMPUTABLE


@literal_text
def overlap_plot(balance: Balance, bins: int = 40) -> Figure:
    """Histograms of the logit score by arm, all rows and matched rows (weighted)."""
    if balance.scores is None:
        raise MatchingError("overlap_plot needs propensity scores; this balance has none (VCG)")
    scores = balance.scores
    return distribution_plot(
        scores["logit"].to_numpy(),
        scores["treated"].to_numpy(),
        scores["weight"].to_numpy(),
        xlabel="Propensity score (logit)",
        alt=(
            "Histograms of the logit propensity score for treated and comparison rows, before "
            f"and after matching; {balance.outside_support} treated rows lie outside the "
            "comparison rows' range."
        ),
        bins=bins,
    )


@literal_text
def baseline_overlap_plot(
    covariates: pd.DataFrame, treated: np.ndarray, weights: np.ndarray
) -> Figure:
    """Overlap of the fall z-score by arm, before and after matching: the VCG's overlap plot
    (a VCG has no propensity score; it matches on the baseline score)."""
    if "fall_z" not in covariates:
        raise MatchingError("the VCG overlap plot needs fall_z among match.covariates")
    return distribution_plot(
        covariates["fall_z"].to_numpy(),
        treated,
        weights,
        xlabel="Fall z-score",
        alt=(
            "Histograms of the fall z-score for treated and comparison rows, before and "
            "after virtual-comparison-group matching."
        ),
    )


@literal_text
def distribution_plot(
    values: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    *,
    xlabel: str,
    alt: str,
    bins: int = 40,
) -> Figure:
    """Histograms of ``values`` by arm, all rows and matched rows (weighted): the overlap of a
    propensity score, or of the baseline score a VCG matches on."""
    from matplotlib.figure import Figure

    values = np.asarray(values, dtype="float64")
    treat = np.asarray(treated, dtype=bool)
    weight = np.asarray(weights, dtype="float64")
    if not len(values):
        return empty_plot("Overlap", "No overlap plot: no students took part in matching.")
    edges = np.histogram_bin_edges(values, bins=bins)
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, title, w in (
        (axes[0], "All rows", np.ones(len(values))),
        (axes[1], "Matched rows (weighted)", weight),
    ):
        for arm, mask, colour, hatch, fill in (
            ("Treated", treat, BLUE, "///", True),
            ("Comparison", ~treat, ORANGE, None, False),  # outline drawn over the fill
        ):
            sel = mask & (w > 0)
            if sel.any():
                ax.hist(
                    values[sel],
                    bins=edges,
                    weights=w[sel],
                    density=True,
                    histtype="stepfilled" if fill else "step",
                    color=colour,
                    alpha=0.45 if fill else 1.0,
                    hatch=hatch,
                    edgecolor=colour,
                    linewidth=1.5,
                    label=arm,
                )
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("Density")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(frameon=False)
    if not (weight > 0).any():
        axes[1].text(0.5, 0.5, "nobody matched", transform=axes[1].transAxes, ha="center")
        alt += " Nobody was matched."
    fig.set_label(alt)
    return fig
