"""pandera contracts: what raw export and school-frame text must look like, and the outputs.

Raw checks run lazily over every row of every file, so one run reports all problems; each
check's ``error`` is the "expected ..." phrase of the one-line message the evaluator sees.
The schemas (``RAW_TESTS``, ``RAW_ROSTER``, ``RAW_SCHOOLS``, ``SCHOOLS``) are
built on first use: importing pandera costs 0.3 s, which only commands that validate pay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pl_eval.errors import Problem
from pl_eval.ingest import growth, parse

if TYPE_CHECKING:
    import pandera.pandas as pa

#: Rows reported per file, column and check before the rest are summarised in one line.
MAX_PER_CHECK = 20
LOCALES = tuple(sorted(parse.LOCALE_NAMES.values()))
SECTORS = ("charter", "district")

EXPECT_TERM = "a term like 'Fall 2014-2015' (or 'Fall 2014')"
EXPECT_VALUE = "a value (this column is required)"
EXPECT_DATE = "a date like 9/15/2014, 15-09-2014 or 2014-09-15, alone or with a time like 13:05:00"
EXPECT_ID = (
    "an ID as written, not a number a spreadsheet showed in scientific notation (rounded, so "
    "that students share it: save the column as text)"
)
EXPECT_TIME = "a time like 13:05:00 or 1:05:00 PM (or empty)"
EXPECT_NUMBER = "a number (or empty)"
EXPECT_PERCENT = "a number from 0 to 100 (or empty)"
EXPECT_FLAG = "TRUE or FALSE (or empty)"
EXPECT_SECTOR = "charter or district"
EXPECT_START = "a year like 2014 (or empty for a comparison school)"
EXPECT_FRL = "a percentage from 0 to 100 (or empty)"
EXPECT_FRL_PERCENT = (
    "a percentage from 0 to 100, but every frl_pct is from 0 to 1, as shares are (0.45 for "
    "45%); multiply them by 100"
)
#: NCES's Common Core of Data writes -1 (missing), -2 (not applicable) and -9 (failed its
#: quality standards) where a school's count is unknown (reference/nwea_formats.md §3): a
#: frame copied from it holds them as FRL shares.
NCES_MISSING = (-1, -2, -9)
EXPECT_FRL_KNOWN = (
    "a percentage from 0 to 100, or empty where it is unknown: -1, -2 and -9 are the NCES "
    "codes for missing, not applicable and failing its quality standards"
)
EXPECT_LOCALE = "an NCES locale code (11-13, 21-23, 31-33, 41-43) or name (City: Large)"
EXPECT_NCES = "an NCES school id of 12 digits (or empty)"
EXPECT_NCES_ROUNDED = (
    "an NCES school id of 12 digits, not a number a spreadsheet showed in scientific notation "
    "(rounded: save the column as text, or leave it empty)"
)
EXPECT_UNIQUE = "one row per district_name and school_name"

#: The scores output's columns, in order.
SCORE_COLUMNS = [
    "student_key", "district", "school", "term_name", "season", "school_year", "subject",
    "test_date", "rit", "se", "nwea_percentile", "duration_minutes", "rapid_guessing_pct",
    "growth_measure", "norms_reference", "grade", "gender", "ethnicity", "source_file",
    "source_line", *growth.COLUMNS,
]  # fmt: skip


def _pandera():
    """pandera's pandas API, imported when a schema is first built."""
    import pandera.pandas as pa

    return pa


def _parses(parser: Callable[[pd.Series], pd.Series | pd.DataFrame], *, optional: bool):
    """A vectorised check: the value parses (or is blank, when ``optional``). It parses as
    typing will (``parse.per_distinct(parser, column)``), so typing reuses the parsed values."""

    def good(values: pd.Series) -> pd.Series | bool:
        parsed = parse.per_category(parser, values)
        ok = (parsed.iloc[:, -1] if isinstance(parsed, pd.DataFrame) else parsed).notna()
        if optional:
            ok |= parse.per_category(parse.blank_text, values)
        return _per_row(ok.fillna(False).to_numpy(bool), values)

    return good


def _present(values: pd.Series) -> pd.Series | bool:
    return _per_row(~parse.per_category(parse.blank_text, values).to_numpy(bool), values)


def _per_row(ok: np.ndarray, values: pd.Series) -> pd.Series | bool:
    """A check's verdict from ``ok``, one per category of ``values`` and then one for missing:
    True when every category passes (so does every row, each holding one of them; pandera
    passes missing values of these nullable columns), else per row through the codes."""
    if ok[:-1].all():
        return True
    codes = parse.categorical(values).cat.codes.to_numpy()
    return pd.Series(ok[codes], index=values.index)


