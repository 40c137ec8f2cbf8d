"""The simulated one-year national cohort reshaped as real exports come: wider, or in more files.

The simulator writes AssessmentResults with the 34 columns ingest and the analysis use; NWEA's
2020+ layout C has 143 (goals, Lexile and Quantile, projected proficiency, the other growth
windows). Districts also export per school and term, not per district: a national pool then
comes in about ten times as many files, each a tenth the size. Or the other way: one file
per kind and term, hundreds of megabytes each, or one per kind for the whole year. Rosters
saved by Excel on Windows are Windows-1252, with their accented names as single bytes. A data
warehouse writes each test's start as a timestamp in TestStartDate, or as an ISO 8601 one in
UTC ("2022-09-12T12:38:31Z") with no TestStartTime column. NWEA's Combined data file
(ComboStudentAssessment) puts each test's roster fields in its row, with no StudentsBySchool
export. Each shape is derived (untimed) from data/raw/national-1y into a sibling folder, with
the same students, tests and schools.csv, so ingest of each reads the same rows and only the
files differ.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: Layout C's columns the simulator does not write (nwea_formats.md 1.1), appended after its
#: own in this order (real exports interleave them; ingest finds columns by name).
WIDE_EXTRA = (
    [f"{w}{f}" for w in ("FallToFall", "FallToWinter", "WinterToWinter", "WinterToSpring",
                         "SpringToSpring")
     for f in ("ProjectedGrowth", "ObservedGrowth", "ObservedGrowthSE", "MetProjectedGrowth",
               "ConditionalGrowthIndex", "ConditionalGrowthPercentile", "GrowthQuintile")]
    + [f"{k}{p}" for k in ("Lexile", "Quantile") for p in ("Score", "Min", "Max")]
    + [f"Goal{g}{f}" for g in range(1, 9)
       for f in ("Name", "RitScore", "StdErr", "Range", "Adjective")]
    + [f"Typical{w}Growth" for w in ("FallToFall", "FallToWinter", "FallToSpring",
                                      "WinterToWinter", "WinterToSpring", "SpringToSpring")]
    + [f"ProjectedProficiency{k}{i}" for i in range(1, 11) for k in ("Study", "Level")]
    + [f"WIPreviousAY{s}" for s in ("Fall", "Winter", "Spring")]
)  # fmt: skip
WIDE_COLUMNS = 143


def derived(source: Path, shape: str) -> Path:
    """``source`` in ``shape`` (a :data:`SHAPES` key), written beside it the first time."""
    target = source.with_name(f"{source.name}-{shape}")
    if not (target / "schools.csv").exists():
        print(f"writing the {shape} shape of {source} into {target} (untimed) ...")
        shutil.rmtree(target, ignore_errors=True)
        _copy_reshaped(source, target, SHAPES[shape])
    return target


@contextmanager
def shaped(source: Path, shape: str, *, keep: bool) -> Iterator[Path]:
    """:func:`derived` for the duration; a copy written here is removed afterwards unless
    ``keep``, so that a benchmark run leaves no copies of the cohort behind (the shapes hold
    about 13 GB together; a copy already there, e.g. one kept before, stays)."""
    made = not (source.with_name(f"{source.name}-{shape}") / "schools.csv").exists()
    target = derived(source, shape)
    try:
        yield target
    finally:
        if made and not keep:
            shutil.rmtree(target, ignore_errors=True)


def _copy_reshaped(source: Path, target: Path, reshape: Callable[[Path, Path], None]) -> None:
    """Every file of ``source`` into ``target``; AssessmentResults and StudentsBySchool exports
    through ``reshape(file, folder)``; schools.csv last (it marks the copy complete)."""
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        out = target / file.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        if file.name.startswith(("AssessmentResults", "StudentsBySchool")):
            reshape(file, out.parent)
        elif file.name != "schools.csv":
            shutil.copy(file, out)
    shutil.copy(source / "schools.csv", target / "schools.csv")


def _widened(file: Path, folder: Path) -> None:
    """An AssessmentResults export with layout C's other columns after its own, filled as NWEA
    fills them: the growth fields of windows the test does not end empty, the rest plausible
    values varying by row; every field quoted, as the simulator quotes its own. Rosters as they
    are."""
    if not file.name.startswith("AssessmentResults"):
        shutil.copy(file, folder / file.name)
        return
    table = _as_text(file)
    header = table.column_names
    turn = np.arange(table.num_rows)
    goals = np.array(["Number and Operations", "Algebraic Thinking", "Geometry", "Literary Text"])
    levels = np.array(["Low", "LoAvg", "Avg", "HiAvg", "High", "Level 3", "Not On Track"])
    ranges = np.array(["191-200", "201-210", "211-220"])
    for i, name in enumerate(WIDE_EXTRA[: WIDE_COLUMNS - len(header)]):
        if name.startswith(("FallTo", "WinterTo", "SpringTo")):
            values = np.full(table.num_rows, "")
        elif name.endswith("Name"):
            values = goals[(turn + i) % len(goals)]
        elif name.endswith("Adjective") or "ProficiencyLevel" in name:
            values = levels[(turn + i) % len(levels)]
        elif name.endswith("Range"):
            values = ranges[(turn + i) % len(ranges)]
        else:
            values = (150 + (turn * 37 + i) % 110).astype(str)
        table = table.append_column(name, pa.array(values, pa.string()))
    pacsv.write_csv(table, folder / file.name)  # quotes every text field


def _as_text(file: Path) -> pa.Table:
    """Every column of an export as the text it holds (empty where empty), to write back."""
    with file.open(newline="") as src:
        header = next(csv.reader(src))
    return pacsv.read_csv(
        file,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False
        ),
    )


def _per_school(file: Path, folder: Path) -> None:
    """A district's export as one file per school, each line written as it was (quotes and
    all), named as districts name them: kind, district, school, term."""
    kind, _, rest = file.name.partition("_")
    district, term = rest.split("_", 1)  # the simulator's names: kind_district_Season_year.csv
    outs: dict[Path, BinaryIO] = {}
    with file.open("rb") as src:
        header = src.readline()
        column = next(csv.reader([header.decode()])).index("SchoolName")
        try:
            for line in src:
                school = next(csv.reader([line.decode()]))[column]
                slug = re.sub(r"[^a-z0-9]+", "-", school.lower()).strip("-")
                path = folder / f"{kind}_{district}_{slug}_{term}"
                if path not in outs:  # two names with one slug share the file, never overwrite
                    outs[path] = path.open("wb")
                    outs[path].write(header)
                outs[path].write(line)
        finally:
            for out in outs.values():
                out.close()


def _per_term(file: Path, folder: Path) -> None:
    """Every district's export of a kind and term appended to one file (header once), as NWEA's
    Data Export Scheduler writes a term: about 650 MB per AssessmentResults file."""
    kind, _, rest = file.name.partition("_")
    _append(file, folder / f"{kind}_{rest.split('_', 1)[1]}")


def _single(file: Path, folder: Path) -> None:
    """Every export of a kind appended to one file (header once), as a research pool may come:
    1.5 GB of AssessmentResults."""
    _append(file, folder / f"{file.name.partition('_')[0]}.csv")


def _append(file: Path, target: Path) -> None:
    """``file``'s rows appended to ``target``, with its header when ``target`` is new."""
    with file.open("rb") as src, target.open("ab") as out:
        header = src.readline()
        if not out.tell():
            out.write(header)
        shutil.copyfileobj(src, out)


