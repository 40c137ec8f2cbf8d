"""Hostile cells: any value in any cell an export or schools.csv holds, and any bytes anywhere
in them, end, in ingest and in check-inputs, in outputs with every row accounted for or in one
clear line per problem.

The hand-made cohort (tests/data/ingest/cohort: every layout, a Latin-1 and a tab-delimited
export, a roster, schools.csv) has a few of its cells replaced by values Hypothesis draws:
spreadsheet errors and formulas (formula text ="S1001" too), missing-value markers, numbers
out of range or in other notations (a decimal comma), dates and terms that are almost right,
names in other cases and blanks, delimiters, quotes and line breaks, control and invisible
characters, other scripts and arbitrary text. Or bytes are inserted into its files: an open
quote, a cut line, NUL, a byte of no encoding, a byte-order mark mid-file. The property tests
of whole cohorts (tests/property) generate odd cohorts of well-formed cells; this one, odd
cells and broken files, and zips of the cohort's exports with bytes changed.
"""

from __future__ import annotations

import csv
import io as text_io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pl_eval import io, stages
from pl_eval.errors import InputError, NotReady

COHORT = Path(__file__).parents[1] / "data" / "ingest" / "cohort"
SETTINGS = {"column_aliases": {}, "screens": {}}
OUTPUTS = ("scores", "duplicates", "rejects", "schools")
#: Longest line a clean error may print: one problem, with a short excerpt of the cell.
MAX_LINE = 400
#: check-inputs' last line, after its problems.
NOT_READY = re.compile(r"[0-9,]+ problems?; the folder is not ready")
#: Values that real exports, spreadsheets and databases put in cells, or that break parsers.
NASTY = [
    "", " ", "NULL", "#N/A", "#VALUE!", "#REF!", "=1+1", "=cmd|' /C calc'!A0", "+1", "-1",
    "@SUM(A1)", "1e308", "-0", "nan", "inf", "1.23457E+11", "0x1F", "\u0661\u0662\u0663",
    "\u200b", "\ufeff", "Pen\u0303a", "<script>alert(1)</script>", 'a"b', "a,b", "a\tb",
    "line\nbreak", "\r", "x" * 5000, "9/31/2014", "2/29/2015", "2014-02-29", "13/13/2014",
    "15-Sep-14", "25:00", "9:61", "Fall 2014-2016", "Spring 2015", "Fall 2014-15", "K", "PK",
    "Grade 13", "3rd", "1.5", "999999999999999999999", "TRUE", "maybe", "Mathematics",
    "Science", "Algebra 1", "USER", "101%", "S1001", "Lincoln Elementary", "Riverside USD",
    '="S1001"', '="', '=""', "3,2", "1,234,5", "15.09.2014", "31.02.2014", "a;b", "a|b", "Math",
    "Math K", "LINCOLN  ELEMENTARY", "riverside usd", "\u200bS1001", "Total: 3 rows",
]  # fmt: skip
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))


def exports() -> list[tuple[str, str, str, str]]:
    """(name, encoding, delimiter, line ending) of each file ingest reads in the cohort."""
    found = []
    for path in sorted(COHORT.rglob("*")):
        name = path.relative_to(COHORT).as_posix()
        if path.suffix not in (".csv", ".txt") or not path.name.startswith(
            ("AssessmentResults", "StudentsBySchool", "ComboStudent", "schools")
        ):
            continue
        data = path.read_bytes()
        encoding = "utf-8" if _decodes(data, "utf-8") else "cp1252"
        ending = "\r\n" if b"\r\n" in data else "\n"
        found.append((name, encoding, "\t" if path.suffix == ".txt" else ",", ending))
    return found


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


FILES = exports()


@st.composite
def edits(draw) -> list[tuple[int, float, float, str]]:
    """1-4 cells to replace: (file, row and column as fractions of the file's, value)."""
    unit = st.floats(0, 1, exclude_max=True)
    cell = st.tuples(st.integers(0, len(FILES) - 1), unit, unit, VALUES)
    return draw(st.lists(cell, min_size=1, max_size=4))


def write_cohort(folder: Path, cells: list[tuple[int, float, float, str]]) -> None:
    """The cohort, copied into ``folder``, with ``cells`` replaced (a header name included:
    row 0 is the header); a value a Latin-1 file cannot hold is written as "?"."""
    shutil.copytree(COHORT, folder)
    for index in sorted({c[0] for c in cells}):
        name, encoding, delimiter, ending = FILES[index]
        path = folder / name
        rows = list(
            csv.reader(text_io.StringIO(path.read_bytes().decode(encoding)), delimiter=delimiter)
        )
        for _, row_at, column_at, value in (c for c in cells if c[0] == index):
            row = rows[int(row_at * len(rows))]
            if row:  # a blank line stays blank
                row[int(column_at * len(row))] = value
        out = text_io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=ending).writerows(rows)
        path.write_bytes(out.getvalue().encode(encoding, errors="replace"))


#: Bytes that break a delimited file: quotes, delimiters, line ends, NUL, bytes of no single
#: encoding (a lone UTF-8 lead byte, Latin-1's ÿ), byte-order marks (UTF-8's, UTF-16's).
BYTES = st.lists(
    st.sampled_from(
        [
            b'"',
            b",",
            b"\t",
            b";",
            b"|",
            b"\r",
            b"\n",
            b"\x00",
            b"\xc3",
            b"\xff",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"x",
        ]
    ),
    min_size=1,
    max_size=4,
).map(b"".join)


