"""The whole workflow on the simulated national cohort, as ``make run COHORT=national`` runs it,
against the floor of reading its exports (issue 15, item 3).

Targets: ≤ 60 s wall and ≤ 3 GB summed peak memory on 2 cores (``--cores 2``), from the NWEA
files on disk to the report, and the wall as a multiple of the floor, a plain
``pyarrow.csv.read_csv`` of every export file of the same cohort, measured in the same run just
before the workflow (fresh process). The cohort is the national one of one school year, as
the issue measured it: the national preset's main year alone (``pl-eval simulate
data/raw/national-1y --size national --seed 20141 --school-years 2022-2023``), simulated once
into data/raw/national-1y/ when it is not there (untimed; a link to an existing copy serves)
and linked into a scratch working directory with a copy of config/, so the run starts from
nothing but the raw files; Snakemake runs every rule of the shipped config (the main analysis
and its sensitivity variants).

Per rule, the table shows Snakemake's ``benchmark:`` files (jobs, wall seconds summed over
the rule's jobs and of its slowest job, largest max_rss of one job, CPU seconds); Snakemake
samples those every few seconds, so short peaks can escape them. The run's peak memory is
sampled here instead: every 0.2 s the resident memory of Snakemake and all its child
processes is summed (psutil, which Snakemake itself requires), so jobs running side by side
count together; shared library pages count once per process, so it errs high. The main
analysis alone (each step's slowest job, raw files to report) is shown for information. The
CPU time (user + system) of every process of the run, Snakemake's own and the report's
workers included, is counted exactly (getrusage of the reaped processes): divided by the
cores, it is the least wall time the same work could take, whatever the schedule.

The machine these run on is shared: every timing is printed with the 1-minute load average
at its end (above the number of cores, other work took CPU time and the wall time means
little; the CPU seconds per rule are steadier). ``--hash`` prints one SHA-256 over every file
under data/processed/ (path and bytes, sorted by path), to check that an optimisation leaves
the outputs byte-identical: compare two runs' digests (the same Snakemake and BLAS threads:
a job under Snakemake and the same command by hand can differ in the last bits of a float).
``--shape`` with a key of export_shapes.SHAPES runs the same cohort's exports reshaped as
real ones come (143 columns per AssessmentResults file, a file per school and term, one per
kind and term, one per kind, Windows-1252 rosters, a timestamp per test, or NWEA's Combined
data file); the wide and timestamps shapes' outputs are byte-identical to the simulated one's;
the others' estimates are too (their ingest files name other source files or encodings, and
the per-school panel lists ethnicity categories in another order of first appearance).
``--quick`` runs the demo cohort instead, as a smoke test of the harness (no targets).
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml
from export_shapes import SHAPES, derived
from measure import Measurement, measure, print_rows, print_table, workflow_env

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_MB = 3072.0
#: The memory make run lets its jobs ask for together, passed the same way: the Makefile's
#: MEM_MB (``make bench`` passes it; ``MEM_MB=2800`` in the environment measures that budget),
#: by default three quarters of the machine's memory and at least 2,800 MB, as make run.
MEM_MB = int(
    os.environ.get("MEM_MB")
    or max(2800, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4 // 2**20)
)
SAMPLE_SECONDS = 0.2
FLOOR = """
import glob
import pyarrow.csv
files = sorted(glob.glob({exports!r} + "/**/*.csv", recursive=True))
"""


def load() -> str:
    """The 1-minute load average, to print beside a timing on a shared machine."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def floor(raw: Path) -> Measurement:
    """A plain pyarrow.csv.read_csv of every export file of the cohort, in a fresh process."""
    return measure(
        "floor: pyarrow.csv.read_csv of every export",
        "for f in files: pyarrow.csv.read_csv(f)",
        setup=FLOOR.format(exports=str(raw / "exports")),
    )


def processed_digest(processed: Path) -> tuple[str, int]:
    """SHA-256 over every file under ``processed`` (relative path, then bytes), and the count."""
    digest, files = hashlib.sha256(), sorted(p for p in processed.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(processed)).encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest(), len(files)


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


#: The national cohort of one school year (issue 15's figures are for one year): the national
#: preset's main (last) school year alone, simulated into data/raw/national-1y/.
NATIONAL_1Y = "national-1y"


def ensure_cohort(cohort: str) -> Path:
    """The cohort's raw folder (demo, national: the preset's three school years, or
    :data:`NATIONAL_1Y`), simulated first (untimed, seed 20141) if it is not on disk yet."""
    raw = ROOT / "data" / "raw" / cohort
    if not (raw / "schools.csv").exists():
        print(f"simulating the {cohort} cohort into {raw} (once, untimed) ...", flush=True)
        from pl_eval import stages
        from pl_eval.simulate.settings import SimulationSettings

        size, years = cohort, None
        if cohort == NATIONAL_1Y:
            size = "national"
            years = [SimulationSettings.preset(size).school_year]
        stages.simulate(raw, size=size, seed=20141, school_years=years)
    return raw


