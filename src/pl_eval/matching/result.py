"""The outcome of a match: weights, scores, pairs, unmatched units with reasons, and diagnostics."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pl_eval.matching.balance import Balance, compute_balance
from pl_eval.matching.propensity import PropensityFit
from pl_eval.matching.vcg import VCGSettings

#: Why a treated row has no match (or a row was left out before matching).
REASONS = (
    "missing_covariate",  # a covariate, exact or VCG column is missing (missing="drop")
    "no_stratum_controls",  # its exact cell has no comparison rows
    "outside_caliper",  # no available comparison row within the caliper
    "pool_exhausted",  # without replacement: every comparison row of its cell was used
    "too_few_matches",  # VCG: fewer than min_matches comparison rows pass the filters
    "no_comparison_students",  # a cohort's subject (or stratum) has no comparison students
    "complete_separation",  # the propensity model separates the arms: nobody is comparable
    "outside_support",  # ipw: its score is outside the comparison students' range (stratum)
    "not_balanceable",  # entropy: its stratum's comparison students cannot reach its means
)
#: Each reason in words, for match summaries and the report.
REASON_TEXT = {
    "missing_covariate": "missing a matching covariate",
    "no_stratum_controls": "no comparison student in their exact stratum",
    "outside_caliper": "no comparison student within the caliper",
    "pool_exhausted": "every comparison student of their stratum already used",
    "too_few_matches": "too few VCG matches",
    "no_comparison_students": "no comparison students",
    "complete_separation": "the propensity model separates PL from comparison students",
    "outside_support": "propensity score outside the comparison students' range",
    "not_balanceable": "no weighting of their stratum's comparison students matches their means",
}


def describe_reasons(counts: dict[str, int]) -> str:
    """Counts of unmatched PL students by reason, in words: "no comparison student within the
    caliper: 12; missing a matching covariate: 3"."""
    return "; ".join(f"{REASON_TEXT.get(reason, reason)}: {n}" for reason, n in counts.items())


