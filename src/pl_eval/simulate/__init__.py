"""The demo cohort: realistic NWEA MAP Growth exports of PL and comparison schools over several
school years, and the planted truth, calibrated to RAND's 2017 study
(reference/rand_method.md, "Demo cohort calibration"; formats from reference/nwea_formats.md
§1 and §4).

:func:`simulate_cohort` produces what an evaluator hands over: per school year, district and
term a Comprehensive Data File pair (``AssessmentResults`` in the 2020+ layout C and
``StudentsBySchool``) under ``<YYYY-YYYY>/``, the evaluator's ``schools.csv`` (one frame, PL
start years staggered), and ``truth.json``. The modules, in the order the simulation runs:

* :mod:`~pl_eval.simulate.settings`: every calibration number, the presets, random streams;
* :mod:`~pl_eval.simulate.schools`: schools, districts, names, staggered adoption, shocks;
* :mod:`~pl_eval.simulate.population`: students, grades, moves, leavers and arrivals by year;
* :mod:`~pl_eval.simulate.scores`: true and observed z, attrition, dates, planted effects;
* :mod:`~pl_eval.simulate.events`: test events (retests, invalid tests, growth fields);
* :mod:`~pl_eval.simulate.writers`: the export files as NWEA writes them (with the column
  lists, codes and name words of :mod:`~pl_eval.simulate.labels`);
* :mod:`~pl_eval.simulate.truth`: the planted truth per year, span, exposure group, placebo;
* :mod:`~pl_eval.simulate.cohort`: the year-by-year loop tying them together.
"""

from pl_eval.simulate.cohort import SimulatedCohort, simulate_cohort
from pl_eval.simulate.labels import ASSESSMENT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from pl_eval.simulate.settings import (
    LEVELS,
    LOCALES,
    SECTORS,
    SIZES,
    SUBJECTS,
    YEARS_LABELS,
    SimulationSettings,
)

__all__ = [
    "ASSESSMENT_COLUMNS",
    "LEVELS",
    "LOCALES",
    "SCHOOL_COLUMNS",
    "SECTORS",
    "SIZES",
    "STUDENT_COLUMNS",
    "SUBJECTS",
    "YEARS_LABELS",
    "SimulatedCohort",
    "SimulationSettings",
    "simulate_cohort",
]
