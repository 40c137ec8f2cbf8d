"""build_panel and match jobs on the one-year national cohort (issue 15, items 3 and 4).

The cohort is data/raw/national-1y/, the national preset's main year alone (``pl-eval
simulate data/raw/national-1y --size national --seed 20141 --school-years 2022-2023``, about
4.75 million test rows), simulated once (untimed) when it is not there; a link to a copy
serves. Its exports are read and ingested once, untimed (``--ingested DIR`` takes scores,
rejects and schools Parquet already there, e.g. a workflow run's data/processed/national-1y).

Each case is one workflow job in a fresh process, its stage's imports included: build_panel
(main settings) and match for every shipped analysis that matches on the main panel, per
subject. Targets: build_panel ≤ 5 s and ≤ 1,200 MB; each match ≤ 2.5 s and ≤ 600 MB. The
table shows the fastest of ``--repeat`` runs (other jobs on a shared machine only add time)
and the largest peak. ``--quick`` runs the demo cohort with no targets.

Where the time went (cProfile on CPU time and RSS per step; one-year national; outputs
byte-identical to main's): build_panel converted every score row to pandas and the million
student keys to text twice, evaluated norms and instructional weeks on each of 2.5 million
rows, and copied the paired rows three times on the way to the sorted panel. It now selects
the window's rows in Arrow before pandas sees them (a multi-year cohort's other years cost
nothing then), converts each dictionary column's categories once, evaluates norms once per
distinct subject × grade × week and weeks once per test date, and takes the paired rows once,
in their final order. A match job read both subjects' panel rows; it now decodes the panel a
batch at a time, keeping its subject's rows, and no longer imports scipy through the panel's
norms module. Measured 2026-12-04, main's code and this one run in turns on a shared machine
(load average 12-14 on 2 cores, so wall times mean little; OPENBLAS_NUM_THREADS=1 as the
workflow runs jobs), /usr/bin/time per job: build_panel 12.0-12.9 -> 8.9-9.4 CPU s and
2,440 -> 2,110 MB; match (main, vcg, doubly_robust; math) 3.9-4.9 -> 3.8-4.9 CPU s and
1,080-1,100 -> 730-890 MB. On the three-year national, each of its 8 panels (main, one-year,
span, placebo) 17-24 -> 13-16 CPU s and 3.7-4.1 -> 2.3-3.1 GB. Targets missed: what remains
is pandas work on whole tables (the outer join of fall and spring tests, the panel and its
Parquet writing; the propensity fit, balance tables and figures), and memory for a panel of
both subjects at once; building each subject's panel on its own would halve the latter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from measure import Measurement, measure, print_rows, print_table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())  # the shipped defaults
KEY = "bench-key-16char"
PANEL_TARGET = (5.0, 1200.0)
MATCH_TARGET = (2.5, 600.0)
SUBJECTS = ("math", "reading")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="demo-sized smoke run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (fastest shown)")
    parser.add_argument(
        "--ingested", type=Path, help="folder with the cohort's ingested Parquet (untimed skip)"
    )
    args = parser.parse_args()
    cohort = "demo" if args.quick else "national-1y"
    os.environ.setdefault("PL_EVAL_KEY", KEY)
    out = Path(tempfile.mkdtemp(prefix="pl_eval_bench_panel_"))
    try:
        inputs = args.ingested or ingest(cohort, out)
        rows = [
            run_case(
                "build_panel",
                panel_code(inputs, out, "2022-2023" if args.quick else None),
                args.repeat,
                None if args.quick else PANEL_TARGET,
            )
        ]
        for analysis in matched_analyses():
            for subject in SUBJECTS:
                rows.append(
                    run_case(
                        f"match {analysis} {subject}",
                        match_code(out, analysis, subject),
                        args.repeat,
                        None if args.quick else MATCH_TARGET,
                    )
                )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"cohort {cohort}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print_table([m for m, _ in rows])
    print_rows(("case", "CPU s (imports included)"), [(m.case, f"{c:.2f}") for m, c in rows])
    return 0 if all(m.passed for m, _ in rows) else 1


def ingest(cohort: str, out: Path) -> Path:
    """Simulate (when missing) and ingest the cohort, untimed; the folder of its Parquet."""
    raw = ROOT / "data" / "raw" / cohort
    if not (raw / "schools.csv").exists():
        print(f"simulating {cohort} into {raw} (once, untimed) ...", flush=True)
        years = ["--school-years", "2022-2023"] if cohort == "national-1y" else []
        size = "national" if cohort == "national-1y" else "demo"
        pl_eval(["simulate", str(raw), "--size", size, "--seed", "20141", *years])
    print(f"reading and ingesting {cohort} (untimed) ...", flush=True)
    settings = CONFIG["ingest"]
    read = {k: settings.get(k) for k in ("column_aliases", "district_name")}
    pl_eval(["read-exports", str(raw), "--out", str(out / "read"), "--settings", dump(read)])
    pl_eval(
        ["ingest", "--read-exports", str(out / "read")]
        + [
            a
            for kind in ("scores", "duplicates", "rejects", "schools")
            for a in (f"--{kind}", str(out / f"{kind}.parquet"))
        ]  # fmt: skip
        + ["--summary", str(out / "summary.json"), "--settings", dump(settings)]
    )
    return out


def pl_eval(arguments: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pl_eval", *arguments], check=True)


def dump(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def matched_analyses() -> list[str]:
    """The shipped analyses with their own match on the main panel (one job per subject):
    the first of each distinct match section, among those not re-ingesting the cohort."""
    from pl_eval.config import analysis_section

    seen, names = [], []
    for name, overrides in CONFIG["analyses"].items():
        if "ingest" in overrides or "panel" in overrides:
            continue
        section = analysis_section(CONFIG, name, "match")
        if section not in seen and not section.get("strata"):
            seen.append(section)
            names.append(name)
    return names


def panel_code(inputs: Path, out: Path, school_year: str | None) -> str:
    """build_panel's job (the demo's three years: its main year)."""
    return f"""from pathlib import Path
