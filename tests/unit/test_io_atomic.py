"""Atomic writes: nothing partial on failure, and ordinary file permissions on success."""

import errno
import os
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pl_eval import io
from pl_eval.errors import InputError


def test_outputs_get_ordinary_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        io.write_json({"a": 1}, tmp_path / "out.json")
    finally:
        os.umask(previous)
    # mkstemp's private 0600 would keep a report from being shared; a plain write gives 0644.
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    # SIGKILL runs no cleanup: the temporary of an interrupted write stays beside the output.
    (tmp_path / ".out.json.k1ll3d.tmp").write_text('{"a": ')
    (tmp_path / ".other.json.k1ll3d.tmp").write_text("{")  # another output's: not this write's
    io.write_json({"a": 1}, tmp_path / "out.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.k1ll3d.tmp", "out.json"]


def test_errors_name_the_output_not_its_temporary(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as caught:
        io.write_json({"a": 1}, tmp_path / "out.json")
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "out.json"))
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_an_output_folder_is_named(tmp_path):
    (tmp_path / "reports").write_text("")
    with pytest.raises(NotADirectoryError) as caught:
        io.write_json({}, tmp_path / "reports" / "demo" / "summary.json")
    assert caught.value.filename == str(tmp_path / "reports")


def test_pdf_bytes_do_not_depend_on_the_time_of_writing(tmp_path, monkeypatch):
    # fontTools stamps embedded font subsets with the time, unless SOURCE_DATE_EPOCH is set.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    html = "<!DOCTYPE html><html><body><h1>Peña Elementary</h1><p>0.12 to 0.19</p></body></html>"
    for name, now in (("a.pdf", 1.7e9), ("b.pdf", 1.8e9)):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        io.write_pdf(html, tmp_path / name)
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert "SOURCE_DATE_EPOCH" not in os.environ  # set only while rendering


def test_a_pdf_after_others_in_one_process_is_the_pdf_of_a_fresh_process(tmp_path):
    # The PDFs a process writes share one WeasyPrint font configuration: a page rendered after
    # pages using other fonts and glyphs (bold, italics, other scripts) has the bytes it has
    # when rendered first, with a configuration of its own.
    page = "<!DOCTYPE html><html><body><h1>Peña Elementary</h1><p>0.12 to 0.19</p></body></html>"
    io._font_config.cache_clear()
    io.write_pdf(page, tmp_path / "first.pdf")
    io._font_config.cache_clear()
    for i, other in enumerate(["<b>Ωmega − 3</b>", "<i>Ünïcode</i> <code>x = 1</code>"]):
        io.write_pdf(f"<!DOCTYPE html><html><body><p>{other}</p></body></html>", tmp_path / f"{i}")
    io.write_pdf(page, tmp_path / "after.pdf")
    assert (tmp_path / "after.pdf").read_bytes() == (tmp_path / "first.pdf").read_bytes()


def test_read_parquet_where_keeps_one_value_s_rows_and_the_file_s_dtypes(tmp_path):
    # A match job reads its subject's half of the panel, a batch at a time; the rows and
    # dtypes (categories in the file's order) are those of reading the whole file.
    n = 200_000  # more than one batch
    frame = pd.DataFrame(
        {
            "subject": pd.Categorical(np.where(np.arange(n) % 3 == 0, "reading", "math")),
            "key": [f"k{i}" for i in range(n)],
            "score": np.arange(n, dtype=float),
            "met": pd.array(np.where(np.arange(n) % 5 == 0, None, True), dtype="boolean"),
        }
    )
    path = tmp_path / "panel.parquet"
    io.write_parquet(frame, path)
    whole = io.read_parquet(path)
    for subject in ("math", "reading"):
        part = io.read_parquet(path, where=("subject", subject))
        expected = whole[whole["subject"] == subject].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)
    assert len(io.read_parquet(path, where=("subject", "science"))) == 0
    io.write_parquet(frame.assign(subject=1.0), path)  # a panel no pl-eval stage wrote
    with pytest.raises(
        InputError, match=r"panel.parquet, column 'subject': expected text.*found 'double'"
    ):
        io.read_parquet(path, where=("subject", "math"))


def test_read_parquet_where_decodes_only_row_groups_that_can_hold_the_value(tmp_path, monkeypatch):
    # A panel is written subject by subject: row groups of math only, of both, of reading
    # only; without statistics every group is read.
    frame = pd.DataFrame({"subject": ["math"] * 5 + ["reading"] * 5, "score": np.arange(10.0)})
    path = tmp_path / "panel.parquet"
    read: list = []
    iter_batches = pq.ParquetFile.iter_batches

    def spy(self, *args, row_groups=None, **kwargs):
        read.append(row_groups)
        return iter_batches(self, *args, row_groups=row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    every = [0, 1, 2]
    for statistics, groups in (
        (True, {"math": [0, 1], "reading": [1, 2], "science": []}),
        (False, {"math": every, "reading": every, "science": every}),
    ):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, path, row_group_size=4, write_statistics=statistics)
        for subject, expected in groups.items():
            read.clear()
            part = io.read_parquet(path, where=("subject", subject))
            kept = frame[frame["subject"] == subject].reset_index(drop=True)
            pd.testing.assert_frame_equal(part, kept)
            assert read == [expected], (statistics, subject)
