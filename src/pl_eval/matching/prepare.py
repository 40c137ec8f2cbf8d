"""Check a frame for matching and build its model matrix, balance covariates and exact strata.

Every row of the input either takes part in matching or is left out with a reason, so the
result can account for all rows (``missing_covariate`` is the only reason decided here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.matching.errors import MatchingError

MISSING_POLICIES = ("error", "drop", "impute")
#: Level given to missing values of a categorical covariate under ``missing="impute"``.
MISSING_LEVEL = "(missing)"


@dataclass(frozen=True)
class Prepared:
    """The rows that take part in matching and what matching and balance need from them."""

    keep: np.ndarray  # bool over the input rows: True where the row takes part
    treat: np.ndarray  # bool over kept rows
    model: pd.DataFrame  # propensity model matrix (no intercept), kept rows, float64
    covariates: pd.DataFrame  # balance covariates (every level of categoricals), kept rows
    binary: tuple[str, ...]  # columns of ``covariates`` that are 0/1
    strata: np.ndarray  # int code of each kept row's exact cell (0 when no exact matching)
    stratum_names: tuple[str, ...]  # label of each code, e.g. "grade=5"
    missing_counts: dict[str, int]  # rows with a missing value, per covariate or exact column


def treatment_indicator(df: pd.DataFrame, treatment: str) -> np.ndarray:
    """The treatment column as booleans; raise :class:`MatchingError` unless it is 0/1."""
    if treatment not in df.columns:
        raise MatchingError(f"treatment column {treatment!r} is not in the frame")
    col = df[treatment]
    n_missing = int(col.isna().sum())
    if n_missing:
        raise MatchingError(
            f"treatment column {treatment!r} has {n_missing} missing value(s); every row must be "
            "1 (treated) or 0 (comparison)"
        )
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=float)
        bad = ~np.isin(values, (0.0, 1.0))
        if not bad.any():
            return values == 1.0
        kind, found = "", pd.unique(col[bad])[:5]
    else:
        kind, found = "text ", pd.unique(col)[:5]
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in found)
    raise MatchingError(
        f"treatment column {treatment!r} must hold 0/1 (or True/False); found {kind}{shown}"
    )


def _check_columns(df: pd.DataFrame, names: Sequence[str], role: str) -> None:
    absent = [name for name in names if name not in df.columns]
    if absent:
        raise MatchingError(f"{role} column(s) not in the frame: {', '.join(map(repr, absent))}")


def _is_categorical(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _missing_message(counts: dict[str, int]) -> str:
    listed = ", ".join(f"{name} ({n} row{'s' if n != 1 else ''})" for name, n in counts.items())
    return (
        f"matching columns have missing values: {listed}; pass missing='drop' to leave those "
        "rows out "
        "(counted as missing_covariate) or missing='impute' to mean-impute with a missingness "
        "indicator"
    )


def prepare(
    df: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    exact: Sequence[str] = (),
    missing: str = "error",
    *,
    required: Sequence[str] = (),
    need_model: bool = True,
) -> Prepared:
    """Validate ``df`` and build what matching needs; never modifies ``df``.

    ``missing`` decides rows with a missing covariate or exact value: ``"error"`` raises,
    ``"drop"`` leaves them out, ``"impute"`` fills numeric covariates with the mean of the kept
    rows plus a ``<name>_missing`` indicator, categoricals with a ``(missing)`` level (a row
    missing an exact value is still left out: there is no cell to impute it into).
    ``required`` columns (e.g. the VCG's baseline and dates) are treated like exact columns.
    """
    if not isinstance(df, pd.DataFrame):
        raise MatchingError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if missing not in MISSING_POLICIES:
        raise MatchingError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    covariates, exact = list(covariates), list(exact)
    fixed = list(dict.fromkeys(exact + list(required)))
    if len(df) == 0:
        raise MatchingError("the frame is empty: there are no rows to match")
    if not df.index.is_unique:
        raise MatchingError(
            "the frame's index has duplicate labels, so weights cannot be aligned to rows; "
            "call reset_index() first"
        )
    if need_model and not covariates:
        raise MatchingError("give at least one covariate for the propensity model")
    _check_columns(df, covariates, "covariate")
    _check_columns(df, exact, "exact")
    _check_columns(df, required, "required")
    if treatment in covariates:
        raise MatchingError(f"the treatment column {treatment!r} cannot also be a covariate")
    treat_all = treatment_indicator(df, treatment)

    for name in covariates:
        col = df[name]
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            raise MatchingError(
                f"covariate {name!r} is a date; give a number (e.g. days since a reference date)"
            )
        if not _is_categorical(col):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            n_inf = int(np.isinf(values).sum())
            if n_inf:
                raise MatchingError(f"covariate {name!r} has {n_inf} infinite value(s)")

    missing_counts = {
        name: int(n)
        for name in dict.fromkeys(covariates + fixed)
        if (n := df[name].isna().sum()) > 0
    }
    if missing_counts and missing == "error":
        raise MatchingError(_missing_message(missing_counts))
    drop_cols = fixed if missing == "impute" else list(dict.fromkeys(covariates + fixed))
    keep = ~df[drop_cols].isna().any(axis=1).to_numpy() if drop_cols else np.ones(len(df), bool)
    treat = treat_all[keep]
    if not treat.any():
        raise MatchingError(
            "no treated rows (treatment == 1) are left to match"
            + (" after leaving out rows with missing values" if not keep.all() else "")
        )
    if treat.all():
        raise MatchingError(
            "no comparison rows (treatment == 0) are left to match"
            + (" after leaving out rows with missing values" if not keep.all() else "")
        )

    columns = list(dict.fromkeys(covariates + exact))
    kept = df[columns] if keep.all() else df.loc[keep, columns]
    model: dict[str, pd.Series] = {}
    balance_cols: dict[str, pd.Series] = {}
    for name in covariates:
        col = kept[name]
        if _is_categorical(col):
            dummies = _indicators(col, name, impute=missing == "impute")
            model.update({c: dummies[c] for c in dummies.columns[1:]})  # drop-first, as R
            balance_cols.update({c: dummies[c] for c in dummies.columns})
            continue
        values = col.astype("float64")
        model[name] = balance_cols[name] = values
        if values.isna().any():  # only under "impute"
            flag = values.isna().astype("float64")
            model[name] = balance_cols[name] = values.fillna(values.mean())
            model[f"{name}_missing"] = balance_cols[f"{name}_missing"] = flag
    model_frame = pd.DataFrame(model, index=kept.index)
    balance_frame = pd.DataFrame(balance_cols, index=kept.index)
    binary = tuple(
        name for name in balance_frame.columns if balance_frame[name].isin((0.0, 1.0)).all()
    )

    if exact:
        groups = kept[exact].groupby(exact, sort=True, observed=True)
        strata = groups.ngroup().to_numpy(dtype=np.int64)
        keys = groups.size().index  # in code order
        names = tuple(
            ", ".join(f"{col}={val}" for col, val in zip(exact, _as_tuple(key), strict=True))
            for key in keys
        )
    else:
        strata = np.zeros(int(keep.sum()), dtype=np.int64)
        names = ("all",)
    return Prepared(
        keep=keep,
        treat=treat,
        model=model_frame,
        covariates=balance_frame,
        binary=binary,
        strata=strata,
        stratum_names=names,
        missing_counts=missing_counts,
    )


def _as_tuple(key: object) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _indicators(col: pd.Series, name: str, *, impute: bool) -> pd.DataFrame:
    """0/1 columns ``<name>_<level>`` for every level, in the dtype's order or sorted."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in col.cat.categories]
    else:
        levels = sorted(col.dropna().astype("string").unique())
    text = col.astype("string")
    if impute and text.isna().any():
        levels.append(MISSING_LEVEL)
        text = text.fillna(MISSING_LEVEL)
    codes = pd.Categorical(text, categories=levels).codes
    data = {f"{name}_{level}": (codes == i).astype("float64") for i, level in enumerate(levels)}
    return pd.DataFrame(data, index=col.index)
