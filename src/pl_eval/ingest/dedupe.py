"""One test per student x subject x term among the usable tests.

NWEA marks the growth-measure test (GrowthMeasureYN) when a student tested more than once; the
rest of the order follows NWEA's rule and mapvizieR (reference/nwea_formats.md §1.4): lowest
SE, then the most recent test; file and line make the order total, so reruns agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Choice:
    """Which rows are kept, and for every row the position of its group's kept row."""

    kept: np.ndarray  # bool per row
    kept_row: np.ndarray  # int position (into the input) of the row kept for the row's group

    @property
    def duplicates(self) -> np.ndarray:
        return ~self.kept


def choose(tests: pd.DataFrame, group: np.ndarray) -> Choice:
    """Pick one row per ``group`` id (student x subject x term; ids 0..g-1) of ``tests``.

    Needs columns growth_measure, se, test_date, test_time, source_file (categorical with
    sorted categories) and source_line. Only rows that share their group are ordered: in a
    national cohort nineteen rows in twenty are their group's only test.
    """
    n = len(group)
    shared = np.flatnonzero(np.bincount(group, minlength=1)[group] > 1)

    def key(values: np.ndarray) -> np.ndarray:
        return values[shared]

    growth_first = (~tests["growth_measure"].fillna(False).to_numpy(bool)).astype(np.int8)
    date = tests["test_date"].to_numpy("datetime64[ms]").astype(np.int64)
    time = tests["test_time"].fillna(-1.0).to_numpy(float)  # no time sorts as earliest
    file_code = tests["source_file"].cat.codes.to_numpy()
    # np.lexsort sorts by the last key first; later date/time first via negation
    order = shared[
        np.lexsort(
            (
                key(tests["source_line"].to_numpy()),
                key(file_code),
                -key(time),
                -key(date),
                key(tests["se"].to_numpy(float)),
                key(growth_first),
                key(group),
            )
        )
    ]
    sorted_group = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    kept = np.ones(n, dtype=bool)  # a group's only row is kept
    kept[order] = first
    start = np.flatnonzero(first)
    kept_row = np.arange(n, dtype=np.int64)
    kept_row[order] = order[np.repeat(start, np.diff(np.append(start, len(order))))]
    return Choice(kept, kept_row)