from pl_eval import stages
stages.build_panel(scores=Path({str(inputs / "scores.parquet")!r}),
    rejects=Path({str(inputs / "rejects.parquet")!r}),
    schools=Path({str(inputs / "schools.parquet")!r}), panel=Path({str(out / "panel.parquet")!r}),
    exclusions=Path({str(out / "exclusions.csv")!r}),
    lost_students=Path({str(out / "lost_students.parquet")!r}), settings={CONFIG["panel"]!r},
    school_year={school_year!r})"""


def match_code(out: Path, analysis: str, subject: str) -> str:
    """One subject's match job of ``analysis`` on the panel build_panel wrote."""
    from pl_eval.config import analysis_section

    files = {
        "matched": "matched.parquet", "pairs": "pairs.parquet",
        "propensity": "propensity.parquet", "balance": "balance.csv",
        "summary": "summary.json", "love_plot": "love.png", "overlap_plot": "overlap.png",
    }  # fmt: skip
    paths = ", ".join(f"{k}=Path({str(out / analysis / subject / v)!r})" for k, v in files.items())
    settings = analysis_section(CONFIG, analysis, "match")
    return f"""from pathlib import Path
from pl_eval import stages
stages.match(panel=Path({str(out / "panel.parquet")!r}), subject={subject!r}, {paths},
    settings={settings!r})"""


def run_case(
    case: str, code: str, repeat: int, target: tuple[float, float] | None
) -> tuple[Measurement, float]:
    """The fastest of ``repeat`` fresh-process runs of ``code``, their largest peak, and the
    fewest CPU seconds (user + system) of one run: on a shared machine the steadier figure."""
    runs, cpu = [], []
    with tempfile.TemporaryDirectory() as folder:
        used = Path(folder) / "cpu"
        timed = f"""{code}
import resource as _resource
_usage = _resource.getrusage(_resource.RUSAGE_SELF)
open({str(used)!r}, "w").write(str(_usage.ru_utime + _usage.ru_stime))"""
        for _ in range(max(repeat, 1)):
            runs.append(measure(case, timed))
            cpu.append(float(used.read_text()))
    seconds, mb = target or (None, None)
    fastest = min(m.seconds for m in runs)
    return Measurement(case, fastest, max(m.peak_mb for m in runs), seconds, mb), min(cpu)


if __name__ == "__main__":
    sys.exit(main())
