"""Minimum detectable effect: the smallest true effect an estimate's design would detect.

MDE = (t_{1−α/2, df} + t_{power, df}) × SE (Bloom 1995, "Minimum detectable effects"; Schochet
2008 for clustered designs), with the estimate's own standard error and t degrees of freedom, so
it carries the design's clustering: for a school-clustered CR2 estimate, its Satterthwaite df.
With df inf (normal intervals) the multiplier is 1.960 + 0.842 = 2.802 at the defaults. A
"not significant" estimate is read against it: the study could detect effects of about the MDE
or larger, not that there was no effect. Hand-written: the formula is one line, and the power
libraries (statsmodels' ``TTestPower``) solve for a standardized effect from a sample size, not
from a clustered SE and df.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

ALPHA = 0.05  # two-sided
POWER = 0.80


def minimum_detectable_effect(
    se: np.ndarray | pd.Series | float,
    df: np.ndarray | pd.Series | float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> np.ndarray | float:
    """(t_{1−α/2, df} + t_{power, df}) × ``se``, in the units of ``se``; NaN where se or df is."""
    se_values = np.asarray(se, dtype=float)
    df_values = np.asarray(df, dtype=float)
    multiplier = special.stdtrit(df_values, 1 - alpha / 2) + special.stdtrit(df_values, power)
    mde = multiplier * se_values
    return float(mde) if np.ndim(mde) == 0 else mde
