"""Norms at a test's instructional week (issue 12, defect 1): the published tables at NWEA's
default weeks, hand-computed values between and beyond them, and the week of a test counted
from its date on the school calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pl_eval import io
from pl_eval.errors import ConfigError
from pl_eval.norms import (
    DEFAULT_WEEKS,
    NORMS_YEARS,
    SEASONS,
    Norms,
    SchoolCalendar,
    instructional_weeks,
)

TABLE = io.read_norms_table()
CURVES = io.read_norms_week_means()


@pytest.mark.parametrize("year", NORMS_YEARS)
@pytest.mark.parametrize("curves", [CURVES, None], ids=["week_curves", "interpolated"])
def test_default_weeks_give_the_published_tables_exactly(year, curves):
    norms = Norms.from_frame(TABLE, year, curves)
    grid = pd.MultiIndex.from_product(
        [["math", "reading"], range(13), SEASONS], names=["subject", "grade", "season"]
    ).to_frame(index=False)
    week = grid["season"].map(DEFAULT_WEEKS).to_numpy()
    mean, sd = norms.at_week(grid["subject"], grid["grade"], week)
    table_mean, table_sd = norms.lookup(grid["subject"], grid["grade"], grid["season"])
    np.testing.assert_array_equal(mean, table_mean)  # NaN where the study has none (2015 K SD)
    np.testing.assert_array_equal(sd, table_sd)
    rit = np.full(len(grid), 200.0)
    np.testing.assert_array_equal(
        norms.z_at_week(rit, grid["subject"], grid["grade"], week),
        norms.z_score(rit, grid["subject"], grid["grade"], grid["season"]),
    )


def test_2020_mean_follows_the_growth_curve_between_the_default_weeks():
    """Hand-computed from mapvizieR's norms_2020_gamma.csv rows 1_3 and 1_0 (x1..x6) and the
    published means and SDs (nwea_formats.md §2.1)."""
    norms = Norms.from_frame(TABLE, 2020, CURVES)
    # grade 3 math, week 10: x1 + x4·6 + x6·36, shifted by the curve's misfit to the tables at
    # weeks 4 (+0.0032663) and 20 (+0.0003895), interpolated to week 10
    curve = 188.4767337 + 0.5305692 * 6 - 0.0028759 * 36
    shift = 0.0032663 + (0.0003895 - 0.0032663) * 6 / 16
    # K math, week 12: the cubic in t = 0.08; misfits -0.0024469 (week 4), -0.0019295 (week 20)
    t = 0.08
    cubic = 139.5624469 + 72.2156478 * t - 44.2656643 * t**2 + 36.1763687 * t**3
    cubic_shift = -0.0024469 + (-0.0019295 + 0.0024469) * 8 / 16
    mean, sd = norms.at_week(["math", "math"], [3, 0], np.array([10.0, 12.0]))
    assert mean == pytest.approx([curve + shift, cubic + cubic_shift], abs=1e-6)
    assert mean[0] == pytest.approx(191.558804, abs=1e-6)
    # SDs piecewise linear between the seasons: 13.46 (fall) to 13.63 (winter); 12.45 to 11.96
    assert sd == pytest.approx([13.46 + 0.17 * 6 / 16, 12.45 - 0.49 * 8 / 16])
    # the z-score and percentile at that week
    z = norms.z_at_week(np.array([200.0]), ["math"], [3], np.array([10.0]))
    assert z[0] == pytest.approx((200 - 191.558804) / 13.52375, abs=1e-6)
    assert 100 * norm.cdf(z[0]) == pytest.approx(73.38, abs=0.01)
    # without the curve the mean is interpolated too: 188.48 + (196.23 - 188.48)·6/16
    linear = Norms.from_frame(TABLE, 2020)
    assert linear.at_week(["math"], [3], np.array([10.0]))[0][0] == pytest.approx(191.38625)


def test_studies_without_a_week_curve_interpolate_and_extrapolate_along_the_seasons():
    norms = Norms.from_frame(TABLE, 2015, CURVES)  # the curves are the 2020 study's only
    # grade 5 math 2015: 211.4 (14.68) / 217.2 (15.34) / 221.4 (16.17) at weeks 4 / 20 / 32
    mean, sd = norms.at_week(["math"] * 3, [5] * 3, np.array([26.0, 36.0, 0.0]))
    assert mean == pytest.approx([217.2 + 4.2 * 6 / 12, 221.4 + 4.2 * 4 / 12, 211.4 - 5.8 / 4])
    assert sd == pytest.approx([15.34 + 0.83 / 2, 16.17 + 0.83 / 3, 14.68 - 0.66 / 4])
    # no norms for the grade (2015 K SD, grade 13, an unknown subject): NaN
    mean, sd = norms.at_week(["math", "math", "science"], [0, 13, 5], np.array([4.0, 4, 4]))
    assert np.isnan(sd).all() and np.isnan(mean[1:]).all()


def test_instructional_weeks_count_school_days_from_the_first_day_less_breaks():
    dates = pd.to_datetime(
        pd.Series(
            [
                "2022-09-12",  # 28 days after 15 August: week 4
                "2023-04-20",  # 248 days, less 28 days of breaks (5 + 14 + 9): 220 / 7
                "2022-12-25",  # in the winter break: 132 days, less 5 and 4 break days
                "2022-08-01",  # before the first day: week 0
                "2023-09-12",  # the next school year: week 4 again
                None,  # no date: the season's default week
            ]
        )
    )
    weeks = instructional_weeks(dates, "spring")
    assert weeks == pytest.approx([4, 220 / 7, 123 / 7, 0, 4, 32])
    assert instructional_weeks(dates[-1:], "fall") == pytest.approx([4])
    plain = SchoolCalendar(first_day="09-01", breaks=())
    assert instructional_weeks(dates[:2], "fall", plain) == pytest.approx([11 / 7, 231 / 7])


def test_calendar_settings_and_days_no_year_has():
    calendar = SchoolCalendar.from_settings({"first_day": "08-20", "breaks": [["12-20", "01-02"]]})
    assert calendar == SchoolCalendar(first_day="08-20", breaks=(("12-20", "01-02"),))
    assert SchoolCalendar.from_settings({}) == SchoolCalendar()
    with pytest.raises(ConfigError) as error:
        SchoolCalendar.from_settings({"breaks": [["02-30", "03-02"]]})
    assert str(error.value) == (
        "panel.calendar.breaks: expected a day of every year as MM-DD, found '02-30'"
    )
