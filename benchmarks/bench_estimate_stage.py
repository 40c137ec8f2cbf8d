"""The estimate stage on national-sized matched samples: one ``pl-eval estimate`` job per
analysis and subject, as the workflow runs it (issue 15, items 3 and 4).

Reads the match stage's outputs of a workflow run (``--processed``, default
data/processed/national-1y). When the default folder has none (a clean clone: ``make bench``
runs this script before bench_workflow, whose run is in a scratch folder), they are made first
as ``make run COHORT=national-1y`` makes them, untimed: the exports simulated when missing, then
read_exports, ingest, build_panel, match and the sensitivity analyses that match on their own
(about 2-3 minutes on 2 cores). Another folder without them is skipped with a line.

Each job runs in a fresh process with one BLAS thread (as Snakemake runs it) and is measured
whole: imports, reading, estimating and writing; wall and CPU seconds and peak memory (the
child's own ru_maxrss).
Targets: doubly_robust (entropy weights: every comparison student of a stratum carries weight)
≤ 8 s and ≤ 1 GB per subject; vcg ≤ 5 s; the other analyses ≤ 3 s. Exits non-zero on a miss.

Measured and not kept (2026-12-05, the doubly_robust sensitivity job of the one-year national
cohort, both subjects, alternating runs on a quiet machine; outputs byte-identical in each):
its system CPU, mostly the kernel zeroing fresh pages for the design matrices and CR2's
per-cluster blocks, varies from 3.6 to 7.5 s between identical runs of 24-25 user s. Without
numpy's huge pages (NUMPY_MADVISE_HUGEPAGE=0) system time fell by about 2 s and user time rose
by 1.3 s (more TLB misses): 0.7 s in all. Garbage collection off, or its first threshold at
100,000, changed neither within that noise, and off held 530 MB more.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_workflow import NATIONAL_1Y, ensure_cohort
from measure import make_outputs, print_rows

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROCESSED = ROOT / "data" / "processed" / NATIONAL_1Y
SUBJECTS = ("math", "reading")
#: Seconds and MB per job, by analysis (others: DEFAULT_TARGET).
TARGETS = {"doubly_robust": (8.0, 1024.0), "vcg": (5.0, None)}
DEFAULT_TARGET = (3.0, None)


def settings_of(config: dict, analysis: str) -> dict:
    from pl_eval.config import analysis_section

    return analysis_section(config, analysis, "estimate")


def inputs(processed: Path, config: dict, analysis: str, subject: str) -> tuple[Path, Path]:
    """The matched sample and pairs an analysis estimates on: its own, or (estimate-only
    variants) those of the first analysis with the same ingest, panel and match settings."""
    from pl_eval.config import analysis_section

    def key(name: str) -> list:
        return [analysis_section(config, name, s) for s in ("ingest", "panel", "match")]

    source = next(name for name in config["analyses"] if key(name) == key(analysis))
    folder = processed / source
    return folder / f"matched_{subject}.parquet", folder / f"pairs_{subject}.parquet"


def make_matched(config: dict) -> None:
    """The national-1y matched samples and pairs of every analysis, as the workflow makes them."""
    ensure_cohort(NATIONAL_1Y)
    pairs = {inputs(DEFAULT_PROCESSED, config, a, s) for a in config["analyses"] for s in SUBJECTS}
    targets = sorted(str(path.relative_to(ROOT)) for pair in pairs for path in pair)
    print(f"making the {NATIONAL_1Y} matched samples first (untimed) ...", flush=True)
    make_outputs(NATIONAL_1Y, targets)


def run_job(matched: Path, pairs: Path, settings: dict, out: Path, subject: str) -> dict:
    """One estimate job in a fresh process: wall, CPU seconds and peak MB."""
    command = [
        sys.executable, "-m", "pl_eval", "estimate", "--subjects", subject,
        "--matched", str(matched), "--pairs", str(pairs),
        "--estimates", str(out / "estimates.parquet"),
        "--breakout-tests", str(out / "breakout_tests.parquet"),
        "--trajectory", str(out / "trajectory.parquet"),
        "--school-trajectory", str(out / "school_trajectory.parquet"),
        "--settings", json.dumps(settings, sort_keys=True), "--log", str(out / "estimate.log"),
    ]  # fmt: skip
    threads = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    with (out / "stderr.txt").open("w+") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(
            command, env={**os.environ, **threads}, stdout=subprocess.DEVNULL, stderr=stderr
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and peak
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"estimate failed on {matched}:\n{stderr.read()}")
    cpu = usage.ru_utime + usage.ru_stime
    peak_mb = usage.ru_maxrss / 1024
    return {"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, default=DEFAULT_PROCESSED)
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--analyses", nargs="*", help="only these analyses (default: all)")
    parser.add_argument("--quick", action="store_true", help="skip (national-sized only)")
    args = parser.parse_args(argv)
    if args.quick:
        print("skipped: --quick (this benchmark runs on a national workflow's matched samples)")
        return 0
    config = yaml.safe_load(args.config.read_text())
    if args.processed == DEFAULT_PROCESSED and not any(args.processed.glob("*/matched_*.parquet")):
        make_matched(config)
    if not any(args.processed.glob("*/matched_*.parquet")):
        print(f"skipped: no matched samples under {args.processed} (run the workflow first)")
        return 0
    analyses = args.analyses or list(config["analyses"])
    rows, missed = [], False
    with tempfile.TemporaryDirectory() as scratch:
        for analysis in analyses:
            for subject in SUBJECTS:
                matched, pairs = inputs(args.processed, config, analysis, subject)
                if not matched.exists():
                    print(f"skipped {analysis} {subject}: no {matched} (run the workflow first)")
                    continue
                out = Path(scratch) / analysis / subject
                out.mkdir(parents=True)
                got = run_job(matched, pairs, settings_of(config, analysis), out, subject)
                seconds, mb = TARGETS.get(analysis, DEFAULT_TARGET)
                ok = got["seconds"] <= seconds and (mb is None or got["peak_mb"] <= mb)
                missed |= not ok
                rows.append((
                    f"{analysis} {subject}", f"{got['seconds']:.2f}", f"{got['cpu']:.2f}",
                    f"{got['peak_mb']:,.0f}", f"≤ {seconds:g} s" + (f", {mb:g} MB" if mb else ""),
                    "pass" if ok else "MISS",
                ))  # fmt: skip
    if rows:
        print(f"estimate jobs on {args.processed} (load {os.getloadavg()[0]:.1f}):")
        print_rows(("job", "wall s", "CPU s", "peak MB", "target", "result"), rows)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
