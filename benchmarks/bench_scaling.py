"""Growth with size (issue 15, item 4): the workflow on ½×, 1× and 2× one school year of the
national cohort and on the three-year national study, in time and peak memory per million test
rows; ``--slurm`` runs the three-year study through profiles/slurm as well.

The sizes are the national preset simulated with its comparison schools scaled (``pl-eval
simulate --size national --scale 0.5|1|2``: 2,000, 4,000 and 8,000 comparison schools beside the
study's 40 PL schools) for its last school year alone (``--school-years 2022-2023``), into
data/raw/national-1y[-x<scale>]/, and the preset's three years at 1× (data/raw/national/, the
cohort ``make run COHORT=national`` runs, shared with bench_workflow). A size not on disk is
simulated first, untimed by the workflow's clock but measured (seconds and peak memory, the 2×
simulation being the largest process of the benchmark). Each size runs in a fresh scratch
directory with a copy of config/, its folder linked as data/raw/national (so the shipped
settings for national apply) and ``school_years`` set to its years: the three-year study runs
its main analysis of 2022-2023 with the one-year analyses of the two earlier years, the three
spans and the two placebos, as the shipped config makes it. Time is the wall clock of
Snakemake with ``--cores 2`` and make run's memory budget (``MEM_MB``, as bench_workflow
takes it: ``MEM_MB=2800`` measures the small-machine cap), memory the sampled peak of the
summed resident memory of Snakemake and its jobs (bench_workflow's TreeMemory), test rows the
data rows of the AssessmentResults exports.

Growth is near-linear when seconds and MB per million rows stay about level from ½× to 2× (the
last lines give 2×'s per-row cost over ½×'s, and the three-year study's over one year's at 1×).
The PL schools, and so the matched samples that estimation works on, do not grow with the pool:
the per-row cost of those stages falls with size. The three-year study's target is ≤ 5 minutes
on 2 cores; its per-rule table shows where the time goes, and its estimates are set beside the
truth planted in its truth.json (every one-year analysis, span and placebo, pooled, and the
last year's exposure groups; :func:`pl_eval.estimation.validate.years_compare_to_truth`): one
seed, so an interval may miss by chance (``bench_years_validation`` measures coverage).

By default each size runs the main analysis alone (config ``analyses: {main: {}}``) to keep
``make bench`` within minutes; ``--all-analyses`` runs the shipped config's every variant.

``--slurm`` then runs the three-year study through ``--profile profiles/slurm`` in another
scratch directory and compares every file under data/processed/ with the local run's (SHA-256;
the two must be byte-identical). It needs a running cluster: ``SLURM_CONF`` in the
environment, e.g. this machine's test cluster (as root, once: ``bash tests/slurm/cluster.sh
install``; then ``bash tests/slurm/cluster.sh start && eval "$(bash tests/slurm/cluster.sh
env)"``) and the slurm extra (``pip install -e '.[slurm]'``). ``--sizes three-year`` runs that
size alone (``--sizes 0.5x 1x 2x three-year``: the default, all four).

The machine is shared: each row carries the 1-minute load average at its end. ``--quick`` runs
½×, 1× and 2× one year of the demo cohort and its three years instead, as a smoke test of the
harness (no target).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from bench_workflow import (
    MEM_MB,
    ROOT,
    TreeMemory,
    load,
    print_rules,
    processed_digest,
    read_benchmarks,
)
from measure import measure, print_rows, workflow_env

SEED = 20141
YEARS = ("2020-2021", "2021-2022", "2022-2023")  # the simulator's default three years
TARGET_SECONDS = 300.0  # the three-year national study, on 2 cores
#: ``--sizes`` names of the four sizes, in the order of :func:`sizes`.
SIZE_NAMES = ("0.5x", "1x", "2x", "three-year")


@dataclass(frozen=True)
class Size:
    """One cohort size: its label, raw folder under data/raw/, scale and school years."""

    label: str
    folder: str
    scale: float
    years: tuple[str, ...]

    @property
    def raw(self) -> Path:
        return ROOT / "data" / "raw" / self.folder


def sizes(preset: str) -> tuple[Size, ...]:
    """½×, 1× and 2× the preset's last school year, and its three years at 1×."""
    one = (YEARS[-1],)
    return (
        Size(f"0.5x {preset}, 1 year", f"{preset}-1y-x0.5", 0.5, one),
        Size(f"1x {preset}, 1 year", f"{preset}-1y", 1.0, one),
        Size(f"2x {preset}, 1 year", f"{preset}-1y-x2", 2.0, one),
        Size(f"1x {preset}, 3 years", preset, 1.0, YEARS),
    )


