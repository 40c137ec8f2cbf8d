"""One path-in/path-out function per Snakemake rule; the only place besides io.py that touches files.

Each stage reads through :mod:`pl_eval.io`, calls pure functions on DataFrames and writes its
outputs atomically, so a failed stage leaves nothing behind.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pl_eval import io
from pl_eval import panel as panels
from pl_eval import simulate as simulation
from pl_eval.norms import Norms

log = logging.getLogger(__name__)


def simulate(raw_dir: Path, *, size: str, seed: int) -> None:
    """Write a simulated cohort into ``raw_dir`` as an evaluator would hand it over.

    NWEA exports go to ``raw_dir/exports/``, the school frame to ``raw_dir/schools.csv`` and
    the planted truth to ``raw_dir/truth.json`` (read by validation only, never by estimation).
    """
    raw_dir = Path(raw_dir)
    settings = simulation.SimulationSettings.preset(size, seed)
    cohort = simulation.simulate_cohort(settings, Norms.from_frame(io.read_norms_table(), 2020))
    for name, table in sorted(cohort.exports.items()):
        io.write_delimited(table, raw_dir / "exports" / name)
    log.info("simulate: wrote %d export files to %s", len(cohort.exports), raw_dir / "exports")
    io.write_delimited(cohort.schools, raw_dir / "schools.csv")
    io.write_json(cohort.truth, raw_dir / "truth.json")


def build_panel(
    *,
    scores: Path,
    rejects: Path,
    schools: Path,
    panel: Path,
    exclusions: Path,
    settings: dict,
    school_year: str | None = None,
) -> None:
    """Pair fall and spring tests per student × subject; write the panel and its sample flow."""
    norms = Norms.from_frame(io.read_norms_table(), settings.get("norms_year", 2020))
    result = panels.build_panel(
        io.read_parquet(scores),
        io.read_parquet(schools),
        norms,
        rejects=io.read_parquet(rejects),
        school_year=school_year,
    )
    log.info("build_panel: %s", result.summary())
    io.write_parquet(result.data, panel)
    io.write_csv(result.exclusions, exclusions)
