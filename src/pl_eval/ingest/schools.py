"""The evaluator's school frame (schools.csv): typed, with the NCES locale group, and the
spellings of its names that export names are read as."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.errors import Problem, quoted
from pl_eval.ingest import parse, schemas

LOCALE_GROUPS = {1: "city", 2: "suburb", 3: "town", 4: "rural"}


def school_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed school frame from validated raw text (``schemas.RAW_SCHOOLS``), sorted by name.

    nces_id keeps leading zeros: an 11-digit id (a spreadsheet dropped the leading 0 of a
    state code below 10) is padded back to 12 digits.
    """

    def text(name: str) -> pd.Series:
        if name not in raw:
            return pd.Series(pd.NA, index=raw.index, dtype="str")
        return parse.text(raw[name]).astype("str")

    locale = parse.per_distinct(parse.locales, raw["locale"]).astype("Int64")
    out = pd.DataFrame(
        {
            "district_name": text("district_name"),
            "school_name": text("school_name"),
            "nces_id": text("nces_id").str.zfill(12),
            "sector": text("sector").str.lower(),
            "pl_start_year": parse.per_distinct(parse.start_years, raw["pl_start_year"]),
            "frl_pct": parse.per_distinct(parse.percentages, raw["frl_pct"]).to_numpy(float),
            "locale": locale,
            "locale_group": (locale // 10).map(LOCALE_GROUPS).astype("str"),
        }
    )
    out = out.sort_values(["district_name", "school_name"], kind="stable", ignore_index=True)
    return schemas.SCHOOLS.validate(out)


def loose_name(name: str) -> str:
    """A district or school name as :class:`Spellings` compares it: letter case folded and
    every run of blanks one blank."""
    return " ".join(name.split()).casefold()


def loose_repeats(frame: pd.DataFrame) -> list[Problem]:
    """Rows of raw schools.csv text (names stripped) that name a school an earlier row names,
    written otherwise only in letter case or blanks (:func:`loose_name`; a row repeating one
    exactly is the schema's problem). Exports are read as schools.csv spells a name only when
    it spells it one way (:class:`Spellings`): kept both, the two rows are one school framed
    twice, and an export writing it a third way matched neither."""
    if not {"district_name", "school_name"} <= set(frame):
        return []
    names = frame[["district_name", "school_name"]].astype("str")
    key = names["district_name"].map(loose_name) + "\0" + names["school_name"].map(loose_name)
    # the position of the first row of each row's loose name
    earlier = pd.Series(np.arange(len(key))).groupby(pd.factorize(key)[0]).transform("first")
    earlier = earlier.to_numpy()
    repeat = np.flatnonzero(
        (earlier != np.arange(len(frame)))
        & (frame[["district_name", "school_name"]].fillna("") != "").all(axis=1).to_numpy()
        & (names.to_numpy() != names.to_numpy()[earlier]).any(axis=1)
    )
    line, file = frame["source_line"].to_numpy(), frame["source_file"].astype("str").to_numpy()
    return [
        Problem(
            file[i],
            "one row per district_name and school_name, which letter case and blanks do not "
            f"tell apart: line {line[earlier[i]]} names this school "
            f"{quoted(names.iat[earlier[i], 1])} of {quoted(names.iat[earlier[i], 0])}",
            line=int(line[i]),
            column="school_name",
            found=names.iat[i, 1],
        )
        for i in repeat
    ]


@dataclass(frozen=True)
class Spellings:
    """schools.csv's spelling of each district and school name, by loose form
    (:func:`loose_name`), for the loose forms it spells one way only.

    Export names that differ from schools.csv's only in letter case or blanks are read as
    schools.csv spells them: a frame copied from NCES's lists writes LINCOLN ELEMENTARY where
    NWEA writes Lincoln Elementary, and a district's exports may change a name's case from one
    term to the next. Compared exactly, such a school was unframed and its students dropped,
    or it was two schools and its students movers. A name schools.csv spells two ways that are
    loosely alike (:func:`loose_repeats` makes that a problem), and any name it lacks, is left
    as written.
    """

    districts: Mapping[str, str]  # loose district name -> schools.csv's spelling
    schools: Mapping[tuple[str, str], str]  # (district as spelt, loose school) -> spelling

    @classmethod
    def of(cls, districts: Iterable[str], schools: Iterable[str]) -> Spellings:
        """From schools.csv's district_name and school_name, row by row (stripped, in NFC)."""
        rows = [(d, s) for d, s in zip(districts, schools, strict=True) if d and s]
        return cls(
            _one_spelling((loose_name(d), d) for d, _ in rows),
            _one_spelling(((d, loose_name(s)), s) for d, s in rows),
        )

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Spellings:
        """From the rows of a school frame (typed or raw) with both name columns."""
        if not {"district_name", "school_name"} <= set(frame.columns):
            return cls({}, {})
        district, school = (
            parse.text(frame[c]).astype("str").fillna("") for c in ("district_name", "school_name")
        )
        return cls.of(district, school)

    def district(self, values: pd.Series) -> pd.Series:
        """A categorical of district names, each spelt as schools.csv spells it."""
        return parse.respelt(values, lambda name: self.districts.get(loose_name(name), name))

    def school(self, district: pd.Series, school: pd.Series) -> pd.Series:
        """A categorical of the school names of rows of ``district`` (spelt by
        :meth:`district`), each spelt as schools.csv spells that district's school."""
        school = parse.categorical(school)
        names = school.cat.categories.astype("str")
        spellings = defaultdict(set)
        for (_, loose), spelt in self.schools.items():
            spellings[loose].add(spelt)
        if all(spellings.get(loose_name(n), set()) <= {n} for n in names):
            return school  # the usual case: no name that schools.csv spells otherwise
        # per distinct district and school: names depend on the district (a loop over schools)
        ids, (district_codes, school_codes) = parse.group_ids(district, school)
        districts = parse.categorical(district).cat.categories.astype("str")
        respelt = [
            None
            if s < 0
            else names[s]
            if d < 0
            else self.schools.get((districts[d], loose_name(names[s])), names[s])
            for d, s in zip(district_codes, school_codes, strict=True)
        ]
        codes, uniques = pd.factorize(np.array(respelt, dtype=object))
        return pd.Series(
            pd.Categorical.from_codes(codes[ids].astype(np.int32), pd.Index(uniques, dtype="str")),
            index=school.index,
            name=school.name,
        )

    def framed(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` (categorical ``district`` and ``school``) with both spelt as schools.csv
        spells them; ``rows`` itself when no name changes."""
        written = rows["district"], rows["school"]
        district = self.district(written[0])
        school = self.school(district, written[1])
        if district is written[0] and school is written[1]:
            return rows
        return rows.assign(district=district, school=school)


def _one_spelling(spellings: Iterable[tuple]) -> dict:
    """{key: spelling} of the keys of ``(key, spelling)`` pairs that have one spelling."""
    seen = defaultdict(set)
    for key, spelt in spellings:
        seen[key].add(spelt)
    return {key: next(iter(spelt)) for key, spelt in seen.items() if len(spelt) == 1}
