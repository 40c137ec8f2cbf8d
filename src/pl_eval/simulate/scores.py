"""One school year's scores: true and observed z in fall, winter and spring, who misses
spring, measurement error, test dates, and the planted effects.

Model, in national-SD units (z against the status norms of grade × subject at the test's week):

* fall: in the first year and for arrivals, true ``z_fall = school mean + N(0, within_school_sd)``
  (the school mean falls with FRL and is a little lower in PL schools); for a stayer,
  ``z_fall = true spring z of the year before + N(0, summer_sd)``, so every planted effect and
  shock carries over. The reported RIT is ``round(μ_w + z·σ_w + e)`` with measurement error
  ``e ~ N(0, SE²)``, SE the test's own reported TestStandardError.
* spring (true): ``z_spring = ρ*·z_fall + √(1−ρ*²)·ε + shock + v_school + selection + τ_i``,
  ρ* the norms' ρ_g over the root of the two tests' reliabilities (so observed scores keep ρ_g);
  reported like fall, with its own measurement error. Through the next fall z, a year's τ_i
  reaches a later spring z multiplied by each later year's ρ*.
* winter (winter-testing districts): true ``z_winter = (z_fall + z_spring)/2 + N(0,
  winter_noise_sd)``, tested at the fall school between the fall and spring windows.
* test dates: a test's RIT is ``μ_w + z·σ_w`` at its own instructional week w (default
  ``SchoolCalendar``); windows vary by school and PL schools test ``treated_days_shift`` days
  further apart, so RIT growth differs by arm while z at each test's week does not.
* ``shock``: a school growth shock of the year in both arms, shared by math and reading, plus
  its district's; ``v_school`` a persistent subject-specific shift of comparison schools;
  ``selection``: ``pre_adoption_selection`` in schools that adopt PL in a later year.
* attrition: students who stay miss spring with a logistic probability falling with their true
  fall z and higher in PL schools (differential attrition that depends on baseline).
* ``τ_i = sector effect × m_years(school's years of implementation) × m_exposure(student's
  own years in a PL school, this one included) / normaliser + u_s + gradient·(observed z_fall −
  school centre)``. The normaliser makes the mean of the multipliers' product 1 over each
  sector's analysable PL students of the year, so a year's realised sector truths equal the
  planted sector effects; u_s is re-centred within each sector × years cell. A student who
  changes school during the year gets half of each school's effect.

A student's own years of exposure count the simulated years, up to this one, in which the
student had a valid math or reading test (any season) at a school that was PL that year, as
the panel counts them from the ingested scores (a student who changes district is a new
student there, under another key).

A student × subject is *analysable* in a year when the student has a valid fall and a valid
spring test (after the default screens; de-duplication keeps a valid test), at the same school
all year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from pl_eval.errors import ConfigError
from pl_eval.norms import Norms, instructional_weeks
from pl_eval.simulate.settings import SEASONS_OF_TERM, SUBJECTS, SimulationSettings

# Kinds of a student × subject × term "slot" of tests.
SINGLE, SINGLE_INVALID, RETEST, RETEST_AFTER_INVALID = 0, 1, 2, 3


@dataclass(frozen=True)
class NormGrids:
    """Norm means and SDs as arrays [subject (math, reading), grade 0-12, term (fall, spring,
    winter)]."""

    mean: np.ndarray
    sd: np.ndarray
    rho: np.ndarray  # [subject, grade] fall-spring correlation
    norms: Norms  # for the mean and SD at a test's instructional week

    @classmethod
    def from_norms(cls, norms: Norms, s: SimulationSettings) -> NormGrids:
        grid = pd.MultiIndex.from_product(
            [SUBJECTS, range(13), SEASONS_OF_TERM], names=["subject", "grade", "season"]
        ).to_frame(index=False)
        mean, sd = norms.lookup(grid["subject"], grid["grade"], grid["season"])
        if np.isnan(mean).any() or np.isnan(sd).any():
            raise ConfigError(
                f"simulate: the {norms.year} norms lack math or reading grades K-12; use 2020"
            )
        rho = np.array([s.rho_math, s.rho_reading])
        shape = (2, 13, len(SEASONS_OF_TERM))
        return cls(mean.reshape(shape), sd.reshape(shape), rho, norms)

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
class Year:
    """What a school year's scores depend on besides its students: which schools are PL and
    for how long, who adopts later, the year's shocks and test windows."""

    index: int  # 0 = first simulated year
    school_year: str
    pl: np.ndarray  # [school] PL this year
    implementation: np.ndarray  # [school] years of implementation this year (0: not PL)
    pre_adoption: np.ndarray  # [school] adopts PL in a later year
    shock: np.ndarray  # [school] growth shock (school + district) of this year
    windows: np.ndarray  # [school, term] first day of the school's test window
    winter: np.ndarray  # [district] tests in winter


