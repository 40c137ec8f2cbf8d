"""Why nobody in a cohort's subject (or one stratum of it) can be matched, decided before
matching: no PL students, no comparison students, every student of an arm missing a matching
column, or (found while matching) a propensity model that separates the arms completely."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from pl_eval.matching.errors import SeparationError
from pl_eval.matching.result import describe_reasons

if TYPE_CHECKING:
    from pl_eval.matching.cohort import MatchConfig


@dataclass(frozen=True)
class Unmatchable:
    """Why a group of students cannot be matched: a phrase, and the PL students by reason."""

    text: str  # e.g. "no PL students", "no comparison students"
    reasons: dict[str, int]  # reason code (matching.REASONS) -> PL students

    @classmethod
    def separated(cls, rows: pd.DataFrame, error: SeparationError) -> Unmatchable:
        """Every PL student of ``rows`` unmatched: the propensity model separates the arms."""
        n_treated = int(rows["treated"].sum())
        text = str(error).split(";")[0]  # "complete separation ...: frl_pct separates ..."
        return cls(text, {"complete_separation": n_treated})


def unmatchable(rows: pd.DataFrame, config: MatchConfig) -> Unmatchable | None:
    """Why ``rows`` (one subject's or stratum's panel rows) cannot be matched; None when they
    can. With ``match.missing: error`` missing values are left for matching to report."""
    treated = rows["treated"].to_numpy(dtype=bool)
    n_treated, n_comparison = int(treated.sum()), int((~treated).sum())
    if not n_treated:
        return Unmatchable("no PL students", {})
    if not n_comparison:
        return Unmatchable("no comparison students", {"no_comparison_students": n_treated})
    if config.missing == "error":
        return None
    fixed = [*config.exact, *(config.vcg.columns if config.method == "vcg" else ())]
    needed = fixed if config.missing == "impute" else [*config.covariates, *fixed]
    complete = ~rows[list(dict.fromkeys(needed))].isna().any(axis=1).to_numpy()
    n_complete = int((complete & treated).sum())
    if not n_complete:
        return Unmatchable(
            "every PL student is missing a matching covariate", {"missing_covariate": n_treated}
        )
    if not (complete & ~treated).any():
        reasons = {
            "missing_covariate": n_treated - n_complete,
            "no_comparison_students": n_complete,
        }
        return Unmatchable(
            "every comparison student is missing a matching covariate",
            {k: v for k, v in reasons.items() if v},
        )
    return None


def nobody_matched(subject: str, n_treated: int, reasons: dict[str, int]) -> str:
    """The match summary's note when none of the ``n_treated`` PL students of ``subject`` was
    matched, with the unmatched PL students by reason."""
    if not n_treated:
        return f"nothing matched in {subject}: no PL students"
    return f"nothing matched in {subject}: no PL student was matched ({describe_reasons(reasons)})"
