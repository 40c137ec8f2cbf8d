"""Matching within strata (``match.strata``): a separate match, and model, per grade band.

With ``match.strata: [grade_band]`` each grade band (K-5, 6-8, 9-12) is matched on its own: its
own propensity model (or VCG), a caliper in SDs of its own logit, exact and other settings as
usual inside it. A stratum's match is a :class:`MatchPart`; :func:`merge_parts` joins one
subject's parts into a :class:`StratifiedMatch`, whose ATT weights are recomputed from all the
pairs at once (not per-stratum weights glued together) and whose balance, summary and plots
cover the merged sample. The workflow's fan-out (one job per stratum, then a merge job) and the
in-process run (:func:`pl_eval.matching.match_cohort`) both go through :func:`merge_parts`, so
they write the same files.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval.matching.balance import Balance, compute_balance, not_computable_balance
from pl_eval.matching.errors import MatchingError
from pl_eval.matching.plots import baseline_overlap_plot, empty_plot, overlap_plot
from pl_eval.matching.result import MatchResult, MatchSettings
from pl_eval.matching.unmatched import Unmatchable, nobody_matched
from pl_eval.matching.vcg import VCGSettings
from pl_eval.matching.weights import att_weights
from pl_eval.panel import GRADE_BANDS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pl_eval.matching.cohort import MatchConfig

#: Panel columns ``match.strata`` may name, and their levels in order.
STRATA: dict[str, tuple[str, ...]] = {"grade_band": tuple(label for label, _, _ in GRADE_BANDS)}
#: Columns of a part's ``participants`` before its balance design columns.
PARTICIPANT_COLUMNS = ("student_key", "treated", "weight", "distance")
ARMS = (("comparison", False), ("treated", True))


def stratum_labels(strata: Sequence[str]) -> tuple[str, ...]:
    """The strata ``match.strata`` defines, in order: ("K-5", "6-8", "9-12") for grade_band."""
    return tuple(_stratum_levels(strata))


def _stratum_levels(strata: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each stratum's label and its level of every ``strata`` column."""
    if not strata:
        raise MatchingError("match.strata is empty: there are no strata to match within")
    unknown = [name for name in strata if name not in STRATA]
    if unknown:
        raise MatchingError(
            f"match.strata: {unknown[0]!r} cannot be a stratum; choose from {', '.join(STRATA)}"
        )
    combos = itertools.product(*(STRATA[name] for name in strata))
    return {" / ".join(levels): levels for levels in combos}


def stratum_rows(rows: pd.DataFrame, strata: Sequence[str], stratum: str) -> pd.DataFrame:
    """The rows of ``rows`` (one subject's panel rows) in ``stratum``, index reset."""
    levels = _stratum_levels(strata)
    if stratum not in levels:
        raise MatchingError(
            f"stratum {stratum!r} is not one of {', '.join(levels)} "
            f"(match.strata: {', '.join(strata)})"
        )
    keep = np.ones(len(rows), dtype=bool)
    for name, level in zip(strata, levels[stratum], strict=True):  # one or two columns
        column = rows[name]
        if column.isna().any():
            raise MatchingError(
                f"{int(column.isna().sum())} panel rows have no {name}; every row needs one "
                "to be matched within match.strata"
            )
        keep &= column.astype("str").eq(level).to_numpy(dtype=bool)
    return rows[keep].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class MatchPart:
    """What one stratum contributes to a subject's match: the output of one fan-out job."""

    matched: pd.DataFrame  # the stratum's matched panel rows, weight and distance within it
    pairs: pd.DataFrame  # treated_key, slot, control_key
    participants: pd.DataFrame  # student_key, treated, weight, distance, balance design columns
    schools: pd.DataFrame  # per treated school: district, school, n_treated, n_matched, match_rate
    summary: dict  # JSON-ready: subject, stratum, config, settings, method, counts, log

    @property
    def subject(self) -> str:
        return self.summary["subject"]

    @property
    def stratum(self) -> str:
        return self.summary["stratum"]


def _plain(value: object) -> object:
    """``value`` as it reads back from JSON (lists for tuples, plain numbers), so a part built
    in memory and one read from its folder merge alike."""
    return json.loads(json.dumps(value))


