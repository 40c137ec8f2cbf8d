"""One path-in/path-out function per Snakemake rule; with io.py, the only code touching files.

Each stage reads through :mod:`pl_eval.io`, calls pure functions on DataFrames and writes its
outputs atomically, so a failed stage leaves nothing behind.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pl_eval
from pl_eval import io, lazy
from pl_eval.config import (
    SIMULATED_COHORTS,
    analysis_section,
    check_columns,
    check_config,
    missing_cohort,
)
from pl_eval.errors import ConfigError, InputError, NotReady

# Imported when a stage first uses them: a job pays only for its own stage's libraries (none
# before its stage starts, not even pandas).
pd = lazy.module("pandas")
ingestion = lazy.module("pl_eval.ingest")
nwea_norms = lazy.module("pl_eval.norms")
estimation = lazy.module("pl_eval.estimation")
matching = lazy.module("pl_eval.matching")
checks = lazy.module("pl_eval.check")
panels = lazy.module("pl_eval.panel")
windows = lazy.module("pl_eval.windows")
growth_tables = lazy.module("pl_eval.estimation.growth_norms")
reporting = lazy.module("pl_eval.report")
simulation = lazy.module("pl_eval.simulate")
multiyear = lazy.module("pl_eval.years")

log = logging.getLogger(__name__)


def simulate(
    raw_dir: Path,
    *,
    size: str,
    seed: int,
    scale: float = 1.0,
    school_years: Sequence[str] | None = None,
) -> None:
    """Write a simulated cohort into ``raw_dir`` as an evaluator would hand it over (``scale``
    multiplies the preset's comparison schools; ``school_years`` replaces its three years).

    NWEA exports go to ``raw_dir/exports/<YYYY-YYYY>/``, the school frame to
    ``raw_dir/schools.csv`` and the planted truth to ``raw_dir/truth.json`` (read by validation
    only, never by estimation).
    """
    settings = simulation.SimulationSettings.preset(
        size, seed, scale, None if not school_years else tuple(school_years)
    )
    _write_cohort(settings, Path(raw_dir))


def _norms(year: int) -> nwea_norms.Norms:
    """The shipped norms study ``year``, with its mean curves by instructional week (imported
    here: scipy is slow to import)."""
    return nwea_norms.Norms.from_frame(io.read_norms_table(), year, io.read_norms_week_means())


def _calendar(settings: dict) -> nwea_norms.SchoolCalendar | None:
    """The school calendar for norming each test at its instructional week (``panel.norms_week:
    test_date``, the default), or None for NWEA's default weeks of the season (``default``)."""
    if settings.get("norms_week", "test_date") == "default":
        return None
    return nwea_norms.SchoolCalendar.from_settings(settings.get("calendar", {}))


def _write_cohort(settings: simulation.SimulationSettings, raw_dir: Path) -> None:
    written = []

    def write(name: str, table) -> None:  # a pyarrow table of text
        io.write_delimited(table, raw_dir / "exports" / name)
        written.append(name)

    cohort = simulation.simulate_cohort(settings, _norms(2020), sink=write)
    log.info("simulate: %s; %d export files in %s", cohort.summary(), len(written), raw_dir)
    io.write_delimited(cohort.schools, raw_dir / "schools.csv")
    io.write_json(cohort.truth, raw_dir / "truth.json")


#: The files of a read_exports folder (the ``read_exports`` rule's outputs), by part.
READ_EXPORTS_FILES = {
    "tests": "tests.arrow",
    "roster_rejects": "roster_rejects.arrow",
    "schools": "schools.arrow",
    "files": "files.json",
}


def read_exports(raw_dir: Path, *, out: Path, settings: dict) -> None:
    """Read, validate and type a cohort folder's NWEA exports and schools.csv once, into the
    folder ``out`` (:data:`READ_EXPORTS_FILES`): typed, pseudonymous test rows that ingest
    screens and de-duplicates under each analysis's settings without reading the CSVs again.

    Every problem with the input is collected first and raised as one InputError (file, line,
    column, what was expected); nothing is written unless the whole folder reads cleanly.
    """
    exports = _read_exports(Path(raw_dir), ingestion.IngestSettings.from_dict(settings))
    paths = {part: Path(out) / name for part, name in READ_EXPORTS_FILES.items()}
    for part in ("tests", "roster_rejects", "schools"):
        io.write_arrow(getattr(exports, part), paths[part])
    io.write_json(
        {"files": exports.files, "ignored": exports.ignored, "unread": exports.unread},
        paths["files"],
    )


def _read_exports(raw_dir: Path, options: ingestion.IngestSettings) -> ingestion.ReadExports:
    """A cohort folder read and typed (InputError naming every problem)."""
    with _unzip_folder() as scratch:
        folder = _read_folder(raw_dir, options, scratch, progress=True)
    if folder.problems:  # file names relative to the cohort folder -> paths the evaluator can open
        raise InputError(folder.located_problems(raw_dir))
    for unread in folder.inventory.unread():  # check-inputs reports these as problems
        log.warning("ingest: %s not read: %s", raw_dir / unread.name, unread.reason)
    key = io.read_pseudonym_key()
    typed, inventory = ingestion.typed_inputs(folder.raw_inputs(), options), folder.inventory
    del folder  # the raw text: freed before the roster is joined and students pseudonymised
    return ingestion.read_exports(typed, inventory, options, key)


def _load_read_exports(folder: Path) -> ingestion.ReadExports:
    """The typed tables :func:`read_exports` wrote into ``folder``."""
    paths = {part: Path(folder) / name for part, name in READ_EXPORTS_FILES.items()}
    files = io.read_json(paths["files"])
    return ingestion.ReadExports(
        tests=io.read_arrow_table(paths["tests"]),
        roster_rejects=io.read_arrow_table(paths["roster_rejects"]),
        schools=io.read_arrow(paths["schools"]),
        files=files["files"],
        ignored=files["ignored"],
        unread=files["unread"],
    )


def ingest(
    raw_dir: Path | None = None,
    *,
    read_exports: Path | None = None,
    scores: Path,
    duplicates: Path,
    rejects: Path,
    schools: Path,
    summary: Path,
    settings: dict,
) -> None:
    """Screen and de-duplicate a cohort's typed exports; write clean, typed, pseudonymous data.

    The exports come from ``read_exports`` (the folder :func:`read_exports` wrote: the
    workflow reads each cohort once for all its analyses) or else are read from ``raw_dir``
    here. Bad input is one InputError naming every problem; nothing is written then.
    """
    options = ingestion.IngestSettings.from_dict(settings)
    if read_exports is not None:
        exports = _load_read_exports(Path(read_exports))
    else:
        exports = _read_exports(Path(raw_dir), options)
    result = ingestion.screen(exports, options)
    del exports
    counts = result.summary()
    log.info("ingest: %s", counts["totals"])
    io.write_parquet_text(result.duplicates, duplicates)
    io.write_parquet_text(result.rejects, rejects)
    io.write_parquet(result.schools, schools)
    tests, kept = result.tests, result.kept_rows
    del result  # duplicates and rejects freed before the scores' row groups are built
    io.write_parquet_text(tests, scores, rows=kept)
    io.write_json(counts, summary)


@contextmanager
def _unzip_folder() -> Iterator[Path]:
    """A temporary folder for the files of a cohort's .zip archives (:func:`_read_folder`),
    removed afterwards; where TMPDIR says (a cluster job's local disk)."""
    with tempfile.TemporaryDirectory(prefix="pl_eval_unzipped_") as scratch:
        yield Path(scratch)


def _read_folder(
    raw_dir: Path, options: ingestion.IngestSettings, scratch: Path, *, progress: bool = False
) -> ingestion.Folder:
    """Recognise, read and validate every file of a cohort folder, collecting every problem;
    ingest and check-inputs both read through here, so they check alike. The exports in a .zip
    are read too, extracted into ``scratch`` (the files' paths point there while it lasts).
    ``progress`` reports the files read (ingest's long step)."""
    unzipped = io.unzip_archives(
        io.list_raw_files(raw_dir),
        scratch,
        wanted=lambda name: ingestion.ignored_by_extension(name) is None,
    )
    problems = list(unzipped.problems)
    exports, ignored, failed = [], [], list(unzipped.failed)
    listed = unzipped.files
    skipped = [ingestion.ignored_by_extension(name) for _, name in listed]
    to_sniff = [file for file, skip in zip(listed, skipped, strict=True) if skip is None]
    sniffed = iter(io.sniff_raw_files(to_sniff))  # each file's header and encoding
    for (_, name), skip in zip(listed, skipped, strict=True):
        if skip is not None:
            ignored.append(skip)
            continue
        try:
            if isinstance(raw := next(sniffed), InputError):
                raise raw
            found = ingestion.recognise(raw, options.aliases)
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
            requests = [e.request() for e in inventory.of_kind(*kinds)]
            read[part] = io.read_raw_exports(requests, progress=progress)
        except InputError as exc:
            problems += exc.problems
        else:
            problems += ingestion.validate(part, read[part], inventory)
    problems += ingestion.district_problems(inventory, read, options.district_name)
    return ingestion.Folder(inventory, read, tuple(problems))


def check_inputs(
    cohort: str, *, config: Path = Path("config/config.yaml"), raw_root: Path = Path("data/raw")
) -> None:
    """Check a cohort folder against the input contract without writing anything.

    ``cohort`` names a folder under ``raw_root``, or is a path (anything with a "/"). The
    folder is read as ingest reads it, with ``config``'s ingest settings (column aliases) and
    its school year for the cohort. Raises :class:`NotReady` listing every problem; logs
    warnings, and the folder's summary when it is ready.
    """
    folder = _cohort_folder(cohort, Path(raw_root))
    settings = _load_config(Path(config))
    options = ingestion.IngestSettings.from_dict(settings["ingest"])
    entry = settings.get("school_years", {}).get(folder.name)
    years = multiyear.listed_years(entry) if entry is not None else ()
    with _unzip_folder() as scratch:
        read = _read_folder(folder, options, scratch)
        copies = io.same_bytes([export.raw for export in read.inventory.exports])
    result = checks.check_folder(str(folder), read, options, school_years=years, copies=copies)
    for line in result.warnings:
        log.warning("pl-eval check-inputs: warning: %s", line)
    if not result.ready:
        raise NotReady(result.problems)
    log.info("%s", result.summary())


def _cohort_folder(cohort: str, raw_root: Path) -> Path:
    """The folder of ``cohort``: itself when it is a path, else ``raw_root/cohort``, which must
    exist (a simulated cohort's folder exists once the workflow has simulated it)."""
    if "/" in cohort or os.sep in cohort or cohort in (".", ".."):
        return Path(cohort)
    folder = raw_root / cohort
    if folder.is_dir():
        return folder
    if cohort in SIMULATED_COHORTS:
        raise ConfigError(
            f"cohort {cohort!r} is simulated and {folder.as_posix()}/ is not there yet; "
            f"run `make run COHORT={cohort}` first, it simulates it"
        )
    raise ConfigError(f"cohort {missing_cohort(cohort, raw_root, SIMULATED_COHORTS)}")


def build_panel(
    *,
    scores: Path,
    rejects: Path,
    schools: Path,
    panel: Path,
    exclusions: Path,
    settings: dict,
    school_year: str | None = None,
    spring_year: str | None = None,
    placebo: bool = False,
    lost_students: Path | None = None,
    cohort: str | None = None,
) -> None:
    """Pair fall and spring tests per student × subject; write the panel and its sample flow
    (and, given ``lost_students``, the baseline of the students lost by the spring).

    Fall tests of ``school_year``, spring tests of ``spring_year`` (default the same: a span
    when later). With ``placebo``, the pre-adoption placebo on ``school_year``: schools
    adopting PL the next year against never-PL schools, every other school's students
    excluded and counted (:func:`pl_eval.years.placebo_schools`).

    A cohort without a kept fall or spring test is one InputError naming the missing term:
    nothing can be paired, and an empty panel would only fail later, less clearly. With
    another ``panel.window`` the window's two terms are checked, and the message names
    ``cohort`` (default: the scores' folder) and the window; a span is always fall to spring.
    """
    if placebo and (school_year is None or spring_year not in (None, school_year)):
        raise ConfigError("build_panel: a placebo takes one --school-year and no later spring")
    norms = _norms(settings.get("norms_year", 2020))
    window = windows.Window.named(settings.get("window"))
    columns = _score_columns(scores, window)
    coded = [c for c in columns if c in panels.CATEGORICAL_COLUMNS]
    # The text columns of every row first (the categories, the terms held, the exposure), the
    # measures of the window's rows only later: a multi-year cohort's other terms are never
    # decoded (a span of the three-year national study held 2.7 GB with every row's).
    table = io.read_parquet_table(scores, columns=coded, categories=coded)
    tests = panels.held_terms(table)  # the checks below look at the terms the scores hold
    table, categories = panels.category_codes(table)
    io.release_memory()  # the table as read
    if window.name != windows.DEFAULT and spring_year not in (None, school_year):
        raise ConfigError(
            f"panel.window {window.name}: a span (fall {school_year} to spring {spring_year}) "
            "is always fall to spring; set the window in an analysis variant instead"
        )
    year = school_year
    if window.name != windows.DEFAULT:
        year = panels.school_year_of(tests, school_year)
        if missing := windows.missing_terms(tests, window, year):
            name = cohort or Path(scores).parent.name
            raise ConfigError(windows.missing_terms_message(name, window, missing, tests))
    elif len(panels.missing_seasons(tests, year)) < 2:  # some fall or spring test: its year
        year = panels.school_year_of(tests, school_year)
    if window.name == windows.DEFAULT and (
        missing := panels.missing_seasons(tests, year, spring_year)
    ):
        terms = (
            ""
            if year is None
            else f" of {year}"
            + (f" (fall) and {spring_year} (spring)" if spring_year not in (None, year) else "")
        )
        raise InputError.at(
            scores,
            f"fall and spring tests{terms} to pair (add the missing term's exports to the "
            "cohort folder; rejected tests: rejects.parquet)",
            found=f"no kept {' or '.join(missing)} test of math or reading",
        )
    frame = io.read_parquet(schools)
    fall = None if year is None else multiyear.fall_year(year)
    terms = window.terms(year, spring_year)
    # One subject at a time (when each has both terms): a national panel's pairs, built in
    # pandas, would need twice the memory at once; each part is kept as Arrow once built.
    parts = panels.subject_parts(tests, terms, categories["subject"])
    facts = multiyear.placebo_schools(frame, fall) if placebo else frame
    exposed = multiyear.exposure(
        panels.exposure_history(table, spring_year or year, categories), facts, spring_year or year
    )  # counted once for every part, before the parts' tests are taken
    rows = panels.in_window(table, terms, categories)
    table = table.filter(rows)  # every row's text: the window's only from here on
    io.release_memory()
    measures = io.read_parquet_rows(scores, [c for c in columns if c not in coded], rows)
    table = panels.with_measures(table, measures, columns)
    del measures, rows
    paired = [panels.window_tests(table, terms, categories, subjects) for subjects in parts]
    del table  # the window's rows of the scores: the panel needs only these frames of them
    io.release_memory()
    rejected = io.read_parquet(
        rejects, columns=panels.REJECT_COLUMNS, categories=panels.CATEGORICAL_COLUMNS
    )
    flows, tables = [], []
    for subjects in parts:
        part = panels.build_panel(
            paired.pop(0),  # its only reference: build_panel lets it go once paired
            facts,
            norms,
            rejects=rejected[rejected["subject"].isin(subjects)],
            school_year=year,
            spring_year=spring_year,
            calendar=_calendar(settings),
            window=window.name,
            exposed=exposed,
        )
        if placebo:
            part = multiyear.placebo_panel(part, frame, fall)
        tables.append(io.parquet_table(part.data))
        flows.append(replace(part, data=part.data.head(0).copy()))  # its rows: in tables
        del part
        io.release_memory()
    result = panels.combine(flows)
    rows = sum(part.num_rows for part in tables)
    log.info("build_panel: %s%s", "placebo: " if placebo else "", result.summary(rows))
    io.write_parquet_tables(tables, panel)
    io.write_csv(result.exclusions, exclusions)
    if lost_students is not None:
        io.write_parquet(result.lost_students, lost_students)


def _score_columns(scores: Path, window: windows.Window) -> list[str]:
    """The scores' columns the panel reads: NWEA's growth fields of the ``window`` only, and
    only where ingest kept them (scores written before it did have none; the panel's growth
    columns are then empty)."""
    growth = set(ingestion.growth.COLUMNS)
    present = set(io.parquet_columns(scores))
    slot = f"{window.growth_slot}_"
    return [
        c for c in panels.SCORE_COLUMNS if c not in growth or (c in present and c.startswith(slot))
    ]


def match(
    *,
    subject: str,
    matched: Path,
    pairs: Path,
    propensity: Path,
    balance: Path,
    summary: Path,
    love_plot: Path | None,
    overlap_plot: Path | None,
    settings: dict,
    panel: Path | None = None,
    parts: Sequence[Path] = (),
) -> None:
    """Build one subject's matched comparison group; write it with balance and match rates.

    From ``panel``; or, with ``match.strata``, from the ``parts`` folders that
    :func:`match_stratum` wrote, one per stratum (the workflow's fan-out), merged as a run
    from ``panel`` merges the strata it matches in turn, so both write the same files. Every
    file is written also when nobody could be matched: the tables are then empty and the
    summary's ``note`` and ``unmatched_by_reason`` say why. A figure whose path is None is
    not drawn (:func:`validate`'s replications, which read none: drawing them and importing
    matplotlib were a fifth of validate's CPU).
    """
    if (panel is None) == (not parts):
        raise ConfigError("match: give either --panel or --parts (one folder per stratum)")
    if parts:
        config = matching.MatchConfig.from_config(settings)
        result = matching.merge_parts(subject, [_read_part(Path(p)) for p in parts], config)
    else:
        check_columns("match", settings, io.parquet_columns(panel))
        data = io.read_parquet(panel, where=("subject", subject))  # the subject's rows only
        result = matching.match_cohort(data, subject, matching.MatchConfig.from_config(settings))
    log.info("%s", result.summary())
    io.write_parquet(result.matched, matched)
    io.write_parquet(result.pairs, pairs)
    io.write_parquet(result.propensity_scores(), propensity)
    io.write_csv(result.balance.to_frame(), balance)
    io.write_json(result.to_dict(), summary)
    if love_plot is not None:
        io.save_figure(matching.love_plot(result.balance), love_plot)
    if overlap_plot is not None:
        io.save_figure(result.overlap_plot(), overlap_plot)


#: The files of a match part folder: its tables, and its counts and settings (JSON).
PART_TABLES = ("matched", "pairs", "participants", "schools")
PART_SUMMARY = "part.json"


def match_stratum(*, panel: Path, subject: str, stratum: str, part: Path, settings: dict) -> None:
    """Match one stratum of ``match.strata`` (e.g. grade band "K-5") on its own; write the part
    folder that :func:`match` merges with the other strata's (one Snakemake job per stratum)."""
    data = io.read_parquet(panel, where=("subject", subject))  # the subject's rows only
    check_columns("match", settings, data.columns)
    config = matching.MatchConfig.from_config(settings)
    result = matching.match_stratum(data, subject, stratum, config)
    log.info("%s", result.summary["log"])
    for name in PART_TABLES:
        io.write_parquet(getattr(result, name), Path(part) / f"{name}.parquet")
    io.write_json(result.summary, Path(part) / PART_SUMMARY)


def _read_part(folder: Path) -> matching.MatchPart:
    """A part folder that :func:`match_stratum` wrote."""
    if not (folder / PART_SUMMARY).is_file():
        raise ConfigError(
            f"{folder}: not a match part folder (no {PART_SUMMARY}); pl-eval match-stratum "
            "writes them"
        )
    return matching.MatchPart(
        **{name: io.read_parquet(folder / f"{name}.parquet") for name in PART_TABLES},
        summary=io.read_json(folder / PART_SUMMARY),
    )


def estimate(
    *,
    subjects: list[str],
    matched: list[Path],
    pairs: list[Path],
    estimates: Path,
    breakout_tests: Path,
    trajectory: Path,
    settings: dict,
    school_trajectory: Path | None = None,
) -> None:
    """Pooled, school, breakout and trajectory estimates from each subject's matched sample,
    and each PL school's trajectory (for its school page) when ``school_trajectory`` is given.

    The workflow runs one job per subject; :func:`combine_estimates` joins their tables.
    """
    columns = [io.parquet_columns(m) for m in matched]  # from the footers: no data yet
    for present in columns:
        check_columns("estimate", settings, present)
    config = estimation.EstimateConfig.from_config(settings)
    wanted = estimation.sample_columns(config)  # only these are read: half the memory
    samples = {
        subject: (
            io.read_parquet(m, columns=[c for c in wanted if c in present]),
            io.read_parquet(p),
        )
        for subject, m, p, present in zip(subjects, matched, pairs, columns, strict=True)
    }
    result = estimation.estimate_cohort(samples, config)
    log.info("%s", result.summary())
    io.write_parquet(result.estimates, estimates)
    io.write_parquet(result.tests, breakout_tests)
    io.write_parquet(result.trajectory, trajectory)
    if school_trajectory is not None:
        io.write_parquet(result.school_trajectory, school_trajectory)


def growth_norms(
    *, panel: Path, subjects: list[str], matched: list[Path], growth_norms: Path, settings: dict
) -> None:
    """Growth against NWEA's norms by arm (:mod:`pl_eval.estimation.growth_norms`): share who
    met their projected growth and mean CGP of PL and comparison students, matched (weighted)
    and unmatched, per subject; ``settings`` is config ``panel`` (its window)."""
    wanted = ["subject", "treated", "weight", *growth_tables.FIELDS]

    def read(path: Path) -> pd.DataFrame:
        present = set(io.parquet_columns(path))
        return io.read_parquet(path, columns=[c for c in wanted if c in present])

    _check_named_files("--subjects", subjects, "--matched", matched)
    table = growth_tables.growth_norms(
        read(panel),
        {s: read(m) for s, m in zip(subjects, matched, strict=True)},
        windows.Window.named(settings.get("window")).name,
    )
    log.info("growth_norms: %s", growth_tables.summary(table))
    io.write_csv(table, growth_norms)


def combine_estimates(
    *,
    subject_estimates: list[Path],
    subject_breakout_tests: list[Path],
    subject_trajectories: list[Path],
    estimates: Path,
    estimates_csv: Path,
    breakout_tests: Path,
    trajectory: Path,
    summary: Path,
    subject_school_trajectories: Sequence[Path] = (),
    school_trajectory: Path | None = None,
) -> None:
    """One analysis's tables from its per-subject estimate jobs: the same bytes as one job
    estimating every subject would give. ``school_trajectory`` joins the subjects'
    ``subject_school_trajectories`` (one per subject, when given)."""
    if school_trajectory is not None and len(subject_school_trajectories) != len(subject_estimates):
        raise ConfigError(
            f"--subject-school-trajectories gives {len(subject_school_trajectories)} files for "
            f"the {len(subject_estimates)} of --subject-estimates; expected one per subject"
        )
    schools = [{"school_trajectory": io.read_parquet(p)} for p in subject_school_trajectories]
    result = estimation.combine_estimates(
        [
            estimation.CohortEstimates(
                estimates=io.read_parquet(e),
                tests=io.read_parquet(t),
                trajectory=io.read_parquet(j),
                **(schools[i] if schools else {}),
            )
            for i, (e, t, j) in enumerate(
                zip(subject_estimates, subject_breakout_tests, subject_trajectories, strict=True)
            )
        ]
    )
    log.info("%s", result.summary())
    io.write_parquet(result.estimates, estimates)
    io.write_csv(result.estimates, estimates_csv)
    io.write_csv(result.tests, breakout_tests)
    io.write_csv(result.trajectory, trajectory)
    if school_trajectory is not None:
        io.write_parquet(result.school_trajectory, school_trajectory)
    io.write_text(result.summary() + "\n", summary)


def year_analysis(
    *,
    scores: Path,
    rejects: Path,
    schools: Path,
    panel: Path,
    exclusions: Path,
    lost_students: Path,
    panel_settings: dict,
    school_year: str,
    spring_year: str | None = None,
    placebo: bool = False,
    cohort: str | None = None,
    subjects: list[str],
    matched: list[Path],
    pairs: list[Path],
    propensity: list[Path],
    balance: list[Path],
    match_summary: list[Path],
    love_plot: list[Path],
    overlap_plot: list[Path],
    subject_estimates: list[Path],
    subject_breakout_tests: list[Path],
    subject_trajectories: list[Path],
    subject_school_trajectories: list[Path],
    estimates: Path,
    estimates_csv: Path,
    breakout_tests: Path,
    trajectory: Path,
    school_trajectory: Path,
    summary: Path,
    match_settings: dict,
    estimate_settings: dict,
) -> None:
    """A multi-year cohort's one-year, span or placebo analysis in one process: its
    :func:`build_panel` (from the cohort's one ingest), each subject's :func:`match` and
    :func:`estimate`, then :func:`combine_estimates`, writing the same files as those stages'
    separate jobs (the lists follow ``subjects``). The demo's seven such analyses have small
    panels: one job each instead of six spares the workflow 35 processes' start-up."""
    chain = {
        "subjects": subjects, "matched": matched, "pairs": pairs, "propensity": propensity,
        "balance": balance, "match_summary": match_summary, "love_plot": love_plot,
        "overlap_plot": overlap_plot, "subject_estimates": subject_estimates,
        "subject_breakout_tests": subject_breakout_tests,
        "subject_trajectories": subject_trajectories,
        "subject_school_trajectories": subject_school_trajectories, "estimates": estimates,
        "estimates_csv": estimates_csv, "breakout_tests": breakout_tests,
        "trajectory": trajectory, "school_trajectory": school_trajectory, "summary": summary,
        "match_settings": match_settings, "estimate_settings": estimate_settings,
    }  # fmt: skip
    _check_chain_files(chain)  # before the panel is built
    build_panel(
        scores=scores, rejects=rejects, schools=schools, panel=panel, exclusions=exclusions,
        lost_students=lost_students, settings=panel_settings, school_year=school_year,
        spring_year=spring_year, placebo=placebo, cohort=cohort,
    )  # fmt: skip
    sensitivity_analysis(panel=panel, **chain)


def sensitivity_analysis(
    *,
    panel: Path,
    subjects: list[str],
    matched: list[Path],
    pairs: list[Path],
    propensity: list[Path],
    balance: list[Path],
    match_summary: list[Path],
    love_plot: list[Path],
    overlap_plot: list[Path],
    subject_estimates: list[Path],
    subject_breakout_tests: list[Path],
    subject_trajectories: list[Path],
    subject_school_trajectories: list[Path],
    estimates: Path,
    estimates_csv: Path,
    breakout_tests: Path,
    trajectory: Path,
    school_trajectory: Path,
    summary: Path,
    match_settings: dict,
    estimate_settings: dict,
) -> None:
    """A sensitivity analysis that matches on its own (config ``analyses``) in one process:
    each subject's :func:`match` on ``panel`` and :func:`estimate`, then
    :func:`combine_estimates`, writing the same files as those stages' separate jobs (the
    lists follow ``subjects``). One job per analysis instead of five spares the national
    workflow 20 processes' start-up (about 1.3 CPU s of imports each)."""
    _check_chain_files(locals())  # the arguments: nothing else is bound yet
    for i, subject in enumerate(subjects):
        match(
            panel=panel, subject=subject, matched=matched[i], pairs=pairs[i],
            propensity=propensity[i], balance=balance[i], summary=match_summary[i],
            love_plot=love_plot[i], overlap_plot=overlap_plot[i], settings=match_settings,
        )  # fmt: skip
        estimate(
            subjects=[subject], matched=[matched[i]], pairs=[pairs[i]],
            estimates=subject_estimates[i], breakout_tests=subject_breakout_tests[i],
            trajectory=subject_trajectories[i], settings=estimate_settings,
            school_trajectory=subject_school_trajectories[i],
        )  # fmt: skip
    combine_estimates(
        subject_estimates=subject_estimates,
        subject_breakout_tests=subject_breakout_tests,
        subject_trajectories=subject_trajectories,
        subject_school_trajectories=subject_school_trajectories,
        estimates=estimates,
        estimates_csv=estimates_csv,
        breakout_tests=breakout_tests,
        trajectory=trajectory,
        school_trajectory=school_trajectory,
        summary=summary,
    )


def robustness(
    *,
    subjects: list[str],
    matched: list[Path],
    pairs: list[Path],
    estimates: Path,
    panel: Path,
    lost_students: Path,
    exclusions: Path,
    confounding: Path,
    attrition: Path,
    attrition_baseline: Path,
    lee_bounds: Path,
    settings: dict,
) -> None:
    """What a skeptical reader asks of an analysis's estimates: how strong an omitted
    confounder would have to be to move them (``confounding``), and how many students were
    lost by the spring, who they were and what that could do to the pooled effect
    (``attrition``, ``attrition_baseline``, ``lee_bounds``)."""
    samples = {
        subject: (io.read_parquet(m), io.read_parquet(p))
        for subject, m, p in zip(subjects, matched, pairs, strict=True)
    }
    config = estimation.EstimateConfig.from_config(settings)
    effects = io.read_parquet(estimates)
    flow = pd.read_csv(exclusions)
    flow = flow[flow["subject"].isin(subjects)]
    rates = estimation.attrition.attrition_rates(flow)
    kept = io.read_parquet(
        panel, columns=["subject", "treated", "district", "school", "fall_z", "frl_pct"]
    )
    lost = io.read_parquet(lost_students)
    counts = estimation.attrition.school_counts(kept, lost)
    io.write_csv(estimation.sensitivity.confounding(samples, effects, config), confounding)
    io.write_csv(rates, attrition)
    io.write_csv(
        estimation.attrition.lost_vs_kept(
            kept[kept["subject"].isin(subjects)], lost[lost["subject"].isin(subjects)]
        ),
        attrition_baseline,
    )
    io.write_csv(
        estimation.attrition.lee_table(samples, effects, rates, config, counts), lee_bounds
    )
    log.info("robustness: %s", "; ".join(
        f"{r.subject} attrition {r.overall_rate:.1%} overall, differential {r.differential:.1%}"
        f" ({r.wwc_attrition} under the WWC {r.boundary} boundary)"
        for r in rates.itertuples()
    ))  # fmt: skip


def validate(
    out_dir: Path,
    *,
    reps: int,
    seed: int,
    config: Path,
    comparison_schools: int = 100,
    workers: int = 2,
    gates: bool = True,
) -> None:
    """Simulate, ingest, pair, match and estimate ``reps`` times; compare with the truth.

    Each replication is a demo cohort with seed ``seed + rep`` (``comparison_schools``
    comparison schools, to keep it quick; school effects drawn afresh, not re-centred), run
    through the same stage functions as the workflow with the analysis settings of ``config``.
    A warning the replications give is logged once, with how many of them gave it.
    Writes ``validation.csv`` (bias, RMSE, 95% CI coverage and the gate per subject and scope),
    ``comparisons.parquet`` and ``summary.txt``; then, with ``gates``, raises
    :class:`~pl_eval.estimation.GateMissed` when any subject × scope missed its gate.
    """
    settings = _load_config(Path(config))
    jobs = [(seed + rep, rep, settings, comparison_schools) for rep in range(reps)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_quiet_worker) as pool:
        replications = []
        for done, replication in enumerate(pool.map(_recorded_replicate, jobs), start=1):
            replications.append(replication)
            log.info("validate: %d of %d replications done", done, reps)
    warned = Counter(message for r in replications for message in r.warnings)
    for message, count in sorted(warned.items()):
        log.warning("%d of %d replications warned: %s", count, reps, message)
    comparisons = [r.comparison for r in replications]
    result = estimation.summarise_validation(pd.concat(comparisons, ignore_index=True))
    log.info("%s", result.summary())
    io.write_csv(result.table, Path(out_dir) / "validation.csv")
    io.write_parquet(result.comparisons, Path(out_dir) / "comparisons.parquet")
    io.write_text(result.summary() + "\n", Path(out_dir) / "summary.txt")
    if gates:
        result.check_gates()


def _quiet_worker() -> None:
    """Replications log only problems: their stages' reports would drown the progress lines."""
    logging.getLogger("pl_eval").setLevel(logging.WARNING)
    warnings.simplefilter("ignore", matching.MatchingWarning)


def _load_config(path: Path) -> dict:
    """config.yaml checked against the schema beside it, with the schema's defaults filled in."""
    settings = io.read_yaml(path)
    schema = path.parent / "schema.yaml"
    check_config(settings, io.read_yaml(schema), source=str(path))
    from snakemake.utils import validate  # Snakemake takes 0.7 s to import: here only

    validate(settings, str(schema))  # fills defaults, as the Snakefile does
    return settings


@dataclass(frozen=True)
class _Replication:
    """A validation replication's estimates beside their truth, and the warnings it gave."""

    comparison: pd.DataFrame
    warnings: frozenset[str]


def _recorded_replicate(job: tuple[int, int, dict, int]) -> _Replication:
    """:func:`_replicate`, its warnings kept for one count per message over the replications.
    Printed as they came, the same few (a breakout's grade dropped as collinear) came again in
    replication after replication, the ``catch_warnings`` blocks of the estimation code
    resetting Python's once-per-place registry: hundreds of lines among the progress lines."""
    with warnings.catch_warnings(record=True) as caught:
        comparison = _replicate(job)
    messages = frozenset(f"{w.category.__name__}: {w.message}" for w in caught)
    return _Replication(comparison, messages)


def _replicate(job: tuple[int, int, dict, int]) -> pd.DataFrame:
    """One validation replication in a scratch folder: the estimates beside their truth."""
    seed, rep, config, comparison_schools = job
    with tempfile.TemporaryDirectory(prefix=f"pl_eval_validate_{rep}_") as scratch:
        raw, out = Path(scratch) / "raw", Path(scratch) / "processed"
        settings = replace(
            simulation.SimulationSettings.preset("demo", seed),
            n_comparison_schools=comparison_schools,
            recentre_school_effects=False,  # schools vary between replications, as sampled
            school_years=("2022-2023",),  # one year: every planted effect is its school's
        )
        _write_cohort(settings, raw)

        def at(name: str) -> Path:
            return out / name

        ingest(
            raw,
            **{k: at(f"{k}.parquet") for k in ("scores", "duplicates", "rejects", "schools")},
            summary=at("ingest_summary.json"),
            settings=config["ingest"],
        )
        build_panel(
            **{k: at(f"{k}.parquet") for k in ("scores", "rejects", "schools", "panel")},
            exclusions=at("exclusions.csv"),
            settings=config["panel"],
        )
        subjects = ["math", "reading"]
        for subject in subjects:
            match(
                panel=at("panel.parquet"),
                subject=subject,
                matched=at(f"matched_{subject}.parquet"),
                pairs=at(f"pairs_{subject}.parquet"),
                propensity=at(f"propensity_{subject}.parquet"),
                balance=at(f"balance_{subject}.csv"),
                summary=at(f"match_summary_{subject}.json"),
                love_plot=None,
                overlap_plot=None,
                settings=config["match"],
            )
        estimate(
            subjects=subjects,
            matched=[at(f"matched_{s}.parquet") for s in subjects],
            pairs=[at(f"pairs_{s}.parquet") for s in subjects],
            estimates=at("estimates.parquet"),
            breakout_tests=at("breakout_tests.parquet"),
            trajectory=at("trajectory.parquet"),
            settings=analysis_section(config, "main", "estimate"),
        )
        return estimation.compare_to_truth(
            io.read_parquet(out / "estimates.parquet"),
            io.read_json(raw / "truth.json"),
            rep,
            {s: io.read_parquet(at(f"matched_{s}.parquet")) for s in subjects},
        )


def report(
    *,
    estimates: Path,
    breakout_tests: Path,
    trajectory: Path,
    exclusions: Path,
    schools: Path,
    subjects: list[str],
    balance: list[Path],
    match_summary: list[Path],
    propensity: list[Path],
    config: Path | dict,
    html: Path,
    figures: Path,
    tables: Path,
    suppression_log: Path,
    settings: dict,
    pdf: Path | None = None,
    title: str = "Achievement effects of personalized-learning schools",
    run_time: str | None = None,
    analyses: Sequence[str] = (),
    analysis_estimates: Sequence[Path] = (),
    confounding: Path | None = None,
    attrition: Path | None = None,
    attrition_baseline: Path | None = None,
    lee_bounds: Path | None = None,
    cohort: str | None = None,
    ingest_summary: Path | None = None,
    school_trajectory: Path | None = None,
    school_pages: Path | None = None,
    growth_norms: Path | None = None,
    year_analyses: Sequence[str] = (),
    year_estimates: Sequence[Path] = (),
    workers: int = 1,
) -> None:
    """The funder report: HTML page, its PDF, figures (PNG, SVG), tables (CSV), suppression log,
    and with ``school_pages`` (a folder) one page per PL school, ``<slug>.html`` (and ``.pdf``
    with ``pdf``), whose counts (``school_trajectory``'s among them) are suppressed with the
    report's (``settings['school_pages']['name_others']``: name the other schools on them).

    The PDF (written when ``pdf`` is given) is rendered from the same HTML.
    ``run_time`` is shown in the provenance section when given; left out, the report is
    byte-identical across reruns of the same inputs. ``analyses`` (with each one's
    ``analysis_estimates``, in the same order; "main" among them) adds the sensitivity section;
    ``estimates`` stays the main specification's. The robustness stage's tables of the main
    analysis (``confounding``; ``attrition`` with ``attrition_baseline`` and ``lee_bounds``)
    add the sections on unobserved confounding and attrition. The brief names the school year:
    ``cohort``'s entry in the configuration's ``school_years``, else the one its
    ``ingest_summary`` found (neither: "one school year"). ``growth_norms`` (the growth_norms
    stage's CSV) adds the section on growth against NWEA's norms. A multi-year cohort's other
    analyses (``year_analyses``, with each one's ``year_estimates``) add the section on several
    school years. ``workers`` processes (the report rule's threads) draw the school pages and
    render the PDFs while this one writes the figures and tables: the same files for any number.
    """
    _check_named_files("--analyses", analyses, "--analysis-estimates", analysis_estimates)
    _check_named_files("--year-analyses", year_analyses, "--year-estimates", year_estimates)
    inputs = [estimates, breakout_tests, trajectory, exclusions, schools, *balance, *match_summary]
    inputs += [*propensity, *analysis_estimates, *year_estimates]
    checks = {
        "confounding": confounding, "attrition": attrition,
        "attrition_baseline": attrition_baseline, "lee_bounds": lee_bounds,
    }  # fmt: skip
    inputs += [p for p in checks.values() if p is not None]
    inputs += [school_trajectory] if school_trajectory is not None else []
    inputs += [growth_norms] if growth_norms is not None else []
    settings_used, config_input = _run_config(config)
    loaded = reporting.ReportInputs(
        estimates=io.read_parquet(estimates),
        tests=pd.read_csv(breakout_tests),
        trajectory=pd.read_csv(trajectory),
        exclusions=pd.read_csv(exclusions),
        balance={s: pd.read_csv(p) for s, p in zip(subjects, balance, strict=True)},
        match_summaries={s: io.read_json(p) for s, p in zip(subjects, match_summary, strict=True)},
        propensity={s: io.read_parquet(p) for s, p in zip(subjects, propensity, strict=True)},
        schools=io.read_parquet(schools),
        config=settings_used,
        provenance=_provenance(inputs, run_time, config_input),
        analyses={a: io.read_parquet(p) for a, p in zip(analyses, analysis_estimates, strict=True)},
        **{name: None if p is None else pd.read_csv(p) for name, p in checks.items()},
        school_year=multiyear.main_year((settings_used.get("school_years") or {}).get(cohort))
        or (
            None if ingest_summary is None else _analysed_school_year(io.read_json(ingest_summary))
        ),
        school_trajectory=None if school_trajectory is None else io.read_parquet(school_trajectory),
        growth_norms=None if growth_norms is None else pd.read_csv(growth_norms),
        years={a: io.read_parquet(p) for a, p in zip(year_analyses, year_estimates, strict=True)},
    )
    with _render_pool(workers) as pool:  # its workers start while the report is built
        result = reporting.build_report(
            loaded,
            min_n=int(settings.get("min_n", 10)),
            title=title,
            round_to=int(settings.get("round_counts_to", 5)),
            pages=None if school_pages is None else _school_links(Path(html), Path(school_pages)),
            name_others=bool((settings.get("school_pages") or {}).get("name_others", False)),
        )
        tasks = [] if pdf is None else [(io.write_pdf, result.html, pdf)]
        if school_pages is not None:
            folder = Path(school_pages)
            folder.mkdir(parents=True, exist_ok=True)  # a cohort without PL schools
            tasks += [(_write_school_page, p, folder, pdf is not None) for p in result.school_pages]
        started = [pool.submit(*task) for task in tasks] if pool else []
        _write_report(result, html, None, figures, tables, suppression_log)
        for function, *args in [] if pool else tasks:
            function(*args)
        for future in started:
            future.result()  # a worker's error, raised here


#: What the report's worker processes import once, in the server they are forked from.
RENDER_MODULES = [
    "pl_eval.stages",
    "pl_eval.report",
    "matplotlib.backends.backend_agg",
    "weasyprint",
]


@contextmanager
def _render_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """``workers`` processes for the report's PDFs and school pages (None: this one alone).

    They fork from a server process that imports the report's libraries once, while this one
    builds the report; forking this process itself would copy it mid-flight, with threads
    (pyarrow's, BLAS's) whose locks the children would inherit in any state.

    The first worker is started from a thread: starting one waits until the server has imported
    RENDER_MODULES (1-2 s, a core's worth of idle time on the report's critical path when this
    process waited). Each worker freezes the garbage collector's view of what it inherited
    (``gc.freeze``, as Python's documentation advises after a fork): those modules live as long
    as the worker, and the full collections that a page's figures set off walked them every
    time (half of the workers' collection time, 5% of their CPU)."""
    if workers < 2 or "forkserver" not in multiprocessing.get_all_start_methods():
        yield None
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(RENDER_MODULES)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=gc.freeze) as pool:
        starter = threading.Thread(target=pool.submit, args=(int,), name="start-render-pool")
        starter.start()  # the server starts now, not once the report is built
        try:
            yield pool
        finally:
            starter.join()


