"""A cohort's effect estimates: pooled, per school, breakouts and the percentile trajectory.

Estimates are in national-SD units of the spring z-score, adjusting for the fall z-score (and
configured covariates), weighted by the match weights. A school's or a breakout group's
estimate compares its treated students with the comparison students matched to them (as
RAND's virtual comparison groups did), with ATT weights rebuilt from the match pairs.

``estimate.model`` chooses the pooled model only: least squares with school-clustered SEs, or
school random intercepts with one variance per arm (``mixed``). School estimates (least squares
within the school's sample, HC1 plus the variance its few comparison schools' shared shocks
add: :func:`_with_shared_comparison_noise`) and breakouts (a least-squares interaction model on
stacked group samples, school-clustered) are the same in every analysis: a comparison student
matched to PL students of two groups appears in both groups' samples, which the school-clustered
sandwich allows for and a random-intercept likelihood would count as independent rows.

Small and odd cohorts never stop the analysis: a row that cannot be estimated is kept with
empty (NaN) numbers and a ``note`` that starts with one of the reasons in :data:`NOTES`; an
estimate that rests on fewer PL schools than ``estimate.few_schools`` keeps its numbers and
says so in its note (its CR2 small-sample df already widen its interval).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval import lazy
from pl_eval.config import MATCH_COVARIATES
from pl_eval.errors import ConfigError
from pl_eval.estimation.errors import EstimationError, EstimationWarning
from pl_eval.estimation.shrinkage import shrink
from pl_eval.norms import percentile_points
from pl_eval.progress import track
from pl_eval.wording import counted

if TYPE_CHECKING:
    from pl_eval.estimation.models import InteractionEstimate

# Imported when used: combine_estimates and the report fit nothing (the models' scipy.special
# and scipy.linalg were 0.19 CPU s of a 0.9 s combine job; scipy.stats alone costs 0.6 s).
models = lazy.module("pl_eval.estimation.models")
power = lazy.module("pl_eval.estimation.power")
stats = lazy.module("scipy.stats")
linear_model = lazy.module("statsmodels.regression.linear_model")  # not .api: 0.3 s less
multitest = lazy.module("statsmodels.stats.multitest")
pa = lazy.module("pyarrow")
pyarrow_compute = lazy.module("pyarrow.compute")
# The matching package imports the panel and ingest code too: 0.06 s combine_estimates skips.
weighting = lazy.module("pl_eval.matching.weighting")

log = logging.getLogger(__name__)

OUTCOME = "spring_z"
TREATMENT = "treated"
#: Schools are clusters by district and name together: the same name recurs across districts.
CLUSTER = "school_id"

#: Breakout scopes: the treated students' attribute that defines the groups, in report order.
BREAKOUTS = {
    "sector": ("sector", ("charter", "district")),
    "years": ("years_pl", ("1", "2", "3+")),
    "grade_band": ("grade_band", ("K-5", "6-8", "9-12")),
    "baseline_quintile": ("baseline_quintile", ("Q1", "Q2", "Q3", "Q4", "Q5")),
    # the student's own school years in a PL school (pl_eval.years.exposure)
    "exposure": ("exposure", ("1", "2", "3+")),
}

ESTIMATE_COLUMNS = [
    "subject", "scope", "group", "district", "estimate", "se", "ci_low", "ci_high", "p_value",
    "df", "p_value_bh", "percentile_points", "hedges_g", "improvement_index", "n_treated",
    "n_comparison", "n_schools", "shrunken_estimate", "note", "comparison_percentile",
    "percentile_ci_low", "percentile_ci_high", "percentile_points_median", "mde",
    "mde_percentile_points",
]  # fmt: skip
#: The pooled effect with every PL school weighted equally (what the average PL school did),
#: beside ``pooled`` (every PL student weighted equally: what the average PL student got).
POOLED_SCHOOLS = "pooled_schools"
TEST_COLUMNS = [
    "subject", "scope", "groups", "statistic", "df", "df_denominator", "p_value", "note",
]  # fmt: skip
TRAJECTORY_COLUMNS = [
    "subject", "arm", "season", "mean_percentile", "ci_low", "ci_high", "n_students", "note",
]  # fmt: skip
#: Each PL school's trajectory against the comparison students matched to it (school pages).
SCHOOL_TRAJECTORY_COLUMNS = ["subject", "school", "district", *TRAJECTORY_COLUMNS[1:]]
#: Columns that hold numbers (NaN where a row has none): typed float whatever the rows held, so
#: a subject whose rows are all empty (None) stays numeric when subjects are joined.
NUMBER_COLUMNS = {
    "estimate", "se", "ci_low", "ci_high", "p_value", "df", "p_value_bh", "percentile_points",
    "hedges_g", "improvement_index", "shrunken_estimate", "statistic", "df_denominator",
    "mean_percentile", "comparison_percentile", "percentile_ci_low", "percentile_ci_high",
    "percentile_points_median", "mde", "mde_percentile_points",
}  # fmt: skip

#: How a note starts, by reason (the report matches on these words; details may follow).
NO_PL = "no PL students"
NO_COMPARISON = "no comparison students"
ONE_CLUSTER = "one cluster"  # a single school in the sample: nothing to cluster on
TOO_FEW = "too few students"  # below estimate.min_school_students, or too few for the model
FEW_SCHOOLS = "few PL schools"  # numbers kept (or, with one PL school, no interval)
NO_TEST = "fewer than two groups with students in both arms"
NOT_ESTIMABLE = "not estimable"  # any other reason the models give
NOTES = (NO_PL, NO_COMPARISON, ONE_CLUSTER, TOO_FEW, FEW_SCHOOLS, NO_TEST, NOT_ESTIMABLE)


@dataclass(frozen=True)
class EstimateConfig:
    """The ``estimate`` section of config.yaml (defaults mirror config/schema.yaml)."""

    model: str = "ols_cluster"
    se: str = "CR2"
    # config.yaml's default, "match" (the match covariates and exact strata), is spelt out by
    # pl_eval.config.analysis_section; built without a config the model adjusts for fall z
    covariates: tuple[str, ...] = ("fall_z",)
    min_school_students: int = 10
    shrinkage: str = "reml"
    few_schools: int = 10

    @classmethod
    def from_config(cls, section: dict) -> EstimateConfig:
        values = dict(section)
        if "covariates" in values:
            values["covariates"] = tuple(values["covariates"])
        if MATCH_COVARIATES in values.get("covariates", ()):
            raise ConfigError(
                f"estimate.covariates: {MATCH_COVARIATES!r} stands for the match covariates; "
                "spell it out with pl_eval.config.analysis_section(config, analysis, 'estimate')"
            )
        return cls(**values)


@dataclass(frozen=True)
class CohortEstimates:
    """Tidy tables of every estimate, breakout test and trajectory point of a cohort."""

    estimates: pd.DataFrame  # ESTIMATE_COLUMNS, one row per subject × scope × group
    tests: pd.DataFrame  # TEST_COLUMNS: equality of effects across a breakout's groups
    trajectory: pd.DataFrame  # TRAJECTORY_COLUMNS
    school_trajectory: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=SCHOOL_TRAJECTORY_COLUMNS)
    )  # SCHOOL_TRAJECTORY_COLUMNS

    def to_frame(self) -> pd.DataFrame:
        return self.estimates

    def summary(self) -> str:
        pooled = self.estimates[self.estimates["scope"] == "pooled"]
        lines = ["Pooled effects (national SD units of the spring z-score):"]
        for row in pooled.itertuples():
            counts = (
                f"{row.n_treated} treated, {row.n_comparison} comparison students, "
                f"{counted(int(row.n_schools), 'PL school')}"
            )
            if np.isnan(row.estimate):
                lines.append(f"  {row.subject:<8} no estimate: {row.note} ({counts})")
                continue
            inference = (
                f"95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}; p = {row.p_value:.3g}; "
                f"df {row.df:.3g}"
                if np.isfinite(row.ci_low)
                else "no interval"
            )
            lines.append(
                f"  {row.subject:<8} {row.estimate:+.3f} ({inference}; "
                f"{row.percentile_points:+.1f} percentile points; {counts})"
                + (f"; {row.note}" if row.note else "")
            )
            lines.append(_scales_line(row, self.estimates))
        schools = self.estimates[self.estimates["scope"] == "school"]
        for subject, rows in schools.groupby("subject", sort=True):
            counts = significant_schools(rows)
            lines.append(
                f"  {subject}: {counted(int(rows['estimate'].notna().sum()), 'school')} estimated; "
                f"significantly positive {counts['positive']}, negative {counts['negative']} "
                f"(p < 0.05); after Benjamini-Hochberg {counts['positive_bh']} and "
                f"{counts['negative_bh']}"
            )
        return "\n".join(lines)


def _scales_line(pooled, estimates: pd.DataFrame) -> str:
    """Under a pooled line: its percentile points labelled, its MDE, and the school-weighted
    pooled effect of the same subject."""
    text = (
        f"           (percentile points for a student at the comparison group's average, "
        f"spring percentile {pooled.comparison_percentile:.1f}; at the national median "
        f"{pooled.percentile_points_median:+.1f}); "
        + (
            f"minimum detectable effect {pooled.mde:.3f} SD"
            if np.isfinite(pooled.mde)
            else "no minimum detectable effect (no standard error)"
        )
    )
    rows = estimates[
        (estimates["scope"] == POOLED_SCHOOLS) & (estimates["subject"] == pooled.subject)
    ]
    for row in rows.itertuples():
        effect = (
            f"{row.estimate:+.3f} (95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}; df {row.df:.3g})"
            if np.isfinite(row.ci_low)
            else f"no interval: {row.note}"
            if np.isfinite(row.estimate)
            else f"no estimate: {row.note}"
        )
        text += f"\n           school-weighted (every PL school equal): {effect}"
    return text


def significant_schools(schools: pd.DataFrame, alpha: float = 0.05) -> dict[str, int]:
    """How many school estimates are significantly positive or negative, raw and after BH."""
    counts = {}
    for suffix, column in (("", "p_value"), ("_bh", "p_value_bh")):
        significant = schools[column] < alpha
        counts[f"positive{suffix}"] = int((significant & (schools["estimate"] > 0)).sum())
        counts[f"negative{suffix}"] = int((significant & (schools["estimate"] < 0)).sum())
    return counts


def estimate_cohort(
    samples: dict[str, tuple[pd.DataFrame, pd.DataFrame]], config: EstimateConfig
) -> CohortEstimates:
    """Estimates for each subject from its (matched sample, match pairs)."""
    estimates, tests, trajectory, school_trajectory = [], [], [], []
    for subject, (matched, text_pairs) in sorted(samples.items()):
        data, pairs = _integer_keys(_lean(_prepare(matched), config), text_pairs)
        pooled = _row(subject, "pooled", "all", data, config, cluster=CLUSTER)
        estimates.append(pooled)
        estimates.append(_pooled_schools(subject, data, pairs, config))
        schools, trajectories = _schools(
            subject, data, pairs, config, pooled_estimate=pooled["estimate"]
        )
        estimates.append(schools)
        for scope, (column, groups) in BREAKOUTS.items():
            rows, test = _breakout(subject, scope, column, groups, data, pairs, config)
            estimates.append(rows)
            tests.append(test)
        trajectory.append(_trajectory(subject, data, config))
        school_trajectory.append(trajectories)
    return CohortEstimates(
        estimates=_numbers_as_float(
            pd.concat(
                [e if isinstance(e, pd.DataFrame) else pd.DataFrame([e]) for e in estimates],
                ignore_index=True,
            ).pipe(_with_scales)[ESTIMATE_COLUMNS]
        ),
        tests=_numbers_as_float(pd.DataFrame(tests, columns=TEST_COLUMNS)),
        trajectory=_numbers_as_float(pd.concat(trajectory, ignore_index=True)[TRAJECTORY_COLUMNS]),
        school_trajectory=_numbers_as_float(
            pd.concat(school_trajectory, ignore_index=True)[SCHOOL_TRAJECTORY_COLUMNS]
        ),
    )


def _numbers_as_float(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its :data:`NUMBER_COLUMNS` as float64 (None and NA become NaN)."""
    numbers = [c for c in table.columns if c in NUMBER_COLUMNS]
    return table.astype(dict.fromkeys(numbers, "float64"))


