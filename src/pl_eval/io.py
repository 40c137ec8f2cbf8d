"""Every read and write of files: atomic, deterministic, with explicit dtypes.

Writers go through a temporary file in the destination folder and an atomic rename, so a
failed stage never leaves a partial output behind for Snakemake or a reader to trust.
"""

from __future__ import annotations

import codecs
import csv
import errno
import glob
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from pl_eval import errors, lazy
from pl_eval.errors import ConfigError, InputError, Problem
from pl_eval.progress import track
from pl_eval.wording import counted

# Imported on first use: a job that reads no table (or only a JSON file) pays none of them.
np = lazy.module("numpy")
pd = lazy.module("pandas")
pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")
pacsv = lazy.module("pyarrow.csv")
feather = lazy.module("pyarrow.feather")
pq = lazy.module("pyarrow.parquet")
zipfile = lazy.module("zipfile")  # cohort folders holding a .zip only
yaml = lazy.module("yaml")  # config files only: the workflow's jobs get their settings as JSON

log = logging.getLogger(__name__)

#: Leading characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Delimiters of exports, first wins a tie: the comma (NWEA's), the tab (Excel's Text and
#: Unicode Text saves), the semicolon (a spreadsheet's CSV where the comma is the decimal
#: mark: its numbers are read by :func:`pl_eval.ingest.parse.numbers`) and the pipe (some
#: student information systems'). No NWEA column name holds one.
DELIMITERS = (",", "\t", ";", "|")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    A file-system error on the way (full disk, read-only or unwritable folder) is raised as an
    OSError naming ``path``, not the temporary. A temporary left beside ``path`` by an earlier
    write that was killed (SIGKILL runs no cleanup) is removed first, so a rerun leaves only
    the outputs.
    """
    path = Path(path)
    make_folder(path.parent)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        # mkstemp creates the file private (0600); give it the permissions of a normal write.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _about(exc, path) from exc
        raise


def make_folder(folder: str | Path) -> None:
    """Create ``folder`` and its parents; when a file stands in the way, the OSError names it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.is_file()), folder)
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocking)) from exc


