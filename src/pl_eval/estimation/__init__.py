"""Effect estimates: the model library (any DataFrame) and a cohort's tidy estimates.

``estimate_effect(df, outcome, treatment, covariates, weights=, cluster=, model=, se=)`` fits
one weighted effect model with cluster-robust or random-intercept uncertainty;
``estimate_cohort`` produces the pooled, school, breakout and trajectory tables, and
``combine_estimates`` joins the tables of per-subject runs.
"""

from pl_eval.estimation import attrition, sensitivity
from pl_eval.estimation.cohort import (
    CohortEstimates,
    EstimateConfig,
    combine_estimates,
    estimate_cohort,
    sample_columns,
)
from pl_eval.estimation.models import (
    EffectEstimate,
    EqualityTest,
    EstimationError,
    EstimationWarning,
    InteractionEstimate,
    VarianceComponents,
    estimate_effect,
    estimate_interaction,
)
from pl_eval.estimation.shrinkage import Shrinkage, shrink
from pl_eval.estimation.validate import GateMissed, Validation, compare_to_truth
from pl_eval.estimation.validate import summarise as summarise_validation

__all__ = [
    "CohortEstimates",
    "EffectEstimate",
    "EqualityTest",
    "EstimateConfig",
    "EstimationError",
    "EstimationWarning",
    "GateMissed",
    "InteractionEstimate",
    "Shrinkage",
    "Validation",
    "VarianceComponents",
    "attrition",
    "combine_estimates",
    "compare_to_truth",
    "estimate_cohort",
    "estimate_effect",
    "estimate_interaction",
    "sample_columns",
    "sensitivity",
    "shrink",
    "summarise_validation",
]