def combine_estimates(parts: list[CohortEstimates]) -> CohortEstimates:
    """Estimates made subject by subject (the workflow's parallel jobs) as one set of tables,
    ordered as :func:`estimate_cohort` orders them: by subject, each subject's rows as made."""

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        table = _numbers_as_float(pd.concat(frames, ignore_index=True))
        return table.sort_values("subject", kind="stable", ignore_index=True)

    return CohortEstimates(
        estimates=joined([p.estimates for p in parts]),
        tests=joined([p.tests for p in parts]),
        trajectory=joined([p.trajectory for p in parts]),
        school_trajectory=joined([p.school_trajectory for p in parts]),
    )


def _prepare(matched: pd.DataFrame) -> pd.DataFrame:
    """Matched rows with the breakout columns the panel does not carry."""
    quintile = pd.cut(
        matched["fall_pct"], [-np.inf, 20, 40, 60, 80, np.inf], labels=list(BREAKOUTS[
            "baseline_quintile"][1]), right=False,
    )  # fmt: skip
    school = matched["school"].astype("string")
    district = matched["district"].astype("string")
    if "grade" in matched:  # a stratum, not a dose: adjusted for with indicators
        matched = matched.assign(grade=matched["grade"].astype("string"))
    if "exposure" not in matched:  # a panel built before exposure was counted: no groups
        matched = matched.assign(exposure=pd.Series(pd.NA, index=matched.index, dtype="string"))
    return matched.assign(
        treated=matched["treated"].astype(bool),
        baseline_quintile=quintile.astype("string"),
        school=school,
        district=district,
        school_id=district + "\x1f" + school,
    )


