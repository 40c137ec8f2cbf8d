"""Inverse-probability weights for the ATT from a propensity score, within exact strata.

WeightIt's ATT weights (``get_w_from_ps(ps, treat, estimand = "ATT")``): a treated unit gets 1, a
comparison unit the odds p / (1 - p) = exp(logit). Here the comparison weights are rescaled
within each exact stratum to sum to the stratum's treated units, so exact strata are balanced
as exact matching balances them. Common support, as MatchIt's ``discard = "both"`` within each
stratum: treated units whose score is outside the comparison units' range are left out
(``outside_support``), comparison units outside the treated units' range get weight 0. A
stratum without comparison units leaves its treated units out (``no_stratum_controls``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Column of a weighted sample giving each student's exact stratum (an integer code), from
#: which a school's or breakout group's comparison weights are rescaled.
STRATUM_COLUMN = "weighting_stratum"


@dataclass(frozen=True)
class OddsWeights:
    """Weights of the rows (0 = left out), and the treated rows left out with their reason."""

    weights: np.ndarray
    unmatched: np.ndarray  # positions of treated rows left out
    reasons: np.ndarray  # reason per left-out treated row


def odds_weights(logit: np.ndarray, treat: np.ndarray, strata: np.ndarray) -> OddsWeights:
    """ATT odds weights of every row, normalised within ``strata`` (int codes), with the
    common-support rule of the module docstring; vectorised over rows."""
    frame = pd.DataFrame({"logit": logit, "treat": treat, "stratum": strata})
    by_arm = frame.groupby(["stratum", "treat"])["logit"]
    lows = by_arm.min().unstack("treat").reindex(columns=[False, True])
    highs = by_arm.max().unstack("treat").reindex(columns=[False, True])
    # the overlap of the two arms' ranges in each stratum (NaN when it lacks an arm)
    low = lows.max(axis=1, skipna=False).reindex(strata).to_numpy()
    high = highs.min(axis=1, skipna=False).reindex(strata).to_numpy()
    no_controls = treat & np.isnan(lows[False].reindex(strata).to_numpy())
    inside = (logit >= low) & (logit <= high)
    odds = np.where(~treat & inside, np.exp(logit), 0.0)
    size = int(strata.max()) + 1
    total_odds = np.bincount(strata, weights=odds, minlength=size)
    kept_treated = treat & inside & (total_odds[strata] > 0)
    n_treated = np.bincount(strata, weights=kept_treated, minlength=size)
    scale = np.divide(n_treated, total_odds, out=np.zeros(size), where=total_odds > 0)
    weights = np.where(kept_treated, 1.0, odds * scale[strata])
    unmatched = np.flatnonzero(treat & ~kept_treated)
    reasons = np.where(no_controls[unmatched], "no_stratum_controls", "outside_support")
    return OddsWeights(weights, unmatched, reasons.astype(object))
