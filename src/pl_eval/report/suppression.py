"""Small-cell suppression for report tables, with complementary suppression and a log.

A cell counting fewer than ``min_n`` students (but more than none) could identify a student
(FERPA; NCES most often uses 10). Hiding it alone is not enough when the table also shows the
total it adds up to, so when a group has exactly one hidden row, its next smallest row is
hidden too. Hand-written: no maintained Python library does cell suppression on DataFrames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from pl_eval.report.disclosure import (
    PRIMARY_REASON,
    ROUND_REASON,
    SECONDARY_REASON,
    Decision,
    Rounded,
    row_name,
)

LOG_COLUMNS = ["table", "row", "column", "reason"]


@dataclass(frozen=True)
class Suppressed:
    """A table with small cells hidden (as missing) and one log row per hidden cell."""

    table: pd.DataFrame
    log: pd.DataFrame
    hidden: pd.Series  # bool per row of ``table``: True where the row's cells were hidden

    def summary(self) -> str:
        return f"{int(self.hidden.sum())} rows suppressed, {len(self.log)} cells hidden"


def suppress(
    table: pd.DataFrame,
    *,
    name: str,
    counts: Sequence[str],
    key: Sequence[str],
    group: Sequence[str] = (),
    hide: Sequence[str] = (),
    min_n: int = 10,
    decision: Decision | None = None,
) -> Suppressed:
    """Hide rows whose ``counts`` include a cell in 1..min_n-1, plus complementary rows.

    ``group`` names the columns within which rows add up to a shown or derivable total (e.g.
    subject and arm); ``hide`` lists further columns blanked with the counts (estimates of a
    suppressed school). ``key`` columns name each row in the log.

    With ``decision`` (solved over every published cell of the report,
    :mod:`pl_eval.report.disclosure`) the rows it hides are hidden instead of this table's
    own complements, and the counts of rows it rounds are shown rounded.
    """
    values = table[list(counts)]
    primary = ((values > 0) & (values < min_n)).any(axis=1)
    names = pd.Series([row_name(r, key) for _, r in table.iterrows()], table.index, object)
    if decision is not None:
        hidden = primary | decision.mask(name, names)
        rounded = decision.mask(name, names, "rounded") & ~hidden
    else:
        hidden = primary | _complementary(table, primary, counts[0], list(group))
        rounded = pd.Series(False, index=table.index)
    columns = [*counts, *hide]
    out = table.copy()
    for column in columns:
        kind = out[column].dtype.kind
        out[column] = out[column].astype(
            {"i": "Int64", "u": "Int64", "f": "Float64"}.get(kind, object)
        )
        out.loc[hidden, column] = pd.NA
    secondary = SECONDARY_REASON if decision else "complementary: would be derivable from the total"
    reason = pd.Series(PRIMARY_REASON.format(min_n=min_n), index=table.index).where(
        primary, secondary
    )
    log = (
        pd.DataFrame({"row": names[hidden], "reason": reason[hidden]})
        .merge(pd.Series(columns, name="column"), how="cross")
        .assign(table=name)[LOG_COLUMNS]
    )
    if rounded.any():
        to = decision.round_to
        for column in counts:
            out[column] = out[column].astype(object)
            out.loc[rounded, column] = [
                v if pd.isna(v) else Rounded(v, to) for v in table.loc[rounded, column]
            ]
        notes = (
            pd.DataFrame({"row": names[rounded], "reason": ROUND_REASON.format(to=to)})
            .merge(pd.Series(list(counts), name="column"), how="cross")
            .assign(table=name)[LOG_COLUMNS]
        )
        log = pd.concat([log, notes])
    return Suppressed(table=out, log=log.reset_index(drop=True), hidden=hidden)


def _complementary(
    table: pd.DataFrame, primary: pd.Series, count: str, group: list[str]
) -> pd.Series:
    """Rows to hide so that no group has exactly one hidden row among several shown ones."""
    keys = [table[c] for c in group] or [pd.Series(0, index=table.index)]
    n_hidden = primary.groupby(keys).transform("sum")
    lonely = n_hidden == 1
    candidates = table[count].where(lonely & ~primary & (table[count] > 0))
    smallest = candidates.groupby(keys).transform("min")
    chosen = candidates.eq(smallest) & candidates.notna()
    # one row per group even when counts tie: the first in table order
    first = chosen & ~chosen.groupby(keys).cumsum().gt(1)
    return first
