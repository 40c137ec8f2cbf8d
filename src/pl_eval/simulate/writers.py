"""The exports as text: AssessmentResults (layout C) and StudentsBySchool rows formatted as
NWEA writes them, split into one file per district, term and school year.

Text columns are large_string, the storage of pandas' "str" dtype, so the per-file frames are
made from slices of one table without copying; codes become text by dictionary decoding, which
is fast on millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pl_eval.simulate import events, labels
from pl_eval.simulate.population import in_term
from pl_eval.simulate.scores import NormGrids, Scores
from pl_eval.simulate.settings import TERMS, SimulationSettings

_TEXT = pa.large_string()


@dataclass(frozen=True)
class _Rows:
    """One export kind as text, sorted, with each row's district and term for splitting it."""

    table: pa.Table
    district: np.ndarray
    term: np.ndarray  # 0 fall, 1 spring, 2 winter


def assessment_results(
    s: SimulationSettings,
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    students: pd.DataFrame,
    scores: Scores,
    grids: NormGrids,
    norms_year: int,
    school_year: str,
    rng: np.random.Generator,
) -> _Rows:
    """Every test event in layout C, sorted by district, term, school, student, subject, date."""
    rows = events.test_events(s, schools, students, scores, grids, rng)
    order = np.lexsort(
        [rows[c] for c in ("date", "subject", "student_id", "school", "term", "district")]
    )
    for name in rows:  # one column at a time, to keep a single copy of the table in memory
        rows[name] = rows[name][order]
    return _Rows(
        table=_format_assessments(schools, districts, rows, norms_year, school_year),
        district=rows["district"],
        term=rows["term"],
    )


def _format_assessments(
    schools: pd.DataFrame,
    districts: pd.DataFrame,
    rows: dict[str, np.ndarray],
    norms_year: int,
    school_year: str,
) -> pa.Table:
    """AssessmentResults rows as text, in labels.ASSESSMENT_COLUMNS order."""
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
        "Subject": _labels(labels.SUBJECT, rows["subject"]),
        "Course": _labels(labels.COURSE, rows["subject"]),
        "GrowthMeasureYN": _labels(("FALSE", "TRUE"), rows["growth_measure"]),
        "NormsReferenceData": constant(str(norms_year)),
        # the norms' default instructional weeks, at which TestPercentile is computed
        "WISelectedAYFall": constant("4"),
        "WISelectedAYWinter": constant("20"),
        "WISelectedAYSpring": constant("32"),
        "TestType": constant("Survey With Goals"),
        "TestName": _labels(
            labels.TEST_NAMES, 3 * rows["subject"] + np.digitize(rows["grade"], [2, 6])
        ),
        "TestID": _integers(rows["test_id"]),
        "TestStartDate": _dates(rows["date"], districts["padded_dates"].to_numpy()[district]),
        "TestStartTime": _clock(rows["time"]),
        "TestDurationMinutes": _integers(rows["duration"]),
        "TestRITScore": _integers(rows["rit"]),
        "TestStandardError": _decimals(rows["se"], 1),
        "TestPercentile": _integers(rows["percentile"]),
        "AchievementQuintile": _labels(labels.QUINTILES, _quintile(rows["percentile"])),
        "PercentCorrect": _integers(rows["percent_correct"]),
        "RapidGuessingPercentage": _guessing(
            rows["rapid_guessing"], districts["long_zero"].to_numpy()[district]
        ),
        "FallToSpringProjectedGrowth": _integers(rows["projected"], blank),
        "FallToSpringObservedGrowth": _integers(rows["observed"], blank),
        "FallToSpringObservedGrowthSE": _decimals(rows["observed_se"], 1, blank),
        "FallToSpringMetProjectedGrowth": _labels(labels.MET, rows["met"], blank),
        "FallToSpringConditionalGrowthIndex": _decimals(rows["cgi"], 2, blank),
        "FallToSpringConditionalGrowthPercentile": _integers(rows["cgp"], blank),
        "FallToSpringGrowthQuintile": _labels(labels.QUINTILES, _quintile(rows["cgp"]), blank),
        "TypicalFallToSpringGrowth": _integers(rows["typical"], rows["no_typical"]),
    }
    return pa.table({name: columns[name] for name in labels.ASSESSMENT_COLUMNS})