@dataclass(frozen=True)
class Run:
    """One Snakemake run: wall seconds, sampled peak of the summed RSS, CPU seconds (user +
    system) of every process it started, and its output."""

    seconds: float
    peak_mb: float
    cpu_seconds: float
    output: str

    def cpu_line(self, cores: int) -> str:
        """Its CPU seconds, and the least wall time they allow on ``cores`` (every core busy)."""
        return (
            f"CPU (user + system) of every process, Snakemake and the report's workers "
            f"included: {self.cpu_seconds:.1f} s (≥ {self.cpu_seconds / cores:.1f} s wall on "
            f"{cores} cores)"
        )


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux; elsewhere nothing), so
    that their CPU time counts in getrusage(RUSAGE_CHILDREN) once reaped: the report stage's
    worker processes run under a multiprocessing forkserver that outlives the stage briefly
    and is no child of anything Snakemake waits for (``/usr/bin/time make run`` misses it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Wait for every process this one adopted (after the run it started has ended)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_cpu() -> float:
    """User + system CPU seconds of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_snakemake(workdir: Path, cohort: str, cores: int) -> Run:
    """Snakemake on ``cohort`` in ``workdir`` (stops with its output's end when it fails)."""
    command = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
        "--cores", str(cores), "--config", f"cohorts=[{cohort}]", "--resources", f"mem_mb={MEM_MB}",
    ]  # fmt: skip
    adopt_orphans()
    cpu = children_cpu()
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=workflow_env()
        )
        with TreeMemory(process.pid) as memory:
            process.wait()
        seconds = time.perf_counter() - start
        reap_orphans()
        cpu = children_cpu() - cpu
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        raise RuntimeError(f"snakemake failed ({process.returncode}):\n{output[-4000:]}")
    return Run(seconds, memory.peak_bytes / 2**20, cpu, output)


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


@dataclass(frozen=True)
class CohortRun:
    """:func:`run_cohort`'s result: the Snakemake run, its benchmark files, the load average at
    its end, and the digest of data/processed/ when asked for."""

    run: Run
    benchmarks: dict[Path, list[dict[str, float]]]
    load: str
    digest: str | None


def run_cohort(
    raw: Path,
    cohort: str,
    cores: int,
    *,
    keep: bool = False,
    digest: bool = False,
    analyses: dict | None = None,
    workdir: Path | None = None,
) -> CohortRun:
    """The workflow on ``raw`` (linked as ``cohort``) in a scratch directory (keep=True keeps
    the directory, printing where; a ``workdir`` given is the caller's to remove)."""
    keep = keep or workdir is not None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="pl_eval_bench_workflow_"))
    try:
        shutil.copytree(ROOT / "config", workdir / "config")
        if analyses is not None:  # e.g. the main analysis alone
            config = workdir / "config" / "config.yaml"
            settings = yaml.safe_load(config.read_text())
            config.write_text(yaml.safe_dump({**settings, "analyses": analyses}))
        (workdir / "data" / "raw").mkdir(parents=True)
        (workdir / "data" / "raw" / cohort).symlink_to(raw.resolve(), target_is_directory=True)
        run = run_snakemake(workdir, cohort, cores)
        when = load()
        benchmarks = read_benchmarks(workdir / "benchmarks" / "results")
        fingerprint = None
        if digest:
            fingerprint = "{} over {} files".format(
                *processed_digest(workdir / "data" / "processed")
            )
    finally:
        if keep:
            print(f"scratch directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return CohortRun(run, benchmarks, when, fingerprint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo-sized smoke run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--hash", action="store_true", help="print a SHA-256 of data/processed")
    parser.add_argument(
        "--shape",
        choices=["simulated", *SHAPES],
        default="simulated",
        help="the exports as simulated, or reshaped as real ones come (export_shapes.py)",
    )
    args, _ = parser.parse_known_args()  # make bench passes every script the same flags
    cohort = "demo" if args.quick else NATIONAL_1Y
    raw = ensure_cohort(cohort)
    if args.shape != "simulated":  # the same cohort, under the same name, in other files
        raw = derived(raw, args.shape)

    read = floor(raw)
    read_load = load()
    done = run_cohort(raw, cohort, args.cores, keep=args.keep, digest=args.hash)
    run, benchmarks = done.run, done.benchmarks

    targets = (None, None) if args.quick else (TARGET_SECONDS, TARGET_MB)
    case = f"whole workflow, --cores {args.cores}, MEM_MB={MEM_MB}"
    total = Measurement(case, run.seconds, run.peak_mb, *targets)
    print(f"cohort {cohort}, per rule (Snakemake's benchmark files):")
    print_rules(benchmarks)
    sampled = sum(r["cpu_time"] for rows in benchmarks.values() for r in rows)
    print(
        f"\n{run.cpu_line(args.cores)}\n"
        f"  (the table's CPU column sums to {sampled:.1f} s: Snakemake samples a job every "
        f"0.5 s, and every 30 s after its first 15 s, so long jobs' last seconds go uncounted)"
    )
    print(
        f"main analysis alone (slowest job of each step, raw files to report): "
        f"{main_chain_seconds(benchmarks, cohort):.1f} s"
    )
    print("whole run: wall clock, and peak of the summed RSS of Snakemake and its jobs")
    print_table([total, read])
    print(f"  workflow: {done.load} at its end; floor: {read_load} at its end")
    print(
        f"workflow wall / pyarrow floor: {run.seconds:.1f} s / {read.seconds:.1f} s = "
        f"{run.seconds / read.seconds:.1f}x"
    )
    if done.digest:
        print(f"data/processed/ sha256 {done.digest}")
    return 0 if total.passed else 1


if __name__ == "__main__":
    sys.exit(main())
