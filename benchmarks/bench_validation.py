"""Recovery of the planted truth: `pl-eval validate` with 200 replications on a reduced demo.

Targets (issue 4): pooled effect 95% CI coverage between 93% and 97%, |bias| < 0.01 SD.
School-effect coverage is printed beside them. ``--quick`` runs 10 replications (no targets).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pl_eval import stages

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 replications, no targets")
    args = parser.parse_args()
    reps = 10 if args.quick else 200
    with tempfile.TemporaryDirectory(prefix="pl_eval_validation_") as out:
        start = time.perf_counter()
        stages.validate(Path(out), reps=reps, seed=1, config=ROOT / "config" / "config.yaml")
        seconds = time.perf_counter() - start
        table = pd.read_csv(Path(out) / "validation.csv")
    print(f"{reps} replications in {seconds:.0f} s (2 workers, 100 comparison schools each)")
    table["target"] = ""
    table["result"] = ""
    pooled = table["scope"] == "pooled"
    if not args.quick:
        table.loc[pooled, "target"] = "coverage 93-97%, |bias| < 0.01"
        ok = table["coverage"].between(0.93, 0.97) & (table["bias"].abs() < 0.01)
        table.loc[pooled, "result"] = ok[pooled].map({True: "pass", False: "MISS"})
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 1 if (table["result"] == "MISS").any() else 0


if __name__ == "__main__":
    sys.exit(main())
