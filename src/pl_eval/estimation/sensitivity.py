"""How strong an omitted confounder would have to be to change an effect estimate.

The omitted-variable-bias framework of Cinelli & Hazlett (2020, "Making sense of sensitivity",
JRSS-B 82(1)), as R's sensemakr computes it: the partial R² of the treatment with the outcome,
the robustness value RV (the share of the residual variance of both treatment and outcome a
confounder must explain to bring the estimate to zero), RV at α = 0.05 (to make it no longer
significant), and bounds "a confounder k times as strong as covariate X would move the
estimate to ..." (``ovb_bounds``' partial-R² bound, kd = ky = k).

Weights and clusters. The bias algebra is exact for the weighted least-squares fit the estimate
uses: every partial R² here is a weighted one, from the fit's own sums of squares, with its
residual df n − k (sensemakr on ``lm(weights = w)``). Inference is the estimate's own: the
school-clustered SE and its Satterthwaite (CR2) or G − 1 (CR1) df. A confounder changes the
model-based SE by the factor sqrt((1 − R²yz)/(1 − R²dz))·sqrt(dof/(dof − 1)); the clustered SE
is taken to change by the same factor, and intervals use the estimate's df. With the model-based
SE and df = dof − 1 this is exactly sensemakr. Feeding the clustered t and Satterthwaite df
into sensemakr's formulas instead would make "partial R²" a number that is no share of any
variance (with 20 df a t of 3 would "explain" 31%), so the two are kept apart: shares of
variance from the fit, significance from the clustered inference. In the same way RV at α
solves sensemakr's equation with the critical f of the clustered interval,
f* = t*(df)·(SE_clustered/SE_model)/sqrt(dof − 1).

Hand-written rather than taken from PySensemakr: that package needs Jupyter and takes only
model-based SEs; the formulas are a dozen lines, checked against the published darfur example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from pl_eval.estimation.cohort import (
    BREAKOUTS,
    OUTCOME,
    TREATMENT,
    EstimateConfig,
    analysis_sample,
    subsample,
)
from pl_eval.estimation.design import prepare_sample
from pl_eval.estimation.errors import EstimationError

ALPHA = 0.05
#: Confounders as strong as, and twice and three times as strong as, each benchmark.
MULTIPLIERS = (1.0, 2.0, 3.0)
#: The covariates a confounder is compared with: the school's poverty and the pretest.
BENCHMARKS = ("frl_pct", "fall_z")


def partial_r2(t: float, dof: float) -> float:
    """Partial R² of a coefficient with the outcome, from its model-based t and residual df."""
    return t**2 / (t**2 + dof)


def robustness_value(f: float, critical_f: float = 0.0) -> float:
    """RV for partial Cohen's f = |t|/sqrt(dof) (times q), less ``critical_f`` for RV at α.

    Eq. 18-19 of Cinelli & Hazlett (2020); when f > 1/critical_f the bound on R²yz binds and
    the extreme value (f² − f*²)/(1 + f²) applies, as sensemakr ≥ 0.1.4 computes it.
    """
    fa = f - critical_f
    if fa <= 0:
        return 0.0
    if critical_f > 0 and f > 1 / critical_f:
        return (f**2 - critical_f**2) / (1 + f**2)
    return 0.5 * (np.sqrt(fa**4 + 4 * fa**2) - fa**2)


def critical_f(se: float, df: float, model_se: float, dof: float, alpha: float = ALPHA) -> float:
    """The critical f of the interval with standard error ``se`` and t ``df`` (the estimate's
    own inference), on the scale of the model-based f: t*(df)·(se/model_se)/sqrt(dof − 1)."""
    return _t_critical(df, alpha) * (se / model_se) / np.sqrt(dof - 1)


def partial_r2_bound(r2dxj_x: float, r2yxj_dx: float, k: float) -> tuple[float, float, str]:
    """R²dz·x and R²yz·dx of a confounder k times as strong as a benchmark covariate whose
    partial R² are ``r2dxj_x`` (with the treatment) and ``r2yxj_dx`` (with the outcome);
    sensemakr's ``ovb_partial_r2_bound`` (kd = ky = k). Impossible strengths give NaN and a
    note; an implied R²yz above 1 is set to 1, as sensemakr does, and noted."""
    r2dz = k * r2dxj_x / (1 - r2dxj_x)
    r2zxj = k * r2dxj_x**2 / ((1 - k * r2dxj_x) * (1 - r2dxj_x))
    if r2dz >= 1 or not 0 <= r2zxj < 1:
        return np.nan, np.nan, f"impossible: {k:g} times the benchmark explains all of PL status"
    r2yz = ((np.sqrt(k) + np.sqrt(r2zxj)) / np.sqrt(1 - r2zxj)) ** 2 * r2yxj_dx / (1 - r2yxj_dx)
    if r2yz > 1:
        return r2dz, 1.0, "implied partial R² with the outcome above 1, set to 1: no interval"
    return r2dz, r2yz, ""


@dataclass(frozen=True)
class Bound:
    """The estimate had a confounder ``multiplier`` times as strong as ``benchmark`` been in
    the model."""

    benchmark: str
    multiplier: float
    r2dz_x: float  # partial R² of such a confounder with the treatment
    r2yz_dx: float  # ... and with the outcome
    adjusted_estimate: float  # moved toward zero by the bias
    adjusted_se: float
    ci_low: float
    ci_high: float
    note: str = ""


@dataclass(frozen=True)
class Sensitivity:
    """Robustness of one effect estimate to an omitted confounder."""

    estimate: float
    se: float  # the estimate's own (clustered) SE
    df: float  # ... and its df
    model_se: float  # model-based WLS SE of the same coefficient
    dof: int  # residual df of the weighted fit, n − k
    partial_r2: float  # R²yd·x
    rv: float  # RV, q = 1
    rv_alpha: float  # RV at α (NaN without an interval)
    bounds: tuple[Bound, ...]
    alpha: float = ALPHA
    note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row per bound (or one row without bounds), the robustness values on each."""
        head = {
            "estimate": self.estimate, "se": self.se, "df": self.df, "model_se": self.model_se,
            "dof": self.dof, "partial_r2": self.partial_r2, "rv": self.rv,
            "rv_alpha": self.rv_alpha, "alpha": self.alpha,
        }  # fmt: skip
        rows = [
            head | {f: getattr(b, f) for f in BOUND_FIELDS} | {"note": _join(self.note, b.note)}
            for b in self.bounds
        ] or [head | dict.fromkeys(BOUND_FIELDS[2:], np.nan) | {"note": self.note}]
        return pd.DataFrame(rows)


