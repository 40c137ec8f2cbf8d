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


#: Largest imbalance entropy balancing may leave, in SDs (of a column among a stratum's
#: comparison students for a mean, of the PL students' column for a variance).
BALANCE_TOL = 1e-6
#: Singular values below this share of the largest mark a direction in which a stratum's
#: comparison students do not vary (a constant column, an indicator fixed by the stratum).
RANK_TOL = 1e-9
#: Newton (trust-region) iterations allowed: a feasible problem converges in a few dozen.
MAX_ITER = 100
MEANS_AND_VARIANCES = "means within strata, variances across them"
MEANS = "means within strata"


@dataclass(frozen=True)
class EntropyWeights:
    """Entropy-balancing weights of the rows (0 = left out), the treated rows left out with
    their reason, and the moments balanced (:data:`MEANS_AND_VARIANCES` or :data:`MEANS`)."""

    weights: np.ndarray
    unmatched: np.ndarray  # positions of treated rows left out
    reasons: np.ndarray  # reason per left-out treated row
    moments: str


@dataclass(frozen=True, eq=False)
class _Stratum:
    """One exact stratum's comparison rows as the dual problem sees them."""

    rows: np.ndarray  # positions of its comparison rows
    n_treated: int
    z: np.ndarray  # rows less the PL students' means, in the directions they vary, standardised
    lam: np.ndarray  # multipliers balancing the means alone


def entropy_weights(
    x: np.ndarray, treat: np.ndarray, strata: np.ndarray, squared: np.ndarray
) -> EntropyWeights:
    """ATT entropy-balancing weights (Hainmueller 2012) within exact strata.

    The comparison rows get the weights closest to uniform (least Kullback-Leibler divergence)
    such that in every stratum they sum to its treated rows (treated rows weigh 1) and their
    weighted means of the columns of ``x`` equal its treated rows' means, and across strata
    the weighted means of the squares of the columns flagged in ``squared`` equal the treated
    rows'. Means and variances of every flagged column are then equal in the cohort, means
    in every stratum (the variances are balanced across strata because a stratum of one PL
    school has no spread in a school-level column, which no weighting of other schools can
    reach). If no weights reach the variances, the means alone are balanced (WeightIt's
    ``moments = 1``). A stratum whose means cannot be reached leaves its treated rows out
    (``not_balanceable``), as one without comparison rows does (``no_stratum_controls``).
    """
    weights = np.where(treat, 1.0, 0.0)
    left_out, reasons, parts = [], [], []
    order = np.argsort(strata, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(strata[order]) != 0]) if len(order) else []
    for rows in np.split(order, starts[1:]) if len(order) else []:  # strata: a few dozen
        mine, theirs = rows[treat[rows]], rows[~treat[rows]]
        if not len(mine):
            continue
        stratum = _stratum(x[theirs], x[mine].mean(axis=0), theirs, len(mine))
        if stratum is None:
            left_out.append(mine)
            reasons += ["not_balanceable" if len(theirs) else "no_stratum_controls"] * len(mine)
            continue
        parts.append(stratum)
    kept = np.ones(len(treat), dtype=bool)
    for rows in left_out:
        kept[rows] = False
    found = _with_variances(x[:, squared], treat & kept, parts) if squared.any() else None
    moments = MEANS if found is None else MEANS_AND_VARIANCES
    for i, part in enumerate(parts):
        weights[part.rows] = part.n_treated * (
            _softmax(part.z @ part.lam) if found is None else found[i]
        )
    for rows in left_out:
        weights[rows] = 0.0
    unmatched = np.concatenate(left_out) if left_out else np.empty(0, dtype=np.int64)
    by_position = np.argsort(unmatched, kind="stable")
    return EntropyWeights(
        weights, unmatched[by_position], np.asarray(reasons, dtype=object)[by_position], moments
    )


def _softmax(eta: np.ndarray) -> np.ndarray:
    p = np.exp(eta - eta.max())
    return p / p.sum()


def _stratum(x: np.ndarray, target: np.ndarray, rows: np.ndarray, n: int) -> _Stratum | None:
    """A stratum's comparison rows ``x`` balanced on their means to ``target``, or None when
    no weights reach it (or there are no rows)."""
    if not len(x):
        return None
    centre = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    centred = (x - centre) / scale
    values, vectors = np.linalg.eigh(centred.T @ centred)  # a few columns: cheaper than an SVD
    varying = values > RANK_TOL**2 * max(values.max(initial=0.0), 1e-300)
    # in a direction the rows do not vary, every row sits at the same offset from the target
    offset = ((centre - target) / scale) @ vectors[:, ~varying]
    if np.abs(offset).max(initial=0.0) > BALANCE_TOL:
        return None
    z = ((x - target) / scale) @ vectors[:, varying]
    lam = _solve([z], [1.0], None)
    return None if lam is None else _Stratum(rows, n, z, lam)


