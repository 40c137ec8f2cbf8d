"""The whole workflow on the simulated national cohort, as ``make run COHORT=national`` runs it.

Targets (issue 7): ≤ 120 s wall and ≤ 6 GB peak memory on 2 cores (``--cores 2``), from the
NWEA files on disk to the report. The cohort is simulated once into data/raw/national/
(untimed) and linked into a scratch working directory with a copy of config/, so the run
starts from nothing but the raw files; Snakemake runs every rule of the shipped config (the
main analysis and its sensitivity variants).

Per rule, the table shows Snakemake's ``benchmark:`` files (jobs, wall seconds summed over
the rule's jobs and of its slowest job, largest max_rss of one job, CPU seconds); Snakemake
samples those every few seconds, so short peaks can escape them. The run's peak memory is
sampled here instead: every 0.2 s the resident memory of Snakemake and all its child
processes is summed (psutil, which Snakemake itself requires), so jobs running side by side
count together; shared library pages count once per process, so it errs high. The main
analysis alone (each step's slowest job, raw files to report) is shown for information.
``--quick`` runs the demo cohort instead, as a smoke test of the harness (no targets).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
from measure import Measurement, print_rows, print_table

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 120.0
TARGET_MB = 6144.0
SAMPLE_SECONDS = 0.2


class TreeMemory:
    """Peak summed RSS of a process and its descendants, sampled on a background thread."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:  # the run has ended
                return
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # exited between listing and reading
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(SAMPLE_SECONDS)


def ensure_cohort(cohort: str) -> Path:
    """The cohort's raw folder, simulated first (untimed) if it is not on disk yet."""
    raw = ROOT / "data" / "raw" / cohort
    if not (raw / "schools.csv").exists():
        print(f"simulating the {cohort} cohort into {raw} (once, untimed) ...", flush=True)
        from pl_eval import stages

        stages.simulate(raw, size=cohort, seed=20141)
    return raw


def run_workflow(workdir: Path, cohort: str, cores: int) -> tuple[float, float, str]:
    """Snakemake on ``cohort`` in ``workdir``: wall seconds, sampled peak MB, its stderr."""
    bin_dir = Path(sys.executable).parent  # rules call pl-eval from PATH, as make run arranges
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PL_EVAL_KEY": os.environ.get("PL_EVAL_KEY", "bench-key-16char"),
    }
    command = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
        "--cores", str(cores), "--config", f"cohorts=[{cohort}]",
    ]  # fmt: skip
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        with TreeMemory(process.pid) as memory:
            process.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        raise RuntimeError(f"snakemake failed ({process.returncode}):\n{output[-4000:]}")
    return seconds, memory.peak_bytes / 2**20, output


#: The main analysis's chain from raw files to report: (benchmark file pattern under
#: benchmarks/results/<cohort>/), the per-subject jobs of a step running side by side.
MAIN_CHAIN = (
    "ingest.tsv",
    "build_panel.tsv",
    "main/match_*.tsv",
    "main/estimate_*.tsv",
    "main/combine_estimates.tsv",
    "report.tsv",
)


def read_benchmarks(results: Path) -> dict[Path, list[dict[str, float]]]:
    """Every benchmark file under ``results`` (path relative to it) -> its rows."""
    found = {}
    for tsv in sorted(results.rglob("*.tsv")):
        with open(tsv, newline="") as handle:
            found[tsv.relative_to(results)] = [
                {k: float(row[k]) for k in ("s", "max_rss", "cpu_time")}
                for row in csv.DictReader(handle, delimiter="\t")
            ]
    return found


def main_chain_seconds(benchmarks: dict[Path, list[dict[str, float]]], cohort: str) -> float:
    """Wall seconds of the main analysis alone: each step's slowest job, summed."""
    total = 0.0
    for pattern in MAIN_CHAIN:
        step = [
            row["s"]
            for path, rows in benchmarks.items()
            if path.match(f"{cohort}/{pattern}")
            for row in rows
        ]
        total += max(step, default=0.0)
    return total


def print_rules(benchmarks: dict[Path, list[dict[str, float]]]) -> None:
    """One line per rule, its jobs (every cohort wildcard and analysis) together, slowest first."""
    jobs: dict[str, list[dict[str, float]]] = defaultdict(list)
    for path, rows in benchmarks.items():
        jobs[re.sub(r"_(math|reading)(_.+)?$", "", path.stem)] += rows  # match_stratum_math_K-5
    header = ("rule", "jobs", "wall s, all jobs", "slowest job s", "max_rss MB", "CPU s")
    body = [
        (
            rule,
            str(len(runs)),
            f"{sum(r['s'] for r in runs):.1f}",
            f"{max(r['s'] for r in runs):.1f}",
            f"{max(r['max_rss'] for r in runs):,.0f}",
            f"{sum(r['cpu_time'] for r in runs):.1f}",
        )
        for rule, runs in sorted(jobs.items(), key=lambda item: -sum(r["s"] for r in item[1]))
    ]
    print_rows(header, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo-sized smoke run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    cohort = "demo" if args.quick else "national"
    raw = ensure_cohort(cohort)

    workdir = Path(tempfile.mkdtemp(prefix="pl_eval_bench_workflow_"))
    try:
        shutil.copytree(ROOT / "config", workdir / "config")
        (workdir / "data" / "raw").mkdir(parents=True)
        (workdir / "data" / "raw" / cohort).symlink_to(raw, target_is_directory=True)
        seconds, peak_mb, _ = run_workflow(workdir, cohort, args.cores)
        benchmarks = read_benchmarks(workdir / "benchmarks" / "results")
    finally:
        if args.keep:
            print(f"scratch directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    targets = (None, None) if args.quick else (TARGET_SECONDS, TARGET_MB)
    total = Measurement(f"whole workflow, --cores {args.cores}", seconds, peak_mb, *targets)
    print(f"cohort {cohort}, per rule (Snakemake's benchmark files):")
    print_rules(benchmarks)
    print(
        f"\nmain analysis alone (slowest job of each step, raw files to report): "
        f"{main_chain_seconds(benchmarks, cohort):.1f} s"
    )
    print("whole run: wall clock, and peak of the summed RSS of Snakemake and its jobs")
    print_table([total])
    return 0 if total.passed else 1


if __name__ == "__main__":
    sys.exit(main())