BOUND_FIELDS = (
    "benchmark", "multiplier", "r2dz_x", "r2yz_dx", "adjusted_estimate", "adjusted_se",
    "ci_low", "ci_high",
)  # fmt: skip


def sensitivity(
    y: np.ndarray,
    d: np.ndarray,
    controls: np.ndarray,
    w: np.ndarray,
    *,
    se: float,
    df: float,
    benchmarks: dict[str, np.ndarray] | None = None,
    multipliers: Sequence[float] = MULTIPLIERS,
    alpha: float = ALPHA,
) -> Sensitivity:
    """Sensitivity of the coefficient of ``d`` in the weighted regression of ``y`` on ``d`` and
    ``controls`` (rows × terms, the intercept among them) with weights ``w``.

    ``se`` and ``df`` are the estimate's inference (NaN: none; RV at α and the intervals are
    then NaN). ``benchmarks`` maps a covariate's name to the positions of its columns in
    ``controls`` (several for a categorical covariate: its partial R² is the group's).
    """
    moments = _Moments.of(y, d, controls, w)
    full = list(range(1, moments.size))  # d and every control
    rank = moments.rank(full) + 1  # and the intercept
    dof = len(y) - rank
    if dof < 2:
        raise EstimationError(f"too few rows for a sensitivity analysis: residual df {dof}")
    coef, rss_y = moments.fit(0, full)
    rss_y_no_d = moments.fit(0, full[1:])[1]
    if rss_y_no_d <= rss_y or rank <= moments.rank(full[1:]) + 1:
        raise EstimationError("the treatment is collinear with the controls")
    estimate = float(coef[0])
    r2yd = (rss_y_no_d - rss_y) / rss_y_no_d
    t_model = np.sqrt(r2yd / (1 - r2yd) * dof) * np.sign(estimate)
    model_se = estimate / t_model
    f = abs(t_model) / np.sqrt(dof)
    inference = np.isfinite(se) and np.isfinite(df) and se > 0 and df > 0
    f_star = critical_f(se, df, model_se, dof, alpha) if inference else np.nan
    bounds = []
    rss_d = moments.fit(1, full[1:])[1]
    for name, columns in (benchmarks or {}).items():
        without = [j for j in full[1:] if j - 1 not in set(columns)]  # controls[:, j - 1]
        r2dxj = _share(moments.fit(1, without)[1], rss_d)
        r2yxj = _share(moments.fit(0, [1, *without])[1], rss_y)
        for k in multipliers:
            bounds.append(
                _bound(name, k, r2dxj, r2yxj, estimate, model_se, dof, se, df, alpha, inference)
            )
    return Sensitivity(
        estimate=estimate,
        se=se,
        df=df,
        model_se=float(model_se),
        dof=int(dof),
        partial_r2=float(r2yd),
        rv=float(robustness_value(f)),
        rv_alpha=float(robustness_value(f, f_star)) if inference else np.nan,
        bounds=tuple(bounds),
        alpha=alpha,
        note=""
        if inference
        else "no interval for the estimate: RV at α and intervals not computed",
    )