def sample_columns(config: EstimateConfig) -> list[str]:
    """The matched sample's columns :func:`estimate_cohort` reads (others need not be read)."""
    breakouts = [column for column, _ in BREAKOUTS.values() if column != "baseline_quintile"]
    return list(dict.fromkeys([
        "student_key", TREATMENT, "weight", weighting.STRATUM_COLUMN, OUTCOME,
        *config.covariates, "school", "district", *breakouts, "fall_pct", "spring_pct",
    ]))  # fmt: skip


def _lean(data: pd.DataFrame, config: EstimateConfig) -> pd.DataFrame:
    """Only the columns the estimates read, text as categories (sorted levels, so models code
    them as before): the school and breakout subsamples copy their rows dozens of times, and
    at national size copying every column, text above all, cost more than the models."""
    wanted = [*sample_columns(config), CLUSTER, "baseline_quintile"]
    kept = data[[c for c in dict.fromkeys(wanted) if c in data]]
    text = [c for c in kept if c != "student_key" and pd.api.types.is_string_dtype(kept[c])]
    return kept.astype(dict.fromkeys(text, "category"))


def _integer_keys(data: pd.DataFrame, pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Student keys of the sample and its pairs as integers ranked as the text sorts.

    The school and breakout subsamples test membership and group by key dozens of times: on
    integers that is quick, on text (pandas' string ``isin`` walks Python objects) it is not.
    Ranked codes keep every group, and so every sum, in the order the text keys gave it.
    """
    keys = pd.concat(
        [data["student_key"], pairs["treated_key"], pairs["control_key"]], ignore_index=True
    )
    codes = sorted_codes(keys)
    n, m = len(data), len(pairs)
    return data.assign(student_key=codes[:n]), pairs.assign(
        treated_key=codes[n : n + m], control_key=codes[n + m :]
    )


def sorted_codes(keys: pd.Series) -> np.ndarray:
    """``pd.factorize(keys, sort=True)[0]``: each key's rank among the distinct keys. Text is
    ranked by Arrow (UTF-8 byte order, which is Python's code-point order): pandas sorts the
    distinct keys as Python objects, 1.3 CPU s for a weighted sample's half a million."""
    if keys.empty or keys.hasnans or not pd.api.types.is_string_dtype(keys):
        return pd.factorize(keys, sort=True)[0]  # missing keys are −1, which Arrow cannot rank
    ranks = pyarrow_compute.rank(pa.array(keys), sort_keys="ascending", tiebreaker="dense")
    return ranks.to_numpy().astype(np.int64) - 1


def subsample(
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    treated_keys: pd.Index,
    treated_weight: pd.Series | None = None,
) -> pd.DataFrame:
    """``treated_keys``' students and the comparison students matched to them, ATT-weighted.

    Treated weight 1 (or ``treated_weight``, by treated key); a comparison student gets Σ w/k
    over the treated students it serves (w their weight, k their number of matches), rescaled
    to sum to the number of distinct comparison students (MatchIt's convention, as the match
    stage's weights).
    """
    if weighting.STRATUM_COLUMN in data:
        return weighted_subsample(data, treated_keys, treated_weight)
    mine = pairs[pairs["treated_key"].isin(treated_keys)]
    per_treated = mine.groupby("treated_key")["control_key"].transform("size")
    served = 1.0 if treated_weight is None else mine["treated_key"].map(treated_weight)
    control_weight = (served / per_treated).groupby(mine["control_key"]).sum()
    if len(control_weight):
        control_weight *= len(control_weight) / control_weight.sum()
    keys = data["student_key"]
    is_treated = data["treated"] & keys.isin(mine["treated_key"])
    is_control = ~data["treated"] & keys.isin(control_weight.index)
    rows = data[is_treated | is_control]
    own = 1.0 if treated_weight is None else rows["student_key"].map(treated_weight)
    weight = np.where(
        rows["treated"], own, rows["student_key"].map(control_weight).to_numpy(dtype=float)
    )
    return rows.assign(weight=weight)


def weighted_subsample(
    data: pd.DataFrame, treated_keys: pd.Index, treated_weight: pd.Series | None = None
) -> pd.DataFrame:
    """``treated_keys``' students and every comparison student of their exact strata, from a
    weighted sample (match.method ipw or entropy, which have no pairs): each stratum's
    comparison weights, which sum to its PL students, rescaled to sum to the weight of
    ``treated_keys`` there (1 each, or ``treated_weight`` by key): the same weights, aimed at
    the group's mix of strata."""
    treated = data["treated"].to_numpy(dtype=bool)
    stratum = data[weighting.STRATUM_COLUMN].to_numpy()
    mine = treated.copy()  # the treated rows' keys only: a few thousand, not every row's
    mine[treated] = pd.Index(data["student_key"].to_numpy()[treated]).isin(treated_keys)
    own = np.ones(len(data))
    if treated_weight is not None:
        own[mine] = data.loc[mine, "student_key"].map(treated_weight).to_numpy(dtype=float)
    size = int(stratum.max(initial=0)) + 1
    n_mine = np.bincount(stratum[mine], weights=own[mine], minlength=size)
    n_all = np.bincount(stratum[treated], minlength=size)
    share = np.divide(n_mine, n_all, out=np.zeros(size), where=n_all > 0)
    keep = np.flatnonzero(mine | (~treated & (share[stratum] > 0)))
    weight = np.where(treated, own, data["weight"].to_numpy(dtype=float) * share[stratum])
    # the rows first, then their weights: assigning to all rows would copy every column twice
    return data.take(keep).assign(weight=weight[keep])


def _row(
    subject: str,
    scope: str,
    group: str,
    data: pd.DataFrame,
    config: EstimateConfig,
    *,
    cluster: str | None,
    note: str = "",
) -> dict:
    """One estimate row; a sample that cannot be estimated gives a row with its reason."""
    base = {
        "subject": subject,
        "scope": scope,
        "group": group,
        "n_treated": int(data["treated"].sum()),
        "n_comparison": int((~data["treated"] & (data["weight"] > 0)).sum()),
        "n_schools": int(data.loc[data["treated"], CLUSTER].nunique()),
        "p_value_bh": np.nan,
        "shrunken_estimate": np.nan,
        "note": note,
    }
    note = note or _unusable(data, config, cluster)
    if note:
        return base | _empty_effect() | {"note": note}
    model = config.model if cluster else "ols_cluster"
    try:
        fit = models.estimate_effect(
            data,
            OUTCOME,
            TREATMENT,
            list(config.covariates),
            weights="weight",
            cluster=cluster,
            model=model,
            se=config.se if cluster else "CR1",  # unclustered: HC1
        )
    except EstimationError as exc:
        return base | _empty_effect() | {"note": f"{NOT_ESTIMABLE}: {exc}"}
    row = base | {
        "n_treated": fit.n_treated,  # the rows the model used (complete, positive weight)
        "n_comparison": fit.n_comparison,
        **_effect(fit.estimate, data),
        "se": fit.se,
        "ci_low": fit.ci_low,
        "ci_high": fit.ci_high,
        "p_value": fit.p_value,
        "df": fit.df,
    }
    if cluster is not None:
        row = _few_schools(row, config, model, fit.se_type)
        if model == "mixed" and fit.variance.treated == 0 and row["note"]:
            row["note"] += (
                "; PL schools' intercept variance estimated as 0, so the interval allows for "
                "no differences between them"
            )
    return _checked(row)


def _unusable(data: pd.DataFrame, config: EstimateConfig, cluster: str | None) -> str:
    """Why the sample cannot be estimated at all (empty when it can): its usable rows (complete,
    positive weight) lack an arm, have too few students or sit in a single school."""
    columns = [OUTCOME, *config.covariates, *([cluster] if cluster else [])]
    usable = (data[columns].notna().all(axis=1) & (data["weight"] > 0)).to_numpy()
    n_treated = int((usable & data["treated"].to_numpy(dtype=bool)).sum())
    n_comparison = int(usable.sum()) - n_treated
    if n_treated == 0:
        return NO_PL
    if n_comparison == 0:
        return NO_COMPARISON
    if min(n_treated, n_comparison) < 2:  # no spread in an arm: no effect size, no SE
        return f"{TOO_FEW} ({n_treated} PL, {n_comparison} comparison)"
    if cluster is not None and data[cluster][usable].nunique() < 2:
        return ONE_CLUSTER
    return ""


def _effect(estimate: float, data: pd.DataFrame) -> dict:
    """The estimate in the units the report also shows."""
    g = hedges_g(estimate, data)
    base = comparison_percentile(data)
    return {
        "estimate": estimate,
        "comparison_percentile": base,
        "percentile_points": percentile_points(estimate, at=base),
        "hedges_g": g,
        "improvement_index": 100 * stats.norm.cdf(g) - 50,
    }


def _few_schools(row: dict, config: EstimateConfig, model: str, se_type: str) -> dict:
    """Say when a school-clustered estimate rests on fewer PL schools than
    ``config.few_schools``; one PL school gives no interval at all (its school shock and the
    effect are one number, and CR2 would show only the comparison schools' noise)."""
    n = row["n_schools"]
    if n == 1:
        inference = dict.fromkeys(("se", "ci_low", "ci_high", "p_value", "df"), np.nan)
        note = f"{FEW_SCHOOLS} (1): one PL school gives no school-clustered interval"
        return row | inference | {"note": note}
    if n >= config.few_schools:
        return row
    if model == "mixed":
        how = f"random intercepts, Satterthwaite df {row['df']:.1f}"
    elif se_type == "CR2":
        how = f"CR2 small-sample df {row['df']:.1f}"
    else:
        how = f"{se_type}, t with {row['df']:g} df"
    return row | {"note": f"{FEW_SCHOOLS} ({n}): {how}"}


def _checked(row: dict) -> dict:
    """Never a silent gap: a number the model could not give is explained in the note."""
    numbers = ("estimate", "se", "ci_low", "ci_high", "p_value", "df", "percentile_points",
               "hedges_g", "improvement_index")  # fmt: skip
    missing = [k for k in numbers if not np.isfinite(row[k]) and not (k == "df" and row[k] > 0)]
    if missing and not row["note"]:
        return row | {"note": f"{NOT_ESTIMABLE}: no finite {', '.join(missing)}"}
    return row


def _empty_effect() -> dict:
    names = ("estimate", "se", "ci_low", "ci_high", "p_value", "df", "percentile_points",
             "hedges_g", "improvement_index", "comparison_percentile")  # fmt: skip
    return dict.fromkeys(names, np.nan)


def comparison_percentile(data: pd.DataFrame) -> float:
    """The match-weighted mean spring national percentile of a sample's comparison students.

    Where a student at the comparison group's average stands without the program: the spring
    score is the outcome the effect is added to, and the comparison students' spring score is the
    treated students' counterfactual (their fall percentile would omit the year's drift against
    national norms). NaN without comparison students.
    """
    comparison = (~data["treated"] & (data["weight"] > 0) & data["spring_pct"].notna()).to_numpy()
    if not comparison.any():
        return np.nan
    weights = data["weight"].to_numpy()[comparison]
    return float(np.average(data["spring_pct"].to_numpy()[comparison], weights=weights))


def _with_scales(estimates: pd.DataFrame) -> pd.DataFrame:
    """Each row's interval and minimum detectable effect in the report's other units.

    The interval's ends in percentile points at the row's own comparison percentile (as its
    ``percentile_points``); the minimum detectable effect (80% power, 5% two-sided) from the
    row's SE and df, in SD and in percentile points; and, for the pooled rows only, the effect in
    percentile points for a student at the national median, as RAND reported its headline.
    """
    base = estimates["comparison_percentile"]
    mde = power.minimum_detectable_effect(estimates["se"], estimates["df"])
    headline = estimates["scope"] == "pooled"
    return estimates.assign(
        percentile_ci_low=percentile_points(estimates["ci_low"], at=base),
        percentile_ci_high=percentile_points(estimates["ci_high"], at=base),
        percentile_points_median=np.where(
            headline, percentile_points(estimates["estimate"]), np.nan
        ),
        mde=mde,
        mde_percentile_points=percentile_points(mde, at=base),
    )


def school_weights(data: pd.DataFrame, pairs: pd.DataFrame) -> pd.Series:
    """Weights, by treated key, giving every PL school the same total: N/(J·n_j) for a student
    of school j (n_j its matched PL students, N of J schools in all), so they still sum to N."""
    matched = data["treated"] & (data["weight"] > 0)
    if weighting.STRATUM_COLUMN not in data:  # matched, not weighted: the PL students with matches
        matched &= data["student_key"].isin(pairs["treated_key"])
    treated = data[matched]
    share = 1.0 / treated.groupby(CLUSTER)["student_key"].transform("size")
    weight = share * (len(treated) / share.sum()) if len(treated) else share
    return pd.Series(weight.to_numpy(dtype=float), index=treated["student_key"].to_numpy())


def _pooled_schools(
    subject: str, data: pd.DataFrame, pairs: pd.DataFrame, config: EstimateConfig
) -> dict:
    """The pooled effect with every PL school weighted equally: what the average PL school did.

    The pooled regression with each school's treated students reweighted to the same total
    (:func:`school_weights`) and their matched comparison students' ATT weights scaled with
    them, school-clustered with the configured SE and its own df. Always least squares: a
    random-intercept model would reweight the schools again by its own variance shares.
    """
    weights = school_weights(data, pairs)
    sample = subsample(data, pairs, weights.index, treated_weight=weights)
    least_squares = dataclasses.replace(config, model="ols_cluster")
    return _row(subject, POOLED_SCHOOLS, "all", sample, least_squares, cluster=CLUSTER)


def hedges_g(effect: float, data: pd.DataFrame) -> float:
    """WWC Hedges' g: the adjusted difference over the pooled unadjusted outcome SD, ×ω."""
    treated = data["treated"].to_numpy(dtype=bool)
    arms = [treated, ~treated]  # masks: a copy of the sample per arm cost more than the sums
    n = [int(a.sum()) for a in arms]
    if min(n) < 2:
        return np.nan
    y, w = data[OUTCOME].to_numpy(), data["weight"].to_numpy()
    var = [_weighted_var(y[a], w[a]) for a in arms]
    pooled_sd = np.sqrt(((n[0] - 1) * var[0] + (n[1] - 1) * var[1]) / (n[0] + n[1] - 2))
    omega = 1 - 3 / (4 * (n[0] + n[1]) - 9)
    return omega * effect / pooled_sd


def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    mean = np.average(x, weights=w)
    return float(np.average((x - mean) ** 2, weights=w) * len(x) / (len(x) - 1))


def _schools(
    subject: str,
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    config: EstimateConfig,
    *,
    pooled_estimate: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every treated school's own estimate (HC1 within school, adjusting for the covariates that
    vary among its PL students), BH p-values and EB shrinkage; and its trajectory
    (:func:`_trajectory`) against the comparison students matched to it, with the weights its
    own estimate uses, for its school page. One subsample per school serves both: a weighted
    sample's holds every comparison student of the school's strata, a few hundred thousand."""
    treated = data[data["treated"]]
    if treated.empty:
        return pd.DataFrame(columns=ESTIMATE_COLUMNS), pd.DataFrame(
            columns=SCHOOL_TRAJECTORY_COLUMNS
        )
    shared = comparison_school_variance(data, config.covariates)
    rows, trajectories = [], []
    schools = treated.groupby(["district", "school"], sort=True)
    for (district, school), students in track(
        schools, "estimated school", logger=log, label=lambda group: group[0][1]
    ):
        sample = subsample(data, pairs, pd.Index(students["student_key"]))
        too_few = len(students) < config.min_school_students
        note = f"{TOO_FEW} ({len(students)} < {config.min_school_students})" if too_few else ""
        own = replace(config, covariates=varying_covariates(students, config.covariates))
        row = _row(subject, "school", school, sample, own, cluster=None, note=note)
        row = _with_shared_comparison_noise(row, sample, own.covariates, shared)
        rows.append(row | {"district": district})
        trajectory = _trajectory(subject, sample, config, one_school=True)
        trajectories.append(trajectory.assign(school=school, district=district))
    frame = pd.DataFrame(rows)
    ok = frame["p_value"].notna()
    if ok.any():
        frame.loc[ok, "p_value_bh"] = multitest.multipletests(
            frame.loc[ok, "p_value"], method="fdr_bh"
        )[1]
        frame.loc[ok, "shrunken_estimate"] = shrink(
            frame.loc[ok, "estimate"].to_numpy(),
            frame.loc[ok, "se"].to_numpy(),
            method=config.shrinkage,
            mean=pooled_estimate if np.isfinite(pooled_estimate) else None,
        ).shrunken
    return frame, pd.concat(trajectories, ignore_index=True)[SCHOOL_TRAJECTORY_COLUMNS]


def varying_covariates(students: pd.DataFrame, covariates: tuple[str, ...]) -> tuple[str, ...]:
    """The covariates that vary among a school's PL students: a school-level one (its FRL share,
    locale) is a single value there, so only the few comparison schools its matches come from
    could identify it, and with as few comparison schools as such covariates the school's
    treatment indicator is a combination of them (estimates of ±7 SD in validation). The match
    already holds those within their calipers and strata."""
    return tuple(c for c in covariates if students[c].nunique(dropna=True) > 1)


def comparison_school_variance(data: pd.DataFrame, covariates: tuple[str, ...]) -> float:
    """Between-school variance σ_v² of comparison students' covariate-adjusted spring scores.

    The REML estimate of the comparison arm's school-intercept variance in the random-intercept
    model with one variance per arm (:mod:`pl_eval.estimation.mixed`, checked against lme4),
    fitted unweighted to the whole matched sample: a property of comparison schools, not of the
    match weights. REML counts the degrees of freedom the covariates take; a method-of-moments
    ANOVA on least-squares residuals does not, and with school-level covariates (FRL, locale,
    test window) among some twenty comparison schools it understated σ_v² by about a third in
    validation (0.0049 against a simulated 0.0068; REML 0.0075). 0 when the model cannot be
    fitted (an arm in fewer than two schools).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EstimationWarning)  # the pooled fit warns of these
            fit = models.estimate_effect(
                data, OUTCOME, TREATMENT, list(covariates), cluster=CLUSTER, model="mixed"
            )
    except EstimationError:
        return 0.0
    return float(fit.variance.comparison)


def comparison_school_influence(sample: pd.DataFrame, covariates: tuple[str, ...]) -> pd.Series:
    """How much a school estimate moves when every outcome of one comparison school shifts by 1,
    by comparison school (they sum to −1).

    The estimate is linear in the outcome, τ̂ = Σ_i a_i·y_i, so fitting the same model (same rows,
    weights and terms) to the indicator of school k's students gives c_k = Σ_{i∈k} a_i. Without
    covariates c_k is minus the school's share of comparison weight; a covariate that differs
    between comparison schools (days between tests is set by each school's test windows) moves
    weight between them, and in validation Σc_k² was about twice Σ(share)².
    """
    read = [OUTCOME, *covariates, TREATMENT, "weight", CLUSTER]  # not every column's copy
    rows = sample.loc[
        sample[[OUTCOME, *covariates]].notna().all(axis=1) & (sample["weight"] > 0),
        list(dict.fromkeys(read)),
    ]
    schools = rows.loc[~rows["treated"], CLUSTER].unique()  # the few of one PL school
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)  # the school's own fit warned
        influence = models.estimate_indicator_effects(
            rows, CLUSTER, schools, TREATMENT, list(covariates), weights="weight"
        )
    return pd.Series(influence, index=schools, dtype=float)


