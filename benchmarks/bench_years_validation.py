"""Recovery of the planted truth by the multi-year analyses, over replications (issue 13).

Each replication simulates a three-year demo (2020-2021 to 2022-2023; 100 comparison schools,
school effects drawn afresh, as ``pl-eval validate``) with seed ``--seed`` + rep, ingests it
once and runs the shipped config's main analysis, as the workflow's ``<cohort>@`` jobs do, on:
every one-year analysis, every span, every placebo, and the last year's exposure groups. It
prints per subject × analysis × group the replications, mean truth, bias with its Monte Carlo
SE and their ratio (bias_z), 95% CI coverage with its MC SE, mean SE, the SD of the errors and
se_ratio with its MC SE (:func:`pl_eval.estimation.validate.summarise_years`). No gates: a
check, not a target; a placebo's comparison students can sit in a handful of schools, so its
errors are heavy-tailed and a few dozen replications leave se_ratio uncertain by ±0.1.

``--reps N`` (default 4, what ``make bench`` runs; ``--quick`` 2); ``--out DIR`` keeps
years_validation.csv and comparisons.csv, rewritten after every replication, so a run cut off
still leaves a table of the replications done. Deterministic by seed; replications run in
``--workers`` processes (default 2). ``--analyses`` runs some of them only and ``--set
NAME=VALUE`` changes a simulation setting (e.g. ``district_shock_sd=0``, or
``pre_adoption_selection=0.1`` for the placebo's power; booleans as true/false), to trace a
bias or an SE to its cause.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import pandas as pd

from pl_eval import estimation, io, matching, stages
from pl_eval.config import analysis_section
from pl_eval.estimation.validate import summarise_years, years_compare_to_truth
from pl_eval.simulate import SimulationSettings

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = ["math", "reading"]
#: The analyses of a three-year cohort: name -> (fall year, spring year, placebo).
ANALYSES = {
    "2020-2021": ("2020-2021", "2020-2021", False),
    "2021-2022": ("2021-2022", "2021-2022", False),
    "2022-2023": ("2022-2023", "2022-2023", False),
    "2020-2022": ("2020-2021", "2021-2022", False),
    "2021-2023": ("2021-2022", "2022-2023", False),
    "2020-2023": ("2020-2021", "2022-2023", False),
    "placebo-2020-2021": ("2020-2021", "2020-2021", True),
    "placebo-2021-2022": ("2021-2022", "2021-2022", True),
}


def replicate(job: tuple[int, int, dict, dict, list[str]]) -> pd.DataFrame:
    """One replication in a scratch folder: its multi-year estimates beside their truths.

    Panels through the build_panel stage (placebo recoding, exposure); matching and
    estimation through the pure functions the stages call, without their plots."""
    seed, rep, config, changes, analyses = job
    logging.getLogger("pl_eval").setLevel(logging.WARNING)
    warnings.simplefilter("ignore", matching.MatchingWarning)
    settings = replace(
        SimulationSettings.preset("demo", seed),
        n_comparison_schools=100,
        recentre_school_effects=False,  # schools vary between replications, as sampled
        **changes,
    )
    match_config = matching.MatchConfig.from_config(analysis_section(config, "main", "match"))
    estimate_config = estimation.EstimateConfig.from_config(
        analysis_section(config, "main", "estimate")
    )
    with tempfile.TemporaryDirectory(prefix=f"pl_eval_years_validation_{rep}_") as scratch:
        raw, out = Path(scratch) / "raw", Path(scratch) / "processed"
        stages._write_cohort(settings, raw)
        stages.ingest(
            raw,
            **{k: out / f"{k}.parquet" for k in ("scores", "duplicates", "rejects", "schools")},
            summary=out / "ingest_summary.json",
            settings=config["ingest"],
        )
        estimates = {}
        for name in analyses:
            fall, spring, placebo = ANALYSES[name]
            stages.build_panel(
                **{k: out / f"{k}.parquet" for k in ("scores", "rejects", "schools")},
                panel=out / name / "panel.parquet", exclusions=out / name / "exclusions.csv",
                settings=config["panel"], school_year=fall, spring_year=spring, placebo=placebo,
            )  # fmt: skip
            panel = io.read_parquet(out / name / "panel.parquet")
            samples = {}
            for subject in SUBJECTS:
                result = matching.match_cohort(panel, subject, match_config)
                samples[subject] = (result.matched, result.pairs)
            estimates[name] = estimation.estimate_cohort(samples, estimate_config).estimates
        return years_compare_to_truth(estimates, io.read_json(raw / "truth.json"), rep)


def setting_value(default: object, text: str) -> object:
    """``text`` as a value of the setting whose default is ``default``: bool("false") is True,
    so booleans are read as words; tuples are not settable from the command line."""
    if isinstance(default, bool):
        words = {"true": True, "1": True, "false": False, "0": False}
        if text.lower() not in words:
            raise ValueError("expected true or false")
        return words[text.lower()]
    if isinstance(default, tuple):
        raise ValueError("a tuple setting; change it in the code")
    return type(default)(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 replications")
    parser.add_argument("--reps", type=int, default=4, help="replications (default 4)")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--out", type=Path, help="keep the outputs here (default: discard)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first replication")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--analyses", default=",".join(ANALYSES), help="comma-separated (default: all)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="change a simulation setting, e.g. district_shock_sd=0 (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps
    config = stages._load_config(args.config)
    analyses = args.analyses.split(",")
    if unknown := set(analyses) - set(ANALYSES):
        parser.error(f"--analyses: unknown {sorted(unknown)}; expected some of {list(ANALYSES)}")
    changes = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in SimulationSettings.__dataclass_fields__:
            parser.error(f"--set {item}: no simulation setting {name!r}")
        try:
            changes[name] = setting_value(getattr(SimulationSettings(), name), value)
        except ValueError as exc:
            parser.error(f"--set {item}: {exc}")
    jobs = [(args.seed + rep, rep, config, changes, analyses) for rep in range(reps)]
    with tempfile.TemporaryDirectory(prefix="pl_eval_years_validation_") as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        done = []
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for future in as_completed([pool.submit(replicate, job) for job in jobs]):
                done.append(future.result())
                comparisons = pd.concat(done).sort_values(["rep"], kind="stable")
                io.write_csv(comparisons, out / "comparisons.csv")
                io.write_csv(summarise_years(comparisons), out / "years_validation.csv")
                print(f"{len(done)} of {reps} replications done", flush=True)
        seconds = time.perf_counter() - start
        table = summarise_years(comparisons)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"{reps} three-year replications in {seconds:.0f} s ({args.workers} workers, 100 "
        f"comparison schools each, seeds {args.seed}-{args.seed + reps - 1}; load average at "
        f"the end {load})"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
