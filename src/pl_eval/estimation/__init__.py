"""Effect estimates: the model library (any DataFrame) and a cohort's tidy estimates.

``estimate_effect(df, outcome, treatment, covariates, weights=, cluster=, model=, se=)`` fits
one weighted effect model with cluster-robust or random-intercept uncertainty;
``estimate_cohort`` produces the pooled, school, breakout and trajectory tables, and
``combine_estimates`` joins the tables of per-subject runs.

Each name is imported from its module on first use (PEP 562), so a job that needs one module
(growth_norms needs only :mod:`pl_eval.estimation.growth_norms`) does not import the model
library's scipy and the rest.
"""

from pl_eval import lazy

#: Where each public name lives: its module, or "module.name" when it is named otherwise there.
_SOURCES = {
    "CohortEstimates": "cohort",
    "EstimateConfig": "cohort",
    "combine_estimates": "cohort",
    "estimate_cohort": "cohort",
    "sample_columns": "cohort",
    "EffectEstimate": "models",
    "EqualityTest": "models",
    "EstimationError": "errors",
    "EstimationWarning": "errors",
    "InteractionEstimate": "models",
    "VarianceComponents": "models",
    "estimate_effect": "models",
    "estimate_interaction": "models",
    "Shrinkage": "shrinkage",
    "shrink": "shrinkage",
    "GateMissed": "validate",
    "Validation": "validate",
    "compare_to_truth": "validate",
    "summarise_validation": "validate.summarise",
}

__all__ = sorted([*_SOURCES, "attrition", "sensitivity"])
__getattr__ = lazy.exports(__name__, _SOURCES)