def _bound(
    name: str,
    k: float,
    r2dxj: float,
    r2yxj: float,
    estimate: float,
    model_se: float,
    dof: int,
    se: float,
    df: float,
    alpha: float,
    inference: bool,
) -> Bound:
    """One benchmark bound: the confounder's strength, the adjusted estimate and interval."""
    r2dz, r2yz, note = partial_r2_bound(r2dxj, r2yxj, k)
    if not np.isfinite(r2dz):
        return Bound(name, k, r2dz, r2yz, np.nan, np.nan, np.nan, np.nan, note)
    bias = np.sqrt(r2yz * r2dz / (1 - r2dz)) * model_se * np.sqrt(dof)
    adjusted = float(np.sign(estimate) * (abs(estimate) - bias))
    if not inference or r2yz >= 1:  # all outcome variance explained: no residual, no interval
        return Bound(name, k, r2dz, r2yz, adjusted, np.nan, np.nan, np.nan, note)
    adjusted_se = float(np.sqrt((1 - r2yz) / (1 - r2dz)) * se * np.sqrt(dof / (dof - 1)))
    half = _t_critical(df, alpha) * adjusted_se
    return Bound(name, k, r2dz, r2yz, adjusted, adjusted_se, adjusted - half, adjusted + half, note)


#: Relative eigenvalue below which a set of (scaled) columns is taken as collinear.
RANK_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class _Moments:
    """Weighted cross-products of [y, d, controls] about their weighted means, the controls
    scaled to unit variance: every regression here (with an intercept) is a few small solves
    on them, after one pass over the rows, instead of a least-squares fit over every row each.
    Column 0 is y, 1 is d, 1 + j is ``controls[:, j]`` (j ≥ 1; the intercept is the centring).
    """

    gram: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, d: np.ndarray, controls: np.ndarray, w: np.ndarray) -> _Moments:
        m = np.column_stack([y, d, controls[:, 1:]])
        m = m - (w @ m) / w.sum()
        spread = np.sqrt((w @ m**2) / w.sum())
        scale = np.ones(m.shape[1])
        scale[2:] = np.where(spread[2:] > 0, spread[2:], 1.0)  # constant columns stay 0
        m = m / scale
        return cls((m * w[:, None]).T @ m)

    @property
    def size(self) -> int:
        return len(self.gram)

    def rank(self, columns: list[int]) -> int:
        if not columns:
            return 0
        values = np.linalg.eigvalsh(self.gram[np.ix_(columns, columns)])
        return int((values > RANK_TOL * max(values.max(), 1e-300)).sum())

    def fit(self, target: int, columns: list[int]) -> tuple[np.ndarray, float]:
        """Coefficients (in ``columns``' order; d's unscaled) and the residual sum of squares
        of column ``target`` on ``columns`` and an intercept."""
        if not columns:
            return np.empty(0), float(self.gram[target, target])
        inner = self.gram[np.ix_(columns, columns)]
        cross = self.gram[columns, target]
        coef = np.linalg.pinv(inner, rcond=RANK_TOL, hermitian=True) @ cross
        return coef, float(max(self.gram[target, target] - cross @ coef, 0.0))


