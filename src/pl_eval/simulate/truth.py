"""The planted truth of a simulated cohort, as ``truth.json`` holds it (no stage reads it;
validation and tests compare estimates with it).

Definitions (the model is in :mod:`pl_eval.simulate.scores`):

* **Analysable** in a school year: a student × subject with a valid fall and a valid spring test
  (duration >= 6 min, rapid guessing < 30 %; de-duplication keeps a valid test) at the same
  school all year. **All treated**: every student with a valid fall test at a PL school.
* **One-year truth** of year Y (``years[Y].effects``; the top-level ``effects`` are the last
  year's): per subject, over the analysable students of the schools PL in Y, the mean of the
  planted effect + baseline gradient (``tau``), without the schools' deviations u_s and growth
  shocks: the population quantity school-clustered intervals speak for. ``sample`` adds the
  deviations; a school's cell adds its deviation and its own growth shock of the year, which
  no comparison group shares and one year cannot separate from its effect. Cells by sector and
  by ``years`` (the school's years of implementation in Y: "1", "2", "3+"). A school's
  ``planted`` is the mean planted effect of its analysable students (its students' exposure
  multipliers differ when several years are simulated; with one year it is every student's).
* **Span truth** F-S (``spans["F-S"]``, fall of school year F-(F+1) to spring of (S-1)-S): over
  the span's analysable PL students (a valid fall test in F's fall at a school PL that fall, and
  a valid spring test in the last spring under the same StudentID of the same district), the
  mean accumulated contribution of the planted effects of the span's years to the last spring
  z: Σ_y τ_y · Π_{y' after y} ρ*_{y'}, τ_y the student's planted effect + gradient in year y
  (zero in a year at a non-PL school) and ρ*_{y'} their true-score fall-spring correlation in
  year y' (the summer passes z on unchanged, with noise). Effects before F are in F's fall z,
  the span's baseline, and are not counted. Sector: of the fall school.
* **Exposure truth** of year Y (``exposure[Y]``): the one-year truth's ``tau`` by the student's
  own years of exposure ("1", "2", "3+": simulated years up to Y with a valid math or reading
  test at a school PL that year).
* **Placebo truth** on year Y (``placebo[Y]``, for Y whose next year has new adopters): 0, as
  nothing is planted before adoption; ``n`` counts the analysable students of next year's
  adopters in Y, and ``selection`` records ``pre_adoption_selection``, the extra spring z these
  schools gained in each pre-adoption year (what a placebo estimate should then find).

Layout::

    {"settings": {...}, "school_year": "2022-2023", "norms_year": 2020, "analysable": "...",
     "all_treated": "...", "counts": {...},
     "effects": {"math": {"pooled": {"tau", "n", "all_treated", "n_all_treated"},
                          "by_sector": {"charter": {...}, "district": {...}},
                          "by_years": {"1": {...}, "2": {...}, "3+": {...}},
                          "by_school": {"<district_name>|<school_name>":
                              {"district_name", "school_name", "sector", "years", "tau", "n",
                               "all_treated", "n_all_treated", "planted", "deviation", "shock",
                               "centre"}},
                          "n_comparison": ...,   # analysable comparison students
                          "sample": {"pooled", "by_sector", "by_years"}},
                 "reading": {...}},
     "school_years": ["2020-2021", "2021-2022", "2022-2023"],
     "years": {"2020-2021": {"effects": {...as above}, "counts": {...}}, ...},
     "spans": {"2020-2022": {"math": {"pooled": {"tau", "n"}, "by_sector": {...}},
                             "reading": ...}, "2021-2023": ..., "2020-2023": ...},
     "exposure": {"2022-2023": {"math": {"1": {"tau", "n"}, "2": ..., "3+": ...},
                                "reading": ...}, ...},
     "placebo": {"2021-2022": {"math": {"pooled": {"tau": 0.0, "n"}}, "reading": ...,
                               "selection": 0.0, "schools": 15}, ...}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.simulate.scores import Scores, Year
from pl_eval.simulate.settings import (
    EXPOSURE_LABELS,
    SECTORS,
    SUBJECTS,
    YEARS_LABELS,
    SimulationSettings,
)


@dataclass(frozen=True)
class YearTrace:
    """What the span truths need of one simulated year, per student (the year's export rows
    are gone by then)."""

    school: np.ndarray  # fall school
    previous_row: np.ndarray  # the student's row the year before (-1: arrived this year)
    same_key: np.ndarray  # spring test under the fall StudentID (no change of district)
    fall_ok: np.ndarray  # [student, subject]
    spring_ok: np.ndarray  # [student, subject]
    analysable: np.ndarray  # [student, subject]
    population: np.ndarray  # [student, subject] τ without u_s
    rho: np.ndarray  # [student, subject]
    pl: np.ndarray  # [school]

    @classmethod
    def of(cls, year: Year, students: pd.DataFrame, scores: Scores) -> YearTrace:
        return cls(
            school=students["school"].to_numpy(),
            previous_row=students["previous_row"].to_numpy(),
            same_key=(students["district"] == students["spring_district"]).to_numpy(),
            fall_ok=scores.fall_ok,
            spring_ok=scores.spring_ok,
            analysable=scores.analysable,
            population=scores.population,
            rho=scores.rho,
            pl=year.pl,
        )


def year_truth(
    s: SimulationSettings,
    year: Year,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    students: pd.DataFrame,
    scores: Scores,
    n_rows: int,
) -> dict:
    """One year's ``effects``, ``counts`` and ``exposure`` (see the module docstring)."""
    school = students["school"].to_numpy()
    spring_school = students["spring_school"].to_numpy()
    pl_school = year.pl
    sector = np.where(schools["charter"], "charter", "district")
    years = year.implementation
    years_label = np.asarray(YEARS_LABELS)[np.clip(years - 1, 0, 2)]
    exposure_label = np.asarray(EXPOSURE_LABELS)[np.clip(scores.exposure - 1, 0, 2)]
    district_name = districts["name"].to_numpy()[schools["district"]]
    pl = pl_school[school]

    effects, exposure = {}, {}
    for k, subject in enumerate(SUBJECTS):
        analysable = scores.analysable[:, k] & pl
        enrolled = scores.fall_ok[:, k] & pl  # every PL student with a valid fall test
        population = scores.population[:, k]
        deviation = scores.deviation[:, k]
        sample = population + 0.5 * (deviation[school] + deviation[spring_school])
        of_school = sample + year.shock[school]

        def cell(values, where, analysable=analysable, enrolled=enrolled) -> dict:
            kept, everyone = values[analysable & where], values[enrolled & where]
            return {
                "tau": _mean(kept),
                "n": len(kept),
                "all_treated": _mean(everyone),
                "n_all_treated": len(everyone),
            }

        def scopes(values: np.ndarray, pl: np.ndarray = pl, cell=cell) -> dict:
            return {
                "pooled": cell(values, pl),
                "by_sector": {g: cell(values, sector[school] == g) for g in SECTORS},
                "by_years": {g: cell(values, years_label[school] == g) for g in YEARS_LABELS},
            }

        by_school = {}
        planted = scores.planted[:, k]
        for i in np.flatnonzero(pl_school):  # the handful of PL schools
            own = analysable & (school == i)
            by_school[f"{district_name[i]}|{schools['name'].iloc[i]}"] = {
                "district_name": str(district_name[i]),
                "school_name": str(schools["name"].iloc[i]),
                "sector": str(sector[i]),
                "years": int(years[i]),
                **cell(of_school, school == i),
                "planted": round(float(planted[own].mean()), 6) if own.any() else 0.0,
                "deviation": round(float(deviation[i]), 6),
                "shock": round(float(year.shock[i]), 6),
                "centre": round(float(scores.centre[i, k]), 6),
            }
        effects[subject] = {
            **scopes(population),
            "by_school": by_school,
            "n_comparison": int((scores.analysable[:, k] & ~pl).sum()),
            # The realised effects of these schools (with their deviations u_s): the sample
            # ATT, which pooled intervals that speak for the population of schools also cover.
            "sample": scopes(sample),
        }
        exposure[subject] = {
            g: {
                "tau": _mean(population[analysable & (exposure_label == g)]),
                "n": int((analysable & (exposure_label == g)).sum()),
            }
            for g in EXPOSURE_LABELS
        }
    counts = {
        "students": len(students),
        "treated_schools": int(pl_school.sum()),
        "comparison_schools": int((~pl_school).sum()),
        "districts": len(districts),
        "winter_districts": int(year.winter.sum()),
        "assessment_rows": n_rows,
    }
    return {"effects": effects, "counts": counts, "exposure": exposure}