def matched_part(
    subject: str,
    stratum: str,
    config: MatchConfig,
    result: MatchResult,
    *,
    rows: pd.DataFrame,
    matched: pd.DataFrame,
    pairs: pd.DataFrame,
    schools: pd.DataFrame,
) -> MatchPart:
    """The part of a stratum that was matched: ``result`` of matching ``rows``."""
    took_part = result.covariates.index
    participants = pd.concat(
        [
            pd.DataFrame(
                {
                    "student_key": rows["student_key"].loc[took_part],
                    "treated": result.treated.loc[took_part],
                    "weight": result.weights.loc[took_part],
                    "distance": result.distance.loc[took_part],
                }
            ),
            result.covariates,
        ],
        axis=1,
    ).reset_index(drop=True)
    sizes = result.sample_sizes()
    reasons = result.to_frame().loc[lambda f: f["treated"] & ~f["matched"], "reason"]
    summary = {
        "subject": subject,
        "stratum": stratum,
        "config": asdict(config),
        "settings": result.settings.to_dict(),
        "method": result.settings.describe(),
        "sample_sizes": {
            arm: {k: int(sizes.loc[k, arm]) for k in ("all", "matched", "discarded")}
            for arm, _ in ARMS
        },
        "unmatched_by_reason": {k: int(v) for k, v in reasons.value_counts().sort_index().items()},
        "missing_values": result.missing_counts,
        "log": f"Stratum {stratum}: {result.summary()}",
    }
    return MatchPart(
        matched=matched,
        pairs=pairs,
        participants=participants,
        schools=schools,
        summary=_plain(summary),
    )


def unmatched_part(
    subject: str, stratum: str, config: MatchConfig, rows: pd.DataFrame, why: Unmatchable
) -> MatchPart:
    """The part of a stratum in which nobody can be matched, for the reason ``why`` (its PL
    students, if any, count under ``why.reasons``; with no comparison students in the stratum
    that is ``no_stratum_controls``)."""
    treated = rows["treated"].to_numpy(dtype=bool)
    n_treated, n_comparison = int(treated.sum()), int((~treated).sum())
    reasons = {
        ("no_stratum_controls" if k == "no_comparison_students" else k): v
        for k, v in why.reasons.items()
    }
    summary = {
        "subject": subject,
        "stratum": stratum,
        "config": asdict(config),
        "settings": None,
        "method": f"not matched: {why.text}",
        "sample_sizes": {
            arm: {
                "all": n,
                "matched": 0,
                "discarded": reasons.get("missing_covariate", 0) if is_treated else 0,
            }
            for (arm, is_treated), n in zip(ARMS, (n_comparison, n_treated), strict=True)
        },
        "unmatched_by_reason": dict(sorted(reasons.items())),
        "missing_values": {},
        "log": f"Stratum {stratum}: not matched, {why.text} "
        f"({n_treated} PL, {n_comparison} comparison students)",
    }
    keys = pd.Series(dtype="str")
    return MatchPart(
        matched=no_matches(rows),
        pairs=no_pairs(),
        participants=pd.DataFrame(
            {"student_key": keys, "treated": pd.Series(dtype=bool)}
            | {name: pd.Series(dtype="float64") for name in PARTICIPANT_COLUMNS[2:]}
        ),
        schools=unmatched_schools(rows),
        summary=_plain(summary),
    )


def no_matches(rows: pd.DataFrame) -> pd.DataFrame:
    """An empty matched table: the columns of ``rows`` with weight and distance."""
    return rows.iloc[:0].assign(weight=np.float64(0), distance=np.float64(0))


def unmatched_schools(rows: pd.DataFrame) -> pd.DataFrame:
    """Per PL school of ``rows``: its students, none of them matched."""
    treated = rows["treated"].to_numpy(dtype=bool)
    schools = rows[treated].groupby(["district", "school"], sort=True, observed=True).size()
    return schools.reset_index(name="n_treated").assign(n_matched=0, match_rate=0.0)


def no_pairs() -> pd.DataFrame:
    """An empty pairs table with its columns and types."""
    keys = pd.Series(dtype="str")
    return pd.DataFrame(
        {"treated_key": keys, "slot": pd.Series(dtype="int64"), "control_key": keys}
    )


def pair_weights(pairs: pd.DataFrame) -> pd.Series:
    """ATT weights of every matched student, by key, from (treated_key, control_key) pairs.

    MatchIt's rule over all the pairs at once: treated 1; a comparison student the sum of
    1 / k over the treated students it serves (k = their number of matches), rescaled so the
    comparison weights sum to the number of distinct matched comparison students.
    """
    treated = pairs["treated_key"].to_numpy(dtype=object)
    control = pairs["control_key"].to_numpy(dtype=object)
    codes, keys = pd.factorize(np.concatenate([treated, control]))
    weights = att_weights(len(keys), codes[: len(treated)], codes[len(treated) :])
    return pd.Series(weights, index=pd.Index(keys, dtype="str"), name="weight")


