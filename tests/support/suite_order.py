"""The order in which ``make test`` (pytest-xdist, ``--dist loadfile``) hands test files to its
workers (tests/conftest.py installs it)."""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

#: Folders of the files that take minutes in a few tests (the workflow and property markers):
#: a whole Snakemake run, or one Hypothesis test of 14 cohorts through every stage.
LONG_FOLDERS = ("tests/workflow/", "tests/property/")


def long_files_first(files: list[str]) -> list[str]:
    """``files`` (in xdist's order: most tests first) with those in LONG_FOLDERS moved ahead,
    each group keeping its order. xdist's order puts a one-test file last, so a worker could
    start a minutes-long one while the other, done, sits idle; ahead, the short files fill in
    the end instead."""
    return sorted(files, key=lambda name: not name.startswith(LONG_FOLDERS))


class LongFilesFirst(LoadFileScheduling):
    """xdist's loadfile scheduling, handing out the files in ``long_files_first`` order."""

    def _assign_work_unit(self, node) -> None:
        # xdist builds its queue and hands out the first files inside schedule(), with no hook
        # between: reorder the queue at the first hand-out (afterwards it only loses files).
        if not getattr(self, "_reordered", False):
            for name in reversed(long_files_first(list(self.workqueue))):
                self.workqueue.move_to_end(name, last=False)
            self._reordered = True
        super()._assign_work_unit(node)
