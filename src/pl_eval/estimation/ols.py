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

The fit is hand-written rather than statsmodels' WLS so that a million rows and a few
thousand clusters take well under a second: one pass builds the Gram matrix of the design
(columns centred, for accuracy), a Cholesky solve gives the coefficients, and cluster sums of
the scores come from ``np.bincount``. Collinear terms are found as R's lm finds them (in
order, tolerance 1e-7) and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from pl_eval.estimation.errors import EstimationError

#: R's lm tolerance for a column that is a linear combination of earlier columns.
COLLINEARITY_TOL = 1e-7
#: clubSandwich's cut-off below which an eigenvalue of the CR2 target is taken as 0.
CR2_EIGEN_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class CentredDesign:
    """The design with every column but the intercept (column 0) centred at its weighted mean."""

    x: np.ndarray  # rows × terms
    means: np.ndarray  # weighted column means; 0 for the intercept
    gram: np.ndarray  # x' W x
    norms: np.ndarray  # Σ w·(uncentred column)², the scale a column's residual is judged on

    @classmethod
    def build(cls, x: np.ndarray, w: np.ndarray) -> CentredDesign:
        """Centre ``x`` in place (the caller hands it over) and form its weighted Gram matrix."""
        means = (w @ x) / w.sum()
        means[0] = 0.0
        x -= means
        gram = weighted_gram(x, w)
        return cls(x, means, gram, np.diag(gram) + w.sum() * means**2)

    def select(self, keep: np.ndarray) -> CentredDesign:
        """The design restricted to the columns where ``keep`` is True."""
        if keep.all():
            return self
        return CentredDesign(
            self.x[:, keep], self.means[keep], self.gram[np.ix_(keep, keep)], self.norms[keep]
        )

    def uncentre(self, coef: np.ndarray, vcov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and covariance for the uncentred columns: only the intercept changes."""
        to_original = np.eye(len(coef))
        to_original[0, 1:] = -self.means[1:]
        vcov = to_original @ vcov @ to_original.T
        return to_original @ coef, (vcov + vcov.T) / 2

    def independent(self, order: list[int] | None = None) -> np.ndarray:
        """Boolean mask of the columns kept, visiting them in ``order`` (default left to right):
        each is kept unless it is (nearly) a combination of the columns kept before it."""
        keep: list[int] = []
        for j in range(self.gram.shape[0]) if order is None else order:  # a dozen terms
            residual = self.gram[j, j]
            if keep:
                g = self.gram[keep, j]
                residual -= g @ np.linalg.solve(self.gram[np.ix_(keep, keep)], g)
            if self.norms[j] > 0 and residual > COLLINEARITY_TOL**2 * self.norms[j]:
                keep.append(j)
        return np.isin(np.arange(self.gram.shape[0]), keep)


@dataclass(frozen=True, eq=False)
class LeastSquaresFit:
    """Coefficients and robust covariance of a weighted least-squares fit (full-rank terms)."""

    coef: np.ndarray
    vcov: np.ndarray
    df: float  # t degrees of freedom: G−1 with clusters, N−K without
    se_type: str  # "CR1", "CR2", "HC1" or "HC2"


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
    if n <= k:
        raise EstimationError(f"too few rows to estimate: {n} rows for {k} coefficients")
    factor = cho_factor(design.gram)
    bread = cho_solve(factor, np.eye(k))
    coef_c = cho_solve(factor, x.T @ (w * y))
    resid = y - x @ coef_c
    if cluster is None:
        df = float(n - k)
        if se == "CR1":
            meat, se_type = weighted_gram(x, (w * resid) ** 2) * (n / (n - k)), "HC1"
        else:
            meat, se_type = _hc2_meat(x, w, resid, bread), "HC2"
    else:
        df = float(n_clusters - 1)
        if se == "CR1":
            sums = cluster_sums(x, cluster, n_clusters, w * resid)
            adjust = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
            meat, se_type = sums.T @ sums * adjust, "CR1"
        else:
            meat, se_type = _cr2_meat(x, w, resid, bread, cluster, n_clusters), "CR2"
    coef, vcov = design.uncentre(coef_c, bread @ meat @ bread)
    return LeastSquaresFit(coef, vcov, df, se_type)


def _inverse_root(g: np.ndarray) -> np.ndarray:
    """g^(-1/2), with 0 where g is below clubSandwich's eigenvalue cut-off."""
    ok = g > CR2_EIGEN_TOL
    return np.where(ok, 1 / np.sqrt(np.where(ok, g, 1.0)), 0.0)


def _hc2_meat(x: np.ndarray, w: np.ndarray, resid: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """CR2 meat with one cluster per row: [(I−H)(I−H)']_ii = 1 − 2h_i + x_i M Q M x_i'."""
    q = weighted_gram(x, w**2)
    xm = x @ bread
    leverage = w * np.einsum("ij,ij->i", xm, x)
    target = 1 - 2 * leverage + np.einsum("ij,ij->i", xm @ q, xm)
    scores = x * (w * _inverse_root(target) * resid)[:, None]
    return scores.T @ scores


def _cr2_meat(
    x: np.ndarray,
    w: np.ndarray,
    resid: np.ndarray,
    bread: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
) -> np.ndarray:
    """Σ_g c_g c_g' with c_g = X_g'W_g A_g e_g and A_g = [(I−H)(I−H)']_gg^(-1/2).

    A_g is never formed (clusters can hold thousands of rows). With U_g = [X_g, W_g X_g],
    [(I−H)(I−H)']_gg = I − U_g C U_g' for C = [[−MQM, M], [M, 0]], M = (X'WX)⁻¹, Q = X'W²X, so
    A_g = I + Ũ V diag((1−λ)^(-1/2) − 1) V'Ũ' from the eigen-decomposition VλV' of the small
    S^(1/2) C S^(1/2), S = U_g'U_g, Ũ = U_g S^(+1/2): every step is a 2K × 2K matrix per
    cluster, computed for all clusters at once.
    """
    k = x.shape[1]
    u = np.hstack([x, x * w[:, None]])
    pairs = [(i, j) for i in range(2 * k) for j in range(i, 2 * k)]
    gram = np.empty((n_clusters, 2 * k, 2 * k))
    for i, j in pairs:  # K(2K+1) column pairs, each one vectorised over rows
        gram[:, i, j] = gram[:, j, i] = np.bincount(cluster, u[:, i] * u[:, j], n_clusters)
    b = cluster_sums(u, cluster, n_clusters, resid)  # U_g'e_g
    q = gram[:, k:, k:].sum(axis=0)
    c = np.block([[-bread @ q @ bread, bread], [bread, np.zeros((k, k))]])

    mu, e = np.linalg.eigh(gram)
    positive = mu > CR2_EIGEN_TOL * mu.max(axis=1, keepdims=True)
    mu = np.where(positive, mu, 1.0)
    et = e.transpose(0, 2, 1)
    root = (e * np.where(positive, np.sqrt(mu), 0.0)[:, None, :]) @ et  # S^(1/2)
    inv_root = (e * np.where(positive, 1 / np.sqrt(mu), 0.0)[:, None, :]) @ et  # S^(+1/2)
    lam, v = np.linalg.eigh(root @ c @ root)
    shrink = _inverse_root(1 - lam) - 1
    left = gram[:, k:, :] @ inv_root @ v  # (W X)_g' Ũ V
    right = np.einsum("gji,gj->gi", v, np.einsum("gij,gj->gi", inv_root, b))  # V'Ũ'e_g
    components = b[:, k:] + np.einsum("gij,gj->gi", left, shrink * right)
    return components.T @ components
