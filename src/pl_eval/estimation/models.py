"""Effect models on any DataFrame: a treatment effect, or treatment effects by group.

``estimate_effect`` fits ``outcome ~ treatment + covariates`` and returns an
:class:`EffectEstimate`; ``estimate_interaction`` fits ``outcome ~ treatment × group +
covariates`` and returns each group's effect and a Wald test that they are all equal
(:class:`InteractionEstimate`). Two models, as R fits them:

- ``model="ols_cluster"``: ``lm(weights=)`` with cluster-robust SEs, ``se="CR1"``
  (``sandwich::vcovCL(type="HC1")``, Stata's ``vce(cluster)``) or ``se="CR2"`` (Bell–McCaffrey,
  ``clubSandwich::vcovCR(type="CR2")``); with no cluster, HC1 (``vcovHC(type="HC1")``) or HC2.
  Confidence intervals and p-values use t with the Bell–McCaffrey / Satterthwaite degrees of
  freedom of each coefficient or combination for clustered CR2 (``clubSandwich::coef_test(fit,
  vcov = "CR2", test = "Satterthwaite")``): with few treated clusters they are small (about
  one per treated cluster beyond the first) even when comparison clusters are many, where G−1
  would count every cluster. Clustered CR1 uses t with G−1 (Stata's and the usual R
  convention), unclustered fits t with N−K.
- ``model="mixed"``: random intercepts for the clusters by REML with one variance for the
  treated arm's clusters and one for the comparison arm's, as ``lme4::lmer(y ~ x + (0 +
  dummy(treated, "1") | cluster) + (0 + dummy(treated, "0") | cluster), weights=)`` (every
  cluster must lie in one arm, and each arm needs two clusters); SEs are lmer's model-based
  ``vcov`` (``se`` is not used), intervals and p-values use t with lmerTest's Satterthwaite df
  of each coefficient or combination, and the test of equal group effects is lmerTest's
  Satterthwaite F (``contest``). See :mod:`pl_eval.estimation.mixed` for why these df.

Rows with a missing value in any column the model reads, and rows with weight 0, are left out
and counted (``n_missing``, ``n_zero_weight``): R's na.omit, and MatchIt's match.data, which
keeps only matched rows. A term that is constant or collinear with earlier terms is dropped as
R's lm drops it, listed in ``dropped`` and warned about (:class:`EstimationWarning`); a
treatment collinear with the covariates, a treatment that does not vary, fewer than two
clusters or an empty sample raise :class:`EstimationError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from pl_eval import lazy
from pl_eval.estimation.design import Sample, prepare_sample
from pl_eval.estimation.errors import EstimationError, EstimationWarning
from pl_eval.estimation.mixed import Satterthwaite, VarianceComponents, fit_arm_intercepts
from pl_eval.estimation.ols import (
    CentredDesign,
    SmallSample,
    fit_wls,
    wls_indicator_coefficients,
)

stats = lazy.module("scipy.stats")  # for F tests only; 0.6 s to import

__all__ = [
    "EffectEstimate",
    "EqualityTest",
    "EstimationError",
    "EstimationWarning",
    "InteractionEstimate",
    "estimate_effect",
    "estimate_indicator_effects",
    "estimate_interaction",
]

MODELS = ("ols_cluster", "mixed")
SE_TYPES = ("CR1", "CR2")
LEVEL = 0.95
INTERCEPT = "Intercept"
INDICATOR = "indicator"  # outcome column of estimate_indicator_effects
COEFFICIENT_COLUMNS = ["estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high"]


@dataclass(frozen=True, eq=False)
class _Fit:
    """A fitted model: coefficients of the terms kept, their covariance and how to test them."""

    terms: tuple[str, ...]
    coef: np.ndarray
    vcov: np.ndarray
    fixed_df: float  # t df of every contrast; nan when small_sample gives them
    se_type: str
    dropped: tuple[str, ...]
    variance: VarianceComponents | None
    # Satterthwaite df per contrast: CR2 clustered (clubSandwich's), mixed (lmerTest's)
    small_sample: SmallSample | Satterthwaite | None = None

    def contrasts(self, combinations: list[dict[str, float]]) -> np.ndarray:
        """Each Σ weight·coefficient (weights by term name) as a row over the terms."""
        return np.array([[c.get(t, 0.0) for t in self.terms] for c in combinations])

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """t degrees of freedom of each row of ``contrasts``."""
        if self.small_sample is None:
            return np.full(len(contrasts), self.fixed_df)
        return self.small_sample.df(contrasts)

    def inference(self, contrasts: np.ndarray) -> pd.DataFrame:
        """Estimate, SE, df, statistic, p-value and 95% CI of each row of ``contrasts``."""
        se = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, self.vcov, contrasts))
        table = pd.DataFrame({"estimate": contrasts @ self.coef, "se": se})
        return _inference(table, self.df(contrasts))

    def coefficients(self) -> pd.DataFrame:
        return (
            self.inference(np.eye(len(self.terms))).set_axis(list(self.terms)).rename_axis("term")
        )


def _inference(table: pd.DataFrame, df: np.ndarray) -> pd.DataFrame:
    """Add df, the statistic, two-sided p-value and 95% CI to a frame of estimate and se.

    df inf is the normal; a df that cannot be computed (nan) gives nan p and CI. (scipy.special's
    t functions rather than scipy.stats': the same numbers, without a distribution object per
    call, which the breakouts of small cohorts make many of.)
    """
    df = np.asarray(df, dtype=float)
    out = table.assign(df=df)
    out["statistic"] = out["estimate"] / out["se"]
    out["p_value"] = 2 * special.stdtr(df, -np.abs(out["statistic"].to_numpy()))
    half = special.stdtrit(df, 0.5 + LEVEL / 2) * out["se"]
    out["ci_low"], out["ci_high"] = out["estimate"] - half, out["estimate"] + half
    return out[COEFFICIENT_COLUMNS]


def _check_options(model: str, se: str, cluster: str | None) -> None:
    if model not in MODELS:
        raise EstimationError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if se not in SE_TYPES:
        raise EstimationError(f"se must be one of {', '.join(SE_TYPES)}; got {se!r}")
    if model == "mixed" and cluster is None:
        raise EstimationError("model 'mixed' needs a cluster column for its random intercepts")


def _fit(
    sample: Sample,
    x: np.ndarray,
    terms: list[str],
    protected: str,
    model: str,
    se: str,
    cluster_name: str | None,
    last: Sequence[str] = (),
) -> _Fit:
    """Drop collinear terms (never ``protected``, checked after the other terms but ``last``),
    then fit ``model``."""
    if sample.cluster is not None and sample.n_clusters < 2:
        raise EstimationError(
            f"cluster column {cluster_name!r} has {sample.n_clusters} distinct value among the "
            "rows used; clustered standard errors and random intercepts need at least 2"
        )
    design, kept, dropped = _independent_design(sample, x, terms, protected, last)
    del x  # with a term dropped the design is a copy: free the full one (a GB at 2M rows)
    if dropped:
        warnings.warn(_dropped_warning(dropped), stacklevel=3)
    if model == "mixed":
        fit = fit_arm_intercepts(
            sample.y, design, sample.weights, sample.treated, sample.cluster, sample.n_clusters
        )
        return _Fit(kept, fit.coef, fit.vcov, np.nan, "model (REML)", dropped, fit.variance,
                    fit.small_sample)  # fmt: skip
    fit = fit_wls(sample.y, design, sample.weights, sample.cluster, sample.n_clusters, se)
    return _Fit(kept, fit.coef, fit.vcov, fit.df, fit.se_type, dropped, None, fit.small_sample)


def _independent_design(
    sample: Sample, x: np.ndarray, terms: list[str], protected: str, last: Sequence[str] = ()
) -> tuple[CentredDesign, tuple[str, ...], tuple[str, ...]]:
    """The centred design without its collinear terms, the terms kept and those dropped."""
    design = CentredDesign.build(x, sample.weights)
    # the treatment is visited after the other main terms, so that a treatment the covariates
    # determine (e.g. indicators of treated schools) is an error rather than a dropped covariate
    position = terms.index(protected)
    later = [terms.index(t) for t in last]
    order = [j for j in range(len(terms)) if j != position and j not in later]
    keep = design.independent([*order, position, *later])
    dropped = tuple(t for t, k in zip(terms, keep, strict=True) if not k)
    if protected in dropped:
        raise EstimationError(
            f"treatment {protected!r} is a combination of the covariates (for example, "
            "indicators that pick out the treated schools); its effect cannot be separated from "
            "theirs"
        )
    kept = tuple(t for t, k in zip(terms, keep, strict=True) if k)
    return design.select(keep), kept, dropped


def _dropped_warning(dropped: tuple[str, ...]) -> EstimationWarning:
    return EstimationWarning(
        f"dropped {', '.join(map(repr, dropped))}: constant or collinear with earlier terms in "
        "the rows used"
    )


@dataclass(frozen=True, eq=False)
class EffectEstimate:
    """A treatment effect with its uncertainty, sample sizes and the full coefficient table."""

    outcome: str
    treatment: str
    model: str  # "ols_cluster" or "mixed"
    se_type: str  # "CR1", "CR2", "HC1", "HC2" or "model (REML)"
    estimate: float
    se: float
    ci_low: float  # 95%
    ci_high: float
    p_value: float  # two-sided
    df: float  # t degrees of freedom of the CI and p-value; inf means normal
    n_obs: int  # rows used
    n_treated: int  # rows used (positive weight) in the treated arm
    n_comparison: int
    n_clusters: int | None
    n_missing: int  # rows left out for a missing value in a column the model reads
    n_zero_weight: int  # rows left out for weight 0
    weighted: bool
    dropped: tuple[str, ...]  # covariate terms dropped as constant or collinear
    coefficients: pd.DataFrame  # every term: estimate, se, statistic, p_value, ci_low, ci_high
    vcov: pd.DataFrame  # covariance of the coefficients
    variance: VarianceComponents | None = None  # mixed model only

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: the effect, its uncertainty, the model and the counts."""
        row = {
            "outcome": self.outcome,
            "treatment": self.treatment,
            "model": self.model,
            "se_type": self.se_type,
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "df": self.df,
            "n_obs": self.n_obs,
            "n_treated": self.n_treated,
            "n_comparison": self.n_comparison,
            "n_clusters": self.n_clusters,
            "n_missing": self.n_missing,
            "n_zero_weight": self.n_zero_weight,
            "dropped": ", ".join(self.dropped),
            "var_cluster_treated": np.nan if self.variance is None else self.variance.treated,
            "var_cluster_comparison": (
                np.nan if self.variance is None else self.variance.comparison
            ),
            "var_residual": np.nan if self.variance is None else self.variance.residual,
        }
        return pd.DataFrame([row])

    def summary(self) -> str:
        """A plain-text report: the effect, the sample, and the coefficient table."""
        lines = [
            f"Effect of {self.treatment!r} on {self.outcome!r}: {_describe(self)}",
            f"  estimate {self.estimate:.4f}  SE {self.se:.4f}  95% CI [{self.ci_low:.4f}, "
            f"{self.ci_high:.4f}]  p = {self.p_value:.4g}  df {self.df:.3g}",
            "  " + _sample_line(self),
        ]
        if self.variance is not None:
            v = self.variance
            lines.append(
                f"  variance between treated clusters {v.treated:.4g}, between comparison "
                f"clusters {v.comparison:.4g}, residual {v.residual:.4g}; REML criterion "
                f"{v.reml_criterion:.2f}"
            )
        if self.dropped:
            lines.append(f"  dropped as constant or collinear: {', '.join(self.dropped)}")
        lines.append(_table(self.coefficients))
        return "\n".join(lines)


