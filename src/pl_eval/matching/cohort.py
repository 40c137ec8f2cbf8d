"""Matching a cohort's panel, one subject at a time, as configured in ``config.yaml``.

PL schools never serve as comparisons: the panel's ``treated`` flag is the treatment, and
schools that start PL after the cohort's year were already left out of the panel. A subject
in which nobody can be matched (no PL or no comparison students, every PL student missing a
covariate, complete separation) gives a :class:`NothingMatched`: empty matched and pairs
tables and a summary saying why, so estimation and the report go on and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval.matching.api import WEIGHTING, match
from pl_eval.matching.balance import Balance, not_computable_balance
from pl_eval.matching.errors import MatchingError, SeparationError
from pl_eval.matching.plots import baseline_overlap_plot, empty_plot, overlap_plot
from pl_eval.matching.result import MatchResult, describe_reasons
from pl_eval.matching.strata import (
    MatchPart,
    StratifiedMatch,
    matched_part,
    merge_parts,
    no_matches,
    no_pairs,
    stratum_labels,
    stratum_rows,
    unmatched_part,
    unmatched_schools,
)
from pl_eval.matching.unmatched import Unmatchable, nobody_matched, unmatchable
from pl_eval.matching.vcg import VCGSettings
from pl_eval.matching.weighting import STRATUM_COLUMN

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Config names of the methods and the library's names for them.
METHODS = {"propensity": "nearest", "vcg": "vcg", "ipw": "ipw", "entropy": "entropy"}


@dataclass(frozen=True)
class MatchConfig:
    """The ``match`` section of config.yaml (defaults mirror config/schema.yaml)."""

    method: str = "propensity"
    covariates: tuple[str, ...] = ("fall_z", "frl_pct", "locale_group", "gender")
    exact: tuple[str, ...] = ("grade",)
    ratio: int = 5
    replace: bool = True
    caliper: float | None = 0.2
    order: str = "largest"
    missing: str = "drop"
    seed: int = 20141
    vcg: VCGSettings = field(default_factory=VCGSettings)
    strata: tuple[str, ...] = ()  # match separately within these (see strata.py)
    # {column: caliper in SDs of the column}, beside the caliper on the logit (MatchIt's
    # named caliper entries, std.caliper = TRUE)
    covariate_calipers: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict) -> MatchConfig:
        if section.get("method", cls.method) not in METHODS:
            raise MatchingError(
                f"match.method must be one of {', '.join(METHODS)}, got {section['method']!r}"
            )
        values = {k: v for k, v in section.items() if k != "vcg"}
        for name in ("covariates", "exact", "strata"):
            if name in values:
                values[name] = tuple(values[name])
        if values.get("method") in ("ipw", "entropy") and values.get("strata"):
            raise MatchingError(
                f"match.strata cannot be combined with match.method {values['method']}: "
                "weight the cohort whole (its exact strata already normalise the weights)"
            )
        return cls(**values, vcg=VCGSettings(**section.get("vcg", {})))


@dataclass(frozen=True, eq=False)
class CohortMatch:
    """One subject's matched comparison group, its balance and its match rates."""

    subject: str
    result: MatchResult
    matched: pd.DataFrame  # matched panel rows with weight and distance
    pairs: pd.DataFrame  # treated_key, slot, control_key: who was matched to whom
    balance: Balance
    schools: pd.DataFrame  # per treated school: n_treated, n_matched, match_rate

    def summary(self) -> str:
        return f"Matching, {self.subject}\n{self.result.summary(self.balance)}"

    def propensity_scores(self) -> pd.DataFrame:
        """Logit score, arm and match weight of every student who took part (for overlap
        plots); empty for VCG, which has no score."""
        scores = self.balance.scores
        if scores is None:
            return pd.DataFrame({"treated": pd.Series(dtype=bool), "logit": [], "weight": []})
        return scores[["treated", "logit", "weight"]].reset_index(drop=True)

    def overlap_plot(self) -> Figure:
        """Overlap by arm before and after matching: of the propensity score, or for VCG
        (which has none) of the fall z-score the virtual comparison group matches on."""
        if self.balance.scores is not None:
            return overlap_plot(self.balance)
        rows = self.result.covariates.index
        return baseline_overlap_plot(
            self.result.covariates,
            self.result.treated.loc[rows].to_numpy(),
            self.result.weights.loc[rows].to_numpy(),
        )

    def to_dict(self) -> dict:
        """JSON-ready match summary: settings, sample sizes, match rates, reasons."""
        result = self.result
        sizes = result.sample_sizes()
        n_treated = int(result.treated.sum()) if len(result.treated) else 0
        reasons = result.to_frame().loc[lambda f: f["treated"] & ~f["matched"], "reason"]
        counts = {k: int(v) for k, v in reasons.value_counts().sort_index().items()}
        return {
            "subject": self.subject,
            "note": ""
            if result.n_matched_treated
            else nobody_matched(self.subject, n_treated, counts),
            "method": result.settings.describe()
            + (f"; balanced: {result.moments}" if result.moments else ""),
            "sample_sizes": {
                arm: {k: v if k == "matched_ess" else int(v) for k, v in sizes[arm].items()}
                for arm in sizes.columns
            },
            "match_rate": result.n_matched_treated / n_treated if n_treated else None,
            "unmatched_by_reason": counts,
            "missing_values": result.missing_counts,
            "outside_support": self.balance.outside_support,
            "imbalanced_after_matching": self.balance.imbalanced(),
            "schools": self.schools.to_dict(orient="records"),
        }


