"""Empirical-Bayes shrinkage of school estimates toward the pooled mean.

The between-school variance τ² of true effects is estimated from the estimates and their
standard errors, by REML or DerSimonian–Laird; each estimate then moves toward the mean by
the share of its variance that is noise: μ + τ²/(τ² + se²)·(estimate − μ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pl_eval import lazy

# Imported when used: combining estimates needs neither.
optimize = lazy.module("scipy.optimize")
meta_analysis = lazy.module("statsmodels.stats.meta_analysis")

METHODS = ("reml", "dl")


@dataclass(frozen=True)
class Shrinkage:
    method: str
    tau2: float  # between-school variance of true effects
    mean: float  # what the estimates are shrunk toward
    shrunken: np.ndarray
    reliability: np.ndarray  # τ²/(τ² + se²): the weight each school's own estimate keeps


def between_variance(estimates: np.ndarray, se: np.ndarray, method: str = "reml") -> float:
    """τ² by REML (hand-written: statsmodels offers DL and Paule–Mandel only) or DL."""
    y, v = np.asarray(estimates, float), np.asarray(se, float) ** 2
    if method not in METHODS:
        raise ValueError(f"shrinkage method must be one of {', '.join(METHODS)}, got {method!r}")
    if len(y) < 2:  # one school: no spread between schools to estimate
        return 0.0
    if method == "dl":
        # statsmodels returns the untruncated moment estimate, negative when noise dominates
        # (its random-effects SE is then the root of a negative number: only τ² is used here).
        with np.errstate(invalid="ignore"):
            return max(0.0, float(meta_analysis.combine_effects(y, v, method_re="chi2").tau2))

    def negative_restricted_loglik(tau2: float) -> float:
        w = 1.0 / (v + tau2)
        mu = np.sum(w * y) / np.sum(w)
        return 0.5 * (np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))

    upper = max(10 * np.var(y, ddof=1), 1e-8)
    best = optimize.minimize_scalar(
        negative_restricted_loglik, bounds=(0.0, upper), method="bounded",
        options={"xatol": 1e-12},
    )  # fmt: skip
    # The bounded search never lands exactly on the boundary; prefer τ² = 0 when it is better.
    tau2 = float(best.x)
    return 0.0 if negative_restricted_loglik(0.0) <= best.fun else tau2


def shrink(
    estimates: np.ndarray, se: np.ndarray, *, method: str = "reml", mean: float | None = None
) -> Shrinkage:
    """Shrink ``estimates`` toward ``mean`` (default: their random-effects mean)."""
    y, v = np.asarray(estimates, float), np.asarray(se, float) ** 2
    tau2 = between_variance(y, np.sqrt(v), method)
    if mean is None:
        w = 1.0 / (v + tau2)
        mean = float(np.sum(w * y) / np.sum(w))
    reliability = tau2 / (tau2 + v) if tau2 > 0 else np.zeros_like(v)
    return Shrinkage(method, tau2, float(mean), mean + reliability * (y - mean), reliability)
