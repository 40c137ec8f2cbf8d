"""Several school years of one cohort: the analyses they give, exposure, and the placebo.

A cohort's ``school_years`` entry is one school year or a list of consecutive ones. With a
list, the **last** year is the cohort's main analysis; every other listed year gets a one-year
analysis, every run of two or more consecutive years a span (fall of the first year to spring
of the last), and every year but the last a pre-adoption placebo. Those analyses are named
``<cohort>@<F>-<S>`` (fall of F-(F+1) to spring of (S-1)-S) and ``<cohort>@placebo-<F>-<F+1>``,
and run the main analysis only, on the cohort's one ingest.

Pure functions: the workflow names its jobs with :func:`year_analyses`, the panel counts
:func:`exposure` and the build_panel stage recodes schools for a placebo with
:func:`placebo_schools` and relabels its sample flow with :func:`placebo_panel`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pl_eval.errors import ConfigError
from pl_eval.ingest.parse import categorical, group_ids

if TYPE_CHECKING:  # the panel imports this module
    from pl_eval.panel import Panel

#: Exposure groups of PL students: own school years in a PL school, up to the panel's spring.
EXPOSURE_LABELS = ("1", "2", "3+")
#: The placebo's exclusion: a school that adopted PL in another year than the next one
#: (already PL, or adopting later). Its students are neither placebo-treated nor comparison.
PLACEBO_ARM = "placebo_excluded"
PLACEBO_REASON = "school_pl_other_year"

_YEAR = re.compile(r"^([0-9]{4})-([0-9]{4})$")
_SELECTOR = re.compile(r"^(?:(?P<placebo>placebo-))?(?P<fall>[0-9]{4})-(?P<spring>[0-9]{4})$")


def fall_year(school_year: str) -> int:
    """The calendar year of the fall of a school year "YYYY-YYYY" (2021 for "2021-2022")."""
    return int(school_year[:4])


def school_year(fall: int) -> str:
    """The school year whose fall is in calendar year ``fall``: 2021 -> "2021-2022"."""
    return f"{fall}-{fall + 1}"


def listed_years(entry: str | Sequence[str]) -> tuple[str, ...]:
    """A ``school_years`` entry as a tuple of school years (one, or the list as given)."""
    return (entry,) if isinstance(entry, str) else tuple(entry)


def main_year(entry: str | Sequence[str] | None) -> str | None:
    """The school year of a cohort's main analysis: its only year, or the last listed."""
    return None if entry is None else listed_years(entry)[-1]


def year_problems(school_years: object) -> list[str]:
    """One line per ``school_years`` entry that is not a school year or a list of consecutive
    school years in order (the schema checks each text; this, what one text cannot show)."""
    if not isinstance(school_years, Mapping):
        return []
    lines = []
    for cohort, entry in school_years.items():
        if isinstance(entry, str) or not isinstance(entry, list):
            years = [entry] if isinstance(entry, str) else []
        else:
            years = entry
        texts = [y for y in years if isinstance(y, str) and _YEAR.match(y)]
        if len(texts) != len(years):
            continue  # the schema says which item is no "YYYY-YYYY"
        for year in texts:
            first, second = (int(part) for part in _YEAR.match(year).groups())
            if second != first + 1:
                lines.append(
                    f"school_years.{cohort}: {year!r} is not a school year; expected "
                    f"{school_year(first)!r} (a fall and the spring after it)"
                )
        falls = [fall_year(y) for y in texts]
        for before, after in zip(falls, falls[1:], strict=False):
            if after != before + 1:
                lines.append(
                    f"school_years.{cohort}: {school_year(before)!r} is followed by "
                    f"{school_year(after)!r}; expected consecutive school years in order "
                    f"({school_year(before + 1)!r} next)"
                )
                break
    return lines


