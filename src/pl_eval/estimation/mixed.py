"""School random intercepts with one variance per arm, by REML, with Satterthwaite df.

The model, as lme4 writes it (every cluster lies in one arm, so each cluster has one intercept,
drawn with its arm's variance)::

    lmer(y ~ treated + covariates + (0 + dummy(treated, "1") | cluster)
         + (0 + dummy(treated, "0") | cluster), weights = w, REML = TRUE)

y = Xβ + b_g + e, b_g ~ N(0, σ²θ_a²) for a cluster g of arm a (treated, comparison), e_i ~
N(0, σ²/w_i) (lmer's prior weights). PL and comparison schools need not vary alike: PL schools
differ in how they implement the model, and a single variance shared with the many comparison
schools misstates the uncertainty of a contrast that rests on the few PL schools.

Hand-written because statsmodels' MixedLM is far too slow for a million rows in thousands of
clusters, and with one intercept per cluster nothing iterative over rows is needed: V is
block-diagonal and, by the Woodbury identity, every quantity REML needs is a closed-form
function of (θ_treated, θ_comparison) and of sums computed once (the within-cluster Gram matrix
and the clusters' weighted means), so each evaluation of the profiled REML criterion, its
gradient and its Hessian costs O(G·K²). θ is found on a coarse log-spaced grid, then by L-BFGS-B
with the analytic gradient. β is the GLS estimate at θ̂, its covariance σ̂²(X'V⁻¹X)⁻¹ (what
``vcov(fit)`` reports), σ̂² = r²/(N−K).

Small-sample inference (:class:`Satterthwaite`): the t df of a contrast c'β is lmerTest's
Satterthwaite df, 2·(c'Cc)² / (g'Ag), with g the gradient of c'C(θ, σ)c in (θ_treated,
θ_comparison, σ) and A twice the inverse Hessian of the REML deviance there — both analytic
here, where lmerTest differentiates numerically. With arm-specific variances this is the
mixed-model analogue of Welch's test: when the PL schools' variance dominates, the df fall to
about the number of PL schools less one, however many comparison schools there are. (Kenward–
Roger, pbkrtest's method, also inflates the covariance, but pbkrtest 0.5 takes the residual
covariance as σ²I, ignoring lmer's prior weights, which the matched samples carry, and builds
N × N matrices; a between-within df, SAS's and nlme's, counts every school and so ignores that
the contrast rests on few PL schools.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from pl_eval import lazy
from pl_eval.estimation.errors import EstimationError
from pl_eval.estimation.ols import CentredDesign, cluster_sums, weighted_gram

stats = lazy.module("scipy.stats")  # imported when used: 0.6 s
optimize = lazy.module("scipy.optimize")

#: Where each arm's θ (its intercept SD over the residual SD) is first looked for: 0 and
#: 1e-3..1e3, in steps of ×10^0.75; L-BFGS-B then starts from the best grid point.
THETA_GRID = np.concatenate([[0.0], np.logspace(-3, 3, 9)])
#: Upper bound of θ in the search: an intercept SD a thousand residual SDs.
THETA_MAX = 1e3
#: lmerTest's tolerance: eigenvalues of the deviance's Hessian at or below it are left out of
#: its (pseudo-)inverse.
HESSIAN_TOL = 1e-8
#: lmerTest's relative tolerance for a direction of a joint test with no variance.
F_TEST_TOL = np.sqrt(np.finfo(float).eps)
ARMS = ("treated", "comparison")


@dataclass(frozen=True)
class VarianceComponents:
    """REML variance estimates, as lme4's VarCorr reports them, and the REML criterion."""

    treated: float  # variance of the treated arm's cluster intercepts, σ²θ_treated²
    comparison: float  # variance of the comparison arm's cluster intercepts
    residual: float  # residual variance of a row with weight 1 (σ²)
    theta: tuple[float, float]  # (treated, comparison) relative SDs, as getME(fit, "theta")
    reml_criterion: float  # −2 × restricted log-likelihood, as REMLcrit(fit)


@dataclass(frozen=True)
class FTest:
    """lmerTest's Satterthwaite F-test that several contrasts are all 0."""

    statistic: float  # Wald / q
    df: int  # q, the contrasts with variance
    df_denominator: float
    p_value: float


