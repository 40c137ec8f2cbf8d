"""Effect models at national scale: 1,000,000 students in 5,000 schools.

Targets (issue 4): the pooled least-squares fit with school-clustered CR1 SEs in ≤ 1 s; the
random-intercept REML fit (one school variance per arm) no slower than lme4::lmer on the same
data (timed through Rscript when R and lme4 are installed, printed beside ours) and with the
same estimates (treatment effect, its SE and both arms' θ within 1e-4). CR2 (with its
Satterthwaite df) and the grade breakout's CR2 interaction model with its HTZ test are
measured without a target. Times are of the
``estimate_effect`` call alone, in a fresh interpreter; the data are simulated once (untimed).
``--quick`` runs 50,000 students in 500 schools as a smoke test. Exits non-zero on a miss.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from measure import Measurement, measure, print_table

OUTCOME, TREATMENT, COVARIATES = "spring_z", "treated", ["fall_z", "female", "grade"]
TOLERANCE = 1e-4  # largest allowed difference from lme4 in the estimate, SE and θs

R_SCRIPT = """
suppressPackageStartupMessages({ library(lme4); library(data.table); library(jsonlite) })
d <- fread("%(csv)s", colClasses = c(grade = "character"))
seconds <- system.time(fit <- lmer(
  spring_z ~ treated + fall_z + female + grade + (0 + dummy(treated, "1") | school) +
    (0 + dummy(treated, "0") | school),
  data = d, weights = weight, REML = TRUE
))[["elapsed"]]
cat(toJSON(list(seconds = seconds, estimate = unname(fixef(fit)["treated"]),
  se = unname(sqrt(diag(as.matrix(vcov(fit))))[2]), theta = unname(getME(fit, "theta"))),
  digits = NA, auto_unbox = TRUE))
"""


def simulate(n: int, n_schools: int, seed: int = 20141) -> pd.DataFrame:
    """Matched-sample-like data: treatment by school, school effects, match-style weights."""
    rng = np.random.default_rng(seed)
    school = rng.integers(0, n_schools, n)
    treated_school = rng.random(n_schools) < 0.3
    school_effect = rng.normal(0, 0.3, n_schools)
    treated = treated_school[school].astype(int)
    fall = rng.normal(0.2 * treated, 1.0)
    female = rng.integers(0, 2, n)
    grade = rng.choice(["3", "4", "5", "6", "7", "8"], n)
    spring = (
        0.1 * treated + 0.7 * fall + 0.05 * female + school_effect[school] + rng.normal(0, 0.6, n)
    )
    weight = np.where(treated == 1, 1.0, rng.choice([0.5, 1.0, 2.0], n))
    return pd.DataFrame(
        {
            "school": pd.Series(school).map("sch{:05d}".format),
            TREATMENT: treated,
            "grade": grade,
            "female": female,
            "fall_z": fall.round(6),
            OUTCOME: spring.round(6),
            "weight": weight,
        }
    )


def time_lme4(csv: Path) -> dict | None:
    """lme4's fit time and estimates on the same data, or None without R and lme4."""
    if shutil.which("Rscript") is None:
        return None
    done = subprocess.run(
        ["Rscript", "-e", R_SCRIPT % {"csv": csv}], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"lme4 not timed: {done.stderr.strip().splitlines()[-1]}")
        return None
    result = json.loads(done.stdout)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50,000 rows in 500 schools")
    args = parser.parse_args()
    n, n_schools = (50_000, 500) if args.quick else (1_000_000, 5_000)
    work = Path(tempfile.mkdtemp(prefix="pl_eval_bench_estimation_"))
    try:
        data = simulate(n, n_schools)
        data.to_parquet(work / "data.parquet")
        data.to_csv(work / "data.csv", index=False)
        lme4 = time_lme4(work / "data.csv")  # first, so RUSAGE_CHILDREN's peak is R's own

        setup = textwrap.dedent(
            f"""
            import pandas as pd
            from pl_eval.estimation.models import estimate_effect
            df = pd.read_parquet({str(work / "data.parquet")!r})
            """
        )
        call = (
            f"estimate_effect(df, {OUTCOME!r}, {TREATMENT!r}, {COVARIATES!r}, weights='weight', "
            "cluster='school', {options})"
        )
        rows = [
            measure(
                "pooled, CR1 clustered",
                call.format(options="se='CR1'"),
                setup=setup,
                target_seconds=None if args.quick else 1.0,
            ),
            measure("pooled, CR2 clustered", call.format(options="se='CR2'"), setup=setup),
            measure(
                "by grade, CR2 + HTZ test",
                f"estimate_interaction(df, {OUTCOME!r}, {TREATMENT!r}, 'grade', "
                f"{[c for c in COVARIATES if c != 'grade']!r}, weights='weight', "
                "cluster='school', se='CR2')",
                setup=setup.replace("import estimate_effect", "import estimate_interaction"),
            ),
            measure(
                "random intercepts by arm, REML",
                call.format(options="model='mixed'"),
                setup=setup,
                target_seconds=None if lme4 is None else lme4["seconds"],
            ),
        ]
        if lme4 is not None:
            rows.append(Measurement("lme4::lmer, REML (Rscript)", lme4["seconds"], lme4["peak_mb"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{n:,} rows in {n_schools:,} schools")
    print_table(rows)
    ok = all(m.passed for m in rows)
    if lme4 is not None:
        from pl_eval.estimation.models import estimate_effect

        ours = estimate_effect(
            data, OUTCOME, TREATMENT, COVARIATES, weights="weight", cluster="school", model="mixed"
        )
        diffs = {
            "estimate": ours.estimate - lme4["estimate"],
            "se": ours.se - lme4["se"],
            "theta_treated": ours.variance.theta[0] - lme4["theta"][0],
            "theta_comparison": ours.variance.theta[1] - lme4["theta"][1],
        }
        print("REML vs lme4: " + ", ".join(f"Δ{k} = {v:+.2e}" for k, v in diffs.items()))
        same = all(abs(v) <= TOLERANCE for v in diffs.values())
        print(f"same estimates within {TOLERANCE:g}: {'yes' if same else 'NO'}")
        ok = ok and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
