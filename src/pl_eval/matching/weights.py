"""ATT matching weights from pairs, as MatchIt computes them (``weights.matrix``)."""

from __future__ import annotations

import numpy as np


def att_weights(n: int, treated: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Weights for ``n`` rows given matched pairs of row positions (one entry per pair).

    A matched treated row gets 1; each comparison row gets the sum, over the treated rows it
    serves, of 1 / (number of controls matched to that treated row); comparison weights are then
    rescaled to sum to the number of distinct matched comparison rows. Unmatched rows get 0.
    """
    size = np.bincount(treated, minlength=n)
    weights = (size > 0).astype("float64")
    weights += np.bincount(control, weights=1.0 / size[treated], minlength=n)
    used = np.zeros(n, dtype=bool)
    used[control] = True
    total = weights[used].sum()
    if total > 0:
        weights[used] *= used.sum() / total
    return weights
