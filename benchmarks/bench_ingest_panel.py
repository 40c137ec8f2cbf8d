"""Ingest + panel on the simulated national cohort (≈1M students a year, both subjects).

Targets (issue 2): ingest and build_panel together ≤ 60 s wall and ≤ 4 GB peak on 2 cores,
set for one school year; the national preset now simulates three, which ingest reads
together, and the panel pairs the last (2022-2023). The three-year span's and a placebo's
panels (issue 13: one build_panel job each, from the same scores) are timed beside it, without
a target of their own.
The cohort is simulated once into data/raw/national/ (untimed) and reused.
``--quick`` runs the demo cohort instead, as a smoke test of the harness.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from measure import Measurement, measure, print_table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())  # the shipped defaults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo-sized smoke run")
    args = parser.parse_args()
    cohort = "demo" if args.quick else "national"
    raw = ROOT / "data" / "raw" / cohort
    if not (raw / "schools.csv").exists():
        print(f"simulating {cohort} cohort into {raw} (once, untimed) ...", flush=True)
        from pl_eval import stages

        stages.simulate(raw, size=cohort, seed=20141)

    out = Path(tempfile.mkdtemp(prefix="pl_eval_bench_"))
    setup = "\n".join(
        [
            "import os",
            "from pathlib import Path",
            "os.environ.setdefault('PL_EVAL_KEY', 'bench-key-16char')",
            "from pl_eval import stages",
            f"out = Path({str(out)!r})",
        ]
    )
    try:
        ingest = measure(
            "ingest",
            f"""stages.ingest(Path({str(raw)!r}), scores=out / 'scores.parquet',
                duplicates=out / 'duplicates.parquet', rejects=out / 'rejects.parquet',
                schools=out / 'schools.parquet', summary=out / 'summary.json',
                settings={CONFIG["ingest"]!r})""",
            setup=setup,
        )
        panel = measure(
            "build_panel",
            f"""stages.build_panel(scores=out / 'scores.parquet', rejects=out / 'rejects.parquet',
                schools=out / 'schools.parquet', panel=out / 'panel.parquet',
                exclusions=out / 'exclusions.csv', settings={CONFIG["panel"]!r},
                school_year='2022-2023')""",
            setup=setup,
        )
        years = [
            measure(
                f"build_panel {case}",
                f"""stages.build_panel(scores=out / 'scores.parquet',
                    rejects=out / 'rejects.parquet', schools=out / 'schools.parquet',
                    panel=out / 'panel_years.parquet', exclusions=out / 'exclusions_years.csv',
                    settings={CONFIG["panel"]!r}, {arguments})""",
                setup=setup,
            )
            for case, arguments in (
                ("span 2020-2023", "school_year='2020-2021', spring_year='2022-2023'"),
                ("placebo 2021-2022", "school_year='2021-2022', placebo=True"),
            )
        ]
        summary = json.loads((out / "summary.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)

    target_s, target_mb = (None, None) if args.quick else (60.0, 4096.0)
    total = Measurement(
        "ingest + build_panel",
        ingest.seconds + panel.seconds,
        max(ingest.peak_mb, panel.peak_mb),
        target_s,
        target_mb,
    )
    rows_read = summary.get("totals", {}).get("rows_read")
    print(f"cohort {cohort}: {rows_read:,} input rows" if rows_read else f"cohort {cohort}")
    print_table([ingest, panel, total, *years])
    return 0 if total.passed else 1


if __name__ == "__main__":
    sys.exit(main())