def _with_shared_comparison_noise(
    row: dict, sample: pd.DataFrame, covariates: tuple[str, ...], variance: float
) -> dict:
    """Widen a school's interval for the comparison schools its matches come from.

    A PL school's matches often come from a few comparison schools (the propensity score barely
    varies within a school), so those schools' own shocks do not average out: with school shifts
    of variance σ_v² the estimate's variance gains σ_v²·Σ_k c_k², c_k the influence of
    comparison school k (:func:`comparison_school_influence`), beside the within-school HC1
    variance (Var(a'y) for y with independent errors plus a random intercept per comparison
    school). The PL school's own shock is part of what its estimate reports, not noise. The
    interval is then normal (the school estimates have hundreds of residual df).
    """
    if np.isnan(row["se"]) or variance == 0:
        return row
    influence = comparison_school_influence(sample, covariates)
    se = float(np.sqrt(row["se"] ** 2 + variance * (influence**2).sum()))
    z = stats.norm.ppf(0.975)
    return row | {
        "se": se,
        "ci_low": row["estimate"] - z * se,
        "ci_high": row["estimate"] + z * se,
        "p_value": float(2 * stats.norm.sf(abs(row["estimate"]) / se)),
        "df": np.inf,
    }


def _breakout(
    subject: str,
    scope: str,
    column: str,
    groups: tuple[str, ...],
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    config: EstimateConfig,
) -> tuple[pd.DataFrame, dict]:
    """Per-group effects from an interaction model on the stacked group samples, and the test
    that the effect is the same in every group (clustered on school, so comparison students
    shared by several groups are accounted for). A group that cannot be estimated keeps its row
    with the reason; if the interaction model cannot be fitted, each group gets its own.
    Least squares whatever ``config.model`` (see the module docstring)."""
    config = replace(config, model="ols_cluster")
    treated = data[data["treated"]]
    samples, notes = {}, {}
    for group in groups:
        keys = pd.Index(treated.loc[treated[column] == group, "student_key"])
        samples[group] = subsample(data, pairs, keys)
        notes[group] = _unusable(samples[group], config, cluster=None)
    estimable = [g for g in groups if not notes[g]]
    test = {"subject": subject, "scope": scope, "groups": ", ".join(estimable), "note": ""}
    test |= dict.fromkeys(("statistic", "df", "df_denominator", "p_value"), np.nan)
    fits = pd.DataFrame()
    if len(estimable) < 2:
        test["note"] = NO_TEST
    else:
        # the group labels the model's columns only: each group's sample is a few hundred
        # thousand rows of a weighted match, and a copy of all its columns cost more
        read = ["treated", "weight", OUTCOME, *config.covariates, CLUSTER]
        stacked = pd.concat(
            [samples[g][read].assign(group=g) for g in estimable], ignore_index=True
        )
        test["note"] = _unusable(stacked, config, CLUSTER)
    if not test["note"]:
        try:
            fit = models.estimate_interaction(
                stacked,
                OUTCOME,
                TREATMENT,
                "group",
                list(config.covariates),
                weights="weight",
                cluster=CLUSTER,
                model=config.model,
                se=config.se,
            )
        except EstimationError as exc:
            test["note"] = f"{NOT_ESTIMABLE}: {exc}"
        else:
            fits = fit.groups.set_index("group")
            test |= _test_row(fit, stacked, config)
    rows = []
    for group in groups:
        if group in fits.index and np.isfinite(fits.loc[group, "estimate"]):
            rows.append(_group_row(subject, scope, group, samples[group], fits.loc[group], config))
        else:  # not estimable (with its reason), or the only estimable group: its own fit
            rows.append(_row(subject, scope, group, samples[group], config, cluster=CLUSTER,
                             note=notes[group]))  # fmt: skip
    return pd.DataFrame(rows), test


