"""Growth with size (issue 15, item 4): the workflow on ½×, 1× and 2× the national cohort, in
time and peak memory per million test rows.

The sizes are the national preset with its comparison schools scaled (``pl-eval simulate
--size national --scale 0.5|1|2``: 2,000, 4,000 and 8,000 comparison schools beside the
study's 40 PL schools), simulated once into data/raw/national-x<scale>/ (untimed; 1× is
data/raw/national/, shared with bench_workflow). Each size runs as bench_workflow runs the
national cohort (fresh scratch directory, ``--cores 2``, wall clock and sampled summed peak
memory); test rows are the data rows of the AssessmentResults exports. Growth is near-linear
when seconds and MB per million rows stay about level from ½× to 2× (the table's last line
gives 2×'s per-row cost over ½×'s). The PL schools, and so the matched samples that estimation
works on, do not grow with the pool: the per-row cost of those stages falls with size.

By default each size runs the main analysis alone (config ``analyses: {main: {}}``) to keep
``make bench`` within minutes; ``--all-analyses`` runs the shipped config's every variant, as
bench_workflow does (about 3.5 national runs). The machine is shared: each row carries the
1-minute load average at its end. The national preset simulates three school years, so each
size's rows are its three years' (the workflow analyses what config ``school_years`` lists for
the cohort). ``--quick`` runs ½×, 1× and 2× the demo
cohort instead, as a smoke test of the harness.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_workflow import ROOT, run_cohort, scheduler_note
from measure import print_rows

SCALES = (0.5, 1.0, 2.0)
SEED = 20141


def cohort_folder(size: str, scale: float) -> tuple[str, Path]:
    """The cohort name and raw folder of ``size`` at ``scale``, simulated first if missing."""
    name = size if scale == 1 else f"{size}-x{scale:g}"
    raw = ROOT / "data" / "raw" / name
    if not (raw / "schools.csv").exists():
        print(f"simulating {name} into {raw} (once, untimed) ...", flush=True)
        from pl_eval import stages

        stages.simulate(raw, size=size, seed=SEED, scale=scale)
    return name, raw


def test_rows(raw: Path) -> int:
    """Data rows of the cohort's AssessmentResults exports (one test event each)."""
    rows = 0
    for path in sorted((raw / "exports").rglob("AssessmentResults*.csv")):
        with open(path, "rb") as handle:
            rows += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
            rows -= 1  # the header
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo sizes: a harness smoke test")
    parser.add_argument("--all-analyses", action="store_true", help="every shipped analysis")
    parser.add_argument("--cores", type=int, default=2)
    args, _ = parser.parse_known_args()  # make bench passes every script the same flags
    size = "demo" if args.quick else "national"
    analyses = None if args.all_analyses else {"main": {}}

    body, per_row = [], {}
    for scale in SCALES:
        name, raw = cohort_folder(size, scale)
        rows = test_rows(raw)
        seconds, peak_mb, _, when, _ = run_cohort(raw, name, args.cores, analyses=analyses)
        millions = rows / 1e6
        per_row[scale] = (seconds / millions, peak_mb / millions)
        body.append(
            (f"{scale:g}x {size}", f"{rows:,}", f"{seconds:.1f}", f"{peak_mb:,.0f}",
             f"{seconds / millions:.1f}", f"{peak_mb / millions:,.0f}", when)
        )  # fmt: skip
    which = "every shipped analysis" if args.all_analyses else "main analysis alone"
    print(f"workflow by cohort size ({which}, --cores {args.cores}):")
    header = ("size", "test rows", "wall s", "peak MB", "s per M rows", "MB per M rows", "load")
    print_rows(header, body)
    (s_half, mb_half), (s_double, mb_double) = per_row[0.5], per_row[2.0]
    print(
        f"2x against 0.5x, per million rows: time {s_double / s_half:.2f}x, memory "
        f"{mb_double / mb_half:.2f}x (1.00x: linear growth; below: fixed costs spread wider)"
    )
    if note := scheduler_note():
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
