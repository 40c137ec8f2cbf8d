"""A simulated cohort, school year after school year: the schools and districts once, then per
year the students, their scores and tests, and that year's export files; the truth at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pl_eval.norms import Norms
from pl_eval.simulate import population, writers
from pl_eval.simulate import schools as schools_mod
from pl_eval.simulate import truth as truths
from pl_eval.simulate.scores import NormGrids, Scores, Year, school_deviations
from pl_eval.simulate.settings import SUBJECTS, SimulationSettings, day, rng

#: Where each export table goes as soon as its year is simulated: (relative path, table of text).
Sink = Callable[[str, pa.Table], None]


@dataclass(frozen=True)
class SimulatedCohort:
    """A simulated cohort as an evaluator would hand it over, plus the planted truth."""

    # "<YYYY-YYYY>/<file name>" -> table of strings in NWEA layout (empty when written to a sink)
    exports: dict[str, pd.DataFrame]
    schools: pd.DataFrame  # the evaluator's schools.csv (SCHOOL_COLUMNS, strings)
    truth: dict  # JSON-serialisable planted truth (see pl_eval.simulate.truth)

    def summary(self) -> str:
        years = self.truth["years"]
        rows = sum(v["counts"]["assessment_rows"] for v in years.values())
        per_year = "; ".join(
            f"{y}: {v['counts']['students']} students, {v['counts']['treated_schools']} PL "
            f"schools, {v['counts']['assessment_rows']} assessment rows"
            for y, v in years.items()
        )
        effects = ", ".join(
            f"{s} {self.truth['effects'][s]['pooled']['tau']:+.3f}" for s in SUBJECTS
        )
        counts = self.truth["counts"]
        return (
            f"{len(years)} school years, {rows} assessment rows ({per_year}); "
            f"{counts['treated_schools']} PL / {counts['comparison_schools']} comparison "
            f"schools; true pooled effects in {self.truth['school_year']} {effects}"
        )


def simulate_cohort(
    settings: SimulationSettings, norms: Norms, sink: Sink | None = None
) -> SimulatedCohort:
    """Simulate the school years of ``settings``: NWEA exports per year (handed to ``sink``
    year by year when given, else kept in ``exports``), the school frame and the truth."""
    s = settings
    grids = NormGrids.from_norms(norms, s)
    schools = schools_mod.draw_schools(s, rng(s, "schools"))
    districts = schools_mod.draw_districts(s, schools, rng(s, "districts"))
    schools = schools_mod.name_schools(schools, districts, s, rng(s, "school_names"))
    u = school_deviations(s, len(schools), rng(s, "effects"))
    kept: dict[str, pd.DataFrame] = {}
    per_year, traces = {}, []
    students, scores, targets = None, None, None
    for t, school_year in enumerate(s.school_years):
        moves = rng(s, "students", t)
        if t == 0:
            enrolled = population.first_enrolment(s, schools, districts, moves)
            targets = population.grade_targets(enrolled, len(schools))
            carried = np.full((len(enrolled), 3), np.nan)
            exposure_before = np.zeros(len(enrolled), dtype=np.int64)
        else:
            enrolled = population.next_enrolment(
                s, students, schools, districts, targets, t, rng(s, "progression", t)
            )
            previous = enrolled["previous_row"].to_numpy()
            stay, before = previous >= 0, np.maximum(previous, 0)
            carried = np.where(stay[:, None], scores.z_spring_true[before], np.nan)
            exposure_before = np.where(stay, scores.exposure[before], 0)
        students = population.term_moves(s, enrolled, schools, districts, t, moves)
        year = _year(s, t, schools, districts)
        streams = ("scores", "attrition", "measurement", "dates", "winter")
        scores = Scores.draw(
            s, year, schools, students, carried, exposure_before, u, grids,
            {k: rng(s, k, t) for k in streams},
        )  # fmt: skip
        students = students.assign(has_spring=scores.has_spring, has_winter=scores.has_winter)
        assessments = writers.assessment_results(
            s, schools, districts, students, scores, grids, norms.year, school_year,
            rng(s, "tests", t),
        )  # fmt: skip
        rosters = writers.students_by_school(schools, districts, students, school_year)
        exports = {
            **writers.split(assessments, districts, "AssessmentResults", school_year),
            **writers.split(rosters, districts, "StudentsBySchool", school_year),
        }
        for name, table in sorted(exports.items()):
            if sink is None:
                kept[name] = table.to_pandas()
            else:
                sink(name, table)
        n_rows = len(assessments.term)
        del exports, assessments, rosters  # one year's text tables in memory at a time
        per_year[school_year] = truths.year_truth(
            s, year, schools, districts, students, scores, n_rows
        )
        traces.append(truths.YearTrace.of(year, students, scores))
    truth = truths.cohort_truth(
        s,
        schools,
        per_year,
        truths.span_truths(s, schools, traces),
        truths.placebo_truths(s, schools, traces),
        norms.year,
    )
    return SimulatedCohort(
        exports=dict(sorted(kept.items())),
        schools=schools_mod.school_frame(schools, districts, s),
        truth=truth,
    )


def _year(s: SimulationSettings, t: int, schools: pd.DataFrame, districts: pd.DataFrame) -> Year:
    """Which schools are PL in the ``t``-th year and for how long, its shocks and windows."""
    fall_year = s.fall_years[t]
    start = schools["start"].to_numpy()
    pl = start <= fall_year
    windows = schools_mod.test_windows(s, schools, fall_year)
    winter_open = day(fall_year + 1, 1, 9) + schools["winter_offset"].to_numpy()
    return Year(
        index=t,
        school_year=s.school_years[t],
        pl=pl,
        implementation=np.where(pl, fall_year - start + 1, 0),
        pre_adoption=schools["treated"].to_numpy() & ~pl,
        shock=schools_mod.year_shocks(s, schools, rng(s, "shocks", t)),
        windows=np.stack([windows["fall"], windows["spring"], winter_open], axis=1),
        winter=districts["winter"].to_numpy(),
    )
