"""National status norms: z-scores and national percentiles for RIT scores.

NWEA's percentiles are a normal approximation at the student's week of instruction
(reference/nwea_formats.md §2): z = (RIT − μ_w)/σ_w and percentile = 100·Φ(z). The published
tables are μ_w, σ_w at the default weeks 4 (fall), 20 (winter) and 32 (spring); at other weeks:

* the 2020 mean follows NWEA's growth-model curve (the coefficients x1..x6 of mapvizieR's
  ``data-raw/norms_2020_gamma.csv``, shipped as ``data/nwea_norms_2020_weeks.csv``), shifted by
  the piecewise-linear interpolation of its (≤ 0.02 RIT) differences from the published means at
  the default weeks, so that the default weeks give the tables exactly;
* every SD, and the 2015 and 2025 means (no week curve published or found), are interpolated
  piecewise linearly in weeks between the season norms at their default weeks and extrapolated
  along the nearest segment (**derived**).

A test's week of instruction comes from its date and the school calendar
(:func:`instructional_weeks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval import lazy
from pl_eval.errors import ConfigError

# Imported when a percentile is first computed: matching imports the panel's names (and so
# this module) but never norms a score.
special = lazy.module("scipy.special")

SUBJECTS = {"Mathematics": "math", "Reading": "reading"}
SEASONS = ("fall", "winter", "spring")
NORMS_YEARS = (2015, 2020, 2025)
#: NWEA's default instructional week of each season, at which the published tables are normed.
DEFAULT_WEEKS = {"fall": 4.0, "winter": 20.0, "spring": 32.0}
#: Weeks of instruction a school year spans in the curves; a test's week is clipped to this.
WEEK_RANGE = (0.0, 40.0)
_GRADES = 13  # K (0) to 12


@dataclass(frozen=True)
class Norms:
    """Mean and SD of RIT per subject × grade × season for one norms study."""

    year: int
    table: pd.DataFrame  # columns: subject, grade, season, mean, sd (complete rows only)
    # The study's mean growth curve by week (subject, grade, x1..x6), 2020 only; None: the mean
    # is interpolated between the seasons like the SD.
    week_means: pd.DataFrame | None = None

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, year: int = 2020, week_means: pd.DataFrame | None = None
    ) -> Norms:
        """Select one norms study from the shipped long table (``io.read_norms_table()``), with
        the mean growth curves of ``io.read_norms_week_means()`` where the study has them."""
        if year not in NORMS_YEARS:
            raise ValueError(f"norms year must be one of {NORMS_YEARS}, got {year!r}")
        rows = frame[(frame["norms_year"] == year) & frame["term"].isin(SEASONS)]
        table = pd.DataFrame(
            {
                "subject": rows["subject"].map(SUBJECTS).astype("string"),
                "grade": rows["grade"].astype("int64"),
                "season": rows["term"].astype("string"),
                "mean": rows["mean_rit"].astype("float64"),
                "sd": rows["sd_rit"].astype("float64"),
            }
        ).dropna(subset=["mean", "sd"])
        curves = None
        if week_means is not None and (week_means["norms_year"] == year).any():
            rows = week_means[week_means["norms_year"] == year]
            curves = pd.DataFrame(
                {
                    "subject": rows["subject"].map(SUBJECTS).astype("string"),
                    "grade": rows["grade"].astype("int64"),
                    **{f"x{i}": rows[f"x{i}"].astype("float64") for i in range(1, 7)},
                }
            ).reset_index(drop=True)
        return cls(year=year, table=table.reset_index(drop=True), week_means=curves)

    def lookup(
        self, subject: pd.Series, grade: pd.Series, season: pd.Series
    ) -> tuple[np.ndarray, np.ndarray]:
        """Norm mean and SD aligned to the inputs; NaN where the study has no norms."""
        keys = pd.DataFrame(
            {
                "subject": pd.Series(subject, dtype="string").to_numpy(),
                "grade": pd.Series(grade, dtype="Int64").to_numpy(),
                "season": pd.Series(season, dtype="string").to_numpy(),
            }
        )
        table = self.table.astype({"grade": "Int64"})
        merged = keys.merge(table, on=["subject", "grade", "season"], how="left", sort=False)
        return merged["mean"].to_numpy(float), merged["sd"].to_numpy(float)

    def z_score(
        self, rit: pd.Series, subject: pd.Series, grade: pd.Series, season: pd.Series
    ) -> np.ndarray:
        """(RIT − μ)/σ for each test; NaN where the grade × subject × season has no norms."""
        mean, sd = self.lookup(subject, grade, season)
        return (np.asarray(rit, dtype=float) - mean) / sd

    def rit(
        self, z: np.ndarray, subject: pd.Series, grade: pd.Series, season: pd.Series
    ) -> np.ndarray:
        """Inverse of :meth:`z_score`: the RIT at national z-score ``z``."""
        mean, sd = self.lookup(subject, grade, season)
        return mean + np.asarray(z, dtype=float) * sd

    def at_week(
        self, subject: pd.Series | np.ndarray, grade: pd.Series | np.ndarray, week: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Norm mean μ_w and SD σ_w at instructional week ``week`` (aligned to the inputs; NaN
        where the study lacks the grade × subject). At the default weeks 4/20/32 these are the
        season tables' values exactly; between and beyond them see the module docstring."""
        knots = np.array([DEFAULT_WEEKS[season] for season in SEASONS])
        grid = self._season_grid()
        # -1 where a value is not a subject (as a cast to a categorical of the subjects would
        # code it; pandas deprecates casting values outside the categories)
        subjects = pd.Index(list(SUBJECTS.values()))
        s = subjects.get_indexer(pd.Series(np.asarray(subject) if np.ndim(subject) else subject))
        g = pd.to_numeric(pd.Series(grade), errors="coerce").astype("Float64")
        g = g.to_numpy(float, na_value=np.nan)
        ok = (s >= 0) & (g >= 0) & (g < _GRADES) & (g == np.round(g))
        cell = np.where(ok, s * _GRADES + np.where(ok, g, 0).astype(np.int64), 0)
        w = np.broadcast_to(np.asarray(week, dtype=float), cell.shape)
        mean = _piecewise(knots, grid["mean"][cell], w)
        sd = _piecewise(knots, grid["sd"][cell], w)
        if self.week_means is not None:
            curve = self._curve_grid()[cell]
            at_knots = np.stack([_gamma_mean(curve, np.full(len(cell), k)) for k in knots], 1)
            shift = _piecewise(knots, grid["mean"][cell] - at_knots, w)
            mean = np.where(np.isnan(curve[:, 0]), mean, _gamma_mean(curve, w) + shift)
        return np.where(ok, mean, np.nan), np.where(ok, sd, np.nan)

    def z_at_week(
        self, rit: np.ndarray, subject: pd.Series, grade: pd.Series, week: np.ndarray
    ) -> np.ndarray:
        """(RIT − μ_w)/σ_w: the national z-score at each test's instructional week."""
        mean, sd = self.at_week(subject, grade, week)
        return (np.asarray(rit, dtype=float) - mean) / sd

    def _season_grid(self) -> dict[str, np.ndarray]:
        """Season means and SDs as arrays [subject·13 + grade, season]; a missing winter is
        filled on the fall–spring line, so the curve through it is that line."""
        out = {}
        for column in ("mean", "sd"):
            wide = self.table.pivot_table(
                index=["subject", "grade"], columns="season", values=column, aggfunc="first"
            ).reindex(
                pd.MultiIndex.from_product([list(SUBJECTS.values()), range(_GRADES)]),
                columns=list(SEASONS),
            )
            values = wide.to_numpy(float, copy=True)
            line = values[:, 0] + (values[:, 2] - values[:, 0]) * (20 - 4) / (32 - 4)
            values[:, 1] = np.where(np.isnan(values[:, 1]), line, values[:, 1])
            out[column] = values
        return out

    def _curve_grid(self) -> np.ndarray:
        """Growth-curve coefficients x1..x6 as an array [subject·13 + grade, 6] (NaN: none)."""
        curves = self.week_means.set_index(["subject", "grade"])
        index = pd.MultiIndex.from_product([list(SUBJECTS.values()), range(_GRADES)])
        return curves.reindex(index)[[f"x{i}" for i in range(1, 7)]].to_numpy(float)


