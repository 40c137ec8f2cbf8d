"""Students lost between the fall and the spring test: how many, who, and what it could do.

Per subject:

- **Rates**: of the students tested in the fall at a PL school (or a comparison school), the
  share with no spring test at the same school (panel reasons ``no_spring`` and
  ``changed_school``); the overall rate, the differential (PL less comparison, in absolute
  value) and the What Works Clearinghouse verdict against its **cautious** attrition boundary
  (Standards Handbook v4.1, Table II.1; v5.0 keeps it). WWC applies the cautious boundary when
  the intervention may itself change who stays and who is tested; a whole-school model that
  families choose or leave can, so the optimistic boundary would claim more than we know.
  WWC rates attrition for randomised trials; for this matched comparison the verdict is a
  yardstick, not a rating. Comparison rates are those of every student in the comparison
  schools, the pool the matches came from: which lost comparison students would have been
  matched cannot be known.
- **Baseline**: fall z and school FRL of lost and kept students, per arm, with the
  standardised difference (lost − kept) / sqrt((s²_lost + s²_kept)/2).
- **Lee (2009) bounds** on the pooled effect: the arm that kept more of its students is trimmed
  by Lee's share (r_high − r_low)/r_high of its analysed students, from the top of its outcome
  distribution for the lower bound and from the bottom for the upper bound. The outcome is the
  covariate-adjusted spring score of the pooled model (spring z less the covariates' fitted
  part, slopes from the full matched sample), so that untrimmed the bounds reproduce the pooled
  estimate exactly; means and trimming are weighted by the match weights (PL students weigh 1,
  comparison students their ATT weight), the trimmed share a share of the arm's weight. Their
  95% interval comes from a school bootstrap with a fixed seed (:func:`lee_interval`), not
  Lee's analytic standard errors, which assume independent students; like the estimate's own
  interval it holds the match fixed, and it is given only with at least
  ``estimate.few_schools`` PL schools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.estimation.cohort import (
    CLUSTER,
    OUTCOME,
    TREATMENT,
    EstimateConfig,
    analysis_sample,
)
from pl_eval.estimation.design import prepare_sample
from pl_eval.estimation.errors import EstimationError
from pl_eval.wording import counted

ARMS = ("treated", "comparison")
#: Panel reasons that mean a fall-tested student was lost by the spring.
LOST_REASONS = ("no_spring", "changed_school")
#: WWC Standards Handbook v4.1, Table II.1, cautious boundary: the largest differential
#: attrition (percentage points) that is still "low", by overall attrition 0, 1, ..., 57%
#: (from 58% overall, attrition is high whatever the differential).
CAUTIOUS_BOUNDARY = (
    5.7, 5.8, 5.9, 5.9, 6.0, 6.1, 6.2, 6.3, 6.3, 6.3, 6.3, 6.2, 6.2, 6.1, 6.0, 5.9, 5.9, 5.8,
    5.7, 5.5, 5.4, 5.3, 5.2, 5.1, 4.9, 4.8, 4.7, 4.5, 4.4, 4.3, 4.1, 4.0, 3.8, 3.6, 3.5, 3.3,
    3.2, 3.1, 2.9, 2.8, 2.6, 2.5, 2.3, 2.1, 2.0, 1.8, 1.6, 1.5, 1.3, 1.2, 1.0, 0.9, 0.7, 0.6,
    0.4, 0.3, 0.2, 0.0,
)  # fmt: skip
BOUNDARY = "cautious"

RATE_COLUMNS = [
    "subject", "n_treated", "n_treated_lost", "treated_rate", "n_comparison",
    "n_comparison_lost", "comparison_rate", "overall_rate", "differential", "boundary",
    "max_differential", "wwc_attrition", "note",
]  # fmt: skip
BASELINE_COLUMNS = [
    "subject", "arm", "covariate", "n_lost", "n_kept", "mean_lost", "mean_kept", "smd", "note",
]  # fmt: skip
LEE_COLUMNS = [
    "subject", "estimate", "lower", "upper", "ci_low", "ci_high", "reps", "trimmed_arm",
    "trim_share", "treated_retention", "comparison_retention", "n_treated", "n_comparison",
    "note",
]  # fmt: skip
#: The school bootstrap of the Lee bounds' interval: replicates and seed (fixed: the same
#: inputs give the same interval).
BOOTSTRAP_REPS = 500
BOOTSTRAP_SEED = 20141
BASELINE_COVARIATES = ("fall_z", "frl_pct")


def attrition_rates(exclusions: pd.DataFrame) -> pd.DataFrame:
    """Attrition per subject and arm from the panel's sample flow (subject, arm, reason,
    n_students), judged against WWC's cautious boundary (:data:`RATE_COLUMNS`)."""
    flow = exclusions[exclusions["arm"].isin(ARMS)]
    rows = []
    for subject, part in flow.groupby("subject", sort=True):
        counts = {}
        for arm in ARMS:
            mine = part[part["arm"] == arm]
            lost = int(mine.loc[mine["reason"].isin(LOST_REASONS), "n_students"].sum())
            kept = int(mine.loc[mine["reason"] == "paired", "n_students"].sum())
            counts[arm] = (lost + kept, lost)
        rows.append(_rates(subject, counts))
    return pd.DataFrame(rows, columns=RATE_COLUMNS)