def _write_school_page(plan: reporting.school_pages.PagePlan, folder: Path, pdf: bool) -> None:
    """Draw one school's page and write it, ``<slug>.html`` (and ``.pdf``), into ``folder``."""
    page = reporting.draw_school_page(plan)
    io.write_text(page.html, folder / f"{page.slug}.html")
    if pdf:
        io.write_pdf(page.html, folder / f"{page.slug}.pdf")


def _school_links(html: Path, folder: Path) -> reporting.SchoolLinks:
    """The school pages' folder from the report, and the report from the pages, as URLs."""

    def href(target: Path, start: Path) -> str:
        return quote(Path(os.path.relpath(target, start)).as_posix())

    return reporting.SchoolLinks(folder=href(folder, html.parent), report=href(html, folder))


def combined_report(
    *,
    cohorts: Sequence[str],
    estimates: Sequence[Path],
    config: Path | dict,
    html: Path,
    tables: Path,
    figures: Path,
    suppression_log: Path,
    settings: dict,
    school_years: Sequence[str] = (),
    ingest_summaries: Sequence[Path] = (),
    cohort_reports: Sequence[Path] = (),
    schools: Sequence[Path] = (),
    pdf: Path | None = None,
    title: str = "Achievement effects of personalized-learning schools, by cohort",
    run_time: str | None = None,
) -> None:
    """The combined report: every cohort's main estimates side by side, linked to its report.

    ``estimates`` and the optional ``school_years``, ``ingest_summaries`` and ``cohort_reports``
    follow ``cohorts``' order. Without ``school_years`` a cohort's year comes from the
    configuration's ``school_years``, else from the terms its ingest summary found (else a
    dash); without ``cohort_reports`` each cohort's report is taken to
    be ``<cohort>/report.html`` beside the combined report's folder (reports/<cohort>/). Links
    are relative, so the reports folder can be moved or shared whole.
    """
    _check_named_files("--cohorts", cohorts, "--estimates", estimates)
    optional = (
        ("--school-years", school_years),
        ("--ingest-summaries", ingest_summaries),
        ("--cohort-reports", cohort_reports),
        ("--schools", schools),
    )
    for flag, values in optional:
        if values:
            _check_named_files("--cohorts", cohorts, flag, values)
    settings_file, config_input = _run_config(config)
    found = {
        c: year
        for c, p in zip(cohorts, ingest_summaries, strict=False)
        if (year := _analysed_school_year(io.read_json(p))) is not None
    }
    configured = settings_file.get("school_years") or {}
    years = dict(zip(cohorts, school_years, strict=True)) if school_years else {
        c: multiyear.main_year(configured[c]) if c in configured else found[c]
        for c in cohorts if c in configured or c in found
    }  # fmt: skip
    pages = cohort_reports or [Path(html).parent.parent / c / "report.html" for c in cohorts]
    here = Path(html).parent
    loaded = reporting.CombinedInputs(
        estimates={c: io.read_parquet(p) for c, p in zip(cohorts, estimates, strict=True)},
        school_years=years,
        links={
            c: "/".join(quote(part, safe="") for part in Path(os.path.relpath(p, here)).parts)
            for c, p in zip(cohorts, pages, strict=True)
        },
        config=settings_file,
        provenance=_provenance([*estimates, *schools], run_time, config_input),
        schools={c: io.read_parquet(p) for c, p in zip(cohorts, schools, strict=True)}
        if schools
        else {},
    )
    result = reporting.build_combined_report(
        loaded,
        min_n=int(settings.get("min_n", 10)),
        title=title,
        round_to=int(settings.get("round_counts_to", 5)),
    )
    _write_report(result, html, pdf, figures, tables, suppression_log)


