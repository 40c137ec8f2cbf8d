"""The evaluator's school frame (schools.csv): typed, with the NCES locale group."""

from __future__ import annotations

import pandas as pd

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

    locale = parse.per_distinct(parse.numbers, raw["locale"]).astype("Int64")
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
