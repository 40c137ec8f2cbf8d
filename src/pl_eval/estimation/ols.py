"""Weighted least squares with cluster-robust or heteroskedasticity-robust covariances.

Each covariance is the one R gives for ``fit <- lm(y ~ ..., weights = w)``:

- CR1: ``sandwich::vcovCL(fit, cluster = ~cl, type = "HC1")``, i.e. the weighted scores
  ``w·e·x`` summed by cluster, times G/(G−1)·(N−1)/(N−K) (also Stata's ``vce(cluster)``);
- HC1 (no cluster): ``sandwich::vcovHC(fit, type = "HC1")``, N/(N−K);
- CR2: ``clubSandwich::vcovCR(fit, cluster = cl, type = "CR2")`` with its defaults for lm,
  the Bell–McCaffrey adjustment that treats weights as sampling weights (working model
  Var(e) = σ²I): cluster g's residuals are multiplied by ``[(I−H)(I−H)']_gg^(-1/2)`` with
  ``H = X(X'WX)⁻¹X'W``. Without weights this is also ``vcovCL(type = "HC2")``; with weights
  that vary within clusters sandwich's HC2 uses a different adjustment and differs.
- HC2 (no cluster): the same CR2 with every row its own cluster (``vcovHC(type = "HC2")``
  without weights).

Clustered CR2 fits also carry what the Bell–McCaffrey / Satterthwaite degrees of freedom of
any contrast need (:class:`SmallSample`): ``clubSandwich::coef_test(fit, vcov = "CR2", test =
"Satterthwaite")`` for a coefficient or combination, and the HTZ test of several
(``Wald_test(test = "HTZ")``). CR1 keeps t with G−1 df (``vcovCL`` and Stata), unclustered fits
t with N−K.

The fit is hand-written rather than statsmodels' WLS so that a million rows and a few
thousand clusters take well under a second: one pass builds the Gram matrix of the design
(columns centred, for accuracy), a Cholesky solve gives the coefficients, and cluster sums of
the scores come from ``np.bincount``. Collinear terms are found as R's lm finds them (in
order, tolerance 1e-7) and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from threadpoolctl import threadpool_limits

from pl_eval import lazy
from pl_eval.estimation.errors import EstimationError

stats = lazy.module("scipy.stats")  # for F tests only; 0.6 s to import

#: R's lm tolerance for a column that is a linear combination of earlier columns.
COLLINEARITY_TOL = 1e-7
#: A column whose Gram-matrix residual is within this factor of lm's cut-off has its residual
#: recomputed from the rows: the Gram matrix squares the design's condition, so its residual
#: carries rounding of about 1e-16 times that condition, the size of the cut-off itself
#: (1e-14) for indicators of a few hundred rows. An exactly aliased indicator (a grade within
#: its grade band) then passed the cut-off by chance, and the fit kept two aliased columns.
COLLINEARITY_RECHECK = 1e4
#: clubSandwich's cut-off below which an eigenvalue of the CR2 target is taken as 0.
CR2_EIGEN_TOL = 1e-12
#: Below this an eigenvalue of [(I−H)(I−H)']_gg (in [0, 1]) is a leverage of one, whose CR2
#: adjustment is 0. clubSandwich's cut-off is 1e-12, but rounding leaves ~1e-12 where the exact
#: value is 0 (a breakout group whose PL students are all in one school), and 1e-12^(-1/2)
#: turns that rounding into a weight of a million that swamps the Satterthwaite df.
LEVERAGE_ONE_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class CentredDesign:
    """The design with every column but the intercept (column 0) centred at its weighted mean."""

    x: np.ndarray  # rows × terms
    means: np.ndarray  # weighted column means; 0 for the intercept
    gram: np.ndarray  # x' W x
    norms: np.ndarray  # Σ w·(uncentred column)², the scale a column's residual is judged on
    weights: np.ndarray  # w

    @classmethod
    def build(cls, x: np.ndarray, w: np.ndarray) -> CentredDesign:
        """Centre ``x`` in place (the caller hands it over) and form its weighted Gram matrix."""
        means = (w @ x) / w.sum()
        means[0] = 0.0
        x -= means
        gram = weighted_gram(x, w)
        return cls(x, means, gram, np.diag(gram) + w.sum() * means**2, w)

    def select(self, keep: np.ndarray) -> CentredDesign:
        """The design restricted to the columns where ``keep`` is True."""
        if keep.all():
            return self
        return CentredDesign(
            self.x[:, keep],
            self.means[keep],
            self.gram[np.ix_(keep, keep)],
            self.norms[keep],
            self.weights,
        )

    def to_original(self) -> np.ndarray:
        """T with β = Tβ_centred: only the intercept changes."""
        t = np.eye(len(self.means))
        t[0, 1:] = -self.means[1:]
        return t

    def uncentre(self, coef: np.ndarray, vcov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and covariance for the uncentred columns."""
        to_original = self.to_original()
        vcov = to_original @ vcov @ to_original.T
        return to_original @ coef, (vcov + vcov.T) / 2

    def independent(self, order: list[int] | None = None) -> np.ndarray:
        """Boolean mask of the columns kept, visiting them in ``order`` (default left to right):
        each is kept unless it is (nearly) a combination of the columns kept before it."""
        keep: list[int] = []
        for j in range(self.gram.shape[0]) if order is None else order:  # a dozen terms
            cutoff = COLLINEARITY_TOL**2 * self.norms[j]
            residual = self.gram[j, j]
            if keep:
                g = self.gram[keep, j]
                b = np.linalg.solve(self.gram[np.ix_(keep, keep)], g)
                residual -= g @ b
                if residual <= COLLINEARITY_RECHECK * cutoff:  # Σ w·r² of r itself, as lm's QR
                    r = self.x[:, j] - self.x[:, keep] @ b
                    residual = self.weights @ (r * r)
            if self.norms[j] > 0 and residual > cutoff:
                keep.append(j)
        return np.isin(np.arange(self.gram.shape[0]), keep)