def _rates(subject: str, counts: dict[str, tuple[int, int]]) -> dict:
    (n_t, lost_t), (n_c, lost_c) = counts["treated"], counts["comparison"]
    row = {
        "subject": subject, "n_treated": n_t, "n_treated_lost": lost_t,
        "treated_rate": lost_t / n_t if n_t else np.nan, "n_comparison": n_c,
        "n_comparison_lost": lost_c, "comparison_rate": lost_c / n_c if n_c else np.nan,
        "overall_rate": (lost_t + lost_c) / (n_t + n_c) if n_t + n_c else np.nan,
        "boundary": BOUNDARY, "note": "",
    }  # fmt: skip
    row["differential"] = abs(row["treated_rate"] - row["comparison_rate"])
    if not (n_t and n_c):
        missing = " and ".join(a for a, n in (("PL", n_t), ("comparison", n_c)) if not n)
        return row | {"max_differential": np.nan, "wwc_attrition": "not computable",
                      "note": f"no {missing} students tested in the fall"}  # fmt: skip
    overall = int(np.floor(100 * row["overall_rate"] + 0.5))  # whole percent, as WWC's table
    limit = CAUTIOUS_BOUNDARY[overall] if overall < len(CAUTIOUS_BOUNDARY) else np.nan
    low = np.isfinite(limit) and 100 * row["differential"] <= limit + 1e-9
    return row | {"max_differential": limit / 100, "wwc_attrition": "low" if low else "high"}


def lost_vs_kept(
    kept: pd.DataFrame, lost: pd.DataFrame, covariates: Sequence[str] = BASELINE_COVARIATES
) -> pd.DataFrame:
    """Baseline means of lost and kept students per subject, arm and covariate, with their
    standardised difference (:data:`BASELINE_COLUMNS`). ``kept`` is the panel (``treated``
    marks the arm), ``lost`` the panel stage's lost students (``arm``)."""
    kept = kept.assign(arm=np.where(kept["treated"].astype(bool), "treated", "comparison"))
    rows = []
    subjects = sorted(set(kept["subject"]) | set(lost["subject"]))
    for subject in subjects:
        for arm in ARMS:
            groups = [
                f[(f["subject"] == subject) & (f["arm"] == arm)] for f in (lost, kept)
            ]  # fmt: skip
            for covariate in covariates:
                values = [g[covariate].dropna().to_numpy(float) for g in groups]
                rows.append(_difference(subject, arm, covariate, *values))
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def _difference(subject: str, arm: str, covariate: str, lost: np.ndarray, kept: np.ndarray):
    row = {
        "subject": subject, "arm": arm, "covariate": covariate, "n_lost": len(lost),
        "n_kept": len(kept), "mean_lost": lost.mean() if len(lost) else np.nan,
        "mean_kept": kept.mean() if len(kept) else np.nan, "smd": np.nan, "note": "",
    }  # fmt: skip
    if min(len(lost), len(kept)) < 2:
        return row | {"note": "fewer than two lost or kept students"}
    spread = np.sqrt((lost.var(ddof=1) + kept.var(ddof=1)) / 2)
    if spread == 0:
        return row | {"note": "no variation"}
    return row | {"smd": (row["mean_lost"] - row["mean_kept"]) / spread}


