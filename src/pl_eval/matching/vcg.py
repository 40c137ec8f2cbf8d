"""NWEA-style virtual comparison groups (VCG): a seeded draw of up to 51 look-alikes each.

For every treated student the candidates are comparison students in the same exact cell
(grade, and subject when given as exact) and locale group, whose baseline score is within a
tolerance, whose school FRL share is within a band and whose test dates are within a window.
Up to ``max_matches`` of them are drawn at random; students with fewer than ``min_matches``
candidates are dropped and counted (reason ``too_few_matches``). NWEA did not publish its
tolerances, so each is a setting (see ``rand_method.md``).

Candidates come from a sorted merge, not a loop over students: within a cell the controls are
sorted by baseline and each treated student's window is two ``searchsorted`` bounds; the
windows are expanded into candidate pairs in chunks of bounded size and filtered by the other
criteria. The random draw keeps, for each treated student, the candidates with the smallest
keys from a counter-based hash of (seed, treated row, control row) (top 40 bits; ties in
baseline order): the draw is uniform and does not depend on chunk size, cell order or which
other students are in the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.matching.errors import MatchingError
from pl_eval.matching.nearest import assemble_pairs, stable_argsort, stratum_label
from pl_eval.progress import track

log = logging.getLogger(__name__)

#: Candidate pairs expanded at once; bounds memory at roughly 40 bytes per pair.
CHUNK_PAIRS = 4_000_000
#: Bits of the draw's sort key that hold a treated unit's rank within its chunk.
LOCAL_BITS = 24


@dataclass(frozen=True)
class VCGSettings:
    """Columns and tolerances of the virtual comparison group (defaults fit the panel).

    ``baseline_tolerance`` is in the units of ``baseline`` (RIT points for ``fall_rit``, SD
    units for ``fall_z``), ``frl_band`` in the units of ``frl``; ``locale_from_nces`` groups an
    NCES locale code (11-43) by its first digit (city, suburb, town, rural). Set a column to
    ``None`` (or ``dates`` to ``()``) to skip that criterion.
    """

    baseline: str = "fall_rit"
    baseline_tolerance: float = 3.0
    frl: str | None = "frl_pct"
    frl_band: float = 10.0
    locale: str | None = "locale_group"
    locale_from_nces: bool = False
    dates: tuple[str, ...] = ("fall_date", "spring_date")
    date_window_days: float = 21.0
    max_matches: int = 51
    min_matches: int = 10

    def __post_init__(self) -> None:
        if self.max_matches < 1 or self.min_matches < 1 or self.min_matches > self.max_matches:
            raise MatchingError(
                f"VCG needs 1 <= min_matches <= max_matches, got min_matches={self.min_matches},"
                f" max_matches={self.max_matches}"
            )
        for name in ("baseline_tolerance", "frl_band", "date_window_days"):
            if not getattr(self, name) >= 0:
                raise MatchingError(f"VCG {name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the VCG reads besides treatment, covariates and exact columns."""
        optional = (self.frl, self.locale)
        return (self.baseline, *(c for c in optional if c is not None), *self.dates)

    def describe(self) -> str:
        parts = [f"{self.baseline} within {self.baseline_tolerance:g}"]
        if self.frl is not None:
            parts.append(f"{self.frl} within {self.frl_band:g}")
        if self.locale is not None:
            parts.append(f"same {self.locale}" + (" group" if self.locale_from_nces else ""))
        if self.dates:
            parts.append(f"{', '.join(self.dates)} within {self.date_window_days:g} days")
        return (
            f"{'; '.join(parts)}; draw up to {self.max_matches}, "
            f"at least {self.min_matches} required"
        )


@dataclass(frozen=True)
class VCGMatch:
    """Drawn pairs as row positions, and the treated positions left without a group."""

    treated: np.ndarray
    slot: np.ndarray
    control: np.ndarray
    unmatched: np.ndarray
    reasons: np.ndarray


def _as_number(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.to_numpy(dtype="datetime64[s]").astype(np.int64) / 86_400.0
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float64", na_value=np.nan)
    raise MatchingError(f"VCG column {name!r} must be numeric or a date, got {col.dtype}")


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fast, well-mixed 64-bit hash, elementwise on uint64."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def draw_keys(seed: int, treated_row: np.ndarray, control_row: np.ndarray) -> np.ndarray:
    """Pseudo-random uint64 key per (treated row, control row) pair, fixed by ``seed``."""
    with np.errstate(over="ignore"):
        base = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + np.uint64(0x9E3779B97F4A7C15))
        t = _mix(treated_row.astype(np.uint64) + base)
        return _mix(t ^ (control_row.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))


