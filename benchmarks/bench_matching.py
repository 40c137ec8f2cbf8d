"""Matching engine speed and memory on a national-size synthetic pool (issue 3 §5).

1,000,000 comparison and 50,000 treated students in grades 3-8 with four covariates, exact on
grade, caliper 0.2 SD of the logit. Targets: propensity fit + 1:1 with replacement + weighted
ATT with school-clustered SE <= 0.5 s and <= 2 GB peak; 5:1 with replacement <= 1.5 s; 1:1
without replacement <= 3 s. Each case runs in a fresh process (``measure.py``) after an
untimed warm-up on a small sample, so imports and one case's memory do not count in another;
targeted cases run five times and report the fastest run and the largest peak.
A VCG draw on the same pool (default VCGSettings) is timed for information, with no target.
``--quick`` uses a 100,000 / 5,000 pool as a smoke test (no targets). R's MatchIt, causalml
and DoWhy are timed only if installed; otherwise the table says "not installed".
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from measure import Measurement, measure, print_rows

HERE = Path(__file__).resolve().parent
COVARIATES = ["baseline_z", "frl_school", "urban", "female"]
TARGET_MB = 2048.0
#: Fresh processes per targeted case; the table shows the fastest (other jobs on a shared
#: machine only ever add time) and the largest peak memory.
REPEATS = 5


def synthetic(n_control: int, n_treated: int, seed: int = 1) -> pd.DataFrame:
    """A pool where selection depends on baseline, school FRL and urbanicity; effect 0.1 SD."""
    rng = np.random.default_rng(seed)
    n = n_control + n_treated
    treat = np.r_[np.zeros(n_control, dtype=bool), np.ones(n_treated, dtype=bool)]
    n_schools = max(n_control // 250, 20)
    school = np.where(treat, rng.integers(0, 200, n), 200 + rng.integers(0, n_schools, n))
    school_frl = rng.beta(2, 2, 200 + n_schools)
    baseline = rng.normal(size=n) - 0.3 * treat
    frl = np.clip(school_frl[school] + 0.15 * treat, 0, 1)
    urban = (rng.random(n) < 0.4 + 0.2 * treat).astype(np.float64)
    fall = pd.Timestamp("2022-09-01") + pd.to_timedelta(rng.integers(0, 40, n), unit="D")
    return pd.DataFrame(
        {
            "treat": treat.astype(np.int8),
            "grade": rng.integers(3, 9, n),
            "school_id": school,
            "baseline_z": baseline,
            "frl_school": frl,
            "urban": urban,
            "female": (rng.random(n) < 0.5).astype(np.float64),
            "outcome_z": 0.7 * baseline + 0.1 * treat + 0.6 * rng.normal(size=n),
            # the same students in the VCG's terms
            "fall_rit": np.round(205 + 15 * baseline),
            "frl_pct": np.round(100 * frl, 1),
            "locale_group": np.where(urban == 1, "city", "suburb"),
            "fall_date": fall,
            "spring_date": fall + pd.Timedelta(days=240),
        }
    )


def att_clustered(df: pd.DataFrame, weights: np.ndarray) -> tuple[float, float]:
    """Weighted ATT of outcome_z adjusted for the covariates, with school-clustered CR1 SE."""
    import statsmodels.api as sm

    keep = weights > 0
    x = np.column_stack(
        [np.ones(keep.sum()), df["treat"].to_numpy()[keep]]
        + [df[c].to_numpy()[keep] for c in COVARIATES]
    )
    fit = sm.WLS(df["outcome_z"].to_numpy()[keep], x, weights=weights[keep]).fit(
        cov_type="cluster", cov_kwds={"groups": df["school_id"].to_numpy()[keep]}
    )
    return float(fit.params[1]), float(fit.bse[1])


def _setup(n_control: int, n_treated: int) -> str:
    return f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import numpy as np
from bench_matching import COVARIATES, att_clustered, synthetic
from pl_eval.matching import match
df = synthetic({n_control}, {n_treated})
warm = synthetic(20_000, 1_000, seed=2)
match(warm, "treat", COVARIATES, exact="grade", replace=True, caliper=0.2)
match(warm, "treat", COVARIATES, exact="grade", caliper=0.2)
att_clustered(warm, np.ones(len(warm)))
match(warm, "treat", COVARIATES, exact="grade", method="vcg")
"""


CASES = {
    "fit + 1:1 with replacement + ATT (clustered SE)": (
        """
result = match(df, "treat", COVARIATES, exact="grade", ratio=1, replace=True, caliper=0.2)
att, se = att_clustered(df, result.weights.to_numpy())
""",
        0.5,
    ),
    "fit + 5:1 with replacement": (
        'match(df, "treat", COVARIATES, exact="grade", ratio=5, replace=True, caliper=0.2)',
        1.5,
    ),
    "fit + 1:1 without replacement": (
        'match(df, "treat", COVARIATES, exact="grade", ratio=1, replace=False, caliper=0.2)',
        3.0,
    ),
    "VCG, up to 51 each (no target)": (
        'match(df, "treat", COVARIATES, exact="grade", method="vcg")',
        None,
    ),
}


def _installed() -> dict[str, bool]:
    """Whether each comparison tool is available (R's MatchIt through Rscript)."""
    matchit = False
    if shutil.which("Rscript"):
        done = subprocess.run(
            ["Rscript", "-e", "library(MatchIt)"], capture_output=True, check=False
        )
        matchit = done.returncode == 0
    return {
        "R MatchIt": matchit,
        "causalml": importlib.util.find_spec("causalml") is not None,
        "DoWhy": importlib.util.find_spec("dowhy") is not None,
    }


def _print(rows: list[Measurement], others: dict[str, bool]) -> None:
    header = ("case", "seconds", "peak MB", "target", "result")
    body = [
        (
            m.case,
            f"{m.seconds:.3f}",
            f"{m.peak_mb:,.0f}",
            "-" if m.target_seconds is None else f"<= {m.target_seconds:g} s, {m.target_mb:g} MB",
            "pass" if m.passed else "MISS",
        )
        for m in rows
    ]
    body += [
        (name, "installed, not timed" if ok else "not installed", "-", "-", "-")
        for name, ok in others.items()
    ]
    print_rows(header, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k/5k smoke run, no targets")
    args = parser.parse_args()
    n_control, n_treated = (100_000, 5_000) if args.quick else (1_000_000, 50_000)
    print(
        f"pool: {n_control:,} comparison, {n_treated:,} treated; grades 3-8, exact on grade, "
        "caliper 0.2",
        flush=True,
    )
    rows = []
    for case, (code, seconds) in CASES.items():
        target_s, target_mb = (
            (None, None) if args.quick or seconds is None else (seconds, TARGET_MB)
        )
        runs = [
            measure(
                case,
                code,
                setup=_setup(n_control, n_treated),
                target_seconds=target_s,
                target_mb=target_mb,
            )
            for _ in range(REPEATS if seconds is not None else 1)
        ]
        rows.append(
            Measurement(
                case,
                min(m.seconds for m in runs),
                max(m.peak_mb for m in runs),
                target_s,
                target_mb,
            )
        )
    _print(rows, _installed())
    return 0 if all(m.passed for m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
