"""NWEA's per-student growth fields: kept by ingest when an export has them (CDF and Combined
layouts, any case), typed, on the test that ends their window; bad values are problems at file,
line and column, and never change where a row goes."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pl_eval import io
from pl_eval.ingest import growth, layouts, parse, pipeline

COHORT = Path(__file__).parents[1] / "data" / "growth" / "cohort"
KEY = "test-key-16chars"
SPRING = "2022-2023/AssessmentResults_maple-usd_Spring_2022-2023.csv"
WINTER = "2022-2023/ComboStudentAssessment_maple-usd_Winter_2022-2023.csv"


def read(folder: Path) -> tuple[pipeline.Inventory, pipeline.RawInputs]:
    aliases = layouts.alias_table({})
    exports = [
        layouts.recognise(io.sniff_raw_file(path, name), aliases)
        for path, name in io.list_raw_files(folder)
    ]
    inventory = pipeline.Inventory(
        tuple(e for e in exports if isinstance(e, layouts.ExportFile)), ()
    )
    raw = pipeline.RawInputs(
        **{
            part: io.read_raw_exports([e.request() for e in inventory.of_kind(*kinds)])
            for part, kinds in pipeline.PARTS.items()
        }
    )
    return inventory, raw


def problems(folder: Path) -> list:
    inventory, raw = read(folder)
    return [
        p for part in pipeline.PARTS for p in pipeline.validate(part, getattr(raw, part), inventory)
    ]


@pytest.fixture(scope="module")
def ingested() -> pipeline.IngestResult:
    inventory, raw = read(COHORT)
    return pipeline.build(raw, inventory, pipeline.IngestSettings.from_dict({}), KEY)


def row(scores: pd.DataFrame, term: str, rit: float) -> pd.Series:
    (found,) = scores.index[(scores["term_name"] == term) & (scores["rit"] == rit)]
    return scores.loc[found]


def test_the_fixture_reads_without_problems():
    assert problems(COHORT) == []


@pytest.mark.parametrize(
    ("term", "rit", "slot", "expected"),
    [
        # CDF layout C, spring: FallToSpring* in from_fall, SpringToSpring* in from_spring
        ("Spring 2022-2023", 206, "from_fall", (12, 14, True, 0.25, 60)),
        ("Spring 2022-2023", 206, "from_spring", (11, 16, True, 0.52, 70)),
        ("Spring 2022-2023", 197, "from_fall", (12, 11, False, -0.13, 45)),  # No*
        ("Spring 2022-2023", 190, "from_fall", (12, 13, True, 0.13, 55)),  # Yes*
        ("Spring 2022-2023", 190, "from_spring", (None,) * 5),  # blanks
        ("Spring 2022-2023", 193, "from_fall", (None,) * 5),  # blanks
        ("Spring 2022-2023", 199, "from_spring", (11, 11, True, 0.05, 52)),  # Yes*
        # Combined file, lower-case headers and values: FallToWinter* on the winter test
        ("Winter 2022-2023", 200, "from_fall", (8, 8, True, 0.05, 52)),  # yes
        ("Winter 2022-2023", 193, "from_fall", (8, 7, False, -0.12, 45)),  # no*
        ("Winter 2022-2023", 197, "from_fall", (8, 6, True, 0.02, 51)),  # Yes*
        ("Winter 2022-2023", 197, "from_spring", (None,) * 5),  # no SpringToWinter window
        # files without growth columns
        ("Fall 2022-2023", 192, "from_fall", (None,) * 5),
        ("Spring 2021-2022", 190, "from_spring", (None,) * 5),
    ],
)
def test_growth_fields_are_typed_on_the_test_ending_their_window(
    ingested, term, rit, slot, expected
):
    got = row(ingested.scores.to_pandas(), term, rit)
    names = ["projected", "observed", "met", "cgi", "cgp"]
    values = [got[f"growth_{slot}_{n}"] for n in names]
    for name, value, want in zip(names, values, expected, strict=True):
        if want is None:
            assert pd.isna(value), name
        elif name == "met":
            assert bool(value) is want
        else:
            assert value == pytest.approx(want, abs=1e-6), name


def test_growth_columns_are_typed_in_the_scores_schema(ingested):
    dtypes = ingested.scores.to_pandas().dtypes.astype(str)
    assert dtypes["growth_from_fall_met"] == "boolean"
    assert dtypes["growth_from_spring_cgp"] == "float32"


def test_growth_fields_change_no_row_accounting(ingested):
    totals = ingested.summary()["totals"]
    assert totals["rows_read"] == 19 == totals["kept"]
    assert totals["rejected"] == totals["duplicates"] == 0


def test_values_that_do_not_parse_are_problems_at_file_line_and_column(tmp_path):
    folder = tmp_path / "cohort"
    shutil.copytree(COHORT, folder)
    spring, winter = folder / SPRING, folder / WINTER
    text = spring.read_text().replace(",No*,-0.13,45,", ",Maybe,-0.13,forty,")
    spring.write_text(text)
    winter.write_text(winter.read_text().replace(",yes,0.05,52", ",yes,0.05,140"))
    found = sorted((p.file, p.line, p.column, p.found, p.expected) for p in problems(folder))
    assert found == [
        (SPRING, 3, "FallToSpringConditionalGrowthPercentile", "forty",
         "a conditional growth percentile from 0 to 100 (or empty)"),
        (SPRING, 3, "FallToSpringMetProjectedGrowth", "Maybe", "Yes, No, Yes* or No* (or empty)"),
        (WINTER, 2, "falltowinterconditionalgrowthpercentile", "140",
         "a conditional growth percentile from 0 to 100 (or empty)"),
    ]  # fmt: skip
    one_line = str(next(p for p in problems(folder) if p.found == "Maybe"))
    assert "\n" not in one_line and "line 3" in one_line and SPRING in one_line


def test_typed_takes_each_rows_value_of_its_own_window():
    # distinct values parsed once and taken at the rows of the season ending each window:
    # missing cells, blank text, a value on the wrong season's row and a column no file had
    season = pd.Series(pd.Categorical(["winter", "spring", "fall", "spring", "winter", None]))
    raw = {
        "FallToWinterObservedGrowth": ["7", " 8", "9", "10", None, "7"],
        "FallToSpringObservedGrowth": ["1", "12.5", "3", " ", "5", "6"],
        "FallToWinterMetProjectedGrowth": ["Yes*", "No", "Yes", None, "no*", "yes"],
        "FallToSpringMetProjectedGrowth": [None, "yes*", "No", "NO", "Yes", "Yes"],
    }
    frame = pd.DataFrame({name: pd.Categorical(values) for name, values in raw.items()})

    def col(name: str) -> pd.Series:
        return parse.column(frame, name)

    typed = growth.typed(col, season)
    observed = typed["growth_from_fall_observed"].to_numpy()
    np.testing.assert_array_equal(observed, [7, 12.5, np.nan, np.nan, np.nan, np.nan])
    assert observed.dtype == np.float32
    met = typed["growth_from_fall_met"]
    assert met.dtype == "boolean"
    assert met.tolist() == [True, True, pd.NA, False, False, pd.NA]
    # SpringToSpring columns are in no file: every row missing
    assert typed["growth_from_spring_observed"].isna().all()
    assert typed["growth_from_spring_met"].isna().all()
