"""Vectorised parsers for NWEA export values (reference/nwea_formats.md §1.3).

Raw columns arrive as categoricals (io reads text dictionary-encoded), so each parser runs on
the distinct values only and the result is broadcast back through the codes: a national file
has millions of cells but only hundreds of distinct dates, terms or scores. Parsers take a
Series of distinct text values and return NA where a value does not parse (blank included).
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pl_eval.io import INVISIBLE_EDGE

SEASONS = ("fall", "winter", "spring", "summer")
SUBJECTS = ("math", "reading")
#: Subject names (lower case) of the subjects analysed: NWEA's, and the short name of math a
#: warehouse's re-export may write (every math test was otherwise set aside unseen).
SUBJECT_NAMES = {"mathematics": "math", "math": "math", "maths": "math", "reading": "reading"}
_TERM = r"(?i)^(fall|winter|spring|summer)\s*(\d{4})(?:\s*-\s*(\d{4}|\d{2}))?$"
_DATES = (  # (pattern, order of the captured groups)
    (r"^(\d{1,2})/(\d{1,2})/(\d{4})$", ("month", "day", "year")),  # 9/5/2014, 09/05/2014
    (r"^(\d{1,2})/(\d{1,2})/(\d{2})$", ("month", "day", "year")),  # two-digit year 3/2/21
    (r"^(\d{1,2})-(\d{1,2})-(\d{4})$", ("day", "month", "year")),  # Excel re-save 22-10-2020
    # a European spreadsheet's (a Google Sheet in such a locale exports CSV with commas); not
    # with a two-digit year, which would be Excel's dotted time 15.09.14
    (r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", ("day", "month", "year")),  # 15.09.2014
    (r"^(\d{4})-(\d{1,2})-(\d{1,2})$", ("year", "month", "day")),  # ISO
    (r"^(\d{4})/(\d{1,2})/(\d{1,2})$", ("year", "month", "day")),  # a warehouse's 2014/09/15
    # a month by name: Excel's d-mmm-yy display (15-Sep-14), Oracle's DD-MON-YY (15-SEP-14)
    (r"^(\d{1,2})-([A-Za-z]{3})-(\d{2}|\d{4})$", ("day", "month", "year")),
)
#: Months as (English) abbreviations name them, upper case.
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
#: A date and a time in one cell ("9/16/2013 9:00:00 AM", "2013-09-16T09:00:00"): both parts.
_DATE_TIME = r"^(\S+?)(?:[ T]+(\d{1,2}[:.]\d{2}.*))?$"
#: A zone or UTC offset after a time ("13:05:00Z", "13:05:00-05:00", "1:05:00 PM CST",
#: "13:05 GMT+8"): read past, the time kept as written (with an offset or a zone, the test's
#: own clock; with Z, UTC's, which orders a student's tests all the same). Without it, an ISO
#: 8601 timestamp lost its time. Abbreviations are 3-5 capitals that do not open with AM or PM
#: (RE2 has no lookahead to say so otherwise): "1:05 PMT" is no time, not 1:05 AM.
_ZONE = (
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?"
    r"|(?:[B-OQ-Z][A-Z]|[AP][A-LN-Z])[A-Z]{1,3}(?:[+-][0-9]{1,2}(?::?[0-9]{2})?)?)"
)
_TIME = (
    r"^(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:\.\d+)?)?\s*([AaPp]\.?[Mm]\.?)?"
    rf"(?:\s*{_ZONE})?$"
)
#: Python's \s on ASCII text, spelled out for RE2 (whose \s lacks \v and \x1c-\x1f).
_BLANKS = r"\t\n\x0b\x0c\r\x1c-\x1f "
#: _DATE_TIME and _TIME as RE2 (pyarrow) reads them the same way on ASCII text (\d as 0-9),
#: their groups named.
_DATE_TIME_ASCII = rf"^(?P<date>[^{_BLANKS}]+?)(?:[ T]+(?P<time>[0-9]{{1,2}}[:.][0-9]{{2}}.*))?$"
_TIME_ASCII = (
    r"^(?P<hour>[0-9]{1,2})[:.](?P<minute>[0-9]{2})(?:[:.](?P<second>[0-9]{2})(?:\.[0-9]+)?)?"
    rf"[{_BLANKS}]*(?P<meridiem>[AaPp]\.?[Mm]\.?)?(?:[{_BLANKS}]*{_ZONE})?$"
)
#: _DATE_TIME on ASCII cells whose date holds no blank or T (_DATE_TIME's lazy date could end
#: at either; here the first ends it, as the T between an ISO 8601 date and time does): each
#: character can be read one way only, and RE2 extracts the groups of such a one-pass
#: expression several times faster (4 million timestamps: 0.6 s against 1.9 s).
_DATE_TIME_ONE_PASS = rf"^(?P<date>[^{_BLANKS}T]+)(?:[ T]+(?P<time>[0-9]{{1,2}}[:.][0-9]{{2}}.*))?$"
#: A number with a decimal comma, as a spreadsheet writes one where the comma is the decimal
#: mark ("3,2"; its CSV is semicolon-delimited, or quotes the cell). Never a thousands
#: separator: no number ingest reads comes near 1,000 (a RIT score, a percentage, minutes).
_DECIMAL_COMMA = r"^([+-]?[0-9]+),([0-9]+)$"
#: An all-digit StudentID written as a decimal (1001.0), as a script that read the IDs as
#: numbers writes them back: the integer it is.
_DECIMAL_ID = r"^([0-9]+)\.0+$"
#: A number in scientific notation, as Excel shows one of 12 digits or more.
_SCIENTIFIC = r"[0-9](?:\.[0-9]+)?[Ee]\+[0-9]{1,3}"
#: Grade codes of kindergarten: K, KG, 0, 13 in older StudentsBySchool exports, and K5 or 5K
#: (five-year-old kindergarten, beside K4 or 4K for pre-kindergarten) as some states write it.
KINDERGARTEN = ("K", "KG", "KINDERGARTEN", "K5", "5K", "0", "00", "13")
#: The grade codes ingest reads, as messages and reject details name them.
GRADES_READ = "K, KG, 0, 13 or K5 for kindergarten, 1-12, or written out as Grade 3 or 3rd"
#: A grade written out, as a district's own (SIS) roster writes it: "Grade 3", "Gr. 3", "3rd",
#: "3rd Grade", "Grade K". NWEA's exports write the bare code; rejecting these as unknown
#: grades lost every test of the roster. The one group that takes part holds the code.
_GRADE_WORDS = (
    r"^(?:GRADE|GR\.?)\s*([0-9]{1,2}|K|KG|KINDERGARTEN)$"
    r"|^([0-9]{1,2}|K|KG|KINDERGARTEN)(?:ST|ND|RD|TH)?\s+GRADE$"
    r"|^([0-9]{1,2})(?:ST|ND|RD|TH)$"
)
#: End-of-course math tests (on their own scale), by a word of their Course or TestName.
END_OF_COURSE = r"(?i)\b(?:algebra|geometry|integrated\s+math|calculus|trigonometry)"
_TRUE = {"TRUE", "T", "Y", "YES", "1"}
_FALSE = {"FALSE", "F", "N", "NO", "0"}
#: StudentGender spellings (lower case) of NWEA's M and F.
_MALE, _FEMALE = ("m", "male"), ("f", "female")
#: Cell texts that mean "no value": the markers pandas' ``read_csv`` reads as missing by
#: default (a superset of pyarrow's), e.g. NULL from a database export, #N/A from Excel, NA
#: from R. A cell holding one (surrounding blanks ignored) counts as empty, like "".
MISSING = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip


def categorical(values: pd.Series) -> pd.Series:
    """``values`` as a categorical (a no-op for raw columns, which io reads that way)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype("category")