@dataclass(frozen=True, eq=False)
class Satterthwaite:
    """The covariance of the coefficients and what its Satterthwaite df need.

    ``jacobian[i]`` is ∂vcov/∂p_i for p = (θ_treated, θ_comparison, σ), ``varpar_vcov`` the
    asymptotic covariance of p: twice the pseudo-inverse of the REML deviance's Hessian
    (lmerTest's ``Jac_list`` and ``vcov_varpar``).
    """

    vcov: np.ndarray  # K × K
    jacobian: np.ndarray  # 3 × K × K
    varpar_vcov: np.ndarray  # 3 × 3

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row c of ``contrasts``: 2(c'Vc)² / (g'Ag), g_i = c'J_i c."""
        variance = np.einsum("mk,kl,ml->m", contrasts, self.vcov, contrasts)
        gradient = np.einsum("mk,ikl,ml->mi", contrasts, self.jacobian, contrasts)
        spread = np.einsum("mi,ij,mj->m", gradient, self.varpar_vcov, gradient)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(spread > 0, 2 * variance**2 / spread, np.nan)

    def f_test(self, contrasts: np.ndarray, coef: np.ndarray) -> FTest:
        """F-test that every row of ``contrasts`` times ``coef`` is 0, as lmerTest's
        ``contest(joint = TRUE)``: the Wald statistic over q on the eigen-directions of the
        contrasts' covariance, denominator df from their Satterthwaite df ν_m (2E/(E − q), E =
        Σ ν_m/(ν_m − 2); 2 when a ν_m ≤ 2; their mean when all are equal)."""
        values, vectors = np.linalg.eigh(contrasts @ self.vcov @ contrasts.T)
        values, vectors = values[::-1], vectors[:, ::-1]  # decreasing, as R's eigen
        kept = values > max(F_TEST_TOL * values[0], 0.0)
        q = int(kept.sum())
        directions = vectors[:, kept].T @ contrasts
        statistic = float(((directions @ coef) ** 2 / values[kept]).sum() / q)
        nu = self.df(directions)
        if q == 1 or np.all(np.abs(np.diff(nu)) < 1e-8):
            df = float(nu.mean())
        elif np.any(nu <= 2):
            df = 2.0
        else:
            e = float((nu / (nu - 2)).sum())
            df = 2 * e / (e - q)
        return FTest(statistic, q, df, float(stats.f.sf(statistic, q, df)))


@dataclass(frozen=True, eq=False)
class MixedFit:
    """GLS coefficients at the REML θ, their model-based covariance, the variance components
    and the Satterthwaite pieces (``small_sample.vcov`` is ``vcov``)."""

    coef: np.ndarray
    vcov: np.ndarray
    variance: VarianceComponents
    small_sample: Satterthwaite


@dataclass(frozen=True, eq=False)
class _Sums:
    """What the criterion needs, summed once over the rows: per cluster and within clusters."""

    size: np.ndarray  # G: s_g = Σ w in the cluster
    arm: np.ndarray  # G: 0 treated, 1 comparison
    xbar: np.ndarray  # G × K: weighted cluster means of the design
    ybar: np.ndarray  # G
    wxx: np.ndarray  # K × K: (x − x̄)'W(x − x̄)
    wxy: np.ndarray  # K
    wyy: float
    n_free: int  # N − K


@dataclass(frozen=True, eq=False)
class _State:
    """Everything at one θ: GLS solution, residual sum of squares and the per-cluster terms."""

    theta: np.ndarray  # 2
    h: np.ndarray  # G: s/(1 + θ²s)
    dh: np.ndarray  # G: ∂h/∂θ_arm
    factor: tuple  # Cholesky factor of M = X'V*⁻¹X (V* = V/σ²)
    beta: np.ndarray
    r2: float  # penalised weighted residual sum of squares
    e: np.ndarray  # G: ȳ − x̄'β
    logdet: float  # log det M

    def criterion(self, sums: _Sums) -> float:
        """The profiled REML criterion, less constants."""
        logq = np.log1p(self.theta[sums.arm] ** 2 * sums.size).sum()
        return logq + self.logdet + sums.n_free * np.log(self.r2)


