"""Matched comparison groups: propensity-score nearest neighbour (as MatchIt) and NWEA-style VCGs.

``match(df, treatment, covariates, ...)`` returns a :class:`MatchResult` (weights, logit scores,
pairs, unmatched rows with reasons, ``summary()``, ``balance()``, ``to_frame()``);
``balance(...)`` diagnoses any weighting; ``love_plot`` and ``overlap_plot`` return figures;
``match_cohort`` matches a panel's subject, within grade bands when ``MatchConfig.strata`` says so,
and gives a ``NothingMatched`` (empty tables, the reason why) when nobody can be matched.

Each name is imported from its module on first use (PEP 562): an estimate job needs the
weighting's column names only, not the matcher, its strata and the panel code they import.
"""

from pl_eval import lazy

# ``balance`` names a submodule and its function: once the submodule is imported (the matcher
# imports it) the package's attribute would be the module, so the function is bound here.
from pl_eval.matching.balance import balance as balance

#: Where each other public name lives.
_SOURCES = {
    "match": "api",
    "Balance": "balance",
    "CohortMatch": "cohort",
    "MatchConfig": "cohort",
    "NothingMatched": "cohort",
    "match_cohort": "cohort",
    "match_stratum": "cohort",
    "MatchingError": "errors",
    "MatchingWarning": "errors",
    "love_plot": "plots",
    "overlap_plot": "plots",
    "PropensityFit": "propensity",
    "REASONS": "result",
    "MatchResult": "result",
    "MatchSettings": "result",
    "MatchPart": "strata",
    "StratifiedMatch": "strata",
    "merge_parts": "strata",
    "stratum_labels": "strata",
    "VCGSettings": "vcg",
}

__all__ = sorted([*_SOURCES, "balance"])
__getattr__ = lazy.exports(__name__, _SOURCES)