@dataclass(frozen=True, eq=False)
class SmallSample:
    """Per-cluster pieces of a CR2 fit that give the Satterthwaite df of any contrast.

    For a contrast c the CR2 variance is Σ_g (p_g'y)² with p_g = (I−H)_g'A_g W_g X_g M c, so
    under the working model Var(y) = σ²I (clubSandwich's target for lm) its mean is σ² tr P and
    its variance 2σ⁴ ‖P‖², P_gh = p_g'p_h, and df = (tr P)²/‖P‖² (Pustejovsky & Tipton 2018,
    as ``get_P_array`` and ``Satterthwaite`` compute it). P is G × G, but
    P = diag(d) + U K U' with d_g = c'N_g c, the rows of U u_g = Z_g c and a fixed 2K × 2K
    matrix K: so tr P = Σ d_g + Σ u_g'Ku_g and ‖P‖² = Σ d_g² + 2Σ d_g u_g'Ku_g + tr(KSKS),
    S = Σ u_g u_g', all O(G·K²) instead of O(G²). The HTZ test of q contrasts uses the same
    pieces for its q × q blocks of P.
    """

    z: np.ndarray  # G × 2K × K: U_g'A_g W_g X_g M, U_g = [X_g, W_g X_g]
    n: np.ndarray  # G × K × K: M X_g'W_g A_g² W_g X_g M
    kernel: np.ndarray  # 2K × 2K: [[MQM, −M], [−M, 0]]
    to_centred: np.ndarray  # contrasts of the uncentred coefficients, times this, are centred

    def _pieces(self, contrasts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """u (G × 2K × m), d and u'Ku (G × m × m) for the rows of ``contrasts`` (m × K)."""
        c = contrasts @ self.to_centred
        u = self.z @ c.T
        d = c @ self.n @ c.T
        y = u.transpose(0, 2, 1) @ (self.kernel @ u)
        return u, d, y

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row of ``contrasts`` (m × K) as a t-test of c'β."""
        c = contrasts @ self.to_centred
        u = self.z @ c.T
        d = ((c @ self.n) * c).sum(axis=2)  # only the diagonals of _pieces' d and y
        y = (u * (self.kernel @ u)).sum(axis=1)
        by_contrast = u.transpose(2, 0, 1)  # m × G × 2K
        ks = self.kernel @ (by_contrast.transpose(0, 2, 1) @ by_contrast)
        trace = (d + y).sum(axis=0)
        square = (d**2 + 2 * d * y).sum(axis=0) + np.einsum("iab,iba->i", ks, ks)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(square > 0, trace**2 / square, np.nan)

    def htz(self, contrasts: np.ndarray, coef: np.ndarray, vcov: np.ndarray) -> HTZTest:
        """HTZ test that every row of ``contrasts`` (q × K, linearly independent under
        ``vcov``) times ``coef`` is 0, as ``clubSandwich::Wald_test(test = "HTZ")``."""
        q = len(contrasts)
        _, d, y = self._pieces(contrasts)
        omega = (d + y).sum(axis=0)
        values, vectors = np.linalg.eigh(omega)
        values = np.where(values > CR2_EIGEN_TOL, values**-0.5, 0.0)  # R's matrix_power
        u, d, y = self._pieces((vectors * values) @ vectors.T @ contrasts)
        s = np.einsum("gat,gbu->tuab", u, u)
        ks = np.einsum("ab,tubc->tuac", self.kernel, s)

        def trace_product(first: tuple[int, int], second: tuple[int, int]) -> float:
            """tr(B_st B_uv) of the G × G blocks B of the normalised P."""
            (i, j), (k, m) = first, second
            both = d[:, i, j] * (d[:, k, m] + y[:, k, m]) + d[:, k, m] * y[:, i, j]
            return float(both.sum() + np.einsum("ab,ba->", ks[j, k], ks[m, i]))

        total = sum(
            trace_product((i, j), (i, j)) + trace_product((i, i), (j, j))
            for i in range(q)  # q restrictions: a handful
            for j in range(q)
        )
        nu = q * (q + 1) / total if total > 0 else np.nan  # 0: no variation to test against
        b = contrasts @ coef
        wald = float(b @ np.linalg.solve(contrasts @ vcov @ contrasts.T, b))
        delta = max((nu - q + 1) / nu, 0.0) if nu > 0 else np.nan
        df = nu - q + 1
        statistic = delta * wald / q
        p_value = float(stats.f.sf(statistic, q, df)) if df > 0 else np.nan
        return HTZTest(statistic, q, df, p_value, wald)


@dataclass(frozen=True)
class HTZTest:
    """Hotelling's T² approximation with Satterthwaite df (clubSandwich's "HTZ")."""

    statistic: float  # F = δ·W/q, δ = (ν − q + 1)/ν
    df: int  # q
    df_denominator: float  # ν − q + 1
    p_value: float
    wald: float  # W = b'(CVC')⁻¹b


@dataclass(frozen=True, eq=False)
class LeastSquaresFit:
    """Coefficients and robust covariance of a weighted least-squares fit (full-rank terms)."""

    coef: np.ndarray
    vcov: np.ndarray
    df: float  # t degrees of freedom: G−1 with clusters (CR1), N−K without; CR2 clustered: nan
    se_type: str  # "CR1", "CR2", "HC1" or "HC2"
    small_sample: SmallSample | None = None  # CR2 with clusters: Satterthwaite df per contrast


#: Below this many rows per run of one cluster, :func:`_cluster_grams` sorts the rows first.
RUN_ROWS = 16
#: Rows per block in :func:`weighted_gram`: a few MB of scratch space instead of a full copy.
BLOCK_ROWS = 1 << 16


def weighted_gram(
    x: np.ndarray, v: np.ndarray, centres: np.ndarray | None = None, codes: np.ndarray | None = None
) -> np.ndarray:
    """x' diag(v) x, or with each row less its cluster's centre (``centres[codes]``).

    Summed over blocks of rows (each block vectorised) so that no temporary as large as ``x``
    is allocated: at a million rows fresh memory costs more time than the arithmetic.
    """
    k = x.shape[1]
    gram = np.zeros((k, k))
    for start in range(0, len(x), BLOCK_ROWS):
        block = x[start : start + BLOCK_ROWS]
        if centres is not None:
            block = block - centres[codes[start : start + BLOCK_ROWS]]
        gram += block.T @ (block * v[start : start + BLOCK_ROWS, None])
    return gram


def cluster_sums(
    x: np.ndarray, codes: np.ndarray, n_clusters: int, v: np.ndarray | None = None
) -> np.ndarray:
    """Column sums of ``x`` (times ``v`` per row, if given) within each cluster: G × k."""
    return np.column_stack(
        [
            np.bincount(codes, weights=x[:, j] if v is None else x[:, j] * v, minlength=n_clusters)
            for j in range(x.shape[1])  # a loop over a dozen columns, each vectorised
        ]
    )


def fit_wls(
    y: np.ndarray,
    design: CentredDesign,
    w: np.ndarray,
    cluster: np.ndarray | None,
    n_clusters: int | None,
    se: str,
) -> LeastSquaresFit:
    """Fit y on the (full-rank) centred design with weights ``w``; ``se`` is "CR1" or "CR2"."""
    x = design.x
    n, k = x.shape
    factor = _factor(design)
    bread = cho_solve(factor, np.eye(k))
    coef_c = cho_solve(factor, x.T @ (w * y))
    resid = y - x @ coef_c
    small_sample = None
    if cluster is None:
        df = float(n - k)
        if se == "CR1":
            meat, se_type = weighted_gram(x, (w * resid) ** 2) * (n / (n - k)), "HC1"
        else:
            meat, se_type = _hc2_meat(x, w, resid, bread), "HC2"
    elif se == "CR1":
        df = float(n_clusters - 1)
        sums = cluster_sums(x, cluster, n_clusters, w * resid)
        adjust = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        meat, se_type = sums.T @ sums * adjust, "CR1"
    else:
        df, se_type = np.nan, "CR2"
        to_centred = design.to_original()
        meat, small_sample = _cr2(x, w, resid, design.gram, bread, cluster, n_clusters, to_centred)
    coef, vcov = design.uncentre(coef_c, bread @ meat @ bread)
    return LeastSquaresFit(coef, vcov, df, se_type, small_sample)


def wls_indicator_coefficients(
    codes: np.ndarray, n_levels: int, design: CentredDesign, w: np.ndarray
) -> np.ndarray:
    """Centred coefficients (terms × levels) of the indicator of each level of ``codes`` (−1: no
    level) on the design, from one factorisation: X'Wy of an indicator is its level's sum of
    the rows w·x, so every level's comes from one pass over the rows (the same algebra as
    :func:`fit_wls`, summed in another order: equal to rounding)."""
    factor = _factor(design)
    # rows of no level are summed into a spare level, dropped: no copy of the design without them
    spare = np.where(codes >= 0, codes, n_levels)
    sums = cluster_sums(design.x, spare, n_levels + 1, w)[:n_levels]
    return cho_solve(factor, sums.T) if n_levels else np.empty((design.x.shape[1], 0))


def _factor(design: CentredDesign) -> tuple[np.ndarray, bool]:
    n, k = design.x.shape
    if n <= k:
        raise EstimationError(f"too few rows to estimate: {n} rows for {k} coefficients")
    return cho_factor(design.gram)


def _inverse_root(g: np.ndarray) -> np.ndarray:
    """g^(-1/2), with 0 where g is a leverage of one (below :data:`LEVERAGE_ONE_TOL`)."""
    ok = g > LEVERAGE_ONE_TOL
    return np.where(ok, 1 / np.sqrt(np.where(ok, g, 1.0)), 0.0)


def _hc2_meat(x: np.ndarray, w: np.ndarray, resid: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """CR2 meat with one cluster per row: [(I−H)(I−H)']_ii = 1 − 2h_i + x_i M Q M x_i'."""
    q = weighted_gram(x, w**2)
    xm = x @ bread
    leverage = w * np.einsum("ij,ij->i", xm, x)
    target = 1 - 2 * leverage + np.einsum("ij,ij->i", xm @ q, xm)
    scores = x * (w * _inverse_root(target) * resid)[:, None]
    return scores.T @ scores


def _cr2(
    x: np.ndarray,
    w: np.ndarray,
    resid: np.ndarray,
    gram: np.ndarray,
    bread: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    to_centred: np.ndarray,
) -> tuple[np.ndarray, SmallSample]:
    """The CR2 meat Σ_g c_g c_g', c_g = X_g'W_g A_g e_g, A_g = [(I−H)(I−H)']_gg^(-1/2), and the
    pieces of its Satterthwaite df (for contrasts of the uncentred coefficients, which
    ``to_centred``, :meth:`CentredDesign.to_original`, maps to the centred ones); ``gram`` is
    X'WX and ``bread`` its inverse.

    A_g is never formed (clusters can hold thousands of rows). With U_g = [X_g, W_g X_g],
    [(I−H)(I−H)']_gg = I − U_g C U_g' for C = [[−MQM, M], [M, 0]], M = (X'WX)⁻¹, Q = X'W²X, so
    A_g = I + Ũ V diag((1−λ)^(-1/2) − 1) V'Ũ' from the eigen-decomposition VλV' of the small
    R C R, R = S^(1/2), S = U_g'U_g, Ũ = U_g S^(+1/2); and U_g'A_gU_g = S + R V diag(·) V'R
    (likewise for A_g², with (1−λ)⁻¹ − 1). Every step is a 2K × 2K matrix per cluster,
    computed for all clusters at once.

    The algebra runs on the whitened design X L⁻ᵀ (X'WX = LL'), where M = I and C is of the
    order of the weights. On the design itself, terms that are nearly collinear overall (a
    grade and its grade band, M ~ 1e10) make C huge in directions a cluster's rows leave
    empty, and S's eigenvectors, accurate to ~1e-16/(their eigenvalue), then carried rounding
    into R C R at O(1): leverages above 1, and breakout SEs that moved by a percent with the
    order of a sum.
    """
    k = x.shape[1]
    lower = np.linalg.cholesky(gram)
    whiten = solve_triangular(lower, np.eye(k), lower=True).T  # L⁻ᵀ
    q = weighted_gram(x, w**2)
    c = np.block([[-whiten.T @ q @ whiten, np.eye(k)], [np.eye(k), np.zeros((k, k))]])
    with threadpool_limits(1, user_api="blas"):  # G small problems: threads only contend
        s, b = _cluster_grams(x, whiten, w, resid, cluster, n_clusters)
        uau, ua2u, uae = _cr2_adjust(s, b, c)
    # back to the centred design: U = Ũ·blockdiag(L', L'), and L'M = L⁻¹ = whitenᵀ
    components = uae[:, k:] @ lower.T
    small_sample = SmallSample(
        z=np.kron(np.eye(2), lower) @ uau[:, :, k:] @ whiten.T,
        n=whiten @ ua2u[:, k:, k:] @ whiten.T,
        kernel=np.block([[bread @ q @ bread, -bread], [-bread, np.zeros((k, k))]]),
        to_centred=to_centred,
    )
    return components.T @ components, small_sample


def _cluster_grams(
    x: np.ndarray,
    whiten: np.ndarray,
    w: np.ndarray,
    resid: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
) -> tuple[np.ndarray, np.ndarray]:
    """U_g'U_g and U_g'e_g of every cluster, U = [X̃, WX̃] of the whitened design X̃ = x·``whiten``:
    G × 2K × 2K and G × 2K.

    Summed over runs of consecutive rows in one cluster, one matrix product per run: samples
    come in school order (or stacked copies of it), so runs are few and long, and a million
    rows take a fraction of a second instead of a pass over every row per column pair. Rows
    whose clusters interleave are put in cluster order first.
    """
    k = x.shape[1]
    starts = np.flatnonzero(np.r_[True, cluster[1:] != cluster[:-1]])
    if len(starts) > len(x) // RUN_ROWS:
        order = np.argsort(cluster, kind="stable")
        x, w, resid, cluster = x[order], w[order], resid[order], cluster[order]
        starts = np.flatnonzero(np.r_[True, cluster[1:] != cluster[:-1]])
    gram = np.zeros((n_clusters, 2 * k, 2 * k))
    b = np.zeros((n_clusters, 2 * k))
    ends = np.r_[starts[1:], len(x)]
    block = np.empty((int((ends - starts).max()), 2 * k))  # scratch: one run's U at a time
    for start, end in zip(starts, ends, strict=True):  # runs: thousands
        run = block[: end - start]
        np.matmul(x[start:end], whiten, out=run[:, :k])
        np.multiply(run[:, :k], w[start:end, None], out=run[:, k:])
        g = cluster[start]
        gram[g] += run.T @ run
        b[g] += resid[start:end] @ run
    return gram, b


def _cr2_adjust(
    gram: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U_g'A_gU_g, U_g'A_g²U_g and U_g'A_ge_g of every cluster (:func:`_cr2`) from S = ``gram``
    (G × 2K × 2K), U_g'e_g = ``b`` (G × 2K) and C = ``c``.

    R C R = E D^½ (F'CF) D^½ E' on the r_g eigenvectors E of S with positive eigenvalues D
    (F = E D^½), so its eigenproblem is r_g × r_g: a comparison school, whose rows leave many
    of the 2K terms constant, has about half the rank. Clusters of one rank go together.
    """
    mu, e = np.linalg.eigh(gram)  # ascending: the positive eigenvalues come last
    rank = (mu > CR2_EIGEN_TOL * mu.max(axis=1, keepdims=True)).sum(axis=1)
    uau, ua2u, uae = gram.copy(), gram.copy(), b.copy()
    for r in np.unique(rank):  # a few distinct ranks
        g = np.flatnonzero(rank == r)
        kept, root_mu = e[g, :, -r:], np.sqrt(mu[g, -r:])
        f = kept * root_mu[:, None, :]  # E D^½: 2K × r
        lam, v = np.linalg.eigh(f.transpose(0, 2, 1) @ c @ f)
        shrink = _inverse_root(1 - lam) - 1
        rv = f @ v  # S^½ times R C R's eigenvectors
        # V'Ũ'e = V' S^(+1/2) U'e, and U'Ũ = S S^(+1/2) = S^(1/2)
        right = np.einsum("gji,gj->gi", v, np.einsum("gji,gj->gi", kept, b[g]) / root_mu)
        rv_t = rv.transpose(0, 2, 1)
        uae[g] += np.einsum("gij,gj->gi", rv, shrink * right)
        uau[g] += (rv * shrink[:, None, :]) @ rv_t
        ua2u[g] += (rv * ((1 + shrink) ** 2 - 1)[:, None, :]) @ rv_t
    return uau, ua2u, uae
