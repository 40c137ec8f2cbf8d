"""Fall→spring panel: one row per student × subject, with norm-referenced scores and school facts.

The growth window (config ``panel.window``, :mod:`pl_eval.windows`) may pair other tests (fall
to winter, prior spring to spring); they keep the names fall (baseline) and spring (outcome).

Every student × subject seen in the cohort's files (valid tests or rejects) ends in exactly one
place: the panel (reason ``paired``) or an exclusion reason. The counts by reason and arm are
the sample-flow table the report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pl_eval import windows
from pl_eval.errors import ConfigError
from pl_eval.ingest import growth
from pl_eval.ingest.parse import categorical, group_ids
from pl_eval.norms import (
    DEFAULT_WEEKS,
    Norms,
    SchoolCalendar,
    instructional_weeks,
    national_percentile,
)
from pl_eval.years import exposure, exposure_labels

SUBJECTS = ("math", "reading")
ARMS = ("treated", "comparison", "not_yet_pl", "unknown")

#: Exclusion reasons in the order they are tested; the first that applies is counted.
REASONS = (
    "no_valid_test",  # every test of the school year was rejected at ingest
    "no_fall",
    "no_spring",
    "changed_school",
    "school_not_in_frame",  # school missing from schools.csv
    "school_not_yet_pl",  # PL starts after this school year: neither treated nor comparison
    "grade_without_norms",
    "paired",
)

#: What the panel reads of ingest's outputs, and which of it is repetitive text.
SCORE_COLUMNS = [
    "student_key", "district", "school", "season", "school_year", "subject", "grade", "gender",
    "ethnicity", "test_date", "rit", "se", *growth.COLUMNS,
]  # fmt: skip
REJECT_COLUMNS = ["student_key", "district", "school", "season", "school_year", "subject"]
CATEGORICAL_COLUMNS = [
    "student_key", "district", "school", "season", "school_year", "subject", "gender", "ethnicity",
]  # fmt: skip

YEARS_PL_LABELS = ("1", "2", "3+")
GRADE_BANDS = (("K-5", 0, 5), ("6-8", 6, 8), ("9-12", 9, 12))

PANEL_COLUMNS = [
    "student_key", "subject", "district", "school", "grade", "grade_band", "gender", "ethnicity",
    "sector", "treated", "pl_start_year", "years_pl", "frl_pct", "locale", "locale_group",
    "fall_date", "spring_date", "days_between", "fall_rit", "fall_se", "spring_rit", "spring_se",
    "fall_z", "spring_z", "fall_pct", "spring_pct", "fall_week", "spring_week", "exposure",
    *windows.GROWTH_COLUMNS,
]  # fmt: skip

#: Students lost between fall and spring: tested in the fall at a PL or comparison school, not
#: paired because they have no spring test or took it at another school (attrition).
LOST_REASONS = ("no_spring", "changed_school")
#: Their baseline, one row per lost student × subject (no student key: only counts and
#: baseline means are reported).
LOST_COLUMNS = [
    "subject", "arm", "reason", "district", "school", "sector", "grade", "fall_z", "frl_pct",
]  # fmt: skip


@dataclass(frozen=True)
class Panel:
    """The analysis panel of one cohort and the sample flow that produced it."""

    school_year: str  # of the fall tests
    spring_year: str  # of the spring tests: the same, or a later year for a multi-year span
    norms_year: int
    data: pd.DataFrame  # one row per paired student × subject (PANEL_COLUMNS)
    exclusions: pd.DataFrame  # subject, arm, reason, n_students (every combination, zeros kept)
    lost_students: pd.DataFrame  # LOST_COLUMNS: the baseline of students lost by spring
    window: str = windows.DEFAULT  # config panel.window: which tests are "fall" and "spring"
    # students × subjects of districts giving no test of a window term (not in the flow)
    untested: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.data

    def summary(self, rows: int | None = None) -> str:
        """The span, the panel's size (``rows``, default ``data``'s: a panel written a subject
        at a time keeps none) and the sample flow."""
        rows = len(self.data) if rows is None else rows
        flow = self.exclusions.pivot_table(
            index="reason", columns=["subject", "arm"], values="n_students", aggfunc="sum"
        ).reindex(list(REASONS))
        span = windows.Window.named(self.window).describe(self.school_year, self.spring_year)
        outside = (
            f"; {self.untested} student × subject rows of districts giving no test of a "
            "window term left out"
            if self.untested
            else ""
        )
        return (
            f"Panel {span} ({self.window}, "
            f"{self.norms_year} norms): {rows} student × "
            f"subject rows{outside}\n{flow.to_string()}"
        )


def school_year_of(scores: pd.DataFrame, school_year: str | None = None) -> str:
    """The school year to analyse: the one asked for, or the only one with fall or spring tests."""
    terms = scores.loc[scores["season"].isin(["fall", "spring"]), "school_year"]
    years = sorted(pd.unique(terms.dropna()))
    if school_year is not None:
        if school_year not in years:
            raise ConfigError(
                f"school_year {school_year!r} has no fall or spring tests; the exports hold "
                f"{', '.join(years) or 'none'}"
            )
        return school_year
    if len(years) != 1:
        raise ConfigError(
            f"the exports hold fall/spring tests of {len(years)} school years "
            f"({', '.join(years) or 'none'}); choose one in config/config.yaml with "
            "school_years: {<cohort>: YYYY-YYYY}, or list consecutive ones to analyse "
            "them all (the last is the main analysis): {<cohort>: [YYYY-YYYY, ...]}"
        )
    return years[0]


def missing_seasons(
    scores: pd.DataFrame, school_year: str | None = None, spring_year: str | None = None
) -> list[str]:
    """The seasons ("fall", "spring") with no test of an analysed subject in ``scores``: of
    ``school_year`` (``spring_year`` for the spring, default the same), or of any school year
    when it is None. With either season missing no student can be paired."""
    tested = scores["subject"].isin(SUBJECTS)
    term_year = {"fall": school_year, "spring": spring_year or school_year}
    return [
        season
        for season, year in term_year.items()
        if not (
            tested & (scores["season"] == season) & (year is None or scores["school_year"] == year)
        ).any()
    ]


def held_terms(tests: pa.Table) -> pd.DataFrame:
    """The distinct subject × season × school year of ``tests`` (ingest's scores as an Arrow
    table): all the checks before pairing (:func:`school_year_of`, :func:`missing_seasons`,
    :func:`pl_eval.windows.missing_terms`) look at, a few rows instead of millions."""
    terms = tests.select(["subject", "season", "school_year"]).unify_dictionaries()
    return terms.group_by(terms.column_names).aggregate([]).to_pandas().astype(object)


def category_codes(tests: pa.Table) -> tuple[pa.Table, dict[str, pd.CategoricalDtype]]:
    """``tests`` (ingest's scores as an Arrow table) with each dictionary-encoded column as
    integer codes (-1: missing) into one set of categories per column, and those categories:
    the file's values in order of first appearance, as pandas converts the whole file.

    The frames :func:`window_tests` and :func:`exposure_history` take from it share them:
    a national cohort's million student keys are converted to text once, not once per
    frame, and the categories (the student keys' order is the panel's row order) do not
    depend on which rows, or which of the file's row groups, a frame keeps."""
    columns, dtypes = [], {}
    for name, column in zip(tests.column_names, tests.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            dictionary, codes = _unified(column)
            categories = pd.Index(dictionary.to_pandas())
            dtypes[name] = pd.CategoricalDtype(categories, ordered=column.type.ordered)
            column = codes
        columns.append(column)
    return pa.table(columns, names=tests.column_names, metadata=tests.schema.metadata), dtypes


def _unified(column: pa.ChunkedArray) -> tuple[pa.Array, pa.ChunkedArray]:
    """``column.unify_dictionaries()``'s dictionary, and each row's position in it (-1:
    missing) as the column's index type.

    By hand because a Parquet read repeats each row group's dictionary in every chunk of it,
    and ``unify_dictionaries`` hashes every copy: a national cohort's student keys are 8
    million dictionary entries, 1 million of them distinct (five times the work). Here each
    run of equal dictionaries is hashed once; the order is the same, every dictionary's new
    values after those of the dictionaries before it."""
    kind = column.type
    distinct: list[pa.Array] = []
    which = []  # each chunk's dictionary, as its position in distinct
    for chunk in column.chunks:
        if not distinct or not chunk.dictionary.equals(distinct[-1]):
            distinct.append(chunk.dictionary)
        which.append(len(distinct) - 1)
    if not distinct:
        return pa.array([], kind.value_type), pa.chunked_array([], kind.index_type)
    encoded = pc.dictionary_encode(pa.concat_arrays(distinct))
    ends = np.cumsum([len(d) for d in distinct])
    mapping = [
        encoded.indices.slice(end - len(d), len(d)) for end, d in zip(ends, distinct, strict=True)
    ]
    codes = [
        pc.fill_null(pc.take(mapping[at], chunk.indices), -1)
        for at, chunk in zip(which, column.chunks, strict=True)
    ]
    return encoded.dictionary, pa.chunked_array(codes, kind.index_type)


def subject_parts(
    terms: pd.DataFrame, term_year: dict[str, tuple[str, str]], subjects: pd.CategoricalDtype
) -> list[list[str]]:
    """The analysed subjects in the groups :func:`build_panel` pairs one after another: each
    subject alone, in the panel's order (``subjects``, the scores' categories), when every one
    has tests of both the window's terms (``terms``: :func:`held_terms`), else all together.

    A national panel built a subject at a time needs half the memory. A subject missing a
    term pairs nobody: built apart, it would not even have the school year to check."""
    held = set(terms[["subject", "season", "school_year"]].itertuples(index=False, name=None))
    ordered = [s for s in subjects.categories if s in SUBJECTS]
    if all((s, *term) in held for s in SUBJECTS for term in term_year.values()):
        return [[s] for s in ordered]
    return [list(SUBJECTS)]


def in_window(
    tests: pa.Table,
    term_year: dict[str, tuple[str, str]],
    categories: dict[str, pd.CategoricalDtype],
    subjects: Sequence[str] = SUBJECTS,
) -> pa.ChunkedArray:
    """Whether each row of ``tests`` (:func:`category_codes`'s table and ``categories``) is
    one :func:`build_panel` pairs: ``subjects``' tests of the window's terms
    (:meth:`pl_eval.windows.Window.terms`)."""

    def among(name: str, values: Sequence[str]) -> pa.ChunkedArray:
        return _among(tests[name], categories[name], values)

    in_term = None
    for season, year in term_year.values():
        here = pc.and_(among("season", [season]), among("school_year", [year]))
        in_term = here if in_term is None else pc.or_(in_term, here)
    return pc.and_(among("subject", subjects), in_term)


def window_tests(
    tests: pa.Table,
    term_year: dict[str, tuple[str, str]],
    categories: dict[str, pd.CategoricalDtype],
    subjects: Sequence[str] = SUBJECTS,
) -> pd.DataFrame:
    """The rows of ``tests`` (:func:`category_codes`'s table and ``categories``) that
    :func:`build_panel` pairs (:func:`in_window`), as a frame. Selected before pandas
    converts them: a multi-year cohort's other years and seasons cost nothing then."""
    return _frame(tests.filter(in_window(tests, term_year, categories, subjects)), categories)


def with_measures(coded: pa.Table, measures: pa.Table, columns: Sequence[str]) -> pa.Table:
    """One table of ``columns``, in that order, from :func:`category_codes`'s table of the
    text columns and a table of the other columns of the same rows (with ``coded``'s
    schema metadata, which pandas reads the columns' types from)."""
    if coded.num_rows != measures.num_rows:
        raise ValueError(f"{coded.num_rows} rows of text, {measures.num_rows} of measures")
    parts = {name: coded[name] for name in coded.column_names}
    parts |= {name: measures[name] for name in measures.column_names}
    return pa.table(
        [parts[c] for c in columns], names=list(columns), metadata=coded.schema.metadata
    )


def exposure_history(
    tests: pa.Table, spring_year: str, categories: dict[str, pd.CategoricalDtype]
) -> pd.DataFrame:
    """What :func:`pl_eval.years.exposure` counts a panel's exposure from: the student, school
    and school year of ``tests`` (:func:`category_codes`'s table and ``categories``) up to
    ``spring_year`` (the later years it would not count)."""
    rows = tests.select(["student_key", "district", "school", "school_year"])
    years = [y for y in categories["school_year"].categories if y <= spring_year]
    return _frame(rows.filter(_among(rows["school_year"], categories["school_year"], years)),
                  categories)  # fmt: skip


def _among(
    codes: pa.ChunkedArray, dtype: pd.CategoricalDtype, values: Sequence[str]
) -> pa.ChunkedArray:
    """Whether each code of a :func:`category_codes` column stands for one of ``values``."""
    wanted = dtype.categories.get_indexer(list(values))
    return pc.is_in(codes, value_set=pa.array(wanted[wanted >= 0], codes.type))


def _frame(rows: pa.Table, categories: dict[str, pd.CategoricalDtype]) -> pd.DataFrame:
    """``rows`` as a DataFrame, each coded column as a categorical of its ``categories``."""
    coded = [name for name in rows.column_names if name in categories]
    frame = rows.drop_columns(coded).to_pandas()  # (the pandas metadata would make codes text)
    for name in coded:
        codes = rows[name].to_numpy()
        at = rows.column_names.index(name)
        frame.insert(at, name, pd.Categorical.from_codes(codes, dtype=categories[name]))
    return frame


def build_panel(
    scores: pd.DataFrame,
    schools: pd.DataFrame,
    norms: Norms,
    *,
    rejects: pd.DataFrame | None = None,
    school_year: str | None = None,
    spring_year: str | None = None,
    calendar: SchoolCalendar | None = None,
    window: str | None = None,
    exposed: pd.Series | None = None,
) -> Panel:
    """Pair each student's fall and spring test per subject and attach norms and school facts.

    z-scores and percentiles are taken at each test's instructional week, counted from its
    date on ``calendar`` (a test without a date at its season's default week); without a
    calendar, at NWEA's default weeks of the season (the published tables).

    ``scores`` is ingest's one-test-per-student×subject×term table, ``schools`` its validated
    school frame, ``rejects`` its reject table (students whose every test was rejected are
    counted as ``no_valid_test``). Fall tests come from ``school_year``, spring tests from
    ``spring_year`` (default the same year; a later one for a multi-year span, with ``scores``
    holding both cohorts). Treatment and years of PL are as of the fall. ``window`` (config
    ``panel.window``, :mod:`pl_eval.windows`) chooses the baseline and outcome tests, which
    keep the names fall and spring; NWEA's growth fields of the window come with the outcome.
    A span keeps students
    who changed school, under their fall school (the span's comparison is rebuilt from the
    students tested at both ends). ``exposure`` counts each PL student's own years in a PL
    school up to the spring (:func:`pl_eval.years.exposure`, from every year ``scores`` holds),
    or is ``exposed`` when given: its counts from the tests of at least every year up to the
    spring, when ``scores`` holds only the window's terms (as :func:`window_tests` selects
    them) or a panel is built in parts (:func:`subject_parts`).

    ``scores`` is let go once paired: a caller passing its only reference frees it then.
    """
    year = school_year_of(scores, school_year)
    spring = year if spring_year is None else spring_year
    fall_year = int(year[:4])
    growth_window = windows.Window.named(window)
    # "fall": the baseline, "spring": the outcome, each as (season, school year)
    term_year = growth_window.terms(year, spring)
    counts = exposure(scores, schools, spring) if exposed is None else exposed
    pairs = _pairs(scores, term_year, growth_window)
    del scores  # this function's reference: the tests are in the pairs now
    facts = schools.assign(
        treated=schools["pl_start_year"].le(fall_year).fillna(False).astype(bool),
    )
    # The student's school for the analysis: the fall school, else the spring school.
    has_fall = pairs["fall_school"].notna()
    pairs["district"] = pairs["fall_district"].where(has_fall, pairs["spring_district"])
    pairs["school"] = pairs["fall_school"].where(has_fall, pairs["spring_school"])
    tested, untested = None, 0  # districts × subjects of the window's study (other windows)
    if growth_window.name != windows.DEFAULT:
        tested = windows.tested_districts(pairs)
        inside = windows.in_districts(pairs, tested)
        untested, pairs = int((~inside).sum()), pairs[inside]
    located, in_frame = _school_facts(pairs, facts)
    pairs = pd.concat([pairs, located], axis=1)

    # Each test is normed at its own grade: a span's spring is a grade later than its fall.
    # The student's grade in the school year analysed: the fall's, or for a spring-to-spring
    # window this year's (the outcome test's, else one above the prior spring's).
    pairs["grade"] = pairs["fall_grade"].astype("Int64")
    if growth_window.years_back:
        pairs["grade"] = pairs["spring_grade"].astype("Int64").fillna(pairs["grade"] + 1)
    for role, grade in (("fall", pairs["fall_grade"]), ("spring", pairs["spring_grade"])):
        rit, season = pairs[f"{role}_rit"], term_year[role][0]
        if calendar is None:
            pairs[f"{role}_week"] = DEFAULT_WEEKS[season]
            pairs[f"{role}_z"] = _z_scores(norms, rit, pairs["subject"], grade, season)
        else:
            week = _weeks(pairs[f"{role}_test_date"], season, calendar)
            pairs[f"{role}_week"] = week
            pairs[f"{role}_z"] = _z_at_weeks(norms, rit, pairs["subject"], grade, week)

    reason = _first_reason(
        pairs,
        span=spring != year,
        in_frame=in_frame,
        not_yet=(pairs["pl_start_year"] > fall_year).fillna(False).to_numpy(bool),
    )
    arm = _arm(pairs, in_frame, fall_year)
    flow = [
        (_codes(pairs["subject"], pd.Index(SUBJECTS)), arm, reason),
        _rejected_only(rejects, pairs, term_year, schools, fall_year, tested),
    ]
    exclusions = _count(*(np.concatenate(parts) for parts in zip(*flow, strict=True)))
    exclusions["window"] = growth_window.name

    lost = _lost(pairs, arm, reason)
    data = _finish(pairs, np.flatnonzero(reason == REASONS.index("paired")), fall_year)
    del pairs  # every row and column of the pairing: freed before the panel's last column
    data = data.assign(exposure=exposure_labels(data, counts))
    return Panel(
        school_year=year, spring_year=spring, norms_year=norms.year, data=data,
        exclusions=exclusions, lost_students=lost, window=growth_window.name, untested=untested,
    )  # fmt: skip


def _pairs(
    scores: pd.DataFrame, term_year: dict[str, tuple[str, str]], window: windows.Window
) -> pd.DataFrame:
    """Each student × subject's baseline (``fall_*``) and outcome (``spring_*``, with NWEA's
    growth fields of the ``window``) test of ``term_year``'s terms, side by side."""
    keys = ["student_key", "subject"]
    of_subject = scores["subject"].isin(SUBJECTS)

    def term(role: str) -> pd.DataFrame:
        season, of_year = term_year[role]
        rows = scores[
            of_subject & (scores["season"] == season) & (scores["school_year"] == of_year)
        ]
        cols = ["district", "school", "grade", "gender", "ethnicity", "test_date", "rit", "se"]
        out = rows[keys + cols].rename(columns={c: f"{role}_{c}" for c in cols})
        return (
            pd.concat([out, windows.outcome_growth(rows, window)], axis=1)
            if role == "spring"
            else out
        )

    return term("fall").merge(term("spring"), on=keys, how="outer", sort=False)


def combine(parts: Sequence[Panel]) -> Panel:
    """One panel of ``parts``, panels of the same cohort and settings built on disjoint
    subjects (:func:`subject_parts`), in the panel's order: their rows and students lost one
    after the other, in the order :func:`build_panel` gives them, their sample flows added."""
    flows = [part.exclusions for part in parts]
    lost = pd.concat([part.lost_students for part in parts], ignore_index=True)
    return replace(
        parts[0],
        data=pd.concat([part.data for part in parts], ignore_index=True),
        exclusions=flows[0].assign(n_students=sum(flow["n_students"] for flow in flows)),
        lost_students=_lost_order(lost),
        untested=sum(part.untested for part in parts),
    )


def _lost(pairs: pd.DataFrame, arm: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """The baseline of the PL and comparison students lost between fall and spring
    (:data:`LOST_COLUMNS`), in the panel's order: by subject, district, school, grade."""
    lost = np.isin(reason, [REASONS.index(r) for r in LOST_REASONS]) & np.isin(
        arm, [ARMS.index("treated"), ARMS.index("comparison")]
    )
    columns = ["subject", "district", "school", "sector", "grade", "fall_z", "frl_pct"]
    rows = pairs.loc[lost, columns]  # a few columns of a few rows: not every column first
    out = pd.DataFrame(
        {
            "subject": rows["subject"].astype("str"),
            "arm": np.asarray(ARMS, dtype=object)[arm[lost]],
            "reason": np.asarray(REASONS, dtype=object)[reason[lost]],
            "district": rows["district"].astype("str"),
            "school": rows["school"].astype("str"),
            "sector": rows["sector"].astype("str"),
            "grade": rows["grade"].astype("Int64"),
            "fall_z": rows["fall_z"].astype(float),
            "frl_pct": rows["frl_pct"].astype(float),
        }
    )
    return _lost_order(out)


def _lost_order(lost: pd.DataFrame) -> pd.DataFrame:
    """The lost students by subject, district, school and grade, ties as they come."""
    order = ["subject", "district", "school", "grade"]
    return lost.sort_values(order, kind="stable").reset_index(drop=True)


def _z_scores(
    norms: Norms, rit: pd.Series, subject: pd.Series, grade: pd.Series, season: str
) -> np.ndarray:
    """``norms.z_score`` with the norms looked up once per distinct subject × grade.

    The lookup joins on text: on every row of a national panel that costs seconds, on the two
    dozen distinct subject × grade pairs nothing. The arithmetic is ``z_score``'s.
    """
    codes, (subjects, grades) = _distinct(subject, grade)
    mean, sd = norms.lookup(subjects, grades, pd.Series(season, index=subjects.index))
    return (np.asarray(rit, dtype=float) - mean[codes]) / sd[codes]


def _weeks(dates: pd.Series, season: str, calendar: SchoolCalendar) -> np.ndarray:
    """``instructional_weeks`` counted once per distinct test date (a national panel's
    millions of tests fall on a few hundred days); the arithmetic is its own."""
    codes, days = pd.factorize(dates)  # a missing date: code -1, the last value below
    at = np.append(days.to_numpy(), np.datetime64("NaT")).astype(dates.dtype)
    return instructional_weeks(at, season, calendar)[codes]


def _z_at_weeks(
    norms: Norms, rit: pd.Series, subject: pd.Series, grade: pd.Series, week: np.ndarray
) -> np.ndarray:
    """``norms.z_at_week`` with the norms evaluated once per distinct subject × grade × week
    (a few thousand, not millions of rows); the arithmetic is ``z_at_week``'s."""
    ids, (subjects, grades, weeks) = _distinct(subject, grade, pd.Series(week))
    mean, sd = norms.at_week(subjects, grades, np.asarray(weeks.astype(float)))
    return (np.asarray(rit, dtype=float) - mean[ids]) / sd[ids]


def _school_facts(pairs: pd.DataFrame, facts: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The school frame's columns for each pair's school (missing where the frame lacks the
    school) and whether the frame has it: a left join made once per distinct school."""
    codes, (district, school) = _distinct(pairs["district"], pairs["school"])
    joined = pd.DataFrame({"district": district.astype("str"), "school": school.astype("str")})
    joined = joined.merge(
        facts.rename(columns={"district_name": "district", "school_name": "school"}),
        on=["district", "school"],
        how="left",
        sort=False,
        indicator="in_frame",
    )  # one row per distinct school: the frame has each school once
    rows = joined.drop(columns=["district", "school"]).take(codes).set_axis(pairs.index)
    return rows.drop(columns="in_frame"), rows["in_frame"].eq("both").to_numpy()


def _distinct(*columns: pd.Series) -> tuple[np.ndarray, list[pd.Series]]:
    """Each row's combination of ``columns`` as a code, and the distinct combinations (their
    values in code order, missing kept): lookups and joins run on those, not on every row."""
    codes, parts = group_ids(*columns)
    values = [
        pd.Series(pd.Categorical.from_codes(part, categorical(column).cat.categories))
        for column, part in zip(columns, parts, strict=True)
    ]
    return codes, values


def _first_reason(
    pairs: pd.DataFrame, *, span: bool, in_frame: np.ndarray, not_yet: np.ndarray
) -> np.ndarray:
    """Each pair's first exclusion reason, or "paired", as its position in :data:`REASONS`
    (a ``span`` over several school years has no ``changed_school``)."""
    no_fall = pairs["fall_rit"].isna().to_numpy()
    no_spring = pairs["spring_rit"].isna().to_numpy()
    moved = (
        pairs["fall_district"].ne(pairs["spring_district"])
        | pairs["fall_school"].ne(pairs["spring_school"])
    ).to_numpy(bool) & (not span)
    no_norms = (pairs["fall_z"].isna() | pairs["spring_z"].isna()).to_numpy()
    conditions = [no_fall, no_spring, moved, ~in_frame, not_yet, no_norms]
    return np.select(conditions, list(range(1, len(REASONS) - 1)), default=len(REASONS) - 1)


def _arm(pairs: pd.DataFrame, in_frame: np.ndarray, fall_year: int) -> np.ndarray:
    """Each row's arm as its position in :data:`ARMS`."""
    start = pairs["pl_start_year"]
    return np.select(
        [~in_frame, start.le(fall_year).fillna(False).to_numpy(bool), start.isna().to_numpy()],
        [ARMS.index(arm) for arm in ("unknown", "treated", "comparison")],
        default=ARMS.index("not_yet_pl"),
    )


def _rejected_only(
    rejects: pd.DataFrame | None,
    pairs: pd.DataFrame,
    term_year: dict[str, tuple[str, str]],
    schools: pd.DataFrame,
    fall_year: int,
    tested: pd.MultiIndex | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Student × subject pairs seen only in rejects of the panel's terms (of the ``tested``
    districts × subjects, when given): their subject, arm and reason (``no_valid_test``), as
    positions in :data:`SUBJECTS`, :data:`ARMS` and :data:`REASONS`."""
    if rejects is None or rejects.empty:
        return (np.empty(0, dtype=np.int64),) * 3
    in_terms = np.zeros(len(rejects), dtype=bool)
    for season, year in term_year.values():
        in_terms |= ((rejects["season"] == season) & (rejects["school_year"] == year)).to_numpy(
            bool
        )
    rows = rejects[in_terms & rejects["subject"].isin(SUBJECTS) & rejects["student_key"].notna()]
    if tested is not None:
        rows = rows[windows.in_districts(rows, tested)]
    rows = rows.sort_values(["student_key", "subject", "season"]).drop_duplicates(
        ["student_key", "subject"]
    )
    key = pairs["student_key"]
    students = (
        key.cat.categories
        if isinstance(key.dtype, pd.CategoricalDtype)
        else pd.Index(key.dropna().unique())
    )
    seen = np.isin(_student_subject(rows, students), _student_subject(pairs, students))
    rows = rows[~seen]
    located = rows.merge(
        schools.rename(columns={"district_name": "district", "school_name": "school"}),
        on=["district", "school"],
        how="left",
        indicator="in_frame",
    )
    in_frame = located.pop("in_frame").eq("both").to_numpy()
    return (
        _codes(located["subject"], pd.Index(SUBJECTS)),
        _arm(located, in_frame, fall_year),
        np.full(len(located), REASONS.index("no_valid_test")),
    )


def _student_subject(frame: pd.DataFrame, students: pd.Index) -> np.ndarray:
    """One integer per row for its student × subject, comparable between frames that share
    ``students`` (-1 for keys outside it): joins on integers, not on text."""
    student = _codes(frame["student_key"], students)
    subject = _codes(frame["subject"], pd.Index(SUBJECTS))
    return np.where((student < 0) | (subject < 0), -1, student * len(SUBJECTS) + subject)


def _codes(values: pd.Series, levels: pd.Index) -> np.ndarray:
    """Position of each value in ``levels`` (-1 if absent), looked up once per distinct value."""
    distinct = pd.Categorical(values)  # a categorical column as it is
    return np.append(levels.get_indexer(distinct.categories), -1)[distinct.codes].astype(np.int64)


def _count(subject: np.ndarray, arm: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """Counts for every subject × arm × reason (zeros included) so the table shape is stable.

    Takes positions in :data:`SUBJECTS`, :data:`ARMS` and :data:`REASONS`, whose product, in
    that order, is the table's row order.
    """
    full = pd.MultiIndex.from_product([SUBJECTS, ARMS, REASONS], names=["subject", "arm", "reason"])
    cell = (subject * len(ARMS) + arm) * len(REASONS) + reason
    counts = np.bincount(cell, minlength=len(full)).astype("int64")
    return pd.Series(counts, index=full, name="n_students").reset_index()


#: The columns of the pairs that :func:`_finish` makes the panel's from.
_FINISH_COLUMNS = [
    "student_key", "subject", "district", "school", "grade", "fall_gender", "fall_ethnicity",
    "sector", "treated", "pl_start_year", "frl_pct", "locale", "locale_group",
    "fall_test_date", "spring_test_date", "fall_rit", "fall_se", "spring_rit", "spring_se",
    "fall_z", "spring_z", "fall_week", "spring_week", *windows.GROWTH_COLUMNS,
]  # fmt: skip


def _finish(pairs: pd.DataFrame, rows: np.ndarray, fall_year: int) -> pd.DataFrame:
    """The panel's columns of the paired ``rows`` of ``pairs``, sorted by subject and student
    key as given (a categorical by its codes), by district and school as text: the rows are
    taken once, in their final order."""
    order = np.lexsort(
        [
            _sort_key(pairs["student_key"].take(rows)),
            _sort_key(pairs["school"].take(rows), text=True),
            _sort_key(pairs["district"].take(rows), text=True),
            _sort_key(pairs["subject"].take(rows)),
        ]
    )
    taken = rows[order]
    # column by column, into a frame that keeps them as they are: a frame of the columns taken
    # at once, then a frame of them converted (the constructor copies), cost the panel twice
    paired = pd.DataFrame(
        {c: pairs[c].take(taken).reset_index(drop=True) for c in _FINISH_COLUMNS}, copy=False
    )
    years = (fall_year - paired["pl_start_year"] + 1).astype("Int64")
    band = pd.Series(pd.NA, index=paired.index, dtype="string")
    for label, low, high in GRADE_BANDS:
        band = band.mask(paired["grade"].between(low, high), label)
    out = pd.DataFrame(
        {
            "student_key": paired["student_key"],
            "subject": paired["subject"],
            "district": paired["district"],
            "school": paired["school"],
            "grade": paired["grade"],
            "grade_band": band,
            "gender": paired["fall_gender"],
            "ethnicity": paired["fall_ethnicity"],
            "sector": paired["sector"],
            "treated": paired["treated"].astype(bool),
            "pl_start_year": paired["pl_start_year"].astype("Int64"),
            "years_pl": pd.cut(years, [0, 1, 2, np.inf], labels=list(YEARS_PL_LABELS)).astype(
                "string"
            ),
            "frl_pct": paired["frl_pct"].astype(float),
            "locale": paired["locale"].astype("Int64"),
            "locale_group": paired["locale_group"],
            "fall_date": paired["fall_test_date"],
            "spring_date": paired["spring_test_date"],
            "days_between": (paired["spring_test_date"] - paired["fall_test_date"]).dt.days,
            "fall_rit": paired["fall_rit"].astype(float),
            "fall_se": paired["fall_se"].astype(float),
            "spring_rit": paired["spring_rit"].astype(float),
            "spring_se": paired["spring_se"].astype(float),
            "fall_z": paired["fall_z"],
            "spring_z": paired["spring_z"],
            "fall_pct": national_percentile(paired["fall_z"].to_numpy()),
            "spring_pct": national_percentile(paired["spring_z"].to_numpy()),
            "fall_week": paired["fall_week"].astype(float),
            "spring_week": paired["spring_week"].astype(float),
            **{c: paired[c] for c in windows.GROWTH_COLUMNS},
        },
        copy=False,
    )
    # Text leaves as plain text. A categorical of a million distinct student keys would cost
    # every reader of the panel seconds to rebuild; plain text costs only its bytes.
    return out.assign(**{c: _as_text(out[c]) for c in ("student_key", "district", "school")})


def _as_text(column: pd.Series) -> pd.Series:
    """``column.astype("str")``, taking a categorical's text by code (three times quicker)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype("str")
    text = column.cat.categories.astype("str").array
    return pd.Series(text.take(column.cat.codes.to_numpy(), allow_fill=True), index=column.index)


def _sort_key(column: pd.Series, *, text: bool = False) -> np.ndarray:
    """Integers that sort as ``sort_values`` sorts ``column`` (a categorical by its codes unless
    ``text``, other columns by value; missing last): integers sort far quicker than text."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        if text:  # rank the categories by value: each distinct text is compared once
            rank = np.empty(len(column.cat.categories), dtype=np.int64)
            rank[column.cat.categories.argsort()] = np.arange(len(rank))
            codes = np.where(codes < 0, -1, rank[codes])
    else:
        codes = pd.factorize(column, sort=True)[0].astype(np.int64)
    return np.where(codes < 0, codes.max(initial=0) + 1, codes)