def match_cohort(
    panel: pd.DataFrame, subject: str, config: MatchConfig
) -> CohortMatch | StratifiedMatch | NothingMatched:
    """Match the treated students of ``subject`` in ``panel`` to comparison students.

    With ``config.strata`` each stratum is matched on its own (:func:`match_stratum`) and the
    parts are merged (:func:`~pl_eval.matching.strata.merge_parts`), as the workflow's fan-out.
    """
    if config.strata:
        strata = stratum_labels(config.strata)
        parts = [match_stratum(panel, subject, stratum, config) for stratum in strata]
        return merge_parts(subject, parts, config)
    rows = _subject_rows(panel, subject, config)
    if (why := unmatchable(rows, config)) is not None:
        return nothing_matched(subject, rows, config, why)
    try:
        result = _match_rows(rows, config)
    except SeparationError as exc:
        return nothing_matched(subject, rows, config, Unmatchable.separated(rows, exc))
    return CohortMatch(
        subject=subject,
        result=result,
        matched=_matched_rows(rows, result),
        pairs=_key_pairs(rows, result),
        balance=result.balance(),
        schools=_school_rates(rows, result),
    )


def match_stratum(
    panel: pd.DataFrame, subject: str, stratum: str, config: MatchConfig
) -> MatchPart:
    """Match ``subject``'s students in one stratum of ``config.strata`` (e.g. "K-5") on their
    own: the part one fan-out job contributes to :func:`~pl_eval.matching.strata.merge_parts`."""
    rows = stratum_rows(_subject_rows(panel, subject, config), config.strata, stratum)
    if (why := unmatchable(rows, config)) is not None:
        return unmatched_part(subject, stratum, config, rows, why)
    try:
        result = _match_rows(rows, config)
    except SeparationError as exc:
        return unmatched_part(subject, stratum, config, rows, Unmatchable.separated(rows, exc))
    return matched_part(
        subject,
        stratum,
        config,
        result,
        rows=rows,
        matched=_matched_rows(rows, result),
        pairs=_key_pairs(rows, result),
        schools=_school_rates(rows, result),
    )


def _subject_rows(panel: pd.DataFrame, subject: str, config: MatchConfig) -> pd.DataFrame:
    """``subject``'s panel rows, once every column the config names is known to be there."""
    at = np.flatnonzero((panel["subject"] == subject).to_numpy())
    # the panel is sorted by subject: a subject's rows are one slice, taken without a copy
    whole = len(at) and at[-1] - at[0] + 1 == len(at)
    rows = (panel.iloc[at[0] : at[-1] + 1] if whole else panel.iloc[at]).reset_index(drop=True)
    for name in (*config.covariates, *config.exact, *config.strata, *config.covariate_calipers):
        if name not in rows.columns:
            raise MatchingError(
                f"match covariate {name!r} is not a panel column; choose from "
                f"{', '.join(sorted(rows.columns))}"
            )
    return rows


def _match_rows(rows: pd.DataFrame, config: MatchConfig) -> MatchResult:
    data = rows.assign(treat=rows["treated"].astype("int8"))
    return match(
        data,
        "treat",
        list(config.covariates),
        exact=list(config.exact),
        method=METHODS[config.method],
        ratio=config.ratio,
        replace=config.replace,
        caliper=config.caliper,
        order=config.order,
        seed=config.seed,
        missing=config.missing,
        vcg=config.vcg if config.method == "vcg" else None,
        covariate_calipers=config.covariate_calipers if config.method == "propensity" else None,
    )


def _matched_rows(rows: pd.DataFrame, result: MatchResult) -> pd.DataFrame:
    """The matched panel rows with their weight and logit distance (and, weighted rather
    than matched, their exact stratum)."""
    matched = result.matched_data(rows).assign(
        distance=result.distance[result.weights > 0].to_numpy()
    )
    if result.settings.method in WEIGHTING:
        exact = list(result.settings.exact)
        stratum = matched.groupby(exact, sort=True).ngroup() if exact else 0
        matched = matched.assign(**{STRATUM_COLUMN: np.asarray(stratum, dtype="int64")})
    return matched.reset_index(drop=True)