def estimate_effect(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    *,
    weights: str | None = None,
    cluster: str | None = None,
    model: str = "ols_cluster",
    se: str = "CR1",
) -> EffectEstimate:
    """Effect of ``treatment`` (0/1 or bool) on ``outcome``, adjusted for ``covariates``.

    ``weights`` and ``cluster`` name columns (or None). See the module docstring for the
    models, standard errors, degrees of freedom and the handling of bad input.
    """
    _check_options(model, se, cluster)
    sample = prepare_sample(df, outcome, treatment, covariates, weights=weights, cluster=cluster)
    terms = [INTERCEPT, treatment, *sample.covariate_terms]
    fit = _fit(sample, sample.design(sample.treated), terms, treatment, model, se, cluster)
    table = fit.coefficients()
    effect = table.loc[treatment]
    return EffectEstimate(
        outcome=outcome,
        treatment=treatment,
        model=model,
        se_type=fit.se_type,
        estimate=float(effect["estimate"]),
        se=float(effect["se"]),
        ci_low=float(effect["ci_low"]),
        ci_high=float(effect["ci_high"]),
        p_value=float(effect["p_value"]),
        df=float(effect["df"]),
        n_obs=sample.n_obs,
        n_treated=int(sample.treated.sum()),
        n_comparison=int((~sample.treated).sum()),
        n_clusters=sample.n_clusters,
        n_missing=sample.n_missing,
        n_zero_weight=sample.n_zero_weight,
        weighted=weights is not None,
        dropped=fit.dropped,
        coefficients=table,
        vcov=pd.DataFrame(fit.vcov, index=fit.terms, columns=fit.terms),
        variance=fit.variance,
    )


