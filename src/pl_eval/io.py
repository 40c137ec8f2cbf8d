"""Every read and write of files: atomic, deterministic, with explicit dtypes.

Writers go through a temporary file in the destination folder and an atomic rename, so a
failed stage never leaves a partial output behind for Snakemake or a reader to trust.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

#: Leading characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` (index dropped) as Parquet; same frame gives the same bytes."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON with sorted keys so that reruns are byte-identical."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


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
    df: pd.DataFrame, path: str | Path, *, delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    """Write a raw-style export (all columns as text, quoted only where needed) quickly.

    Used for simulated NWEA exports; unlike :func:`write_csv` it does not alter cell text,
    because it reproduces what a district hands over.
    """
    table = pa.Table.from_pandas(df.astype("string"), preserve_index=False)
    options = pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed")
    with atomic_path(path) as tmp:
        if encoding.replace("-", "").lower() in ("utf8",):
            pacsv.write_csv(table, tmp, write_options=options)
        else:  # pyarrow writes UTF-8 only; re-encode (small files: fixtures and tests)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, write_options=options)
            tmp.write_bytes(sink.getvalue().to_pybytes().decode("utf-8").encode(encoding))


def read_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_norms_table() -> pd.DataFrame:
    """The NWEA status norms shipped as package data (see ``data/nwea_norms.csv`` sources)."""
    with resources.files("pl_eval").joinpath("data/nwea_norms.csv").open("rb") as fh:
        return pd.read_csv(
            fh,
            dtype={"norms_year": "int64", "subject": "string", "grade": "int64", "term": "string"},
        )