@st.composite
def insertions(draw) -> list[tuple[int, float, bytes]]:
    """1-3 places to insert bytes at: (file, place as a fraction of its bytes, bytes)."""
    place = st.tuples(st.integers(0, len(FILES) - 1), st.floats(0, 1), BYTES)
    return draw(st.lists(place, min_size=1, max_size=3))


def insert_bytes(folder: Path, places: list[tuple[int, float, bytes]]) -> None:
    """The cohort, copied into ``folder``, with bytes inserted at ``places``."""
    shutil.copytree(COHORT, folder)
    for index, at, data in places:
        path = folder / FILES[index][0]
        text = path.read_bytes()
        cut = int(at * len(text))
        path.write_bytes(text[:cut] + data + text[cut:])


#: How a zip may compress its files: zipfile reads all four, and each fails differently on
#: damaged data (zlib.error, lzma.LZMAError, bz2's OSError).
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@st.composite
def zip_damage(draw) -> tuple[int, list[tuple[int, float, bytes | None]]]:
    """How the cohort's terms are zipped (a compression) and 1-3 changes to the zips' bytes:
    (term, place as a fraction of its bytes, bytes written over it, or None: cut there)."""
    damage = st.tuples(
        st.integers(0, 3), st.floats(0, 1), st.one_of(st.none(), st.binary(min_size=1, max_size=8))
    )
    return draw(st.integers(0, len(COMPRESSIONS) - 1)), draw(
        st.lists(damage, min_size=1, max_size=3)
    )


def zip_terms(folder: Path, damage: tuple[int, list[tuple[int, float, bytes | None]]]) -> None:
    """The cohort, copied into ``folder``, with each term's folder zipped (as NWEA delivers a
    term's data export) and the zips' bytes changed as ``damage`` says."""
    shutil.copytree(COHORT, folder)
    compression, changes = damage
    terms = sorted(p for p in (folder / "2014-2015").iterdir() if p.is_dir())
    for term in terms:
        with zipfile.ZipFile(term.with_suffix(".zip"), "w", COMPRESSIONS[compression]) as archive:
            for path in sorted(term.iterdir()):
                archive.write(path, path.name)
        shutil.rmtree(term)
    for index, at, data in changes:
        path = terms[index].with_suffix(".zip")
        old = path.read_bytes()
        cut = int(at * len(old))
        path.write_bytes(old[:cut] if data is None else old[:cut] + data + old[cut + len(data) :])


def assert_clean_error(error: Exception, folder: Path) -> None:
    """One short line per problem, each naming a place in the folder."""
    lines = str(error).splitlines()
    assert lines, error
    for line in lines:
        assert len(line) <= MAX_LINE, line
        assert line.startswith((str(folder), "... and ")) or NOT_READY.fullmatch(line), line


def assert_accounted_for(paths: dict[str, Path]) -> None:
    """Every test row read is kept, a duplicate or rejected, in the file the summary says."""
    summary = io.read_json(paths["summary"])
    frames = {n: io.read_parquet(paths[n]) for n in OUTPUTS}
    for name, entry in summary["files"].items():
        if "kept" not in entry:  # a roster or schools.csv
            continue
        assert entry["rows_read"] == entry["kept"] + entry["duplicates"] + entry["rejected"]
        landed = [
            int((frames[part]["source_file"] == name).sum())
            for part in ("scores", "duplicates", "rejects")
        ]
        assert landed == [entry["kept"], entry["duplicates"], entry["rejected"]], name


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("PL_EVAL_KEY", "hostile-cells-16")


def ends_cleanly(write: Callable[[Path, list], None], changes: list) -> None:
    """Ingest and check-inputs of the cohort ``write`` copies with ``changes`` each end in
    accounted outputs or in one clear line per problem."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw", Path(tmp) / "out"
        write(raw, changes)
        paths = {n: out / f"{n}.parquet" for n in OUTPUTS}
        paths["summary"] = out / "ingest_summary.json"
        try:
            stages.ingest(raw, **paths, settings=SETTINGS)
        except InputError as error:
            assert_clean_error(error, raw)
            assert not any(p.exists() for p in paths.values())  # nothing written
        else:
            assert_accounted_for(paths)
        try:
            stages.check_inputs(str(raw), config=Path("config/config.yaml"))
        except NotReady as error:
            assert_clean_error(error, raw)


HOSTILE = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],  # no shrinking (minutes): the failing cells are printed whole
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HOSTILE
@given(cells=edits())
def test_any_cell_ends_in_accounted_outputs_or_one_clear_line_per_problem(cells):
    ends_cleanly(write_cohort, cells)


@HOSTILE
@given(places=insertions())
def test_any_bytes_anywhere_end_in_accounted_outputs_or_one_clear_line_per_problem(places):
    # a quote left open, a line cut in two, a NUL, a byte of no encoding, a BOM mid-file
    ends_cleanly(insert_bytes, places)


@settings(HOSTILE, max_examples=20)  # about 0.9 s each
@given(damage=zip_damage())
def test_any_bytes_in_a_zip_end_in_accounted_outputs_or_one_clear_line_per_problem(damage):
    # a download cut short, a bad byte in a file's data or in the archive's directory
    ends_cleanly(zip_terms, damage)