def ensure_simulated(size: Size, preset: str) -> None:
    """Simulate ``size`` into its folder when it is not on disk (printing time and peak)."""
    if (size.raw / "schools.csv").exists():
        return
    print(f"simulating {size.label} into {size.raw} (untimed by the workflow) ...", flush=True)
    done = measure(
        f"simulate {size.label}",
        f"stages.simulate({str(size.raw)!r}, size={preset!r}, seed={SEED}, "
        f"scale={size.scale!r}, school_years={list(size.years)!r})",
        setup="from pl_eval import stages",
    )
    print(f"  {done.seconds:.0f} s, peak {done.peak_mb:,.0f} MB ({load()})", flush=True)


def test_rows(raw: Path) -> int:
    """Data rows of the cohort's AssessmentResults exports (one test event each)."""
    rows = 0
    for path in sorted((raw / "exports").rglob("AssessmentResults*.csv")):
        with open(path, "rb") as handle:
            rows += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
            rows -= 1  # the header
    return rows


def prepare(workdir: Path, size: Size, cohort: str, analyses: dict | None) -> None:
    """A scratch working directory: config/ with ``size``'s school years (and ``analyses``),
    and its raw folder linked as data/raw/<cohort>."""
    shutil.copytree(ROOT / "config", workdir / "config")
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["school_years"] = {**config["school_years"], cohort: list(size.years)}
    if analyses is not None:
        config["analyses"] = analyses
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "data" / "raw").mkdir(parents=True)
    (workdir / "data" / "raw" / cohort).symlink_to(size.raw.resolve(), target_is_directory=True)