def estimate_indicator_effects(
    df: pd.DataFrame,
    column: str,
    levels: Sequence,
    treatment: str,
    covariates: Sequence[str] = (),
    *,
    weights: str | None = None,
) -> np.ndarray:
    """The effect of ``treatment`` on the indicator of each of ``levels`` of ``column`` (1 where
    the column holds the level, else 0), from the same rows, weights and terms: what
    ``estimate_effect`` gives for each indicator as the outcome (equal to rounding), for the
    cost of one fit: the design is built, checked and factored once, and every level's X'Wy is
    its rows' sum of w·x, from one pass over the rows. Unclustered least squares: the estimate
    does not depend on the standard errors."""
    if not len(levels):
        return np.empty(0)
    if column not in df.columns:
        raise EstimationError(f"indicator column {column!r} is not in the frame")
    # the indicators are never missing: rows are chosen as for any of them (copy-on-write)
    sample = prepare_sample(
        df.assign(**{INDICATOR: 0.0}), INDICATOR, treatment, covariates, weights=weights
    )
    terms = [INTERCEPT, treatment, *sample.covariate_terms]
    design, kept, dropped = _independent_design(
        sample, sample.design(sample.treated), terms, treatment
    )
    if dropped:
        warnings.warn(_dropped_warning(dropped), stacklevel=2)
    codes, found = pd.factorize(df[column][sample.rows])  # missing values: -1
    # centred coefficients: only the intercept differs from the uncentred ones
    effects = wls_indicator_coefficients(codes, len(found), design, sample.weights)
    effects = np.append(effects[kept.index(treatment)], 0.0)  # last: a level no row holds
    code = dict(zip(found, range(len(found)), strict=True))
    return effects[[code.get(level, len(found)) for level in levels]]


