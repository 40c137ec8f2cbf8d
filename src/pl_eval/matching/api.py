"""``match``: one entry point for propensity-score nearest-neighbour matching and VCGs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.matching.errors import MatchingError, MatchingWarning
from pl_eval.matching.nearest import (
    ORDERS,
    CovariateCalipers,
    matching_priority,
    nearest_neighbours,
)
from pl_eval.matching.prepare import Prepared, prepare, treatment_indicator
from pl_eval.matching.propensity import propensity_logit
from pl_eval.matching.result import MatchResult, MatchSettings
from pl_eval.matching.vcg import VCGSettings, vcg_groups
from pl_eval.matching.weighting import entropy_weights, odds_weights
from pl_eval.matching.weights import att_weights

METHODS = ("nearest", "vcg", "ipw", "entropy")
#: Methods that weight every comparison student of a stratum instead of matching pairs.
WEIGHTING = ("ipw", "entropy")


def _as_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_options(
    method: str,
    ratio: int,
    caliper: float | None,
    order: str,
    vcg: VCGSettings | None,
    covariate_calipers: Mapping[str, float] | None,
) -> None:
    if method not in METHODS:
        raise MatchingError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, int | np.integer) or ratio < 1:
        raise MatchingError(f"ratio must be a whole number >= 1, got {ratio!r}")
    if caliper is not None and not (
        isinstance(caliper, int | float) and math.isfinite(caliper) and caliper > 0
    ):
        raise MatchingError(f"caliper must be a positive number of SDs or None, got {caliper!r}")
    if order not in ORDERS:
        raise MatchingError(f"order must be one of {ORDERS}, got {order!r}")
    if vcg is not None and method != "vcg":
        raise MatchingError("vcg settings were given but method is not 'vcg'")
    if vcg is not None and not isinstance(vcg, VCGSettings):
        raise MatchingError(f"vcg must be a VCGSettings, got {type(vcg).__name__}")
    for name, width in (covariate_calipers or {}).items():
        if not (isinstance(width, int | float) and math.isfinite(width) and width > 0):
            raise MatchingError(
                f"covariate caliper on {name!r} must be a positive number of SDs, got {width!r}"
            )
    if covariate_calipers and method != "nearest":
        raise MatchingError("covariate calipers apply to nearest-neighbour matching only")


def match(
    df: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    *,
    exact: str | Sequence[str] | None = None,
    method: str = "nearest",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    order: str = "largest",
    ps_model: object | None = None,
    seed: int = 0,
    missing: str = "error",
    vcg: VCGSettings | None = None,
    covariate_calipers: Mapping[str, float] | None = None,
) -> MatchResult:
    """Match treated rows of ``df`` (``treatment`` == 1) to comparison rows; ``df`` is not changed.

    ``method="ipw"``: no pairs; ATT odds weights from the same propensity model, normalised
    within ``exact`` strata, with a common-support rule (:mod:`pl_eval.matching.weighting`).
    ``method="entropy"``: no pairs and no propensity model; entropy-balancing weights within
    ``exact`` strata that equate the comparison students' means of ``covariates`` (and
    variances of the numeric ones) to the treated students' (:func:`entropy_weights`).
    ``method="nearest"``: greedy nearest neighbour on the logit of a propensity score fitted on
    ``covariates`` (R's ``glm`` logistic fit, or ``ps_model``), within ``exact`` strata, ``ratio``
    controls each, with or without replacement, within ``caliper`` SDs of the logit, treated
    rows taken in ``order`` -- MatchIt 4.7.2's semantics. ``method="vcg"``: NWEA-style virtual
    comparison groups per ``vcg`` (default :class:`VCGSettings`), ``covariates`` only used for
    balance. Numeric covariates enter as they are, text or categorical ones as indicators
    (drop-first in the model, every level in balance). ``missing``: "error", "drop" or
    "impute" (see :func:`pl_eval.matching.prepare.prepare`). ``covariate_calipers`` maps
    numeric columns to calipers in SDs of that column over the rows that take part (MatchIt's
    named ``caliper`` entries with ``std.caliper = TRUE``): a comparison row is eligible only
    when each such column is within its caliper of the treated row's.
    """
    _check_options(method, ratio, caliper, order, vcg, covariate_calipers)
    exact = _as_names(exact)
    covariates = _as_names(covariates)
    covariate_calipers = dict(covariate_calipers or {})
    if method == "vcg":
        vcg = vcg or VCGSettings()
        prepared = prepare(
            df, treatment, covariates, exact, missing, required=vcg.columns, need_model=False
        )
    else:
        prepared = prepare(
            df, treatment, covariates, exact, missing, required=[*covariate_calipers]
        )
    rows = np.flatnonzero(prepared.keep)
    n = len(rows)

    fit = None
    caliper_logit = None
    if method == "nearest":
        fit = propensity_logit(prepared.model, prepared.treat, ps_model)
        if caliper is not None:
            caliper_logit = float(caliper * np.std(fit.logit, ddof=1))
        found = nearest_neighbours(
            fit.logit,
            prepared.treat,
            prepared.strata,
            ratio=int(ratio),
            replace=bool(replace),
            caliper=caliper_logit,
            priority=matching_priority(fit.logit, prepared.treat, order, seed),
            names=prepared.stratum_names,
            calipers=_covariate_calipers(df, rows, covariate_calipers),
        )
        codes, names = prepared.strata, np.asarray(prepared.stratum_names, dtype=object)
        n_short = found.n_short
    elif method == "ipw":
        fit = propensity_logit(prepared.model, prepared.treat, ps_model)
        found = odds_weights(fit.logit, prepared.treat, prepared.strata)
        codes, names = prepared.strata, np.asarray(prepared.stratum_names, dtype=object)
        n_short = 0
    elif method == "entropy":
        binary = set(prepared.binary)
        squared = np.array([name not in binary for name in prepared.model.columns], dtype=bool)
        found = entropy_weights(
            prepared.model.to_numpy(dtype="float64"), prepared.treat, prepared.strata, squared
        )
        codes, names = prepared.strata, np.asarray(prepared.stratum_names, dtype=object)
        n_short = 0
    else:
        cells = _vcg_cells(df, prepared, vcg)
        found = vcg_groups(
            df.iloc[rows], prepared.treat, cells.codes, rows, vcg, seed, names=cells.names
        )
        codes, names = cells.codes, cells.names
        n_short = 0

    if method in WEIGHTING:  # weights, not pairs
        local = found.weights
        found_pairs = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        slots = np.empty(0, dtype=np.int64)
    else:
        local = att_weights(n, found.treated, found.control)
        found_pairs, slots = (found.treated, found.control), found.slot
    if local[prepared.treat].sum() == 0:
        warnings.warn(
            "no treated row was matched; see MatchResult.summary() for the reasons",
            MatchingWarning,
            stacklevel=2,
        )
    index = df.index
    weights = np.zeros(len(df))
    weights[rows] = local
    distance = np.full(len(df), np.nan)
    if fit is not None:
        distance[rows] = fit.logit
    treated_all = treatment_indicator(df, treatment)
    dropped = np.flatnonzero(~prepared.keep)

    dropped_treated = dropped[treated_all[dropped]]
    unmatched = (
        pd.DataFrame(
            {
                "treated": np.concatenate(
                    [index.take(dropped_treated), index.take(rows[found.unmatched])]
                ),
                "reason": np.concatenate(
                    [
                        np.full(len(dropped_treated), "missing_covariate", dtype=object),
                        found.reasons,
                    ]
                ),
                "stratum": np.concatenate(
                    [
                        np.full(len(dropped_treated), None, dtype=object),
                        names[codes[found.unmatched]],
                    ]
                ),
                "position": np.concatenate([dropped_treated, rows[found.unmatched]]),
            }
        )
        .sort_values("position", kind="stable")
        .drop(columns="position")
        .reset_index(drop=True)
    )
    unmatched = unmatched.astype({"reason": "str", "stratum": "string"})

    settings = MatchSettings(
        method=method,
        treatment=treatment,
        covariates=covariates,
        exact=exact,
        ratio=int(ratio),
        replace=bool(replace),
        caliper=None if caliper is None else float(caliper),
        caliper_logit=caliper_logit,
        covariate_calipers=tuple(covariate_calipers.items()),
        order=order,
        seed=int(seed),
        missing=missing,
        ps_model="glm" if ps_model is None else type(ps_model).__name__,
        vcg=vcg,
    )
    return MatchResult(
        weights=pd.Series(weights, index=index, name="weight"),
        distance=pd.Series(distance, index=index, name="distance"),
        treated=pd.Series(treated_all, index=index, name="treated"),
        pairs=pd.DataFrame(
            {
                "treated": index.take(rows[found_pairs[0]]),
                "slot": slots,
                "control": index.take(rows[found_pairs[1]]),
            }
        ),
        unmatched=unmatched,
        excluded=pd.Series(
            "missing_covariate", index=index.take(dropped), name="reason", dtype="str"
        ),
        settings=settings,
        covariates=prepared.covariates,
        binary=prepared.binary,
        propensity=fit,
        n_short=n_short,
        missing_counts=prepared.missing_counts,
        moments=found.moments if method == "entropy" else "",
    )


def _covariate_calipers(
    df: pd.DataFrame, rows: np.ndarray, calipers: dict[str, float]
) -> CovariateCalipers | None:
    """Covariate calipers in the columns' own units: SDs (n - 1) over the rows taking part."""
    if not calipers:
        return None
    values = np.empty((len(rows), len(calipers)))
    for j, name in enumerate(calipers):  # a covariate or two
        column = df[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise MatchingError(f"a caliper needs a numeric column; {name!r} is not numeric")
        values[:, j] = column.to_numpy(dtype="float64")[rows]
    sd = values.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(len(calipers))
    return CovariateCalipers(values, np.asarray(list(calipers.values())) * sd)


@dataclass(frozen=True)
class Cells:
    """Exact cells of the kept rows: a code per row and a label per code."""

    codes: np.ndarray
    names: np.ndarray


def _vcg_cells(df: pd.DataFrame, prepared: Prepared, vcg: VCGSettings) -> Cells:
    """Exact cells refined by the locale group (the VCG's "same urban/rural type")."""
    base = np.asarray(prepared.stratum_names, dtype=object)
    if vcg.locale is None:
        return Cells(prepared.strata, base)
    locale = df[vcg.locale].to_numpy()[prepared.keep]
    if vcg.locale_from_nces:
        codes = pd.to_numeric(pd.Series(locale), errors="coerce")
        if codes.isna().any() or not codes.between(11, 43).all():
            raise MatchingError(
                f"VCG column {vcg.locale!r} must hold NCES locale codes 11-43 "
                "(or set locale_from_nces=False to compare its values as they are)"
            )
        locale = (codes // 10).astype("int64").to_numpy()
    groups = pd.DataFrame({"stratum": prepared.strata, "locale": locale}).groupby(
        ["stratum", "locale"], sort=True
    )
    names = [f"{base[s]}, {vcg.locale}={value}" for s, value in groups.size().index]
    return Cells(groups.ngroup().to_numpy(dtype=np.int64), np.asarray(names, dtype=object))
