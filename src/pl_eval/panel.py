"""Fall→spring panel: one row per student × subject, with norm-referenced scores and school facts.

Every student × subject seen in the cohort's files (valid tests or rejects) ends in exactly one
place: the panel (reason ``paired``) or an exclusion reason. The counts by reason and arm are
the sample-flow table the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pl_eval.errors import ConfigError
from pl_eval.norms import Norms, national_percentile

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
    "ethnicity", "test_date", "rit", "se",
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
    "fall_z", "spring_z", "fall_pct", "spring_pct",
]  # fmt: skip


@dataclass(frozen=True)
class Panel:
    """The analysis panel of one cohort and the sample flow that produced it."""

    school_year: str  # of the fall tests
    spring_year: str  # of the spring tests: the same, or a later year for a multi-year span
    norms_year: int
    data: pd.DataFrame  # one row per paired student × subject (PANEL_COLUMNS)
    exclusions: pd.DataFrame  # subject, arm, reason, n_students (every combination, zeros kept)

    def to_frame(self) -> pd.DataFrame:
        return self.data

    def summary(self) -> str:
        flow = self.exclusions.pivot_table(
            index="reason", columns=["subject", "arm"], values="n_students", aggfunc="sum"
        ).reindex(list(REASONS))
        return (
            f"Panel fall {self.school_year} to spring {self.spring_year} "
            f"({self.norms_year} norms): {len(self.data)} student × "
            f"subject rows\n{flow.to_string()}"
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
            "school_years: {<cohort>: YYYY-YYYY}"
        )
    return years[0]


def build_panel(
    scores: pd.DataFrame,
    schools: pd.DataFrame,
    norms: Norms,
    *,
    rejects: pd.DataFrame | None = None,
    school_year: str | None = None,
    spring_year: str | None = None,
) -> Panel:
    """Pair each student's fall and spring test per subject and attach norms and school facts.

    ``scores`` is ingest's one-test-per-student×subject×term table, ``schools`` its validated
    school frame, ``rejects`` its reject table (students whose every test was rejected are
    counted as ``no_valid_test``). Fall tests come from ``school_year``, spring tests from
    ``spring_year`` (default the same year; a later one for a multi-year span, with ``scores``
    holding both cohorts). Treatment and years of PL are as of the fall.
    """
    year = school_year_of(scores, school_year)
    spring = year if spring_year is None else spring_year
    fall_year = int(year[:4])
    keys = ["student_key", "subject"]
    of_subject = scores["subject"].isin(SUBJECTS)
    term_year = {"fall": year, "spring": spring}

    def term(season: str) -> pd.DataFrame:
        rows = scores[
            of_subject & (scores["season"] == season) & (scores["school_year"] == term_year[season])
        ]
        cols = ["district", "school", "grade", "gender", "ethnicity", "test_date", "rit", "se"]
        return rows[keys + cols].rename(columns={c: f"{season}_{c}" for c in cols})

    pairs = term("fall").merge(term("spring"), on=keys, how="outer", sort=False)
    facts = schools.assign(
        treated=schools["pl_start_year"].le(fall_year).fillna(False).astype(bool),
    )
    # The student's school for the analysis: the fall school, else the spring school.
    has_fall = pairs["fall_school"].notna()
    pairs["district"] = pairs["fall_district"].where(has_fall, pairs["spring_district"])
    pairs["school"] = pairs["fall_school"].where(has_fall, pairs["spring_school"])
    pairs = pairs.merge(
        facts.rename(columns={"district_name": "district", "school_name": "school"}),
        on=["district", "school"],
        how="left",
        sort=False,
        indicator="in_frame",
    )
    in_frame = pairs.pop("in_frame").eq("both").to_numpy()

    # Each test is normed at its own grade: a span's spring is a grade later than its fall.
    pairs["grade"] = pairs["fall_grade"].astype("Int64")
    pairs["fall_z"] = norms.z_score(
        pairs["fall_rit"], pairs["subject"], pairs["grade"], _const(pairs, "fall")
    )
    pairs["spring_z"] = norms.z_score(
        pairs["spring_rit"],
        pairs["subject"],
        pairs["spring_grade"].astype("Int64"),
        _const(pairs, "spring"),
    )

    reason = _first_reason(
        pairs,
        in_frame=in_frame,
        not_yet=(pairs["pl_start_year"] > fall_year).fillna(False).to_numpy(bool),
    )
    arm = _arm(pairs, in_frame, fall_year)
    rejected_only = _rejected_only(rejects, pairs, term_year, schools, fall_year)
    exclusions = _count(
        pd.concat(
            [
                pd.DataFrame({"subject": pairs["subject"], "arm": arm, "reason": reason}),
                rejected_only,
            ],
            ignore_index=True,
        )
    )

    paired = pairs[reason == "paired"]
    data = _finish(paired, fall_year)
    return Panel(
        school_year=year, spring_year=spring, norms_year=norms.year, data=data,
        exclusions=exclusions,
    )  # fmt: skip


def _const(df: pd.DataFrame, value: str) -> pd.Series:
    return pd.Series(value, index=df.index, dtype="string")


def _first_reason(pairs: pd.DataFrame, *, in_frame: np.ndarray, not_yet: np.ndarray) -> np.ndarray:
    no_fall = pairs["fall_rit"].isna().to_numpy()
    no_spring = pairs["spring_rit"].isna().to_numpy()
    moved = (
        pairs["fall_district"].ne(pairs["spring_district"])
        | pairs["fall_school"].ne(pairs["spring_school"])
    ).to_numpy(bool)
    no_norms = (pairs["fall_z"].isna() | pairs["spring_z"].isna()).to_numpy()
    conditions = [no_fall, no_spring, moved, ~in_frame, not_yet, no_norms]
    return np.select(conditions, list(REASONS[1:-1]), default="paired")


def _arm(pairs: pd.DataFrame, in_frame: np.ndarray, fall_year: int) -> np.ndarray:
    start = pairs["pl_start_year"]
    return np.select(
        [~in_frame, start.le(fall_year).fillna(False).to_numpy(bool), start.isna().to_numpy()],
        ["unknown", "treated", "comparison"],
        default="not_yet_pl",
    )


def _rejected_only(
    rejects: pd.DataFrame | None,
    pairs: pd.DataFrame,
    term_year: dict[str, str],
    schools: pd.DataFrame,
    fall_year: int,
) -> pd.DataFrame:
    """Student × subject pairs seen only in rejects of the panel's terms, with their arm."""
    columns = ["subject", "arm", "reason"]
    if rejects is None or rejects.empty:
        return pd.DataFrame(columns=columns)
    in_terms = ((rejects["season"] == "fall") & (rejects["school_year"] == term_year["fall"])) | (
        (rejects["season"] == "spring") & (rejects["school_year"] == term_year["spring"])
    )
    rows = rejects[in_terms & rejects["subject"].isin(SUBJECTS) & rejects["student_key"].notna()]
    rows = rows.sort_values(["student_key", "subject", "season"]).drop_duplicates(
        ["student_key", "subject"]
    )
    seen = rows.merge(pairs[["student_key", "subject"]], how="left", indicator=True)
    rows = rows[seen["_merge"].eq("left_only").to_numpy()]
    located = rows.merge(
        schools.rename(columns={"district_name": "district", "school_name": "school"}),
        on=["district", "school"],
        how="left",
        indicator="in_frame",
    )
    in_frame = located.pop("in_frame").eq("both").to_numpy()
    return pd.DataFrame(
        {
            "subject": located["subject"].to_numpy(),
            "arm": _arm(located, in_frame, fall_year),
            "reason": "no_valid_test",
        }
    )


def _count(flow: pd.DataFrame) -> pd.DataFrame:
    """Counts for every subject × arm × reason (zeros included) so the table shape is stable."""
    full = pd.MultiIndex.from_product([SUBJECTS, ARMS, REASONS], names=["subject", "arm", "reason"])
    counts = flow.groupby(["subject", "arm", "reason"]).size().reindex(full, fill_value=0)
    return counts.rename("n_students").astype("int64").reset_index()


def _finish(paired: pd.DataFrame, fall_year: int) -> pd.DataFrame:
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
        }
    )
    return out.sort_values(["subject", "district", "school", "student_key"]).reset_index(drop=True)
