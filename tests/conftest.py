"""The whole suite: ``make test`` hands the long test files to its workers first."""

from __future__ import annotations

from suite_order import LongFilesFirst


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (make test) as LongFilesFirst; any other mode as xdist has it."""
    if config.getvalue("dist") == "loadfile":
        return LongFilesFirst(config, log)
    return None