#: The simulator's names as Spanish-speaking families write them.
ACCENTED = {
    unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode(): name
    for name in ("Álvarez", "Díaz", "García", "Gómez", "Hernández", "López", "Martínez", "Pérez",
                 "Ramírez", "Rodríguez", "Sánchez", "José", "Sofía")
}  # fmt: skip


def _windows(file: Path, folder: Path) -> None:
    """A roster as Excel on Windows saves it ("CSV (Comma delimited)", Windows-1252): the
    simulator's names accented, each accented letter one byte that is not UTF-8. Test
    exports linked as they are."""
    if file.name.startswith("AssessmentResults"):
        _link(file, folder)
        return
    data = file.read_bytes()
    for plain, accented in ACCENTED.items():
        data = data.replace(f'"{plain}"'.encode(), f'"{accented}"'.encode("cp1252"))
    (folder / file.name).write_bytes(data)


def _timestamps(file: Path, folder: Path) -> None:
    """An AssessmentResults export as a data warehouse writes it: TestStartDate holds the
    test's start, date and time ("9/12/2022 12:38:31"; millions of distinct cells where the
    simulator's have a few hundred), TestStartTime as it was. Rosters linked as they are."""
    if not file.name.startswith("AssessmentResults"):
        _link(file, folder)
        return
    table = _as_text(file)
    start = pc.binary_join_element_wise(table["TestStartDate"], table["TestStartTime"], " ")
    at = table.column_names.index("TestStartDate")
    pacsv.write_csv(table.set_column(at, "TestStartDate", start), folder / file.name)