@dataclass(frozen=True)
class EqualityTest:
    """Wald test that the treatment effect is the same in every estimable group.

    ``method`` "HTZ" for clustered CR2: clubSandwich's Hotelling T² approximation, F(df, ν−df+1)
    = δ·W/df with ν its Satterthwaite df and δ = (ν−df+1)/ν (Pustejovsky & Tipton 2018), W the
    Wald statistic of the interaction terms with the CR2 covariance. "Wald F" for CR1 and
    unclustered fits: F(df, df_denominator) = W/df, df_denominator G−1 when clustered, N−K
    otherwise, as Stata's ``test`` after ``regress, vce(cluster)``. "Satterthwaite F" for the
    mixed model: W/df on lmerTest's Satterthwaite denominator df (``contest(joint = TRUE)``).
    """

    statistic: float
    df: int  # restrictions tested (groups compared − 1, less any the covariance cannot support)
    df_denominator: float  # inf for chi²
    distribution: str  # "F"
    p_value: float
    groups: tuple  # the groups compared
    note: str = ""  # why there is no test, when there is none
    method: str = ""  # "HTZ", "Wald F" or "Satterthwaite F"


@dataclass(frozen=True, eq=False)
class InteractionEstimate:
    """Treatment effects by group from one interaction model, and the test of their equality."""

    outcome: str
    treatment: str
    group: str  # the group column
    model: str
    se_type: str
    groups: pd.DataFrame  # one row per group: group, estimate, se, ci_low, ci_high, p_value,
    #                       df, n_treated, n_comparison, n_clusters, note (why no estimate)
    test: EqualityTest
    n_obs: int  # rows used in the model (those of estimable groups)
    n_missing: int
    n_zero_weight: int
    n_clusters: int | None
    weighted: bool
    dropped: tuple[str, ...]
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    variance: VarianceComponents | None = None

    @property
    def statistic(self) -> float:
        return self.test.statistic

    @property
    def df(self) -> int:
        return self.test.df

    @property
    def p_value(self) -> float:
        return self.test.p_value

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per group, each carrying the equality test."""
        return self.groups.assign(
            outcome=self.outcome,
            treatment=self.treatment,
            group_column=self.group,
            model=self.model,
            se_type=self.se_type,
            test_statistic=self.test.statistic,
            test_distribution=self.test.distribution,
            test_df=self.test.df,
            test_df_denominator=self.test.df_denominator,
            test_p_value=self.test.p_value,
        )

    def summary(self) -> str:
        """A plain-text report: effects by group, the equality test and the coefficient table."""
        t = self.test
        if t.note:
            verdict = f"no test of equal effects: {t.note}"
        else:
            verdict = (
                f"equal effects ({t.method}): F({t.df}, {t.df_denominator:.3g}) = {t.statistic:.3f}"
            )
        if not t.note:
            verdict += f", p = {t.p_value:.4g}"
        groups = self.groups.set_index("group")
        lines = [
            f"Effect of {self.treatment!r} on {self.outcome!r} by {self.group!r}: "
            + _describe(self),
            groups.to_string(float_format=lambda v: f"{v:.4f}"),
            "  " + verdict,
        ]
        if self.dropped:
            lines.append(f"  dropped as constant or collinear: {', '.join(self.dropped)}")
        return "\n".join(lines)


def estimate_interaction(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    group: str,
    covariates: Sequence[str] = (),
    *,
    weights: str | None = None,
    cluster: str | None = None,
    model: str = "ols_cluster",
    se: str = "CR1",
) -> InteractionEstimate:
    """Effect of ``treatment`` in each level of ``group``, from one model with a treatment ×
    group interaction, group main effects and ``covariates``, and a test of equal effects.

    A group's effect is the treatment coefficient plus its interaction (the first group is the
    reference), with its SE from the same covariance. A group without rows in both arms gets
    NaN with a note and its rows are left out of the model; the test compares the rest. A
    covariate named like ``group`` is already in the model as its main effects.
    """
    _check_options(model, se, cluster)
    sample = prepare_sample(
        df, outcome, treatment, covariates, weights=weights, cluster=cluster, group=group
    )
    levels = sample.group_levels
    n_levels = len(levels)
    n_treated = np.bincount(sample.group[sample.treated], minlength=n_levels)
    n_comparison = np.bincount(sample.group[~sample.treated], minlength=n_levels)
    notes = np.where(
        n_treated == 0, "no treated rows", np.where(n_comparison == 0, "no comparison rows", "")
    ).astype(object)
    estimable = np.flatnonzero(notes == "")
    if estimable.size == 0:
        raise EstimationError(
            f"no group of {group!r} has rows in both arms of {treatment!r}; no effect to estimate"
        )
    used = sample.subset(np.isin(sample.group, estimable))
    index = np.searchsorted(estimable, used.group)  # 0 = the reference group
    others = index[:, None] == np.arange(1, estimable.size)[None, :]
    names = [str(levels[i]) for i in estimable[1:]]
    main_terms = [f"{group}[T.{name}]" for name in names]
    interaction_terms = [f"{treatment}:{group}[T.{name}]" for name in names]
    terms = [INTERCEPT, treatment, *main_terms, *used.covariate_terms, *interaction_terms]
    interactions = tuple(column & used.treated for column in others.T)
    fit = _fit(
        used, used.design(used.treated, *others.T, extra=interactions), terms, treatment, model,
        se, cluster, last=interaction_terms,
    )  # fmt: skip

    identified, combinations = [], []
    for position, level in enumerate(estimable):  # a handful of groups
        combination = {treatment: 1.0}
        if position:
            term = interaction_terms[position - 1]
            if term not in fit.terms:
                notes[level] = "not identified: collinear with other terms"
                continue
            combination[term] = 1.0
        identified.append(level)
        combinations.append(combination)
    table = pd.DataFrame(np.nan, index=range(n_levels), columns=COEFFICIENT_COLUMNS)
    table.loc[identified] = fit.inference(fit.contrasts(combinations)).to_numpy()
    table = table.drop(columns="statistic")
    table.insert(0, "group", list(levels))
    n_clusters = _clusters_per_group(sample)
    table = table.assign(
        n_treated=n_treated, n_comparison=n_comparison, n_clusters=n_clusters, note=notes
    ).reset_index(drop=True)
    tested = tuple(levels[i] for i, note in enumerate(notes) if note == "")
    return InteractionEstimate(
        outcome=outcome,
        treatment=treatment,
        group=group,
        model=model,
        se_type=fit.se_type,
        groups=table,
        test=_equality_test(fit, [t for t in interaction_terms if t in fit.terms], tested),
        n_obs=used.n_obs,
        n_missing=sample.n_missing,
        n_zero_weight=sample.n_zero_weight,
        n_clusters=used.n_clusters,
        weighted=weights is not None,
        dropped=fit.dropped,
        coefficients=fit.coefficients(),
        vcov=pd.DataFrame(fit.vcov, index=fit.terms, columns=fit.terms),
        variance=fit.variance,
    )


def _clusters_per_group(sample: Sample) -> np.ndarray | None:
    """Distinct clusters among each group's rows (None when unclustered)."""
    if sample.cluster is None:
        return None
    n_groups, n_clusters = len(sample.group_levels), sample.n_clusters
    pairs = sample.group.astype(np.int64) * n_clusters + sample.cluster  # counted, not sorted
    present = np.bincount(pairs, minlength=n_groups * n_clusters) > 0
    return present.reshape(n_groups, n_clusters).sum(axis=1)


