"""Matched comparison groups: propensity-score nearest neighbour (as MatchIt) and NWEA-style VCGs.

``match(df, treatment, covariates, ...)`` returns a :class:`MatchResult` (weights, logit scores,
pairs, unmatched rows with reasons, ``summary()``, ``balance()``, ``to_frame()``);
``balance(...)`` diagnoses any weighting; ``love_plot`` and ``overlap_plot`` return figures;
``match_cohort`` matches a panel's subject, within grade bands when ``MatchConfig.strata`` says so,
and gives a ``NothingMatched`` (empty tables, the reason why) when nobody can be matched.
"""

from pl_eval.matching.api import match
from pl_eval.matching.balance import Balance, balance
from pl_eval.matching.cohort import (
    CohortMatch,
    MatchConfig,
    NothingMatched,
    match_cohort,
    match_stratum,
)
from pl_eval.matching.errors import MatchingError, MatchingWarning
from pl_eval.matching.plots import love_plot, overlap_plot
from pl_eval.matching.propensity import PropensityFit
from pl_eval.matching.result import REASONS, MatchResult, MatchSettings
from pl_eval.matching.strata import MatchPart, StratifiedMatch, merge_parts, stratum_labels
from pl_eval.matching.vcg import VCGSettings

__all__ = [
    "REASONS",
    "Balance",
    "CohortMatch",
    "MatchConfig",
    "MatchPart",
    "MatchResult",
    "MatchSettings",
    "MatchingError",
    "MatchingWarning",
    "NothingMatched",
    "PropensityFit",
    "StratifiedMatch",
    "VCGSettings",
    "balance",
    "love_plot",
    "match",
    "match_cohort",
    "match_stratum",
    "merge_parts",
    "overlap_plot",
    "stratum_labels",
]