def trimmed_mean(values: np.ndarray, weights: np.ndarray, share: float, *, top: bool) -> float:
    """Weighted mean of ``values`` after removing ``share`` of the total weight from the top
    (``top``) or the bottom of the distribution; the observation on the cut keeps the part of
    its weight that is not removed, so the trimmed share is exact."""
    order = np.argsort(values, kind="stable")
    return _trimmed(values[order], weights[order], share, top=top)


def _trimmed(values: np.ndarray, weights: np.ndarray, share: float, *, top: bool) -> float:
    """:func:`trimmed_mean` of ``values`` already in ascending order."""
    v, w = (values[::-1], weights[::-1]) if top else (values, weights)
    removed = share * w.sum()
    before = np.cumsum(w) - w  # weight removed before each observation
    left = w - np.clip(removed - before, 0.0, w)
    return float((v @ left) / left.sum())


@dataclass(frozen=True)
class LeeBounds:
    """Lee (2009) bounds on an effect: the estimate had the extra students the arm with less
    attrition kept been the best (upper) or the worst (lower) of its students."""

    estimate: float  # untrimmed: the weighted difference in means
    lower: float
    upper: float
    trimmed_arm: str  # "treated", "comparison" or "" (equal retention: nothing trimmed)
    trim_share: float  # of the trimmed arm's weight


def lee_bounds(
    outcome: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    retention: tuple[float, float],
) -> LeeBounds:
    """Lee bounds for the weighted difference in mean ``outcome`` (treated − comparison), given
    the share of each arm (treated, comparison) whose outcome was observed."""
    return _SortedArms.of(outcome, treated).bounds(weights, retention)


@dataclass(frozen=True, eq=False)
class _SortedArms:
    """Each arm's rows in ascending order of the outcome: sorted once, then bounded under any
    weights (the school bootstrap changes only the weights)."""

    rows: tuple[np.ndarray, np.ndarray]  # (treated, comparison) row positions, sorted
    values: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, outcome: np.ndarray, treated: np.ndarray) -> _SortedArms:
        rows = tuple(
            np.flatnonzero(arm)[np.argsort(outcome[arm], kind="stable")]
            for arm in (treated, ~treated)
        )
        return cls(rows, tuple(outcome[r] for r in rows))

    def bounds(self, weights: np.ndarray, retention: tuple[float, float]) -> LeeBounds:
        if not 0 < min(retention) <= max(retention) <= 1:
            raise EstimationError(f"retention rates must be in (0, 1]; got {retention}")
        w = tuple(weights[r] for r in self.rows)
        means = [float(v @ a / a.sum()) for v, a in zip(self.values, w, strict=True)]
        estimate = means[0] - means[1]
        r_t, r_c = retention
        if r_t == r_c:
            return LeeBounds(estimate, estimate, estimate, "", 0.0)
        arm = 0 if r_t > r_c else 1  # the arm that kept more is trimmed
        share = abs(r_t - r_c) / max(r_t, r_c)
        top, bottom = (_trimmed(self.values[arm], w[arm], share, top=t) for t in (True, False))
        if arm == 0:
            lower, upper = top - means[1], bottom - means[1]
        else:
            lower, upper = means[0] - bottom, means[0] - top
        return LeeBounds(estimate, lower, upper, ARMS[arm], share)