def _iso_timestamps(file: Path, folder: Path) -> None:
    """An AssessmentResults export as a warehouse fed by an API writes it: TestStartDate an ISO
    8601 timestamp in UTC ("2022-09-12T12:38:31Z": a T between date and time, a zone after
    it), no TestStartTime column, so every test's time comes from its date cell. Rosters
    linked as they are."""
    if not file.name.startswith("AssessmentResults"):
        _link(file, folder)
        return
    table = _as_text(file)
    day = pc.strftime(pc.strptime(table["TestStartDate"], "%m/%d/%Y", "s"), "%Y-%m-%d")
    start = pc.binary_join_element_wise(day, "T", table["TestStartTime"], "Z", "")
    at = table.column_names.index("TestStartDate")
    table = table.set_column(at, "TestStartDate", start).drop_columns(["TestStartTime"])
    pacsv.write_csv(table, folder / file.name)


#: The roster's fields a Combined data file adds to each test row, after Student_StateID.
COMBINED_FIELDS = [
    "StudentLastName", "StudentFirstName", "StudentMI", "StudentDateOfBirth",
    "StudentEthnicGroup", "NWEAStandard_EthnicGroup", "StudentGender", "Grade",
    "NWEAStandard_Grade",
]  # fmt: skip


def _combined(file: Path, folder: Path) -> None:
    """A district's AssessmentResults and StudentsBySchool of a term as one Combined data file
    (ComboStudentAssessment): each test row with its student's roster fields (empty where the
    roster has no row for the student in that term and school), in the tests' order."""
    if not file.name.startswith("AssessmentResults"):
        return  # the roster: its fields go into the tests' rows
    tests = _as_text(file)
    roster = _as_text(file.with_name(file.name.replace("AssessmentResults", "StudentsBySchool")))
    keys = ["TermName", "DistrictName", "SchoolName", "StudentID"]
    joined = (
        tests.append_column("row", pa.array(np.arange(tests.num_rows)))
        .join(roster.select(keys + COMBINED_FIELDS), keys=keys, join_type="left outer")
        .sort_by("row")
    )
    if joined.num_rows != tests.num_rows:  # a student twice in a term's roster of one school
        raise ValueError(f"{file}: a test row joined more than one roster row")
    at = tests.column_names.index("Student_StateID") + 1
    order = tests.column_names[:at] + COMBINED_FIELDS + tests.column_names[at:]
    name = file.name.replace("AssessmentResults", "ComboStudentAssessment")
    pacsv.write_csv(joined.select(order), folder / name)


def _link(file: Path, folder: Path) -> None:
    """``file`` in ``folder`` as it is: a hard link (raw files are never written to), else a
    copy (another file system, or one without hard links)."""
    try:
        os.link(file, folder / file.name)
    except OSError:
        shutil.copy(file, folder / file.name)


SHAPES = {
    "wide": _widened,
    "per-school": _per_school,
    "per-term": _per_term,
    "single": _single,
    "windows": _windows,
    "timestamps": _timestamps,
    "iso-timestamps": _iso_timestamps,
    "combined": _combined,
}
