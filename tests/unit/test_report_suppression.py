"""Small-cell suppression: primary cells, complementary cells and the log, on a hand-made table."""

from __future__ import annotations

import pandas as pd

from pl_eval.report import suppress


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["A", "A", "A", "B", "B", "C", "C", "C", "D", "D"],
            "cell": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "c3", "d1", "d2"],
            "n": [50, 5, 30, 40, 20, 3, 4, 100, 0, 50],
            "estimate": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        }
    )


def test_small_cells_and_their_complements_are_hidden():
    table = _table()
    before = table.copy()
    out = suppress(
        table, name="t", counts=["n"], key=["group", "cell"], group=["group"], hide=["estimate"]
    )
    hidden = out.table.loc[out.hidden, "cell"].tolist()
    # a2 (5) is small; a3 (30, the smallest other cell of A) would give a2 away from A's total.
    # c1 and c2 are both small, so neither can be derived: no complement. d1 is zero: shown.
    assert hidden == ["a2", "a3", "c1", "c2"]
    assert out.table.loc[out.hidden, ["n", "estimate"]].isna().all().all()
    assert out.table.loc[~out.hidden, "n"].tolist() == [50, 40, 20, 100, 0, 50]
    pd.testing.assert_frame_equal(table, before)


def test_every_hidden_cell_is_logged_with_its_reason():
    out = suppress(
        _table(),
        name="flow",
        counts=["n"],
        key=["group", "cell"],
        group=["group"],
        hide=["estimate"],
    )
    assert len(out.log) == 4 * 2  # four rows, two columns each
    assert set(out.log["table"]) == {"flow"}
    reasons = out.log.drop_duplicates("row").set_index("row")["reason"]
    assert reasons["A / a2"] == "fewer than 10 students"
    assert reasons["A / a3"].startswith("complementary")
    assert reasons["C / c1"] == reasons["C / c2"] == "fewer than 10 students"
    assert set(out.log.loc[out.log["row"] == "A / a2", "column"]) == {"n", "estimate"}


def test_a_row_is_hidden_when_either_arm_is_small_and_min_n_is_configurable():
    table = pd.DataFrame(
        {"school": ["x", "y", "z"], "n_treated": [12, 30, 40], "n_comparison": [50, 11, 60]}
    )
    out = suppress(table, name="s", counts=["n_treated", "n_comparison"], key=["school"], min_n=15)
    # x and y are small in one arm each; with two hidden, z need not be.
    assert out.table.loc[out.hidden, "school"].tolist() == ["x", "y"]
    assert not suppress(table, name="s", counts=["n_treated"], key=["school"]).hidden.any()
