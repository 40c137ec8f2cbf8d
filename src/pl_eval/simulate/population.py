"""Students from one school year to the next: enrolment, grades, IDs, roster facts, the moves
within a year, and who stays, moves up a level, leaves or arrives over each summer.

* The first year fills each school with ``size`` students spread evenly over its grades.
* Over a summer a student leaves the cohort when in grade 12, when they changed district
  during the year (their StudentID there is another key; they count as a leaver and an
  arrival), or at random (``leaver_rate``). The others move up a grade at their spring school;
  past the top grade of its level they move to a school of their district that teaches their
  new grade (chosen at random), up to its first-year count of that grade; the others leave
  (to schools outside the cohort), as do those whose district has no such school.
* Arrivals then refill every school × grade to its first-year count: the entry grades (K, 6, 9)
  mostly, and a few transfers into other grades. Each gets a new StudentID in its district
  (``id_base + 100,000 × year index + a rank``, so that no ID of a student who left is reused)
  and a new Student_StateID.
* Within a year, ``mover_rate`` of students are tested at another school of their level in
  spring (in their district mostly; a move to another district brings a new StudentID there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pl_eval.simulate import labels
from pl_eval.simulate.schools import rank_within
from pl_eval.simulate.settings import LEVEL_GRADES, LEVELS, SimulationSettings

#: StudentIDs given in school year t start at id_base + ID_STRIDE·t in each district.
ID_STRIDE = 100_000
#: Student_StateIDs given in school year t start at 1,000,000,000 + STATE_ID_STRIDE·t.
STATE_ID_STRIDE = 10_000_000


def first_enrolment(
    s: SimulationSettings, schools: pd.DataFrame, districts: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """The first year's students: ``size`` per school, grades uniform over its level."""
    school = np.repeat(np.arange(len(schools)), schools["size"].to_numpy())
    low, high = LEVEL_GRADES[schools["level"].to_numpy()[school]].T
    grade = low + (rng.random(len(school)) * (high - low + 1)).astype(np.int64)
    return _arrivals(s, school, grade, schools, districts, 0, rng)


