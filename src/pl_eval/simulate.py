"""The demo cohort: realistic NWEA MAP Growth exports of PL and comparison schools, planted truth.

:func:`simulate_cohort` produces what an evaluator hands over for one school year — per district
and term a Comprehensive Data File pair (``AssessmentResults`` in the 2020+ layout C and
``StudentsBySchool``), the evaluator's ``schools.csv`` — and the planted effects, calibrated to
RAND's 2017 study (reference/rand_method.md, "Demo cohort calibration"; formats from
reference/nwea_formats.md §1 and §4).

Model, in national-SD units (z against the status norms of grade × subject at the test's week):

* fall: true ``z_fall = school mean + N(0, within_school_sd)``; the school mean falls with FRL
  and is a little lower in PL schools (selection on baseline and FRL). The reported RIT is
  ``round(μ_w + z·σ_w + e)`` with measurement error ``e ~ N(0, SE²)``, SE the test's own reported
  TestStandardError, so an estimator adjusting for the observed fall z faces errors in variables.
* spring (true): ``z_spring = ρ*·z_fall + √(1−ρ*²)·ε + shock + v_school + τ_i``,
  ρ* the norms' ρ_g over the root of the two tests' reliabilities (so observed scores keep ρ_g);
  reported like fall, with its own measurement error.
* test dates: growth follows the norms' curves by instructional week (norms.py), so a test's
  RIT is ``μ_w + z·σ_w`` at its own week w (counted from its date on the default
  ``SchoolCalendar``, as the panel counts it): a later test scores higher by the norms' growth
  over the extra weeks, and its z at its own week is unchanged. Test windows vary by school and
  PL schools test ``treated_days_shift`` days further apart, so the RIT growth between tests
  differs by arm while z-scores at each test's week do not.
* ``shock``: a school growth shock in both arms, shared by math and reading, plus its district's
  (LEA's); ``v_school`` an extra subject-specific shift of comparison schools.
* attrition: students who stay miss spring with a logistic probability falling with their true
  fall z and higher in PL schools (differential attrition that depends on baseline).
* ``τ_i = τ_s + gradient·(observed z_fall − school mean of analysable observed z_fall)``, where
  ``τ_s = sector effect × years multiplier + u_s``. With the analysable students as weights,
  multipliers are normalised within each sector and ``u_s`` is re-centred within each sector ×
  years cell, so the realised sector truths equal the planted sector effects and the years
  truths rise with the multipliers. The gradient is on the observed score so that the truth over
  any set of students can be recomputed from the panel (validation does, over the matched ones).

A student × subject is *analysable* when the student has a valid fall and a valid spring test
after the default screens (duration ≥ 6 min, rapid guessing < 30 %) and the de-duplication rule
(GrowthMeasureYN, then lowest SE, then latest date), at the same school all year.

Truth. Each cell gives ``tau`` over the analysable PL students and ``all_treated`` over every
PL student with a valid fall test (attriters included). Pooled, sector and years cells hold the
planted effect without the schools' deviations u_s and shocks: the population quantity their
school-clustered intervals speak for (``sample`` adds the deviations of these 40 schools). A
school's cell holds all one school-year can show of it: planted effect + u_s + its own growth
shock (school and district), which no comparison group shares and one year cannot separate from
the effect; its parts (``planted``, ``deviation``, ``shock``, ``centre``) are kept so that
:mod:`pl_eval.estimation.validate` can recompute every truth over the students in common
support (matched, with both tests)::

    {"settings": {...}, "school_year": "2022-2023", "norms_year": 2020, "analysable": "...",
     "all_treated": "...", "counts": {...},
     "effects": {"math": {"pooled": {"tau": 0.089, "n": ..., "all_treated": ..., "n_all_treated"},
                          "by_sector": {"charter": {...}, "district": {...}},
                          "by_years": {"1": {...}, "2": {...}, "3+": {...}},
                          "by_school": {"<district_name>|<school_name>":
                              {"district_name", "school_name", "sector", "years", "tau", "n",
                               "all_treated", "n_all_treated", "planted", "deviation", "shock",
                               "centre"}},
                          "n_comparison": ...,   # analysable comparison students
                          "sample": {"pooled", "by_sector", "by_years"}},
                 "reading": {...}}}
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import brentq
from scipy.special import expit

from pl_eval.errors import ConfigError
from pl_eval.norms import Norms, instructional_weeks, reported_percentile

SIZES = ("demo", "national")
SUBJECTS = ("math", "reading")
SECTORS = ("charter", "district")
YEARS_LABELS = ("1", "2", "3+")
#: NCES urban-centric locale codes (reference/nwea_formats.md §3).
LOCALES = (11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43)
#: School levels and the grades they test (0 = K).
LEVELS = ("elementary", "k8", "middle", "high")
LEVEL_GRADES = np.array([[0, 5], [0, 8], [6, 8], [9, 12]])

#: AssessmentResults columns written, a subsequence of layout C (nwea_formats.md §1.1).
ASSESSMENT_COLUMNS = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData",
    "WISelectedAYFall", "WISelectedAYWinter", "WISelectedAYSpring", "TestType", "TestName",
    "TestID", "TestStartDate", "TestStartTime", "TestDurationMinutes", "TestRITScore",
    "TestStandardError", "TestPercentile", "AchievementQuintile", "PercentCorrect",
    "RapidGuessingPercentage", "FallToSpringProjectedGrowth", "FallToSpringObservedGrowth",
    "FallToSpringObservedGrowthSE", "FallToSpringMetProjectedGrowth",
    "FallToSpringConditionalGrowthIndex", "FallToSpringConditionalGrowthPercentile",
    "FallToSpringGrowthQuintile", "TypicalFallToSpringGrowth",
)  # fmt: skip
#: StudentsBySchool columns: the layout A/B roster with the 2020+ state-ID and NWEA-standard
#: fields placed as in the 2020+ Combined file (the exact 2020+ header is unverified, §1.2).
STUDENT_COLUMNS = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID",
    "StudentLastName", "StudentFirstName", "StudentMI", "StudentID", "Student_StateID",
    "StudentDateOfBirth", "StudentEthnicGroup", "NWEAStandard_EthnicGroup", "StudentGender",
    "Grade", "NWEAStandard_Grade",
)  # fmt: skip
SCHOOL_COLUMNS = (
    "district_name", "school_name", "nces_id", "sector", "pl_start_year", "frl_pct", "locale",
)  # fmt: skip

# Test subjects: math, reading and Language Usage (which ingest sets aside; it uses the
# reading norms here because the shipped table has none of its own, and has no planted effect).
_SUBJECT = ("Mathematics", "Language Arts", "Language Arts")
_COURSE = ("Math K-12", "Reading", "Language Usage")
_TEST_NAMES = (  # by grade band K-1, 2-5, 6+
    "Growth: Math K-2 CCSS 2010 V2", "Growth: Math 2-5 CCSS 2010 V2",
    "Growth: Math 6+ CCSS 2010 V2", "Growth: Reading K-2 CCSS 2010 V4",
    "Growth: Reading 2-5 CCSS 2010 V4", "Growth: Reading 6+ CCSS 2010 V4",
    "Growth: Language 2-12 CCSS 2010 V2", "Growth: Language 2-12 CCSS 2010 V2",
    "Growth: Language 2-12 CCSS 2010 V2",
)  # fmt: skip
_SEASONS = ("Fall", "Spring")
SEASONS_OF_TERM = ("fall", "spring")
_QUINTILES = ("Low", "LoAvg", "Avg", "HiAvg", "High")
_MET = ("No", "No*", "Yes", "Yes*")
_GRADES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
_NWEA_ETHNIC = (
    "American Indian or Alaska Native", "Asian", "Black or African American",
    "Hispanic or Latino", "Multi-ethnic", "Native Hawaiian or Other Pacific Islander",
    "Not Specified or Other", "White",
)  # fmt: skip
_DISTRICT_ETHNIC = (  # a district's own labels for the same groups
    "American Indian", "Asian", "Black", "Hispanic", "Two or More Races", "Pacific Islander",
    "Other", "White",
)  # fmt: skip
#: Shares among students of colour of the first seven groups above (White is the rest).
_ETHNIC_SHARES = np.array([0.02, 0.07, 0.38, 0.45, 0.06, 0.01, 0.01])

# Word lists for fake but plausible names (they exist only so ingest can prove it drops them).
_PLACES = (
    "Alder Creek", "Ashford", "Bayview", "Bellmont", "Birch Hollow", "Bramblewood", "Brookfield",
    "Cedar Falls", "Clearwater", "Coldspring", "Crestview", "Dalton", "Eastbrook", "Elm Grove",
    "Fairhaven", "Fox Run", "Glenwood", "Granite Bay", "Greenfield", "Harbor City", "Hawthorne",
    "Highland Park", "Hillcrest", "Iron Ridge", "Jasper", "Kingsport", "Lake Forest", "Laurel",
    "Linden", "Maple Valley", "Marion", "Meadowbrook", "Millbrook", "Northgate", "Oak Harbor",
    "Oakridge", "Pine Bluff", "Pleasant Hill", "Port Allen", "Red Rock", "Ridgeway", "Riverside",
    "Rockport", "Sandy Point", "Shelby", "Silver Lake", "Southport", "Springdale", "Stonebridge",
    "Sunnyvale", "Timberline", "Union City", "Valley View", "Westfield", "Whitewater",
    "Willow Springs", "Windham", "Woodland", "Yorktown", "Zephyr Cove",
)  # fmt: skip
_DISTRICT_KINDS = (
    "Unified School District", "Public Schools", "School District", "City Schools",
    "County Schools", "Independent School District",
)  # fmt: skip
_CMO_WORDS = (
    "Ascend", "Beacon", "Bright Futures", "Catalyst", "Compass", "Crossroads", "Discovery",
    "Elevate", "Empower", "Excel", "Frontier", "Horizon", "Ignite", "Innovate", "Journey",
    "Keystone", "Launch", "Legacy", "Lighthouse", "Momentum", "New Vision", "Northstar",
    "Pathways", "Pinnacle", "Prodigy", "Quest", "Rise", "Summit", "Thrive", "Vanguard",
)  # fmt: skip
_CMO_KINDS = (
    "Public Charter Schools", "Charter Academies", "Preparatory Network", "Collegiate Schools",
    "Public Schools",
)  # fmt: skip
_NAMESAKES = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Franklin", "Kennedy", "King", "Douglass",
    "Chavez", "Tubman", "Parks", "Carver", "Edison", "Hamilton", "Madison", "Monroe", "Jackson",
    "Adams", "Grant", "Garfield", "Hoover", "Truman", "Wilson", "Whitman", "Twain", "Emerson",
    "Thoreau", "Longfellow", "Dickinson", "Hughes", "Angelou", "Morrison", "Keller", "Earhart",
    "Curie", "Einstein", "Sagan", "Ride", "Jemison", "Johnson", "Banneker", "Bethune", "Du Bois",
    "Marshall", "Sotomayor", "Ginsburg", "Clemente", "Robinson", "Owens", "Thorpe", "Sequoyah",
    "Tecumseh", "Sacagawea", "Lewis", "Clark", "Muir", "Audubon", "Carson", "Oak Park", "Maple",
    "Cedar", "Pine", "Willow", "Birch", "Aspen", "Sycamore", "Magnolia", "Juniper", "Sunrise",
    "Sunset", "Lakeside", "Hillside", "Riverview", "Parkview", "Meadow", "Prairie", "Canyon",
    "Mesa", "Valley", "Highland", "Westside", "Eastside", "Northside", "Southside", "Central",
    "Harbor", "Bayside", "Brookside", "Fairview", "Greenway", "Rosewood", "Cherry Hill",
    "Forest Glen", "Stone Creek", "Heritage", "Liberty", "Pioneer", "Discovery", "Horizon",
    "Gateway",
)  # fmt: skip
_SCHOOL_KINDS = ("Elementary School", "K-8 School", "Middle School", "High School")
_CHARTER_KINDS = (
    "Elementary Academy", "Community Academy K-8", "Preparatory Academy",
    "Early College High School",
)  # fmt: skip
_FIRST_NAMES = (  # female then male, 20 each
    "Aaliyah", "Amara", "Ana", "Brianna", "Camila", "Chloe", "Destiny", "Emily", "Gabriela",
    "Hannah", "Imani", "Isabella", "Jasmine", "Kayla", "Leah", "Maria", "Mia", "Nevaeh", "Sofia",
    "Zoe", "Aiden", "Andre", "Carlos", "Daniel", "Darius", "Elijah", "Ethan", "Gabriel", "Isaiah",
    "Jayden", "Jose", "Josiah", "Kevin", "Liam", "Luis", "Malik", "Mateo", "Noah", "Omar", "Xavier",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Alvarez", "Brown", "Campbell", "Castillo", "Chen", "Davis", "Diaz", "Evans",
    "Flores", "Garcia", "Gomez", "Green", "Hall", "Harris", "Hernandez", "Jackson", "Johnson",
    "Jones", "Kim", "Lee", "Lopez", "Martin", "Martinez", "Miller", "Moore", "Nguyen", "Patel",
    "Perez", "Ramirez", "Robinson", "Rodriguez", "Sanchez", "Scott", "Smith", "Taylor", "Thomas",
    "Torres", "Walker", "Williams", "Wilson", "Young",
)  # fmt: skip
#: State FIPS codes used for NCES ids (several with a leading zero: Alabama 01 ... Colorado 08).
_STATE_FIPS = ("01", "04", "06", "08", "12", "13", "17", "18", "22", "26", "36", "37", "39",
               "42", "47", "48", "53", "55")  # fmt: skip
#: Text columns are large_string, the storage of pandas' "str" dtype, so the per-file frames
#: are made from slices of one table without copying.
_TEXT = pa.large_string()
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
)


@dataclass(frozen=True)
class SimulationSettings:
    """Every calibration number of the simulated cohort; ``preset`` gives the named sizes.

    Pairs indexed by subject are ``(math, reading)``; by years of PL ``(1, 2, 3)``; by level
    ``(elementary, K-8, middle, high)``.
    """

    size: str = "demo"  # label of the preset ("demo" | "national")
    seed: int = 20141  # root of every random stream; same settings -> identical output
    school_year: str = "2022-2023"  # "YYYY-YYYY" of the cohort (fall and spring terms)

    # Schools (rand_method.md, 2017 study)
    n_treated_schools: int = 40
    n_treated_charter: int = 31  # the rest are district-run PL schools
    treated_years: tuple[int, int, int] = (17, 15, 8)  # schools in their 1st/2nd/3rd PL year
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

    # Baseline achievement (fall z)
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

    # Planted effects, national-SD units of spring z
    charter_effect: tuple[float, float] = (0.10, 0.09)
    district_effect: tuple[float, float] = (0.05, 0.0)
    years_multipliers: tuple[float, float, float] = (0.75, 1.0, 1.4)  # normalised per sector
    school_effect_sd: float = 0.20  # SD of school deviations u_s
    # Re-centre u_s within each sector × years cell so the realised pooled, sector and years
    # truths equal the planted effects (the demo's headline); validation turns it off so that
    # school sampling varies as the clustered standard errors assume.
    recentre_school_effects: bool = True
    school_effect_correlation: float = 0.5  # correlation of u_s between math and reading
    baseline_gradient: float = -0.02  # change in τ per SD of (observed) fall z within a school

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

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"(\d{4})-(\d{4})", self.school_year) or (
            int(self.school_year[5:]) != int(self.school_year[:4]) + 1
        ):
            problems.append(f"school_year: expected 'YYYY-YYYY', found {self.school_year!r}")
        if sum(self.treated_years) != self.n_treated_schools:
            problems.append("treated_years: expected counts adding up to n_treated_schools")
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
                 "nces_missing_share")  # fmt: skip
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
    def preset(cls, size: str, seed: int = 20141, scale: float = 1.0) -> SimulationSettings:
        """The ``demo`` cohort (≈50k students, quick) or the ``national`` one (≈1M students);
        ``scale`` multiplies the comparison schools (the PL schools stay the study's 40), e.g.
        ½× and 2× national for the benchmark of growth with size."""
        if not scale > 0:
            raise ConfigError(f"simulate scale: expected a number above 0, found {scale!r}")
        if size == "demo":
            return cls(size=size, seed=seed, n_comparison_schools=round(300 * scale))
        if size == "national":
            return cls(
                size=size,
                seed=seed,
                n_comparison_schools=round(4000 * scale),
                district_mean_schools=20.0,
            )
        raise ConfigError(f"simulate.size: expected one of {', '.join(SIZES)}, found {size!r}")

    @property
    def fall_year(self) -> int:
        return int(self.school_year[:4])


@dataclass(frozen=True)
class SimulatedCohort:
    """A simulated cohort as an evaluator would hand it over, plus the planted truth."""

    exports: dict[str, pd.DataFrame]  # file name -> table of strings in NWEA layout
    schools: pd.DataFrame  # the evaluator's schools.csv (SCHOOL_COLUMNS, strings)
    truth: dict  # JSON-serialisable planted truth (see module docstring)

    def summary(self) -> str:
        rows = sum(len(t) for name, t in self.exports.items() if name.startswith("Assessment"))
        effects = ", ".join(
            f"{s} {self.truth['effects'][s]['pooled']['tau']:+.3f}" for s in SUBJECTS
        )
        counts = self.truth["counts"]
        return (
            f"{len(self.exports)} export files, {rows} assessment rows, {counts['students']} "
            f"students, {counts['treated_schools']} PL / {counts['comparison_schools']} "
            f"comparison schools; true pooled effects {effects}"
        )


def simulate_cohort(settings: SimulationSettings, norms: Norms) -> SimulatedCohort:
    """Simulate one school year of NWEA exports, the school frame and the planted truth."""
    s = settings
    grids = _NormGrids.from_norms(norms, s)
    schools = _schools(s, _rng(s, "schools"))
    districts = _districts(s, schools, _rng(s, "districts"))
    schools = _school_names(schools, districts, s, _rng(s, "school_names"))
    schools = schools.assign(shock=_school_shocks(s, schools, _rng(s, "shocks")))
    students = _students(s, schools, districts, _rng(s, "students"))
    streams = ("scores", "effects", "attrition", "measurement", "dates")
    scores = _Scores.draw(s, schools, students, grids, {k: _rng(s, k) for k in streams})
    students = students.assign(has_spring=scores.has_spring)

    assessments = _assessment_results(
        s, schools, districts, students, scores, grids, norms.year, _rng(s, "tests")
    )
    rosters = _students_by_school(s, schools, districts, students)
    exports = {
        **_split(assessments, districts, "AssessmentResults", s.school_year),
        **_split(rosters, districts, "StudentsBySchool", s.school_year),
    }
    return SimulatedCohort(
        exports=dict(sorted(exports.items())),
        schools=_school_frame(schools, districts, s),
        truth=_truth(s, schools, districts, students, scores, norms.year, len(assessments.term)),
    )


def _rng(s: SimulationSettings, stream: str) -> np.random.Generator:
    """An independent generator per purpose, so changing one part leaves the others' draws."""
    return np.random.default_rng([s.seed, _STREAMS.index(stream)])


# --------------------------------------------------------------------------------- schools ---


def _schools(s: SimulationSettings, rng: np.random.Generator) -> pd.DataFrame:
    """One row per school: arm, sector, years of PL, level, size, FRL, locale, district, scores."""
    n_t, n_c = s.n_treated_schools, s.n_comparison_schools
    n = n_t + n_c
    treated = np.arange(n) < n_t
    n_cc = round(n_c * s.comparison_charter_share)
    charter = np.concatenate([np.arange(n_t) < s.n_treated_charter, np.arange(n_c) < n_cc])
    years = np.concatenate([rng.permutation(np.repeat([1, 2, 3], s.treated_years)), [0] * n_c])
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
    fall_open, spring_open = _day(s.fall_year, 8, 22), _day(s.fall_year + 1, 4, 17)
    early = int(s.treated_days_shift // 2)  # PL schools test earlier in fall, later in spring
    late = int(s.treated_days_shift) - early
    return pd.DataFrame(
        {
            "treated": treated,
            "charter": charter,
            "years": years,
            "level": level,
            "size": np.clip(np.round(size), 60, None).astype(np.int64),
            "frl": frl,
            "locale": locale,
            "district": district,
            "cmo": district >= n_traditional,
            "mean_z": mean_z,
            "v_math": v[:, 0],
            "v_reading": v[:, 1],
            "fall_window": fall_open + rng.integers(0, 29, n) - early * treated,
            "spring_window": spring_open + rng.integers(0, 36, n) + late * treated,
        }
    )


def _school_shocks(
    s: SimulationSettings, schools: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Each school's growth shock in spring z, in both arms and shared by its subjects: its own
    deviation plus its district's (LEA's), the year-to-year noise of school growth that no
    covariate explains and a single school-year cannot tell apart from a school's effect."""
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
        labels = np.repeat(np.arange(len(group)), sizes)[: len(group)]
        district[group] = next_id + labels
        next_id += int(labels.max(initial=-1)) + 1
    return district, n_d


def _districts(
    s: SimulationSettings, schools: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per district: name, file slug, ids and the export styles it uses."""
    cmo = schools.groupby("district")["cmo"].first().sort_index().to_numpy()
    n = len(cmo)
    names = np.empty(n, dtype=object)
    names[~cmo] = _unique_names((_PLACES, _DISTRICT_KINDS), int((~cmo).sum()), rng)
    names[cmo] = _unique_names((_CMO_WORDS, _PLACES, _CMO_KINDS), int(cmo.sum()), rng)
    fips = rng.choice(_STATE_FIPS, n)
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


def _school_names(
    schools: pd.DataFrame, districts: pd.DataFrame, s: SimulationSettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Add school names (unique within a district), NCES ids and state ids."""
    n = len(schools)
    district = schools["district"].to_numpy()
    level = schools["level"].to_numpy()
    rank = _rank_within(district * len(LEVELS) + level, rng)
    namesake = np.stack([rng.permutation(len(_NAMESAKES)) for _ in range(len(districts))])
    stem = np.asarray(_NAMESAKES)[namesake[district, rank % len(_NAMESAKES)]]
    kinds = np.where(schools["charter"].to_numpy()[:, None], _CHARTER_KINDS, _SCHOOL_KINDS)
    repeat = np.where(rank >= len(_NAMESAKES), " " + (rank // len(_NAMESAKES) + 1).astype(str), "")
    name = pd.Series(stem) + " " + kinds[np.arange(n), level] + repeat
    leaid = districts["leaid"].to_numpy()[district]
    nces = pd.Series(leaid + pd.Series(rng.integers(0, 100_000, n)).map("{:05d}".format))
    nces = nces.where(rng.random(n) >= s.nces_missing_share)
    state_id = districts["state_id"].to_numpy()[district] + pd.Series(
        rng.integers(1, 10_000, n)
    ).map("{:04d}".format)
    return schools.assign(name=name, nces=nces, state_id=state_id)


def _school_frame(
    schools: pd.DataFrame, districts: pd.DataFrame, s: SimulationSettings
) -> pd.DataFrame:
    """The evaluator's schools.csv: every PL and comparison school, as text."""
    start = (s.fall_year + 1 - schools["years"]).where(schools["treated"])
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


# -------------------------------------------------------------------------------- students ---


def _students(
    s: SimulationSettings,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per student: schools and IDs in fall and spring, terms tested, roster facts."""
    school = np.repeat(np.arange(len(schools)), schools["size"].to_numpy())
    n = len(school)
    low, high = LEVEL_GRADES[schools["level"].to_numpy()[school]].T
    grade = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    u = rng.random(n)
    # Students without a spring test are drawn later, from their fall scores (_spring_attrition).
    cuts = np.cumsum([s.missing_fall_rate, s.mover_rate])
    has_fall = u >= cuts[0]
    spring_school = _move(school, (u >= cuts[0]) & (u < cuts[1]), schools, s, rng)
    district = schools["district"].to_numpy()
    home, away = district[school], district[spring_school]
    # A student changing district gets a new StudentID there (Student_StateID stays).
    changed = home != away
    ids = _sequence_ids(np.concatenate([home, away[changed]]), districts, rng)
    spring_id = ids[:n].copy()
    spring_id[changed] = ids[n:]

    frl = schools["frl"].to_numpy()[school] / 100
    colour = rng.random(n) < np.clip(0.15 + 0.95 * frl, 0.05, 0.98)
    group = np.searchsorted(np.cumsum(_ETHNIC_SHARES / _ETHNIC_SHARES.sum()), rng.random(n))
    female = rng.random(n) < 0.5
    birth_start = (
        (s.fall_year - 6 - grade - 1970)
        .astype("datetime64[Y]")
        .astype("datetime64[D]")
        .astype(np.int64)
        + 244  # 2 September (1 September in leap years)
    )
    held_back = 365 * (rng.random(n) < 0.05)
    return pd.DataFrame(
        {
            "school": school,
            "spring_school": spring_school,
            "district": home,
            "spring_district": away,
            "grade": grade,
            "has_fall": has_fall,
            "has_spring": np.ones(n, dtype=bool),  # until _spring_attrition
            "student_id": ids[:n],
            "spring_student_id": spring_id,
            "state_id": 1_000_000_000 + rng.permutation(n),
            "ethnic": np.where(colour, np.minimum(group, 6), 7),
            "female": female,
            "first": rng.integers(0, 20, n) + 20 * ~female,
            "last": rng.integers(0, len(_LAST_NAMES), n),
            "mi": np.where(rng.random(n) < 0.25, -1, rng.integers(0, 26, n)),
            "birth": birth_start + rng.integers(0, 365, n) - held_back,
            "language_usage": rng.random(n) < s.language_usage_rate,
        }
    )


def _move(
    school: np.ndarray,
    mover: np.ndarray,
    schools: pd.DataFrame,
    s: SimulationSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Spring school of each student: for movers another school of the same level, in the same
    district when the move stays local and the district has one, else anywhere in the cohort."""
    n_schools, n = len(schools), len(school)
    level = schools["level"].to_numpy()
    # Each school is a member of two groups of its level: its district's and the cohort's.
    keys = np.concatenate(
        [schools["district"].to_numpy() * len(LEVELS) + level, n_schools * len(LEVELS) + level]
    )
    order = np.lexsort((np.tile(np.arange(n_schools), 2), keys))
    members = np.tile(np.arange(n_schools), 2)[order]
    sorted_keys = keys[order]
    start = np.searchsorted(sorted_keys, keys, side="left")
    count = np.searchsorted(sorted_keys, keys, side="right") - start
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    wide = (rng.random(n) >= s.mover_same_district_share) | (count[school] < 2)
    entry = school + n_schools * wide
    size = count[entry]
    step = 1 + (rng.random(n) * np.maximum(size - 1, 1)).astype(np.int64)  # 1 .. size-1
    target = members[start[entry] + (position[entry] - start[entry] + step) % size]
    return np.where(mover & (size >= 2), target, school)


def _in_term(
    students: pd.DataFrame, column: str, student: np.ndarray, spring: np.ndarray
) -> np.ndarray:
    """``column`` (fall) or ``spring_<column>`` of each row's student, by the row's term."""
    fall = students[column].to_numpy()[student]
    return np.where(spring, students[f"spring_{column}"].to_numpy()[student], fall)


def _rank_within(keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rank 0, 1, ... of each element among the elements with the same key."""
    shuffled = rng.permutation(len(keys))
    order = shuffled[np.argsort(keys[shuffled], kind="stable")]
    sorted_keys = keys[order]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    return rank


def _sequence_ids(
    district: np.ndarray, districts: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Per-district StudentID sequences (in random order) from each district's starting number."""
    return districts["id_base"].to_numpy()[district] + _rank_within(district, rng)


def _day(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01."""
    return int(np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D").astype(np.int64))


def _school_day(days: np.ndarray, backwards: np.ndarray | bool = False) -> np.ndarray:
    """Move weekend days to the next Monday (or back to the previous Friday)."""
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    forward = np.select([weekday == 5, weekday == 6], [2, 1], 0)
    back = np.select([weekday == 5, weekday == 6], [-1, -2], 0)
    return days + np.where(backwards, back, forward)


# ---------------------------------------------------------------------------------- scores ---

# Kinds of a student × subject × term "slot" of tests.
_SINGLE, _SINGLE_INVALID, _RETEST, _RETEST_AFTER_INVALID = 0, 1, 2, 3


@dataclass(frozen=True)
class _NormGrids:
    """Norm means and SDs as arrays [subject (math, reading), grade 0-12, term (fall, spring)]."""

    mean: np.ndarray
    sd: np.ndarray
    rho: np.ndarray  # [subject, grade] fall-spring correlation
    norms: Norms  # for the mean and SD at a test's instructional week

    @classmethod
    def from_norms(cls, norms: Norms, s: SimulationSettings) -> _NormGrids:
        grid = pd.MultiIndex.from_product(
            [SUBJECTS, range(13), ("fall", "spring")], names=["subject", "grade", "season"]
        ).to_frame(index=False)
        mean, sd = norms.lookup(grid["subject"], grid["grade"], grid["season"])
        if np.isnan(mean).any() or np.isnan(sd).any():
            raise ConfigError(
                f"simulate: the {norms.year} norms lack math or reading grades K-12; use 2020"
            )
        rho = np.array([s.rho_math, s.rho_reading])
        return cls(mean.reshape(2, 13, 2), sd.reshape(2, 13, 2), rho, norms)

    def at(self, table: np.ndarray, subject: np.ndarray, grade: np.ndarray, term) -> np.ndarray:
        """Values of ``table`` per test; Language Usage (subject 2) takes the reading norms."""
        return table[np.minimum(subject, 1), grade, term]

    def at_days(
        self, subject: np.ndarray, grade: np.ndarray, day: np.ndarray, term: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Norm mean and SD at the instructional week of tests on ``day`` (days since
        1970-01-01; the arrays broadcast), as the panel counts weeks on the default calendar."""
        day, subject, grade = np.broadcast_arrays(day, subject, grade)
        week = instructional_weeks(day.ravel().astype("datetime64[D]"), SEASONS_OF_TERM[term])
        names = np.asarray(SUBJECTS)[np.minimum(subject, 1).ravel()]
        mean, sd = self.norms.at_week(names, grade.ravel(), week)
        return mean.reshape(day.shape), sd.reshape(day.shape)


@dataclass(frozen=True)
class _Scores:
    """Every student's tests by [student, subject (math, reading, language usage), term], and
    the pieces of the planted truth by [school, subject (math, reading)]."""

    present: np.ndarray  # the student tested in the subject and term
    kind: np.ndarray  # _SINGLE, _SINGLE_INVALID, _RETEST, _RETEST_AFTER_INVALID
    rit: np.ndarray  # RIT of the slot's growth-measure test (before any invalidating behaviour)
    se: np.ndarray  # its reported standard error (RIT, in tenths as exports write it)
    day: np.ndarray  # its date (days since 1970-01-01)
    has_spring: np.ndarray  # [student] tested in spring (after attrition)
    analysable: np.ndarray  # [student, subject (math, reading)]
    fall_ok: np.ndarray  # [student, subject] a valid fall test: the all-treated set's members
    z_fall: np.ndarray  # [student, subject] OBSERVED fall z (from the reported RIT)
    planted: np.ndarray  # [school, subject] planted effect: sector effect × years multiplier
    deviation: np.ndarray  # [school, subject] the school's deviation u_s from it
    centre: np.ndarray  # [school, subject] mean observed fall z of its analysable students
    shock: np.ndarray  # [school] growth shock shared by subjects (school + district)

    @classmethod
    def draw(
        cls,
        s: SimulationSettings,
        schools: pd.DataFrame,
        students: pd.DataFrame,
        grids: _NormGrids,
        rngs: dict[str, np.random.Generator],
    ) -> _Scores:
        """Draw true fall scores, who misses spring, which tests exist, their SEs and dates, the
        observed fall scores, the planted effects, then true and observed spring scores."""
        n = len(students)
        school = students["school"].to_numpy()
        spring_school = students["spring_school"].to_numpy()
        grade = students["grade"].to_numpy()[:, None]
        subject = np.arange(3)[None, :]
        rng = rngs["scores"]
        kind = _slot_kinds(s, rng, (n, 3, 2))
        r = s.subject_correlation
        z_true = schools["mean_z"].to_numpy()[school][:, None] + s.within_school_sd * (
            math.sqrt(r) * rng.standard_normal(n)[:, None]
            + math.sqrt(1 - r) * rng.standard_normal((n, 3))
        )
        has_spring = _spring_attrition(s, schools, students, z_true[:, :2], rngs["attrition"])
        takes = np.ones((n, 3), dtype=bool)
        takes[:, 2] = students["language_usage"].to_numpy()
        present = np.stack(
            [takes & students["has_fall"].to_numpy()[:, None], takes & has_spring[:, None]], axis=2
        )
        ok = present & (kind != _SINGLE_INVALID)
        analysable = ok[:, :2, 0] & ok[:, :2, 1] & (school == spring_school)[:, None]
        se = _standard_errors(s, rngs["measurement"], (n, 3, 2))
        error = rngs["measurement"].standard_normal((n, 3, 2)) * se * s.measurement_error
        day = _test_days(schools, students, rngs["dates"])

        mean, sd = grids.at_days(subject, grade, day[:, :, 0], 0)
        rit_fall = np.clip(np.rint(mean + z_true * sd + error[:, :, 0]), 100, 320)
        z_seen = (rit_fall - mean) / sd
        planted, deviation = _school_effects(s, schools, school, analysable, rngs["effects"])
        centre = _analysable_centres(school, z_seen[:, :2], analysable, len(schools))
        tau = _student_effects(s, schools, students, z_seen[:, :2], centre, planted + deviation)
        shock = schools["shock"].to_numpy()
        v = schools[["v_math", "v_reading"]].to_numpy()
        rho = _true_score_correlation(s, grids, grade, subject)
        z_spring = rho * z_true + np.sqrt(1 - rho**2) * rng.standard_normal((n, 3))
        z_spring += 0.5 * (shock[school] + shock[spring_school])[:, None]
        z_spring[:, :2] += 0.5 * (v[school] + v[spring_school]) + tau
        mean, sd = grids.at_days(subject, grade, day[:, :, 1], 1)
        rit_spring = np.clip(np.rint(mean + z_spring * sd + error[:, :, 1]), 100, 320)
        return cls(
            present=present,
            kind=kind,
            rit=np.stack([rit_fall, rit_spring], axis=2).astype(np.int64),
            se=se,
            day=day,
            has_spring=has_spring,
            analysable=analysable,
            fall_ok=ok[:, :2, 0],
            z_fall=z_seen[:, :2],
            planted=planted,
            deviation=deviation,
            centre=centre,
            shock=shock,
        )


def _spring_attrition(
    s: SimulationSettings,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    z_true: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Who is tested in spring: students who stay at their school miss spring with a logistic
    probability that falls with their true fall score (mean of math and reading) and is higher
    in PL schools, so attrition is differential and depends on baseline. The intercept is set
    so that ``missing_spring_rate`` of all students miss spring, as before attrition had causes."""
    school = students["school"].to_numpy()
    treated = schools["treated"].to_numpy()[school]
    stays = students["has_fall"].to_numpy() & (school == students["spring_school"].to_numpy())
    z = z_true.mean(axis=1)
    slope = s.attrition_baseline_slope * z
    log_odds = slope + treated * (
        s.attrition_treated_log_odds + s.attrition_treated_baseline_slope * z
    )
    wanted = s.missing_spring_rate * len(school) / max(int(stays.sum()), 1)
    if not stays.any() or wanted <= 0:
        return np.ones(len(school), dtype=bool)
    intercept = brentq(lambda c: expit(c + log_odds[stays]).mean() - min(wanted, 0.99), -30, 30)
    missing = stays & (rng.random(len(school)) < expit(intercept + log_odds))
    return ~missing


def _standard_errors(s: SimulationSettings, rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Each growth-measure test's standard error of measurement, in tenths of a RIT point."""
    return np.rint(np.clip(rng.normal(s.se_mean, s.se_sd, shape), *s.se_range) * 10) / 10


def _test_days(
    schools: pd.DataFrame, students: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Date of each student × subject × term's growth-measure test: within two weeks of its
    school's window opening (the spring school's in spring), moved off weekends."""
    window = np.stack(
        [
            schools["fall_window"].to_numpy()[students["school"].to_numpy()],
            schools["spring_window"].to_numpy()[students["spring_school"].to_numpy()],
        ],
        axis=1,
    )
    return _school_day(window[:, None, :] + rng.integers(0, 14, (len(students), 3, 2)))


def _true_score_correlation(
    s: SimulationSettings, grids: _NormGrids, grade: np.ndarray, subject: np.ndarray
) -> np.ndarray:
    """Fall-spring correlation of TRUE scores: the norms' ρ (of observed scores) over the root of
    the two tests' reliabilities 1/(1 + (SE/σ)²), so observed scores keep the norms' ρ."""
    rho = grids.rho[np.minimum(subject, 1), grade]
    if not s.measurement_error:
        return rho
    reliability = [
        1 / (1 + (s.se_mean / grids.at(grids.sd, subject, grade, t)) ** 2) for t in (0, 1)
    ]
    return np.minimum(rho / np.sqrt(reliability[0] * reliability[1]), 0.99)


def _slot_kinds(s: SimulationSettings, rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Kind of each student × subject × term; the invalid-single share is set so that the
    short and rapid-guessing tests make up their configured shares of all tests."""
    retest, share = s.retest_rate, s.retest_after_invalid_share
    invalid_single = max(0.0, (s.short_test_rate + s.rapid_guessing_rate) * (1 + retest)
                         - retest * share)  # fmt: skip
    cuts = np.cumsum([retest * (1 - share), retest * share, invalid_single])
    return np.select(
        [(u := rng.random(shape)) < cuts[0], u < cuts[1], u < cuts[2]],
        [_RETEST, _RETEST_AFTER_INVALID, _SINGLE_INVALID],
        _SINGLE,
    ).astype(np.int8)


def _school_effects(
    s: SimulationSettings,
    schools: pd.DataFrame,
    school: np.ndarray,
    analysable: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Planted τ_s [school, subject] as (sector effect × normalised years multiplier, u_s).

    Weights are the analysable students: within each sector the weighted multiplier is 1. With
    ``recentre_school_effects`` u_s is re-centred within each sector × years cell, so the
    realised sector and years truths are exactly the planted effects.
    """
    n = len(schools)
    treated = schools["treated"].to_numpy()
    charter = schools["charter"].to_numpy()
    years = schools["years"].to_numpy()
    weight = np.stack([np.bincount(school[analysable[:, k]], minlength=n) for k in (0, 1)], 1)
    r = s.school_effect_correlation
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    u = s.school_effect_sd * np.stack([a, r * a + math.sqrt(1 - r**2) * b], axis=1)
    multiplier = np.asarray(s.years_multipliers)[np.maximum(years, 1) - 1]
    planted, deviation = np.zeros((n, 2)), np.zeros((n, 2))
    for in_sector, effect in ((charter, s.charter_effect), (~charter, s.district_effect)):
        members = treated & in_sector
        for k in (0, 1):
            w = weight[:, k]
            if w[members].sum() == 0:
                continue
            scale = effect[k] / np.average(multiplier[members], weights=w[members])
            planted[members, k] = scale * multiplier[members]
            deviation[members, k] = u[members, k]
            if not s.recentre_school_effects:
                continue
            for cell in (members & (years == y) for y in (1, 2, 3)):
                if w[cell].sum() > 0:
                    deviation[cell, k] -= np.average(u[cell, k], weights=w[cell])
    return planted, deviation


def _analysable_centres(
    school: np.ndarray, z_fall: np.ndarray, analysable: np.ndarray, n_schools: int
) -> np.ndarray:
    """Mean observed fall z of each school's analysable students [school, subject]: the centre
    of the baseline gradient, so that a school's truth is its τ_s."""
    centre = np.zeros((n_schools, 2))
    for k in (0, 1):
        a = analysable[:, k]
        count = np.bincount(school[a], minlength=n_schools)
        total = np.bincount(school[a], weights=z_fall[a, k], minlength=n_schools)
        centre[:, k] = total / np.maximum(count, 1)
    return centre


def _student_effects(
    s: SimulationSettings,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    z_fall: np.ndarray,
    centre: np.ndarray,
    school_tau: np.ndarray,
) -> np.ndarray:
    """τ_i [student, subject]: the school's τ_s plus the baseline gradient around the school's
    ``centre``; a student who changes school gets half of each school's effect."""
    treated = schools["treated"].to_numpy().astype(float)

    def effect(at: np.ndarray) -> np.ndarray:
        gradient = s.baseline_gradient * (z_fall - centre[at]) * treated[at, None]
        return school_tau[at] + gradient

    return 0.5 * (
        effect(students["school"].to_numpy()) + effect(students["spring_school"].to_numpy())
    )


# ----------------------------------------------------------------------------- the exports ---


@dataclass(frozen=True)
class _Rows:
    """One export kind as text, sorted, with each row's district and term for splitting it."""

    table: pa.Table
    district: np.ndarray
    term: np.ndarray  # 0 fall, 1 spring


def _assessment_results(
    s: SimulationSettings,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    students: pd.DataFrame,
    scores: _Scores,
    grids: _NormGrids,
    norms_year: int,
    rng: np.random.Generator,
) -> _Rows:
    """Every test event in layout C, sorted by district, term, school, student, subject, date."""
    rows = _test_events(s, schools, students, scores, grids, rng)
    order = np.lexsort(
        [rows[c] for c in ("date", "subject", "student_id", "school", "term", "district")]
    )
    for name in rows:  # one column at a time, to keep a single copy of the table in memory
        rows[name] = rows[name][order]
    return _Rows(
        table=_format_assessments(schools, districts, rows, norms_year, s.school_year),
        district=rows["district"],
        term=rows["term"],
    )


def _test_events(
    s: SimulationSettings,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    scores: _Scores,
    grids: _NormGrids,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Numeric facts of every test event: one growth-measure test per student × subject × term
    tested, plus the extra tests of retested ones."""
    slots = np.flatnonzero(scores.present.ravel())  # index = (student·3 + subject)·2 + term
    n_slots = len(slots)
    retested = np.flatnonzero(scores.kind.ravel()[slots] >= _RETEST)
    parent = np.concatenate([np.arange(n_slots), retested])  # row of the slot's growth test
    growth_measure = np.arange(len(parent)) < n_slots
    n_rows = len(parent)
    slot = slots[parent]
    student, subject, term = slot // 6, (slot // 2) % 3, slot % 2
    kind = scores.kind.ravel()[slot]
    spring = term == 1
    grade = students["grade"].to_numpy()[student]
    school = _in_term(students, "school", student, spring)
    district = schools["district"].to_numpy()[school]
    student_id = _in_term(students, "student_id", student, spring)

    # The extra test of a retested slot has a higher SE, or an equal SE and an earlier date, so
    # NWEA's rule marks it FALSE; after an invalid test it is the earlier, screened-out one.
    retest = ~growth_measure
    after_invalid = retest & (kind == _RETEST_AFTER_INVALID)
    equal_se = retest & ~after_invalid & (rng.random(n_rows) < 0.3)
    se_step = np.where(after_invalid, rng.integers(2, 9, n_rows), rng.integers(1, 6, n_rows))
    se_tenths = np.rint(scores.se.ravel()[slots] * 10)
    se = np.minimum(se_tenths[parent] + np.where(retest & ~equal_se, se_step, 0), 55) / 10
    first_day = scores.day.ravel()[slots]
    offset = retest * np.where(
        after_invalid | equal_se,
        -rng.integers(1, 8, n_rows),
        rng.integers(1, 11, n_rows) * rng.choice([-1, 1], n_rows),
    )
    date = _school_day(first_day[parent] + offset, backwards=offset < 0)
    valid = np.where(growth_measure, kind != _SINGLE_INVALID, kind == _RETEST)
    rit = (
        scores.rit.ravel()[slot]
        + np.where(retest & valid, np.rint(rng.normal(0, 4.5, n_rows)), 0)
        - np.where(valid, 0, np.rint(np.abs(rng.normal(8, 6, n_rows))))
    )
    rit = np.clip(rit, 100, 320).astype(np.int64)

    mean, sd = grids.at(grids.mean, subject, grade, term), grids.at(grids.sd, subject, grade, term)
    same_district = students["spring_district"].to_numpy() == students["district"].to_numpy()
    return {
        "subject": subject, "term": term, "grade": grade, "school": school, "district": district,
        "student_id": student_id, "state_id": students["state_id"].to_numpy()[student],
        "growth_measure": growth_measure, "date": date, "rit": rit, "se": se,
        "percentile": reported_percentile((rit - mean) / sd).astype(np.int64),
        # unique 9-digit ids: a permuted slot per row, jittered within the slot
        "test_id": 100_000_000 + 37 * rng.permutation(n_rows) + rng.integers(0, 37, n_rows),
        "time": rng.integers(8 * 3600, 14 * 3600 + 1800, n_rows),
        **_test_behaviour(s, valid, rng),
        **_growth_fields(scores, grids, slots, student, subject, term, grade, rit, se,
                         same_district[student]),
    }  # fmt: skip


def _test_behaviour(
    s: SimulationSettings, valid: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Duration, rapid-guessing percentage and percent correct of each test.

    Valid tests pass the default screens; an invalid one is either short (under 6 minutes, with
    heavy guessing) or has rapid guesses on at least 30 % of its items.
    """
    n = len(valid)
    short = ~valid & (
        rng.random(n) < s.short_test_rate / (s.short_test_rate + s.rapid_guessing_rate)
    )
    rapid = ~valid & ~short
    items = rng.integers(40, 54, n)
    at_30 = (3 * items + 9) // 10  # fewest rapid guesses reaching 30 % (integer ceil)
    at_20 = (2 * items + 9) // 10
    guessed = np.select(
        [short, rapid],
        [
            at_20 + (rng.random(n) * (items - at_20 + 1)).astype(np.int64),
            at_30 + (rng.beta(1.2, 3.0, n) * (items - at_30 + 1)).astype(np.int64),
        ],
        np.where(rng.random(n) < 0.7, 0, np.minimum(rng.geometric(0.4, n), at_30 - 1)),
    )
    duration = np.select(
        [short, rapid],
        [rng.integers(1, 6, n), np.clip(np.rint(rng.lognormal(np.log(18), 0.4, n)), 6, 60)],
        np.clip(np.rint(rng.lognormal(np.log(45), 0.45, n)), 12, 245),
    )
    correct = np.where(
        valid,
        np.clip(np.rint(rng.normal(50, 4, n)), 36, 64),
        np.clip(np.rint(rng.normal(38, 8, n)), 10, 60),
    )
    return {
        "duration": duration.astype(np.int64),
        "rapid_guessing": np.round(100 * np.minimum(guessed, items) / items, 3),
        "percent_correct": correct.astype(np.int64),
    }


def _growth_fields(
    scores: _Scores,
    grids: _NormGrids,
    slots: np.ndarray,
    student: np.ndarray,
    subject: np.ndarray,
    term: np.ndarray,
    grade: np.ndarray,
    rit: np.ndarray,
    se: np.ndarray,
    same_district: np.ndarray,
) -> dict[str, np.ndarray]:
    """Fall-to-spring growth fields (nwea_formats.md §1.3, §2 "Conditional growth").

    Spring math/reading rows of a student with a fall growth-measure test in the same district
    get the summary block; fall rows get TypicalFallToSpringGrowth. ``rit`` and ``se`` are by
    row with the growth-measure rows first, in slot order.
    """
    row_of_slot = np.full(scores.present.size, -1)
    row_of_slot[slots] = np.arange(len(slots))
    fall_row = row_of_slot[(student * 3 + subject) * 2]
    k = np.minimum(subject, 1)
    mu1, sd1 = grids.mean[k, grade, 0], grids.sd[k, grade, 0]
    mu2, sd2 = grids.mean[k, grade, 1], grids.sd[k, grade, 1]
    rho = grids.rho[k, grade]
    has_block = (subject < 2) & (term == 1) & (fall_row >= 0) & same_district
    start = np.where(has_block, rit[np.maximum(fall_row, 0)], rit)
    projected = (mu2 - mu1) + (rho * sd2 / sd1 - 1) * (start - mu1)
    reported = np.rint(projected)
    observed = rit - start
    observed_se = np.rint(10 * np.sqrt(se**2 + se[np.maximum(fall_row, 0)] ** 2)) / 10
    cgi = (observed - projected) / (sd2 * np.sqrt(1 - rho**2))
    return {
        "no_growth": ~has_block,
        "projected": reported.astype(np.int64),
        "observed": observed.astype(np.int64),
        "observed_se": observed_se,
        "met": 2 * (observed >= reported) + (np.abs(observed - reported) < observed_se),
        "cgi": cgi,
        "cgp": reported_percentile(cgi).astype(np.int64),
        "typical": reported.astype(np.int64),
        "no_typical": (subject == 2) | (term == 1),
    }


def _format_assessments(
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    rows: dict[str, np.ndarray],
    norms_year: int,
    school_year: str,
) -> pa.Table:
    """AssessmentResults rows as text, in ASSESSMENT_COLUMNS order."""
    district = rows["district"]
    blank = rows["no_growth"]

    def constant(text: str) -> pa.Array:
        return _labels((text,), np.zeros(len(district), dtype=np.int8))

    columns = {
        "TermName": _labels(_term_names(school_year), rows["term"]),
        "DistrictName": _labels(districts["name"], district),
        "District_StateID": _labels(districts["state_id"], district),
        "SchoolName": _labels(schools["name"], rows["school"]),
        "School_StateID": _labels(schools["state_id"], rows["school"]),
        "StudentID": _integers(rows["student_id"]),
        "Student_StateID": _integers(rows["state_id"]),
        "Subject": _labels(_SUBJECT, rows["subject"]),
        "Course": _labels(_COURSE, rows["subject"]),
        "GrowthMeasureYN": _labels(("FALSE", "TRUE"), rows["growth_measure"]),
        "NormsReferenceData": constant(str(norms_year)),
        # the norms' default instructional weeks, at which TestPercentile is computed
        "WISelectedAYFall": constant("4"),
        "WISelectedAYWinter": constant("20"),
        "WISelectedAYSpring": constant("32"),
        "TestType": constant("Survey With Goals"),
        "TestName": _labels(_TEST_NAMES, 3 * rows["subject"] + np.digitize(rows["grade"], [2, 6])),
        "TestID": _integers(rows["test_id"]),
        "TestStartDate": _dates(rows["date"], districts["padded_dates"].to_numpy()[district]),
        "TestStartTime": _clock(rows["time"]),
        "TestDurationMinutes": _integers(rows["duration"]),
        "TestRITScore": _integers(rows["rit"]),
        "TestStandardError": _decimals(rows["se"], 1),
        "TestPercentile": _integers(rows["percentile"]),
        "AchievementQuintile": _labels(_QUINTILES, _quintile(rows["percentile"])),
        "PercentCorrect": _integers(rows["percent_correct"]),
        "RapidGuessingPercentage": _guessing(
            rows["rapid_guessing"], districts["long_zero"].to_numpy()[district]
        ),
        "FallToSpringProjectedGrowth": _integers(rows["projected"], blank),
        "FallToSpringObservedGrowth": _integers(rows["observed"], blank),
        "FallToSpringObservedGrowthSE": _decimals(rows["observed_se"], 1, blank),
        "FallToSpringMetProjectedGrowth": _labels(_MET, rows["met"], blank),
        "FallToSpringConditionalGrowthIndex": _decimals(rows["cgi"], 2, blank),
        "FallToSpringConditionalGrowthPercentile": _integers(rows["cgp"], blank),
        "FallToSpringGrowthQuintile": _labels(_QUINTILES, _quintile(rows["cgp"]), blank),
        "TypicalFallToSpringGrowth": _integers(rows["typical"], rows["no_typical"]),
    }
    return pa.table({name: columns[name] for name in ASSESSMENT_COLUMNS})


def _students_by_school(
    s: SimulationSettings, schools: pd.DataFrame, districts: pd.DataFrame, students: pd.DataFrame
) -> _Rows:
    """One roster row per student, term and school tested at, sorted like the results."""
    student = np.concatenate(
        [np.flatnonzero(students["has_fall"]), np.flatnonzero(students["has_spring"])]
    )
    term = (np.arange(len(student)) >= int(students["has_fall"].sum())).astype(np.int64)
    spring = term == 1
    school = _in_term(students, "school", student, spring)
    district = schools["district"].to_numpy()[school]
    student_id = _in_term(students, "student_id", student, spring)
    order = np.lexsort((student_id, school, term, district))
    student, term, school, district, student_id = (
        a[order] for a in (student, term, school, district, student_id)
    )
    facts = students.iloc[student]
    grade = facts["grade"].to_numpy()
    ethnic = facts["ethnic"].to_numpy()
    own_labels = districts["own_ethnic_labels"].to_numpy()[district]
    mi = facts["mi"].to_numpy()
    columns = {
        "TermName": _labels(_term_names(s.school_year), term),
        "DistrictName": _labels(districts["name"], district),
        "District_StateID": _labels(districts["state_id"], district),
        "SchoolName": _labels(schools["name"], school),
        "School_StateID": _labels(schools["state_id"], school),
        "StudentLastName": _labels(_LAST_NAMES, facts["last"].to_numpy()),
        "StudentFirstName": _labels(_FIRST_NAMES, facts["first"].to_numpy()),
        "StudentMI": _labels(tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), np.maximum(mi, 0), mi < 0),
        "StudentID": _integers(student_id),
        "Student_StateID": _integers(facts["state_id"].to_numpy()),
        "StudentDateOfBirth": _dates(
            facts["birth"].to_numpy(), districts["padded_dates"].to_numpy()[district]
        ),
        "StudentEthnicGroup": _labels(
            _NWEA_ETHNIC + _DISTRICT_ETHNIC, ethnic + len(_NWEA_ETHNIC) * own_labels
        ),
        "NWEAStandard_EthnicGroup": _labels(_NWEA_ETHNIC, ethnic),
        "StudentGender": _labels(("M", "F"), facts["female"].to_numpy()),
        "Grade": _labels(_GRADES, grade),
        "NWEAStandard_Grade": _labels(_GRADES, grade),
    }
    table = pa.table({name: columns[name] for name in STUDENT_COLUMNS})
    return _Rows(table=table, district=district, term=term)


def _split(
    rows: _Rows, districts: pd.DataFrame, prefix: str, school_year: str
) -> dict[str, pd.DataFrame]:
    """One export file per district and term: ``<prefix>_<district-slug>_<Season>_<year>.csv``."""
    key = rows.district * 2 + rows.term
    cuts = np.flatnonzero(np.diff(key)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(key)]])
    slugs = districts["slug"].to_numpy()
    out = {}
    if len(key) == 0:
        return out
    for start, end in zip(starts, ends, strict=True):
        district, term = divmod(int(key[start]), 2)
        name = f"{prefix}_{slugs[district]}_{_SEASONS[term]}_{school_year}.csv"
        out[name] = rows.table.slice(start, end - start).to_pandas()
    return out


# ------------------------------------------------------------------------------ formatting ---


def _term_names(school_year: str) -> tuple[str, str]:
    return tuple(f"{season} {school_year}" for season in _SEASONS)


def _quintile(percentile: np.ndarray) -> np.ndarray:
    """NWEA quintile index: Low ≤ 20, LoAvg 21-40, Avg 41-60, HiAvg 61-80, High ≥ 81."""
    return np.digitize(percentile, [21, 41, 61, 81])


def _labels(labels, codes: np.ndarray, blank: np.ndarray | None = None) -> pa.Array:
    """Text of integer codes into ``labels`` (a dictionary decode: fast on millions of rows)."""
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=blank)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(labels), _TEXT)).cast(_TEXT)


def _integers(values: np.ndarray, blank: np.ndarray | None = None) -> pa.Array:
    """Integer text; small ranges (scores, minutes, day numbers) go through a table of their
    texts, because pyarrow's integer-to-text cast is several times slower on millions of rows."""
    values = np.asarray(values, dtype=np.int64)
    low, high = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    if high - low <= 100_000:
        return _labels([str(i) for i in range(low, high + 1)], values - low, blank)
    return pc.cast(pa.array(values, mask=blank), _TEXT)


def _decimals(values: np.ndarray, places: int, blank: np.ndarray | None = None) -> pa.Array:
    """Fixed-point text with exactly ``places`` decimals ("3.0", "-0.25"), by integer arithmetic,
    because pyarrow's float-to-text cast writes the shortest round-trip form ("3")."""
    values = np.nan_to_num(np.asarray(values, dtype=float))
    scale = 10**places
    scaled = np.rint(np.abs(values) * scale).astype(np.int64)
    text = _join(
        _integers(scaled // scale),
        pc.utf8_lpad(_integers(scaled % scale), places, "0"),
        separator=".",
    )
    text = pc.if_else(pa.array((values < 0) & (scaled > 0)), _join(_text("-"), text), text)
    if blank is None:
        return text
    return pc.if_else(pa.array(blank), _text(None), text)


def _text(value: str | None) -> pa.Scalar:
    return pa.scalar(value, _TEXT)


def _join(*parts, separator: str = "") -> pa.Array:
    """Concatenate text arrays (or scalars) element-wise with ``separator`` between them."""
    return pc.binary_join_element_wise(*parts, _text(separator))


def _guessing(percent: np.ndarray, long_zero: np.ndarray) -> pa.Array:
    """RapidGuessingPercentage as exports write it: 0 or 0.0000 (by district), else 2.381."""
    zero = pc.if_else(pa.array(long_zero), _text("0.0000"), _text("0"))
    return pc.if_else(pa.array(percent == 0), zero, _decimals(percent, 3))


def _dates(days: np.ndarray, padded: np.ndarray) -> pa.Array:
    """MM/DD/YYYY, zero-padded or not (9/6/2022) as the district's export does."""
    day = np.asarray(days).astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    year = month_start.astype("datetime64[Y]").astype(np.int64) + 1970
    parts = [
        _integers(month_start.astype(np.int64) % 12 + 1),
        _integers((day - month_start).astype(np.int64) + 1),
    ]
    padded = pa.array(np.asarray(padded, dtype=bool))
    month, dom = (pc.if_else(padded, pc.utf8_lpad(p, 2, "0"), p) for p in parts)
    return _join(month, dom, _integers(year), separator="/")


def _clock(seconds: np.ndarray) -> pa.Array:
    """HH:MM:SS, 24-hour."""
    parts = (seconds // 3600, seconds // 60 % 60, seconds % 60)
    return _join(*(pc.utf8_lpad(_integers(p), 2, "0") for p in parts), separator=":")


# ----------------------------------------------------------------------------------- truth ---


def _truth(
    s: SimulationSettings,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    students: pd.DataFrame,
    scores: _Scores,
    norms_year: int,
    n_rows: int,
) -> dict:
    """The planted truth per subject: pooled, by sector, years and school (see module docstring)."""
    school = students["school"].to_numpy()
    treated = schools["treated"].to_numpy()
    sector = np.where(schools["charter"], "charter", "district")
    years = schools["years"].to_numpy()
    years_label = np.asarray(YEARS_LABELS)[np.clip(years - 1, 0, 2)]
    district_name = districts["name"].to_numpy()[schools["district"]]

    effects = {}
    for k, subject in enumerate(SUBJECTS):
        pl = treated[school]
        analysable = scores.analysable[:, k] & pl
        enrolled = scores.fall_ok[:, k] & pl  # every PL student with a valid fall test
        gradient = s.baseline_gradient * (scores.z_fall[:, k] - scores.centre[school, k])
        population = scores.planted[school, k] + gradient
        sample = population + scores.deviation[school, k]
        of_school = sample + scores.shock[school]

        def cell(values, where, analysable=analysable, enrolled=enrolled) -> dict:
            kept, everyone = values[analysable & where], values[enrolled & where]
            return {
                "tau": _mean(kept),
                "n": len(kept),
                "all_treated": _mean(everyone),
                "n_all_treated": len(everyone),
            }

        def scopes(values: np.ndarray, pl: np.ndarray = pl, cell=cell) -> dict:
            return {
                "pooled": cell(values, pl),
                "by_sector": {g: cell(values, sector[school] == g) for g in SECTORS},
                "by_years": {g: cell(values, years_label[school] == g) for g in YEARS_LABELS},
            }

        by_school = {}
        for i in np.flatnonzero(treated):  # the handful of PL schools
            by_school[f"{district_name[i]}|{schools['name'].iloc[i]}"] = {
                "district_name": str(district_name[i]),
                "school_name": str(schools["name"].iloc[i]),
                "sector": str(sector[i]),
                "years": int(years[i]),
                **cell(of_school, school == i),
                "planted": round(float(scores.planted[i, k]), 6),
                "deviation": round(float(scores.deviation[i, k]), 6),
                "shock": round(float(scores.shock[i]), 6),
                "centre": round(float(scores.centre[i, k]), 6),
            }
        effects[subject] = {
            **scopes(population),
            "by_school": by_school,
            "n_comparison": int((scores.analysable[:, k] & ~pl).sum()),
            # The realised effects of these 40 schools (with their deviations u_s): the sample
            # ATT, which pooled intervals that speak for the population of schools also cover.
            "sample": scopes(sample),
        }
    return {
        "settings": {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(s).items()
        },
        "school_year": s.school_year,
        "norms_year": norms_year,
        "analysable": (
            "valid fall and spring test (duration >= 6 min, rapid guessing < 30%; then "
            "GrowthMeasureYN, lowest SE, latest date) at the same school all year"
        ),
        "all_treated": "every student with a valid fall test at a PL school, spring test or not",
        "counts": {
            "students": len(students),
            "treated_schools": int(treated.sum()),
            "comparison_schools": int((~treated).sum()),
            "districts": len(districts),
            "assessment_rows": n_rows,
        },
        "effects": effects,
    }


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 6) if len(values) else None
