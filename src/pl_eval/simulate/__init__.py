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

Each name is imported from its module on first use (PEP 562): the workflow's Snakefile reads
:class:`SimulationSettings` only, not the simulation itself and its scipy.optimize (a third of
a second before Snakemake can start the first job).
"""

from pl_eval import lazy

#: Where each public name lives.
_SOURCES = {
    "SimulatedCohort": "cohort",
    "simulate_cohort": "cohort",
    "ASSESSMENT_COLUMNS": "labels",
    "SCHOOL_COLUMNS": "labels",
    "STUDENT_COLUMNS": "labels",
    "LEVELS": "settings",
    "LOCALES": "settings",
    "SECTORS": "settings",
    "SIZES": "settings",
    "SUBJECTS": "settings",
    "YEARS_LABELS": "settings",
    "SimulationSettings": "settings",
}

__all__ = sorted(_SOURCES)
__getattr__ = lazy.exports(__name__, _SOURCES)