def _column(check, expected: str, *more: tuple[Callable, str]) -> pa.Column:
    """A text column of raw rows that passes ``check`` (failing rows say ``expected``), and
    each further (check, expected) of ``more``."""
    # missing values mean "the file has no such column"; required columns are checked on headers
    pa = _pandera()
    checks = [pa.Check(c, error=e) for c, e in ((check, expected), *more)]
    return pa.Column(checks=checks, nullable=True, required=False)


def _unrounded(values: pd.Series) -> pd.Series | bool:
    return _per_row(~parse.per_category(parse.scientific, values).to_numpy(bool), values)


def _text_checks(required: tuple[str, ...]) -> dict[str, pa.Column]:
    return {name: _column(_present, EXPECT_VALUE) for name in required}


def _student_ids() -> pa.Column:
    """Required text, never as a spreadsheet rounded it: such IDs would merge students unseen."""
    return _column(_present, EXPECT_VALUE, (_unrounded, EXPECT_ID))


def _raw_tests() -> pa.DataFrameSchema:
    """Raw test rows (AssessmentResults A/B/C and Combined), all columns text."""
    return _pandera().DataFrameSchema(
        {
            "TermName": _column(_parses(parse.terms, optional=False), EXPECT_TERM),
            # MeasurementScale and Subject may each be blank where the other is filled; a row
            # with neither, an unknown Grade or a NormsReferenceData that is not a year (USER)
            # is not unreadable: ingest rejects or ignores it (subject_not_analysed,
            # grade_unknown)
            **_text_checks(("DistrictName", "SchoolName")),
            "StudentID": _student_ids(),
            "TestStartDate": _column(_parses(parse.date_times, optional=False), EXPECT_DATE),
            "TestStartTime": _column(_parses(parse.times, optional=True), EXPECT_TIME),
            **{
                name: _column(_parses(parse.numbers, optional=True), EXPECT_NUMBER)
                for name in ("TestRITScore", "TestStandardError", "TestDurationMinutes")
            },
            # out of range, a percentage says the columns are misread (shifted, or another
            # column aliased): an error, not a test to screen out
            **{
                name: _column(_parses(parse.percentages, optional=True), EXPECT_PERCENT)
                for name in ("TestPercentile", "RapidGuessingPercentage")
            },
            "GrowthMeasureYN": _column(_parses(parse.flags, optional=True), EXPECT_FLAG),
            **{name: _growth_column(name) for name in growth.RAW_COLUMNS},
        },
        name="raw NWEA test rows",
    )


def _growth_column(name: str) -> pa.Column:
    """One of NWEA's growth fields (``FallToSpringMetProjectedGrowth``, ...): blank or parses."""
    field = growth.RAW_FIELDS[name]
    expected = {"MetProjectedGrowth": growth.EXPECT_MET}
    expected["ConditionalGrowthPercentile"] = growth.EXPECT_CGP
    return _column(_parses(growth.parser(field), optional=True), expected.get(field, EXPECT_NUMBER))


def _raw_roster() -> pa.DataFrameSchema:
    """Raw StudentsBySchool rows."""
    return _pandera().DataFrameSchema(
        {
            "TermName": _column(_parses(parse.terms, optional=False), EXPECT_TERM),
            **_text_checks(("DistrictName",)),
            "StudentID": _student_ids(),  # a Grade ingest cannot read: a reject
        },
        name="raw StudentsBySchool rows",
    )


def _sector(text: pd.Series) -> pd.Series:
    return text.str.strip().str.lower().where(lambda s: s.isin(SECTORS))


def _percentages(values: pd.Series) -> pd.Series | bool:
    """frl_pct as percentages, not shares: a frame whose every FRL value is from 0 to 1, one of
    them strictly between, was written as shares (0.455 for 45.5%), which would read as
    schools of under 1% FRL. Its first such row fails, so the evaluator reads one line. A
    single school of 0.5% is possible; a frame of only such schools is not."""
    # per category, then missing
    frl = parse.per_category(parse.percentages, values).to_numpy(float)
    known = frl[~np.isnan(frl)]
    between = (frl > 0) & (frl < 1)
    if not (known.size and known.max() <= 1 and between.any()):
        return True
    failing = ~np.asarray(_per_row(~between, values), dtype=bool)
    verdict = np.ones(len(values), dtype=bool)
    verdict[np.argmax(failing)] = False
    return pd.Series(verdict, index=values.index)


def _frl(text: pd.Series) -> pd.Series:
    """frl_pct as a percentage, or -1, -2 and -9 as themselves (:func:`_nces_known` says
    what they are)."""
    value = parse.percent_numbers(text)
    return value.where(value.between(0, 100) | value.isin(NCES_MISSING))


def _nces_known(values: pd.Series) -> pd.Series | bool:
    """frl_pct is not one of the NCES codes for an unknown count (:data:`NCES_MISSING`)."""
    frl = parse.per_category(parse.percent_numbers, values).to_numpy(float)
    return _per_row(~np.isin(frl, NCES_MISSING), values)