def _share(rss_without: float, rss_with: float) -> float:
    """Partial R² of the columns whose removal raises the RSS from ``rss_with``."""
    return max(0.0, (rss_without - rss_with) / rss_without) if rss_without > 0 else 0.0


def _t_critical(df: float, alpha: float) -> float:
    return float(special.stdtrit(df, 1 - alpha / 2))


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def model_arrays(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    *,
    weights: str,
    benchmarks: Sequence[str] = BENCHMARKS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], list[str]]:
    """The arrays :func:`sensitivity` takes for ``outcome ~ treatment + covariates`` weighted
    by ``weights``, encoded as the effect models encode them (same rows, same indicators):
    y, d, controls (intercept first), w, the benchmark covariates' column positions, and a
    note for each benchmark that is not among the covariates (it cannot be a benchmark)."""
    sample = prepare_sample(data, outcome, treatment, covariates, weights=weights)
    controls = sample.design()  # intercept, covariate terms
    terms = ["Intercept", *sample.covariate_terms]
    found, notes = {}, []
    for name in benchmarks:
        columns = [i for i, t in enumerate(terms) if t == name or t.startswith(f"{name}[")]
        if columns:
            found[name] = np.array(columns)
        else:
            notes.append(f"{name} is not in the outcome model (estimate.covariates): no bound")
    return sample.y, sample.treated.astype(float), controls, sample.weights, found, notes


#: confounding.csv: one row per subject × scope × group × benchmark × multiplier.
CONFOUNDING_COLUMNS = [
    "subject", "scope", "group", "n_treated", "n_comparison", "estimate", "se", "df", "mde",
    "model_se",
    "dof", "partial_r2", "rv", "rv_alpha", "alpha", *BOUND_FIELDS, "note",
]  # fmt: skip
#: The estimates a sensitivity analysis is given for.
SCOPES = ("pooled", "sector")
NOT_LEAST_SQUARES = "not computed: the bounds are for least-squares estimates"


def confounding(
    samples: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    estimates: pd.DataFrame,
    config: EstimateConfig,
    *,
    benchmarks: Sequence[str] = BENCHMARKS,
    multipliers: Sequence[float] = MULTIPLIERS,
) -> pd.DataFrame:
    """Sensitivity of each subject's pooled and sector estimates (rows of ``estimates``), from
    the matched samples (matched, pairs) they were estimated on, refitting the same weighted
    least-squares models. The sector model is the breakout's interaction model with each
    sector's effect as its own coefficient, so its estimate is the reported one; a refit whose
    estimate differs from the reported one (a fallback fit) is not used, and says so."""
    rows, prepared = [], {}
    wanted = estimates[estimates["scope"].isin(SCOPES)]
    for row in wanted.itertuples(index=False):
        base = {c: getattr(row, c) for c in ("subject", "scope", "group", "n_treated",
                                              "n_comparison", "estimate", "se", "df")}  # fmt: skip
        # the estimate's minimum detectable effect beside it, read as the estimates table has it
        base["mde"] = getattr(row, "mde", np.nan)
        if row.subject not in prepared and np.isfinite(row.estimate):  # once per subject
            prepared[row.subject] = analysis_sample(*samples[row.subject])
        frame = _one(row, prepared.get(row.subject), estimates, config, benchmarks, multipliers)
        rows.append(frame.assign(**base))  # the reported numbers, which the refit matched
    if not rows:
        return pd.DataFrame(columns=CONFOUNDING_COLUMNS)
    table = pd.concat(rows, ignore_index=True)
    return table.reindex(columns=CONFOUNDING_COLUMNS).astype({"multiplier": "float64"})