def _equality_test(fit: _Fit, terms: list[str], groups: tuple) -> EqualityTest:
    """Wald test that every interaction term in ``terms`` is 0 (all group effects equal)."""
    mixed = isinstance(fit.small_sample, Satterthwaite)
    method = "Satterthwaite F" if mixed else "HTZ" if fit.small_sample else "Wald F"
    if not terms:
        return _no_test(groups, method, "fewer than two groups with an estimable effect")
    if mixed:
        f = fit.small_sample.f_test(fit.contrasts([{t: 1.0} for t in terms]), fit.coef)
        return EqualityTest(f.statistic, f.df, f.df_denominator, "F", f.p_value, groups,
                            method=method)  # fmt: skip
    where = [fit.terms.index(t) for t in terms]
    b, v = fit.coef[where], fit.vcov[np.ix_(where, where)]
    # a clustered covariance has rank at most G−1: test the restrictions it supports
    values, vectors = np.linalg.eigh(v)
    ok = values > 1e-10 * values.max()
    q = int(ok.sum())
    if q == 0:  # e.g. effects fitted exactly: no sampling variation to test a difference against
        return _no_test(groups, method, "no test: the group effects' covariance is zero")
    if fit.small_sample is not None:
        contrasts = vectors[:, ok].T @ np.eye(len(fit.terms))[where]
        htz = fit.small_sample.htz(contrasts, fit.coef, fit.vcov)
        return EqualityTest(
            htz.statistic, q, htz.df_denominator, "F", htz.p_value, groups, method=method
        )
    wald = float(((vectors[:, ok].T @ b) ** 2 / values[ok]).sum())
    statistic, df = wald / q, fit.fixed_df
    p_value = float(stats.f.sf(statistic, q, df))
    return EqualityTest(statistic, q, df, "F", p_value, groups, method=method)