@dataclass(frozen=True)
class YearAnalysis:
    """One ``@`` analysis of a multi-year cohort: fall of ``fall`` to spring of ``spring``
    (school years "YYYY-YYYY"), or the placebo on school year ``fall`` (= ``spring``)."""

    cohort: str
    fall: str
    spring: str
    placebo: bool = False

    @property
    def name(self) -> str:
        """The cohort wildcard value: ``demo@2020-2022``, ``demo@placebo-2020-2021``."""
        label = f"{fall_year(self.fall)}-{fall_year(self.spring) + 1}"
        return f"{self.cohort}@{'placebo-' if self.placebo else ''}{label}"

    @property
    def kind(self) -> str:
        """ "placebo", "year" (one school year) or "span" (two or more)."""
        if self.placebo:
            return "placebo"
        return "year" if self.fall == self.spring else "span"

    @property
    def n_years(self) -> int:
        return fall_year(self.spring) - fall_year(self.fall) + 1


def parse_analysis(name: str) -> YearAnalysis | None:
    """The ``@`` analysis a cohort wildcard names, or None for a plain cohort. ConfigError
    (one line) when the part after "@" is no ``<F>-<S>`` with S > F or ``placebo-<F>-<F+1>``."""
    cohort, at, selector = name.partition("@")
    if not at:
        return None
    found = _SELECTOR.match(selector)
    fall, spring = (int(found["fall"]), int(found["spring"])) if found else (0, 0)
    if not found or spring <= fall or (found["placebo"] and spring != fall + 1):
        raise ConfigError(
            f"{name!r}: expected <cohort>@<F>-<S> (fall of F to spring of S, S after F, "
            "e.g. demo@2020-2022) or <cohort>@placebo-<F>-<F+1> (e.g. demo@placebo-2020-2021)"
        )
    return YearAnalysis(cohort, school_year(fall), school_year(spring - 1), bool(found["placebo"]))


def year_analyses(cohort: str, entry: str | Sequence[str] | None) -> list[YearAnalysis]:
    """The ``@`` analyses of a cohort with ``school_years`` entry ``entry``, in report order:
    one-year analyses of every year but the last (the last one is the cohort's main analysis),
    the spans from shortest to longest and earliest first, then the placebos. None for a
    cohort with one school year.

    Every year but the last gets a placebo, whether or not schools adopt PL the next year:
    the jobs are named before any data are read. A placebo without next-year adopters has no
    PL students, and its estimates and the report say so."""
    years = listed_years(entry) if entry is not None else ()
    if len(years) < 2:
        return []
    one_year = [YearAnalysis(cohort, y, y) for y in years[:-1]]
    spans = [
        YearAnalysis(cohort, years[i], years[i + length - 1])
        for length in range(2, len(years) + 1)
        for i in range(len(years) - length + 1)
    ]
    placebos = [YearAnalysis(cohort, y, y, placebo=True) for y in years[:-1]]
    return one_year + spans + placebos


