"""From a DataFrame to the arrays an effect model fits: the rows used and their columns.

A row is used when every column the model reads is present and its weight is positive; rows
with a missing value and rows with weight 0 are counted, not kept. Covariates follow R's
model.matrix: numeric columns enter as they are, text, categorical and boolean columns as
indicators of every level but the first (first in sorted order, or in a Categorical's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pl_eval.estimation.errors import EstimationError


@dataclass(frozen=True, eq=False)
class Sample:
    """The rows a model uses, as arrays aligned with each other."""

    y: np.ndarray  # outcome, float
    treated: np.ndarray  # bool
    weights: np.ndarray  # positive floats (ones when unweighted)
    covariates: tuple[np.ndarray, ...]  # one array per covariate term (float or bool)
    covariate_terms: tuple[str, ...]
    cluster: np.ndarray | None  # int codes 0..n_clusters-1
    group: np.ndarray | None  # int codes into group_levels
    group_levels: tuple
    n_missing: int  # input rows dropped for a missing value in a column the model reads
    n_zero_weight: int  # input rows dropped for a weight of 0
    rows: np.ndarray  # bool per input row: True for the rows used

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def n_clusters(self) -> int | None:
        return None if self.cluster is None else int(self.cluster.max(initial=-1)) + 1

    def design(self, *columns: np.ndarray, extra: tuple[np.ndarray, ...] = ()) -> np.ndarray:
        """The design matrix: an intercept, ``columns``, the covariates, then ``extra``."""
        parts = (*columns, *self.covariates, *extra)
        # filled in place, column-major (columns are written and read whole): one allocation
        x = np.empty((self.n_obs, 1 + len(parts)), order="F")
        x[:, 0] = 1.0
        for j, part in enumerate(parts, start=1):
            x[:, j] = part
        return x

    def subset(self, keep: np.ndarray) -> Sample:
        """The rows where ``keep`` is True, cluster codes renumbered to the clusters left."""
        if keep.all():  # nothing to drop: the arrays are never written to
            return self
        cluster = None
        if self.cluster is not None:
            cluster = renumber(self.cluster[keep], self.n_clusters)
        rows = self.rows.copy()
        rows[rows] = keep
        return replace(
            self,
            y=self.y[keep],
            treated=self.treated[keep],
            weights=self.weights[keep],
            covariates=tuple(c[keep] for c in self.covariates),
            cluster=cluster,
            group=None if self.group is None else self.group[keep],
            rows=rows,
        )


def prepare_sample(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    *,
    weights: str | None = None,
    cluster: str | None = None,
    group: str | None = None,
) -> Sample:
    """Check the columns a model reads and encode the usable rows; see the module docstring."""
    if not isinstance(df, pd.DataFrame):
        raise EstimationError(f"expected a pandas DataFrame, got {type(df).__name__}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    roles = {"outcome": outcome, "treatment": treatment, "weights": weights, "cluster": cluster}
    roles |= {"group": group} | {f"covariate {c!r}": c for c in covariates}
    for role, column in roles.items():
        if column is not None and column not in df.columns:
            raise EstimationError(f"{role} column {column!r} is not in the frame")
    if outcome == treatment or treatment in covariates or outcome in covariates:
        raise EstimationError(
            f"outcome {outcome!r} and treatment {treatment!r} must be distinct columns and "
            "not among the covariates"
        )
    used = list(dict.fromkeys(c for c in roles.values() if c is not None))
    if df.empty:
        raise EstimationError("the frame has no rows to estimate from")

    # columns are read one by one and subset once: no copy of the frame
    missing = np.zeros(len(df), dtype=bool)
    for column in used:
        missing |= df[column].isna().to_numpy()
    keep = ~missing
    if weights is not None:
        w = floats(df[weights][keep], weights, "weights")
        if (w < 0).any():
            raise EstimationError(f"weights column {weights!r} must not be negative")
        keep[keep] = w > 0
    n_zero_weight = int(len(df) - missing.sum() - keep.sum())
    if not keep.any():
        raise EstimationError(
            f"no rows left to estimate from: {int(missing.sum())} have a missing value in "
            f"{', '.join(map(repr, used))} and {n_zero_weight} have weight 0"
        )
    rows = {c: df[c] if keep.all() else df[c][keep] for c in used}

    treated = _treatment(rows[treatment], treatment)
    blocks, terms = [], []
    for name in covariates:
        if name == group:  # already in the model as the group main effects
            continue
        values, names = _encode(rows[name], name)
        blocks.extend(values)
        terms.extend(names)
    group_codes, group_levels = None, ()
    if group is not None:
        group_codes, group_levels = _levels(rows[group])
    n = int(keep.sum())
    return Sample(
        y=floats(rows[outcome], outcome, "outcome"),
        treated=treated,
        weights=np.ones(n) if weights is None else floats(rows[weights], weights, "weights"),
        covariates=tuple(blocks),
        covariate_terms=tuple(terms),
        cluster=None if cluster is None else pd.factorize(rows[cluster])[0],
        group=group_codes,
        group_levels=group_levels,
        n_missing=int(missing.sum()),
        n_zero_weight=n_zero_weight,
        rows=keep,
    )


def floats(col: pd.Series, name: str, role: str) -> np.ndarray:
    """A numeric (not boolean) column as finite floats."""
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        raise EstimationError(f"{role} column {name!r} must be numeric, found dtype {col.dtype}")
    values = col.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise EstimationError(f"{role} column {name!r} must hold finite numbers, found infinity")
    return values


def _treatment(col: pd.Series, name: str) -> np.ndarray:
    """The treatment column as booleans: it must be 0/1 or True/False and take both values."""
    if pd.api.types.is_bool_dtype(col):
        treated = col.to_numpy(dtype=bool)
    elif pd.api.types.is_numeric_dtype(col) and col.isin((0, 1)).all():
        treated = col.to_numpy(dtype=float) == 1.0
    else:
        found = ", ".join(map(repr, pd.unique(col[~col.isin((0, 1))])[:5].tolist()))
        raise EstimationError(
            f"treatment column {name!r} must hold 0/1 or True/False, found {found}"
        )
    if treated.all() or not treated.any():
        arm = "treated (1)" if treated.all() else "comparison (0)"
        raise EstimationError(
            f"treatment column {name!r} does not vary: every usable row is {arm}; an effect needs "
            "rows in both arms"
        )
    return treated


def renumber(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """``codes`` (0..n_codes−1, −1 for none) renumbered 0, 1, ... over the codes present, in
    their order: ``np.unique(codes, return_inverse=True)[1]`` without sorting the rows (a
    count per code instead; at a million rows the sort cost more than the model)."""
    present = np.bincount(codes[codes >= 0], minlength=n_codes) > 0
    if present.all():
        return codes
    new = (np.cumsum(present) - 1).astype(codes.dtype)
    return np.where(codes >= 0, new[codes], codes)


def _levels(col: pd.Series) -> tuple[np.ndarray, tuple]:
    """Integer codes and the observed levels: a Categorical's order, else sorted values."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        # as col.cat.remove_unused_categories(), which sorts the codes to find those used
        codes, categories = col.cat.codes.to_numpy(), col.cat.categories
        used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        return renumber(codes, len(categories)), tuple(categories[used])
    try:
        codes, levels = pd.factorize(col, sort=True)
    except TypeError:  # mixed types cannot be sorted: order their text instead
        codes, levels = pd.factorize(col.astype(str), sort=True)
    return codes, tuple(levels)


def _encode(col: pd.Series, name: str) -> tuple[list[np.ndarray], list[str]]:
    """A covariate's design columns and term names (patsy-style ``name[T.level]``)."""
    if pd.api.types.is_bool_dtype(col):
        return [col.to_numpy(dtype=bool)], [f"{name}[T.True]"]
    if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        return [floats(col, name, "covariate")], [name]
    codes, levels = _levels(col)
    indicators = [codes == k for k in range(1, len(levels))]  # a loop over levels, not rows
    return indicators, [f"{name}[T.{level}]" for level in levels[1:]]
