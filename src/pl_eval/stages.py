"""One path-in/path-out function per Snakemake rule; with io.py, the only code touching files.

Each stage reads through :mod:`pl_eval.io`, calls pure functions on DataFrames and writes its
outputs atomically, so a failed stage leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from pl_eval import ingest as ingestion
from pl_eval import io, matching
from pl_eval import panel as panels
from pl_eval import simulate as simulation
from pl_eval.errors import InputError
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


def ingest(
    raw_dir: Path,
    *,
    scores: Path,
    duplicates: Path,
    rejects: Path,
    schools: Path,
    summary: Path,
    settings: dict,
) -> None:
    """Read a cohort folder's NWEA exports and schools.csv; write clean, typed, pseudonymous data.

    Every problem with the input is collected first and raised as one InputError (file, line,
    column, what was expected); nothing is written unless the whole folder reads cleanly.
    """
    options = ingestion.IngestSettings.from_dict(settings)
    problems = []
    exports, ignored, failed = [], [], []
    for path, name in io.list_raw_files(raw_dir):
        if (skipped := ingestion.ignored_by_extension(name)) is not None:
            ignored.append(skipped)
            continue
        try:
            found = ingestion.recognise(io.sniff_raw_file(path, name), options.aliases)
        except InputError as exc:
            problems += exc.problems
            failed.append(name)
            continue
        (exports if isinstance(found, ingestion.ExportFile) else ignored).append(found)
    inventory = ingestion.Inventory(tuple(exports), tuple(ignored), tuple(failed))
    problems += inventory.problems()

    read = {}
    for part, kinds in ingestion.pipeline.PARTS.items():
        try:
            read[part] = io.read_raw_exports([e.request() for e in inventory.of_kind(*kinds)])
        except InputError as exc:
            problems += exc.problems
        else:
            problems += ingestion.validate(part, read[part], inventory)
    if problems:  # file names relative to the cohort folder -> paths the evaluator can open
        raise InputError([replace(p, file=str(Path(raw_dir) / p.file)) for p in problems])

    key = io.read_pseudonym_key()
    result = ingestion.build(ingestion.RawInputs(**read), inventory, options, key)
    del read  # free the raw text before the writers make their own copies
    log.info("ingest: %s", result.summary()["totals"])
    io.write_parquet_text(result.scores, scores)
    io.write_parquet_text(result.duplicates, duplicates)
    io.write_parquet_text(result.rejects, rejects)
    io.write_parquet(result.schools, schools)
    io.write_json(result.summary(), summary)


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
        io.read_parquet(
            scores, columns=panels.SCORE_COLUMNS, categories=panels.CATEGORICAL_COLUMNS
        ),
        io.read_parquet(schools),
        norms,
        rejects=io.read_parquet(
            rejects, columns=panels.REJECT_COLUMNS, categories=panels.CATEGORICAL_COLUMNS
        ),
        school_year=school_year,
    )
    log.info("build_panel: %s", result.summary())
    io.write_parquet(result.data, panel)
    io.write_csv(result.exclusions, exclusions)


def match(
    *,
    panel: Path,
    subject: str,
    matched: Path,
    balance: Path,
    summary: Path,
    love_plot: Path,
    overlap_plot: Path,
    settings: dict,
) -> None:
    """Build one subject's matched comparison group; write it with balance and match rates."""
    result = matching.match_cohort(
        io.read_parquet(panel), subject, matching.MatchConfig.from_config(settings)
    )
    log.info("%s", result.summary())
    io.write_parquet(result.matched, matched)
    io.write_csv(result.balance.to_frame(), balance)
    io.write_json(result.to_dict(), summary)
    io.save_figure(matching.love_plot(result.balance), love_plot)
    io.save_figure(matching.overlap_plot(result.balance), overlap_plot)
