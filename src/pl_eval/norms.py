"""National status norms: z-scores and national percentiles for RIT scores.

NWEA's percentiles are a normal approximation at the term's default instructional week
(reference/nwea_formats.md §2), so z = (RIT − μ)/σ and percentile = 100·Φ(z) reproduce them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# The standard normal CDF, as scipy.stats.norm.cdf computes it; scipy.stats costs ~1 s to import.
from scipy.special import ndtr

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
    return 100.0 * ndtr(z)


def reported_percentile(z: np.ndarray) -> np.ndarray:
    """Percentile as NWEA prints it: round(100·Φ(z)) clamped to 1..99 (float, NaN kept)."""
    pct = np.round(national_percentile(z))
    return np.where(np.isnan(pct), np.nan, np.clip(pct, 1, 99))


def percentile_points(d: np.ndarray | pd.Series | float) -> np.ndarray | float:
    """Percentile-point gain for a student at the comparison median: 100·(Φ(d) − 0.5).

    A missing effect (NaN, None or pd.NA, as an estimate row without numbers holds) gives NaN.
    """
    if np.ndim(d) == 0:
        return np.nan if pd.isna(d) else float(100.0 * (ndtr(float(d)) - 0.5))
    values = pd.array(np.asarray(d, dtype=object).ravel(), dtype="Float64")
    effect = values.to_numpy(dtype=float, na_value=np.nan).reshape(np.shape(d))
    return 100.0 * (ndtr(effect) - 0.5)
