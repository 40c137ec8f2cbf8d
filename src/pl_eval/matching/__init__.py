"""Matched comparison groups: propensity-score nearest neighbour (as MatchIt) and NWEA-style VCGs.

``match(df, treatment, covariates, ...)`` returns a :class:`MatchResult` (weights, logit scores,
pairs, unmatched rows with reasons, ``summary()``, ``balance()``, ``to_frame()``);
``balance(...)`` diagnoses any weighting; ``love_plot`` and ``overlap_plot`` return figures.
"""

from pl_eval.matching.api import match
from pl_eval.matching.balance import Balance, balance
from pl_eval.matching.cohort import CohortMatch, MatchConfig, match_cohort
from pl_eval.matching.errors import MatchingError, MatchingWarning
from pl_eval.matching.plots import love_plot, overlap_plot
from pl_eval.matching.propensity import PropensityFit
from pl_eval.matching.result import REASONS, MatchResult, MatchSettings
from pl_eval.matching.vcg import VCGSettings

__all__ = [
    "REASONS",
    "Balance",
    "CohortMatch",
    "MatchConfig",
    "MatchResult",
    "MatchSettings",
    "MatchingError",
    "MatchingWarning",
    "PropensityFit",
    "VCGSettings",
    "balance",
    "love_plot",
    "match",
    "match_cohort",
    "overlap_plot",
]
