"""Growth windows: which two tests the panel pairs (config ``panel.window``).

* ``fall_to_spring`` (default): the fall test and the spring test of the school year;
* ``fall_to_winter``: the fall test and the winter test of the same school year;
* ``spring_to_spring``: the previous school year's spring test (baseline) and this year's.

The panel keeps the names ``fall_*`` for the baseline test's columns and ``spring_*`` for the
outcome test's (``fall_z``, ``spring_z``, ``fall_week``, ...) whatever the window, so matching,
estimation and the report read one set of columns; the window is recorded in the panel summary,
the exclusions (their ``window`` column, and ``no_fall`` / ``no_spring`` meaning no baseline /
no outcome test) and the report's text. Each test is normed at its own season, grade and
instructional week (winter tests at the winter norms). A district that gives no test of one
of a window's terms in a subject (winter testing is a district's choice; a district may join
after the prior spring) is outside that window's study: its students of the subject are left
out of the panel and its sample flow, and counted in the panel summary, rather than counted as
lost (``no_spring``). Fall to spring keeps every district (a district without a spring term
is a gap in the exports, whose students are lost). Treatment is as of the fall of the
school year analysed (for spring to spring: the year between the two springs), and a student
must be at the same school at both tests, as for fall to spring.

NWEA's own growth fields of the window come from the outcome test
(:mod:`pl_eval.ingest.growth`): FallToSpring* for fall to spring, FallToWinter* for fall to
winter, SpringToSpring* for spring to spring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.errors import ConfigError
from pl_eval.ingest import growth

NAMES = ("fall_to_spring", "fall_to_winter", "spring_to_spring")
DEFAULT = "fall_to_spring"
#: The panel's columns of NWEA's growth fields of the window (from the outcome test).
GROWTH_COLUMNS = [f"growth_{name}" for name in growth.FIELDS.values()]


@dataclass(frozen=True)
class Window:
    """A growth window: the baseline and outcome seasons, and how many school years before
    the analysed one the baseline test is."""

    name: str
    baseline: str
    outcome: str
    years_back: int = 0

    @classmethod
    def named(cls, name: str | None) -> Window:
        """The window of config ``panel.window`` (None: the default); ConfigError otherwise."""
        name = name or DEFAULT
        if name not in NAMES:
            raise ConfigError(f"panel.window must be one of {', '.join(NAMES)}, not {name!r}")
        baseline, _, outcome = name.split("_")
        return cls(name, baseline, outcome, 1 if baseline == outcome else 0)

    def terms(self, school_year: str, spring_year: str | None = None) -> dict[str, tuple[str, str]]:
        """The panel's baseline ("fall") and outcome ("spring") terms as (season, school year),
        for the school year analysed (``spring_year``: the outcome's, for a multi-year span)."""
        return {
            "fall": (self.baseline, shift(school_year, -self.years_back)),
            "spring": (self.outcome, spring_year or school_year),
        }

    def describe(self, school_year: str, spring_year: str | None = None) -> str:
        """ "fall to winter 2022-2023"; "spring 2021-2022 to spring 2022-2023"."""
        (first, first_year), (last, last_year) = self.terms(school_year, spring_year).values()
        if first_year == last_year:
            return f"{first} to {last} {last_year}"
        return f"{first} {first_year} to {last} {last_year}"

    @property
    def growth_slot(self) -> str:
        """The scores' growth columns of this window (on the outcome test)."""
        return f"growth_from_{self.baseline}"

    def reason_labels(self) -> dict[str, str]:
        """The exclusion reasons about missing tests, in this window's words."""
        baseline = "prior spring" if self.years_back else self.baseline
        return {"no_fall": f"no {baseline} test", "no_spring": f"no {self.outcome} test"}


def shift(school_year: str, years: int) -> str:
    """ "2022-2023" moved by ``years`` school years ("2021-2022" for -1)."""
    first = int(school_year[:4]) + years
    return f"{first}-{first + 1}"


def outcome_growth(rows: pd.DataFrame, window: Window) -> pd.DataFrame:
    """:data:`GROWTH_COLUMNS` of outcome tests ``rows`` (the scores' columns of the window;
    missing when the scores have none, as scores written before ingest kept them)."""
    out = {}
    for name in growth.FIELDS.values():
        column = f"{window.growth_slot}_{name}"
        if column in rows:
            out[f"growth_{name}"] = rows[column]
        else:
            empty = (pd.NA, "boolean") if name == "met" else (float("nan"), "float32")
            out[f"growth_{name}"] = pd.Series(empty[0], index=rows.index, dtype=empty[1])
    return pd.DataFrame(out, index=rows.index)


def tested_districts(pairs: pd.DataFrame) -> pd.MultiIndex:
    """(district, subject) whose exports give a test of both the window's terms, from the
    panel's pairs (``fall_rit``/``fall_district``: the baseline, ``spring_*``: the outcome)."""
    given = []
    for role in ("fall", "spring"):
        rows = pairs.loc[pairs[f"{role}_rit"].notna(), [f"{role}_district", "subject"]]
        rows = rows.astype(str).drop_duplicates().set_axis(["district", "subject"], axis=1)
        given.append(pd.MultiIndex.from_frame(rows))
    return given[0].intersection(given[1])


def in_districts(frame: pd.DataFrame, tested: pd.MultiIndex) -> np.ndarray:
    """Rows of ``frame`` (``district``, ``subject``) in the ``tested`` districts × subjects."""
    key = pd.MultiIndex.from_arrays([frame["district"].astype(str), frame["subject"].astype(str)])
    return np.asarray(key.isin(tested), dtype=bool)


def missing_terms(
    scores: pd.DataFrame,
    window: Window,
    school_year: str,
    spring_year: str | None = None,
    subjects: tuple[str, ...] = ("math", "reading"),
) -> list[str]:
    """The window's terms ("Spring 2021-2022") with no test of ``subjects`` in ``scores``."""
    tested = scores["subject"].isin(subjects).to_numpy(bool)
    missing = []
    for season, year in window.terms(school_year, spring_year).values():
        here = tested & (scores["season"] == season).to_numpy(bool)
        if not (here & (scores["school_year"] == year).to_numpy(bool)).any():
            missing.append(f"{season.title()} {year}")
    return missing


def missing_terms_message(
    cohort: str, window: Window, missing: list[str], scores: pd.DataFrame
) -> str:
    """One line: which of the window's terms the cohort lacks, and which terms it holds."""
    held = scores.loc[scores["subject"].isin(("math", "reading")), ["season", "school_year"]]
    terms = sorted(
        {f"{s.title()} {y}" for s, y in held.drop_duplicates().itertuples(index=False)},
        key=lambda t: (t.split()[1], ("Fall", "Winter", "Spring", "Summer").index(t.split()[0])),
    )
    return (
        f"cohort {cohort}: panel.window {window.name} pairs {' and '.join(window_terms(window))}"
        f"; there is no {' or '.join(missing)} test of math or reading (the exports hold "
        f"{', '.join(terms) or 'none'})"
    )


def window_terms(window: Window) -> list[str]:
    """ "the prior spring test", "the spring test": the two tests a window pairs, in words."""
    first = "the prior spring test" if window.years_back else f"the {window.baseline} test"
    return [first, f"the {window.outcome} test"]
