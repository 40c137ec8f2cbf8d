"""Every calibration number of a simulated cohort (:class:`SimulationSettings`, with the
``demo`` and ``national`` presets), the shared code tables, and the random streams."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pl_eval.errors import ConfigError

SIZES = ("demo", "national")
SUBJECTS = ("math", "reading")
SECTORS = ("charter", "district")
#: Labels of a school's years of implementation and of a student's own years of exposure.
YEARS_LABELS = ("1", "2", "3+")
EXPOSURE_LABELS = YEARS_LABELS
#: NCES urban-centric locale codes (reference/nwea_formats.md §3).
LOCALES = (11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43)
#: School levels and the grades they test (0 = K).
LEVELS = ("elementary", "k8", "middle", "high")
LEVEL_GRADES = np.array([[0, 5], [0, 8], [6, 8], [9, 12]])
#: Terms by index: fall and spring every year, winter in the winter-testing districts. The
#: index order keeps spring at 1 (fall-to-spring is the growth every row's fields describe).
TERMS = ("Fall", "Spring", "Winter")
SEASONS_OF_TERM = ("fall", "spring", "winter")
NEVER = 9999  # pl_start_year of a school that never adopts PL

#: Random streams: each purpose (and each school year) has its own generator, so changing one
#: part of the simulation leaves the others' draws as they were.
_STREAMS = (
    "schools",
    "districts",
    "school_names",
    "students",
    "scores",
    "effects",
    "tests",
    "shocks",
    "attrition",
    "measurement",
    "dates",
    "progression",
    "winter",
)


def rng(s: SimulationSettings, stream: str, year: int = 0) -> np.random.Generator:
    """The generator of ``stream`` in the ``year``-th simulated school year (0 = first)."""
    return np.random.default_rng([s.seed, _STREAMS.index(stream), year])


def day(year: int, month: int, day_of_month: int) -> int:
    """Days since 1970-01-01."""
    return int(np.datetime64(f"{year:04d}-{month:02d}-{day_of_month:02d}", "D").astype(np.int64))


@dataclass(frozen=True)
class SimulationSettings:
    """Every calibration number of the simulated cohort; ``preset`` gives the named sizes.

    Pairs indexed by subject are ``(math, reading)``; by years of PL ``(1, 2, 3+)``; by level
    ``(elementary, K-8, middle, high)``.
    """

    size: str = "demo"  # label of the preset ("demo" | "national")
    seed: int = 20141  # root of every random stream; same settings -> identical output
    # Consecutive "YYYY-YYYY" school years simulated; the last is the main analysis' year.
    school_years: tuple[str, ...] = ("2020-2021", "2021-2022", "2022-2023")

    # Schools (rand_method.md, 2017 study)
    n_treated_schools: int = 40
    n_treated_charter: int = 31  # the rest are district-run PL schools
    # Schools in their 1st/2nd/3rd-or-later PL year in the LAST school year (staggered adoption:
    # they started in its fall, the fall before, or earlier).
    treated_years: tuple[int, int, int] = (17, 15, 8)
    # Years of implementation in the last school year of the "3+" schools, spread evenly over
    # them (3, 4, 5: started 2020, 2019, 2018 for a last year 2022-2023).
    early_implementation_years: tuple[int, ...] = (3, 4, 5)
    n_comparison_schools: int = 300  # national preset: 4,000 (≈1M students)
    comparison_charter_share: float = 0.10  # non-PL charters, in their own charter LEAs
    district_mean_schools: float = 15.0  # mean schools per traditional district (lognormal mix)
    cmo_max_schools: int = 3  # a charter LEA (CMO) runs 1..this many schools
    n_treated_charter_in_districts: int = 3  # PL charters authorised inside a traditional district
    treated_level_shares: tuple[float, float, float, float] = (0.30, 0.15, 0.30, 0.25)
    comparison_level_shares: tuple[float, float, float, float] = (0.50, 0.10, 0.20, 0.20)
    elementary_size: float = 230.0  # mean tested students, elementary and K-8 schools
    secondary_size: float = 270.0  # mean tested students, middle and high schools
    size_sd: float = 40.0  # SD of school size around those means
    treated_frl_range: tuple[float, float] = (60.0, 95.0)  # PL schools' FRL % span
    treated_frl_beta: tuple[float, float] = (4.0, 3.0)  # Beta shape within it (median ≈ 80 %)
    comparison_frl_beta: tuple[float, float] = (2.4, 1.3)  # comparison FRL % = 100·Beta (wide,
    # mean ≈ 65 %: a pool like NWEA's, wider than the PL schools' but overlapping them)
    n_treated_rural: int = 2  # PL schools in rural locales (41-43); the rest are city (11-13)
    treated_city_weights: tuple[float, float, float] = (0.60, 0.25, 0.15)  # locales 11, 12, 13
    comparison_locale_weights: tuple[float, ...] = (
        0.20, 0.12, 0.10, 0.13, 0.07, 0.05, 0.03, 0.05, 0.04, 0.09, 0.07, 0.05,
    )  # over LOCALES: 42 % city, so PL schools' urban locales have comparisons  # fmt: skip
    nces_missing_share: float = 0.05  # schools whose NCES id the evaluator does not know

    # Baseline achievement (fall z of the first year, and of students arriving later)
    frl_slope: float = -0.8  # school mean z per unit of FRL share (centred at 50 %)
    treated_baseline_shift: float = -0.03  # extra selection of PL schools on baseline
    school_mean_sd: float = 0.15  # SD of school mean z beyond FRL
    within_school_sd: float = 0.95  # SD of student fall z around the school mean
    subject_correlation: float = 0.7  # within-student correlation of math and reading fall z

    # Fall -> spring (nwea_formats.md §2.2; K uses grade 1, grades 11-12 use grade 10)
    rho_math: tuple[float, ...] = (
        0.84, 0.84, 0.86, 0.89, 0.90, 0.91, 0.92, 0.93, 0.92, 0.91, 0.91, 0.91, 0.91,
    )  # fmt: skip
    rho_reading: tuple[float, ...] = (
        0.83, 0.83, 0.86, 0.88, 0.89, 0.89, 0.88, 0.89, 0.87, 0.85, 0.84, 0.84, 0.84,
    )  # fmt: skip
    comparison_school_sd: float = 0.05  # SD of comparison schools' spring shifts v_school
    se_mean: float = 3.2  # reported standard error of measurement (RIT)
    se_sd: float = 0.25
    se_range: tuple[float, float] = (2.5, 4.5)  # clip, inside the valid 1.5-5.5

    # Spring -> next fall, and who stays (population.py)
    summer_sd: float = 0.15  # fall z of year y+1 = true spring z of year y + N(0, summer_sd)
    leaver_rate: float = 0.08  # students (below grade 12) who leave the cohort over a summer

    # Planted effects, national-SD units of spring z
    charter_effect: tuple[float, float] = (0.10, 0.09)
    district_effect: tuple[float, float] = (0.05, 0.0)
    # By the school's years of implementation that year (1, 2, 3+); with the exposure
    # multipliers normalised per sector and year over the analysable PL students.
    years_multipliers: tuple[float, float, float] = (0.75, 1.0, 1.4)
    # By the student's own years in a PL school up to that year (1, 2, 3+).
    exposure_multipliers: tuple[float, float, float] = (0.85, 1.0, 1.2)
    school_effect_sd: float = 0.20  # SD of school deviations u_s
    # Re-centre u_s within each sector × years cell so the realised pooled, sector and years
    # truths equal the planted effects (the demo's headline); validation turns it off so that
    # school sampling varies as the clustered standard errors assume.
    recentre_school_effects: bool = True
    school_effect_correlation: float = 0.5  # correlation of u_s between math and reading
    baseline_gradient: float = -0.02  # change in τ per SD of (observed) fall z within a school
    # Selection on growth: schools adopting PL in a later year grow this much more (SD of spring
    # z, both subjects) than others in each of their pre-adoption years (0: nothing to find).
    pre_adoption_selection: float = 0.0

    # What an estimator must survive (issue 12): measurement error, test dates, attrition, shocks
    measurement_error: bool = True  # observed RIT = true RIT + N(0, SE²), SE the test's own
    treated_days_shift: float = 10.0  # PL schools' extra days between tests (½ earlier fall,
    # ½ later spring): ≈ +0.02 SD of spurious growth in z at the seasons' default weeks
    attrition_baseline_slope: float = -0.4  # log-odds of no spring test per SD of true fall z
    attrition_treated_log_odds: float = 0.3  # extra log-odds of no spring test in PL schools
    attrition_treated_baseline_slope: float = -0.3  # extra slope on true fall z in PL schools
    school_shock_sd: float = 0.06  # SD of school growth shocks (both arms, shared by subjects)
    district_shock_sd: float = 0.03  # SD of district (LEA) growth shocks, both arms

    # Realism of the exports
    retest_rate: float = 0.06  # student × subject × terms with an extra same-term test
    retest_after_invalid_share: float = 0.25  # of those, the FALSE original failed a screen
    short_test_rate: float = 0.015  # tests shorter than 6 minutes (with heavy rapid guessing)
    rapid_guessing_rate: float = 0.02  # tests with RapidGuessingPercentage >= 30
    missing_fall_rate: float = 0.04  # students with no fall tests
    missing_spring_rate: float = 0.07  # students with no spring tests
    mover_rate: float = 0.03  # students tested at another school in spring
    mover_same_district_share: float = 0.8  # movers staying in their district (same StudentID)
    language_usage_rate: float = 0.05  # students who also take Language Usage
    winter_district_share: float = 0.3  # districts that also test in winter
    winter_missing_rate: float = 0.08  # fall-tested students of those without a winter test
    winter_noise_sd: float = 0.2  # winter true z = mean of fall and spring true z + N(0, this)

    def __post_init__(self) -> None:
        problems = []
        years = self.school_years
        if not years or not all(
            re.fullmatch(r"\d{4}-\d{4}", y) and int(y[5:]) == int(y[:4]) + 1 for y in years
        ):
            problems.append(f"school_years: expected 'YYYY-YYYY' years, found {list(years)!r}")
        elif [int(y[:4]) for y in years] != list(range(int(years[0][:4]), int(years[-1][:4]) + 1)):
            problems.append(f"school_years: expected consecutive years, found {list(years)!r}")
        if sum(self.treated_years) != self.n_treated_schools:
            problems.append("treated_years: expected counts adding up to n_treated_schools")
        if not self.early_implementation_years or min(self.early_implementation_years) < 3:
            problems.append("early_implementation_years: expected years of 3 or more")
        limits = {
            "n_treated_charter": self.n_treated_schools,
            "n_treated_rural": self.n_treated_schools,
            "n_treated_charter_in_districts": self.n_treated_charter,
        }
        problems += [
            f"{k}: expected 0..{v}, found {getattr(self, k)}"
            for k, v in limits.items()
            if not 0 <= getattr(self, k) <= v
        ]
        if (
            self.n_comparison_schools
            - round(self.n_comparison_schools * self.comparison_charter_share)
            < 1
            or self.district_mean_schools < 1
        ):
            problems.append("n_comparison_schools: expected at least one traditional district")
        rates = ("retest_rate", "retest_after_invalid_share", "short_test_rate",
                 "rapid_guessing_rate", "missing_fall_rate", "missing_spring_rate", "mover_rate",
                 "mover_same_district_share", "language_usage_rate", "comparison_charter_share",
                 "nces_missing_share", "leaver_rate", "winter_district_share",
                 "winter_missing_rate")  # fmt: skip
        problems += [f"{k}: expected a share in [0, 1)" for k in rates
                     if not 0 <= getattr(self, k) < 1]  # fmt: skip
        if self.missing_fall_rate + self.missing_spring_rate + self.mover_rate >= 1:
            problems.append("missing_fall_rate + missing_spring_rate + mover_rate: expected < 1")
        for name in ("rho_math", "rho_reading"):
            rho = getattr(self, name)
            if len(rho) != 13 or not all(0 < r < 1 for r in rho):
                problems.append(f"{name}: expected 13 values (K-12) in (0, 1)")
        if problems:
            raise ConfigError("simulate settings: " + "; ".join(problems))

    @classmethod
    def preset(
        cls,
        size: str,
        seed: int = 20141,
        scale: float = 1.0,
        school_years: tuple[str, ...] | None = None,
    ) -> SimulationSettings:
        """The ``demo`` cohort (≈85k students a year, quick) or the ``national`` one (≈1M
        students a year); ``scale`` multiplies the comparison schools (the PL schools stay the
        study's 40), e.g. ½× and 2× national for the benchmark of growth with size;
        ``school_years`` replaces the default three years."""
        if not scale > 0:
            raise ConfigError(f"simulate scale: expected a number above 0, found {scale!r}")
        years = {} if school_years is None else {"school_years": tuple(school_years)}
        if size == "demo":
            return cls(size=size, seed=seed, n_comparison_schools=round(300 * scale), **years)
        if size == "national":
            return cls(
                size=size,
                seed=seed,
                n_comparison_schools=round(4000 * scale),
                district_mean_schools=20.0,
                **years,
            )
        raise ConfigError(f"simulate.size: expected one of {', '.join(SIZES)}, found {size!r}")

    @property
    def school_year(self) -> str:
        """The last school year: the cohort's main analysis."""
        return self.school_years[-1]

    @property
    def fall_years(self) -> tuple[int, ...]:
        """Calendar year of each school year's fall."""
        return tuple(int(y[:4]) for y in self.school_years)

    @property
    def fall_year(self) -> int:
        return self.fall_years[-1]