def _state(sums: _Sums, theta: np.ndarray) -> _State:
    # V*⁻¹ = W − θ²ww'/(1+θ²s) per cluster, so X'V*⁻¹X = within + Σ_g h_g x̄_g x̄_g',
    # h_g = s_g/(1+θ²s_g): no cancellation between large terms
    t = theta[sums.arm]
    h = sums.size / (1 + t**2 * sums.size)
    m = sums.wxx + (sums.xbar * h[:, None]).T @ sums.xbar
    b = sums.wxy + sums.xbar.T @ (h * sums.ybar)
    factor = cho_factor(m)
    beta = cho_solve(factor, b)
    e = sums.ybar - sums.xbar @ beta
    # r² = Σ w(y − ȳ − (x − x̄)'β)² + Σ h_g e_g²: both terms non-negative
    r2 = sums.wyy - 2 * sums.wxy @ beta + beta @ sums.wxx @ beta + h @ e**2
    logdet = 2 * np.log(np.diag(factor[0])).sum()
    return _State(theta, h, -2 * t * h**2, factor, beta, float(r2), e, float(logdet))


def _leverage(sums: _Sums, s: _State) -> np.ndarray:
    """x̄_g'M⁻¹x̄_g of every cluster."""
    m_inv = cho_solve(s.factor, np.eye(len(s.beta)))
    return np.einsum("gk,gk->g", sums.xbar @ m_inv, sums.xbar)


def _gradient(sums: _Sums, s: _State) -> np.ndarray:
    """∂(profiled criterion)/∂θ per arm: 2θh + h'·x̄'M⁻¹x̄ + (N−K)/r²·h'e², summed by arm."""
    t = s.theta[sums.arm]
    leverage = _leverage(sums, s)
    per_cluster = 2 * t * s.h + s.dh * leverage + sums.n_free / s.r2 * s.dh * s.e**2
    return np.bincount(sums.arm, weights=per_cluster, minlength=2)


