"""Atomic writes: nothing partial on failure, and ordinary file permissions on success."""

import os
import stat

import pytest

from pl_eval import io


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
