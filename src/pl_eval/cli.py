"""The ``pl-eval`` command: one subcommand per workflow stage.

Snakemake rules call these subcommands, so this is where an input or configuration problem
becomes one readable line on stderr and a non-zero exit status instead of a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pl_eval.errors import ConfigError, InputError, NotReady, excerpt, os_error_line

log = logging.getLogger("pl_eval")


def _settings(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--settings must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def _config(text: str) -> Path | dict:
    """A report's configuration: the run's effective config as JSON (as the workflow passes
    it, --config overrides included), or a config file."""
    return _settings(text) if text.lstrip().startswith("{") else Path(text)


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import pl_eval

        print(f"pl-eval {pl_eval.__version__}")  # on stdout, as argparse's version action
        parser.exit()


def _chain_arguments(p: argparse.ArgumentParser, sections: tuple[str, ...]) -> None:
    """The subjects, per-subject and joined outputs of a one-job match -> estimate -> combine
    chain (year-analysis, sensitivity-analysis), and the settings of its config ``sections``."""
    p.add_argument("--subjects", nargs="+", required=True, help="subjects, in output order")
    per_subject = ("matched", "pairs", "propensity", "balance", "match-summary", "love-plot",
                   "overlap-plot", "subject-estimates", "subject-breakout-tests",
                   "subject-trajectories", "subject-school-trajectories")  # fmt: skip
    for name in per_subject:
        p.add_argument(f"--{name}", nargs="+", type=Path, required=True, help="one per subject")
    for name in ("estimates", "estimates-csv", "breakout-tests", "trajectory",
                 "school-trajectory", "summary"):  # fmt: skip
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output path")
    for name in sections:
        p.add_argument(
            f"--{name}-settings", type=_settings, default={}, help=f"config['{name}'] as JSON"
        )


def _panel_arguments(p: argparse.ArgumentParser, *, year_analysis: bool) -> None:
    """build-panel's inputs, outputs and school years; year-analysis, which builds its panel
    first, needs its school year and its lost students' file (optional for build-panel)."""
    for name in ("scores", "rejects", "schools"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"ingest's {name} parquet")
    for name in ("panel", "exclusions"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output path")
    p.add_argument(
        "--school-year", required=year_analysis, default=None,
        help="YYYY-YYYY of the fall tests" + ("" if year_analysis else "; default: the only one"),
    )  # fmt: skip
    p.add_argument(
        "--spring-year", default=None, help="YYYY-YYYY of the spring tests (a span); default: same"
    )
    p.add_argument(
        "--placebo", action="store_true",
        help="the pre-adoption placebo on --school-year: next year's adopters vs never-PL schools",
    )  # fmt: skip
    p.add_argument(
        "--lost-students", type=Path, required=year_analysis, default=None,
        help="output path of the lost students' baseline (parquet"
        + (")" if year_analysis else ", optional)"),
    )  # fmt: skip
    p.add_argument("--cohort", default=None, help="cohort name for messages (default: folder)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pl-eval",
        description="Matched-comparison achievement effects from NWEA MAP exports.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, stage: str, help: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        """A subcommand whose arguments are the parameters, by name, of the function ``stage``
        of :mod:`pl_eval.stages` (imported once a command runs: ``--help`` stays instant)."""
        p = sub.add_parser(name, help=help, description=help, aliases=list(aliases))
        p.add_argument("--log", type=Path, help="also write the log to this file")
        p.set_defaults(stage=stage)
        return p

    p = command(
        "simulate",
        "simulate",
        "Write a simulated cohort (NWEA exports, schools.csv, truth.json).",
    )
    p.add_argument("raw_dir", type=Path, help="cohort folder to write, e.g. data/raw/demo")
    p.add_argument("--size", choices=["demo", "national"], default="demo")
    p.add_argument("--seed", type=int, default=20141)
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply the preset's comparison schools"
    )
    p.add_argument(
        "--school-years",
        nargs="+",
        metavar="YYYY-YYYY",
        help="consecutive school years to simulate (default: the preset's three)",
    )

    p = command(
        "check-inputs",
        "check_inputs",
        "Check a cohort folder against the input contract (writes nothing); exit 0 when ready.",
        ["check_inputs"],
    )
    p.add_argument("cohort", help="cohort name (folder under --raw-root) or a folder path")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="config file")
    p.add_argument("--raw-root", type=Path, default=Path("data/raw"), help="folder of cohorts")

    p = command(
        "read-exports",
        "read_exports",
        "Read, validate and type a cohort's exports once, for ingest to screen.",
        ["read_exports"],
    )
    p.add_argument("raw_dir", type=Path, help="cohort folder, e.g. data/raw/2014-2015")
    p.add_argument("--out", type=Path, required=True, help="folder to write the typed tables to")
    p.add_argument("--settings", type=_settings, default={}, help="config['ingest'] as JSON")

    p = command(
        "ingest", "ingest", "Validate, normalise, screen and de-duplicate a cohort's exports."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "raw_dir", type=Path, nargs="?", help="cohort folder, e.g. data/raw/2014-2015"
    )
    source.add_argument(
        "--read-exports", type=Path, help="or the folder read-exports wrote for the cohort"
    )
    for name in ("scores", "duplicates", "rejects", "schools", "summary"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output path")
    p.add_argument("--settings", type=_settings, default={}, help="config['ingest'] as JSON")

    p = command(
        "build-panel",
        "build_panel",
        "Pair fall and spring tests per student and subject.",
        ["build_panel"],
    )
    _panel_arguments(p, year_analysis=False)
    p.add_argument("--settings", type=_settings, default={}, help="config['panel'] as JSON")

    p = command(
        "match-stratum",
        "match_stratum",
        "Match one stratum of match.strata (a grade band) into a part folder for match --parts.",
        ["match_stratum"],
    )
    p.add_argument("--panel", type=Path, required=True, help="build_panel's panel parquet")
    p.add_argument("--subject", choices=["math", "reading"], required=True)
    p.add_argument("--stratum", required=True, help="e.g. K-5, 6-8 or 9-12 (grade_band)")
    p.add_argument("--part", type=Path, required=True, help="part folder to write")
    p.add_argument("--settings", type=_settings, default={}, help="config['match'] as JSON")

    p = command("match", "match", "Build one subject's matched comparison group from the panel.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--panel", type=Path, help="build_panel's panel parquet")
    source.add_argument(
        "--parts",
        nargs="+",
        type=Path,
        default=[],
        help="match-stratum's part folders, one per stratum",
    )
    p.add_argument("--subject", choices=["math", "reading"], required=True)
    for name in (
        "matched",
        "pairs",
        "propensity",
        "balance",
        "summary",
        "love-plot",
        "overlap-plot",
    ):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output path")
    p.add_argument("--settings", type=_settings, default={}, help="config['match'] as JSON")

    p = command("estimate", "estimate", "Effect estimates from the matched samples.")
    p.add_argument("--subjects", nargs="+", required=True, help="subjects, in input order")
    for name in ("matched", "pairs"):
        p.add_argument(f"--{name}", nargs="+", type=Path, required=True, help=f"{name} per subject")
    for name in ("estimates", "breakout-tests", "trajectory"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} parquet output path")
    p.add_argument(
        "--school-trajectory", type=Path, default=None,
        help="each PL school's trajectory, parquet output path (optional)",
    )  # fmt: skip
    p.add_argument("--settings", type=_settings, default={}, help="config['estimate'] as JSON")

    p = command(
        "growth-norms",
        "growth_norms",
        "Growth against NWEA norms by arm: share met projected growth, mean CGP.",
    )
    p.add_argument("--panel", type=Path, required=True, help="build_panel's panel parquet")
    p.add_argument("--subjects", nargs="+", required=True, help="subjects, in input order")
    p.add_argument("--matched", nargs="+", type=Path, required=True, help="matched per subject")
    p.add_argument("--growth-norms", type=Path, required=True, help="growth_norms CSV output")
    p.add_argument("--settings", type=_settings, default={}, help="config['panel'] as JSON")

    p = command(
        "robustness",
        "robustness",
        "Sensitivity to an omitted confounder, and attrition with Lee bounds, of an analysis.",
    )
    p.add_argument("--subjects", nargs="+", required=True, help="subjects, in input order")
    for name in ("matched", "pairs"):
        p.add_argument(f"--{name}", nargs="+", type=Path, required=True, help=f"{name} per subject")
    for name in ("estimates", "panel", "lost-students", "exclusions"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} input path")
    for name in ("confounding", "attrition", "attrition-baseline", "lee-bounds"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} CSV output path")
    p.add_argument("--settings", type=_settings, default={}, help="config['estimate'] as JSON")

    p = command(
        "year-analysis",
        "year_analysis",
        "A one-year, span or placebo analysis in one job: panel, match, estimate, combine.",
        ["year_analysis"],
    )
    _panel_arguments(p, year_analysis=True)
    _chain_arguments(p, ("panel", "match", "estimate"))

    p = command(
        "sensitivity-analysis",
        "sensitivity_analysis",
        "A sensitivity analysis that matches on its own, in one job: match, estimate, combine.",
        ["sensitivity_analysis"],
    )
    p.add_argument("--panel", type=Path, required=True, help="build_panel's panel parquet")
    _chain_arguments(p, ("match", "estimate"))

    p = command(
        "combine-estimates",
        "combine_estimates",
        "Join per-subject estimate tables into the analysis's tables.",
    )
    for name in ("subject-estimates", "subject-breakout-tests", "subject-trajectories"):
        p.add_argument(f"--{name}", nargs="+", type=Path, required=True, help="one per subject")
    for name in ("estimates", "estimates-csv", "breakout-tests", "trajectory", "summary"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output path")
    p.add_argument(
        "--subject-school-trajectories", nargs="+", type=Path, default=[], help="one per subject"
    )
    p.add_argument(
        "--school-trajectory", type=Path, default=None, help="school_trajectory parquet output"
    )

    p = command("report", "report", "Write the funder report (HTML, PDF, figures, tables).")
    for name in ("estimates", "breakout-tests", "trajectory", "exclusions", "schools"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} input path")
    p.add_argument(
        "--school-trajectory", type=Path, default=None,
        help="each PL school's trajectory (parquet): with --school-pages",
    )  # fmt: skip
    p.add_argument(
        "--school-pages", type=Path, default=None,
        help="folder for one page per PL school (<school>.html, and .pdf with --pdf)",
    )  # fmt: skip
    p.add_argument("--config", type=_config, required=True, help="config as JSON, or its file")
    p.add_argument("--subjects", nargs="+", required=True, help="subjects, in input order")
    for name in ("balance", "match-summary", "propensity"):
        p.add_argument(f"--{name}", nargs="+", type=Path, required=True, help=f"{name} per subject")
    p.add_argument("--html", type=Path, required=True, help="report.html output path")
    p.add_argument("--pdf", type=Path, default=None, help="report.pdf output path (optional)")
    for name in ("figures", "tables"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output folder")
    p.add_argument("--suppression-log", type=Path, required=True, help="suppression log CSV")
    p.add_argument("--settings", type=_settings, default={}, help="config['report'] as JSON")
    p.add_argument("--title", default="Achievement effects of personalized-learning schools")
    p.add_argument("--run-time", default=None, help="shown in the provenance section")
    p.add_argument(
        "--analyses", nargs="+", default=[], help="analyses for the sensitivity section, main first"
    )
    p.add_argument(
        "--analysis-estimates", nargs="+", type=Path, default=[], help="estimates per analysis"
    )
    p.add_argument(
        "--year-analyses", nargs="+", default=[],
        help="a multi-year cohort's one-year, span and placebo analyses (<cohort>@...)",
    )  # fmt: skip
    p.add_argument(
        "--year-estimates",
        nargs="+",
        type=Path,
        default=[],
        help="main estimates per year analysis",
    )
    for name in ("confounding", "attrition", "attrition-baseline", "lee-bounds"):
        p.add_argument(f"--{name}", type=Path, default=None, help=f"robustness stage's {name} CSV")
    p.add_argument("--cohort", default=None, help="cohort name: its school_years entry")
    p.add_argument(
        "--ingest-summary", type=Path, default=None,
        help="the cohort's ingest_summary.json: the school year its exports hold",
    )  # fmt: skip
    p.add_argument(
        "--growth-norms", type=Path, default=None,
        help="growth-norms CSV: the growth-against-NWEA-norms section (optional)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=1,
        help="processes drawing the school pages and PDFs beside this one (the same files)",
    )  # fmt: skip

    p = command(
        "combined-report",
        "combined_report",
        "Write the combined report: every cohort's estimates side by side.",
        ["combined_report"],
    )
    p.add_argument("--cohorts", nargs="+", required=True, help="cohort names, in display order")
    p.add_argument(
        "--estimates", nargs="+", type=Path, required=True, help="main estimates per cohort"
    )
    p.add_argument("--school-years", nargs="+", default=[], help="YYYY-YYYY per cohort (optional)")
    p.add_argument(
        "--ingest-summaries", nargs="+", type=Path, default=[],
        help="ingest_summary.json per cohort: its school year when --school-years is not given",
    )  # fmt: skip
    p.add_argument(
        "--cohort-reports", nargs="+", type=Path, default=[],
        help="each cohort's report.html (default: ../<cohort>/report.html from --html)",
    )  # fmt: skip
    p.add_argument(
        "--schools", nargs="+", type=Path, default=[],
        help="schools.parquet per cohort: suppress as each cohort's report does",
    )  # fmt: skip
    p.add_argument("--config", type=_config, required=True, help="config as JSON, or its file")
    p.add_argument("--html", type=Path, required=True, help="report.html output path")
    p.add_argument("--pdf", type=Path, default=None, help="report.pdf output path (optional)")
    for name in ("figures", "tables"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} output folder")
    p.add_argument("--suppression-log", type=Path, required=True, help="suppression log CSV")
    p.add_argument("--settings", type=_settings, default={}, help="config['report'] as JSON")
    p.add_argument(
        "--title", default="Achievement effects of personalized-learning schools, by cohort"
    )
    p.add_argument("--run-time", default=None, help="shown in the provenance section")

    p = command(
        "validate",
        "validate",
        "Simulate and estimate many times; bias, RMSE and CI coverage against the truth.",
    )
    p.add_argument("out_dir", type=Path, nargs="?", default=Path("reports/validation"))
    p.add_argument("--reps", type=int, default=200, help="replications (default 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first replication")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--comparison-schools", type=int, default=100, help="per replication")
    p.add_argument("--workers", type=int, default=2, help="replications run in parallel")
    p.add_argument(
        "--no-gates", dest="gates", action="store_false",
        help="report coverage and bias without failing on the gates (for smoke runs)",
    )  # fmt: skip
    return parser


def _configure_logging(log_file: Path | None) -> None:
    """Messages go to stderr as plain lines and, with --log, to a file with timestamps."""
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[terminal], force=True)
    # WeasyPrint reports each layout step at INFO; the report's log needs only its problems.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    if log_file is not None:  # after the terminal: a log file that cannot be made is reported
        from pl_eval import io

        io.make_folder(log_file.parent)
        to_file = _LogFile(log_file, mode="w", encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger().addHandler(to_file)


class _LogFile(logging.FileHandler):
    """The --log file; when it cannot be written (a full disk), one warning on stderr and no
    more writes, instead of logging's traceback for every message."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        self.failed = True
        line = os_error_line(error) if isinstance(error, OSError) else str(error)
        print(f"pl-eval: warning: log file {line}; logging to it stopped", file=sys.stderr)


def _reported_errors() -> tuple[type[Exception], ...]:
    """The errors a stage reports as lines: input, configuration and readiness errors, and the
    matching and estimation errors once their modules are loaded (only then can they occur)."""
    loaded = [
        getattr(sys.modules[module], name)
        for module, name in (
            ("pl_eval.matching.errors", "MatchingError"),
            ("pl_eval.estimation.errors", "EstimationError"),
            ("pl_eval.estimation.validate", "GateMissed"),
        )
        if module in sys.modules
    ]
    return (InputError, ConfigError, NotReady, *loaded)


#: The variables that set the threads of the BLAS libraries numpy and scipy ship (OpenBLAS;
#: MKL, BLIS or Accelerate in other builds). Not OMP_NUM_THREADS: Snakemake sets it to a job's
#: ``threads``, and Arrow sizes its thread pool by it.
BLAS_THREADS = (
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


#: How this process's allocators keep the memory a stage frees, for its next allocations:
#: Arrow's buffers from the C library's malloc (not its bundled mimalloc), which keeps what is
#: freed below 2 GB at its heap's top and serves blocks under 1 GB from its heap, where freed
#: blocks are reused (glibc's default maps every block over 32 MB afresh and unmaps it once
#: freed). As environment variables, for the processes a stage starts; glibc reads its own
#: only at a process's start, so this one sets them with mallopt.
KEEP_FREED_MEMORY = {
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1),
}
#: mallopt's parameters for them (glibc's malloc.h).
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1}


#: The stages that keep freed memory (:func:`_keep_freed_memory`): read_exports, which parses
#: every export and goes through many times its peak in short-lived buffers. Its job runs
#: alone, first; every other job's higher resident memory would add to what jobs side by side
#: hold together (one-year national, all stages: 2,993 MB summed peak against 2,786-2,896).
KEEP_FREED_MEMORY_STAGES = {"read_exports"}


def _keep_freed_memory() -> None:
    """Let this process (and those it starts) reuse the memory it frees instead of giving it
    back to the system at once: memory a process touches for the first time costs system CPU
    to clear, and on a virtual machine that returns freed memory to its host (free page
    reporting) 1-2.5 s per GB. Reading the three-year national cohort's exports took 46-69 s
    (24-41 s of it system CPU) with the defaults, 37-44 s (14-20 s) with these, its peak 8%
    higher; the outputs are the same bytes. By hand because no library sets a process's own
    allocator; settings the caller made are kept."""
    import ctypes  # here: no other command needs it, and --help stays as quick as it was

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform == "linux" else None
    for name, value in KEEP_FREED_MEMORY.items():
        if name in os.environ:
            continue  # the caller's (glibc has read its own)
        os.environ[name] = value
        if mallopt is not None and name in _MALLOPT:  # glibc's (musl's does nothing)
            mallopt(_MALLOPT[name], int(value))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _configure_logging(args.log)
        if args.stage in KEEP_FREED_MEMORY_STAGES:
            _keep_freed_memory()
        # One BLAS thread, as Snakemake gives its jobs: the blocking of a threaded matrix
        # product changes its last bits, and outputs must not depend on the machine's cores.
        # Stages load numpy and scipy (each with its own BLAS) lazily, after any threadpool
        # limit taken here, which only reaches libraries already loaded; the variables reach
        # the rest as they load.
        os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))
        from threadpoolctl import threadpool_limits

        from pl_eval import stages

        stage: Callable[..., None] = getattr(stages, args.stage)
        wanted = inspect.signature(stage).parameters
        with threadpool_limits(limits=1):
            stage(**{k: v for k, v in vars(args).items() if k in wanted})
    except _reported_errors() as exc:
        for line in str(exc).splitlines():
            log.error("pl-eval %s: error: %s", args.command, line)
        return 1
    except OSError as exc:  # a file or folder the system refused: missing, full, read-only...
        log.error("pl-eval %s: error: %s", args.command, os_error_line(exc))
        return 1
    except MemoryError as exc:  # numpy's and Arrow's failed allocations are MemoryErrors too
        log.error(
            "pl-eval %s: error: out of memory (%s); no output is left half-written; free "
            "memory or run fewer jobs side by side (make run MEM_MB=N caps what the jobs use "
            "together, in MB), then run it again",
            args.command,
            excerpt(str(exc) or "an allocation failed"),
        )
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line and the shell's status for it, no traceback
        log.error(
            "pl-eval %s: interrupted; no output is left half-written (each is renamed into "
            "place whole), so run it again",
            args.command,
        )
        return 130
    return 0