def span_truths(
    s: SimulationSettings, schools: pd.DataFrame, traces: list[YearTrace]
) -> dict[str, dict]:
    """Every span of two or more consecutive simulated years (see the module docstring)."""
    sector = np.where(schools["charter"], "charter", "district")
    out = {}
    for first in range(len(traces)):
        a = traces[first]
        acc = a.population.copy()
        origin = np.arange(len(a.school))
        for last in range(first + 1, len(traces)):
            t = traces[last]
            stay = t.previous_row >= 0
            before = np.maximum(t.previous_row, 0)
            acc = np.where(stay[:, None], t.rho * acc[before], 0.0) + t.population
            origin = np.where(stay, origin[before], -1)
            at = np.maximum(origin, 0)
            fall_school = a.school[at]
            member = (origin >= 0) & t.same_key & a.pl[fall_school]
            name = f"{s.fall_years[first]}-{s.fall_years[last] + 1}"
            out[name] = {}
            for k, subject in enumerate(SUBJECTS):
                kept = member & a.fall_ok[at, k] & t.spring_ok[:, k]

                def cell(where: np.ndarray, kept=kept, values=acc[:, k]) -> dict:
                    values = values[kept & where]
                    return {"tau": _mean(values), "n": len(values)}

                out[name][subject] = {
                    "pooled": cell(kept),
                    "by_sector": {g: cell(sector[fall_school] == g) for g in SECTORS},
                }
    return dict(sorted(out.items()))


