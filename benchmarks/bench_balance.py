"""Balance after matching and the adjusted against the unadjusted pooled effect (issue 12 §1.1).

Reads a cohort's processed outputs (``make run COHORT=<cohort>`` writes them): the main
specification's balance table per subject (``data/processed/<cohort>/main/balance_<subject>.csv``)
and the pooled estimates of the main specification (adjusted for every matching covariate) and of
the ``no_covariates`` analysis (the same match, no regression adjustment). Prints, per subject
and covariate, the WWC effect size (Hedges' g, or the Cox index of a binary covariate) before and
after matching and the variance ratio after matching (a category in neither matched arm, such as a
locale no PL school has, passes with a note); then the pooled effects side by side.
Targets: every covariate |g| ≤ 0.05 and variance ratio in 0.8-1.25 after matching, and the
adjusted and unadjusted pooled effects within 0.01 SD. Exits non-zero on a miss, or with a
one-line error when the outputs are not there. The demo's outputs, when missing (a clean clone:
``make bench`` runs this script first), are made as ``make run`` makes them (about 2 minutes on
2 cores). ``--quick`` (from ``make bench --quick``) is accepted and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from measure import make_outputs

ROOT = Path(__file__).resolve().parents[1]
G_TARGET = 0.05
VR_TARGET = (0.8, 1.25)
DIFFERENCE_TARGET = 0.01
PROPENSITY_ROW = "propensity (logit)"
UNADJUSTED = "no_covariates"


def balance_rows(balance: pd.DataFrame) -> pd.DataFrame:
    """One row per covariate: g before and after matching, VR after, and whether it passes."""
    wide = balance[balance["covariate"] != PROPENSITY_ROW].pivot(
        index="covariate", columns="sample", values=["effect_size", "var_ratio", "smd", "note"]
    )
    rows = pd.DataFrame(
        {
            "g_all": wide[("effect_size", "all")],
            "g_matched": wide[("effect_size", "matched")],
            "vr_matched": wide[("var_ratio", "matched")],
        }
    ).reindex(pd.unique(balance.loc[balance["covariate"] != PROPENSITY_ROW, "covariate"]))
    # A category no PL student has (a locale the exact strata leave out) is absent from both
    # matched arms: no g, and nothing to balance.
    absent = rows["g_matched"].isna() & (wide[("smd", "matched")].reindex(rows.index) == 0)
    low, high = VR_TARGET
    vr_ok = rows["vr_matched"].isna() | rows["vr_matched"].between(low, high)  # binary: no VR
    rows["gate"] = ((rows["g_matched"].abs() <= G_TARGET) | absent) & vr_ok
    rows["note"] = absent.map({True: "in neither matched arm", False: ""})
    return rows.rename_axis("covariate").reset_index()


def pooled(estimates: pd.DataFrame) -> pd.Series:
    """The pooled effect per subject."""
    return estimates[estimates["scope"] == "pooled"].set_index("subject")["estimate"]


def make_demo(outputs) -> None:
    """The demo's outputs as ``make run`` makes them, when any of ``outputs`` is missing."""
    if all(Path(p).exists() for p in outputs):
        return
    print("bench_balance: making the demo's outputs first (make run)", flush=True)
    make_outputs("demo")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cohort", nargs="?", default="demo", help="cohort (default demo)")
    parser.add_argument("--processed", type=Path, default=ROOT / "data" / "processed")
    parser.add_argument("--quick", action="store_true", help="accepted; changes nothing")
    args = parser.parse_args()
    folder = args.processed / args.cohort
    paths = {
        "main": folder / "main" / "estimates.parquet",
        UNADJUSTED: folder / UNADJUSTED / "estimates.parquet",
    }
    if args.cohort == "demo" and args.processed == ROOT / "data" / "processed":
        make_demo(paths.values())
    balances = sorted((folder / "main").glob("balance_*.csv"))
    missing = [p for p in paths.values() if not p.exists()] + ([] if balances else [folder])
    if missing:
        print(
            f"bench_balance: {missing[0]} not found; run `make run COHORT={args.cohort}` first",
            file=sys.stderr,
        )
        return 2
    passed = True
    for path in balances:
        subject = path.stem.removeprefix("balance_")
        rows = balance_rows(pd.read_csv(path))
        passed &= bool(rows["gate"].all())
        print(
            f"\n{args.cohort} {subject}: balance after matching "
            f"(target |g| <= {G_TARGET}, variance ratio {VR_TARGET[0]}-{VR_TARGET[1]})"
        )
        shown = rows.assign(gate=rows["gate"].map({True: "pass", False: "MISS"}))
        print(shown.to_string(index=False, float_format=lambda v: f"{v:+.3f}", na_rep="-"))
    effects = pd.DataFrame(
        {"adjusted": pooled(pd.read_parquet(paths["main"])),
         "unadjusted": pooled(pd.read_parquet(paths[UNADJUSTED]))}
    )  # fmt: skip
    effects["difference"] = effects["adjusted"] - effects["unadjusted"]
    effects["gate"] = (effects["difference"].abs() <= DIFFERENCE_TARGET).map(
        {True: "pass", False: "MISS"}
    )
    passed &= bool((effects["gate"] == "pass").all())
    print(
        f"\n{args.cohort}: pooled effect (SD), main specification adjusted for the matching "
        f"covariates vs {UNADJUSTED} (target within {DIFFERENCE_TARGET})"
    )
    print(effects.rename_axis("subject").to_string(float_format=lambda v: f"{v:+.4f}"))
    print(f"\nbalance and adjustment targets: {'all passed' if passed else 'MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
