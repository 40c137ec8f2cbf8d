"""Covariate balance and overlap before and after matching (MatchIt/cobalt and WWC conventions).

Per covariate and sample ("all" rows unweighted, "matched" rows with their match weights):
weighted means, the standardised mean difference for the ATT (divided by the SD of the treated
rows in the unmatched sample; binary covariates: raw difference in proportions), the variance
ratio (continuous only), the mean and maximum distance between the weighted eCDFs, and the
WWC baseline-equivalence effect size with its verdict. Also: sample sizes and effective sample
sizes by arm, treated rows outside the comparison rows' range of the score, and the score's
distribution by arm.

A statistic that cannot be computed (an arm with no students in a sample, one student or no
spread among the PL students) is missing, with the verdict "not computable" and a ``note``
saying why, never a warning or a silent NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.matching.prepare import prepare

#: WWC baseline equivalence: |effect size| at or below these is satisfied / needs adjustment.
WWC_SATISFIED = 0.05
WWC_ADJUST = 0.25
#: WWC's Cox index divides a log-odds difference by this to put it on the SD scale.
COX_DIVISOR = 1.65
#: The row label used for the propensity score in balance tables.
DISTANCE_ROW = "propensity (logit)"
SAMPLES = ("all", "matched")
#: Columns of the tidy balance table, in order.
TABLE_COLUMNS = (
    "covariate", "type", "sample", "mean_treated", "mean_comparison", "sd_treated",
    "sd_comparison", "smd", "abs_smd", "var_ratio", "ecdf_mean", "ecdf_max", "effect_size",
    "effect_size_type", "wwc_verdict", "n_treated", "n_comparison", "note",
)  # fmt: skip
#: The verdict of a covariate whose effect size cannot be computed.
NOT_COMPUTABLE = "not computable"


@dataclass(frozen=True, eq=False)
class Balance:
    """Balance diagnostics; ``table`` is tidy, one row per covariate and sample."""

    table: pd.DataFrame
    samples: pd.DataFrame  # per sample and arm: n, sum of weights, effective sample size
    scores: pd.DataFrame | None  # treated, logit, weight per row (for overlap plots)
    score_by_arm: pd.DataFrame | None  # distribution of the logit score per sample and arm
    outside_support: int  # treated rows whose score is outside the comparison rows' range
    threshold: float = 0.1  # |SMD| above this counts as imbalanced

    def to_frame(self) -> pd.DataFrame:
        """The tidy table (for ``balance_<subject>.csv``)."""
        return self.table.copy()

    def imbalanced(self, sample: str = "matched") -> list[str]:
        """Covariates whose |SMD| in ``sample`` exceeds the threshold."""
        table = self.table
        rows = table[(table["sample"] == sample) & (table["covariate"] != DISTANCE_ROW)]
        return rows.loc[rows["smd"].abs() > self.threshold, "covariate"].tolist()

    def summary(self) -> str:
        if self.table.empty:
            return "No covariates to balance."
        wide = self.table.pivot(index="covariate", columns="sample")
        wide = wide.reindex(pd.unique(self.table["covariate"]))
        header = ("covariate", "SMD all", "SMD match", "VR match", "eCDF max", "WWC (matched)")
        rows = [
            (
                str(name), _fmt(row[("smd", "all")]), _fmt(row[("smd", "matched")]),
                _fmt(row[("var_ratio", "matched")]), _fmt(row[("ecdf_max", "matched")]),
                str(row[("wwc_verdict", "matched")]),
            )
            for name, row in wide.iterrows()
        ]  # fmt: skip
        # each column as wide as its widest cell: "not computable" outgrows a number's width
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                cell.ljust(width) if i in (0, len(header) - 1) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            for r in [header, *rows]
        ]
        ess = self.samples.set_index(["sample", "arm"])
        lines.append(
            f"Effective sample size of comparison rows: {ess.loc[('all', 'comparison'), 'ess']:.1f}"
            f" before, {ess.loc[('matched', 'comparison'), 'ess']:.1f} after matching"
        )
        if self.scores is not None:
            lines.append(f"Treated rows outside the comparison score range: {self.outside_support}")
        bad = self.imbalanced()
        lines.append(
            f"Covariates with |SMD| > {self.threshold:g} after matching: "
            + (", ".join(bad) if bad else "none")
        )
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return NOT_COMPUTABLE if pd.isna(value) else f"{value:.3f}"


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float((w * x).sum() / total) if total > 0 else np.nan


def _var(x: np.ndarray, w: np.ndarray) -> float:
    """Unbiased weighted variance with reliability weights, as MatchIt's ``col_w_var``."""
    total = w.sum()
    denom = total**2 - (w**2).sum()
    if denom > 0 and x.min() == x.max():  # exactly none, not the rounding error of the mean
        return 0.0
    return float((w * (x - _mean(x, w)) ** 2).sum() * total / denom) if denom > 0 else np.nan