def placebo_truths(
    s: SimulationSettings, schools: pd.DataFrame, traces: list[YearTrace]
) -> dict[str, dict]:
    """Every year whose next simulated year has new adopters (see the module docstring)."""
    start = schools["start"].to_numpy()
    out = {}
    for t, trace in enumerate(traces[:-1]):
        adopters = start == s.fall_years[t + 1]
        if not adopters.any():
            continue
        at = adopters[trace.school]
        out[s.school_years[t]] = {
            **{
                subject: {"pooled": {"tau": 0.0, "n": int((trace.analysable[:, k] & at).sum())}}
                for k, subject in enumerate(SUBJECTS)
            },
            "selection": s.pre_adoption_selection,
            "schools": int(adopters.sum()),
        }
    return out


def cohort_truth(
    s: SimulationSettings,
    schools: pd.DataFrame,
    per_year: dict[str, dict],
    spans: dict[str, dict],
    placebo: dict[str, dict],
    norms_year: int,
) -> dict:
    """truth.json: the last year's truth at the top level, then every year, span, exposure
    group and placebo."""
    last = per_year[s.school_year]
    return {
        "settings": {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(s).items()
        },
        "school_year": s.school_year,
        "norms_year": norms_year,
        "analysable": (
            "valid fall and spring test (duration >= 6 min, rapid guessing < 30%; then "
            "GrowthMeasureYN, lowest SE, latest date) at the same school all year"
        ),
        "all_treated": "every student with a valid fall test at a PL school, spring test or not",
        "counts": last["counts"],
        "effects": last["effects"],
        "school_years": list(s.school_years),
        "years": {y: {"effects": v["effects"], "counts": v["counts"]} for y, v in per_year.items()},
        "spans": spans,
        "exposure": {y: v["exposure"] for y, v in per_year.items()},
        "placebo": placebo,
        "pl_start_years": {
            str(y): int((schools["start"] == y).sum())
            for y in sorted(set(schools.loc[schools["treated"], "start"]))
        },
    }


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 6) if len(values) else None