def _analysed_school_year(ingest_summary: dict) -> str | None:
    """The school year the panel takes from the terms an ingest summary found ("Fall
    2022-2023", ...), by the panel's own rule; None when that rule cannot tell which."""
    terms = ingestion.parse.terms(pd.Series(list(ingest_summary.get("terms", {})), dtype="str"))
    try:
        return panels.school_year_of(terms)
    except ConfigError:
        return None


#: The per-subject file lists of :func:`sensitivity_analysis` (and so of year_analysis).
_CHAIN_FILES = (
    "matched", "pairs", "propensity", "balance", "match_summary", "love_plot", "overlap_plot",
    "subject_estimates", "subject_breakout_tests", "subject_trajectories",
    "subject_school_trajectories",
)  # fmt: skip


def _check_chain_files(arguments: dict) -> None:
    """Each per-subject file list of a one-job chain names one file per subject, in order."""
    for name in _CHAIN_FILES:
        flag = "--" + name.replace("_", "-")
        _check_named_files("--subjects", arguments["subjects"], flag, arguments[name])


def _check_named_files(
    names_flag: str, names: Sequence[str], files_flag: str, files: Sequence
) -> None:
    """Names and their files must pair up one to one, each name once."""
    if len(names) != len(files):
        raise ConfigError(
            f"{files_flag} gives {len(files)} values for the {len(names)} names of {names_flag}; "
            f"expected one per name, in the same order"
        )
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ConfigError(f"{names_flag} names {', '.join(repeated)} more than once")


