"""Complementary suppression over a set of published cells, on hand-made tables."""

from __future__ import annotations

import pandas as pd

from pl_eval.report.disclosure import (
    HIDE,
    ROUND,
    PublishedCells,
    Rounded,
    count_text,
    determined,
    solve,
)


def _sector_table(cells: PublishedCells) -> None:
    """Schools a (3), b (40), c (50) in sector x, d (60), e (12) in sector y; the sector and
    pooled totals in a second table."""
    schools = pd.DataFrame(
        {"school": list("abcde"), "sector": list("xxxyy"), "n": [3, 40, 50, 60, 12]}
    )
    cells.add("schools", schools, key=["school"], cells={"n": "school|{school}"}, action=HIDE)
    totals = pd.DataFrame({"group": ["x", "y", "all"], "n": [93, 72, 165]})
    cells.add("totals", totals, key=["group"], cells={"n": "total|{group}"}, action=ROUND)
    cells.relate("total|x", ["school|a", "school|b", "school|c"])
    cells.relate("total|y", ["school|d", "school|e"])
    cells.relate("total|all", [f"school|{s}" for s in "abcde"])
    cells.relate("total|all", ["total|x", "total|y"])


def test_a_cell_is_determined_only_when_its_unit_vector_is_in_the_row_space():
    relations = [{"t": 1, "a": -1, "b": -1}, {"t": 1, "c": -1}]
    # t is shown: a + b is known, neither alone
    assert determined(relations, {"a", "b"}, ["a", "b"]) == []
    # t and c hidden, but t = c and t = a + b: with b shown, a = c - b is still unknown
    assert determined(relations, {"a", "t", "c"}, ["a"]) == []
    # only a hidden: a = t - b
    assert determined(relations, {"a"}, ["a"]) == ["a"]
    # a combination of two relations: x - y = 2 and x + y = 4 fix both (rational elimination)
    assert determined([{"x": 1, "y": -1, "k": -1}, {"x": 1, "y": 1, "m": -1}], {"x", "y"},
                      ["x", "y"]) == ["x", "y"]  # fmt: skip


def test_the_smallest_school_of_the_same_sector_protects_a_tiny_one():
    cells = PublishedCells()
    _sector_table(cells)
    assert len(cells.relations) == 4  # all hold
    decision = solve(cells, min_n=10, round_to=5)
    # e (12) is the smallest school but hiding it leaves a = x - b - c; b (40) is the
    # smallest that protects a
    assert decision.hidden == {("schools", "a"), ("schools", "b")}
    assert decision.primary == {("schools", "a")}
    assert decision.rounded == frozenset()


def test_relations_that_do_not_hold_are_not_recorded():
    cells = PublishedCells()
    _sector_table(cells)
    cells.relate("total|y", ["school|d"])  # 72 != 60
    cells.relate("total|x", ["school|a", "missing"])  # an unpublished cell
    assert len(cells.relations) == 4


def test_totals_are_rounded_when_no_part_can_be_hidden_instead():
    cells = PublishedCells()
    parts = pd.DataFrame({"group": ["x", "y"], "n": [4, 60]})
    cells.add("parts", parts, key=["group"], cells={"n": "part|{group}"}, action=ROUND)
    total = pd.DataFrame({"group": ["all"], "n": [64]})
    cells.add("total", total, key=["group"], cells={"n": "all"}, action=ROUND)
    cells.relate("all", ["part|x", "part|y"])
    rounded = solve(cells, min_n=10, round_to=5)
    assert rounded.hidden == {("parts", "x")}
    assert rounded.rounded == {("parts", "y")}  # the smaller of the two that would do
    hidden = solve(cells, min_n=10, round_to=1)  # rounding off: hide it
    assert hidden.hidden == {("parts", "x"), ("parts", "y")}
    assert hidden.rounded == frozenset()


def test_a_cell_shown_in_two_tables_is_hidden_in_both():
    cells = PublishedCells()
    a = pd.DataFrame({"g": ["x", "y"], "n": [5, 30]})
    cells.add("first", a, key=["g"], cells={"n": "c|{g}"})
    cells.add("second", a.iloc[[0]], key=["g"], cells={"n": "c|{g}"})
    decision = solve(cells, min_n=10)
    assert decision.hidden == {("first", "x"), ("second", "x")}


def test_a_frozen_decision_is_kept_and_its_rows_are_chosen_last():
    cells = PublishedCells()
    _sector_table(cells)
    first = solve(cells, min_n=10, round_to=5)
    extra = pd.DataFrame({"group": ["x"], "n": [93]})  # the same total shown again
    cells.add("again", extra, key=["group"], cells={"n": "total|{group}"}, action=ROUND)
    second = solve(cells, min_n=10, round_to=5, frozen=first)
    assert second.hidden == first.hidden
    assert second.rounded == frozenset()


def test_rounded_counts_say_so():
    assert int(Rounded(503, 5)) == 505 and int(Rounded(502, 5)) == 500
    assert count_text(Rounded(1233, 5)) == "\u22481,235"
    assert str(Rounded(1233, 5)) == "\u22481235"  # as written to the CSV tables
    assert count_text(1233) == "1,233"