def _piecewise(knots: np.ndarray, values: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Row-wise piecewise-linear interpolation through ``values`` [n, 3] at ``knots`` (weeks
    4, 20, 32), extrapolated along the first or last segment. Hand-written because np.interp
    takes one set of knot values and clamps instead of extrapolating."""
    upper = week > knots[1]
    a, b = np.where(upper, 1, 0), np.where(upper, 2, 1)
    rows = np.arange(len(values))
    left, right = values[rows, a], values[rows, b]
    return left + (right - left) * (week - knots[a]) / (knots[b] - knots[a])


def _gamma_mean(curve: np.ndarray, week: np.ndarray) -> np.ndarray:
    """NWEA 2020 mean at instructional week w from the coefficients x1..x6 (nwea_formats.md
    §2): grades 1-11 x1 + x4·(w−4) + x6·(w−4)²; K and 12 (no x5, x6) the cubic
    x1 + x2·t + x3·t² + x4·t³ with t = (w−4)/100."""
    x = [curve[:, i] for i in range(6)]
    d = week - 4.0
    t = d / 100.0
    cubic = x[0] + x[1] * t + x[2] * t**2 + x[3] * t**3
    quadratic = x[0] + x[3] * d + x[5] * d**2
    return np.where(np.isnan(x[5]), cubic, quadratic)


@dataclass(frozen=True)
class SchoolCalendar:
    """When instruction happens in a school year, to count a test's weeks of instruction.

    ``first_day`` is the first instructional day ("MM-DD", in the fall's calendar year) and
    ``breaks`` the inclusive "MM-DD" ranges without instruction (a range starting before July
    falls in the spring's calendar year). A school year runs from July 1 to June 30.
    """

    first_day: str = "08-15"
    breaks: tuple[tuple[str, str], ...] = (
        ("11-22", "11-26"),  # Thanksgiving
        ("12-21", "01-03"),  # winter break
        ("03-23", "03-31"),  # spring break
    )

    @classmethod
    def from_settings(cls, settings: dict) -> SchoolCalendar:
        """The calendar of a ``panel.calendar`` config mapping (missing keys: the defaults);
        a day that no year has (02-30) or that only leap years have (02-29) is a ConfigError."""
        default = cls()
        first_day = str(settings.get("first_day", default.first_day))
        breaks = tuple((str(a), str(b)) for a, b in settings.get("breaks", default.breaks))
        for key, day in [("first_day", first_day)] + [("breaks", d) for b in breaks for d in b]:
            try:
                np.datetime64(f"2001-{day}", "D")
            except ValueError:
                raise ConfigError(
                    f"panel.calendar.{key}: expected a day of every year as MM-DD, found {day!r}"
                ) from None
        return cls(first_day=first_day, breaks=breaks)


def instructional_weeks(
    dates: pd.Series | np.ndarray, season: str, calendar: SchoolCalendar | None = None
) -> np.ndarray:
    """Weeks of instruction before each test: calendar days from the school year's first
    instructional day to the test date, less the break days between them, over 7, clipped to
    :data:`WEEK_RANGE`. A missing date gets the season's default week (the tables' own), so a
    test without a date is normed as NWEA's published tables norm it."""
    calendar = calendar or SchoolCalendar()
    day = pd.to_datetime(pd.Series(np.asarray(dates))).to_numpy("datetime64[D]")
    missing = np.isnat(day)
    day = np.where(missing, np.datetime64("2000-01-01"), day)
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (day.astype("datetime64[M]").astype(np.int64) % 12) + 1
    fall_year = np.where(month >= 7, year, year - 1)

    years, which = np.unique(fall_year, return_inverse=True)  # a school year or two: few

    def on(month_day: str, fall: bool | None = None) -> np.ndarray:
        """The date of ``month_day`` in each test's school year (fall or spring half)."""
        in_fall = int(month_day[:2]) >= 7 if fall is None else fall
        at = [np.datetime64(f"{y if in_fall else y + 1:04d}-{month_day}", "D") for y in years]
        return np.asarray(at, dtype="datetime64[D]")[which]

    elapsed = (day - on(calendar.first_day, fall=True)).astype(np.int64).astype(float)
    for start, end in calendar.breaks:
        first, last = on(start), on(end)
        last = np.where(last < first, last + np.timedelta64(365, "D"), last)
        length = (last - first).astype(np.int64) + 1
        elapsed -= np.clip((day - first).astype(np.int64), 0, length)
    weeks = np.clip(elapsed / 7.0, *WEEK_RANGE)
    return np.where(missing, DEFAULT_WEEKS[season], weeks)


def national_percentile(z: np.ndarray) -> np.ndarray:
    """Continuous national percentile 100·Φ(z) (unrounded, for averaging)."""
    return 100.0 * special.ndtr(z)


def reported_percentile(z: np.ndarray) -> np.ndarray:
    """Percentile as NWEA prints it: round(100·Φ(z)) clamped to 1..99 (float, NaN kept)."""
    pct = np.round(national_percentile(z))
    return np.where(np.isnan(pct), np.nan, np.clip(pct, 1, 99))


def percentile_points(
    d: np.ndarray | pd.Series | float, at: np.ndarray | pd.Series | float = 50.0
) -> np.ndarray | float:
    """Percentile points an effect of ``d`` national SD moves a student at national percentile
    ``at``: 100·Φ(Φ⁻¹(at/100) + d) − at, where they would be with the effect minus where they were.

    At the national median (``at`` 50, the default) this is 100·(Φ(d) − 0.5), the figure RAND
    reported; an estimate row is converted at its own comparison group's average (the cohort
    estimates' ``comparison_percentile``), since a student starting at the 30th percentile gains
    fewer points from the same effect than one at the 50th. A missing effect or percentile (NaN,
    None or pd.NA, as an estimate row without numbers holds) gives NaN.
    """
    effect, base = _floats(d), _floats(at)
    points = national_percentile(special.ndtri(base / 100.0) + effect) - base
    return float(points) if np.ndim(points) == 0 else points


def _floats(values: np.ndarray | pd.Series | float) -> np.ndarray | float:
    """Numbers as float (an array keeps its shape); missing values of any kind become NaN."""
    if np.ndim(values) == 0:
        return np.nan if pd.isna(values) else float(values)
    array = pd.array(np.asarray(values, dtype=object).ravel(), dtype="Float64")
    return array.to_numpy(dtype=float, na_value=np.nan).reshape(np.shape(values))