def _weights_of(weights: pd.Series, keys: pd.Series) -> np.ndarray:
    """Weight of each of ``keys`` (0 for students not in any pair)."""
    found = weights.index.get_indexer(pd.Index(keys.astype("str")))
    if not len(weights):  # nothing was matched
        return np.zeros(len(keys))
    return np.where(found >= 0, weights.to_numpy()[found], 0.0)


def _design_order(columns: Sequence[Sequence[str]]) -> list[str]:
    """Every part's design columns once, each new one placed after its predecessor in the part
    that has it, so an indicator level absent from the first stratum stays beside its
    covariate's other levels (a loop over a few dozen column names)."""
    order: list[str] = []
    for names in columns:
        for i, name in enumerate(names):
            if name not in order:
                order.insert(order.index(names[i - 1]) + 1 if i else 0, name)
    return order


@dataclass(frozen=True, eq=False)
class StratifiedMatch:
    """One subject's match, stratum by stratum, merged: the counterpart of ``CohortMatch``."""

    subject: str
    method: str  # how every stratum was matched (one line)
    parts: tuple[MatchPart, ...]  # in stratum order
    matched: pd.DataFrame  # matched panel rows with merged weight and stratum distance
    pairs: pd.DataFrame  # treated_key, slot, control_key: every stratum's pairs
    participants: pd.DataFrame  # every stratum's participants with merged weights
    balance: Balance  # over the participants, with merged weights
    schools: pd.DataFrame  # per treated school: n_treated, n_matched, match_rate

    def summary(self) -> str:
        sizes = self.to_dict()["sample_sizes"]
        treated, comparison = sizes["treated"], sizes["comparison"]
        return "\n".join(
            [
                f"Matching, {self.subject}: {self.method}",
                *(part.summary["log"] for part in self.parts),
                "Merged over the strata:",
                f"Treated: {treated['matched']} of {treated['all']} matched; comparison: "
                f"{comparison['matched']} of {comparison['all']} matched "
                f"(effective sample size {comparison['matched_ess']:.1f})",
                "Balance:",
                self.balance.summary(),
            ]
        )

    def propensity_scores(self) -> pd.DataFrame:
        """Logit score (from the student's stratum), arm and merged weight of every student
        who took part; empty for VCG, which has no score."""
        scores = self.balance.scores
        if scores is None:
            return pd.DataFrame({"treated": pd.Series(dtype=bool), "logit": [], "weight": []})
        return scores[["treated", "logit", "weight"]].reset_index(drop=True)

    def overlap_plot(self) -> Figure:
        """Overlap by arm before and after matching, as ``CohortMatch.overlap_plot``."""
        if self.participants.empty:
            return empty_plot("Overlap", f"No overlap plot: {self.method}.")
        if self.balance.scores is not None:
            return overlap_plot(self.balance)
        return baseline_overlap_plot(
            self.participants,
            self.participants["treated"].to_numpy(),
            self.participants["weight"].to_numpy(),
        )

    def to_dict(self) -> dict:
        """JSON-ready match summary of the merged sample, as ``CohortMatch.to_dict``, with a
        ``strata`` entry: each stratum's students, matches and method."""
        infos = [part.summary for part in self.parts]
        sizes = {}
        for arm, is_treated in ARMS:
            w = self.participants.loc[self.participants["treated"] == is_treated, "weight"]
            w = w.to_numpy(dtype="float64")
            n_all = sum(info["sample_sizes"][arm]["all"] for info in infos)
            n_discarded = sum(info["sample_sizes"][arm]["discarded"] for info in infos)
            n_matched = int((w > 0).sum())
            sizes[arm] = {
                "all": n_all,
                "matched_ess": float(w.sum() ** 2 / (w**2).sum()) if n_matched else 0.0,
                "matched": n_matched,
                "unmatched": n_all - n_discarded - n_matched,
                "discarded": n_discarded,
            }
        n_treated = sizes["treated"]["all"]
        reasons = _add_counts(info["unmatched_by_reason"] for info in infos)
        return {
            "subject": self.subject,
            "note": ""
            if sizes["treated"]["matched"]
            else nobody_matched(self.subject, n_treated, reasons),
            "method": self.method,
            "sample_sizes": sizes,
            "match_rate": sizes["treated"]["matched"] / n_treated if n_treated else None,
            "unmatched_by_reason": reasons,
            "missing_values": _add_counts(info["missing_values"] for info in infos),
            "outside_support": self.balance.outside_support,
            "imbalanced_after_matching": self.balance.imbalanced(),
            "schools": self.schools.to_dict(orient="records"),
            "strata": [
                {
                    "stratum": info["stratum"],
                    "n_treated": info["sample_sizes"]["treated"]["all"],
                    "n_matched": info["sample_sizes"]["treated"]["matched"],
                    "n_comparison": info["sample_sizes"]["comparison"]["all"],
                    "n_comparison_matched": info["sample_sizes"]["comparison"]["matched"],
                    "method": info["method"],
                }
                for info in infos
            ],
        }