def _run_config(config: Path | dict) -> tuple[dict, tuple[str, str]]:
    """The configuration a report describes, and its provenance entry (name, SHA-256): the
    workflow passes the effective config (--config overrides included) rather than the file."""
    if isinstance(config, dict):
        text = json.dumps(config, sort_keys=True).encode()
        return config, ("configuration (effective, as JSON)", hashlib.sha256(text).hexdigest())
    return io.read_yaml(config), (str(config), io.sha256(config))


def _provenance(inputs: Sequence[Path], run_time: str | None, config: tuple[str, str]) -> dict:
    """Input hashes (each file once, in order, then the config), version, commit and the
    optional run time."""
    return {
        "inputs": [(str(p), io.sha256(p)) for p in dict.fromkeys(map(Path, inputs))] + [config],
        "version": pl_eval.__version__,  # looked up here: importlib.metadata costs every job
        "git_commit": io.git_commit(),
        "run_time": run_time,
    }


def _write_report(
    result: reporting.Report,
    html: Path,
    pdf: Path | None,
    figures: Path,
    tables: Path,
    suppression_log: Path,
) -> None:
    """A report's page, its PDF (when asked), figures as SVG and PNG, tables and the log."""
    log.info("%s", result.summary())
    for name, table in result.tables.items():
        io.write_csv(table, Path(tables) / f"{name}.csv")
    for name, figure in result.figures.items():
        io.save_figure(figure, Path(figures) / f"{name}.svg")
        io.save_figure(figure, Path(figures) / f"{name}.png")
    io.write_csv(result.suppression_log, suppression_log)
    io.write_text(result.html, html)
    if pdf is not None:
        io.write_pdf(result.html, pdf)