def group_ids(*columns: pd.Series) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dense id per row for each distinct combination of categorical columns.

    Returns the ids (0..g-1, by first appearance) and, per column, the category code of each
    distinct combination (-1 for missing). Combines codes arithmetically instead of hashing
    strings, so millions of rows cost a few integer operations.
    """
    sizes = [len(categorical(c).cat.categories) + 1 for c in columns]
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for column, size in zip(columns, sizes, strict=True):  # in place: one array of int64
        combined *= size
        combined += categorical(column).cat.codes.to_numpy()
        combined += 1
    ids, uniques = pd.factorize(combined)
    parts = []
    for size in reversed(sizes):
        parts.append(uniques % size - 1)
        uniques = uniques // size
    return ids.astype(np.int64, copy=False), parts[::-1]


def per_distinct(parse: Callable[..., pd.Series | pd.DataFrame], *columns: pd.Series):
    """``parse`` applied to each distinct combination of ``columns`` only, broadcast to rows.

    ``parse`` receives one str Series per column (NaN where missing) indexed 0..g-1. Text
    results come back categorical, other results in their own dtype, indexed like the rows.
    The same parser on the same columns parses once (:class:`_Parsed`).
    """
    ids, parts = _distinct(*columns)
    parsed = _parsed(parse, columns, parts)
    if isinstance(parsed, pd.DataFrame):
        return pd.DataFrame(
            {name: _broadcast(parsed[name], ids) for name in parsed}, index=columns[0].index
        )
    return pd.Series(_broadcast(parsed, ids), index=columns[0].index)


def per_category(parse: Callable[[pd.Series], pd.Series | pd.DataFrame], values: pd.Series):
    """``parse`` of each category of ``values`` and then of missing, indexed 0..k (cached
    like :func:`per_distinct`, which broadcasts the same result to the rows): a check that
    every row parses looks at these k + 1 values, not at millions of rows."""
    size = len(categorical(values).cat.categories)
    return _parsed(parse, [values], [np.append(np.arange(size), -1)])


def _parsed(parse: Callable, columns: tuple[pd.Series, ...] | list[pd.Series], parts: list):
    """``parse`` of the distinct combinations ``parts`` (category codes per column, -1 for
    missing) of ``columns``, from :data:`_PARSED` when the same categories were parsed."""
    categories = [categorical(c).cat.categories for c in columns]
    parsed = _PARSED.get(parse, categories)
    if parsed is None:
        distinct = [
            pd.Series(c.array, dtype="str").reindex(p).reset_index(drop=True)
            for c, p in zip(categories, parts, strict=True)
        ]
        parsed = _PARSED.put(parse, categories, parse(*distinct))
    return parsed


class _Parsed:
    """The distinct values most recently parsed, by parser and by the columns' categories (the
    same Index objects, held here so they stay the same). Reading a cohort checks every raw
    column (schemas) and then types it (pipeline) with the same parsers: the regular
    expressions over the distinct values, the largest part of typing, then run once. A
    column's distinct values are its categories and their codes; the categories are immutable,
    so parsing them again would give the same result."""

    KEPT = 32  # entries; a cohort has about 20 parsed raw columns

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[list[pd.Index], pd.Series | pd.DataFrame]] = {}
        self._lock = threading.Lock()  # typing parses on two threads (pipeline.typed_tests)

    def get(self, parse: Callable, categories: list[pd.Index]) -> pd.Series | pd.DataFrame | None:
        with self._lock:
            found = self._entries.get((parse, *map(id, categories)))
        if found is None or any(a is not b for a, b in zip(found[0], categories, strict=True)):
            return None
        return found[1]

    def put(self, parse: Callable, categories: list[pd.Index], parsed):
        with self._lock:
            self._entries[(parse, *map(id, categories))] = (categories, parsed)
            while len(self._entries) > self.KEPT:  # the oldest first
                del self._entries[next(iter(self._entries))]
        return parsed


_PARSED = _Parsed()


def _distinct(*columns: pd.Series) -> tuple[np.ndarray, list[np.ndarray]]:
    """Like :func:`group_ids`; one column's codes already number its distinct values, so they
    serve as ids as they are (every category, then missing last: code -1 takes the last entry,
    as numpy and pandas take with negative positions), saving passes over millions of rows."""
    if len(columns) > 1:
        return group_ids(*columns)
    values = categorical(columns[0])
    size = len(values.cat.categories)
    return values.cat.codes.to_numpy(), [np.append(np.arange(size), -1)]


def _broadcast(values: pd.Series, ids: np.ndarray):
    if pd.api.types.is_string_dtype(values.dtype):
        codes, uniques = pd.factorize(values)
        return pd.Categorical.from_codes(
            codes[ids].astype(np.int32), pd.Index(uniques, dtype="str")
        )
    return values.array.take(ids)


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``, or an all-missing text categorical when no file had that column."""
    if name in frame:
        return frame[name]
    # int8, the codes pandas keeps for no categories: int32 codes were made and then copied
    # to int8 (a national cohort asks for 16 absent columns: 19 MB of fresh pages each)
    return pd.Series(
        pd.Categorical.from_codes(
            np.full(len(frame), -1, dtype=np.int8), pd.Index([], dtype="str")
        ),
        index=frame.index,
        name=name,
    )


