"""Read once (issue 15, items 1 and 2): ingest of the national cohort against a plain
``pyarrow.csv.read_csv`` of the same files, side by side in one run, and a stage's start-up.

The cohort is the national one of one school year, as the issue measured it: data/raw/
national-1y/, the national preset's main year alone (``pl-eval simulate data/raw/national-1y
--size national --seed 20141 --school-years 2022-2023``, about 4.75 million test rows in 1,822
exports, 1.9 GB), simulated once (untimed) when it is not there; a link to a copy serves.

Ingest is two stages: ``read_exports`` parses, validates and types a cohort's exports once;
``ingest`` screens and de-duplicates that typed table under one analysis's settings (the
workflow runs it once per analysis that changes ingest settings, e.g. the shipped
no_rapid_guessing_screen, without reading the CSVs again). The floor is pyarrow reading every
export file whole (all columns, types inferred), as the issue measured it. Cases run in turns
(floor, stages, floor, ...) ``--repeat`` times, each in a fresh process; the table shows
medians, since the machine is shared. Target: read_exports + ingest (main) ≤ 2x the floor.

Engine. The exports are read with pyarrow, chosen by measurement: the "engines" table reads
the columns ingest needs from every test export, as text, and stacks them, with pyarrow (the
reader ingest uses, io.read_raw_exports), and with polars and DuckDB when they are installed
(they are not dependencies; a line says when one is skipped). pyarrow it is: on the
national cohort (2 heavily shared cores, medians of 2) pyarrow took 92 s, polars 176 s and
DuckDB 331 s (on the demo cohort 2.4, 2.3 and 33 s), and ingest's reader also needs what
pyarrow gives here: the line of every malformed row (invalid_row_handler), per-file encodings,
and text columns that become pandas categoricals without a copy. After the read, ingest
(screens, de-duplication, the outputs) runs on pyarrow too, for the same reasons and one
more: its input is the typed table read_exports wrote as an Arrow file, which pyarrow maps
in place (no copy, no conversion), while polars or DuckDB would first import it (a copy of
700 MB per ingest job, and two run side by side) and need an added dependency. The screens
and de-duplication are a few numpy operations on its numbers and dictionary codes; Parquet
row groups are taken from it record batch by record batch and decoded from the dictionaries.
read_exports' typing stays pandas code (per distinct value, so cheap); its cost above the
floor is the parse of 1,800 small files (one pyarrow block each), the encoding sniff, and
the roster join and student keys.

Where the time and memory went (profiled with cProfile on CPU time and RSS per step,
one-year national): files are sniffed and parsed side by side, one per core, at most a few
files ahead of the stacking; text is dictionary-encoded half a million rows at a time and the
stacks joined per column (the same first-appearance dictionaries as encoding all rows at
once, so the typed table's bytes do not change), each column's stacks freed once joined;
raw checks look at each column's distinct values; the raw text is freed once typed, before
the roster join and the student keys; the typed tests keep a block per column (consolidating
copied every number). Ingest maps the typed table and never converts it to pandas: verdicts
look at 13 of its columns, de-duplication orders only the tests that share a student x
subject x term (one in twenty), duplicates and rejects are written first and freed, and the
scores' row groups are built one at a time from the record batches they span (a pyarrow take
over the whole table first joins every column: a 700 MB copy per take). The pandera schema of
the scores (1.3 s on 4.3 million rows, and a pandas copy of them) is gone: what it checked
holds by construction (screens, parsers, one kept test per group). Every row is still checked
on the way in, every output byte-identical (national-1y main and no_rapid_guessing_screen
against the reference run, every tests/data cohort against main's code).
Measured 2026-12-04 on the shared machine (load average 12-13 on 2 cores), before (main's
src on PYTHONPATH) and after in turns, one process each, CPU seconds (user + system, all
threads) / peak RSS: read_exports 20.9 s / 2,280 MB -> 17.8 s / 1,853 MB; ingest main
9.7 s / 2,615 MB -> 5.8 s / 1,311 MB. ``bench_read_once.py --repeat 2`` at that load (wall,
medians of 2): floor 11.0 s, read_exports 36.3 s (3.30x), ingest main 10.5 s (0.95x, 1,310
MB), no_rapid_guessing_screen 11.4 s (1,307 MB): 4.25x against the 2x target, a miss. At
such a load wall time says little (read_exports used 17.8 CPU s in 34 s of wall); the
brief's quiet-machine figures were 15.4 s read_exports + 7.0 s ingest over a 6.7 s floor.
What remains above the floor is read_exports: the parse itself (pyarrow, needed columns:
1.3x the floor in the engines table), then sniffing every byte for its encoding, typing,
the roster join and the student keys (about 1 CPU s each).
Profiled again 2026-12-04 (cProfile, perf; one-year national). ingest main, 3.6-3.9 user +
0.6-1.9 system CPU s: writing the outputs is three quarters of it (pyarrow's Parquet writer
3.0 s: hashing each text value into the dictionary pages, statistics, zstd; decoding the kept
rows' text from the typed table's dictionaries 1.2 s), screening and de-duplication 1.0-1.3 s,
imports 0.4 s. The Parquet bytes fix that writing: writing the dictionaries as they are (no
decode, no second hashing) gives other dictionary pages and another stored Arrow schema, and
the writer encodes one column at a time (no thread option in pyarrow). Building the next row
group while one is written saved no CPU and held 450 MB more. The kernel zeroing fresh
(transparent huge) pages is a third of ingest's perf samples and a sixth of read_exports', and
varies run to run with the machine's memory (system CPU 0.4-2.8 s for the same ingest, 4.3-7.4
s for read_exports, of 9-10 s user); other Arrow allocators or keeping freed memory
(jemalloc, system, MIMALLOC_PURGE_DELAY=-1, glibc without mmap, numpy without huge pages) did
not lower it measurably. Parsing text straight into dictionaries (pyarrow's dictionary column
type) and unifying the files' dictionaries cost more CPU than parsing strings and encoding
them a stack at a time (the test exports: 7.4 vs 7.0 CPU s, medians of 3). Reading the
rosters and schools.csv beside the tests (a thread per part, 2026-12-05, quiet machine, 3
alternating runs of read_exports) was slower, 9.3-10.2 s against 8.6-10.8 s wall and 12.8-14.1
against 11.5-15.0 CPU s, and held 120 MB more: the parts' parsing threads contend for the two
cores the tests' own parse already keeps busy. On a virtual machine that hands freed memory
back to its host (free page reporting; 2026-12-06, 2-core AMD EPYC), memory touched afresh
cost 1-2.5 s of system CPU per GB, and read_exports of the three-year national exports took
46-69 s wall, 24-41 s of it system CPU (a quarter to a third of its perf samples clearing
fresh huge pages): Arrow's system pool with glibc's mmap threshold at 1 GB and trim threshold
at 2 GB (read_exports keeps freed memory: pl_eval.cli.KEEP_FREED_MEMORY) made it 37-44 s,
14-20 s system, its peak 8% higher (3 alternating runs each); the system pool alone, the trim
threshold alone or with it, or mimalloc never purging did not. One year: 13.4-14.2 s against
15.4 s (2 alternating runs).

Start-up: ``pl-eval --help``, and a stage process that does nothing (the CLI and the stages
module imported: what every job pays before its stage's own libraries; no pandas, pyarrow or
scipy, which load on first use), each against a bare ``python -c pass`` and ``import pandas,
pyarrow.parquet`` (the floor of any stage that touches a table). Target: under 0.5 s each on a
quiet machine. Below them, what a job of each kind then pays to import its stage's libraries
(no target; "x floor" against the pandas/pyarrow import): this is what a stage that does
little, such as combine-estimates (a concatenation of small tables), really costs.
``--startup`` prints this table only.

Real exports are shaped otherwise than the simulator's (export_shapes.py): 143 columns per
AssessmentResults file where the simulator writes 34 ("wide", 5.5 GB), one file per school and
term where it writes one per district ("per-school", about 19,000 files of 100 kB), one file
per kind and term ("per-term", up to 680 MB each), one per kind ("single": 1.5 GB of test
rows), rosters saved as Windows-1252 with accented names ("windows"), or a timestamp per test
in TestStartDate ("timestamps": millions of distinct cells where the simulator writes a few
hundred dates), or an ISO 8601 one in UTC and no TestStartTime ("iso-timestamps":
"2022-09-12T12:38:31Z"), or NWEA's Combined data file ("combined": each test row with its roster's
fields, no StudentsBySchool). The ingest table is printed for each shape, the same rows in
each; ``--shape`` picks one. Two of them found cliffs (medians of 2, 2026-12-05): the encoding
check scanned a non-UTF-8 file with three regular expressions, so read_exports of the
Windows-1252 rosters took 21.3 s (now numpy over the non-ASCII bytes: 11.6 s); dates and times
were split by Python's re per distinct cell, 2-4 s per million and pattern, so the timestamps
took 66.1 s (now RE2 on ASCII cells, then one parse per distinct date and time: 19.8 s).
Later (2026-12-07, quiet machine, medians of 2) the timestamps still took 27.4 s against 14.5 s
for the simulated shape: each TestStartDate cell was split twice, for its date (the check) and
its time (typing), by an expression RE2 reads slowly (its lazy date: 1.9 s per 4 million
cells). Now one split serves both (parse.date_times), by an expression with one reading of
each character (0.6 s): 23.1 s, the outputs byte-identical.
The ISO 8601 timestamps (2026-12-07, quiet machine, medians of 2) lost every test's time (a Z
or offset after it did not read) and went the slow way (a T between date and time): 21.7 s.
Now the time reads past a zone and the one-pass expression takes a T (3 million distinct
cells: 3.8 -> 0.7 s): 17.9 s, and the typed table is the simulated shape's, byte for byte.
The floor grows with width (pyarrow types every column; ingest reads the 20 it needs) and
with the number of files (pyarrow's set-up, about 0.25 ms a file, and the file system's), and
so does read_exports: for the per-school shape, files are parsed in batches of about 2 MB per
core (a future per file cost 1 s of 20) and sniffed one after another (two threads contending
for the GIL sniffed 19,000 small files in 3.0 s against 1.5 s); files of 1 MiB or more are
sniffed a batch per core first (2026-12-06: the one-year exports' sniff 1.2-1.5 -> 0.5-0.6 s,
the three-year study's 3.8-4.3 -> 1.5-1.8 s; io.sniff_raw_files). Files of up to 1 GB are parsed
whole, two side by side: the per-term shape reads as fast as the simulated one and holds
400-550 MB more. A bigger file is parsed a block at a time as its rows are stacked (io.
STREAM_BYTES): the single shape held 2.2 GB parsed whole and holds 1.58 GB so, in the same time.

``--quick`` uses the demo cohort (a smoke test of the harness; no targets), simulated shape
unless ``--shape`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import yaml
from bench_workflow import NATIONAL_1Y, ensure_cohort
from export_shapes import SHAPES, shaped
from measure import Measurement, measure, print_rows

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())  # the shipped defaults
PYTHON = sys.executable
PL_EVAL = str(Path(PYTHON).with_name("pl-eval"))
TARGET_RATIO = 2.0
TARGET_START_SECONDS = 0.5
SETUP = """
import os
from pathlib import Path
os.environ.setdefault("PL_EVAL_KEY", "bench-key-16char")
from pl_eval import stages
"""
FLOOR = """
import glob
import pyarrow.csv
files = sorted(glob.glob({exports!r} + "/**/*.csv", recursive=True))
"""
#: The columns ingest needs from every test export, read as text and stacked, per engine.
ENGINES = {
    "pyarrow": (
        "from pl_eval import io",
        "io.read_raw_exports(requests)",
    ),
    "polars": (
        "import polars as pl",
        """pl.concat([pl.read_csv(r.file.path, columns=list(r.columns.values()),
            infer_schema=False, separator=r.file.delimiter) for r in requests],
            how="diagonal_relaxed").with_columns(pl.all().cast(pl.Categorical))""",
    ),
    "duckdb": (
        "import duckdb",
        """duckdb.sql("SELECT * FROM read_csv(" + repr([str(r.file.path) for r in requests])
            + ", all_varchar=true, union_by_name=true)").arrow()""",
    ),
}
REQUESTS = """
from pl_eval.ingest import layouts
from pl_eval import io
aliases = layouts.alias_table({{}})
requests = [
    found.request()
    for path, name in io.list_raw_files({raw!r})
    if layouts.ignored_by_extension(name) is None
    and isinstance(found := layouts.recognise(io.sniff_raw_file(path, name), aliases),
                   layouts.ExportFile)
    and found.kind in layouts.TEST_KINDS
]
"""


def analysis_ingest(name: str) -> dict:
    """Config ``ingest`` as analysis ``name`` runs it (its overrides merged in)."""
    from pl_eval.config import analysis_section

    return analysis_section(CONFIG, name, "ingest")


def stage_cases(raw: Path, out: Path) -> dict[str, str]:
    """Code per case: the floor, read_exports, and ingest under main and the variant."""
    outputs = "scores duplicates rejects schools".split()

    def ingest(name: str) -> str:
        paths = ", ".join(f"{o}=out / {name + '_' + o + '.parquet'!r}" for o in outputs)
        return (
            f"out = Path({str(out)!r})\n"
            f"stages.ingest(read_exports=out / 'read', {paths},"
            f" summary=out / {name + '_summary.json'!r}, settings={analysis_ingest(name)!r})"
        )

    return {
        "floor: pyarrow.csv.read_csv, every file whole": "for f in files: pyarrow.csv.read_csv(f)",
        "read_exports (parse, validate, type once)": (
            f"stages.read_exports(Path({str(raw)!r}), out=Path({str(out)!r}) / 'read',"
            f" settings={analysis_ingest('main')!r})"
        ),
        "ingest, main (screens the typed table)": ingest("main"),
        "ingest, no_rapid_guessing_screen": ingest("no_rapid_guessing_screen"),
    }


def one_shot_cases(raw: Path, out: Path) -> dict[str, str]:
    """The floor and ingest as main's workflow ran it before read_exports: from the CSVs in one
    process, once per analysis that changes ingest settings (``--one-shot``; runs on that
    code too, e.g. with PYTHONPATH set to an older checkout's src)."""
    outputs = "scores duplicates rejects schools summary".split()

    def ingest(name: str) -> str:
        paths = ", ".join(f"{o}=Path({str(out / (name + '_' + o))!r})" for o in outputs)
        return f"stages.ingest(Path({str(raw)!r}), {paths}, settings={analysis_ingest(name)!r})"

    return {
        "floor: pyarrow.csv.read_csv, every file whole": "for f in files: pyarrow.csv.read_csv(f)",
        "ingest from the CSVs, main": ingest("main"),
        "ingest from the CSVs, no_rapid_guessing_screen": ingest("no_rapid_guessing_screen"),
    }


def median_runs(case: str, code: str, setup: str, repeat: int) -> Measurement:
    runs = [measure(case, code, setup=setup) for _ in range(repeat)]
    return Measurement(
        case,
        statistics.median(m.seconds for m in runs),
        statistics.median(m.peak_mb for m in runs),
    )


def ingest_table(raw: Path, repeat: int, quick: bool, one_shot: bool) -> bool:
    """The side-by-side table; True when ingest is within the target ratio (or ``quick``)."""
    out = Path(tempfile.mkdtemp(prefix="pl_eval_bench_read_once_"))
    try:
        cases = (one_shot_cases if one_shot else stage_cases)(raw, out)
        setups = {case: SETUP for case in cases}
        floor_case = next(iter(cases))
        setups[floor_case] = FLOOR.format(exports=str(raw))
        runs: dict[str, list[Measurement]] = {case: [] for case in cases}
        for _ in range(repeat):  # in turns, so load changes hit every case alike
            for case, code in cases.items():
                runs[case].append(measure(case, code, setup=setups[case]))
                print(f"  {case}: {runs[case][-1].seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    medians = {
        case: Measurement(
            case,
            statistics.median(m.seconds for m in found),
            statistics.median(m.peak_mb for m in found),
        )
        for case, found in runs.items()
    }
    floor = medians[floor_case].seconds
    if one_shot:
        total = medians[list(cases)[1]]
    else:
        read, main = (medians[c] for c in list(cases)[1:3])
        total = Measurement(
            "ingest = read_exports + ingest main",
            read.seconds + main.seconds,
            max(read.peak_mb, main.peak_mb),
        )
    ratio = total.seconds / floor
    rows = [*medians.values()] + ([] if one_shot else [total])
    print_rows(
        ("case", "seconds", "x floor", "peak MB"),
        [
            (m.case, f"{m.seconds:.2f}", f"{m.seconds / floor:.2f}", f"{m.peak_mb:,.0f}")
            for m in rows
        ],
    )
    passed = quick or ratio <= TARGET_RATIO
    print(
        f"ingest / floor = {ratio:.2f} (target ≤ {TARGET_RATIO:g}): {'pass' if passed else 'MISS'};"
        f" medians of {repeat}"
    )
    return passed


def engine_table(raw: Path, repeat: int) -> None:
    """Reading the columns ingest needs, as text, stacked: per engine installed."""
    rows = []
    for engine, (imports, code) in ENGINES.items():
        try:
            __import__(engine)
        except ImportError:
            print(f"{engine}: not installed, skipped (pip install {engine} to compare it)")
            continue
        setup = REQUESTS.format(raw=str(raw)) + imports
        found = median_runs(engine, code, setup, repeat)
        rows.append((engine, f"{found.seconds:.2f}", f"{found.peak_mb:,.0f}"))
    print_rows(("engine: needed columns as text, stacked", "seconds", "peak MB"), rows)


def wall(command: list[str], repeat: int) -> float:
    """Median wall seconds of running ``command`` (output discarded)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: A job's imports before its stage does any work: the CLI, stages, and the stage's libraries.
STAGE_IMPORTS = {
    "ingest (pl_eval.ingest, pandera)": "stages.ingestion.schemas.RAW_TESTS",
    "build-panel (pl_eval.panel: norms, scipy.special)": "stages.panels.build_panel",
    "match (pl_eval.matching: scikit-learn, matplotlib)": "stages.matching.match_cohort",
    "estimate (pl_eval.estimation: statsmodels, scipy.stats)": (
        "stages.estimation.estimate_cohort; import pl_eval.estimation.cohort as c; "
        "c.stats.norm, c.linear_model.WLS, c.multitest.multipletests, c.weighting.STRATUM_COLUMN"
    ),
    "combine-estimates (pl_eval.estimation.cohort only)": "stages.estimation.combine_estimates",
    "growth-norms (pl_eval.estimation.growth_norms only)": "stages.growth_tables.growth_norms",
    "report (pl_eval.report: WeasyPrint, Jinja2)": "stages.reporting.render",
}
TABLE_FLOOR = "import pandas, pyarrow.parquet"


def startup_table(repeat: int) -> bool:
    """Start-up of pl-eval; True when both targets are met."""
    cases = [
        ("python -c pass", [PYTHON, "-c", "pass"], None),
        (TABLE_FLOOR, [PYTHON, "-c", TABLE_FLOOR], None),
        ("pl-eval --help", [PL_EVAL, "--help"], TARGET_START_SECONDS),
        (
            "a stage that does nothing (cli + stages)",
            [PYTHON, "-c", "from pl_eval import cli, stages"],
            TARGET_START_SECONDS,
        ),
    ] + [
        (f"imports of {stage}", [PYTHON, "-c", f"from pl_eval import cli, stages; {use}"], None)
        for stage, use in STAGE_IMPORTS.items()
    ]
    rows, passed, floor = [], True, None
    for case, command, target in cases:
        seconds = wall(command, repeat)
        floor = seconds if case == TABLE_FLOOR else floor
        ok = target is None or seconds < target
        passed &= ok
        verdict = "-" if target is None else ("pass" if ok else "MISS")
        limit = "-" if target is None else f"< {target:g} s"
        ratio = "-" if floor is None else f"{seconds / floor:.2f}"
        rows.append((case, f"{seconds:.2f}", ratio, limit, verdict))
    print_rows(("start-up", "seconds", "x floor", "target", "result"), rows)
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo-sized smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (medians shown)")
    parser.add_argument(
        "--one-shot", action="store_true", help="ingest from the CSVs per analysis, as before"
    )
    parser.add_argument("--startup", action="store_true", help="the start-up table only")
    parser.add_argument(
        "--shape",
        choices=["every", "simulated", *SHAPES],
        help="the exports as simulated, or reshaped as real ones come (export_shapes.py); "
        "default: every shape, or the simulated one with --quick",
    )
    parser.add_argument(
        "--keep-shapes",
        action="store_true",
        help="keep the shapes written for this run under data/raw for later runs",
    )
    args = parser.parse_args()
    if args.startup:
        return 0 if startup_table(max(args.repeat, 5)) else 1
    cohort = "demo" if args.quick else NATIONAL_1Y
    raw = ensure_cohort(cohort)
    os.chdir(ROOT)
    shape = args.shape or ("simulated" if args.quick else "every")
    ingest_ok = True
    for name in ["simulated", *SHAPES] if shape == "every" else [shape]:
        with (
            nullcontext(raw)
            if name == "simulated"
            else shaped(raw, name, keep=args.keep_shapes) as folder
        ):
            print(f"cohort {folder.name} ({name}): ingest against the floor, side by side")
            ingest_ok &= ingest_table(folder, args.repeat, args.quick, args.one_shot)
        print()
    if args.one_shot:
        return 0 if ingest_ok else 1
    engine_table(raw, args.repeat)
    print()
    start_ok = startup_table(max(args.repeat, 5))
    return 0 if (ingest_ok and (start_ok or args.quick)) else 1


if __name__ == "__main__":
    sys.exit(main())
