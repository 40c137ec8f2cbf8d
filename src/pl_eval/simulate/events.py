"""Test events of one school year: one growth-measure test per student × subject × term
tested, the extra tests of retested ones (marked GrowthMeasureYN FALSE by NWEA's rule), invalid
tests (short or rapid guessing), dates, times, ids, percentiles, and the fall-to-spring growth
fields of spring rows (reference/nwea_formats.md §1.3, §2 "Conditional growth")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pl_eval.norms import reported_percentile
from pl_eval.simulate.population import in_term
from pl_eval.simulate.scores import (
    RETEST,
    RETEST_AFTER_INVALID,
    SINGLE_INVALID,
    NormGrids,
    Scores,
    school_day,
)
from pl_eval.simulate.settings import SimulationSettings


def test_events(
    s: SimulationSettings,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    scores: Scores,
    grids: NormGrids,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Numeric facts of every test event: one growth-measure test per student × subject × term
    tested, plus the extra tests of retested ones."""
    slots = np.flatnonzero(scores.present.ravel())  # index = (student·3 + subject)·3 + term
    n_slots = len(slots)
    retested = np.flatnonzero(scores.kind.ravel()[slots] >= RETEST)
    parent = np.concatenate([np.arange(n_slots), retested])  # row of the slot's growth test
    growth_measure = np.arange(len(parent)) < n_slots
    n_rows = len(parent)
    slot = slots[parent]
    student, subject, term = slot // 9, (slot // 3) % 3, slot % 3
    kind = scores.kind.ravel()[slot]
    spring = term == 1
    grade = students["grade"].to_numpy()[student]
    school = in_term(students, "school", student, spring)
    district = schools["district"].to_numpy()[school]
    student_id = in_term(students, "student_id", student, spring)

    # The extra test of a retested slot has a higher SE, or an equal SE and an earlier date, so
    # NWEA's rule marks it FALSE; after an invalid test it is the earlier, screened-out one.
    retest = ~growth_measure
    after_invalid = retest & (kind == RETEST_AFTER_INVALID)
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
    date = school_day(first_day[parent] + offset, backwards=offset < 0)
    valid = np.where(growth_measure, kind != SINGLE_INVALID, kind == RETEST)
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
    scores: Scores,
    grids: NormGrids,
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
    get the summary block; fall rows get TypicalFallToSpringGrowth; winter rows neither.
    ``rit`` and ``se`` are by row with the growth-measure rows first, in slot order.
    """
    row_of_slot = np.full(scores.present.size, -1)
    row_of_slot[slots] = np.arange(len(slots))
    fall_row = row_of_slot[(student * 3 + subject) * 3]
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
        "no_typical": (subject == 2) | (term != 0),
    }