@dataclass(frozen=True)
class MatchSettings:
    """The options a match ran with, echoed for summaries and provenance."""

    method: str
    treatment: str
    covariates: tuple[str, ...]
    exact: tuple[str, ...]
    ratio: int
    replace: bool
    caliper: float | None  # in SDs of the logit score
    caliper_logit: float | None  # the same caliper on the logit scale
    order: str
    seed: int
    missing: str
    ps_model: str
    vcg: VCGSettings | None = None
    # (column, caliper in SDs of that column): MatchIt's named caliper entries
    covariate_calipers: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        """One line saying how units were matched."""
        exact = f", exact on {', '.join(self.exact)}" if self.exact else ""
        if self.method == "vcg":
            return f"Virtual comparison groups{exact}: {self.vcg.describe()}; seed {self.seed}"
        if self.method == "entropy":
            return (
                f"Entropy-balancing weights{exact}: comparison students weighted to the PL "
                "students' means and variances of each numeric covariate (means alone where "
                "a stratum cannot reach the variances) and means of each indicator"
            )
        if self.method == "ipw":
            return (
                f"Inverse-probability (ATT odds) weights from the propensity score{exact}, "
                "normalised within strata; common support: students outside the other arm's "
                "range of the score in their stratum left out"
            )
        caliper = "" if self.caliper is None else f", caliper {self.caliper:g} SD of the logit"
        if self.caliper_logit is not None:  # None when describing several strata's matches
            caliper += f" ({self.caliper_logit:.4g} on the logit)"
        caliper += "".join(
            f", {name} within {width:g} SD" for name, width in self.covariate_calipers
        )
        return (
            f"Nearest neighbour on the propensity score (logit), {self.ratio}:1 "
            f"{'with' if self.replace else 'without'} replacement{caliper}{exact}, "
            f"order {self.order}" + (f" (seed {self.seed})" if self.order == "random" else "")
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class MatchResult:
    """A matched comparison group; every Series is aligned to the input frame's index."""

    weights: pd.Series  # ATT weights; 0 for unmatched and left-out rows
    distance: pd.Series  # logit propensity score; NaN for left-out rows (and for VCG)
    treated: pd.Series  # bool
    pairs: pd.DataFrame  # treated (index label), slot (1..k), control (index label)
    unmatched: pd.DataFrame  # treated (index label), reason, stratum
    excluded: pd.Series  # reason per row left out before matching (both arms)
    settings: MatchSettings
    covariates: pd.DataFrame  # balance covariates of the rows that took part (numeric)
    binary: tuple[str, ...]  # columns of ``covariates`` that are 0/1
    propensity: PropensityFit | None
    n_short: int  # treated rows matched to fewer than ``ratio`` controls
    missing_counts: dict[str, int]  # rows with a missing value, per column read
    moments: str = ""  # entropy balancing: the moments the weights balance

    @property
    def n_matched_treated(self) -> int:
        return int((self.weights[self.treated] > 0).sum())

    @property
    def n_matched_controls(self) -> int:
        return int((self.weights[~self.treated] > 0).sum())

    def balance(self, threshold: float = 0.1) -> Balance:
        """Balance before and after matching on the rows that took part."""
        rows = self.covariates.index
        scoreless = self.settings.method in ("vcg", "entropy")
        distance = None if scoreless else self.distance.loc[rows].to_numpy()
        return compute_balance(
            self.covariates,
            self.treated.loc[rows].to_numpy(),
            self.weights.loc[rows].to_numpy(),
            self.binary,
            distance,
            threshold,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per input row: arm, score, weight, matched flag and why it is unmatched."""
        reason = pd.Series(pd.NA, index=self.weights.index, dtype="string")
        if len(self.unmatched):
            reason.loc[self.unmatched["treated"].to_numpy()] = self.unmatched["reason"].to_numpy()
        if len(self.excluded):
            reason.loc[self.excluded.index] = self.excluded.to_numpy()
        return pd.DataFrame(
            {
                "treated": self.treated,
                "distance": self.distance,
                "weight": self.weights,
                "matched": self.weights > 0,
                "reason": reason,
            }
        )

    def matched_data(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` with weight > 0 and a ``weight`` column (MatchIt's match.data)."""
        keep = self.weights > 0
        return df.loc[keep.to_numpy()].assign(weight=self.weights[keep].to_numpy())

    def sample_sizes(self) -> pd.DataFrame:
        """MatchIt's sample-size table: all / matched (ESS) / matched / unmatched / discarded."""
        out = {}
        for arm, mask in (("comparison", ~self.treated), ("treated", self.treated)):
            w = self.weights[mask].to_numpy()
            n_all = int(mask.sum())
            n_discarded = int(mask.loc[self.excluded.index].sum()) if len(self.excluded) else 0
            n_matched = int((w > 0).sum())
            ess = float(w.sum() ** 2 / (w**2).sum()) if n_matched else 0.0
            out[arm] = {
                "all": n_all,
                "matched_ess": ess,
                "matched": n_matched,
                "unmatched": n_all - n_discarded - n_matched,
                "discarded": n_discarded,
            }
        return pd.DataFrame(out)

    def summary(self, balance: Balance | None = None) -> str:
        """Text like MatchIt's summary: settings, sample sizes, reasons, balance (``balance``
        when it was computed already, else :meth:`balance`)."""
        s = self.settings
        lines = [s.describe()]
        if self.moments:
            lines.append(f"Balanced: {self.moments}")
        if self.propensity is not None:
            lines.append(self.propensity.summary())
        sizes = self.sample_sizes()
        lines.append("Sample sizes:")
        lines.append(f"{'':<16}{'Comparison':>12}{'Treated':>10}")
        labels = {
            "all": "All",
            "matched_ess": "Matched (ESS)",
            "matched": "Matched",
            "unmatched": "Unmatched",
            "discarded": "Discarded",
        }
        for key, label in labels.items():
            c, t = sizes.loc[key, "comparison"], sizes.loc[key, "treated"]
            fmt = "{:>12.2f}{:>10.2f}" if key == "matched_ess" else "{:>12.0f}{:>10.0f}"
            lines.append(f"{label:<16}" + fmt.format(c, t))
        if self.missing_counts:
            handled = {
                "drop": "rows left out",
                "impute": "mean-imputed with an indicator; "
                "rows missing an exact or VCG column left out",
            }[s.missing]
            lines.append(
                "Missing values: "
                + ", ".join(f"{name} {n}" for name, n in self.missing_counts.items())
                + f" ({handled})"
            )
        if len(self.unmatched):
            counts = self.unmatched["reason"].value_counts().sort_index()
            lines.append(
                "Unmatched treated rows by reason: "
                + ", ".join(f"{reason} {n}" for reason, n in counts.items())
            )
        if self.n_short:
            lines.append(
                f"{self.n_short} treated rows received fewer than {s.ratio} comparison rows"
            )
        if self.n_matched_treated == 0:
            lines.append(self._nothing_matched())
            return "\n".join(lines)
        lines.append("Balance:")
        lines.append((balance or self.balance()).summary())
        return "\n".join(lines)

    def _nothing_matched(self) -> str:
        reasons = set(self.unmatched["reason"])
        if reasons == {"outside_caliper"}:
            return (
                f"No treated row was matched: none has a comparison row within the caliper of "
                f"{self.settings.caliper:g} SD ({self.settings.caliper_logit:.4g} on the logit). "
                "Widen the caliper or check the overlap of the propensity scores."
            )
        return "No treated row was matched (reasons above); balance after matching is undefined."


def positions_to_labels(index: pd.Index, positions: np.ndarray) -> np.ndarray:
    """Index labels at integer ``positions`` (as a plain array)."""
    return index.take(positions).to_numpy()
