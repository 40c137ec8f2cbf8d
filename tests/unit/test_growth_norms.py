"""Growth against NWEA norms by arm: hand-computed share met and mean CGP, matched (weighted by
the match weights) and unmatched, and the table's word when the exports carry no fields."""

import numpy as np
import pandas as pd
import pytest

from pl_eval.estimation.growth_norms import NO_FIELDS, carries_fields, growth_norms

NA = pd.NA


def panel() -> pd.DataFrame:
    # A-E PL, F-I comparison; D has no growth fields, E only a met flag (a partial block)
    return pd.DataFrame(
        {
            "student_key": list("ABCDEFGHI"),
            "subject": "math",
            "treated": [True] * 5 + [False] * 4,
            "growth_met": pd.array(
                [True, False, True, NA, True, False, True, False, NA], dtype="boolean"
            ),  # fmt: skip
            "growth_cgp": np.array([60, 40, 70, np.nan, np.nan, 30, 50, 20, np.nan], "float32"),
        }
    )


def matched() -> pd.DataFrame:
    rows = panel().set_index("student_key").loc[list("ABCFGH")].reset_index()
    return rows.assign(weight=[1.0, 1.0, 1.0, 2.0, 0.5, 0.5])


def test_share_met_and_mean_cgp_by_arm_matched_and_unmatched():
    table = growth_norms(panel(), {"math": matched()}, "fall_to_spring").set_index(
        ["sample", "arm"]
    )
    expected = {
        # PL: A, B, C (weight 1 each): met 2 of 3, CGP (60 + 40 + 70) / 3
        ("matched", "treated"): (3, 2 / 3, 170 / 3),
        # comparison weights F 2, G 0.5, H 0.5 (sum 3): met 0.5 / 3, CGP (60 + 25 + 10) / 3
        ("matched", "comparison"): (3, 0.5 / 3, 95 / 3),
        ("all", "treated"): (3, 2 / 3, 170 / 3),  # D (no fields) and E (partial) left out
        ("all", "comparison"): (3, 1 / 3, 100 / 3),  # I has no fields
    }
    for (sample, arm), (n, share, cgp) in expected.items():
        row = table.loc[(sample, arm)]
        assert row["n_students"] == n
        assert row["share_met"] == pytest.approx(share)
        assert row["mean_cgp"] == pytest.approx(cgp)
        assert row["note"] == "" and row["window"] == "fall_to_spring"
    assert carries_fields(table.reset_index())


def test_no_growth_fields_says_so_on_every_row_rather_than_zeros():
    empty = panel().assign(
        growth_met=pd.array([NA] * 9, dtype="boolean"), growth_cgp=np.float32(np.nan)
    )
    table = growth_norms(empty, {"math": empty.assign(weight=1.0)}, "fall_to_winter")
    assert list(table["note"]) == [NO_FIELDS] * 4
    assert table["share_met"].isna().all() and (table["n_students"] == 0).all()
    assert not carries_fields(table)
    # a panel written before ingest kept the fields has no such columns at all
    bare = panel().drop(columns=["growth_met", "growth_cgp"])
    assert not carries_fields(growth_norms(bare, {"math": bare.assign(weight=1.0)}, "x"))


def test_inputs_are_not_modified():
    data, sample = panel(), matched()
    before = (data.copy(), sample.copy())
    growth_norms(data, {"math": sample}, "fall_to_spring")
    pd.testing.assert_frame_equal(data, before[0])
    pd.testing.assert_frame_equal(sample, before[1])
