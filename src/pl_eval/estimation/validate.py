"""Does the pipeline recover what the simulator planted? Bias, RMSE, CI coverage and gates.

The truth an estimate is compared with is the ATT over the treated students that estimate
targets: the PL students in common support, i.e. matched (positive weight) and with a fall and
a spring score. It is rebuilt here from the matched sample, because which students are matched
is known only after matching; each student's planted effect is a function of their school and
observed fall z (``truth.json``: per school ``planted``, ``deviation``, ``shock``, ``centre``,
and ``settings.baseline_gradient``):

* pooled, sector and years estimates, whose school-clustered intervals speak for the population
  of PL schools, are compared with the planted effects without the schools' random deviations
  and shocks (``planted + gradient``);
* a school's estimate is compared with everything that one school-year can show of the school:
  its planted effect, its own deviation u_s and its own growth shock (school and district),
  which no comparison group shares (``planted + deviation + shock + gradient``).

The truths over every analysable PL student (``tau`` in truth.json) and over every PL student
tested in the fall (``all_treated``, attriters included) are carried beside it. Across
replications the summary reports, per subject and scope, the bias, RMSE, the share of 95%
intervals that contain the truth and the mean SE, and the gates: coverage 93-97% and
|bias| < 0.01 SD for every scope. The Monte Carlo SEs of the bias and the coverage say whether a
miss is more than replication noise, and ``se_ratio`` (root mean square SE over the SD of the
errors; 1 when the SEs are calibrated) whether a coverage miss comes from the SEs. The MC SEs
treat replications, not estimates, as independent (a replication's school, sector and years
estimates share its comparison schools and shocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.estimation.errors import EstimationError

#: Scopes with a planted truth, where truth.json keeps them, and the matched sample's column
#: that defines their groups.
TRUTH_SCOPES = {
    "pooled": ("pooled", None),
    "sector": ("by_sector", "sector"),
    "years": ("by_years", "years_pl"),
    "school": ("by_school", "school_id"),
}
#: The gates every subject × scope must pass: 95% interval coverage and |bias| (SD units).
COVERAGE_GATE = (0.93, 0.97)
BIAS_GATE = 0.01
TABLE_COLUMNS = [
    "subject", "scope", "n_estimates", "bias", "bias_mc_se", "rmse", "coverage", "coverage_mc_se",
    "mean_se", "se_ratio", "bias_all_treated", "gate",
]  # fmt: skip


class GateMissed(Exception):
    """A validation run whose estimates missed a coverage or bias gate (one line: which)."""


@dataclass(frozen=True)
class Validation:
    """Estimates beside their truth for every replication, and the summary across them."""

    comparisons: pd.DataFrame  # rep, subject, scope, group, estimate, se, ci_*, truth, ...
    table: pd.DataFrame  # TABLE_COLUMNS

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> str:
        reps = self.comparisons["rep"].nunique()
        return f"Validation over {reps} replications\n{self.table.to_string(index=False)}"

    def misses(self) -> list[str]:
        """One phrase per subject × scope that missed a gate (empty when all passed)."""
        low, high = COVERAGE_GATE
        out = []
        for row in self.table[self.table["gate"] == "MISS"].itertuples():
            why = []
            if not low <= row.coverage <= high:
                why.append(f"coverage {row.coverage:.3f} (target {low:.2f}-{high:.2f})")
            if not abs(row.bias) < BIAS_GATE:
                why.append(f"bias {row.bias:+.4f} (target |bias| < {BIAS_GATE})")
            out.append(f"{row.subject} {row.scope} " + ", ".join(why))
        return out

    def check_gates(self) -> None:
        """Raise :class:`GateMissed` naming every subject × scope that missed a gate."""
        misses = self.misses()
        if misses:
            raise GateMissed(
                f"{len(misses)} of {len(self.table)} validation gates missed: " + "; ".join(misses)
            )


def common_support_truth(
    matched: pd.DataFrame, effects: dict, gradient: float
) -> dict[str, pd.DataFrame]:
    """The truth of every scope's groups over ``matched``'s treated students in common support.

    ``matched`` is one subject's matched sample (district, school, sector, years_pl, treated,
    weight, fall_z, spring_z); ``effects`` that subject's block of truth.json. Returns, per
    scope, a frame of label, truth, n (a school's label is ``district|school``).
    """
    schools = pd.DataFrame.from_dict(effects["by_school"], orient="index")
    support = matched[
        matched["treated"].astype(bool)
        & (matched["weight"] > 0)
        & matched["fall_z"].notna()
        & matched["spring_z"].notna()
    ]
    label = support["district"].astype(str) + "|" + support["school"].astype(str)
    at = schools.reindex(label.to_numpy())
    if at["planted"].isna().any():
        unknown = label[at["planted"].isna().to_numpy()].iloc[0]
        raise EstimationError(f"truth.json has no PL school {unknown!r} of the matched sample")
    population = at["planted"].to_numpy() + gradient * (
        support["fall_z"].to_numpy() - at["centre"].to_numpy()
    )
    students = pd.DataFrame(
        {
            "pooled": "all",
            "sector": support["sector"].astype(str).to_numpy(),
            "years_pl": support["years_pl"].astype(str).to_numpy(),
            "school_id": label.to_numpy(),
            "population": population,
            "school_truth": population + at["deviation"].to_numpy() + at["shock"].to_numpy(),
        }
    )
    out = {}
    for scope, (_, column) in TRUTH_SCOPES.items():
        value = "school_truth" if scope == "school" else "population"
        groups = students.groupby(column or "pooled", sort=True)[value]
        out[scope] = pd.DataFrame({"truth": groups.mean(), "n": groups.size()}).rename_axis("label")
    return out


def compare_to_truth(
    estimates: pd.DataFrame, truth: dict, rep: int, matched: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """The estimate rows that have a planted truth, with the common-support truth beside them
    (and the truths over every analysable and every fall-tested PL student)."""
    gradient = truth["settings"]["baseline_gradient"]
    rows = []
    for subject, effects in truth["effects"].items():
        support = common_support_truth(matched[subject], effects, gradient)
        for scope, (key, _) in TRUTH_SCOPES.items():
            cells = {"all": effects[key]} if scope == "pooled" else effects[key]
            for label, cell in cells.items():
                target = support[scope]
                found = label in target.index
                rows.append(
                    {
                        "subject": subject,
                        "scope": scope,
                        "label": label,
                        "truth": target.loc[label, "truth"] if found else np.nan,
                        "n_truth": int(target.loc[label, "n"]) if found else 0,
                        "truth_analysable": cell["tau"],
                        "truth_all_treated": cell["all_treated"],
                    }
                )
    truths = pd.DataFrame(rows)
    est = estimates[estimates["scope"].isin(TRUTH_SCOPES)].copy()
    # Schools are keyed "district|school" in truth.json.
    est["label"] = np.where(
        est["scope"] == "school", est["district"].astype(str) + "|" + est["group"], est["group"]
    )
    joined = est.merge(truths, on=["subject", "scope", "label"], how="inner", validate="1:1")
    columns = [
        "subject", "scope", "group", "estimate", "se", "ci_low", "ci_high", "n_treated", "truth",
        "n_truth", "truth_analysable", "truth_all_treated",
    ]  # fmt: skip
    return joined[columns].assign(rep=rep).dropna(subset=["estimate", "truth"])


def summarise(comparisons: pd.DataFrame) -> Validation:
    """Bias, RMSE, 95% CI coverage (both with their Monte Carlo SEs), mean SE and the SEs' ratio
    to the errors' SD per subject × scope across replications, and whether each passes the
    coverage and bias gates."""
    error = comparisons["estimate"] - comparisons["truth"]
    covered = (comparisons["ci_low"] <= comparisons["truth"]) & (
        comparisons["truth"] <= comparisons["ci_high"]
    )
    keys = [comparisons["subject"], comparisons["scope"]]
    table = (
        comparisons.assign(
            error=error,
            squared=error**2,
            covered=covered,
            error_all=comparisons["estimate"] - comparisons["truth_all_treated"],
        )
        .groupby(["subject", "scope"], sort=True)
        .agg(
            n_estimates=("error", "size"),
            bias=("error", "mean"),
            rmse=("squared", lambda s: float(np.sqrt(s.mean()))),
            coverage=("covered", "mean"),
            mean_se=("se", "mean"),
            rms_se=("se", lambda s: float(np.sqrt((s**2).mean()))),
            sd_error=("error", "std"),
            bias_all_treated=("error_all", "mean"),
        )
        .reset_index()
    )
    table["se_ratio"] = table["rms_se"] / table["sd_error"]
    mc_se = pd.DataFrame(
        {
            "bias_mc_se": _replication_mc_se(error, comparisons["rep"], keys),
            "coverage_mc_se": _replication_mc_se(covered.astype(float), comparisons["rep"], keys),
        }
    )
    table = table.merge(mc_se, left_on=["subject", "scope"], right_index=True, how="left")
    low, high = COVERAGE_GATE
    passed = table["coverage"].between(low, high) & (table["bias"].abs() < BIAS_GATE)
    table["gate"] = np.where(passed, "pass", "MISS")
    return Validation(comparisons=comparisons.reset_index(drop=True), table=table[TABLE_COLUMNS])


def _replication_mc_se(values: pd.Series, rep: pd.Series, keys: list[pd.Series]) -> pd.Series:
    """Monte Carlo SE of the mean of ``values`` per group of ``keys``, replications as clusters.

    The mean is Σ_r s_r / Σ_r n_r over replications r (s_r the sum of r's values, n_r their
    number); its linearised variance is Σ_r (s_r − mean·n_r)² / (Σ_r n_r)². With one value per
    replication this is the usual SD/√R (for a coverage indicator √(p(1−p)/R)).
    """
    per_rep = values.groupby([*keys, rep]).agg(["sum", "size"])
    groups = list(range(len(keys)))
    totals = per_rep.groupby(level=groups).sum()
    mean = (totals["sum"] / totals["size"]).reindex(per_rep.index.droplevel(-1)).to_numpy()
    squared = ((per_rep["sum"] - mean * per_rep["size"]) ** 2).groupby(level=groups).sum()
    return np.sqrt(squared) / totals["size"]


#: The multi-year table's columns (:func:`summarise_years`): per subject × analysis × group.
YEARS_TABLE_COLUMNS = [
    "subject", "analysis", "group", "n_reps", "mean_truth", "bias", "bias_mc_se", "bias_z",
    "coverage", "coverage_mc_se", "mean_se", "sd_error", "se_ratio", "se_ratio_mc_se",
]  # fmt: skip


def years_truths(truth: dict) -> pd.DataFrame:
    """The planted truth of every multi-year analysis of a simulated cohort's ``truth.json``:
    one row per subject × analysis × group (analysis, subject, group, truth).

    Analyses are named as the ``<cohort>@`` selectors: a one-year analysis ``"2020-2021"``,
    a span ``"2020-2022"`` (fall of 2020 to spring of 2022), a placebo ``"placebo-2021-2022"``,
    and the last year's exposure groups ``"exposure-2022-2023"`` (groups "1", "2", "3+"; the
    others' group is "all"). The truths are the simulator's population quantities over the
    analysable PL students (``tau``; without school deviations), not rebuilt over the matched
    sample as :func:`common_support_truth` does for one year: truth.json keeps no per-student
    span or exposure effects. A placebo's truth is its ``tau`` (0: nothing planted)."""
    rows = []
    for year, block in truth["years"].items():
        for subject, effects in block["effects"].items():
            rows.append((year, subject, "all", effects["pooled"]["tau"]))
    for span, block in truth["spans"].items():
        for subject, effects in block.items():
            rows.append((span, subject, "all", effects["pooled"]["tau"]))
    last = truth["school_years"][-1]
    for subject, groups in truth["exposure"][last].items():
        for group, cell in groups.items():
            rows.append((f"exposure-{last}", subject, group, cell["tau"]))
    for year, block in truth["placebo"].items():
        for subject in truth["effects"]:
            rows.append((f"placebo-{year}", subject, "all", block[subject]["pooled"]["tau"]))
    return pd.DataFrame(rows, columns=["analysis", "subject", "group", "truth"]).dropna()


def years_compare_to_truth(
    estimates: dict[str, pd.DataFrame], truth: dict, rep: int
) -> pd.DataFrame:
    """One replication's multi-year estimates beside their truths (:func:`years_truths`).

    ``estimates`` maps an analysis name (``"2020-2021"``, ``"2020-2022"``,
    ``"placebo-2021-2022"``) to that analysis's estimates table; the pooled row of each is
    compared, and the last one-year analysis's ``exposure`` rows with ``exposure-<year>``.
    Rows without an estimate (a group with no students) are left out."""
    last = truth["school_years"][-1]
    frames = []
    for analysis, table in estimates.items():
        pooled = table[table["scope"] == "pooled"].assign(analysis=analysis, group="all")
        frames.append(pooled)
        if analysis == last:
            exposed = table[table["scope"] == "exposure"].assign(analysis=f"exposure-{last}")
            frames.append(exposed)
    columns = ["analysis", "subject", "group", "estimate", "se", "ci_low", "ci_high"]
    found = pd.concat(frames, ignore_index=True)[columns]
    joined = found.merge(
        years_truths(truth), on=["analysis", "subject", "group"], how="inner", validate="1:1"
    )
    return joined.assign(rep=rep).dropna(subset=["estimate", "truth"])


def summarise_years(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per subject × analysis × group across replications (one estimate each, as
    :func:`years_compare_to_truth` gives): mean truth,
    bias with its Monte Carlo SE and their ratio ``bias_z`` (|bias_z| > 3: beyond replication
    noise), 95% CI coverage with its MC SE, mean SE, the SD of the errors and ``se_ratio``
    (root mean square SE over that SD; 1 when the SEs are calibrated) with its MC SE
    ``se_ratio_mc_se`` (:func:`_se_ratio_mc_se`). Rows in the order the analyses first
    appear."""
    data = comparisons.assign(
        error=comparisons["estimate"] - comparisons["truth"],
        covered=(comparisons["ci_low"] <= comparisons["truth"])
        & (comparisons["truth"] <= comparisons["ci_high"]),
        se2=comparisons["se"] ** 2,
    )
    table = (
        data.groupby(["subject", "analysis", "group"], sort=False)
        .agg(
            n_reps=("rep", "nunique"),
            mean_truth=("truth", "mean"),
            bias=("error", "mean"),
            sd_error=("error", "std"),
            coverage=("covered", "mean"),
            mean_se=("se", "mean"),
            ms_se=("se2", "mean"),
        )
        .reset_index()
    )
    keys = [data["subject"], data["analysis"], data["group"]]
    mc_se = pd.DataFrame(
        {
            "bias_mc_se": _replication_mc_se(data["error"], data["rep"], keys),
            "coverage_mc_se": _replication_mc_se(data["covered"].astype(float), data["rep"], keys),
        }
    )
    table = table.merge(mc_se, left_on=["subject", "analysis", "group"], right_index=True)
    table["bias_z"] = table["bias"] / table["bias_mc_se"]
    table["se_ratio"] = np.sqrt(table["ms_se"]) / table["sd_error"]
    table["se_ratio_mc_se"] = (
        _se_ratio_mc_se(data, ["subject", "analysis", "group"])
        .reindex(pd.MultiIndex.from_frame(table[["subject", "analysis", "group"]]))
        .to_numpy()
        * table["se_ratio"].to_numpy()
    )
    return table.sort_values("subject", kind="stable")[YEARS_TABLE_COLUMNS].reset_index(drop=True)


def _se_ratio_mc_se(data: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Monte Carlo SE of log(se_ratio) per group of ``keys`` (one estimate per replication):
    se_ratio² = m/v, m the mean squared SE and v the mean squared deviation of the errors from
    their mean, so by the delta method log se_ratio has variance ¼·Σ_r (s_r²/m − d_r²/v)²/R²
    over the R replications (s_r the SE, d_r the error's deviation; with v's divisor R the
    terms sum to 0). Times se_ratio this is the ratio's own MC SE: with a few dozen
    replications it is ±0.1 or more, as heavy-tailed errors (a replication whose comparison
    students sit in a handful of schools) make the errors' SD itself uncertain."""
    deviation = data["error"] - data.groupby(keys)["error"].transform("mean")
    squared = deviation**2
    m = data.groupby(keys)["se2"].transform("mean")
    v = squared.groupby([data[k] for k in keys]).transform("mean")
    terms = (data["se2"] / m - squared / v) ** 2
    grouped = terms.groupby([data[k] for k in keys])
    return 0.5 * np.sqrt(grouped.sum()) / grouped.size()
