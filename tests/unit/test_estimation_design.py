"""From a DataFrame to a model's arrays: the counting shortcuts agree with the sorts they replace
(np.unique, pandas' remove_unused_categories) on cases with codes missing, and a subset that
keeps every row is the sample itself."""

import numpy as np
import pandas as pd
import pytest

from pl_eval.estimation.design import _levels, prepare_sample, renumber
from pl_eval.estimation.models import _clusters_per_group


@pytest.mark.parametrize(
    "codes",
    [
        [3, 0, 3, 5, 0, 5],  # 1, 2 and 4 unused: a gap inside and past the end
        [2, 1, 0, 1, 2],  # every code present: the codes as they are
        [4, -1, 1, -1, 4],  # −1 (no level) stays −1
    ],
)
def test_renumber_is_uniques_inverse(codes):
    codes = np.array(codes)
    present = codes >= 0
    expected = codes.copy()
    expected[present] = np.unique(codes[present], return_inverse=True)[1]
    got = renumber(codes, 6)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == codes.dtype


def test_categorical_levels_as_remove_unused_categories():
    col = pd.Series(
        pd.Categorical(["c", "a", None, "c", "e"], categories=["a", "b", "c", "d", "e", "f"])
    )
    codes, levels = _levels(col)
    pruned = col.cat.remove_unused_categories()
    assert levels == tuple(pruned.cat.categories) == ("a", "c", "e")
    np.testing.assert_array_equal(codes, pruned.cat.codes.to_numpy())  # [1, 0, -1, 1, 2]
    assert codes.dtype == pruned.cat.codes.dtype


def test_subset_renumbers_clusters_and_keeps_a_full_sample_as_is():
    df = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "t": [1, 0, 1, 0, 1, 0],
            "school": ["s1", "s2", "s3", "s3", "s1", "s2"],
            "g": ["a", "a", "b", "b", "a", "b"],
        }
    )
    sample = prepare_sample(df, "y", "t", cluster="school", group="g")
    assert sample.subset(np.ones(6, dtype=bool)) is sample
    keep = np.array([False, True, True, True, False, True])  # s1 (code 0) leaves
    part = sample.subset(keep)
    np.testing.assert_array_equal(part.cluster, [0, 1, 1, 0])  # s2, s3, s3, s2
    np.testing.assert_array_equal(part.rows, keep)
    # group a holds s1 and s2, group b s3 and s2
    np.testing.assert_array_equal(_clusters_per_group(sample), [2, 2])
    np.testing.assert_array_equal(_clusters_per_group(part), [1, 2])
