"""NWEA's own per-student growth fields, kept when an export carries them.

Layouts B, C and the Combined file carry, per growth window, ``<Window>ProjectedGrowth``,
``ObservedGrowth``, ``MetProjectedGrowth`` (Yes, No, Yes*, No*: the ``*`` when observed and
projected growth differ by less than the observed growth's SE), ``ConditionalGrowthIndex`` and
``ConditionalGrowthPercentile``, filled on the test that *ends* the window
(reference/nwea_formats.md §1.1, §1.3). The windows the panel can use are fall to winter, fall
to spring and spring to spring, so each test keeps two blocks ("slots", named by where the
window starts) rather than one per window: ``growth_from_fall_*`` (FallToWinter on a winter
test, FallToSpring on a spring test) and ``growth_from_spring_*`` (SpringToSpring on a spring
test: growth since the previous spring). Ten columns instead of fifteen, mostly empty, in the
scores of a million students; numbers are float32 (NWEA prints integers and two decimals).

Values are checked with the rest of the raw test rows (:mod:`pl_eval.ingest.schemas`): one
that does not parse is a problem at file, line and column, and never changes where a row goes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pl_eval.ingest import parse

#: NWEA's field names (after the window) and the typed column of each.
FIELDS = {
    "ProjectedGrowth": "projected",
    "ObservedGrowth": "observed",
    "MetProjectedGrowth": "met",
    "ConditionalGrowthIndex": "cgi",
    "ConditionalGrowthPercentile": "cgp",
}
#: NWEA windows read, by slot and the season of the test that ends them.
WINDOWS = {
    ("from_fall", "winter"): "FallToWinter",
    ("from_fall", "spring"): "FallToSpring",
    ("from_spring", "spring"): "SpringToSpring",
}
SLOTS = ("from_fall", "from_spring")
#: Raw columns read from test files (case-insensitive, as every column), and the field of each.
RAW_FIELDS = {
    f"{window}{field}": field for window in dict.fromkeys(WINDOWS.values()) for field in FIELDS
}
RAW_COLUMNS = tuple(RAW_FIELDS)
#: Typed columns of the scores, slot by slot.
COLUMNS = [f"growth_{slot}_{name}" for slot in SLOTS for name in FIELDS.values()]
EXPECT_MET = "Yes, No, Yes* or No* (or empty)"
EXPECT_CGP = "a conditional growth percentile from 0 to 100 (or empty)"
_MET = {"YES": True, "YES*": True, "NO": False, "NO*": False}


def met_flags(text: pd.Series) -> pd.Series:
    """MetProjectedGrowth as a nullable boolean: Yes/Yes* true, No/No* false (any case)."""
    word = text.str.strip().str.upper()
    return pd.Series(word.map(_MET), index=text.index, dtype="boolean")


def percentiles(text: pd.Series) -> pd.Series:
    """A conditional growth percentile, 0..100; NaN otherwise."""
    value = parse.numbers(text)
    return value.where(value.between(0, 100))


def parser(field: str) -> Callable[[pd.Series], pd.Series]:
    """The parser of one NWEA growth field (shared by the raw checks and typing)."""
    return {"MetProjectedGrowth": met_flags, "ConditionalGrowthPercentile": percentiles}.get(
        field, parse.numbers
    )


def typed(col: Callable[[str], pd.Series], season: pd.Series) -> dict[str, pd.Series]:
    """The typed growth columns of raw test rows (``col(name)``: a raw column, all missing when
    no file has it), each window's fields on the tests of the season that ends it."""
    out = {}
    categories = list(parse.categorical(season).cat.categories)
    codes = parse.categorical(season).cat.codes.to_numpy()
    for slot in SLOTS:
        for field, name in FIELDS.items():
            # numbers as float32 and met flags as a boolean's values and mask, NA outside
            value = np.full(len(season), np.nan, dtype=np.float32)
            flag, missing = np.zeros(len(season), dtype=bool), np.ones(len(season), dtype=bool)
            for (of_slot, ends), window in WINDOWS.items():
                if of_slot != slot or ends not in categories:
                    continue
                rows = codes == categories.index(ends)
                # each distinct value parsed, taken at these rows only (not broadcast to every
                # row first: fifteen columns of millions of rows made and dropped)
                raw = col(f"{window}{field}")
                parsed = parse.per_category(parser(field), raw).array
                at = parse.categorical(raw).cat.codes.to_numpy()[rows]  # -1 (missing): last
                if name == "met":
                    flag[rows] = parsed.to_numpy(bool, na_value=False)[at]
                    missing[rows] = np.asarray(parsed.isna())[at]
                else:
                    value[rows] = parsed.to_numpy(np.float64)[at]
            typed = pd.arrays.BooleanArray(flag, missing) if name == "met" else value
            out[f"growth_{slot}_{name}"] = pd.Series(typed, index=season.index)
    return out
