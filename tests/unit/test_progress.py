"""Progress reporting: log lines at the right cadence, a tqdm bar in a terminal."""

from __future__ import annotations

import io
import logging
import sys

import numpy as np
import pytest

from pl_eval import progress

log = logging.getLogger("pl_eval.test_progress")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_few_items_log_every_item_after_its_body(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    seen = []
    for grade in progress.track(
        [3, 4, 5], "matched stratum", logger=log, label=lambda g: f"grade={g}"
    ):
        seen.append((grade, len(_messages(caplog))))
    # each item is logged once the loop body is done with it, not before
    assert seen == [(3, 0), (4, 1), (5, 2)]
    assert _messages(caplog) == [
        "matched stratum 1 of 3 (grade=3)",
        "matched stratum 2 of 3 (grade=4)",
        "matched stratum 3 of 3 (grade=5)",
    ]


def test_many_items_log_about_every_tenth_and_the_last(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    assert list(progress.track(range(1569), "read file", logger=log)) == list(range(1569))
    # ceil(1569 / 10) = 157: lines after items 157, 314, ..., 1413 and the last, 1569
    counts = [*range(157, 1569, 157), 1569]
    assert _messages(caplog) == [f"read file {n} of 1569" for n in counts]


def test_twenty_items_are_still_logged_one_by_one_but_twenty_one_are_not(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    list(progress.track(range(20), "estimated school", logger=log))
    assert len(_messages(caplog)) == 20
    caplog.clear()
    list(progress.track(range(21), "estimated school", logger=log))
    assert _messages(caplog) == [f"estimated school {n} of 21" for n in (3, 6, 9, 12, 15, 18, 21)]


def test_total_can_be_given_for_an_iterator(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    list(progress.track(iter("abc"), "read file", logger=log, total=3, label=str.upper))
    assert _messages(caplog)[-1] == "read file 3 of 3 (C)"


def test_an_empty_loop_logs_nothing(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    assert list(progress.track([], "matched stratum", logger=log)) == []
    assert _messages(caplog) == []


def test_a_terminal_gets_a_tqdm_bar_and_one_closing_line(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bars = []
    real = progress.tqdm

    def spy(*args, **kwargs):
        bars.append(real(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(progress, "tqdm", spy)
    assert list(progress.track(range(50), "matched stratum", logger=log)) == list(range(50))
    assert len(bars) == 1 and bars[0].n == 50 and bars[0].total == 50
    assert "matched stratum" in terminal.getvalue()  # the bar was drawn on stderr
    assert _messages(caplog) == ["matched stratum 50 of 50"]


def test_a_log_file_gets_lines_even_from_a_terminal(monkeypatch, caplog, tmp_path):
    """Snakemake jobs started in a terminal inherit it as stderr but log to a file."""
    caplog.set_level(logging.INFO, logger=log.name)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setattr(progress, "tqdm", pytest.fail)  # no bar may be drawn
    to_file = logging.FileHandler(tmp_path / "stage.log")
    log.addHandler(to_file)
    try:
        list(progress.track(range(3), "matched stratum", logger=log))
    finally:
        log.removeHandler(to_file)
        to_file.close()
    assert _messages(caplog) == [f"matched stratum {n} of 3" for n in (1, 2, 3)]
    assert (tmp_path / "stage.log").read_text().splitlines()[-1] == "matched stratum 3 of 3"


def test_matching_reports_each_stratum_by_name(caplog):
    """The strata loop of nearest-neighbour matching logs one line per stratum, named."""
    from pl_eval.matching.nearest import nearest_neighbours

    caplog.set_level(logging.INFO, logger="pl_eval.matching.nearest")
    strata = np.array([1, 0, 1, 0, 1])
    treat = np.array([True, False, False, True, False])
    found = nearest_neighbours(
        np.array([0.5, 0.1, 0.4, 0.2, 0.9]),
        treat,
        strata,
        ratio=1,
        replace=True,
        caliper=None,
        priority=np.zeros(5, dtype=np.int64),
        names=("grade=3", "grade=4"),
    )
    # each treated row is matched to its nearest control within its own stratum
    assert (found.treated.tolist(), found.control.tolist()) == ([0, 3], [2, 1])
    lines = [r.getMessage() for r in caplog.records if r.name == "pl_eval.matching.nearest"]
    assert lines == ["matched stratum 1 of 2 (grade=3)", "matched stratum 2 of 2 (grade=4)"]