def _nces(text: pd.Series) -> pd.Series:
    """An NCES id of 12 digits (11: a spreadsheet dropped a leading 0), or one a spreadsheet
    rounded (:data:`EXPECT_NCES_ROUNDED` says so, on its own line)."""
    written = text.str.strip()
    return written.where(written.str.fullmatch(r"\d{11,12}") | parse.scientific(written))


def _raw_schools() -> pa.DataFrameSchema:
    """Raw school frame (schools.csv); names are compared after stripping whitespace."""
    return _pandera().DataFrameSchema(
        {
            **_text_checks(("district_name", "school_name")),
            "sector": _column(_parses(_sector, optional=False), EXPECT_SECTOR),
            "pl_start_year": _column(_parses(parse.start_years, optional=True), EXPECT_START),
            "frl_pct": _column(
                _parses(_frl, optional=True),
                EXPECT_FRL,
                (_nces_known, EXPECT_FRL_KNOWN),
                (_percentages, EXPECT_FRL_PERCENT),
            ),
            "locale": _column(_parses(parse.locales, optional=False), EXPECT_LOCALE),
            "nces_id": _column(
                _parses(_nces, optional=True), EXPECT_NCES, (_unrounded, EXPECT_NCES_ROUNDED)
            ),
        },
        unique=["district_name", "school_name"],
        report_duplicates="exclude_first",
        name="school frame",
    )


def _matches(pattern: str) -> pa.Check:
    """Text fully matches ``pattern``; tested once per distinct value."""
    return _pandera().Check(
        lambda s: parse.per_distinct(lambda v: v.str.fullmatch(pattern).fillna(False), s),
        error=f"text matching {pattern}",
    )


def _schools() -> pa.DataFrameSchema:
    """The school frame output."""
    pa = _pandera()
    return pa.DataFrameSchema(
        {
            "district_name": pa.Column("str"),
            "school_name": pa.Column("str"),
            "nces_id": pa.Column("str", pa.Check.str_matches(r"^\d{12}$"), nullable=True),
            "sector": pa.Column("str", pa.Check.isin(SECTORS)),
            "pl_start_year": pa.Column("Int64", nullable=True),
            "frl_pct": pa.Column("float64", pa.Check.between(0, 100), nullable=True),
            "locale": pa.Column("Int64", pa.Check.isin(LOCALES)),
            "locale_group": pa.Column("str", pa.Check.isin(("city", "suburb", "town", "rural"))),
        },
        unique=["district_name", "school_name"],
        strict=True,
        ordered=True,
        name="schools",
    )


def problems(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, names: Mapping[str, Mapping[str, str]]
) -> list[Problem]:
    """Every row of ``frame`` that breaks ``schema``, as problems at file, line and column.

    ``frame`` holds ``source_file`` and ``source_line``; ``names`` maps each file to the
    column names as written there, so messages quote the evaluator's own header.
    """
    try:
        schema.validate(frame, lazy=True)
    except _pandera().errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    unique = cases["check"].astype("str").str.contains("uniqueness")
    cases = cases[~unique | cases["column"].eq("school_name")]
    rows = cases["index"].astype("int64").to_numpy()
    cases = cases.assign(
        file=frame["source_file"].astype("str").to_numpy()[rows],
        line=frame["source_line"].to_numpy()[rows],
        expected=cases["check"].where(~unique, EXPECT_UNIQUE),
    ).sort_values(["file", "line", "column"], kind="stable")
    found: list[Problem] = []
    for (file, column, expected), group in cases.groupby(["file", "column", "expected"], sort=True):
        written = names.get(file, {}).get(column, column)
        found += [
            Problem(file, expected, line=int(line), column=written, found=str(value))
            for line, value in zip(
                group["line"].head(MAX_PER_CHECK),
                group["failure_case"].head(MAX_PER_CHECK),
                strict=True,
            )
        ]
        if len(group) > MAX_PER_CHECK:
            found.append(
                Problem(
                    file,
                    f"{expected} ({len(group) - MAX_PER_CHECK} more rows fail the same way)",
                    column=written,
                )
            )
    return in_order(found)


def in_order(problems: list[Problem]) -> list[Problem]:
    """``problems`` by file, then line (problems of no line last), then column."""
    return sorted(problems, key=lambda p: (p.file, p.line is None, p.line or 0, p.column or ""))


_BUILDERS = {
    "RAW_TESTS": _raw_tests,
    "RAW_ROSTER": _raw_roster,
    "RAW_SCHOOLS": _raw_schools,
    "SCHOOLS": _schools,
}


def __getattr__(name: str) -> pa.DataFrameSchema:
    """``schemas.RAW_TESTS`` and the other schemas, each built once, on first use."""
    if name not in _BUILDERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    schema = globals()[name] = _BUILDERS[name]()
    return schema