def _about(error: OSError, path: Path) -> OSError:
    """``error`` as an OSError about ``path`` (errno kept: pyarrow's is only in its message)."""
    code = errors.errno_of(error)
    return OSError(code, os.strerror(code) if code else str(error), str(path))


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` (index dropped) as Parquet; same frame gives the same bytes."""
    write_parquet_tables([parquet_table(df)], path)


def parquet_table(df: pd.DataFrame) -> pa.Table:
    """``df`` (index dropped) as the Arrow table :func:`write_parquet` writes of it: a stage
    building its output in parts converts each as it is built, and frees pandas' copy."""
    return pa.Table.from_pandas(df, preserve_index=False)


def release_memory() -> None:
    """Give the system back the memory Arrow holds of freed buffers (its allocator keeps them
    for reuse): a stage that has let go of a large table makes room for other jobs."""
    pa.default_memory_pool().release_unused()


def write_parquet_tables(tables: Sequence[pa.Table], path: str | Path) -> None:
    """Write :func:`parquet_table`'s tables of frames, one after the other, as Parquet: the
    bytes :func:`write_parquet` writes for the frames concatenated."""
    with atomic_path(path) as tmp:
        pq.write_table(pa.concat_tables(tables), tmp, compression="zstd")


def read_parquet(
    path: str | Path,
    columns: list[str] | None = None,
    categories: list[str] | None = None,
    where: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Read Parquet; ``categories`` columns come back as pandas categoricals.

    Reading repetitive text (school, subject, student key) dictionary-encoded keeps each value
    once in memory instead of once per row, which national cohorts need.
    """
    return read_parquet_table(path, columns, categories, where).to_pandas()


def read_parquet_table(
    path: str | Path,
    columns: list[str] | None = None,
    categories: list[str] | None = None,
    where: tuple[str, str] | None = None,
) -> pa.Table:
    """:func:`read_parquet` as an Arrow table (``categories`` dictionary-encoded): for a
    stage that selects rows before it pays for pandas' conversion of every row. ``where``
    (column, value): only the rows holding that value, e.g. one subject of a panel."""
    path = Path(path)
    if where is None:
        read = partial(pq.read_table, path, columns=columns, read_dictionary=categories)
    else:
        read = partial(_read_where, path, columns, categories, where)
    return _parquet(path, read)


def _read_where(
    path: Path, columns: list[str] | None, categories: list[str] | None, where: tuple[str, str]
) -> pa.Table:
    """The rows of a Parquet file whose column ``where[0]`` holds ``where[1]``, decoded and
    selected a batch at a time: half a national panel (one subject) costs half the memory
    and time of reading it whole, which pyarrow's filtered read does not (it decodes every
    row before it selects)."""
    file = pq.ParquetFile(path, read_dictionary=categories)
    column, value = where
    kind = file.schema_arrow.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError.at(path, "text, as pl-eval writes it", column=column, found=str(kind))
    # row groups whose statistics rule the value out are not decoded at all: a panel is
    # written subject by subject, so one subject's rows fill few of its row groups
    index = file.schema_arrow.get_field_index(column)
    groups = [
        g for g in range(file.metadata.num_row_groups)
        if _may_hold(file.metadata.row_group(g).column(index).statistics, value)
    ]  # fmt: skip
    return _selected(
        file, columns, lambda batch, _: pc.equal(batch[column], value), row_groups=groups
    )


def _may_hold(statistics: Any, value: str) -> bool:
    """Whether a column chunk with these Parquet statistics can hold ``value``."""
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.min <= value <= statistics.max


def _selected(
    file: Any,
    columns: list[str] | None,
    keep: Callable[[pa.RecordBatch, int], Any],
    row_groups: list[int] | None = None,
) -> pa.Table:
    """``columns`` of an open Parquet file (of ``row_groups`` only, when given), each batch
    decoded and then filtered by ``keep(batch, offset of its first row among those read)``:
    the peak is the rows kept, not the file."""
    batches, start = [], 0
    read = file.iter_batches(batch_size=1 << 16, columns=columns, row_groups=row_groups)
    for batch in read:
        batches.append(batch.filter(keep(batch, start)))
        start += batch.num_rows
    schema = file.schema_arrow  # with the pandas metadata the batches lack
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    return pa.Table.from_batches(batches, schema=schema)


def read_parquet_rows(path: str | Path, columns: list[str], rows: pa.ChunkedArray) -> pa.Table:
    """``columns`` of a Parquet file, only the rows where ``rows`` (a mask over the file's
    rows, in order) is true, decoded and selected a batch at a time: a multi-year cohort's
    panel of one window keeps a fraction of the scores, and reading every row of their
    measures first held a gigabyte more at the peak (pyarrow's filtered read, which takes
    an expression of the columns only, also decodes every row before it selects)."""
    path = Path(path)

    def read() -> pa.Table:
        file = pq.ParquetFile(path)
        if file.metadata.num_rows != len(rows):
            raise ValueError(f"{len(rows)} row flags for {file.metadata.num_rows} rows")
        return _selected(
            file, columns, lambda batch, start: rows.slice(start, batch.num_rows).combine_chunks()
        )

    return _parquet(path, read)


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file, read from its footer (no data)."""
    return _table_schema(Path(path)).names


def _table_schema(path: Path) -> pa.Schema:
    return _parquet(path, partial(pq.read_schema, path))


def _parquet(path: Path, read: Callable[[], Any]) -> Any:
    """:func:`_arrow_table` of a Parquet file, a folder refused first: pyarrow would read a
    folder as a (possibly empty) dataset."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    return _arrow_table(path, read, "a Parquet file")


def write_arrow(df: pd.DataFrame | pa.Table, path: str | Path) -> None:
    """Write ``df`` (index dropped; or an Arrow table) as an Arrow IPC (Feather) file: a table
    passed between stages, which reads back with the dtypes it was written with (categories
    and their order included). Uncompressed, so a reader maps it instead of decoding it: LZ4
    made a national cohort's typed tests a third of the size (140 MB, not 460 MB) but cost
    every reader 3 s."""
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        feather.write_feather(table, tmp, compression="uncompressed")


def read_arrow(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_arrow`: a column per block, numbers without
    missing values mapped from the file rather than copied (pandas' one block per dtype
    copies every column once more: a national cohort's typed tests held 3 GB at the peak)."""
    return read_arrow_table(path).to_pandas(split_blocks=True)


def read_arrow_table(path: str | Path) -> pa.Table:
    """A table written by :func:`write_arrow`, as Arrow, memory-mapped: nothing is copied
    until used (ingest screens a national cohort's typed tests from it in place)."""
    path = Path(path)
    read = partial(feather.read_table, path, memory_map=True)
    return _arrow_table(path, read, "an Arrow file")


def _arrow_table(path: Path, read: Callable[[], Any], kind: str) -> Any:
    """``read()`` (a table, or a file's schema); a file that is not ``kind`` written by
    pl-eval, or that the system refuses, is an error naming the path."""
    try:
        return read()
    except pa.ArrowInvalid:
        # pyarrow's own words ("Parquet magic bytes not found in footer ...") help nobody.
        found = "other data (cut short?)"
        raise InputError.at(path, f"{kind} written by pl-eval", found=found) from None
    except OSError as exc:
        raise _about(exc, path) from exc


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON with sorted keys so that reruns are byte-identical."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: The time stamped into the PDF's embedded fonts (2000-01-01 UTC): see write_pdf.
PDF_FONT_TIME = "946684800"


def write_pdf(html: str, path: str | Path) -> None:
    """Render a self-contained HTML page to PDF with WeasyPrint (its print stylesheet applies).

    WeasyPrint embeds subsets of the fonts, which fontTools stamps with the current second
    unless SOURCE_DATE_EPOCH (the reproducible-builds convention) gives one: a fixed one is
    set while rendering, so the same page gives the same bytes at any time.
    """
    import weasyprint  # lazily: only the report stage pays its import time

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = epoch or PDF_FONT_TIME
    try:
        with atomic_path(path) as tmp:
            weasyprint.HTML(string=html).write_pdf(tmp, font_config=_font_config())
    finally:
        if epoch is None:
            del os.environ["SOURCE_DATE_EPOCH"]


@cache
def _font_config():
    """One WeasyPrint font configuration per process, shared by its PDFs: made anew for each
    (WeasyPrint's default), fontconfig and Pango set up the system's fonts again, a seventh of
    a school page's PDF; the PDFs' bytes are the same either way."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (report provenance), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_bytes(files: Sequence[RawFile]) -> list[list[RawFile]]:
    """Groups (two or more, in the order given) of ``files`` that hold the same bytes: an
    export saved twice into a cohort folder ("AssessmentResults (1).csv"). Only files that
    share their size with another are read (:func:`sha256`); an empty file, or one whose size
    or bytes cannot be read, is in no group (reading it says why)."""
    by_size: dict[int, list[int]] = {}
    for i, file in enumerate(files):
        try:
            by_size.setdefault(os.stat(file.path).st_size, []).append(i)
        except OSError:
            continue
    groups = []
    for size, sized in by_size.items():
        if size == 0 or len(sized) < 2:
            continue
        by_digest: dict[str, list[int]] = {}
        for i in sized:
            try:
                by_digest.setdefault(sha256(files[i].path), []).append(i)
            except OSError:
                continue
        groups += [group for group in by_digest.values() if len(group) > 1]
    return [[files[i] for i in group] for group in sorted(groups)]


def git_commit() -> str | None:
    """The commit checked out in the working directory, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = {"line": exc.lineno} if isinstance(exc, json.JSONDecodeError) else {}
        raise InputError.at(
            path, "a JSON file written by pl-eval", found=errors.excerpt(str(exc)), **where
        ) from None


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose text cells cannot run as spreadsheet formulas (prefixed with ')."""
    out = df.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            text = col.astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            if risky.any():
                out[name] = text.where(~risky, "'" + text)
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a report or summary table as CSV, with formula-like text neutralised."""
    with atomic_path(path) as tmp:
        neutralise_formulas(df).to_csv(tmp, index=False, lineterminator="\n")


def write_delimited(
    df: pd.DataFrame | pa.Table,
    path: str | Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> None:
    """Write a raw-style export (all columns as text, quoted only where needed) quickly.

    Used for simulated NWEA exports; unlike :func:`write_csv` it does not alter cell text,
    because it reproduces what a district hands over. A pyarrow table of text columns (the
    simulator's) is written as it is, without a round trip through pandas.
    """
    if isinstance(df, pa.Table):
        table = df
    else:
        table = pa.Table.from_pandas(df.astype("string"), preserve_index=False)
    options = pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed")
    with atomic_path(path) as tmp:
        if encoding.replace("-", "").lower() in ("utf8",):
            pacsv.write_csv(table, tmp, write_options=options)
        else:  # pyarrow writes UTF-8 only; re-encode (small files: fixtures and tests)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, write_options=options)
            tmp.write_bytes(sink.getvalue().to_pybytes().decode("utf-8").encode(encoding))


def save_figure(figure, path: str | Path) -> None:
    """Save a matplotlib figure (PNG or SVG by suffix) reproducibly, then close it."""
    import matplotlib.pyplot as plt  # lazily: only plotting stages pay its import time

    path = Path(path)
    metadata = {"Software": None} if path.suffix == ".png" else {"Date": None, "Creator": None}
    # a fixed salt makes SVG element ids the same on every run (else they are random)
    with atomic_path(path) as tmp, plt.rc_context({"svg.hashsalt": "pl_eval"}):
        figure.savefig(
            tmp, format=path.suffix.lstrip("."), dpi=150, bbox_inches="tight", metadata=metadata
        )
    plt.close(figure)


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; text that is not UTF-8 or not YAML is a :class:`ConfigError`
    naming the file, line and column (with a short excerpt of the line, never the file)."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}, line {line}: expected UTF-8 text, found the byte {data[exc.start]:#04x}; "
            "save the file as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_unique_key_loader())  # a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, text, exc)) from None


@cache
def _unique_key_loader() -> type:
    """PyYAML's safe loader, refusing a key given twice in one mapping. PyYAML keeps the last
    one silently (as does Snakemake's loader), so a second ``ratio: 3`` pasted under
    ``match:`` would change the analysis unseen; YAML 1.2 makes duplicate keys an error.
    Built on first use: yaml is imported only by the stages that read YAML."""

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:  # as written: a key may override a merged (<<) one
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    continue  # the safe loader says it cannot be a key
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"the key {key!r} is given twice (keep one)",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_problem(path: str | Path, text: str, error: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: where, PyYAML's short reason (and the construct it
    was reading, when that began on an earlier line), and the start of the line."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if isinstance(error, yaml.reader.ReaderError):  # a control character: it has a position
        line = text.count("\n", 0, error.position)
        column = error.position - (text.rfind("\n", 0, error.position) + 1)
        character = error.character
        character = chr(character) if isinstance(character, int) else character
        reason = f"the character {character!r} is not allowed"
    elif mark is not None:
        line, column = mark.line, mark.column
        reason = getattr(error, "problem", None) or "a syntax error"
        context, started = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and started is not None and started.line < line:
            reason += f", {context} that starts on line {started.line + 1}"
    else:
        return f"{path}: not valid YAML: {errors.excerpt(str(error))}"
    lines = re.split("\r\n|[\n\r\x85\u2028\u2029]", text)  # YAML's line breaks
    shown = lines[line].strip() if line < len(lines) else ""
    reads = f" (the line reads '{errors.excerpt(shown, 40)}')" if shown else ""
    return (
        f"{path}, line {line + 1}, column {column + 1}: not valid YAML: "
        f"{errors.excerpt(reason, 160)}{reads}"
    )


def read_norms_table() -> pd.DataFrame:
    """The NWEA status norms shipped as package data (see ``data/nwea_norms.csv`` sources)."""
    with resources.files("pl_eval").joinpath("data/nwea_norms.csv").open("rb") as fh:
        return pd.read_csv(
            fh,
            dtype={"norms_year": "int64", "subject": "string", "grade": "int64", "term": "string"},
        )


def read_norms_week_means() -> pd.DataFrame:
    """NWEA's 2020 mean growth curves by instructional week, shipped as package data
    (``data/nwea_norms_2020_weeks.csv``: coefficients x1..x6 per subject × grade)."""
    with resources.files("pl_eval").joinpath("data/nwea_norms_2020_weeks.csv").open("rb") as fh:
        return pd.read_csv(fh, dtype={"norms_year": "int64", "subject": "string", "grade": "int64"})


# --- Raw NWEA exports and the pseudonym key (read by the ingest stage) ---------------------

#: Bytes inspected to find an export's header, delimiter and encoding.
SNIFF_BYTES = 1 << 20
#: Blanks and invisible format characters (a second byte-order mark from a file saved twice,
#: zero-width spaces and joiners pasted in, a soft hyphen), which ``str.strip`` keeps: around
#: a header name they would hide the column's name, around an ID or a name its match.
INVISIBLE_EDGE = re.compile(
    r"^[\s\u00ad\u200b-\u200d\u2060\ufeff]+|[\s\u00ad\u200b-\u200d\u2060\ufeff]+$"
)
#: A cell written as an Excel formula that yields its text (="00123"), as student information
#: systems and warehouses write IDs and codes so that a spreadsheet keeps their leading zeros:
#: read as that text (:func:`_unwrapped`). Compared as written, such IDs met no roster row.
#: A text holding a quote is no ID or code: a formula joining texts (="a" & "b") stays as is.
_FORMULA_TEXT = r'^="([^"]*)"$'
#: Where the pseudonymisation key lives unless PL_EVAL_KEY or PL_EVAL_KEY_FILE say otherwise.
DEFAULT_KEY_FILE = "~/.config/pl_eval/pseudonym.key"
#: What to do when the key file cannot be made or read.
KEY_FILE_ACTION = (
    "set PL_EVAL_KEY_FILE to a file this user can read (or create: a new key is made on first "
    "use), or PL_EVAL_KEY to the key"
)
#: Malformed rows reported per file before the rest are summarised.
MAX_ROW_PROBLEMS = 20
#: Rows of text read before they are dictionary-encoded: a national cohort's text whole
#: (1.6 GB of strings) was the peak of read_exports.
STACK_ROWS = 1 << 19
#: Exports larger than this are parsed a block of :data:`STREAM_BLOCK_BYTES` at a time, each
#: block's rows stacked as they come, not whole: a national pool in one 1.5 GB file held 640 MB
#: more parsed whole (2.2 against 1.58 GB, in the same time). Smaller files are parsed whole,
#: two side by side: streamed, on the stacking thread, one after another, the national pool
#: in a file per kind and term (three of 200-680 MB) took 11 s against 9.5 s.
STREAM_BYTES = 1 << 30
STREAM_BLOCK_BYTES = 1 << 24
#: Rows per Parquet row group: pyarrow's default, so chunked writes match whole-table writes.
ROW_GROUP_ROWS = 1024 * 1024


@dataclass(frozen=True)
class RawFile:
    """What the first bytes of a delimited export say about it (before any row is parsed)."""

    path: Path
    name: str  # path relative to the cohort folder, "/"-separated: the source_file of its rows
    header: tuple[str, ...]  # column names as written, surrounding whitespace stripped
    delimiter: str  # one of DELIMITERS
    # "utf-8", "utf-8-sig" (with BOM), "cp1252" or "latin-1" (whole file); "utf-16" (BOM)
    encoding: str
    # its data rows end with a delimiter the header does not: one field more, empty
    # (:func:`trailing_delimiter`)
    trailing_delimiter: bool = False


@dataclass(frozen=True)
class RawRequest:
    """Which columns to read from one export: output name -> position in its header."""

    file: RawFile
    columns: dict[str, int]


@dataclass(frozen=True)
class RawExports:
    """Text columns of several exports stacked into one frame.

    ``frame`` has every requested name as a categorical of text (empty cells are "", a column
    a file lacks is missing), plus ``source_file`` (categorical, sorted) and ``source_line``
    (1-based physical line, header = 1). Blank lines are dropped and counted.
    """

    frame: pd.DataFrame
    encodings: dict[str, str]
    blank_lines: dict[str, int]


def list_raw_files(raw_dir: str | Path) -> list[tuple[Path, str]]:
    """Every file under ``raw_dir`` (recursively) as (path, "/"-separated relative name), sorted."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise InputError.at(
            root,
            "a folder holding the cohort's NWEA exports and schools.csv",
            found="no such folder",
        )
    # a link to a file that is gone is listed: reading it says so, rather than losing its rows
    found = [
        (p, p.relative_to(root).as_posix())
        for p in root.rglob("*")
        if p.is_file() or _broken_link(p)
    ]
    return sorted(found, key=lambda item: item[1])


#: NWEA delivers each data export as a .zip (reference/nwea_formats.md §1): its files are read
#: as if extracted into the folder it is in. Other archives stay unread (the stdlib reads
#: none of .7z and .rar, and no exporter of MAP data writes them).
ZIP_SUFFIX = ".zip"


@dataclass(frozen=True)
class Unzipped:
    """A cohort folder's files with each .zip replaced by its files (:func:`unzip_archives`)."""

    files: list[tuple[Path, str]]  # (path, name) as list_raw_files gives them, sorted by name
    problems: tuple[Problem, ...]  # archives or files in them that could not be read
    failed: tuple[str, ...]  # their names


def unzip_archives(
    files: Sequence[tuple[Path, str]], scratch: Path, wanted: Callable[[str], bool]
) -> Unzipped:
    """``files`` with each .zip among them replaced by its files, named "<archive>/<file in
    it>": those ``wanted`` by name are extracted into the folder ``scratch`` (each under a
    number, so that no name in an archive can point outside it), the others are listed at the
    archive's path and never opened. An archive within an archive is listed, not opened.

    Extracted rather than streamed: every reader here (encoding, delimiter, line numbers of
    problems) works on a file it can seek in, as it does on the files around the archive.
    """
    found, problems, failed = [], [], []
    for number, (path, name) in enumerate(files):
        if not name.lower().endswith(ZIP_SUFFIX):
            found.append((path, name))
            continue
        try:
            found += _unzipped(path, name, Path(scratch) / str(number), wanted)
        except InputError as exc:
            problems += exc.problems
            failed.append(name)
    return Unzipped(sorted(found, key=lambda item: item[1]), tuple(problems), tuple(failed))


_WHOLE_ZIP = "a zip archive, neither damaged nor cut short: copy or download it again"


def _unzipped(
    path: Path, name: str, into: Path, wanted: Callable[[str], bool]
) -> list[tuple[Path, str]]:
    """The files of one zip archive as (path, name), those ``wanted`` extracted ``into``; an
    archive or a file in it that cannot be read is an InputError (writing ``into`` failing, a
    full disk, is the system's OSError)."""
    try:
        archive = zipfile.ZipFile(path)
        members = sorted(
            ((_member_name(m.filename), m) for m in archive.infolist()), key=lambda p: p[0]
        )
    except OSError as exc:
        raise InputError.at(name, "a readable file", found=exc.strerror or str(exc)) from None
    except NotImplementedError:  # a later version of the format, or an archive split in parts
        raise InputError.at(
            name, f"a zip archive Python's zipfile opens; {_by_hand(name)}", found="a newer kind"
        ) from None
    except Exception:  # zipfile's many errors on a damaged archive (see _extract)
        raise InputError.at(name, _WHOLE_ZIP, found="not a readable zip archive") from None
    found, seen = [], set()
    with archive:
        for filename, member in members:
            inner = f"{name}/{filename}"
            if filename.endswith("/"):  # a folder's entry
                continue
            if not filename:
                raise InputError.at(name, _WHOLE_ZIP, found="a file without a name")
            if inner in seen:  # a zip may hold two files of one name; unzip keeps the last
                raise InputError.at(
                    inner,
                    "each name once in an archive (which of two files is meant is not for "
                    "ingest to guess)",
                    found="a second file of this name",
                )
            seen.add(inner)
            if not wanted(inner):
                found.append((path, inner))
                continue
            make_folder(into)
            target = into / str(len(found))
            _extract(archive, member, target, name, inner)
            found.append((target, inner))
    return found


def _extract(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, name: str, inner: str
) -> None:
    """Copy the file ``member`` of the zip ``archive`` (named ``name``) to ``target``.

    Any error reading it means the archive cannot give it. Besides BadZipFile, zipfile raises
    zlib.error, lzma.LZMAError, bz2's OSError, EOFError, and IndexError or ValueError from a
    damaged header (found by changing bytes of zips at random), so no narrower list would hold;
    errors writing ``target`` are the system's.
    """
    extract = _by_hand(name)
    if member.flag_bits & 0x1:  # zipfile would ask for the password
        raise InputError.at(
            inner, f"a file without a password; {extract}", found="password-protected"
        )
    try:
        source = archive.open(member)
    except NotImplementedError:  # Deflate64 (9), as Windows zips large files, or a newer method
        raise InputError.at(
            inner,
            f"a file compressed in a way Python's zipfile reads; {extract}",
            found=f"compression method {member.compress_type}",
        ) from None
    except Exception:
        raise InputError.at(inner, _WHOLE_ZIP, found="damaged data") from None
    try:
        with source, open(target, "wb") as copy:
            while True:
                try:
                    block = source.read(BLOCK_BYTES)
                except Exception:
                    raise InputError.at(inner, _WHOLE_ZIP, found="damaged data") from None
                if not block:
                    break
                copy.write(block)
    except OSError as exc:  # the temporary folder's disk full, say: no name of its own
        raise _about(exc, f"{target} (a file of {name} extracted; TMPDIR sets where to)") from None


def _by_hand(name: str) -> str:
    """What to do with an archive ingest cannot open."""
    return f"extract it into this folder with another tool, then move {errors.quoted(name)} out"


def unzipped_growth(paths: Iterable[str | Path]) -> int:
    """Bytes the .zip archives among ``paths`` grow by when their files are extracted (a job
    reading them needs memory for what they hold, not for their size); an archive that cannot
    be read counts 0 (reading it says why)."""
    grown = 0
    for path in paths:
        if str(path).lower().endswith(ZIP_SUFFIX):
            try:
                with zipfile.ZipFile(path) as archive:
                    grown += sum(m.file_size - m.compress_size for m in archive.infolist())
            except Exception:  # the Snakefile asks this while planning: never a traceback there
                continue
    return max(grown, 0)


def _member_name(filename: str) -> str:
    """A name in a zip archive, "/"-separated (some Windows tools write backslashes)."""
    return filename.replace("\\", "/").lstrip("/")


def _broken_link(path: Path) -> bool:
    """Whether ``path`` is a symbolic link to a file that does not exist."""
    return path.is_symlink() and not path.exists()


def sniff_raw_file(path: str | Path, name: str) -> RawFile:
    """Read the header of a delimited export, its delimiter and its encoding (of the whole file,
    see :func:`file_encoding`; UTF-16 by its byte-order mark, :func:`_sniff_utf16`)."""
    try:
        with open(path, "rb") as fh:
            buffer, size = _read_into(fh, SNIFF_BYTES)  # the first bytes are buffer[:size]
    except OSError as exc:
        found = exc.strerror or str(exc)
        if _broken_link(Path(path)):
            found = "a link to a file that does not exist"
        raise InputError.at(name, "a readable file", found=found) from None
    save = "open it in Excel and Save As CSV UTF-8"
    if buffer.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), 0, size):
        return _sniff_utf16(Path(path), name, bytes(buffer[: size - size % 2]))
    if buffer.startswith(_WORKBOOK_SIGNATURES, 0, size):
        raise InputError.at(
            name,
            f"a delimited text export, but this is a spreadsheet workbook (or a zip file); {save}",
            found="binary data",
        )
    if buffer.find(b"\x00", 0, size) >= 0:
        raise InputError.at(name, "a delimited text export", found="binary data")
    bom = buffer.startswith(codecs.BOM_UTF8, 0, size)
    start = len(codecs.BOM_UTF8) if bom else 0
    head = memoryview(buffer)[start:size]
    # the first line, copying only it; it ends at LF, CRLF or a lone CR (Excel for Mac's
    # "CSV (Macintosh)" ends every line with CR, which pyarrow's parser also accepts)
    ends = [i for i in (buffer.find(b"\n", start, size), buffer.find(b"\r", start, size)) if i >= 0]
    line = bytes(head[: min(ends) - start] if ends else head)
    if not line.strip():
        raise InputError.at(
            name,
            "a header line naming the columns",
            line=1,
            found="an empty file" if not bytes(head).strip() else "a blank line",
        )
    encoding = file_encoding(path, name, bom=bom, head=head)
    second = _second_line(buffer, min(ends), size) if ends else b""
    return _raw_file(  # a header cut at SNIFF_BYTES reads with a replacement character
        Path(path),
        name,
        line.decode(_CODECS[encoding], errors="replace"),
        second.decode(_CODECS[encoding], errors="replace"),
        encoding,
    )


def _sniff_utf16(path: Path, name: str, head: bytes) -> RawFile:
    """:func:`sniff_raw_file` of a file with a UTF-16 byte-order mark: Excel's "Unicode Text"
    save, tab-delimited. Its bytes are not checked here: the parse decodes every one."""
    lines = re.split(r"\r\n|\r|\n", head.decode("utf-16", errors="replace"), maxsplit=2)
    if not lines[0].strip():
        found = "an empty file" if not "".join(lines).strip() else "a blank line"
        raise InputError.at(name, "a header line naming the columns", line=1, found=found)
    second = lines[1] if len(lines) == 3 else ""  # line 2, if the bytes read hold all of it
    return _raw_file(path, name, lines[0], second, "utf-16")


def _raw_file(path: Path, name: str, first: str, second: str, encoding: str) -> RawFile:
    """The export whose header line is ``first`` and whose line 2 is ``second`` (empty when
    not read whole): its delimiter (the one of :data:`DELIMITERS` the header line holds most
    of, the first of them on a tie), header and whether its rows end with a delimiter the
    header lacks."""
    delimiter = max(DELIMITERS, key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    return RawFile(
        path,
        name,
        tuple(INVISIBLE_EDGE.sub("", h) for h in header),
        delimiter,
        encoding,
        trailing_delimiter=trailing_delimiter(header, second, delimiter),
    )


def _second_line(buffer: bytearray, end: int, size: int) -> bytes:
    """The line after the header, which ends at ``end`` of ``buffer``; empty unless the first
    ``size`` bytes hold all of it."""
    start = end + (2 if buffer[end : end + 2] == b"\r\n" else 1)
    ends = [i for i in (buffer.find(b"\n", start, size), buffer.find(b"\r", start, size)) if i >= 0]
    return bytes(buffer[start : min(ends)]) if ends else b""


def trailing_delimiter(header: Sequence[str], line: str, delimiter: str) -> bool:
    """Whether data rows end with a delimiter the header does not, as some exporters write
    them: the first data ``line`` has one field more than the header, the last empty, while
    the header's last is named. Read with the header's fields only, every row had the wrong
    count; read as pandas reads it, every value shifts a column."""
    if not line or not header or not header[-1].strip():
        return False
    fields = next(csv.reader([line], delimiter=delimiter), [])
    return len(fields) == len(header) + 1 and not fields[-1].strip()


def sniff_raw_files(files: Sequence[tuple[Path, str]]) -> list[RawFile | InputError]:
    """:func:`sniff_raw_file` of each (path, name), in order; a file that cannot be read gives
    its InputError.

    Files of :data:`BLOCK_BYTES` or more first, a batch per core (:func:`_side_by_side`):
    reading a block and checking that it is ASCII let go of the GIL. Then the smaller files
    one after another, on this thread: their sniff is mostly Python code, and two threads
    would hand the GIL to and fro at every read (a cohort exported per school, 19,000 files of
    about 100 kB, all side by side: 4.6-6.0 s against 3.1-3.6 s in turn). Measured 2026-12-06,
    3 runs each, before -> after: the one-year national exports (1,823 files, 1.9 GB; 516 of
    them hold four fifths of it) 1.2-1.5 -> 0.5-0.6 s; the three-year study's (5,467 files,
    6.0 GB) 3.8-4.3 -> 1.5-1.8 s; the one-year exported per school 3.1-4.7 -> 2.4-3.2 s.
    """

    def sniff(file: tuple[Path, str]) -> RawFile:
        return sniff_raw_file(*file)

    big = [i for i, (path, _) in enumerate(files) if _size(path) >= BLOCK_BYTES]
    side_by_side = _side_by_side(sniff, [files[i] for i in big], [files[i][0] for i in big])
    found = dict(zip(big, side_by_side, strict=True))
    return [found[i] if i in found else _or_error(sniff, file) for i, file in enumerate(files)]


def _or_error(function: Callable, item: Any) -> Any:
    """``function(item)``, or the InputError it raised (so that every file's problems can be
    reported, not only the first's)."""
    try:
        return function(item)
    except InputError as exc:
        return exc


#: Bytes of files one thread parses per task: a future per file cost a second of the 20 that
#: reading a cohort exported per school and term (19,000 files of about 100 kB) takes.
BATCH_BYTES = 1 << 21


def _side_by_side(function: Callable, items: Sequence, paths: Sequence[Path]) -> Iterator:
    """``function`` of each item (reading the file at the same place in ``paths``), in order,
    one batch of items per core at a time (parsing files, which releases the GIL); an item
    whose call raises InputError gives that error instead."""

    def attempt(batch: list) -> list:
        return [_or_error(function, item) for item in batch]

    cores = os.cpu_count() or 1
    # a few batches ahead at most: results a slower consumer has not taken yet are held
    with ThreadPoolExecutor(max_workers=cores) as pool:
        ahead: deque = deque()
        for batch in _batches(items, paths):
            ahead.append(pool.submit(attempt, batch))
            if len(ahead) > 2 * cores:
                yield from ahead.popleft().result()
        while ahead:
            yield from ahead.popleft().result()


def _batches(items: Sequence, paths: Sequence[Path]) -> Iterator[list]:
    """Runs of consecutive items whose files hold :data:`BATCH_BYTES` together (the last run
    may hold less); a file whose size cannot be read counts as empty (reading it says why)."""
    batch, size = [], 0
    for item, path in zip(items, paths, strict=True):
        batch.append(item)
        size += _size(path)
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _size(path: Path) -> int:
    """The file's size in bytes; 0 when it cannot be read (reading it says why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


#: First bytes of .xlsx (a zip) and .xls (OLE2) workbooks, whatever the file is called.
_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
#: Encodings an export may have (as the ingest summary names them) -> the codec that reads it.
_CODECS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "cp1252": "cp1252",
    "latin-1": "latin-1",
    "utf-16": "utf-16",  # pyarrow decodes it with Python's codec, a block at a time
}
#: Bytes read at a time when deciding an encoding.
BLOCK_BYTES = 1 << 20
#: Each thread's buffer that files are read into a block at a time (:func:`_read_into`).
_BUFFERS = threading.local()
#: A multi-byte UTF-8 character, as (lead bytes, continuation bytes after the lead): in a file
#: that is not UTF-8, the sign of mixed encodings.
_UTF8_CHARACTERS = ((0xC2, 0xDF, 1), (0xE0, 0xEF, 2), (0xF0, 0xF4, 3))
#: Bytes Windows-1252 leaves undefined (C1 control characters in Latin-1): not text.
_NOT_TEXT = (0x81, 0x8D, 0x8F, 0x90, 0x9D)
#: Bytes that Windows-1252 and Latin-1 read differently (curly quotes, dashes, euro sign).
_WINDOWS_ONLY = (0x80, 0x9F)


@dataclass(frozen=True)
class _EightBitMarks:
    """Byte offsets of the first of each kind of byte that decides a non-UTF-8 file's
    encoding (None when the file has none): see :func:`_eight_bit_marks`."""

    utf8_character: int | None  # the lead byte of a multi-byte UTF-8 character
    not_text: int | None  # a byte neither Windows-1252 nor (as text) Latin-1
    windows_only: int | None  # a byte Windows-1252 and Latin-1 read differently


def file_encoding(
    path: str | Path, name: str, *, bom: bool = False, head: bytes | memoryview = b""
) -> str:
    """The encoding of a whole export: "utf-8" ("utf-8-sig" with a byte-order mark) when every
    byte is UTF-8, else "latin-1" or "cp1252" (Windows-1252, when it has curly quotes and the
    like) when that is plausible; InputError at the first offending byte otherwise.

    Decided over the whole file, never over its first block: a file that is UTF-8 with one
    Latin-1 byte (mixed) or with bytes no Western text encoding has cannot be read without
    silently changing names (``Peña`` read as ``PeÃ±a``), so it is refused. Python's codecs
    run over 1 MiB blocks; files are read once more only when they are not UTF-8. ``head``, the
    file's first bytes after any byte-order mark when already read, is not read again when it
    is ASCII (most exports are: a whole one under 1 MiB is then read once).
    """
    start = len(codecs.BOM_UTF8) if bom else 0
    if _is_ascii(head):  # ASCII is UTF-8 and cuts no character: go on after it
        start += len(head)
    bad = _first_non_utf8(path, start)
    if bad is None:
        return "utf-8-sig" if bom else "utf-8"
    save = "re-save it as CSV UTF-8 (in Excel: Save As, CSV UTF-8)"
    marks = _eight_bit_marks(path)
    if bom or marks.utf8_character is not None:
        raise InputError.at(
            name,
            f"one text encoding for the whole file, but it holds UTF-8 text and this byte, "
            f"which is not UTF-8; {save}",
            line=_line_of(path, bad),
            found=f"byte 0x{_byte_at(path, bad):02X} at byte offset {bad:,}",
        )
    if (not_text := marks.not_text) is not None:
        raise InputError.at(
            name,
            f"UTF-8 or Windows-1252/Latin-1 text, but this byte is neither; {save}",
            line=_line_of(path, not_text),
            found=f"byte 0x{_byte_at(path, not_text):02X} at byte offset {not_text:,}",
        )
    return "cp1252" if marks.windows_only is not None else "latin-1"


def _read_into(fh: BinaryIO, size: int) -> tuple[bytearray, int]:
    """The next ``size`` bytes of the open file (fewer at its end) read into this thread's
    buffer, which the next call overwrites: (buffer, bytes read). One buffer serves every block
    of every file a thread reads: a new bytes object per block was memory the kernel mapped
    and zeroed again each time (sniffing the national exports, 1.9 GB: 1.1 -> 0.5 CPU s)."""
    buffer = getattr(_BUFFERS, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _BUFFERS.buffer = bytearray(size)
    return buffer, fh.readinto(memoryview(buffer)[:size])


def _is_ascii(data: bytes | memoryview) -> bool:
    """Whether every byte is ASCII, without copying ``data`` (a memoryview has no isascii)."""
    return int(np.frombuffer(data, dtype=np.uint8).max(initial=0)) < 0x80


def _blocks(path: str | Path, start: int = 0) -> Iterator[tuple[int, memoryview]]:
    """(offset, block) of the file from ``start``, in blocks of :data:`BLOCK_BYTES`; each block
    is a view of this thread's buffer (:func:`_read_into`), overwritten by the next one."""
    with open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        while True:
            buffer, size = _read_into(fh, BLOCK_BYTES)
            if not size:
                return
            yield offset, memoryview(buffer)[:size]
            offset += size


def _first_non_utf8(path: str | Path, start: int) -> int | None:
    """Byte offset of the first byte that is not part of valid UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    end = start
    for offset, block in _blocks(path, start):
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the last block
        if not pending and _is_ascii(block):  # ASCII is UTF-8: skip decoding (10x faster)
            end = offset + len(block)
            continue
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            return offset - pending + exc.start
        end = offset + len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return end - len(decoder.getstate()[0])
    return None


def _eight_bit_marks(path: str | Path) -> _EightBitMarks:
    """The first byte of each kind :class:`_EightBitMarks` names, in one pass over the file.

    Vectorised by hand over each block's non-ASCII bytes: a regular expression for a UTF-8
    character (three alternatives) scanned a mostly-ASCII export at 35 MB/s, so a cohort whose
    rosters hold a Latin-1 name took 12 s to sniff, against 0.5 s for UTF-8 ones.
    """
    found: dict[str, int | None] = dict.fromkeys(("utf8_character", "not_text", "windows_only"))
    carry = b""  # the bytes before this block: a character cut by the block boundary
    for offset, block in _blocks(path):
        if _is_ascii(block):  # ends any character cut before it, and starts none
            carry = b""
            continue
        data = np.frombuffer(carry + block, dtype=np.uint8)
        start = offset - len(carry)
        high = np.flatnonzero(data >= 0x80)
        values = data[high]
        firsts = {
            "not_text": high[np.isin(values, _NOT_TEXT)],
            "windows_only": high[(values >= _WINDOWS_ONLY[0]) & (values <= _WINDOWS_ONLY[1])],
            "utf8_character": _utf8_leads(data, high, values),
        }
        for kind, positions in firsts.items():
            if found[kind] is None and positions.size:
                found[kind] = start + int(positions[0])
        if None not in found.values():
            break
        carry = data[-3:].tobytes()  # a copy: the block's buffer is read over next
    return _EightBitMarks(**found)


def _utf8_leads(data: np.ndarray, high: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions, in order, of the non-ASCII bytes ``high`` (whose bytes are ``values``) of
    ``data`` that lead a whole multi-byte UTF-8 character within ``data``."""
    leads = []
    for low, top, after in _UTF8_CHARACTERS:
        candidates = high[(values >= low) & (values <= top)]
        candidates = candidates[candidates + after < len(data)]  # cut short: the next block's
        whole = np.ones(len(candidates), dtype=bool)
        for step in range(1, after + 1):
            following = data[candidates + step]
            whole &= (following >= 0x80) & (following <= 0xBF)
        leads.append(candidates[whole])
    return np.sort(np.concatenate(leads))


def _byte_at(path: str | Path, offset: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(1)[0]


def _line_of(path: str | Path, offset: int) -> int:
    """1-based line of the byte at ``offset``; lines end at LF, CRLF or a lone CR, as pyarrow
    reads them."""
    line_ends, after_cr = 0, False
    for start, block in _blocks(path):
        before = bytes(block[: max(offset - start, 0)])
        # a CRLF is one line end, also when a block boundary falls between its CR and LF
        line_ends += before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
        line_ends -= int(after_cr and before.startswith(b"\n"))
        after_cr = before.endswith(b"\r")
        if start + len(block) > offset:
            break
    return line_ends + 1


def read_raw_exports(requests: Sequence[RawRequest], *, progress: bool = False) -> RawExports:
    """Read the requested columns of each export as text and stack them (see :class:`RawExports`).

    pyarrow parses each file (files side by side; a file over :data:`STREAM_BYTES` a block at
    a time, as its rows are stacked) into plain text columns; they are stacked and
    dictionary-encoded half a million rows at a time (encoding file by file and unifying the
    dictionaries afterwards cost twice the parse; all at once held every file's text), then
    joined, one dictionary per column, so millions of rows cost little memory and later
    parsing runs once per distinct value. Blank lines are found on
    those dictionaries too. Row i is reported on line i + 2, which assumes values hold no line
    breaks (NWEA exports have none); a quoted line break shifts the line numbers after it.
    ``progress`` reports the files read (:func:`pl_eval.progress.track`).
    """
    names = sorted({n for r in requests for n in r.columns})
    problems: list[Problem] = []
    rows_read: dict[str, int] = {}
    encodings: dict[str, str] = {}
    # per column, its text dictionary-encoded a stack of files at a time
    stacks: dict[str, list[pa.Array]] = {n: [] for n in [*names, "source_line"]}
    pending: list[pa.Table] = []
    pending_rows = 0  # kept as files arrive: summing pending per file is quadratic in files
    failed: set[str] = set()  # files whose reading failed after some of their rows
    in_order = sorted(requests, key=lambda r: r.file.name)  # rows in file, line order
    # files side by side, one per core: pyarrow parses an export of about a megabyte as one
    # block, on one thread; the results come back in file order
    done = zip(
        in_order, _side_by_side(_read_one, in_order, [r.file.path for r in in_order]), strict=True
    )
    if progress:
        done = track(
            done, "read file", logger=log, total=len(in_order), label=lambda d: d[0].file.name
        )
    for request, found in done:
        if isinstance(found, InputError):
            problems.extend(found.problems)
            continue
        pieces, encodings[request.file.name] = found
        rows_read[request.file.name] = 0
        try:
            for table in pieces:  # a big file's blocks are parsed here, as they are stacked
                rows_read[request.file.name] += table.num_rows
                pending.append(_with_columns(table, names))
                pending_rows += table.num_rows
                if pending_rows >= STACK_ROWS:
                    for name, column in _encoded(pending, names).items():
                        stacks[name].append(column)
                    pending, pending_rows = [], 0
        except InputError as exc:  # its rows so far stay stacked, counted: nothing is written
            problems.extend(exc.problems)
            failed.add(request.file.name)
    if pending:
        for name, column in _encoded(pending, names).items():
            stacks[name].append(column)
    files = sorted(r.file.name for r in requests)
    # the joined columns are passed on, not kept here: _stack frees each as pandas takes it
    frame, blanks = _stack(
        _joined(stacks) if stacks["source_line"] else None, rows_read, names, files
    )
    rows = frame["source_file"].value_counts(sort=False)
    problems += [
        Problem(name, "a data row after the header", line=2, found="no data rows")
        for name in blanks
        if rows[name] == 0 and name not in failed
    ]
    if problems:  # a file has problems reading it or no data rows, never both: in file order
        raise InputError(sorted(problems, key=lambda p: p.file))
    release_memory()  # parse buffers are freed; give them back now
    return RawExports(frame, encodings, blanks)


def _read_one(request: RawRequest) -> tuple[Iterable[pa.Table], str]:
    """One export's requested columns as text, with their line numbers, as tables of rows in
    order: the whole file as one table, or a file of more than :data:`STREAM_BYTES` a block of
    rows at a time as the caller takes them (InputError, raised when the rows are taken, for a
    file that cannot be parsed)."""
    raw = request.file
    try:
        streamed = os.stat(raw.path).st_size > STREAM_BYTES
    except OSError as exc:
        raise InputError.at(raw.name, "a readable file", found=exc.strerror or str(exc)) from None
    pieces = _parsed_pieces(request, streamed=streamed)
    return (pieces if streamed else list(pieces)), raw.encoding  # a whole file: parsed here


def _parsed_pieces(request: RawRequest, *, streamed: bool) -> Iterator[pa.Table]:
    """The file's rows parsed (on the calling thread: the files are already read side by side,
    one per core, and Arrow's own pool has one thread under Snakemake, OMP_NUM_THREADS=1, on
    which two files' blocks queued one behind the other; a serial read also numbers bad
    rows): whole, or a block at a time when it is over :data:`STREAM_BYTES`. InputError for
    rows with the wrong field count (by line), unterminated quotes and read failures."""
    raw = request.file
    fields = len(raw.header) + raw.trailing_delimiter
    positional = [f"f{i}" for i in range(fields)]
    # the empty field after a trailing delimiter is read to check that it is empty
    read = [*request.columns.values(), *([fields - 1] if raw.trailing_delimiter else [])]
    bad_rows: list = []

    def on_bad_row(row) -> str:
        bad_rows.append(row)
        return "skip"

    options = {
        "read_options": pacsv.ReadOptions(
            use_threads=False,
            encoding=_CODECS[raw.encoding],  # decided for the whole file by file_encoding
            skip_rows=1,
            column_names=positional,
            **({"block_size": STREAM_BLOCK_BYTES} if streamed else {}),
        ),
        "parse_options": pacsv.ParseOptions(
            delimiter=raw.delimiter, ignore_empty_lines=False, invalid_row_handler=on_bad_row
        ),
        "convert_options": pacsv.ConvertOptions(
            include_columns=[positional[i] for i in read],
            column_types={positional[i]: pa.string() for i in read},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    line = 2
    try:
        if streamed:
            pieces = (pa.Table.from_batches([b]) for b in pacsv.open_csv(raw.path, **options))
        else:
            pieces = iter([pacsv.read_csv(raw.path, **options)])
        for table in pieces:
            if bad_rows:
                break
            rows = table.num_rows
            lines = pa.array(np.arange(line, line + rows, dtype=np.int64))
            if raw.trailing_delimiter:
                _check_trailing(raw, table.column(positional[-1]), lines.to_numpy())
                table = table.drop_columns([positional[-1]])
            yield table.rename_columns(list(request.columns)).append_column("source_line", lines)
            line += rows
    except pa.ArrowInvalid as exc:  # e.g. an unterminated quote
        raise InputError.at(raw.name, "a well-formed delimited file", found=str(exc)) from None
    except UnicodeDecodeError:  # only UTF-16 is decoded as it is parsed (file_encoding)
        raise InputError.at(
            raw.name,
            "UTF-16 text throughout, as the file's byte-order mark says; open it in Excel and "
            "Save As CSV UTF-8",
            found="bytes that are not UTF-16",
        ) from None
    except OSError as exc:
        raise InputError.at(raw.name, "a readable file", found=exc.strerror or str(exc)) from None
    if bad_rows:  # some rows had the wrong number of fields: report their lines
        expected = f"{len(raw.header)} fields like the header"
        if raw.trailing_delimiter:
            expected = (
                f"{fields} fields like line 2, the header's {len(raw.header)} and an empty one "
                "after a delimiter ending the row"
            )
        listed = ((row.number, counted(row.actual_columns, "field")) for row in bad_rows)
        # a file read a block at a time stops at its first bad block: its count is a floor
        more = f"{'at least ' if streamed else ''}{{}} more rows have other counts"
        raise InputError(_row_problems(raw.name, expected, listed, len(bad_rows), more))


def _check_trailing(raw: RawFile, values: pa.ChunkedArray, lines: np.ndarray) -> None:
    """InputError for rows of a file whose rows end with a delimiter (:attr:`RawFile.
    trailing_delimiter`) that hold a value after it: a value past the header's last column."""
    filled = np.flatnonzero(pc.utf8_length(pc.utf8_trim_whitespace(values)).to_numpy() > 0)
    if not len(filled):
        return
    expected = (
        f"nothing after the header's {len(raw.header)} fields but the delimiter ending the "
        "row, as on line 2"
    )
    listed = ((int(lines[i]), values[int(i)].as_py()) for i in filled)
    raise InputError(
        _row_problems(raw.name, expected, listed, len(filled), "{} more rows hold one")
    )


def _row_problems(
    name: str, expected: str, rows: Iterable[tuple[int, str]], count: int, more: str
) -> list[Problem]:
    """A problem per (line, found) of the first :data:`MAX_ROW_PROBLEMS` of a file's ``count``
    bad ``rows``, and the rest counted in one line (``more``, formatted with their number)."""
    problems = [
        Problem(name, expected, line=line, found=found)
        for line, found in itertools.islice(rows, MAX_ROW_PROBLEMS)
    ]
    if (rest := count - MAX_ROW_PROBLEMS) > 0:
        problems.append(Problem(name, f"{expected} ({more.format(rest)})"))
    return problems


def _with_columns(table: pa.Table, names: list[str]) -> pa.Table:
    """``table`` with the columns ``names`` (null where it lacks one) and source_line."""
    # column_names builds a new list on every call: once per file, not once per column (on
    # the thread that stacks every file while the others parse: 0.3 s of a national cohort)
    present = set(table.column_names)
    return pa.table(
        {n: table[n] if n in present else pa.nulls(table.num_rows, pa.string()) for n in names}
        | {"source_line": table["source_line"]}
    )


def _encoded(tables: list[pa.Table], names: list[str]) -> dict[str, pa.Array]:
    """Files' text columns stacked and dictionary-encoded, one dictionary per column: a column
    at a time per core (pyarrow's hashing releases the GIL; columns are encoded independently,
    so the result does not depend on the threads)."""
    stacked = pa.concat_tables(tables)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        encoded = pool.map(lambda n: stacked[n].dictionary_encode().combine_chunks(), names)
        columns = dict(zip(names, encoded, strict=True))
    return columns | {"source_line": stacked["source_line"].combine_chunks()}


def _joined(stacks: dict[str, list[pa.Array]]) -> dict[str, pa.Array]:
    """Each column's stacks (:func:`_encoded`) joined into one array, a column per core; the
    stacks are taken out of ``stacks`` as they are joined, so each column's are freed once
    joined rather than all at the end (a national cohort's codes: 600 MB).

    Joining unifies the stacks' dictionaries: each one's values in order, those not seen
    before appended, which is the order of first appearance over all rows, as encoding all
    rows at once gives (pandas categories and the typed table's bytes follow it). Cells
    written as formula text are then read as their text (:func:`_unwrapped`).
    """

    def joined(name: str) -> pa.Array:
        return _unwrapped(pa.concat_arrays(stacks.pop(name)))

    names = list(stacks)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return dict(zip(names, pool.map(joined, names), strict=True))


def _unwrapped(column: pa.Array) -> pa.Array:
    """A text ``column`` (dictionary-encoded) with its cells written as ="text"
    (:data:`_FORMULA_TEXT`) read as the text, on its dictionary; itself when it has none (the
    usual case) or is no text (source_line)."""
    if not pa.types.is_dictionary(column.type):
        return column
    dictionary = column.dictionary
    if not pc.any(pc.starts_with(dictionary, '="')).as_py():
        return column
    texts = pc.replace_substring_regex(dictionary, _FORMULA_TEXT, r"\1").dictionary_encode()
    # values the unwrapping makes equal ("00123" beside ="00123") become one
    return pa.DictionaryArray.from_arrays(texts.indices.take(column.indices), texts.dictionary)


def _stack(
    columns: dict[str, pa.Array] | None,
    rows_read: dict[str, int],
    names: list[str],
    files: list[str],
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The joined columns (:func:`_joined`) as a frame without their blank lines (rows whose
    every read field is empty or whitespace), with source_file; blank lines per file."""
    position = {f: i for i, f in enumerate(files)}  # files.index per file is quadratic
    codes = np.repeat(
        np.array([position[f] for f in rows_read], dtype=np.int32), list(rows_read.values())
    )
    if columns is not None:
        rows = len(columns["source_line"])
        keep = pc.invert(_blank_rows([columns[n] for n in names], rows))
        if not pc.all(keep).as_py():  # rarely: filtering copies every column
            columns = {n: c.filter(keep) for n, c in columns.items()}
        keep = keep.to_numpy(zero_copy_only=False)
        table = pa.table(columns)
        del columns  # each column freed as it is converted (the stacks were freed before)
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
    else:  # nothing was requested
        frame = pd.DataFrame({"source_line": np.array([], dtype=np.int64)})
        keep = np.ones(0, dtype=bool)
    blank = np.bincount(codes[~keep], minlength=len(files))
    frame.insert(0, "source_file", pd.Categorical.from_codes(codes[keep], files))
    return frame, {f: int(blank[position[f]]) for f in rows_read}


def _blank_rows(columns: list[pa.DictionaryArray], rows: int) -> pa.Array:
    """Rows whose every read field is empty or whitespace (or absent): blank lines in a file.

    Tested on each column's dictionary (its distinct values) and mapped through the indices;
    a column filled on every row (no missing value, no empty value in its dictionary) shows
    at once that no row is blank, which is the usual case.
    """
    empties = [pc.equal(pc.utf8_trim_whitespace(c.dictionary), "") for c in columns]
    pairs = list(zip(columns, empties, strict=True))
    if any(c.null_count == 0 and not pc.any(e).as_py() for c, e in pairs):
        return pa.array(np.zeros(rows, dtype=bool))
    blank = pa.array(np.ones(rows, dtype=bool))
    for column, empty in pairs:
        blank = pc.and_(blank, pc.fill_null(pc.take(empty, column.indices), True))
    return blank


def read_pseudonym_key() -> str:
    """The key for pseudonymous student keys: $PL_EVAL_KEY, else the key file (made on first use).

    The key file is $PL_EVAL_KEY_FILE or ~/.config/pl_eval/pseudonym.key; a new one holds 16
    random URL-safe characters from :mod:`secrets` and is readable by its owner only (0600).
    A key file that cannot be made or read (a folder, no permission, a full disk) is a
    :class:`ConfigError` saying which variable to set.
    """
    if (key := os.environ.get("PL_EVAL_KEY")) is not None:
        return key
    path = Path(os.environ.get("PL_EVAL_KEY_FILE", DEFAULT_KEY_FILE)).expanduser()
    try:
        if not path.exists():
            _create_key_file(path)
        return path.read_text(encoding="latin-1").strip()
    except OSError as exc:
        line = errors.os_error_line(exc, KEY_FILE_ACTION)
        named = exc.filename is not None and Path(exc.filename) == path
        where = line if named else f"{path}: {line}"
        raise ConfigError(f"pseudonymisation key file {where}") from None


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path``, complete or not at all: written to a temporary
    beside it, then linked into place (which fails if another process made one first: theirs
    is kept)."""
    make_folder(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:  # mkstemp's file is private (0600), as a key must be
            fh.write(secrets.token_urlsafe(12) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
    except OSError as exc:
        raise _about(exc, path) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _row_group_column(
    values: pa.ChunkedArray, picked: pa.Array | None, kind: pa.DataType
) -> pa.Array:
    """One column of a row group, its rows ``picked`` (None: all), as one array of ``kind``
    (one chunk, as a table from pandas has: the Parquet writer pages by chunk). Text of one
    dictionary is taken by code and decoded once, from the dictionary."""
    dictionary = one_dictionary(values)
    if dictionary is not None:
        indices = pa.concat_arrays([chunk.indices for chunk in values.chunks])
        return dictionary.cast(kind).take(indices if picked is None else indices.take(picked))
    whole = values.cast(kind).combine_chunks()
    return whole if picked is None else whole.take(picked)


def one_dictionary(values: pa.ChunkedArray) -> pa.Array | None:
    """The dictionary all chunks of a dictionary-encoded column share (an Arrow file written
    from pandas holds one per column), else None (also for other columns)."""
    if not pa.types.is_dictionary(values.type) or not values.num_chunks:
        return None
    first = values.chunk(0).dictionary

    def addresses(array: pa.Array) -> list[int | None]:
        return [b.address if b is not None else None for b in array.buffers()]

    shared = all(addresses(c.dictionary) == addresses(first) for c in values.chunks[1:])
    return first if shared else None


def take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """The rows at ascending positions ``rows`` of ``table``, taken record batch by record
    batch: pyarrow's take on a table of many batches first joins each column's batches into
    one, a copy of the whole table (a national cohort's typed tests: 700 MB) per take."""
    bounds = np.cumsum([0] + [len(batch) for batch in table.to_batches()])
    cuts = np.searchsorted(rows, bounds)
    parts = [
        batch.take(pa.array(rows[cuts[i] : cuts[i + 1]] - bounds[i]))
        for i, batch in enumerate(table.to_batches())
        if cuts[i + 1] > cuts[i]
    ]
    return pa.Table.from_batches(parts, schema=table.schema) if parts else table.slice(0, 0)


def write_parquet_text(table: pa.Table, path: str | Path, rows: np.ndarray | None = None) -> None:
    """Write the ``rows`` (ascending positions; default all) of an Arrow table as Parquet, text
    (dictionary-encoded or not) stored as plain text: the file :func:`write_parquet` writes for
    the same rows as a DataFrame with those columns as str, pandas dtypes (Int64, boolean) as
    the table's pandas metadata gives them.

    Rows are taken and decoded one row group at a time, and each is written before the next
    is built: a national cohort's scores as one table of strings would cost gigabytes.
    """
    empty = table.schema.empty_table().to_pandas()  # the pandas dtypes of the columns
    text = {
        name: "str"
        for name, kind in zip(table.column_names, table.schema.types, strict=True)
        if pa.types.is_dictionary(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string(kind)
    }
    schema = pa.Schema.from_pandas(empty.astype(text), preserve_index=False)
    count = table.num_rows if rows is None else len(rows)
    if not count:
        rows = None  # an empty table: one empty row group

    def row_group(start: int) -> pa.Table:
        if rows is None:
            part, picked = table.slice(start, ROW_GROUP_ROWS), None
        else:  # from the slice the rows span, column by column (a take of a whole table
            # would first join each column's record batches into one: a copy of every column)
            taken = rows[start : start + ROW_GROUP_ROWS]
            first = int(taken[0])
            part = table.slice(first, int(taken[-1]) + 1 - first)
            picked = pa.array(taken - first)
        return pa.table(
            [_row_group_column(part[f.name], picked, f.type) for f in schema], schema=schema
        )

    release_memory()  # buffers freed before: given back first
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for start in range(0, max(count, 1), ROW_GROUP_ROWS):
            writer.write_table(row_group(start))
            release_memory()