@dataclass(frozen=True)
class Scores:
    """Every student's tests in one year by [student, subject (math, reading, language usage),
    term (fall, spring, winter)], and the pieces of the planted truth."""

    present: np.ndarray  # the student tested in the subject and term
    kind: np.ndarray  # SINGLE, SINGLE_INVALID, RETEST, RETEST_AFTER_INVALID
    rit: np.ndarray  # RIT of the slot's growth-measure test (before any invalidating behaviour)
    se: np.ndarray  # its reported standard error (RIT, in tenths as exports write it)
    day: np.ndarray  # its date (days since 1970-01-01)
    has_spring: np.ndarray  # [student] tested in spring (after attrition)
    has_winter: np.ndarray  # [student] tested in winter
    analysable: np.ndarray  # [student, subject (math, reading)]
    fall_ok: np.ndarray  # [student, subject] a valid fall test: the all-treated set's members
    spring_ok: np.ndarray  # [student, subject] a valid spring test
    z_fall: np.ndarray  # [student, subject] OBSERVED fall z (from the reported RIT)
    z_spring_true: np.ndarray  # [student, 3 subjects] TRUE spring z (next fall's start)
    exposure: np.ndarray  # [student] own years tested at a PL school, this one included
    planted: np.ndarray  # [student, subject] planted effect at the fall school (no u_s, gradient)
    population: np.ndarray  # [student, subject] planted effect + gradient (both schools' halves)
    deviation: np.ndarray  # [school, subject] the school's deviation u_s this year
    centre: np.ndarray  # [school, subject] mean observed fall z of its analysable students
    rho: np.ndarray  # [student, subject] ρ* carrying this year's fall z into spring

    @classmethod
    def draw(
        cls,
        s: SimulationSettings,
        year: Year,
        schools: pd.DataFrame,
        students: pd.DataFrame,
        carried: np.ndarray,
        exposure_before: np.ndarray,
        u: np.ndarray,
        grids: NormGrids,
        rngs: dict[str, np.random.Generator],
    ) -> Scores:
        """Draw true fall scores (``carried`` true spring z of the year before, NaN for
        arrivals), who misses spring, which tests exist, their SEs and dates, the observed fall
        scores, the planted effects, then true and observed spring and winter scores."""
        n = len(students)
        school = students["school"].to_numpy()
        spring_school = students["spring_school"].to_numpy()
        grade = students["grade"].to_numpy()[:, None]
        subject = np.arange(3)[None, :]
        rng = rngs["scores"]
        kind = _slot_kinds(s, rng, (n, 3, 3))
        r = s.subject_correlation
        fresh = schools["mean_z"].to_numpy()[school][:, None] + s.within_school_sd * (
            math.sqrt(r) * rng.standard_normal(n)[:, None]
            + math.sqrt(1 - r) * rng.standard_normal((n, 3))
        )
        summer = carried + s.summer_sd * rng.standard_normal((n, 3))
        z_true = np.where(np.isnan(carried), fresh, summer)
        has_spring = _spring_attrition(s, year.pl, students, z_true[:, :2], rngs["attrition"])
        has_fall = students["has_fall"].to_numpy()
        winter_district = year.winter[students["district"].to_numpy()]
        has_winter = (
            has_fall & winter_district & (rngs["winter"].random(n) >= s.winter_missing_rate)
        )
        takes = np.ones((n, 3), dtype=bool)
        takes[:, 2] = students["language_usage"].to_numpy()
        present = np.stack(
            [takes & has_fall[:, None], takes & has_spring[:, None], takes & has_winter[:, None]],
            axis=2,
        )
        ok = present & (kind != SINGLE_INVALID)
        analysable = ok[:, :2, 0] & ok[:, :2, 1] & (school == spring_school)[:, None]
        se = _standard_errors(s, rngs["measurement"], (n, 3, 3))
        error = rngs["measurement"].standard_normal((n, 3, 3)) * se * s.measurement_error
        day = _test_days(year.windows, school, spring_school, rngs["dates"])

        mean, sd = grids.at_days(subject, grade, day[:, :, 0], 0)
        rit_fall = np.clip(np.rint(mean + z_true * sd + error[:, :, 0]), 100, 320)
        z_seen = (rit_fall - mean) / sd
        pl = year.pl
        valid = ok[:, :2].any(axis=1)  # [student, term] a valid math or reading test
        tested_at_pl = ((valid[:, 0] | valid[:, 2]) & pl[school]) | (
            valid[:, 1] & pl[spring_school]
        )
        exposure = exposure_before + tested_at_pl
        effects = _Effects.plant(s, year, schools, school, exposure, analysable, u)
        centre = _analysable_centres(school, z_seen[:, :2], analysable, len(schools))

        def at(where: np.ndarray, values: np.ndarray) -> np.ndarray:
            gradient = s.baseline_gradient * (z_seen[:, :2] - centre[where])
            return (values + gradient) * pl[where, None]

        planted = effects.planted(school)
        population = 0.5 * (at(school, planted) + at(spring_school, effects.planted(spring_school)))
        tau = population + 0.5 * (
            (effects.deviation[school] * pl[school, None])
            + (effects.deviation[spring_school] * pl[spring_school, None])
        )
        v = schools[["v_math", "v_reading"]].to_numpy()
        rho = _true_score_correlation(s, grids, grade, subject)
        both = np.stack([school, spring_school])
        z_spring = rho * z_true + np.sqrt(1 - rho**2) * rng.standard_normal((n, 3))
        z_spring += year.shock[both].mean(axis=0)[:, None]
        z_spring += s.pre_adoption_selection * year.pre_adoption[both].mean(axis=0)[:, None]
        z_spring[:, :2] += v[both].mean(axis=0) + tau
        z_winter = 0.5 * (z_true + z_spring) + s.winter_noise_sd * rng.standard_normal((n, 3))
        rit = [rit_fall]
        for term, z in ((1, z_spring), (2, z_winter)):
            mean, sd = grids.at_days(subject, grade, day[:, :, term], term)
            rit.append(np.clip(np.rint(mean + z * sd + error[:, :, term]), 100, 320))
        return cls(
            present=present,
            kind=kind,
            rit=np.stack(rit, axis=2).astype(np.int64),
            se=se,
            day=day,
            has_spring=has_spring,
            has_winter=has_winter,
            analysable=analysable,
            fall_ok=ok[:, :2, 0],
            spring_ok=ok[:, :2, 1],
            z_fall=z_seen[:, :2],
            z_spring_true=z_spring,
            exposure=exposure,
            planted=planted * pl[school, None],
            population=population,
            deviation=effects.deviation * pl[:, None],
            centre=centre,
            rho=rho[:, :2],
        )


