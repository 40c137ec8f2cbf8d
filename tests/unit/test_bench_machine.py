"""benchmarks/measure.py: the machine line `make bench` prints above its tables (timings and the
outputs' last bits follow the CPU and the numeric libraries, so a table is read beside the
machine it came from), and the make run arguments of the benchmarks that make their inputs."""

from __future__ import annotations

import builtins
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import measure  # noqa: E402


def test_machine_names_the_cpu_cores_memory_and_numeric_libraries():
    line = measure.machine()
    assert line.startswith(f"machine: {measure._cpu_model()}, {os.cpu_count()} cores, ")
    assert f"numpy {np.__version__} (SIMD " in line
    assert f"pyarrow {pa.__version__}" in line
    assert "\n" not in line


def test_cpu_model_without_proc_cpuinfo(monkeypatch):
    real_open = builtins.open

    def no_cpuinfo(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    monkeypatch.setattr(platform, "processor", lambda: "")
    assert measure._cpu_model() == (platform.machine() or "unknown CPU")


def test_make_run_arguments_give_snakemake_the_targets_and_the_cohort():
    """bench_estimate_stage makes its inputs by passing their paths as targets: after --config
    or --quiet, which take lists, Snakemake would read them as config items or refuse them as
    quietness levels (bench_balance passes none: the whole demo run)."""
    from snakemake.cli import get_argument_parser

    targets = ["data/processed/demo/main/matched_math.parquet", "data/processed/demo/x.csv"]
    parsed = get_argument_parser().parse_args(measure.make_run_arguments("demo", targets))
    assert parsed.targets == targets
    assert parsed.config == ["cohorts=[demo]"]
    assert parsed.cores == 2 and parsed.profile == ["profiles/default"]
    assert not get_argument_parser().parse_args(measure.make_run_arguments("demo")).targets