def _test_row(fit: InteractionEstimate, stacked: pd.DataFrame, config: EstimateConfig) -> dict:
    """The equality test's numbers, and a note when they rest on few PL schools."""
    row = {
        "statistic": fit.test.statistic,
        "df": fit.test.df,
        "df_denominator": fit.test.df_denominator,
        "p_value": fit.test.p_value,
        "note": fit.test.note and f"{NOT_ESTIMABLE}: {fit.test.note}",
    }
    treated = stacked[stacked["treated"]]
    fewest = int(treated.groupby("group")[CLUSTER].nunique().min())
    n = int(treated[CLUSTER].nunique())
    if fewest == 1:
        row |= dict.fromkeys(("statistic", "df_denominator", "p_value"), np.nan)
        row["note"] = f"{FEW_SCHOOLS} ({n}): a group with one PL school gives no test"
    elif n < config.few_schools:
        how = f"{fit.test.method} denominator df {fit.test.df_denominator:.1f}"
        row["note"] = f"{FEW_SCHOOLS} ({n}): {how}"
    if not np.isfinite(row["p_value"]) and not row["note"]:
        row["note"] = f"{NOT_ESTIMABLE}: no p-value (denominator df {row['df_denominator']:.2g})"
    return row


def _group_row(
    subject: str,
    scope: str,
    group: str,
    sample: pd.DataFrame,
    fit: pd.Series,
    config: EstimateConfig,
) -> dict:
    row = {
        "subject": subject,
        "scope": scope,
        "group": group,
        **_effect(fit["estimate"], sample),
        "se": fit["se"],
        "ci_low": fit["ci_low"],
        "ci_high": fit["ci_high"],
        "p_value": fit["p_value"],
        "df": fit["df"],
        "p_value_bh": np.nan,
        "n_treated": int(fit["n_treated"]),
        "n_comparison": int(fit["n_comparison"]),
        "n_schools": int(sample.loc[sample["treated"], CLUSTER].nunique()),
        "shrunken_estimate": np.nan,
        "note": "",  # the interaction model notes only the groups it gives no estimate
    }
    return _checked(_few_schools(row, config, config.model, config.se))