def shared_ids(left: list[pd.Series], right: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_ids` over two frames' key columns, so equal keys get equal ids."""
    both = [
        pd.Series(pd.api.types.union_categoricals([categorical(a).array, categorical(b).array]))
        for a, b in zip(left, right, strict=True)
    ]
    ids, _ = group_ids(*both)
    return ids[: len(left[0])], ids[len(left[0]) :]


def text(values: pd.Series) -> pd.Series:
    """Stripped text categorical with blank values (and :data:`MISSING` markers) as missing."""
    stripped = strip(values)
    categories = stripped.cat.categories
    blank = categories[categories.isin(MISSING)]
    return stripped.cat.remove_categories(blank) if len(blank) else stripped


def strip(values: pd.Series) -> pd.Series:
    """Categorical with surrounding whitespace removed from every value (merging repeats), in
    Unicode's composed form (NFC) and without invisible marks at its edges: a name typed on a
    Mac or pasted from the web may write "ñ" as "n" and a combining tilde, or bring a
    zero-width space along, which looks the same as the exports' "ñ" or ID but compared
    unequal (a school of schools.csv was then "missing", its students unframed; a student's
    tests met no roster row)."""
    return _recode(values, lambda categories: _normalised(categories.str.strip()))


def _normalised(text: pd.Index) -> pd.Index:
    """``text`` in NFC without invisible marks at its edges (:data:`io.INVISIBLE_EDGE`),
    normalising only its values that are not ASCII (which always are both)."""
    arrow = pa.array(text, type=pa.string(), from_pandas=True)
    other = ~pc.fill_null(pc.string_is_ascii(arrow), True).to_numpy(zero_copy_only=False)
    if not other.any():
        return text
    values = text.to_numpy(object, copy=True)
    values[other] = [
        INVISIBLE_EDGE.sub("", unicodedata.normalize("NFC", value)) for value in values[other]
    ]
    return pd.Index(values, dtype=text.dtype)


def genders(values: pd.Series) -> pd.Series:
    """StudentGender as :func:`text`, with the spellings districts use for NWEA's M and F
    (male, Female, f) written M and F: files of one cohort that spell it differently must
    still put their students in one gender stratum (matching is exact on gender). Other
    codes (X, U) are kept as written."""

    def recode(categories: pd.Index) -> pd.Index:
        stripped = categories.str.strip()
        word = stripped.str.lower()
        return stripped.where(~word.isin(_MALE), "M").where(~word.isin(_FEMALE), "F")

    return text(_recode(values, recode))


def student_ids(values: pd.Series) -> pd.Series:
    """StudentIDs as :func:`strip` gives them, with an all-digit ID written as a decimal
    (1001.0, :data:`_DECIMAL_ID`) as the integer it is: compared as written, a roster saved by
    such a script met none of its students' tests. Any other ID is kept as written."""

    def integral(ids: pd.Index) -> pd.Index:
        arrow = pa.array(ids, type=pa.string(), from_pandas=True)
        # the usual case, no ID with a dot, told from the characters' bytes at once (a million
        # IDs: 3 ms, where matching each took 90)
        text = arrow.buffers()[2]
        if text is None or not (np.frombuffer(text, dtype=np.uint8) == ord(".")).any():
            return ids
        return pd.Index(pc.replace_substring_regex(arrow, _DECIMAL_ID, r"\1"), dtype=ids.dtype)

    return _recode(strip(values), integral)


def loose_ids(values: pd.Series) -> pd.Series:
    """StudentIDs as a categorical without leading zeros or a trailing ".0", in upper case:
    how two exports' IDs compare once a spreadsheet dropped one's zeros, a script wrote its
    IDs as decimals (1001.0) or a system changed their case."""

    def loose(categories: pd.Index) -> pd.Index:
        return categories.str.replace(r"\.0+$", "", regex=True).str.lstrip("0").str.upper()

    return _recode(values, loose)


def respelt(values: pd.Series, spelling: Callable[[str], str]) -> pd.Series:
    """Categorical of ``values`` with each distinct value as ``spelling`` writes it, merging
    the values it makes equal; ``values`` itself when it changes none."""
    return _recode(values, lambda names: pd.Index([spelling(n) for n in names], dtype="str"))


def _recode(values: pd.Series, recode: Callable[[pd.Index], pd.Index]) -> pd.Series:
    """Categorical of ``values`` with ``recode`` applied to its text categories, merging the
    categories it makes equal (codes are remapped: the rows are never touched one by one)."""
    cat = categorical(values)
    categories = cat.cat.categories
    recoded = pd.Index(recode(categories.astype("str")))
    if not cat.cat.ordered and recoded.dtype == categories.dtype and recoded.equals(categories):
        # nothing to recode (the usual case): the same column, as the remapping below would
        # rebuild it; a million student IDs cost 0.6 s to factorize, take and validate again
        return cat
    new_codes, uniques = pd.factorize(recoded)
    lookup = np.append(new_codes, -1).astype(np.int32)  # code -1 (missing) stays missing
    remapped = lookup[cat.cat.codes.to_numpy()]
    return pd.Series(
        pd.Categorical.from_codes(remapped, pd.Index(uniques, dtype="str")),
        index=values.index,
        name=values.name,
    )


def blank_text(text: pd.Series) -> pd.Series:
    """True where a value is empty, whitespace or a :data:`MISSING` marker (False where
    missing: the file has no such column)."""
    return text.str.strip().isin(MISSING).astype(bool)


def scientific(text: pd.Series) -> pd.Series:
    """True where a value is a number in scientific notation ("1.23457E+11"), as a spreadsheet
    shows a long numeric ID: rounded to a few digits, which other students' IDs share."""
    return text.str.strip().str.fullmatch(_SCIENTIFIC).fillna(False).astype(bool)


def unmarked(text: pd.Series) -> pd.Series:
    """``text`` with its blank values (:func:`blank_text`) missing."""
    return text.mask(blank_text(text))


def terms(text: pd.Series) -> pd.DataFrame:
    """season, school_year ("2014-2015") and canonical term_name from TermName.

    "Fall 2014-2015" form (also "Fall 2014-15", as a district's own system may write it), or
    the client-server "Fall 2014" form whose school year starts in that year for Fall and the
    year before for Winter/Spring/Summer. The two years must be consecutive.
    """
    parts = text.str.strip().str.extract(_TERM)
    season = parts[0].str.lower()
    first = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    second = pd.to_numeric(parts[2], errors="coerce").astype("Int64")
    short_start = first.where(season.eq("fall"), first - 1)
    start = short_start.where(second.isna(), first)
    two_digits = parts[2].str.len().eq(2)
    following = second.eq((first + 1).where(~two_digits, (first + 1) % 100))
    ok = season.notna() & (second.isna() | following).fillna(False)
    year = start.astype("str") + "-" + (start + 1).astype("str")
    out = pd.DataFrame(
        {
            "season": season.where(ok),
            "school_year": year.where(ok),
            "term_name": (season.str.title() + " " + year).where(ok),
        },
        index=text.index,
    )
    return out.astype("str")


def date_times(text: pd.Series) -> pd.DataFrame:
    """``time`` (seconds after midnight, as :func:`times` reads them) and ``date`` of cells
    that may hold both ("9/16/2013 9:00:00 AM"): dates from M/D/YYYY or M/D/YY (any padding;
    20YY), DD-MM-YYYY (Excel re-saves), DD.MM.YYYY (European), YYYY-MM-DD, YYYY/MM/DD or
    D-Mon-YY(YY) (:data:`_DATES`), alone or followed by a time. Both from one split of each
    cell: TestStartDate needs both, and exports with a timestamp per test have millions of
    distinct cells. ``date`` comes last, so a check that a cell parses looks at it
    (schemas._parses). A cell whose time does not read as one has no date either: its time
    would be lost unseen, and de-duplication orders a day's tests by it."""
    stripped = text.str.strip()
    split = _date_and_time(stripped)
    time = _on_distinct(_times_alone, split[1].fillna(stripped))
    date = _on_distinct(_dates_alone, split[0])
    return pd.DataFrame(
        {"time": time, "date": date.where(split[1].isna() | time.notna())}, index=text.index
    )


def _dates_alone(stripped: pd.Series) -> pd.Series:
    """The dates of :func:`date_times`, of date texts without a time."""
    parts = pd.DataFrame(index=stripped.index, columns=["year", "month", "day"], dtype="float64")
    for pattern, order in _DATES:
        found = stripped.str.extract(pattern)
        found.columns = list(order)
        found["month"] = found["month"].map(
            lambda m: _MONTHS.get(m.upper()) if m.isalpha() else m, na_action="ignore"
        )
        parts = parts.fillna(found[["year", "month", "day"]].astype("float64"))
    parts["year"] = parts["year"].where(parts["year"] >= 100, parts["year"] + 2000)
    valid = parts.notna().all(axis=1)
    parsed = pd.to_datetime(parts[valid].astype("int64"), errors="coerce")
    return pd.Series(parsed, dtype="datetime64[ms]").reindex(stripped.index)


def times(text: pd.Series) -> pd.Series:
    """Seconds after midnight from 13:05:00, 9:00:00 AM or Excel's 9.38.55, alone or after a
    date ("9/16/2013 9:00:00 AM"); NaN otherwise."""
    stripped = text.str.strip()
    return _on_distinct(_times_alone, _date_and_time(stripped)[1].fillna(stripped))


def _times_alone(clock: pd.Series) -> pd.Series:
    """:func:`times` of time texts without a date."""
    parts = _extract(clock, _TIME, _TIME_ASCII)
    hour, minute = parts[0].astype("float64"), parts[1].astype("float64")
    second = parts[2].astype("float64").fillna(0.0)
    meridiem = parts[3].str.upper().str.replace(".", "", regex=False)
    twelve = meridiem.notna()
    ok = hour.notna() & (minute < 60) & (second < 60)
    ok &= (twelve & hour.between(1, 12)) | (~twelve & (hour < 24))
    hour = hour.where(~twelve, hour % 12 + np.where(meridiem.eq("PM"), 12, 0))
    return (hour * 3600 + minute * 60 + second).where(ok.fillna(False).astype(bool))


def _date_and_time(stripped: pd.Series) -> pd.DataFrame:
    """``stripped.str.extract(_DATE_TIME)``: by _DATE_TIME_ONE_PASS where it reads a cell the
    same way, an ASCII cell it matches (RE2 reads no-break spaces or other digits otherwise
    than Python's \\s and \\d), by :func:`_extract` elsewhere."""
    arrow = pa.array(stripped, type=pa.string(), from_pandas=True)
    found = pc.extract_regex(arrow, _DATE_TIME_ONE_PASS)
    split = _groups(found, stripped)
    read = pc.and_(pc.is_valid(found), pc.fill_null(pc.string_is_ascii(arrow), False))
    rest = stripped.notna().to_numpy() & ~read.to_numpy(zero_copy_only=False)
    if rest.any():
        split[rest] = _extract(stripped[rest], _DATE_TIME, _DATE_TIME_ASCII)
    return split


def _extract(text: pd.Series, pattern: str, ascii_pattern: str) -> pd.DataFrame:
    """``text.str.extract(pattern)``, its ASCII cells by pyarrow's RE2 with ``ascii_pattern``
    (``pattern`` in RE2's syntax, reading ASCII alike; each group, when it takes part, holds
    a character), the rest by Python's re. Python's took 2-4 s per million cells, and exports
    with a timestamp per test, or times to the millisecond, have millions of distinct ones."""
    arrow = pa.array(text, type=pa.string(), from_pandas=True)
    extracted = _groups(pc.extract_regex(arrow, ascii_pattern), text)
    other = ~pc.fill_null(pc.string_is_ascii(arrow), True).to_numpy(zero_copy_only=False)
    if other.any():
        extracted[other] = text[other].str.extract(pattern)
    return extracted


def _groups(found: pa.StructArray, text: pd.Series) -> pd.DataFrame:
    """The groups RE2 extracted (``pc.extract_regex``) from ``text``, numbered and typed as
    ``text.str.extract`` gives them."""
    parts = {}
    for i in range(found.type.num_fields):
        group = pc.struct_field(found, [i])
        # RE2 gives an empty group where an optional one took no part; Python gives NaN
        group = pc.if_else(pc.equal(group, ""), None, group)
        parts[i] = pd.Series(group, dtype=text.dtype, index=text.index)
    return pd.DataFrame(parts)


def _on_distinct(parse: Callable[[pd.Series], pd.Series], text: pd.Series) -> pd.Series:
    """``parse`` of each distinct value of ``text`` only, indexed like ``text`` (missing where
    ``text`` is). Parsers get distinct cells already; a cell that holds a date and a time has
    few distinct dates and times, though: exports with a timestamp per test have millions of
    distinct cells, and each pattern took 2 s per million."""
    codes, uniques = pd.factorize(text)
    parsed = parse(pd.Series(uniques, dtype=text.dtype))
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=text.index)


def numbers(text: pd.Series) -> pd.Series:
    """Finite decimal numbers ("0", "0.0000", "2.381", "215"), also with a decimal comma
    ("3,2"); NaN otherwise."""
    written = text.str.strip().str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True)
    value = pd.to_numeric(written, errors="coerce").astype("float64")
    return value.where(np.isfinite(value))


def percent_numbers(text: pd.Series) -> pd.Series:
    """A number with or without a % sign ("45.5", "45.5%", "-9%"), in range or not; NaN
    otherwise."""
    return numbers(text.str.strip().str.removesuffix("%"))


def percentages(text: pd.Series) -> pd.Series:
    """A number from 0 to 100, with or without a % sign ("45.5", "45.5%"); NaN otherwise."""
    value = percent_numbers(text)
    return value.where(value.between(0, 100))


#: NCES's urban-centric locale codes by name (reference/nwea_formats.md §3), letters only,
#: lower case: "City: Large", "City-Large" and "city large" are "citylarge".
LOCALE_NAMES = {
    f"{group}{size}": 10 * g + s
    for g, (group, sizes) in enumerate(
        (
            ("city", ("large", "midsize", "small")),
            ("suburb", ("large", "midsize", "small")),
            ("town", ("fringe", "distant", "remote")),
            ("rural", ("fringe", "distant", "remote")),
        ),
        start=1,
    )
    for s, size in enumerate(sizes, start=1)
}


def locales(text: pd.Series) -> pd.Series:
    """An NCES locale code: "11", also as the Common Core of Data's directory writes it with
    its name ("11-City: Large") or as the name alone ("City: Large", "Suburb-Midsize"); NaN
    when it is none of the twelve."""
    written = text.str.strip()
    coded = numbers(written.str.extract(r"^(\d{2})\s*[-:]\s*[A-Za-z]")[0])  # its name after
    named = written.str.lower().str.replace(r"[^a-z]", "", regex=True).map(LOCALE_NAMES)
    value = numbers(written).fillna(coded).fillna(named.astype(float))
    return value.where(value.isin(list(LOCALE_NAMES.values())))


def start_years(text: pd.Series) -> pd.Series:
    """A fall year ("2014"), also written as a decimal ("2014.0", a spreadsheet's), as the
    school year it begins ("2014-2015", "2014-15"; "SY2014-15" or "SY 2014-2015", as districts
    write school years) or as its fall term ("Fall 2014", "Fall 2014-2015"); NA otherwise
    (a spring: PL starts with a school year)."""
    parts = text.str.strip().str.extract(
        r"^(?i:SY\s*|Fall\s*)?(\d{4})(?:\.0+|\s*-\s*(\d{4}|\d{2}))?$"
    )
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    ok = second.isna() | second.eq(first + 1) | (second.lt(100) & second.eq((first + 1) % 100))
    return first.where(ok).astype("Int64")


def flags(text: pd.Series) -> pd.Series:
    """TRUE/FALSE (also Y/N, Yes/No, 1/0, any case) as nullable booleans."""
    word = text.str.strip().str.upper()
    return pd.Series(
        np.where(word.isin(_TRUE), True, np.where(word.isin(_FALSE), False, pd.NA)),
        index=text.index,
        dtype="boolean",
    ).where(word.isin(_TRUE | _FALSE))


def grades(text: pd.Series) -> pd.Series:
    """Grade as an integer, kindergarten (:data:`KINDERGARTEN` codes) = 0, 1..12; NA otherwise.
    A code may be written out (:data:`_GRADE_WORDS`); 13 means kindergarten only bare, as the
    older exports write it ("13th", "Grade 13" are no grade)."""
    word = text.str.strip().str.upper()
    inner = word.str.extract(_GRADE_WORDS).bfill(axis=1)[0]
    word = word.where(inner.isna(), inner.mask(inner.eq("13"), ""))
    number = pd.to_numeric(word.where(~word.isin(KINDERGARTEN), "0"), errors="coerce")
    whole = number.notna() & (number % 1 == 0) & number.between(0, 12)
    return number.where(whole).astype("Int64")


def norms_years(text: pd.Series) -> pd.Series:
    """NormsReferenceData as an integer year (2015, 2020, 2025); NA otherwise."""
    number = pd.to_numeric(
        text.str.strip().where(text.str.strip().str.fullmatch(r"\d{4}")), errors="coerce"
    )
    return number.astype("Int64")


def subject_from_scale(scale: pd.Series) -> pd.Series:
    """ "math"/"reading" from MeasurementScale (layouts A, B: :data:`SUBJECT_NAMES`); NaN
    for other subjects."""
    word = scale.str.strip().str.lower()
    return word.map(SUBJECT_NAMES).astype("str")


def subject_from_course(subject: pd.Series, course: pd.Series) -> pd.Series:
    """ "math"/"reading" from Subject + Course (layout C): MAP Growth Math K-12/2-5/6+ and
    Reading (a Subject of Mathematics or Reading with no Course counts too); course-specific
    tests (Algebra, Geometry), Spanish, Language Usage and Science are other subjects (NaN).
    """
    subj = subject.str.strip().str.lower()
    crs = course.fillna("").str.strip().str.lower()
    spanish = subj.str.contains("spanish") | crs.str.contains("spanish")
    named = subj.map(SUBJECT_NAMES)
    math = named.eq("math") & (crs.eq("") | crs.str.match(r"maths?\b"))
    reading = (subj.isin(["language arts", "reading"]) & crs.str.match(r"reading\b")) | (
        named.eq("reading") & crs.eq("")
    )
    out = pd.Series(
        np.where(math & ~spanish, "math", np.where(reading & ~spanish, "reading", None)),
        index=subject.index,
        dtype="str",
    )
    return out


def end_of_course(*names: pd.Series) -> pd.Series:
    """True where any of ``names`` (Course, TestName) names an end-of-course math test."""
    found = pd.Series(False, index=names[0].index)
    for name in names:
        found |= name.fillna("").str.contains(END_OF_COURSE)
    return found
