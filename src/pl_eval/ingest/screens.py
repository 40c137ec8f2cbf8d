"""Why a test event cannot be used: subject, missing score, validity screens, roster.

NWEA leaves invalidated tests out of exports, but districts' exports still hold very short
tests, heavy rapid guessing and out-of-range scores (reference/nwea_formats.md §1.4);
evaluators screen them with the thresholds in config ``ingest.screens``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pl_eval.errors import ConfigError

#: Reject reasons for test rows, in the order they are tried (the first that applies wins).
REASONS = (
    "end_of_course",
    "subject_not_analysed",
    "missing_score",
    "date_outside_term",
    "rit_out_of_range",
    "se_out_of_range",
    "short_duration",
    "rapid_guessing",
    "no_roster_row",
    "grade_unknown",
    "missing_grade",
)


#: The dates a test of each season may carry: (years after the school year's fall, month,
#: day) from and to, inclusive. NWEA files a test under the term whose dates (the district's)
#: hold it, so a date outside these generous bounds is a typo or a mislabelled term: a spring
#: test dated before its fall test would give a growth window of negative length and norms of
#: the wrong week. Fall ends before spring begins. Summer terms are not analysed or checked.
TERM_DATES = {
    "fall": ((0, 7, 1), (1, 1, 31)),
    "winter": ((0, 11, 1), (1, 4, 30)),
    "spring": ((1, 2, 1), (1, 8, 31)),
}


@dataclass(frozen=True)
class ScreenSettings:
    """Validity thresholds; ranges are inclusive, missing duration/rapid guessing pass.

    A ``max_rapid_guessing_pct`` of None (config null) turns the rapid-guessing screen off.
    """

    min_duration_minutes: float = 6
    max_rapid_guessing_pct: float = 30
    rit_range: tuple[float, float] = (100, 320)
    se_range: tuple[float, float] = (1.5, 5.5)

    @classmethod
    def from_dict(cls, screens: Mapping[str, Any]) -> ScreenSettings:
        """From config ``ingest.screens`` (missing keys take the defaults above)."""
        default = cls()
        try:
            return cls(
                min_duration_minutes=float(
                    screens.get("min_duration_minutes", default.min_duration_minutes)
                ),
                max_rapid_guessing_pct=_threshold(
                    screens.get("max_rapid_guessing_pct", default.max_rapid_guessing_pct)
                ),
                rit_range=_pair(screens.get("rit_range", default.rit_range)),
                se_range=_pair(screens.get("se_range", default.se_range)),
            )
        except (TypeError, ValueError):
            raise ConfigError(
                "ingest.screens: thresholds must be numbers and ranges [low, high] with low <= high"
            ) from None


def _threshold(value: Any) -> float:
    """An upper screen threshold; None switches the screen off (nothing is at or above inf)."""
    return math.inf if value is None else float(value)


def _pair(value: Any) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if low > high:
        raise ValueError
    return low, high


@dataclass(frozen=True)
class Verdicts:
    """Per test row the first reject reason that applies (NA if usable); for rejected rows
    (positions ``rejected``, ascending) the column it concerns and a short detail."""

    reason: pd.Series  # categorical over REASONS
    rejected: np.ndarray
    column: np.ndarray  # object, one per rejected row (None: no single column)
    detail: np.ndarray  # object, one per rejected row

    @property
    def usable(self) -> np.ndarray:
        return self.reason.isna().to_numpy()


def verdicts(tests: pd.DataFrame, settings: ScreenSettings) -> Verdicts:
    """Reason codes (in :data:`REASONS` order) for typed test rows (``pipeline.typed_tests``).

    Column and detail text are built for the rejected rows only.
    """
    rit, se = tests["rit"], tests["se"]
    duration, guessing = tests["duration_minutes"], tests["rapid_guessing_pct"]
    (rit_low, rit_high), (se_low, se_high) = settings.rit_range, settings.se_range
    shortest, most_guessing = settings.min_duration_minutes, settings.max_rapid_guessing_pct
    # (reason, condition, column, detail); column/detail: text, or a function of the row mask

    def text_at(name: str, rows: np.ndarray) -> np.ndarray:
        """Column ``name`` at the ``rows`` mask as objects: text is built for those rows only
        (a national cohort's millions of rows as Python strings would cost seconds)."""
        return tests[name][rows].to_numpy(dtype=object)

    def subject_text(rows: np.ndarray) -> np.ndarray:
        return tests["subject_text"][rows].fillna("").to_numpy(dtype=object)

    rules = [
        (
            "end_of_course",  # on another scale than grade-level math (ingest.end_of_course)
            tests["end_of_course"],
            lambda m: text_at("subject_column", m),
            subject_text,
        ),
        (
            "subject_not_analysed",
            tests["subject"].isna(),
            lambda m: text_at("subject_column", m),
            lambda m: np.where(
                subject_text(m) == "", "MeasurementScale and Subject empty", subject_text(m)
            ),
        ),
        (
            "missing_score",
            rit.isna() | se.isna(),
            lambda m: np.where(rit.isna().to_numpy()[m], "TestRITScore", "TestStandardError"),
            "empty",
        ),
        (
            "date_outside_term",
            _outside_term(tests),
            "TestStartDate",
            lambda m: _outside_detail(
                tests.loc[m, ["test_date", "term_name", "season", "school_year"]]
            ),
        ),
        (
            "rit_out_of_range",
            ~rit.between(rit_low, rit_high),
            "TestRITScore",
            lambda m: _describe(rit[m], f"{{:g}} outside {rit_low:g}-{rit_high:g}"),
        ),
        (
            "se_out_of_range",
            ~se.between(se_low, se_high),
            "TestStandardError",
            lambda m: _describe(se[m], f"{{:g}} outside {se_low:g}-{se_high:g}"),
        ),
        (
            "short_duration",
            duration < shortest,
            "TestDurationMinutes",
            lambda m: _describe(duration[m], f"{{:g}} minutes, below {shortest:g}"),
        ),
        (
            "rapid_guessing",
            guessing >= most_guessing,
            "RapidGuessingPercentage",
            lambda m: _describe(guessing[m], f"{{:g}}%, at or above {most_guessing:g}%"),
        ),
        (
            "no_roster_row",
            ~tests["has_roster"],
            None,
            lambda m: np.where(
                tests["district"].isna().to_numpy()[m],
                "no StudentsBySchool row for this term, school and student to take the "
                "district from (the file has no DistrictName)",
                "no StudentsBySchool row for this term, district and student",
            ),
        ),
        (
            "grade_unknown",
            tests["grade"].isna() & tests["grade_unknown"],
            "Grade",
            lambda m: text_at("grade_note", m),
        ),
        (
            "missing_grade",
            tests["grade"].isna(),
            "Grade",
            lambda m: text_at("grade_note", m),
        ),
    ]
    conditions = [np.asarray(pd.Series(c).fillna(False), dtype=bool) for _, c, _, _ in rules]
    choice = np.select(conditions, np.arange(len(rules)), default=-1)
    reason = pd.Categorical.from_codes(choice, categories=[name for name, *_ in rules])
    rejected = np.flatnonzero(choice >= 0)
    column = np.empty(len(rejected), dtype=object)
    detail = np.empty(len(rejected), dtype=object)
    chosen = choice[rejected]
    for code, (_, _, col, text) in enumerate(rules):
        here = chosen == code
        if here.any():
            rows = np.zeros(len(tests), dtype=bool)
            rows[rejected[here]] = True
            column[here] = col(rows) if callable(col) else col
            detail[here] = text(rows) if callable(text) else text
    return Verdicts(pd.Series(reason, index=tests.index, name="reason"), rejected, column, detail)


def _outside_term(tests: pd.DataFrame) -> np.ndarray:
    """Rows whose test date lies outside its term's :data:`TERM_DATES`: a pass over the rows
    per season and school year (their categories: a handful)."""
    date = tests["test_date"].to_numpy("datetime64[D]")
    season, year = tests["season"].astype("category"), tests["school_year"].astype("category")
    season_codes, year_codes = season.cat.codes.to_numpy(), year.cat.codes.to_numpy()
    outside = np.zeros(len(tests), dtype=bool)
    for s_code, s in enumerate(season.cat.categories):
        if s not in TERM_DATES:  # summer
            continue
        for y_code, school_year in enumerate(year.cat.categories):
            start, end = _term_bounds(s, school_year)
            rows = (season_codes == s_code) & (year_codes == y_code)
            outside |= rows & ((date < start) | (date > end))
    return outside


def _term_bounds(season: str, school_year: str) -> tuple[np.datetime64, np.datetime64]:
    """The first and last date :data:`TERM_DATES` allow a test of ``season`` in
    ``school_year`` ("2014-2015")."""
    fall = int(school_year[:4])
    first, last = (np.datetime64(f"{fall + a}-{m:02d}-{d:02d}") for a, m, d in TERM_DATES[season])
    return first, last


def _outside_detail(rows: pd.DataFrame) -> np.ndarray:
    """ "2014-05-12, outside Fall 2014-2015's 2014-07-01 to 2015-01-31" per rejected row (its
    bounds are worked out for these rows only)."""
    days = rows["test_date"].to_numpy("datetime64[D]").astype(str)
    terms = (rows[c].astype(str) for c in ("term_name", "season", "school_year"))
    found = []
    for day, term, season, school_year in zip(days, *terms, strict=True):
        first, last = _term_bounds(season, school_year)
        found.append(f"{day}, outside {term}'s {first} to {last}")
    return np.array(found, dtype=object)


def _describe(values: pd.Series, template: str) -> np.ndarray:
    """``template`` filled with each number (215, 2.5); formats each distinct value once."""
    codes, uniques = pd.factorize(values)
    return np.array([template.format(v) for v in uniques] + [""], dtype=object)[codes]
