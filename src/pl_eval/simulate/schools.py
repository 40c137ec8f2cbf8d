"""Schools and districts: arms, sectors, levels, sizes, FRL, locales, names and ids, the
staggered years in which PL schools adopt, each year's growth shocks, and the evaluator's
``schools.csv``.

Adoption is staggered: of the PL schools, ``treated_years`` = (1st, 2nd, 3rd+) counts are in
that year of implementation in the LAST simulated school year, so they started in its fall, the
fall before, or earlier (the "3+" ones spread over ``early_implementation_years``, e.g. 2018,
2019 and 2020 for a last year 2022-2023). A school is PL in a school year when its
``pl_start_year`` is at most that year's fall year.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from pl_eval.simulate import labels
from pl_eval.simulate.settings import LEVELS, LOCALES, NEVER, SimulationSettings, day


def draw_schools(s: SimulationSettings, rng: np.random.Generator) -> pd.DataFrame:
    """One row per school: arm, sector, PL start year, level, size, FRL, locale, district,
    baseline mean z, comparison schools' spring shifts and the days its test windows open after
    the earliest opening."""
    n_t, n_c = s.n_treated_schools, s.n_comparison_schools
    n = n_t + n_c
    treated = np.arange(n) < n_t
    n_cc = round(n_c * s.comparison_charter_share)
    charter = np.concatenate([np.arange(n_t) < s.n_treated_charter, np.arange(n_c) < n_cc])
    years = rng.permutation(np.repeat([1, 2, 3], s.treated_years))
    early = years == 3
    years[early] = np.resize(np.asarray(s.early_implementation_years), int(early.sum()))
    start = np.concatenate([s.fall_year + 1 - years, np.full(n_c, NEVER)])
    level = np.where(
        treated,
        rng.choice(4, n, p=s.treated_level_shares),
        rng.choice(4, n, p=s.comparison_level_shares),
    )
    size = np.where(level < 2, s.elementary_size, s.secondary_size) + rng.normal(0, s.size_sd, n)
    low, high = s.treated_frl_range
    frl = np.where(
        treated,
        low + (high - low) * rng.beta(*s.treated_frl_beta, n),
        100 * rng.beta(*s.comparison_frl_beta, n),
    )
    frl = np.round(np.clip(frl, 1.0, 99.0), 1)
    rural = np.isin(np.arange(n), rng.choice(n_t, s.n_treated_rural, replace=False))
    locale = np.where(
        treated,
        np.where(
            rural,
            rng.choice([41, 42, 43], n),
            rng.choice([11, 12, 13], n, p=s.treated_city_weights),
        ),
        rng.choice(LOCALES, n, p=s.comparison_locale_weights),
    )
    district, n_traditional = _assign_districts(s, treated, charter, rng)
    mean_z = (
        s.frl_slope * (frl / 100 - 0.5)
        + s.treated_baseline_shift * treated
        + rng.normal(0, s.school_mean_sd, n)
    )
    v = rng.normal(0, s.comparison_school_sd, (n, 2)) * ~treated[:, None]
    return pd.DataFrame(
        {
            "treated": treated,
            "charter": charter,
            "start": start,
            "level": level,
            "size": np.clip(np.round(size), 60, None).astype(np.int64),
            "frl": frl,
            "locale": locale,
            "district": district,
            "cmo": district >= n_traditional,
            "mean_z": mean_z,
            "v_math": v[:, 0],
            "v_reading": v[:, 1],
            "fall_offset": rng.integers(0, 29, n),
            "spring_offset": rng.integers(0, 36, n),
            "winter_offset": rng.integers(0, 22, n),  # winter window from 9 January
        }
    )


def test_windows(s: SimulationSettings, schools: pd.DataFrame, fall_year: int) -> pd.DataFrame:
    """Each school's fall and spring test windows in the school year of ``fall_year`` (days
    since 1970-01-01): PL schools that year test ``treated_days_shift`` days further apart."""
    pl = (schools["start"].to_numpy() <= fall_year).astype(np.int64)
    early = int(s.treated_days_shift // 2)  # PL schools test earlier in fall, later in spring
    late = int(s.treated_days_shift) - early
    return pd.DataFrame(
        {
            "fall": day(fall_year, 8, 22) + schools["fall_offset"].to_numpy() - early * pl,
            "spring": day(fall_year + 1, 4, 17) + schools["spring_offset"].to_numpy() + late * pl,
        }
    )


def year_shocks(
    s: SimulationSettings, schools: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Each school's growth shock in one year's spring z, in both arms and shared by its
    subjects: its own deviation plus its district's (LEA's), the year-to-year noise of school
    growth that no covariate explains and a single school-year cannot tell apart from a
    school's effect."""
    district = schools["district"].to_numpy()
    own = rng.normal(0, s.school_shock_sd, len(schools))
    return own + rng.normal(0, s.district_shock_sd, district.max() + 1)[district]