@dataclass(frozen=True, eq=False)
class AdjustedOutcome:
    """The pooled model's rows: covariate-adjusted spring z, arm, match weight and school."""

    values: np.ndarray
    treated: np.ndarray
    weights: np.ndarray
    schools: np.ndarray  # school ids (district and school), the bootstrap's clusters


def adjusted_outcome(data: pd.DataFrame, covariates: Sequence[str]) -> AdjustedOutcome:
    """Spring z less the covariates' fitted part in the pooled weighted model y ~ PL +
    covariates, on the rows that model uses: the weighted difference in means of the adjusted
    outcome is the pooled estimate."""
    sample = prepare_sample(data, OUTCOME, TREATMENT, covariates, weights="weight")
    used = data[[OUTCOME, TREATMENT, *covariates, "weight"]].notna().all(axis=1)
    used &= data["weight"] > 0  # prepare_sample's rows
    x = sample.design(sample.treated)
    root = np.sqrt(sample.weights)
    coef = np.linalg.lstsq(x * root[:, None], sample.y * root, rcond=None)[0]
    adjusted = sample.y - x[:, 2:] @ coef[2:]
    schools = data.loc[used.to_numpy(), CLUSTER].to_numpy()
    return AdjustedOutcome(adjusted, sample.treated, sample.weights, schools)


def school_counts(kept: pd.DataFrame, lost: pd.DataFrame) -> pd.DataFrame:
    """Students kept and lost per subject, arm and school (``school_id`` as the estimates
    cluster), from the panel (``treated`` marks the arm) and the lost students (``arm``)."""
    columns = ["subject", "arm", "district", "school", "kept", "lost"]
    both = pd.concat(
        [
            kept.assign(arm=np.where(kept["treated"].astype(bool), "treated", "comparison"),
                        kept=1, lost=0)[columns],
            lost.assign(kept=0, lost=1)[columns],
        ],
        ignore_index=True,
    )  # fmt: skip
    both[CLUSTER] = both["district"].astype(str) + "\x1f" + both["school"].astype(str)
    keys = ["subject", "arm", CLUSTER]
    return both.groupby(keys, sort=True)[["kept", "lost"]].sum().reset_index()


def lee_interval(
    outcome: AdjustedOutcome,
    counts: pd.DataFrame,
    *,
    reps: int = BOOTSTRAP_REPS,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float, int]:
    """A confidence interval for the Lee bounds' identified set, by a school bootstrap.

    Each replicate draws the PL schools and the comparison schools of ``counts`` (one subject's
    :func:`school_counts`) with replacement, each arm on its own; recomputes both arms'
    retention from the drawn schools' kept and lost students; and recomputes the bounds with
    every analysed student weighted by its match weight times the number of times its school
    was drawn. The match and the covariate slopes are held fixed, as the estimate's own CR2
    interval holds the weights fixed. The interval runs from the (1 − level)/2 quantile of the
    lower bounds to the (1 + level)/2 quantile of the upper bounds, so it covers the whole
    identified set (and so the effect) at about ``level``: conservative, as Horowitz-Manski
    intervals are. Returns the interval and the replicates used (a draw that leaves an arm
    without analysed students, or with no student kept, is skipped).
    """
    ids = pd.Index(counts[CLUSTER])
    if ids.has_duplicates:
        raise EstimationError("a school is counted in both arms; no school bootstrap")
    row_school = ids.get_indexer(outcome.schools)
    if (row_school < 0).any():
        raise EstimationError("an analysed student's school has no kept or lost count")
    arms = [np.flatnonzero(counts["arm"].to_numpy() == arm) for arm in ARMS]
    kept, total = counts["kept"].to_numpy(float), (counts["kept"] + counts["lost"]).to_numpy(float)
    rng = np.random.default_rng(seed)
    arms_sorted = _SortedArms.of(outcome.values, outcome.treated)
    lows, highs = [], []
    for _ in range(reps):  # each replicate is vectorised over students
        drawn = np.zeros(len(ids))
        for members in arms:
            np.add.at(drawn, rng.choice(members, size=len(members)), 1.0)
        retention = tuple((drawn[m] @ kept[m]) / (drawn[m] @ total[m]) for m in arms)
        weights = outcome.weights * drawn[row_school]
        if min(retention) <= 0 or not all(
            weights[side].sum() > 0 for side in (outcome.treated, ~outcome.treated)
        ):
            continue
        bounds = arms_sorted.bounds(weights, retention)
        lows.append(bounds.lower)
        highs.append(bounds.upper)
    if not lows:
        return np.nan, np.nan, 0
    tail = (1 - level) / 2
    return float(np.quantile(lows, tail)), float(np.quantile(highs, 1 - tail)), len(lows)