def next_enrolment(
    s: SimulationSettings,
    previous: pd.DataFrame,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    targets: np.ndarray,
    year: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Students of school year ``year`` (index) from those of the year before (with their
    spring schools): stayers a grade up, then arrivals refilling ``targets`` [school, grade].
    ``previous_row`` is the stayer's row in ``previous`` (-1 for an arrival)."""
    n = len(previous)
    grade = previous["grade"].to_numpy() + 1
    school = previous["spring_school"].to_numpy()
    district = schools["district"].to_numpy()
    stay = (
        (previous["spring_district"].to_numpy() == previous["district"].to_numpy())
        & (grade <= 12)
        & (rng.random(n) >= s.leaver_rate)
    )
    top = LEVEL_GRADES[schools["level"].to_numpy()[school], 1]
    promoted = stay & (grade > top)
    school = school.copy()
    school[promoted] = _school_teaching(schools, district[school[promoted]], grade[promoted], rng)
    stay &= school >= 0
    # The next level's schools take promoted students up to their grade's first-year count.
    cell = school * 13 + np.minimum(grade, 12)
    room = np.maximum(
        targets.ravel() - np.bincount(cell[stay & ~promoted], minlength=targets.size), 0
    )
    incoming = np.flatnonzero(stay & promoted)
    stay[incoming] = rank_within(cell[incoming], rng) < room[cell[incoming]]
    rows = np.flatnonzero(stay)
    stayers = previous.iloc[rows].assign(
        school=school[rows],
        district=district[school[rows]],
        grade=grade[rows],
        student_id=previous["spring_student_id"].to_numpy()[rows],  # same district: same ID
        previous_row=rows,
    )
    cells = np.bincount(school[rows] * 13 + grade[rows], minlength=targets.size).reshape(
        targets.shape
    )
    missing = np.maximum(targets - cells, 0).ravel()
    cell = np.repeat(np.arange(targets.size), missing)
    arrivals = _arrivals(s, cell // 13, cell % 13, schools, districts, year, rng)
    return pd.concat([stayers[list(arrivals.columns)], arrivals], ignore_index=True)


def grade_targets(students: pd.DataFrame, n_schools: int) -> np.ndarray:
    """Students per [school, grade] (the counts arrivals refill each year)."""
    cell = students["school"].to_numpy() * 13 + students["grade"].to_numpy()
    return np.bincount(cell, minlength=n_schools * 13).reshape(n_schools, 13)


def term_moves(
    s: SimulationSettings,
    students: pd.DataFrame,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    year: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Add who is tested in fall, the spring school, district and StudentID (movers change
    school; one changing district gets a new StudentID there, Student_StateID stays)."""
    n = len(students)
    school = students["school"].to_numpy()
    u = rng.random(n)
    # Students without a spring test are drawn later, from their fall scores (attrition).
    cuts = np.cumsum([s.missing_fall_rate, s.mover_rate])
    spring_school = _move(school, (u >= cuts[0]) & (u < cuts[1]), schools, s, rng)
    district = schools["district"].to_numpy()
    home, away = district[school], district[spring_school]
    changed = home != away
    spring_id = students["student_id"].to_numpy().copy()
    spring_id[changed] = _new_ids(away[changed], districts, year, rng)
    return students.assign(
        spring_school=spring_school,
        spring_district=away,
        has_fall=u >= cuts[0],
        has_spring=np.ones(n, dtype=bool),  # until attrition (scores.py)
        spring_student_id=spring_id,
    )


def in_term(
    students: pd.DataFrame, column: str, student: np.ndarray, spring: np.ndarray
) -> np.ndarray:
    """``column`` (fall and winter) or ``spring_<column>`` of each row's student, by term."""
    fall = students[column].to_numpy()[student]
    return np.where(spring, students[f"spring_{column}"].to_numpy()[student], fall)


def _arrivals(
    s: SimulationSettings,
    school: np.ndarray,
    grade: np.ndarray,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    year: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """New students at ``school`` in ``grade`` in school year ``year`` (index): IDs and
    roster facts."""
    n = len(school)
    district = schools["district"].to_numpy()[school]
    frl = schools["frl"].to_numpy()[school] / 100
    colour = rng.random(n) < np.clip(0.15 + 0.95 * frl, 0.05, 0.98)
    shares = labels.ETHNIC_SHARES
    group = np.searchsorted(np.cumsum(shares / shares.sum()), rng.random(n))
    female = rng.random(n) < 0.5
    birth_start = (
        (s.fall_years[year] - 6 - grade - 1970)
        .astype("datetime64[Y]")
        .astype("datetime64[D]")
        .astype(np.int64)
        + 244  # 2 September (1 September in leap years)
    )
    held_back = 365 * (rng.random(n) < 0.05)
    return pd.DataFrame(
        {
            "school": school,
            "district": district,
            "grade": grade,
            "student_id": districts["id_base"].to_numpy()[district]
            + ID_STRIDE * year
            + rank_within(district, rng),
            "state_id": 1_000_000_000 + STATE_ID_STRIDE * year + rng.permutation(n),
            "ethnic": np.where(colour, np.minimum(group, 6), 7),
            "female": female,
            "first": rng.integers(0, 20, n) + 20 * ~female,
            "last": rng.integers(0, len(labels.LAST_NAMES), n),
            "mi": np.where(rng.random(n) < 0.25, -1, rng.integers(0, 26, n)),
            "birth": birth_start + rng.integers(0, 365, n) - held_back,
            "language_usage": rng.random(n) < s.language_usage_rate,
            "previous_row": np.full(n, -1),
        }
    )


def _new_ids(
    district: np.ndarray, districts: pd.DataFrame, year: int, rng: np.random.Generator
) -> np.ndarray:
    """StudentIDs for students new to ``district`` during school year ``year`` (index), after
    the arrivals' (which take ranks below ID_STRIDE // 2)."""
    return (
        districts["id_base"].to_numpy()[district]
        + ID_STRIDE * year
        + ID_STRIDE // 2
        + rank_within(district, rng)
    )


def _school_teaching(
    schools: pd.DataFrame, district: np.ndarray, grade: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A random school of ``district`` whose level teaches ``grade`` (-1 when there is none)."""
    level_grades = LEVEL_GRADES[schools["level"].to_numpy()]
    school_ids = np.arange(len(schools))
    keys, members = [], []
    for g in range(13):
        teaches = (level_grades[:, 0] <= g) & (g <= level_grades[:, 1])
        keys.append(schools["district"].to_numpy()[teaches] * 13 + g)
        members.append(school_ids[teaches])
    keys, members = np.concatenate(keys), np.concatenate(members)
    order = np.lexsort((members, keys))
    keys, members = keys[order], members[order]
    wanted = district * 13 + grade
    start = np.searchsorted(keys, wanted, side="left")
    count = np.searchsorted(keys, wanted, side="right") - start
    pick = start + (rng.random(len(wanted)) * np.maximum(count, 1)).astype(np.int64)
    return np.where(count > 0, members[np.minimum(pick, len(members) - 1)], -1)


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