def run(workdir: Path, cohort: str, cores: int, profile: str | None = None) -> tuple[float, float]:
    """Snakemake on ``cohort`` in ``workdir`` (locally, or with profiles/<profile>): wall
    seconds and the sampled peak MB of Snakemake and its local children."""
    how = ["--cores", str(cores), "--resources", f"mem_mb={MEM_MB}"]
    if profile is not None:
        how = ["--profile", str(ROOT / "profiles" / profile)]
    command = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
        *how, "--config", f"cohorts=[{cohort}]",
    ]  # fmt: skip
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=workflow_env()
        )
        with TreeMemory(process.pid) as memory:
            process.wait()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        tail = (workdir / "snakemake.log").read_text()[-4000:]
        raise RuntimeError(f"snakemake failed ({process.returncode}) in {workdir}:\n{tail}")
    return seconds, memory.peak_bytes / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo sizes: a harness smoke test")
    parser.add_argument("--all-analyses", action="store_true", help="every shipped analysis")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--slurm", action="store_true", help="also the three-year study on Slurm")
    parser.add_argument(
        "--sizes", nargs="+", choices=list(SIZE_NAMES), default=list(SIZE_NAMES),
        help="the sizes to run (default: all four)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args, _ = parser.parse_known_args()  # make bench passes every script the same flags
    preset = "demo" if args.quick else "national"
    if args.slurm and not os.environ.get("SLURM_CONF"):
        print("--slurm: no SLURM_CONF in the environment (start a cluster first; see --help)")
        return 1
    analyses = None if args.all_analyses else {"main": {}}
    chosen = [size for name, size in zip(SIZE_NAMES, sizes(preset), strict=True)
              if name in args.sizes]  # fmt: skip
    three = sizes(preset)[-1]

    body, per_row, scratch = [], {}, Path(tempfile.mkdtemp(prefix="pl_eval_bench_scaling_"))
    passed = True
    try:
        for size in chosen:
            ensure_simulated(size, preset)
            rows = test_rows(size.raw)
            workdir = scratch / size.folder
            prepare(workdir, size, preset, analyses)
            seconds, peak_mb = run(workdir, preset, args.cores)
            millions = rows / 1e6
            per_row[size.label] = (seconds, peak_mb, millions)
            body.append(
                (size.label, f"{rows:,}", f"{seconds:.1f}", f"{peak_mb:,.0f}",
                 f"{seconds / millions:.1f}", f"{peak_mb / millions:,.0f}", load())
            )  # fmt: skip
        which = "every shipped analysis" if args.all_analyses else "main analysis alone"
        print(f"workflow by cohort size ({which}, --cores {args.cores}, MEM_MB={MEM_MB}):")
        header = ("size", "test rows", "wall s", "peak MB", "s per M rows", "MB per M rows", "load")
        print_rows(header, body)
        print_ratios(per_row, preset)
        if three.label in per_row:
            print(f"\n{three.label}, per rule (Snakemake's benchmark files):")
            print_rules(read_benchmarks(scratch / three.folder / "benchmarks" / "results"))
            if (three.raw / "truth.json").exists():
                print(f"\n{three.label}: planted truth against the estimates")
                print_truth(scratch / three.folder / "data" / "processed", three, preset)
            seconds = per_row[three.label][0]
            if not args.quick:
                passed = seconds <= TARGET_SECONDS
                verdict = "pass" if passed else "MISS"
                print(f"{three.label}: {seconds:.0f} s against ≤ {TARGET_SECONDS:.0f} s: {verdict}")
            if args.slurm:
                passed &= compare_slurm(scratch, three, preset, analyses)
    finally:
        if args.keep:
            print(f"scratch directories kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if passed else 1


def print_ratios(per_row: dict[str, tuple[float, float, float]], preset: str) -> None:
    """Per-row cost of 2× over ½× one year, and of three years over one, at 1× (``per_row``:
    seconds, peak MB and millions of rows by size label)."""
    pairs = [
        (f"2x {preset}, 1 year", f"0.5x {preset}, 1 year", "2x against 0.5x"),
        (f"1x {preset}, 3 years", f"1x {preset}, 1 year", "3 years against 1 year"),
    ]
    for high, low, what in pairs:
        if high in per_row and low in per_row:
            (s_high, mb_high, m_high), (s_low, mb_low, m_low) = per_row[high], per_row[low]
            time_ratio = (s_high / m_high) / (s_low / m_low)
            memory_ratio = (mb_high / m_high) / (mb_low / m_low)
            print(
                f"{what}, per million rows: time {time_ratio:.2f}x, memory {memory_ratio:.2f}x "
                "(1.00x: linear growth; below: fixed costs spread wider)"
            )


def print_truth(processed: Path, size: Size, cohort: str) -> None:
    """The study's pooled estimates of every analysis, and its exposure groups, beside the
    truth planted in its truth.json, with their 95% intervals."""
    import pandas as pd

    from pl_eval import io
    from pl_eval.estimation.validate import years_compare_to_truth
    from pl_eval.years import year_analyses

    truth = io.read_json(size.raw / "truth.json")
    names = {a.name.partition("@")[2]: a.name for a in year_analyses(cohort, size.years)}
    years = [y for y in size.years if y in names]  # the one-year analyses, then the main one
    order = {**{y: names[y] for y in years}, size.years[-1]: cohort, **names}
    estimates = {
        label: pd.read_parquet(processed / name / "main" / "estimates.parquet")
        for label, name in order.items()
    }
    table = years_compare_to_truth(estimates, truth, rep=0)
    body = [
        (row.analysis, row.subject, row.group, f"{row.truth:+.3f}", f"{row.estimate:+.3f}",
         f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
         "yes" if row.ci_low <= row.truth <= row.ci_high else "NO")
        for row in table.itertuples()
    ]  # fmt: skip
    print_rows(("analysis", "subject", "group", "truth", "estimate", "95% CI", "covers"), body)
    covered = sum(row[-1] == "yes" for row in body)
    print(f"{covered} of {len(body)} intervals cover the planted truth")


def compare_slurm(scratch: Path, size: Size, preset: str, analyses: dict | None) -> bool:
    """The same study through profiles/slurm; whether its data/processed/ is byte-identical to
    the local run's."""
    workdir = scratch / f"{size.folder}-slurm"
    prepare(workdir, size, preset, analyses)
    seconds, _ = run(workdir, preset, cores=0, profile="slurm")
    local = processed_digest(scratch / size.folder / "data" / "processed")
    slurm = processed_digest(workdir / "data" / "processed")
    same = "byte-identical" if local == slurm else "DIFFERENT"
    print(
        f"\n{size.label} through profiles/slurm: {seconds:.1f} s wall ({load()}); "
        f"data/processed/ {same} to the local run's ({local[1]} files, sha256 {local[0][:16]} "
        f"local, {slurm[0][:16]} slurm)"
    )
    return local == slurm


if __name__ == "__main__":
    sys.exit(main())
