"""One test per student x subject x term: GrowthMeasureYN, then SE, date, time, file/line."""

import numpy as np
import pandas as pd

from pl_eval.ingest.dedupe import choose


def frame(rows):
    columns = [
        "group",
        "growth_measure",
        "se",
        "test_date",
        "test_time",
        "source_file",
        "source_line",
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.assign(
        growth_measure=pd.array(out["growth_measure"], dtype="boolean"),
        test_date=pd.to_datetime(out["test_date"]).astype("datetime64[ms]"),
        test_time=out["test_time"].astype(float),
        source_file=pd.Categorical(out["source_file"], categories=["a.csv", "b.csv"]),
    )


def test_tie_breaks_in_order():
    tests = frame(
        [
            # growth measure beats a lower SE
            (0, True, 3.2, "2014-09-08", 0, "a.csv", 2),
            (0, False, 3.0, "2014-09-15", 0, "a.csv", 3),
            # lower SE among non-growth tests (missing flag counts as not TRUE)
            (1, None, 3.4, "2014-09-08", 0, "a.csv", 4),
            (1, False, 3.1, "2014-09-01", 0, "a.csv", 5),
            # later date when SE ties
            (2, True, 3.2, "2014-09-10", 0, "a.csv", 6),
            (2, True, 3.2, "2014-09-17", 0, "a.csv", 7),
            # later time when the date ties; a missing time is the earliest
            (3, True, 3.1, "2014-09-12", 50000, "a.csv", 8),
            (3, True, 3.1, "2014-09-12", np.nan, "a.csv", 9),
            # complete tie: first file, then first line
            (4, True, 3.1, "2014-09-12", 1, "b.csv", 2),
            (4, True, 3.1, "2014-09-12", 1, "a.csv", 11),
            (4, True, 3.1, "2014-09-12", 1, "a.csv", 10),
            # a single test is kept
            (5, False, 5.0, "2014-09-12", 1, "a.csv", 12),
        ]
    )
    choice = choose(tests, tests["group"].to_numpy())
    assert np.flatnonzero(choice.kept).tolist() == [0, 3, 5, 6, 10, 11]
    assert choice.kept_row.tolist() == [0, 0, 3, 3, 5, 5, 6, 6, 10, 10, 10, 11]
    assert choice.duplicates.sum() == 6


def test_input_is_not_modified():
    tests = frame(
        [(0, True, 3.2, "2014-09-08", 0, "a.csv", 2), (0, True, 3.0, "2014-09-08", 0, "a.csv", 3)]
    )
    before = tests.copy()
    choose(tests, tests["group"].to_numpy())
    pd.testing.assert_frame_equal(tests, before)