def exposure(scores: pd.DataFrame, schools: pd.DataFrame, spring_year: str) -> pd.Series:
    """Each student's own school years in a PL school, up to and including ``spring_year``: the
    school years in which the student has any kept test (any season, any subject) at a school
    that was PL that year (``pl_start_year`` <= its fall; a school outside the frame never).
    Counted from ``scores`` (every year it holds, ingest's kept tests only), indexed by
    ``student_key``; students without such a year are left out (0).

    A student is known by ``student_key``, a keyed hash of district and ID: one who changes
    district starts again from nothing, as the exports cannot tell them apart.

    Works on the distinct schools × school years (a few thousand), not on every test row's
    text: a national cohort's three years are millions of rows."""
    ids, (district, school, year) = group_ids(scores["district"], scores["school"],
                                              scores["school_year"])  # fmt: skip
    names = [categorical(scores[c]).cat.categories.astype("str")
             for c in ("district", "school", "school_year")]  # fmt: skip
    combos = pd.DataFrame({
        "district": names[0].take(district), "school": names[1].take(school),
        "fall": pd.to_numeric(names[2].take(year).str[:4], errors="coerce"),
        "in_span": names[2].take(year) <= spring_year,
    })  # fmt: skip
    combos.loc[(district < 0) | (school < 0) | (year < 0), ["fall", "in_span"]] = [np.nan, False]
    frame = schools.rename(columns={"district_name": "district", "school_name": "school"})
    start = frame.set_index(["district", "school"])["pl_start_year"].astype("Float64")
    where = pd.MultiIndex.from_frame(combos[["district", "school"]])
    started = start.reindex(where).to_numpy(dtype=float, na_value=np.nan)
    pl = (started <= combos["fall"].to_numpy(dtype=float)) & combos["in_span"].to_numpy(bool)
    students = categorical(scores["student_key"])
    student = students.cat.codes.to_numpy().astype(np.int64)
    keep = pl[ids] & (student >= 0)
    # one (student, school year) per PL year: school-year codes are few, so one integer each
    n_years = len(names[2]) + 1
    distinct = np.unique(student[keep] * n_years + year[ids[keep]])
    counts = np.bincount(distinct // n_years, minlength=len(students.cat.categories))
    held = np.flatnonzero(counts)
    keys = students.cat.categories.astype("str").take(held)
    return pd.Series(
        counts[held].astype("int64"), index=pd.Index(keys, name="student_key"), name="exposure"
    ).sort_index()


def exposure_labels(data: pd.DataFrame, counts: pd.Series) -> pd.Series:
    """The panel's ``exposure`` column: "1", "2" or "3+" for PL students (``treated``) by
    their count in ``counts`` (:func:`exposure`), missing for comparison students."""
    # Arrow's hash lookup: pandas' map takes a national panel's keys as Python strings first
    # (eight times slower); a key missing from counts is -1, the NaN appended below.
    at = pc.index_in(
        pa.array(data["student_key"].astype("str").array),
        value_set=pa.array(counts.index.astype("str").array),
    )
    held = np.append(counts.to_numpy(dtype=float), np.nan)
    years = pd.Series(held[at.fill_null(-1).to_numpy()], index=data.index).astype("Float64")
    label = pd.cut(years, [0, 1, 2, np.inf], labels=list(EXPOSURE_LABELS)).astype("string")
    return label.where(data["treated"].astype(bool), pd.NA).astype("string")


def placebo_schools(schools: pd.DataFrame, fall: int) -> pd.DataFrame:
    """The school frame as the placebo on the school year of fall ``fall`` treats it:
    schools adopting PL the next year (``pl_start_year == fall + 1``) as PL from this fall,
    never-PL schools as comparison schools, and every other PL school (already PL, or adopting
    later) as not yet PL (``pl_start_year`` after ``fall``), so the panel excludes its students
    (relabelled by :func:`placebo_panel`)."""
    start = schools["pl_start_year"].astype("Int64")
    adopting = start.eq(fall + 1).fillna(False).astype(bool)
    other = start.notna() & ~adopting
    recoded = start.mask(adopting, fall).mask(other, fall + 2)
    return schools.assign(pl_start_year=recoded.astype("Int64"))


def placebo_panel(panel: Panel, schools: pd.DataFrame, fall: int) -> Panel:
    """A panel built on :func:`placebo_schools` as the placebo's: its placebo-treated rows
    keep their school's real ``pl_start_year`` and have no years of PL and no exposure (their
    school is not PL yet), and the students of schools outside the placebo are counted under
    arm ``placebo_excluded``, reason ``school_pl_other_year`` (their ``not_yet_pl`` rows)."""
    frame = schools.rename(columns={"district_name": "district", "school_name": "school"})
    real = frame.set_index(["district", "school"])["pl_start_year"].astype("Int64")
    data = panel.data
    where = pd.MultiIndex.from_arrays([data["district"], data["school"]])
    data = data.assign(
        pl_start_year=pd.array(real.reindex(where).to_numpy(), dtype="Int64"),
        years_pl=pd.Series(pd.NA, index=data.index, dtype="string"),
        exposure=pd.Series(pd.NA, index=data.index, dtype="string"),
    )
    flow = panel.exclusions
    other = flow["arm"].eq("not_yet_pl")
    flow = flow.assign(
        arm=flow["arm"].where(~other, PLACEBO_ARM),
        reason=flow["reason"].where(~(other & flow["reason"].eq("school_not_yet_pl")),
                                    PLACEBO_REASON),
    )  # fmt: skip
    return replace(panel, data=data, exclusions=flow)