def _ecdf_gaps(x: np.ndarray, treat: np.ndarray, w: np.ndarray) -> np.ndarray:
    """|F_T - F_C| at each distinct value of ``x`` (weighted eCDFs, as MatchIt's)."""
    if not (w[treat].sum() > 0 and w[~treat].sum() > 0):
        return np.array([np.nan])
    order = np.argsort(x, kind="stable")
    xs, ts, ws = x[order], treat[order], w[order]
    f_t = np.cumsum(np.where(ts, ws, 0.0)) / ws[ts].sum()
    f_c = np.cumsum(np.where(ts, 0.0, ws)) / ws[~ts].sum()
    last = np.r_[xs[1:] != xs[:-1], True]
    return np.abs(f_t - f_c)[last]


def _verdict(es: float) -> str:
    if pd.isna(es):
        return NOT_COMPUTABLE
    if abs(es) <= WWC_SATISFIED:
        return "satisfied"
    if abs(es) <= WWC_ADJUST:
        return "requires adjustment"
    return "not equivalent"


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _stats(
    x: np.ndarray, treat: np.ndarray, w: np.ndarray, is_binary: bool, sd_treated_all: float
) -> dict[str, object]:
    keep = w > 0
    x, t, w = x[keep], treat[keep], w[keep]
    n_t, n_c = int(t.sum()), int((~t).sum())
    if not (n_t and n_c):
        empty = "PL" if not n_t else "comparison"
        return {
            **dict.fromkeys(TABLE_COLUMNS[3:13], np.nan),
            "effect_size_type": "hedges_g",
            "wwc_verdict": NOT_COMPUTABLE,
            "n_treated": n_t,
            "n_comparison": n_c,
            "note": f"no {empty} students",
        }
    m_t, v_t = _mean(x[t], w[t]), _var(x[t], w[t])
    m_c, v_c = _mean(x[~t], w[~t]), _var(x[~t], w[~t])
    diff = m_t - m_c
    n = n_t + n_c
    omega = 1 - 3 / (4 * n - 9)
    if is_binary and 0 < m_t < 1 and 0 < m_c < 1:
        es, es_type = omega * (_logit(m_t) - _logit(m_c)) / COX_DIVISOR, "cox_index"
    else:
        pooled = np.sqrt(((n_t - 1) * v_t + (n_c - 1) * v_c) / (n - 2)) if n > 2 else np.nan
        es = omega * diff / pooled if pooled > 0 else np.nan
        es_type = "hedges_g"
    if is_binary:
        smd, var_ratio = diff, np.nan
        ecdf_mean = ecdf_max = abs(diff)
    else:
        smd = diff / sd_treated_all if sd_treated_all > 0 else np.nan
        var_ratio = v_t / v_c if v_c > 0 else np.nan
        gaps = _ecdf_gaps(x, t, w)
        ecdf_mean, ecdf_max = float(gaps.mean()), float(gaps.max())
    return {
        "mean_treated": m_t,
        "mean_comparison": m_c,
        "sd_treated": np.sqrt(v_t),
        "sd_comparison": np.sqrt(v_c),
        "smd": smd,
        "var_ratio": var_ratio,
        "ecdf_mean": ecdf_mean,
        "ecdf_max": ecdf_max,
        "effect_size": es,
        "effect_size_type": es_type,
        "wwc_verdict": _verdict(es),
        "n_treated": n_t,
        "n_comparison": n_c,
        "note": _why_not_computable(smd, es, n_t, n_c, sd_treated_all),
    }


def _why_not_computable(smd: float, es: float, n_t: int, n_c: int, sd_treated_all: float) -> str:
    """Why the SMD or the effect size is missing ("" when both were computed)."""
    missing = [name for name, value in (("SMD", smd), ("effect size", es)) if np.isnan(value)]
    if not missing:
        return ""
    if n_t < 2 or n_c < 2:
        why = f"{min(n_t, n_c)} student in an arm"
    elif np.isnan(smd) and not sd_treated_all > 0:
        why = "no spread among PL students"
    else:
        why = "no spread within the arms"
    return f"{' and '.join(missing)} not computable: {why}"


