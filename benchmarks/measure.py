"""Wall time and peak memory of a piece of Python, measured in a fresh child process.

A fresh interpreter per case keeps one case's allocations out of another's peak (ru_maxrss is
a high-water mark for the whole process).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_HARNESS = """
import json, resource, time
{setup}
_start = time.perf_counter()
{code}
_seconds = time.perf_counter() - _start
print("@@MEASURE@@" + json.dumps({{
    "seconds": _seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""


@dataclass(frozen=True)
class Measurement:
    case: str
    seconds: float
    peak_mb: float
    target_seconds: float | None = None
    target_mb: float | None = None

    @property
    def passed(self) -> bool:
        return (self.target_seconds is None or self.seconds <= self.target_seconds) and (
            self.target_mb is None or self.peak_mb <= self.target_mb
        )


def measure(
    case: str,
    code: str,
    *,
    setup: str = "",
    target_seconds: float | None = None,
    target_mb: float | None = None,
) -> Measurement:
    """Run ``setup`` (untimed; counts toward peak memory) then ``code`` (timed) in a child."""
    script = _HARNESS.format(setup=textwrap.dedent(setup), code=textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark case {case!r} failed:\n{done.stderr}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("@@MEASURE@@"))
    result = json.loads(line.removeprefix("@@MEASURE@@"))
    return Measurement(case, result["seconds"], result["peak_mb"], target_seconds, target_mb)


def print_table(rows: list[Measurement]) -> None:
    """Print the measurements as an aligned table with targets and a verdict."""

    def target(value: float | None, unit: str) -> str:
        return "-" if value is None else f"≤ {value:g} {unit}"

    header = ("case", "seconds", "peak MB", "time target", "memory target", "result")
    body = [
        (
            m.case,
            f"{m.seconds:.2f}",
            f"{m.peak_mb:,.0f}",
            target(m.target_seconds, "s"),
            target(m.target_mb, "MB"),
            "pass" if m.passed else "MISS",
        )
        for m in rows
    ]
    print_rows(header, body)


def print_rows(header: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    """Print text rows as an aligned table under ``header`` and a rule of dashes."""
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *body):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def workflow_env() -> dict[str, str]:
    """The environment a benchmark runs Snakemake in: rules call ``pl-eval`` from PATH, the one
    beside this Python (make run puts .venv/bin first), with a pseudonymisation key."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PL_EVAL_KEY": os.environ.get("PL_EVAL_KEY", "bench-key-16char"),
    }


def make_run_arguments(cohort: str, targets: Sequence[str] = ()) -> list[str]:
    """workflow/run.py's arguments for ``cohort`` as ``make run`` passes them (profiles/default,
    2 cores, the small-machine memory cap), making ``targets`` (default: every output)."""
    # the targets first: --config and --quiet take lists, which would swallow them
    return [*targets, "--profile", "profiles/default", "--cores", "2",
            "--config", f"cohorts=[{cohort}]", "--resources", "mem_mb=2800", "--quiet"]  # fmt: skip


def make_outputs(cohort: str, targets: Sequence[str] = ()) -> None:
    """Make ``cohort``'s workflow outputs under this checkout's data/ as ``make run`` makes them:
    ``targets`` (paths relative to the checkout), or every output. Snakemake makes only what is
    missing. Its output (hundreds of lines) is kept out of the benchmark's table; on a failure
    its last lines are printed, and the outputs left missing are the caller's to report."""
    command = [sys.executable, "workflow/run.py", *make_run_arguments(cohort, targets)]
    done = subprocess.run(
        command, cwd=ROOT, env=workflow_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-20:])
        print(f"make run failed (exit {done.returncode}); its last lines:\n{tail}", file=sys.stderr)


def machine() -> str:
    """The machine and numeric libraries a benchmark ran on, in one line: timings compare only
    between like machines, and the outputs' last bits follow the vector instructions numpy and
    OpenBLAS choose for the CPU (the same inputs give the same bytes on one machine)."""
    import numpy as np
    import pandas as pd
    import psutil
    import pyarrow as pa
    from threadpoolctl import threadpool_info

    simd = np.show_config(mode="dicts").get("SIMD Extensions", {}).get("found") or ["baseline"]
    blas = next(
        (f"{i['internal_api']} {i.get('architecture') or ''}".strip() for i in threadpool_info()
         if i["user_api"] == "blas"),
        "no BLAS loaded",
    )  # fmt: skip
    return (
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GB; numpy {np.__version__} "
        f"(SIMD {' '.join(simd)}), {blas}, pandas {pd.__version__}, pyarrow {pa.__version__}"
    )


def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what Python's platform says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
