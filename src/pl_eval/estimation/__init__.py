"""Effect estimates: the model library (any DataFrame) and a cohort's tidy estimates.

``estimate_effect(df, outcome, treatment, covariates, weights=, cluster=, model=, se=)`` fits
one weighted effect model with cluster-robust or random-intercept uncertainty;
``estimate_cohort`` produces the pooled, school, breakout and trajectory tables, and
``combine_estimates`` joins the tables of per-subject runs.

Each name is imported from its module on first use (PEP 562), so a job that needs one module
(growth_norms needs only :mod:`pl_eval.estimation.growth_norms`) does not import the model
library's scipy and the rest.
"""

import importlib

#: Where each public name lives: its module, and its name there when that differs.
_SOURCES = {
    "CohortEstimates": ("cohort",),
    "EstimateConfig": ("cohort",),
    "combine_estimates": ("cohort",),
    "estimate_cohort": ("cohort",),
    "sample_columns": ("cohort",),
    "EffectEstimate": ("models",),
    "EqualityTest": ("models",),
    "EstimationError": ("models",),
    "EstimationWarning": ("models",),
    "InteractionEstimate": ("models",),
    "VarianceComponents": ("models",),
    "estimate_effect": ("models",),
    "estimate_interaction": ("models",),
    "Shrinkage": ("shrinkage",),
    "shrink": ("shrinkage",),
    "GateMissed": ("validate",),
    "Validation": ("validate",),
    "compare_to_truth": ("validate",),
    "summarise_validation": ("validate", "summarise"),
}
_SUBMODULES = ("attrition", "sensitivity")

__all__ = sorted([*_SOURCES, *_SUBMODULES])


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, *renamed = _SOURCES[name]
    value = getattr(
        importlib.import_module(f"{__name__}.{module}"), renamed[0] if renamed else name
    )
    globals()[name] = value  # later uses skip this function
    return value