def lee_table(
    samples: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    estimates: pd.DataFrame,
    rates: pd.DataFrame,
    config: EstimateConfig,
    counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Lee bounds on each subject's pooled estimate (:data:`LEE_COLUMNS`), the retention rates
    from :func:`attrition_rates`; with ``counts`` (:func:`school_counts`) and at least
    ``config.few_schools`` PL schools, their school-bootstrap interval (:func:`lee_interval`)."""
    rows = []
    pooled = estimates[estimates["scope"] == "pooled"].set_index("subject")
    for subject, rate in rates.set_index("subject").iterrows():
        if subject not in pooled.index:
            continue
        row = pooled.loc[subject]
        retention = (1 - rate["treated_rate"], 1 - rate["comparison_rate"])
        out = {
            "subject": subject, "estimate": row["estimate"], "treated_retention": retention[0],
            "comparison_retention": retention[1], "n_treated": row["n_treated"],
            "n_comparison": row["n_comparison"],
        }  # fmt: skip
        mine = None if counts is None else counts[counts["subject"] == subject]
        rows.append(out | _lee(samples, subject, row, retention, config, mine))
    return pd.DataFrame(rows, columns=LEE_COLUMNS)


def _lee(samples, subject: str, row: pd.Series, retention, config: EstimateConfig, counts) -> dict:
    """The bounds of one pooled estimate (and their interval), or a note saying why not."""
    empty = {"lower": np.nan, "upper": np.nan, "trimmed_arm": "", "trim_share": np.nan}
    empty |= {"ci_low": np.nan, "ci_high": np.nan, "reps": 0}
    if not np.isfinite(row["estimate"]):
        return empty | {"note": "no estimate"}
    if config.model != "ols_cluster":
        return empty | {"note": f"not computed: this analysis uses {config.model}, not least "
                        "squares"}  # fmt: skip
    if not np.isfinite(retention).all():
        return empty | {"note": "no attrition rate for an arm"}
    data, _ = analysis_sample(*samples[subject])
    try:
        outcome = adjusted_outcome(data, config.covariates)
        bounds = lee_bounds(outcome.values, outcome.treated, outcome.weights, retention)
    except EstimationError as exc:
        return empty | {"note": f"not computed: {exc}"}
    if not np.isclose(bounds.estimate, row["estimate"], rtol=1e-6, atol=1e-8):
        return empty | {"note": f"not computed: the adjusted difference {bounds.estimate:.4f} is "
                        f"not the reported estimate {row['estimate']:.4f}"}  # fmt: skip
    found = {
        "lower": bounds.lower, "upper": bounds.upper, "trimmed_arm": bounds.trimmed_arm,
        "trim_share": bounds.trim_share, "ci_low": np.nan, "ci_high": np.nan, "reps": 0,
        "note": "",
    }  # fmt: skip
    if counts is None:
        return found | {"note": "no interval: no school counts"}
    n_schools = int(data.loc[data["treated"], CLUSTER].nunique())
    if n_schools < config.few_schools:
        are = "is" if n_schools == 1 else "are"
        return found | {
            "note": f"no interval: {counted(n_schools, 'PL school')} {are} too few for a school "
            "bootstrap"
        }
    try:
        low, high, reps = lee_interval(outcome, counts)
    except EstimationError as exc:
        return found | {"note": f"no interval: {exc}"}
    return found | {"ci_low": low, "ci_high": high, "reps": reps}
