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
) -> Suppressed:
    """Hide rows whose ``counts`` include a cell in 1..min_n-1, plus complementary rows.

    ``group`` names the columns within which rows add up to a shown or derivable total (e.g.
    subject and arm); ``hide`` lists further columns blanked with the counts (estimates of a
    suppressed school). ``key`` columns name each row in the log.
    """
    values = table[list(counts)]
    primary = ((values > 0) & (values < min_n)).any(axis=1)
    complementary = _complementary(table, primary, counts[0], list(group))
    hidden = primary | complementary
    columns = [*counts, *hide]
    out = table.copy()
    for column in columns:
        kind = out[column].dtype.kind
        out[column] = out[column].astype(
            {"i": "Int64", "u": "Int64", "f": "Float64"}.get(kind, object)
        )
        out.loc[hidden, column] = pd.NA
    reason = pd.Series(f"fewer than {min_n} students", index=table.index).where(
        primary, "complementary: would be derivable from the total"
    )
    selected = table.loc[hidden, list(key)].astype(str)
    rows = selected[key[0]]
    for column in key[1:]:
        rows = rows + " / " + selected[column]
    log = (
        pd.DataFrame({"row": rows, "reason": reason[hidden]})
        .merge(pd.Series(columns, name="column"), how="cross")
        .assign(table=name)[LOG_COLUMNS]
        .reset_index(drop=True)
    )
    return Suppressed(table=out, log=log, hidden=hidden)


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