def _with_variances(x: np.ndarray, treated: np.ndarray, parts: list[_Stratum]) -> list | None:
    """Each stratum's comparison weights (summing to 1) with its means balanced as before and,
    across strata, the weighted mean square of each column of ``x`` about the PL students'
    mean equal to theirs; None when no weights reach it."""
    if not parts:
        return None
    mean, sd = x[treated].mean(axis=0), x[treated].std(axis=0)
    if not (sd > 0).all():  # PL students all alike: only a point mass would balance it
        return None
    square = ((x - mean) / sd) ** 2
    target = square[treated].mean(axis=0)
    q = [square[part.rows] - target for part in parts]
    start = np.concatenate([*(part.lam for part in parts), np.zeros(x.shape[1])])
    share = np.array([part.n_treated for part in parts], dtype=float)
    found = _solve([part.z for part in parts], share / share.sum(), q, start)
    if found is None:
        return None
    out, at = [], 0
    for part, extra in zip(parts, q, strict=True):
        k = part.z.shape[1]
        out.append(_softmax(part.z @ found[at : at + k] + extra @ found[-x.shape[1] :]))
        at += k
    return out


def _solve(
    zs: list[np.ndarray],
    shares: list[float] | np.ndarray,
    qs: list[np.ndarray] | None,
    start: np.ndarray | None = None,
) -> np.ndarray | None:
    """Multipliers minimising Σ_s share_s · log Σ_i exp(z_si·λ_s + q_si·γ), the dual of entropy
    balancing, whose gradient is each stratum's weighted mean of z (and the share-weighted mean
    of q): zero where the weights balance them. None when it cannot be brought to zero (the
    targets lie outside what the rows can reach, and the multipliers run off).

    Hand-written with scipy's trust-region Newton solver because the dual is a few lines, and
    the one Python package for entropy balancing (``ebal``) is a new single-author release with
    no exact strata; the dual and its Hessian are those of Hainmueller (2012), section 3.
    """
    from scipy.optimize import minimize

    sizes = [z.shape[1] for z in zs]
    n_q = 0 if qs is None else qs[0].shape[1]
    total = sum(sizes) + n_q
    if total == 0:
        return np.zeros(0)
    cuts = np.cumsum([0, *sizes])

    def pieces(theta: np.ndarray):
        gamma = theta[cuts[-1] :]
        for s, z in enumerate(zs):
            eta = z @ theta[cuts[s] : cuts[s + 1]]
            if n_q:
                eta = eta + qs[s] @ gamma
            yield s, eta, np.column_stack([z, qs[s]]) if n_q else z

    def dual(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.0, np.zeros(total)
        for s, eta, m in pieces(theta):
            top = eta.max()
            p = np.exp(eta - top)
            mass = p.sum()
            value += shares[s] * (top + np.log(mass))
            g = (p / mass) @ m
            grad[cuts[s] : cuts[s + 1]] += shares[s] * g[: sizes[s]]
            grad[cuts[-1] :] += shares[s] * g[sizes[s] :]
        return value, grad

    def hessian(theta: np.ndarray) -> np.ndarray:
        h = np.zeros((total, total))
        for s, eta, m in pieces(theta):
            p = _softmax(eta)
            mean = p @ m
            block = shares[s] * ((m * p[:, None]).T @ m - np.outer(mean, mean))
            at = [*range(cuts[s], cuts[s + 1]), *range(cuts[-1], total)]
            h[np.ix_(at, at)] += block
        return h

    found = minimize(
        dual,
        np.zeros(total) if start is None else start,
        jac=True,
        hess=hessian,
        method="trust-exact",
        options={"gtol": BALANCE_TOL * 1e-3, "maxiter": MAX_ITER},
    )
    if not np.isfinite(found.x).all():
        return None
    # each stratum's mean gaps (its gradient over its share), and the gaps across strata
    grad = dual(found.x)[1]
    scaled = np.concatenate(
        [grad[cuts[s] : cuts[s + 1]] / shares[s] for s in range(len(zs))] + [grad[cuts[-1] :]]
    )
    return found.x if np.abs(scaled).max(initial=0.0) <= BALANCE_TOL else None