def _one(
    row,
    sample: tuple[pd.DataFrame, pd.DataFrame] | None,
    estimates: pd.DataFrame,
    config: EstimateConfig,
    benchmarks: Sequence[str],
    multipliers: Sequence[float],
) -> pd.DataFrame:
    """The sensitivity rows of one estimate, or one row saying why there are none."""
    if not np.isfinite(row.estimate):
        return _note_only(f"no estimate: {row.note}" if row.note else "no estimate")
    if config.model != "ols_cluster":
        return _note_only(f"{NOT_LEAST_SQUARES}; this analysis uses {config.model}")
    data, pairs = sample  # the subject's analysis sample and pairs
    try:
        if row.scope == "pooled":
            y, d, controls, w, found, notes = model_arrays(
                data, OUTCOME, TREATMENT, config.covariates, weights="weight",
                benchmarks=benchmarks,
            )  # fmt: skip
        else:
            sectors = estimates[(estimates["subject"] == row.subject)
                                & (estimates["scope"] == row.scope)]  # fmt: skip
            groups = [g for g, e in zip(sectors["group"], sectors["estimate"], strict=True)
                      if np.isfinite(e)]  # fmt: skip
            y, d, controls, w, found, notes = _group_arrays(
                data, pairs, row.scope, row.group, groups, config.covariates, benchmarks
            )
        result = sensitivity(
            y, d, controls, w, se=row.se, df=row.df, benchmarks=found, multipliers=multipliers
        )
    except EstimationError as exc:
        return _note_only(f"not computed: {exc}")
    if not np.isclose(result.estimate, row.estimate, rtol=1e-6, atol=1e-8):
        return _note_only(
            f"not computed: the refitted model gives {result.estimate:.4f}, not the reported "
            f"{row.estimate:.4f} (the estimate came from a fallback fit)"
        )
    frame = result.to_frame()
    missing = "; ".join(notes)
    return frame.assign(note=[_join(n, missing) for n in frame["note"]])


def _note_only(note: str) -> pd.DataFrame:
    return pd.DataFrame([{"note": note}])


def _group_arrays(
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    scope: str,
    group: str,
    groups: list[str],
    covariates: Sequence[str],
    benchmarks: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], list[str]]:
    """The breakout's interaction model, reparametrised: y on each group's PL indicator, the
    group main effects and the covariates, on the stacked group samples as the breakouts stack
    them; ``d`` is ``group``'s PL indicator, the rest are the controls."""
    column = BREAKOUTS[scope][0]
    treated = data[data["treated"]]
    stacked = pd.concat(
        [
            subsample(
                data, pairs, pd.Index(treated.loc[treated[column] == g, "student_key"])
            ).assign(group=g)
            for g in groups
        ],
        ignore_index=True,
    )
    y, d, controls, w, found, notes = model_arrays(
        stacked, OUTCOME, TREATMENT, covariates, weights="weight", benchmarks=benchmarks
    )
    used = prepare_sample(stacked, OUTCOME, TREATMENT, covariates, weights="weight", group="group")
    levels = [str(level) for level in used.group_levels]
    member = used.group[:, None] == np.arange(len(levels))[None, :]
    target = levels.index(group)
    others = [j for j in range(len(levels)) if j != target]
    extra = [member[:, j] * d for j in others] + [member[:, j] for j in range(1, len(levels))]
    shift = len(extra)  # the covariates' columns move right by the inserted columns
    controls = np.column_stack([controls[:, :1], *extra, controls[:, 1:]])
    found = {name: columns + shift for name, columns in found.items()}
    return y, d * member[:, target], controls, w, found, notes