def _add_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Counts by name summed over the strata, names sorted."""
    total: dict[str, int] = {}
    for one in counts:
        for name, n in one.items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items()))


def merge_parts(subject: str, parts: Sequence[MatchPart], config: MatchConfig) -> StratifiedMatch:
    """Join one subject's strata (one part each, any order) into its merged match."""
    labels = stratum_labels(config.strata)
    by_stratum: dict[str, MatchPart] = {}
    expected = _plain(asdict(config))
    for part in parts:  # a handful of strata
        if part.subject != subject:
            raise MatchingError(f"the {part.stratum} part matched {part.subject}, not {subject}")
        if part.stratum in by_stratum:
            raise MatchingError(f"two parts for stratum {part.stratum} of {subject}")
        if part.summary["config"] != expected:
            raise MatchingError(
                f"the {part.stratum} part of {subject} was matched with other match settings; "
                "rerun match-stratum with these settings"
            )
        by_stratum[part.stratum] = part
    if sorted(by_stratum) != sorted(labels):
        raise MatchingError(
            f"{subject} needs one part per stratum of match.strata ({', '.join(labels)}); "
            f"got {', '.join(by_stratum) or 'none'}"
        )
    ordered = tuple(by_stratum[label] for label in labels)
    took_part = [part for part in ordered if len(part.participants)]
    paired = [p for p in took_part if len(p.pairs)]
    pairs = pd.concat([p.pairs for p in paired], ignore_index=True) if paired else no_pairs()
    weights = pair_weights(pairs)
    matched = pd.concat([p.matched for p in paired or ordered[:1]], ignore_index=True)
    matched = matched.assign(weight=_weights_of(weights, matched["student_key"]))

    design = _design_order([p.participants.columns[len(PARTICIPANT_COLUMNS) :] for p in took_part])
    participants = pd.concat(
        [
            p.participants.reindex(columns=[*PARTICIPANT_COLUMNS, *design], fill_value=0.0)
            for p in took_part or ordered[:1]
        ],
        ignore_index=True,
    )
    participants = participants.assign(weight=_weights_of(weights, participants["student_key"]))
    covariates = participants[design]
    binary = tuple(name for name in design if covariates[name].isin((0.0, 1.0)).all())
    nearest = config.method == "propensity"
    if took_part:
        balance = compute_balance(
            covariates,
            participants["treated"].to_numpy(dtype=bool),
            participants["weight"].to_numpy(),
            binary,
            participants["distance"].to_numpy() if nearest else None,
        )
    else:  # no stratum had students of both arms to match
        sizes = [p.summary["sample_sizes"] for p in ordered]
        balance = not_computable_balance(
            config.covariates,
            sum(size["treated"]["all"] for size in sizes),
            sum(size["comparison"]["all"] for size in sizes),
            _not_matched(config, ordered),
        )
    schools = (
        pd.concat([p.schools for p in ordered], ignore_index=True)
        .groupby(["district", "school"], sort=True, observed=True)[["n_treated", "n_matched"]]
        .sum()
        .reset_index()
    )
    return StratifiedMatch(
        subject=subject,
        method=_method(config, labels, took_part) if took_part else _not_matched(config, ordered),
        parts=ordered,
        matched=matched,
        pairs=pairs,
        participants=participants,
        balance=balance,
        schools=schools.assign(match_rate=schools["n_matched"] / schools["n_treated"]),
    )


def _not_matched(config: MatchConfig, parts: Sequence[MatchPart]) -> str:
    """One line when no stratum could be matched: each stratum's reason."""
    names = " × ".join(name.replace("_", " ") for name in config.strata)
    reasons = "; ".join(
        f"{p.stratum}: {p.summary['method'].removeprefix('not matched: ')}" for p in parts
    )
    return f"not matched in any {names} ({reasons})"


def _method(config: MatchConfig, labels: Sequence[str], matched: Sequence[MatchPart]) -> str:
    """One line: matched separately within each stratum, and how (the caliper on the logit
    differs between strata, so it is left to each stratum's line)."""
    settings = dict(matched[0].summary["settings"])
    vcg = settings.pop("vcg")
    how = MatchSettings(**settings | {"vcg": vcg and VCGSettings(**vcg)})
    nearest = config.method == "propensity"
    own = ", each with its own propensity model and caliper" if nearest else ""
    names = " × ".join(name.replace("_", " ") for name in config.strata)
    return (
        f"Separately within each {names} ({', '.join(labels)}){own}: "
        f"{replace(how, caliper_logit=None).describe()}"
    )