def vcg_groups(
    frame: pd.DataFrame,
    treat: np.ndarray,
    cells: np.ndarray,
    rows: np.ndarray,
    settings: VCGSettings,
    seed: int,
    names: Sequence[str] | None = None,
) -> VCGMatch:
    """Draw a VCG for each treated row of ``frame`` (the kept rows, in order).

    ``cells`` are exact-cell codes per row (locale already folded in); ``rows`` are the rows'
    positions in the caller's frame, used to key the random draw; ``names`` (one per cell
    code) label the progress lines.
    """
    baseline = _as_number(frame[settings.baseline], settings.baseline)
    filters = [
        (_as_number(frame[name], name), settings.date_window_days) for name in settings.dates
    ]
    if settings.frl is not None:
        filters.insert(0, (_as_number(frame[settings.frl], settings.frl), settings.frl_band))

    by_cell = np.argsort(cells, kind="stable")
    cuts = np.flatnonzero(np.diff(cells[by_cell])) + 1
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lost: list[tuple[np.ndarray, np.ndarray]] = []
    cell_rows = np.split(by_cell, cuts)
    for members in track(  # loop over a handful of exact cells
        cell_rows, "matched cell", logger=log, label=stratum_label(cells, names)
    ):
        is_t = treat[members]
        if not is_t.any():
            continue
        treated = members[is_t]
        controls = members[~is_t]
        if len(controls) == 0:
            lost.append((treated, np.full(len(treated), "no_stratum_controls", dtype=object)))
            continue
        controls = controls[np.argsort(baseline[controls], kind="stable")]
        sorted_base = baseline[controls]
        lo = np.searchsorted(sorted_base, baseline[treated] - settings.baseline_tolerance, "left")
        hi = np.searchsorted(sorted_base, baseline[treated] + settings.baseline_tolerance, "right")
        counts = hi - lo
        # the other criteria as (treated value, control value in baseline order) pairs: windows
        # of sorted controls are contiguous, so the gathers below stay cache-friendly
        criteria = [(values[treated], values[controls], limit) for values, limit in filters]
        # chunks of treated units whose candidate pairs start within the same CHUNK_PAIRS block
        # (and at most 2**LOCAL_BITS units, so a unit's rank in its chunk fits the sort key)
        chunk = (np.cumsum(counts) - counts) // CHUNK_PAIRS
        chunk += np.arange(len(treated)) >> LOCAL_BITS
        bounds = np.r_[0, np.flatnonzero(np.diff(chunk)) + 1, len(treated)]
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):  # memory-bounded chunks
            n_pairs = counts[start:stop]
            t_local = np.repeat(np.arange(start, stop), n_pairs)
            first = np.cumsum(n_pairs) - n_pairs
            c_sorted = np.arange(n_pairs.sum()) + np.repeat(lo[start:stop] - first, n_pairs)
            for t_values, c_values, limit in criteria:  # keep only the pairs that pass so far
                ok = np.abs(t_values[t_local] - c_values[c_sorted]) <= limit
                t_local, c_sorted = t_local[ok], c_sorted[ok]
            t_pos, c_pos = treated[t_local], controls[c_sorted]
            # sort by (unit, key) as one uint64: the unit's rank in the chunk in the high bits,
            # the key's top bits below; ten times faster than np.lexsort. Equal truncated keys
            # (odds ~2**-40 a pair) keep baseline order, so chunking never changes a draw.
            keys = draw_keys(seed, rows[t_pos], rows[c_pos]) >> np.uint64(LOCAL_BITS)
            keys |= (t_local - start).astype(np.uint64) << np.uint64(64 - LOCAL_BITS)
            order = stable_argsort(keys)
            t_pos, c_pos = t_pos[order], c_pos[order]
            at = np.arange(len(t_pos))
            new_unit = np.r_[True, t_pos[1:] != t_pos[:-1]] if len(t_pos) else np.ones(0, bool)
            rank = at - np.maximum.accumulate(np.where(new_unit, at, 0))
            available = np.bincount(t_pos, minlength=len(frame))
            draw = (rank < settings.max_matches) & (available[t_pos] >= settings.min_matches)
            out.append((t_pos[draw], rank[draw] + 1, c_pos[draw]))
            chunk_treated = treated[start:stop]
            short = chunk_treated[available[chunk_treated] < settings.min_matches]
            lost.append((short, np.full(len(short), "too_few_matches", dtype=object)))
    pairs = assemble_pairs(out, lost)
    return VCGMatch(
        treated=pairs.treated,
        slot=pairs.slot,
        control=pairs.control,
        unmatched=pairs.unmatched,
        reasons=pairs.reasons,
    )