def students_by_school(
    schools: pd.DataFrame, districts: pd.DataFrame, students: pd.DataFrame, school_year: str
) -> _Rows:
    """One roster row per student, term and school tested at, sorted like the results."""
    tested = [students[f"has_{season}"].to_numpy() for season in ("fall", "spring", "winter")]
    student = np.concatenate([np.flatnonzero(t) for t in tested])
    term = np.repeat(np.arange(len(tested)), [int(t.sum()) for t in tested])
    spring = term == 1
    school = in_term(students, "school", student, spring)
    district = schools["district"].to_numpy()[school]
    student_id = in_term(students, "student_id", student, spring)
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
        "TermName": _labels(_term_names(school_year), term),
        "DistrictName": _labels(districts["name"], district),
        "District_StateID": _labels(districts["state_id"], district),
        "SchoolName": _labels(schools["name"], school),
        "School_StateID": _labels(schools["state_id"], school),
        "StudentLastName": _labels(labels.LAST_NAMES, facts["last"].to_numpy()),
        "StudentFirstName": _labels(labels.FIRST_NAMES, facts["first"].to_numpy()),
        "StudentMI": _labels(tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), np.maximum(mi, 0), mi < 0),
        "StudentID": _integers(student_id),
        "Student_StateID": _integers(facts["state_id"].to_numpy()),
        "StudentDateOfBirth": _dates(
            facts["birth"].to_numpy(), districts["padded_dates"].to_numpy()[district]
        ),
        "StudentEthnicGroup": _labels(
            labels.NWEA_ETHNIC + labels.DISTRICT_ETHNIC,
            ethnic + len(labels.NWEA_ETHNIC) * own_labels,
        ),
        "NWEAStandard_EthnicGroup": _labels(labels.NWEA_ETHNIC, ethnic),
        "StudentGender": _labels(("M", "F"), facts["female"].to_numpy()),
        "Grade": _labels(labels.GRADES, grade),
        "NWEAStandard_Grade": _labels(labels.GRADES, grade),
    }
    table = pa.table({name: columns[name] for name in labels.STUDENT_COLUMNS})
    return _Rows(table=table, district=district, term=term)


def split(
    rows: _Rows, districts: pd.DataFrame, prefix: str, school_year: str
) -> dict[str, pa.Table]:
    """One export file per district and term, in the school year's folder:
    ``<year>/<prefix>_<district-slug>_<Season>_<year>.csv``."""
    key = rows.district * len(TERMS) + rows.term
    cuts = np.flatnonzero(np.diff(key)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(key)]])
    slugs = districts["slug"].to_numpy()
    out = {}
    if len(key) == 0:
        return out
    for start, end in zip(starts, ends, strict=True):
        district, term = divmod(int(key[start]), len(TERMS))
        name = f"{school_year}/{prefix}_{slugs[district]}_{TERMS[term]}_{school_year}.csv"
        out[name] = rows.table.slice(start, end - start)
    return out


# ------------------------------------------------------------------------------ formatting ---


def _term_names(school_year: str) -> tuple[str, ...]:
    return tuple(f"{season} {school_year}" for season in TERMS)


def _quintile(percentile: np.ndarray) -> np.ndarray:
    """NWEA quintile index: Low ≤ 20, LoAvg 21-40, Avg 41-60, HiAvg 61-80, High ≥ 81."""
    return np.digitize(percentile, [21, 41, 61, 81])


def _labels(texts, codes: np.ndarray, blank: np.ndarray | None = None) -> pa.Array:
    """Text of integer codes into ``texts`` (a dictionary decode: fast on millions of rows)."""
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=blank)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(texts), _TEXT)).cast(_TEXT)


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