def _key_pairs(rows: pd.DataFrame, result: MatchResult) -> pd.DataFrame:
    """Who was matched to whom, by student key."""
    keys = rows["student_key"]
    return pd.DataFrame(
        {
            "treated_key": keys.loc[result.pairs["treated"]].to_numpy(),
            "slot": result.pairs["slot"].to_numpy(),
            "control_key": keys.loc[result.pairs["control"]].to_numpy(),
        }
    )


def _school_rates(rows: pd.DataFrame, result: MatchResult) -> pd.DataFrame:
    treated = rows[rows["treated"]].assign(matched=result.weights[rows["treated"]].gt(0))
    rates = (
        treated.groupby(["district", "school"], sort=True)
        .agg(n_treated=("matched", "size"), n_matched=("matched", "sum"))
        .reset_index()
    )
    return rates.assign(match_rate=rates["n_matched"] / rates["n_treated"])


@dataclass(frozen=True, eq=False)
class NothingMatched:
    """A subject none of whose students could be matched: empty tables and the reason why.

    Written like any match (matched, pairs, balance, summary, plots), so estimation gives its
    "no PL students" rows and the report says why, instead of the run stopping here.
    """

    subject: str
    why: Unmatchable
    matched: pd.DataFrame  # no rows: the panel's columns with weight and distance
    pairs: pd.DataFrame  # no rows: treated_key, slot, control_key
    balance: Balance  # every statistic missing, "not computable"
    schools: pd.DataFrame  # per PL school: n_treated, n_matched (0), match_rate (0)
    sample_sizes: dict[str, dict[str, int]]  # arm -> all, discarded (none is matched)
    missing_values: dict[str, int]

    @property
    def note(self) -> str:
        return f"nothing matched in {self.subject}: {self.why.text}"

    def summary(self) -> str:
        sizes = self.sample_sizes
        reasons = describe_reasons(self.why.reasons)
        return (
            f"Matching, {self.subject}: {self.note}\n"
            f"PL students: {sizes['treated']['all']}, comparison students: "
            f"{sizes['comparison']['all']}; none matched"
            + (f" (unmatched PL students by reason: {reasons})" if reasons else "")
        )

    def propensity_scores(self) -> pd.DataFrame:
        """No scores: nobody took part in a propensity model."""
        return pd.DataFrame({"treated": pd.Series(dtype=bool), "logit": [], "weight": []})

    def overlap_plot(self) -> Figure:
        return empty_plot("Overlap", f"No overlap plot: {self.note}.")

    def to_dict(self) -> dict:
        """JSON-ready match summary, with the keys of ``CohortMatch.to_dict``."""
        n_treated = self.sample_sizes["treated"]["all"]
        return {
            "subject": self.subject,
            "note": self.note,
            "method": f"not matched: {self.why.text}",
            "sample_sizes": {
                arm: {
                    "all": sizes["all"],
                    "matched_ess": 0.0,
                    "matched": 0,
                    "unmatched": sizes["all"] - sizes["discarded"],
                    "discarded": sizes["discarded"],
                }
                for arm, sizes in self.sample_sizes.items()
            },
            "match_rate": 0.0 if n_treated else None,
            "unmatched_by_reason": dict(sorted(self.why.reasons.items())),
            "missing_values": self.missing_values,
            "outside_support": 0,
            "imbalanced_after_matching": [],
            "schools": self.schools.to_dict(orient="records"),
        }


def nothing_matched(
    subject: str, rows: pd.DataFrame, config: MatchConfig, why: Unmatchable
) -> NothingMatched:
    """The match of a subject whose ``rows`` cannot be matched, for the reason ``why``."""
    treated = rows["treated"].to_numpy(dtype=bool)
    discarded = why.reasons.get("missing_covariate", 0)
    return NothingMatched(
        subject=subject,
        why=why,
        matched=no_matches(rows),
        pairs=no_pairs(),
        balance=not_computable_balance(
            config.covariates, int(treated.sum()), int((~treated).sum()), why.text
        ),
        schools=unmatched_schools(rows),
        sample_sizes={
            "comparison": {"all": int((~treated).sum()), "discarded": 0},
            "treated": {"all": int(treated.sum()), "discarded": discarded},
        },
        missing_values={
            name: n
            for name in dict.fromkeys([*config.covariates, *config.exact])
            if name in rows and (n := int(rows[name].isna().sum()))
        },
    )