def _no_test(groups: tuple, method: str, note: str) -> EqualityTest:
    """No equality test of ``groups``, with ``note`` saying why."""
    return EqualityTest(np.nan, 0, np.nan, "F", np.nan, groups, note=note, method=method)


def _describe(fit: EffectEstimate | InteractionEstimate) -> str:
    if fit.model == "mixed":
        return (
            "random cluster intercepts, one variance per arm (REML), model-based SEs, "
            "Satterthwaite t intervals"
        )
    how = "weighted least squares" if fit.weighted else "least squares"
    clustered = f" over {fit.n_clusters} clusters" if fit.n_clusters is not None else ""
    return f"{how}, {fit.se_type} standard errors{clustered}"


def _sample_line(fit: EffectEstimate) -> str:
    clusters = f" in {fit.n_clusters:,} clusters" if fit.n_clusters is not None else ""
    return (
        f"{fit.n_obs:,} rows ({fit.n_treated:,} treated, {fit.n_comparison:,} comparison)"
        f"{clusters}; left out: {fit.n_missing:,} with a missing value, {fit.n_zero_weight:,} "
        "with weight 0"
    )


def _table(coefficients: pd.DataFrame) -> str:
    shown = coefficients.rename(columns={"statistic": "t"})
    return shown.to_string(float_format=lambda v: f"{v:.4f}")