@dataclass(frozen=True)
class _Effects:
    """A year's planted effects: per sector × subject the scale that normalises the multipliers,
    the schools' multipliers, the students' exposure multipliers, and the deviations u_s."""

    scale: np.ndarray  # [school, subject] sector effect / normaliser of the school's sector
    school_multiplier: np.ndarray  # [school] by years of implementation
    student_multiplier: np.ndarray  # [student] by own years of exposure
    deviation: np.ndarray  # [school, subject]

    def planted(self, where: np.ndarray) -> np.ndarray:
        """[student, subject] planted effect at the school ``where`` of each student."""
        return (
            self.scale[where] * (self.school_multiplier[where] * self.student_multiplier)[:, None]
        )

    @classmethod
    def plant(
        cls,
        s: SimulationSettings,
        year: Year,
        schools: pd.DataFrame,
        school: np.ndarray,
        exposure: np.ndarray,
        analysable: np.ndarray,
        u: np.ndarray,
    ) -> _Effects:
        """Normalise within each sector over the analysable PL students so that their mean
        planted effect is the sector effect; with ``recentre_school_effects`` re-centre u_s
        within each sector × years cell (weighted by analysable students)."""
        n = len(schools)
        charter = schools["charter"].to_numpy()
        years = np.clip(year.implementation, 1, 3)
        school_m = np.asarray(s.years_multipliers)[years - 1]
        student_m = np.asarray(s.exposure_multipliers)[np.clip(exposure, 1, 3) - 1]
        product = school_m[school] * student_m
        scale, deviation = np.zeros((n, 2)), np.zeros((n, 2))
        for in_sector, effect in ((charter, s.charter_effect), (~charter, s.district_effect)):
            members = year.pl & in_sector
            for k in (0, 1):
                among = analysable[:, k] & members[school]
                if not among.any():
                    continue
                scale[members, k] = effect[k] / product[among].mean()
                deviation[members, k] = u[members, k]
                if not s.recentre_school_effects:
                    continue
                w = np.bincount(school[among], minlength=n)
                for cell in (members & (years == y) for y in (1, 2, 3)):
                    if w[cell].sum() > 0:
                        deviation[cell, k] -= np.average(u[cell, k], weights=w[cell])
        return cls(scale, school_m, student_m, deviation)