def _deviance_hessian(sums: _Sums, s: _State, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the REML deviance in (θ_treated, θ_comparison, σ), and ∂M/∂θ per arm.

    D = Σ log(1+θ²s) + log det M + r²/σ² + (N−K) log(2πσ²), as lmerTest's ``devfun_vp``; r² is
    minimised over β at every θ, so ∂r²/∂θ_a = Σ_a h'e² and ∂²r²/∂θ_a∂θ_b = δ_ab Σ_a h''e² −
    2 v_a'M⁻¹v_b with v_a = Σ_a h' e x̄.
    """
    t = s.theta[sums.arm]
    d2h = -2 * s.h**2 + 8 * t**2 * s.h**3
    in_arm = [sums.arm == a for a in range(2)]
    dm = np.array([(sums.xbar[m] * s.dh[m, None]).T @ sums.xbar[m] for m in in_arm])
    m_inv_dm = np.array([cho_solve(s.factor, d) for d in dm])
    v = np.array([sums.xbar[m].T @ (s.dh[m] * s.e[m]) for m in in_arm])
    m_inv_v = cho_solve(s.factor, v.T)
    leverage = _leverage(sums, s)
    diagonal = (2 * s.h - 4 * t**2 * s.h**2) + d2h * leverage + d2h * s.e**2 / sigma**2
    hessian = np.zeros((3, 3))
    hessian[:2, :2] = (
        np.diag(np.bincount(sums.arm, weights=diagonal, minlength=2))
        - np.einsum("aij,bji->ab", m_inv_dm, m_inv_dm)
        - 2 * v @ m_inv_v / sigma**2
    )
    dr2 = np.bincount(sums.arm, weights=s.dh * s.e**2, minlength=2)
    hessian[:2, 2] = hessian[2, :2] = -2 * dr2 / sigma**3
    hessian[2, 2] = 6 * s.r2 / sigma**4 - 2 * sums.n_free / sigma**2
    return hessian, dm


def _cluster_arms(treated: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Each cluster's arm (0 treated, 1 comparison); every cluster must lie in one arm, and each
    arm needs two clusters for its variance to be told apart from the treatment effect."""
    rows = np.bincount(cluster, minlength=n_clusters)
    share = np.bincount(cluster, weights=treated, minlength=n_clusters) / rows
    if np.any((share > 0) & (share < 1)):
        raise EstimationError(
            "model 'mixed' gives each arm its own cluster-intercept variance, so every cluster "
            f"must lie in one arm; {int(((share > 0) & (share < 1)).sum())} clusters have rows "
            "in both"
        )
    arm = np.where(share == 1, 0, 1)
    counts = np.bincount(arm, minlength=2)
    if counts.min() < 2:
        raise EstimationError(
            "model 'mixed' needs at least 2 clusters in each arm to estimate each arm's "
            f"intercept variance; found {counts[0]} treated and {counts[1]} comparison"
        )
    return arm


def fit_arm_intercepts(
    y: np.ndarray,
    design: CentredDesign,
    w: np.ndarray,
    treated: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
) -> MixedFit:
    """REML fit of y on the full-rank design with one random-intercept variance per arm."""
    x = design.x
    n, k = x.shape
    if n <= k:
        raise EstimationError(f"too few rows to estimate: {n} rows for {k} coefficients")
    arm = _cluster_arms(treated, cluster, n_clusters)
    size = np.bincount(cluster, weights=w, minlength=n_clusters)
    xbar = cluster_sums(x, cluster, n_clusters, w) / size[:, None]
    ybar = np.bincount(cluster, weights=w * y, minlength=n_clusters) / size
    yw = y - ybar[cluster]  # within-cluster deviations
    sums = _Sums(
        size=size,
        arm=arm,
        xbar=xbar,
        ybar=ybar,
        wxx=weighted_gram(x, w, xbar, cluster),
        wxy=x.T @ (w * yw),  # = (x − x̄)'W(y − ȳ): Σ w(y − ȳ) is 0 in every cluster
        wyy=float(w @ yw**2),
        n_free=n - k,
    )
    theta = _optimum(sums)
    s = _state(sums, theta)
    sigma2 = s.r2 / (n - k)
    sigma = float(np.sqrt(sigma2))
    reml = (
        (n - k) * (1 + np.log(2 * np.pi * sigma2))
        + np.log1p(theta[arm] ** 2 * size).sum()
        + s.logdet
        - np.log(w).sum()
    )
    m_inv = cho_solve(s.factor, np.eye(k))
    hessian, dm = _deviance_hessian(sums, s, sigma)
    jacobian = np.array([*(-sigma2 * m_inv @ d @ m_inv for d in dm), 2 * sigma * m_inv])
    to_original = design.to_original()
    coef, vcov = design.uncentre(s.beta, sigma2 * m_inv)
    jacobian = to_original @ jacobian @ to_original.T
    variance = VarianceComponents(
        treated=float(sigma2 * theta[0] ** 2),
        comparison=float(sigma2 * theta[1] ** 2),
        residual=float(sigma2),
        theta=(float(theta[0]), float(theta[1])),
        reml_criterion=float(reml),
    )
    satterthwaite = Satterthwaite(vcov, (jacobian + jacobian.transpose(0, 2, 1)) / 2,
                                  2 * _pseudo_inverse(hessian))  # fmt: skip
    return MixedFit(coef, vcov, variance, satterthwaite)


def _optimum(sums: _Sums) -> np.ndarray:
    """θ minimising the profiled REML criterion: best point of the grid, then L-BFGS-B; an arm
    whose θ ends near 0 is set to 0 when that is no worse (the criterion is even in θ, so its
    gradient vanishes at 0 and a search only creeps towards it)."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        s = _state(sums, theta)
        return s.criterion(sums), _gradient(sums, s)

    grid = [
        (_state(sums, np.array([a, b])).criterion(sums), a, b)
        for a in THETA_GRID  # 10 × 10 evaluations of O(G·K²)
        for b in THETA_GRID
    ]
    start = np.array(min(grid)[1:])
    found = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, THETA_MAX)] * 2,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 500},
    )  # fmt: skip
    theta = found.x if found.fun <= min(grid)[0] else start
    best = objective(theta)[0]
    for a in range(2):
        zeroed = theta.copy()
        zeroed[a] = 0.0
        value = objective(zeroed)[0]
        if value <= best:
            theta, best = zeroed, value
    return theta


def _pseudo_inverse(hessian: np.ndarray) -> np.ndarray:
    """Moore–Penrose inverse over the eigenvalues above :data:`HESSIAN_TOL`, as lmerTest."""
    values, vectors = np.linalg.eigh(hessian)
    kept = values > HESSIAN_TOL
    return (vectors[:, kept] / values[kept]) @ vectors[:, kept].T
