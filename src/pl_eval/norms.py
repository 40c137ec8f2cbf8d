"""National status norms: z-scores and national percentiles for RIT scores.

NWEA's percentiles are a normal approximation at the term's default instructional week
(reference/nwea_formats.md §2), so z = (RIT − μ)/σ and percentile = 100·Φ(z) reproduce them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

SUBJECTS = {"Mathematics": "math", "Reading": "reading"}
SEASONS = ("fall", "winter", "spring")
NORMS_YEARS = (2015, 2020, 2025)


@dataclass(frozen=True)
class Norms:
    """Mean and SD of RIT per subject × grade × season for one norms study."""

    year: int
    table: pd.DataFrame  # columns: subject, grade, season, mean, sd (complete rows only)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, year: int = 2020) -> Norms:
        """Select one norms study from the shipped long table (``io.read_norms_table()``)."""
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
        return cls(year=year, table=table.reset_index(drop=True))

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