def school_deviations(s: SimulationSettings, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each school's persistent deviation u_s [school, subject] from its planted effect."""
    r = s.school_effect_correlation
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    return s.school_effect_sd * np.stack([a, r * a + math.sqrt(1 - r**2) * b], axis=1)


def school_day(days: np.ndarray, backwards: np.ndarray | bool = False) -> np.ndarray:
    """Move weekend days to the next Monday (or back to the previous Friday)."""
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    forward = np.select([weekday == 5, weekday == 6], [2, 1], 0)
    back = np.select([weekday == 5, weekday == 6], [-1, -2], 0)
    return days + np.where(backwards, back, forward)


def _spring_attrition(
    s: SimulationSettings,
    pl: np.ndarray,
    students: pd.DataFrame,
    z_true: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Who is tested in spring: students who stay at their school miss spring with a logistic
    probability that falls with their true fall score (mean of math and reading) and is higher
    in PL schools, so attrition is differential and depends on baseline. The intercept is set
    so that ``missing_spring_rate`` of all students miss spring, as before attrition had causes."""
    school = students["school"].to_numpy()
    treated = pl[school]
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
    windows: np.ndarray, school: np.ndarray, spring_school: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Date of each student × subject × term's growth-measure test: within two weeks of its
    school's window opening (the spring school's in spring), moved off weekends."""
    window = np.stack([windows[school, 0], windows[spring_school, 1], windows[school, 2]], axis=1)
    return school_day(window[:, None, :] + rng.integers(0, 14, (len(school), 3, 3)))


def _true_score_correlation(
    s: SimulationSettings, grids: NormGrids, grade: np.ndarray, subject: np.ndarray
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
        [RETEST, RETEST_AFTER_INVALID, SINGLE_INVALID],
        SINGLE,
    ).astype(np.int8)


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
