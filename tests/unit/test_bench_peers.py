"""The R code of benchmarks/bench_peers.py, each test run where R with its package (MatchIt,
lme4) is installed (skipped with a line otherwise: R is no dependency of pl_eval): the timed
lme4 model is ours (the same effect), and the timed MatchIt match runs on a panel with an exact
stratum without a treated student, where Debian's MatchIt 4.5.1 stops when called in one step.
Which comparisons run is decided per package: lme4's runs without MatchIt."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_peers  # noqa: E402

from pl_eval.estimation import estimate_effect  # noqa: E402

MISSING = bench_peers.missing(bench_peers.r_packages())


def needs(package: str) -> pytest.MarkDecorator:
    why = MISSING.get(package)
    return pytest.mark.skipif(why is not None, reason=f"bench_peers' R code: {why}")


MATCH = {
    "covariates": ["fall_z", "frl_pct"],
    "exact": ["grade", "gender"],
    "covariate_calipers": {"fall_z": 0.1},
    "caliper": 0.2,
    "ratio": 5,
    "replace": True,
    "order": "largest",
}


def panel(seed: int = 1, n: int = 3000) -> pd.DataFrame:
    """Students in grade x gender strata; grade 2 girls have no treated student."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "fall_z": rng.normal(size=n), "frl_pct": rng.uniform(0, 100, n),
        "grade": rng.integers(0, 3, n), "gender": rng.choice(["F", "M"], n),
    })  # fmt: skip
    treated = rng.uniform(size=n) < 0.15
    treated[(data["grade"] == 2) & (data["gender"] == "F")] = False
    return data.assign(treated=treated.astype(int))


def r_match(csv: Path) -> str:
    return bench_peers.R_MATCH.format(
        csv=str(csv), covariates=", ".join(map(repr, MATCH["covariates"])),
        exact=", ".join(map(repr, MATCH["exact"])), formula=" + ".join(MATCH["covariates"]),
        exact_formula=" + ".join(MATCH["exact"]), calipers="0.2, fall_z = 0.1",
        ratio=MATCH["ratio"], replace="TRUE", order=MATCH["order"],
    )  # fmt: skip


@needs("MatchIt")
def test_the_timed_match_runs_where_a_stratum_has_no_treated_student(tmp_path):
    data = panel()
    csv = tmp_path / "panel.csv"
    data.to_csv(csv, index=False)
    seconds, matched = bench_peers.run_r(r_match(csv))
    assert seconds >= 0
    # the caliper on fall_z (0.1 SD) leaves few treated students without a match
    assert 0.9 * data["treated"].sum() <= int(matched) <= data["treated"].sum()


@needs("lme4")
def test_the_timed_random_intercept_model_is_ours(tmp_path):
    rng = np.random.default_rng(2)
    n, schools = 4000, 80
    school = rng.integers(0, schools, n)
    data = pd.DataFrame({
        "fall_z": rng.normal(size=n), "grade": rng.integers(0, 3, n),
        "treated": (school < 20).astype(int), "school_id": [f"s{s}" for s in school],
    })  # fmt: skip
    data["weight"] = np.where(data["treated"] == 1, 1.0, rng.uniform(0.2, 2.0, n))
    data["spring_z"] = (
        0.6 * data["fall_z"] + 0.1 * data["treated"] + 0.1 * data["grade"]
        + rng.normal(0, 0.3, schools)[school] + rng.normal(0, 0.7, n)
    )  # fmt: skip
    csv = tmp_path / "matched.csv"
    data.to_csv(csv, index=False)
    terms = ["fall_z", "grade"]
    _, effect = bench_peers.run_r(
        bench_peers.R_MIXED.format(csv=str(csv), formula=bench_peers.r_terms(terms))
    )
    ours = estimate_effect(
        data.assign(treated=data["treated"].astype(bool), grade=data["grade"].astype("string")),
        "spring_z", "treated", terms, weights="weight", cluster="school_id", model="mixed",
    )  # fmt: skip
    assert float(effect) == pytest.approx(ours.estimate, abs=1e-4)


def test_each_comparison_runs_where_its_own_package_is_installed():
    assert bench_peers.missing({"lme4", "stats"}) == {"MatchIt": "R package MatchIt not installed"}
    assert bench_peers.missing({"MatchIt"}) == {"lme4": "R package lme4 not installed"}
    assert bench_peers.missing({"MatchIt", "lme4"}) == {}
    assert bench_peers.missing(None) == {
        "MatchIt": "Rscript not found",
        "lme4": "Rscript not found",
    }