def _assign_districts(
    s: SimulationSettings, treated: np.ndarray, charter: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """District of each school and the number of traditional districts (numbered first).

    Traditional districts hold the non-charter comparison schools (sizes from a lognormal mix),
    the district-run PL schools and a few PL charters; other charters sit in their own LEAs.
    """
    n = len(treated)
    traditional = np.flatnonzero(~treated & ~charter)
    n_d = max(1, round(len(traditional) / s.district_mean_schools))
    weights = rng.lognormal(0.0, 0.6, n_d)
    counts = 1 + rng.multinomial(len(traditional) - n_d, weights / weights.sum())
    district = np.full(n, -1, dtype=np.int64)
    district[rng.permutation(traditional)] = np.repeat(np.arange(n_d), counts)
    pl_charters = np.flatnonzero(treated & charter)
    hosted_charters = rng.choice(pl_charters, s.n_treated_charter_in_districts, replace=False)
    hosted = np.concatenate([np.flatnonzero(treated & ~charter), hosted_charters])
    district[hosted] = rng.choice(n_d, len(hosted), p=counts / counts.sum())
    next_id = n_d
    for group in (np.flatnonzero(~treated & charter), np.setdiff1d(pl_charters, hosted_charters)):
        sizes = rng.integers(1, s.cmo_max_schools + 1, len(group))
        lea = np.repeat(np.arange(len(group)), sizes)[: len(group)]
        district[group] = next_id + lea
        next_id += int(lea.max(initial=-1)) + 1
    return district, n_d


def draw_districts(
    s: SimulationSettings, schools: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per district: name, file slug, ids, the export styles it uses, and whether it
    also tests in winter."""
    cmo = schools.groupby("district")["cmo"].first().sort_index().to_numpy()
    n = len(cmo)
    names = np.empty(n, dtype=object)
    names[~cmo] = _unique_names((labels.PLACES, labels.DISTRICT_KINDS), int((~cmo).sum()), rng)
    names[cmo] = _unique_names(
        (labels.CMO_WORDS, labels.PLACES, labels.CMO_KINDS), int(cmo.sum()), rng
    )
    fips = rng.choice(labels.STATE_FIPS, n)
    return pd.DataFrame(
        {
            "name": names.astype(str),
            "slug": [re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") for name in names],
            "leaid": [
                f"{f}{x:05d}" for f, x in zip(fips, rng.integers(0, 100_000, n), strict=True)
            ],
            "state_id": rng.integers(1000, 99_999, n).astype(str),
            # StudentIDs are per-district sequences from nearby starts, so IDs repeat across
            # districts (a student is DistrictName + StudentID).
            "id_base": 10_000 + rng.integers(0, 2_000, n),
            "padded_dates": rng.random(n) < 0.5,  # 09/06/2022 rather than 9/6/2022
            "long_zero": rng.random(n) < 0.5,  # RapidGuessingPercentage 0.0000 rather than 0
            "own_ethnic_labels": rng.random(n) < 0.6,  # StudentEthnicGroup in district wording
            "winter": rng.random(n) < s.winter_district_share,
        }
    )


def _unique_names(parts: tuple[tuple[str, ...], ...], n: int, rng: np.random.Generator) -> list:
    """``n`` distinct names from the product of word lists (numbered if the product runs out)."""
    sizes = [len(p) for p in parts]
    total = math.prod(sizes)
    picks = np.concatenate([rng.permutation(total) for _ in range(-(-n // total))])[:n]
    words = np.unravel_index(picks, sizes)
    return [
        " ".join(p[w[i]] for p, w in zip(parts, words, strict=True))
        + (f" {i // total + 1}" if i >= total else "")
        for i in range(n)
    ]


def name_schools(
    schools: pd.DataFrame, districts: pd.DataFrame, s: SimulationSettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Add school names (unique within a district), NCES ids and state ids."""
    n = len(schools)
    district = schools["district"].to_numpy()
    level = schools["level"].to_numpy()
    rank = rank_within(district * len(LEVELS) + level, rng)
    namesake = np.stack([rng.permutation(len(labels.NAMESAKES)) for _ in range(len(districts))])
    stem = np.asarray(labels.NAMESAKES)[namesake[district, rank % len(labels.NAMESAKES)]]
    kinds = np.where(
        schools["charter"].to_numpy()[:, None], labels.CHARTER_KINDS, labels.SCHOOL_KINDS
    )
    repeat = np.where(
        rank >= len(labels.NAMESAKES), " " + (rank // len(labels.NAMESAKES) + 1).astype(str), ""
    )
    name = pd.Series(stem) + " " + kinds[np.arange(n), level] + repeat
    leaid = districts["leaid"].to_numpy()[district]
    nces = pd.Series(leaid + pd.Series(rng.integers(0, 100_000, n)).map("{:05d}".format))
    nces = nces.where(rng.random(n) >= s.nces_missing_share)
    state_id = districts["state_id"].to_numpy()[district] + pd.Series(
        rng.integers(1, 10_000, n)
    ).map("{:04d}".format)
    return schools.assign(name=name, nces=nces, state_id=state_id)


def school_frame(
    schools: pd.DataFrame, districts: pd.DataFrame, s: SimulationSettings
) -> pd.DataFrame:
    """The evaluator's schools.csv: every PL and comparison school, as text, one frame for
    every simulated year (``pl_start_year`` empty for never-PL schools)."""
    start = schools["start"].where(schools["treated"])
    frame = pd.DataFrame(
        {
            "district_name": districts["name"].to_numpy()[schools["district"]],
            "school_name": schools["name"],
            "nces_id": schools["nces"],
            "sector": np.where(schools["charter"], "charter", "district"),
            "pl_start_year": start.astype("Int64").astype("string"),
            "frl_pct": schools["frl"].map("{:.1f}".format),
            "locale": schools["locale"].astype(str),
        }
    )
    frame = frame.sort_values(["district_name", "school_name"]).reset_index(drop=True)
    return frame.astype("str")


def rank_within(keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rank 0, 1, ... of each element among the elements with the same key."""
    shuffled = rng.permutation(len(keys))
    order = shuffled[np.argsort(keys[shuffled], kind="stable")]
    sorted_keys = keys[order]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    return rank
