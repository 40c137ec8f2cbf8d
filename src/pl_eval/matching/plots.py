"""Balance figures: a Love plot and propensity-score overlap by arm.

Functions return a matplotlib ``Figure`` (built without pyplot, so no global state) and never
save it; the caller's stage does. Colours are Okabe-Ito and arms also differ by marker or
hatching, never by colour alone. Each figure's alt text is its label: ``fig.get_label()``.
matplotlib is imported when a figure is drawn: its 0.35 s import is then paid only by the
commands that draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def love_plot(balance: Balance, threshold: float | None = None) -> Figure:
    """|SMD| per covariate before (open circles) and after (filled diamonds) matching."""
    from matplotlib.figure import Figure

    threshold = balance.threshold if threshold is None else threshold
    table = balance.table
    names = list(dict.fromkeys(table["covariate"]))
    wide = table.pivot(index="covariate", columns="sample", values="abs_smd").reindex(names)
    y = np.arange(len(names))
    fig = Figure(figsize=(6.5, 1.6 + 0.32 * len(names)), layout="constrained")
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
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("Absolute standardised mean difference (binary: difference in proportions)")
    ax.set_title("Covariate balance")
    ax.legend(loc="lower right", frameon=False)
    worst_before = float(np.nanmax(wide["all"])) if len(names) else 0.0
    worst_after = float(np.nanmax(wide["matched"])) if len(names) else 0.0
    over = balance.imbalanced()
    fig.set_label(
        f"Love plot of {len(names)} covariates: the largest absolute standardised mean "
        f"difference is {worst_before:.2f} before and {worst_after:.2f} after matching; "
        + (
            f"{len(over)} exceed {threshold:g} after matching."
            if over
            else f"none exceeds {threshold:g} after matching."
        )
    )
    return fig


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
    axes[0].legend(frameon=False)
    fig.set_label(alt)
    return fig