def _ess(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0


def compute_balance(
    covariates: pd.DataFrame,
    treat: np.ndarray,
    weights: np.ndarray,
    binary: Sequence[str],
    distance: np.ndarray | None = None,
    threshold: float = 0.1,
) -> Balance:
    """Balance of numeric ``covariates`` between arms, before (all rows) and after (weights)."""
    treat = np.asarray(treat, dtype=bool)
    weights = np.asarray(weights, dtype="float64")
    columns = {name: covariates[name].to_numpy(dtype="float64") for name in covariates.columns}
    kinds = {name: name in set(binary) for name in columns}
    if distance is not None:
        columns = {DISTANCE_ROW: np.asarray(distance, dtype="float64"), **columns}
        kinds = {DISTANCE_ROW: False, **kinds}
    ones = np.ones(len(treat))
    records = []
    for name, x in columns.items():  # loop over a handful of covariates; rows are vectorised
        sd_treated_all = np.sqrt(_var(x[treat], ones[treat])) if treat.sum() > 1 else np.nan
        for sample, w in zip(SAMPLES, (ones, weights), strict=True):
            stats = _stats(x, treat, w, kinds[name], sd_treated_all)
            records.append(
                {
                    "covariate": name,
                    "type": "binary" if kinds[name] else "continuous",
                    "sample": sample,
                    **stats,
                }
            )
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    table["abs_smd"] = table["smd"].abs()
    table = table.astype(
        {
            "covariate": "str",
            "type": "str",
            "sample": "str",
            "effect_size_type": "str",
            "wwc_verdict": "str",
            "note": "str",
        }
    )

    samples = pd.DataFrame.from_records(
        [
            {
                "sample": sample,
                "arm": arm,
                "n": int((w[mask] > 0).sum()),
                "sum_weights": float(w[mask].sum()),
                "ess": _ess(w[mask]),
            }
            for sample, w in zip(SAMPLES, (ones, weights), strict=True)
            for arm, mask in (("treated", treat), ("comparison", ~treat))
        ]
    )
    scores = by_arm = None
    outside = 0
    if distance is not None:
        logit = np.asarray(distance, dtype="float64")
        scores = pd.DataFrame({"treated": treat, "logit": logit, "weight": weights})
        if (~treat).any():
            low, high = logit[~treat].min(), logit[~treat].max()
            outside = int(((logit[treat] < low) | (logit[treat] > high)).sum())
        by_arm = _score_by_arm(logit, treat, weights)
    return Balance(
        table=table,
        samples=samples,
        scores=scores,
        score_by_arm=by_arm,
        outside_support=outside,
        threshold=threshold,
    )


def _score_by_arm(logit: np.ndarray, treat: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """Distribution of the score per sample and arm (matched: rows with weight > 0)."""
    records = []
    for sample, w in zip(SAMPLES, (np.ones(len(treat)), weights), strict=True):
        for arm, mask in (("treated", treat), ("comparison", ~treat)):
            sel = mask & (w > 0)
            x, ww = logit[sel], w[sel]
            q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0]) if len(x) else np.full(5, np.nan)
            records.append(
                {
                    "sample": sample,
                    "arm": arm,
                    "n": int(sel.sum()),
                    "mean": _mean(x, ww),
                    "sd": float(np.sqrt(_var(x, ww))),
                    "min": q[0],
                    "p25": q[1],
                    "median": q[2],
                    "p75": q[3],
                    "max": q[4],
                }
            )
    return pd.DataFrame.from_records(records)


def balance(
    df: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    weights: pd.Series | np.ndarray | None = None,
    distance: pd.Series | np.ndarray | None = None,
    *,
    missing: str = "drop",
    threshold: float = 0.1,
) -> Balance:
    """Balance of ``covariates`` in ``df`` under ``weights`` (aligned to ``df``; default 1).

    Categorical covariates are shown level by level; rows with missing covariates are left out
    under ``missing="drop"`` (the default here, as balance is descriptive).
    """
    prepared = prepare(df, treatment, covariates, missing=missing, need_model=False)
    w = np.ones(len(df)) if weights is None else np.asarray(weights, dtype="float64")
    d = None if distance is None else np.asarray(distance, dtype="float64")[prepared.keep]
    return compute_balance(
        prepared.covariates, prepared.treat, w[prepared.keep], prepared.binary, d, threshold
    )


def not_computable_balance(
    covariates: Sequence[str], n_treated: int, n_comparison: int, why: str
) -> Balance:
    """A balance table of ``covariates`` in which nothing can be computed, saying ``why``."""
    records = [
        dict.fromkeys(TABLE_COLUMNS, np.nan)
        | {
            "covariate": name,
            "type": "",
            "sample": sample,
            "effect_size_type": "",
            "wwc_verdict": NOT_COMPUTABLE,
            "n_treated": n_treated if sample == "all" else 0,
            "n_comparison": n_comparison if sample == "all" else 0,
            "note": why,
        }
        for name in covariates
        for sample in SAMPLES
    ]
    samples = pd.DataFrame(
        [
            {"sample": sample, "arm": arm, "n": 0, "sum_weights": 0.0, "ess": 0.0}
            for sample in SAMPLES
            for arm in ("treated", "comparison")
        ]
    )
    return Balance(
        table=pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS)),
        samples=samples,
        scores=None,
        score_by_arm=None,
        outside_support=0,
    )