def _trajectory(
    subject: str, data: pd.DataFrame, config: EstimateConfig, *, one_school: bool = False
) -> pd.DataFrame:
    """Weighted mean national percentile in fall and spring per arm, school-clustered 95% CI
    (statsmodels' CR1, normal). An arm without students has no mean; one in a single school
    has no interval, unless ``one_school`` (a school page's own students), where the interval
    is over its students (HC1, normal); a PL arm in fewer than ``few_schools`` schools says so."""
    rows = []
    # masks over the sample's columns: copying a school page's few hundred thousand rows per
    # arm and season cost more than the fits
    treated, weighted = data["treated"].to_numpy(dtype=bool), (data["weight"] > 0).to_numpy()
    for arm, members in (("treated", treated & weighted), ("comparison", ~treated & weighted)):
        for season in ("fall", "spring"):
            percentile = data[f"{season}_pct"]
            present = members & percentile.notna().to_numpy()
            values = percentile.to_numpy(float)[present]
            weights = data["weight"].to_numpy(float)[present]
            schools = data[CLUSTER][present]
            n_schools = schools.nunique()
            row = {"subject": subject, "arm": arm, "season": season, "n_students": len(values)}
            row |= {"mean_percentile": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": ""}
            if not len(values):
                row["note"] = NO_PL if arm == "treated" else NO_COMPARISON
            elif n_schools < 2 and not (one_school and len(values) > 1):
                row["mean_percentile"] = np.average(values, weights=weights)
                row["note"] = ONE_CLUSTER
            else:
                model = linear_model.WLS(values, np.ones_like(values), weights=weights)
                if n_schools < 2:  # one school's students
                    fit = model.fit(cov_type="HC1")
                    if arm == "comparison":
                        row["note"] = "one comparison school: interval over its students"
                else:
                    groups = pd.factorize(schools)[0]
                    fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
                low, high = fit.conf_int()[0]
                row |= {"mean_percentile": float(fit.params[0]), "ci_low": low, "ci_high": high}
                if arm == "treated" and 1 < n_schools < config.few_schools:
                    row["note"] = f"{FEW_SCHOOLS} ({n_schools}): CR1, normal intervals"
            rows.append(row)
    return pd.DataFrame(rows)


def analysis_sample(
    matched: pd.DataFrame, pairs: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A subject's matched sample and pairs as :func:`estimate_cohort` estimates on them, for
    analyses that refit its models (the sensitivity to an omitted confounder)."""
    return _integer_keys(_prepare(matched), pairs)
