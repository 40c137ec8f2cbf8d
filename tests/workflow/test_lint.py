"""``make lint``'s checks, which ``make test`` (and so CI) would otherwise never run: ruff finds
nothing to fix or reformat, and Snakemake's own linter finds nothing in the workflow (its
test for rules and functions mixed in one .smk is a regular expression, so a comment such
as "the rule writes for it: ..." counts as a rule)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ["src", "tests", "benchmarks", "workflow/run.py"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PYTHON],
        ["ruff", "format", "--check", *PYTHON],
        ["snakemake", "--lint"],
    ],
    ids=["ruff check", "ruff format", "snakemake lint"],
)
def test_make_lint_finds_nothing(command):
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
