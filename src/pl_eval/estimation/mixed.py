"""Random-intercept linear mixed model by REML, as ``lme4::lmer(y ~ x + (1 | cluster))``.

Model: y = Xβ + b_cluster + e, b ~ N(0, σ²θ²), e_i ~ N(0, σ²/w_i) (lmer's prior weights).

Hand-written because statsmodels' MixedLM is far too slow for a million rows in thousands of
clusters, and with a single variance component nothing iterative over rows is needed: by the
Woodbury identity every quantity REML needs is a closed-form function of θ and of sums that are
computed once (the within-cluster Gram matrix and the clusters' weighted means), so each
evaluation of the profiled REML criterion costs O(G·K²) and θ is found by a one-dimensional
search (a log-spaced grid, then Brent's method around its best point). β is the GLS estimate
at θ̂, its covariance σ̂²(X'V⁻¹X)⁻¹ (what ``vcov(fit)`` reports), σ̂² = r²/(N−K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize_scalar

from pl_eval.estimation.errors import EstimationError
from pl_eval.estimation.ols import CentredDesign, cluster_sums, weighted_gram

#: Where θ (the random-intercept SD over the residual SD) is first looked for: 0 and 1e-3..1e3.
THETA_GRID = np.concatenate([[0.0], np.logspace(-3, 3, 49)])


@dataclass(frozen=True)
class VarianceComponents:
    """REML variance estimates of the random-intercept model, as lme4's VarCorr reports them."""

    cluster: float  # variance of the cluster intercepts (σ²θ²)
    residual: float  # residual variance of a row with weight 1 (σ²)
    theta: float  # relative SD, as getME(fit, "theta")
    reml_criterion: float  # −2 × restricted log-likelihood, as REMLcrit(fit)

    @property
    def icc(self) -> float:
        """Share of the (weight-1) outcome variance that lies between clusters."""
        return self.cluster / (self.cluster + self.residual)


@dataclass(frozen=True, eq=False)
class MixedFit:
    """GLS coefficients at the REML θ, their model-based covariance and the variance components."""

    coef: np.ndarray
    vcov: np.ndarray
    variance: VarianceComponents


def fit_random_intercept(
    y: np.ndarray, design: CentredDesign, w: np.ndarray, cluster: np.ndarray, n_clusters: int
) -> MixedFit:
    """REML fit of y on the full-rank design with random intercepts for ``cluster``."""
    x = design.x
    n, k = x.shape
    if n <= k:
        raise EstimationError(f"too few rows to estimate: {n} rows for {k} coefficients")
    if n_clusters >= n:
        raise EstimationError(
            "a random-intercept model needs clusters with more than one row; every row is its "
            "own cluster here"
        )
    size = np.bincount(cluster, weights=w, minlength=n_clusters)  # s_g = Σ w in the cluster
    xbar = cluster_sums(x, cluster, n_clusters, w) / size[:, None]
    ybar = np.bincount(cluster, weights=w * y, minlength=n_clusters) / size
    yw = y - ybar[cluster]  # within-cluster deviations
    wxx = weighted_gram(x, w, xbar, cluster)
    wxy = x.T @ (w * yw)  # = (x − x̄)'W(y − ȳ): Σ w(y − ȳ) is 0 in every cluster
    wyy = w @ yw**2

    def solve(theta: float):
        # V*⁻¹ = W − θ²ww'/(1+θ²s) per cluster, so X'V*⁻¹X = within + Σ_g h_g x̄_g x̄_g',
        # h_g = s_g/(1+θ²s_g): no cancellation between large terms
        h = size / (1 + theta**2 * size)
        xvx = wxx + (xbar * h[:, None]).T @ xbar
        xvy = wxy + xbar.T @ (h * ybar)
        factor = cho_factor(xvx)
        beta = cho_solve(factor, xvy)
        r2 = wyy + h @ ybar**2 - beta @ xvy
        logdet = 2 * np.log(np.diag(factor[0])).sum()
        return beta, factor, r2, logdet

    def criterion(theta: float) -> float:
        _, _, r2, logdet = solve(theta)
        return np.log1p(theta**2 * size).sum() + logdet + (n - k) * np.log(r2)

    values = np.array([criterion(t) for t in THETA_GRID])  # ~50 evaluations of O(G·K²)
    best = int(np.argmin(values))
    lo, hi = THETA_GRID[max(best - 1, 0)], THETA_GRID[min(best + 1, len(THETA_GRID) - 1)]
    found = minimize_scalar(criterion, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    theta = float(found.x) if found.fun < values[best] else float(THETA_GRID[best])

    beta, factor, r2, logdet = solve(theta)
    sigma2 = r2 / (n - k)
    reml = (
        (n - k) * (1 + np.log(2 * np.pi * sigma2))
        + np.log1p(theta**2 * size).sum()
        + logdet
        - np.log(w).sum()
    )
    coef, vcov = design.uncentre(beta, sigma2 * cho_solve(factor, np.eye(k)))
    variance = VarianceComponents(sigma2 * theta**2, sigma2, theta, float(reml))
    return MixedFit(coef, vcov, variance)
