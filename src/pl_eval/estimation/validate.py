"""Does the pipeline recover what the simulator planted? Bias, RMSE and CI coverage.

Each replication's estimates are joined to its ``truth.json``: a school's estimate to the mean
planted effect of its analysable students; pooled, sector and years estimates, whose
school-clustered intervals speak for the population of schools, to the planted effects without
the schools' random deviations (``population``). Across replications the summary reports, per
subject and scope, the mean error (bias), root mean squared error and the share of 95%
confidence intervals that contain the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Scopes with a planted truth, and where truth.json keeps them.
TRUTH_SCOPES = {
    "pooled": "pooled",
    "sector": "by_sector",
    "years": "by_years",
    "school": "by_school",
}


@dataclass(frozen=True)
class Validation:
    """Estimates beside their truth for every replication, and the summary across them."""

    comparisons: pd.DataFrame  # rep, subject, scope, group, estimate, ci_low, ci_high, truth
    table: pd.DataFrame  # subject, scope, n_estimates, bias, rmse, coverage, mean_se

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> str:
        reps = self.comparisons["rep"].nunique()
        return f"Validation over {reps} replications\n{self.table.to_string(index=False)}"


def compare_to_truth(estimates: pd.DataFrame, truth: dict, rep: int) -> pd.DataFrame:
    """The estimate rows that have a planted truth, with that truth beside them."""
    rows = []
    for subject, effects in truth["effects"].items():
        for scope, key in TRUTH_SCOPES.items():
            planted = effects[key] if scope == "school" else effects["population"][key]
            cells = {"all": planted} if scope == "pooled" else planted
            for label, cell in cells.items():
                rows.append(
                    {"subject": subject, "scope": scope, "label": label, "truth": cell["tau"]}
                )
    truths = pd.DataFrame(rows)
    est = estimates[estimates["scope"].isin(TRUTH_SCOPES)].copy()
    # Schools are keyed "district|school" in truth.json.
    est["label"] = np.where(
        est["scope"] == "school", est["district"].astype(str) + "|" + est["group"], est["group"]
    )
    joined = est.merge(truths, on=["subject", "scope", "label"], how="inner", validate="1:1")
    columns = ["subject", "scope", "group", "estimate", "se", "ci_low", "ci_high", "truth"]
    return joined[columns].assign(rep=rep).dropna(subset=["estimate"])


def summarise(comparisons: pd.DataFrame) -> Validation:
    """Bias, RMSE and 95% CI coverage per subject × scope across replications."""
    error = comparisons["estimate"] - comparisons["truth"]
    covered = (comparisons["ci_low"] <= comparisons["truth"]) & (
        comparisons["truth"] <= comparisons["ci_high"]
    )
    table = (
        comparisons.assign(error=error, squared=error**2, covered=covered)
        .groupby(["subject", "scope"], sort=True)
        .agg(
            n_estimates=("error", "size"),
            bias=("error", "mean"),
            rmse=("squared", lambda s: float(np.sqrt(s.mean()))),
            coverage=("covered", "mean"),
            mean_se=("se", "mean"),
        )
        .reset_index()
    )
    return Validation(comparisons=comparisons.reset_index(drop=True), table=table)
