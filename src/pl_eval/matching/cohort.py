"""Matching a cohort's panel, one subject at a time, as configured in ``config.yaml``.

PL schools never serve as comparisons: the panel's ``treated`` flag is the treatment, and
schools that start PL after the cohort's year were already left out of the panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval.matching.api import match
from pl_eval.matching.balance import Balance
from pl_eval.matching.errors import MatchingError
from pl_eval.matching.plots import baseline_overlap_plot, overlap_plot
from pl_eval.matching.result import MatchResult
from pl_eval.matching.strata import (
    MatchPart,
    StratifiedMatch,
    matched_part,
    merge_parts,
    stratum_labels,
    stratum_rows,
    unmatched_part,
)
from pl_eval.matching.vcg import VCGSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Config names of the methods and the library's names for them.
METHODS = {"propensity": "nearest", "vcg": "vcg"}


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
        return {
            "subject": self.subject,
            "method": result.settings.describe(),
            "sample_sizes": {
                arm: {k: v if k == "matched_ess" else int(v) for k, v in sizes[arm].items()}
                for arm in sizes.columns
            },
            "match_rate": result.n_matched_treated / n_treated if n_treated else None,
            "unmatched_by_reason": reasons.value_counts().sort_index().to_dict(),
            "missing_values": result.missing_counts,
            "outside_support": self.balance.outside_support,
            "imbalanced_after_matching": self.balance.imbalanced(),
            "schools": self.schools.to_dict(orient="records"),
        }


def match_cohort(
    panel: pd.DataFrame, subject: str, config: MatchConfig
) -> CohortMatch | StratifiedMatch:
    """Match the treated students of ``subject`` in ``panel`` to comparison students.

    With ``config.strata`` each stratum is matched on its own (:func:`match_stratum`) and the
    parts are merged (:func:`~pl_eval.matching.strata.merge_parts`), as the workflow's fan-out.
    """
    if config.strata:
        strata = stratum_labels(config.strata)
        parts = [match_stratum(panel, subject, stratum, config) for stratum in strata]
        return merge_parts(subject, parts, config)
    rows = _subject_rows(panel, subject, config)
    result = _match_rows(rows, config)
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
    if not (rows["treated"].any() and (~rows["treated"]).any()):
        return unmatched_part(subject, stratum, config, rows)
    result = _match_rows(rows, config)
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
    if rows.empty:
        raise MatchingError(f"the panel has no {subject} students to match")
    for name in (*config.covariates, *config.exact, *config.strata):
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
    )


def _matched_rows(rows: pd.DataFrame, result: MatchResult) -> pd.DataFrame:
    """The matched panel rows with their weight and logit distance."""
    matched = result.matched_data(rows).assign(
        distance=result.distance[result.weights > 0].to_numpy()
    )
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
