"""Read once: read_exports types a cohort folder once; ingest screens that typed table under
any analysis's screens and end-of-course setting, with outputs byte-identical to ingest
reading the CSVs itself, and never touches the CSVs again."""

import json
import shutil
from pathlib import Path

import pytest

from pl_eval import io, stages
from pl_eval.errors import InputError

DATA = Path(__file__).parents[1] / "data" / "ingest"
KEY = "test-key-16chars"
SETTINGS = {
    "column_aliases": {},
    "screens": {
        "min_duration_minutes": 6,
        "max_rapid_guessing_pct": 30,
        "rit_range": [100, 320],
        "se_range": [1.5, 5.5],
    },
}
NO_RAPID_GUESSING = SETTINGS | {"screens": SETTINGS["screens"] | {"max_rapid_guessing_pct": None}}
OUTPUTS = ("scores", "duplicates", "rejects", "schools", "summary")


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("PL_EVAL_KEY", KEY)


def outputs(out: Path) -> dict[str, Path]:
    return {n: out / (f"{n}.parquet" if n != "summary" else "ingest_summary.json") for n in OUTPUTS}


def contents(paths: dict[str, Path]) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.mark.parametrize(
    ("folder", "settings"),
    [
        ("cohort", SETTINGS),
        ("cohort", NO_RAPID_GUESSING),
        ("quirks/end_of_course", SETTINGS),
        ("quirks/end_of_course", SETTINGS | {"end_of_course": "keep"}),
        ("quirks/kindergarten", SETTINGS),
        ("quirks/no_district", SETTINGS),
        ("quirks/scale_or_subject", SETTINGS),
        ("quirks/dates", SETTINGS),
        ("quirks/workbook", SETTINGS),
    ],
)
def test_screening_the_typed_table_gives_the_bytes_of_reading_the_csvs(tmp_path, folder, settings):
    """One read, screened under main's or a variant's settings (a copy of the folder is removed
    before screening: the CSVs are not read again), writes what ingest from the CSVs writes."""
    raw = tmp_path / "raw"
    shutil.copytree(DATA / folder, raw)
    stages.ingest(raw, **outputs(tmp_path / "direct"), settings=settings)
    # read_exports is given main's settings: screens and end_of_course apply when screening
    stages.read_exports(raw, out=tmp_path / "read", settings=SETTINGS)
    shutil.rmtree(raw)
    stages.ingest(read_exports=tmp_path / "read", **outputs(tmp_path / "typed"), settings=settings)
    assert contents(outputs(tmp_path / "typed")) == contents(outputs(tmp_path / "direct"))


def test_variants_screen_one_read_differently(tmp_path):
    """The rapid-guessing screen switched off keeps the cohort's one rapid guesser (a known
    answer from the fixture) without a second read."""
    stages.read_exports(DATA / "cohort", out=tmp_path / "read", settings=SETTINGS)
    for name, settings in (("main", SETTINGS), ("variant", NO_RAPID_GUESSING)):
        stages.ingest(read_exports=tmp_path / "read", **outputs(tmp_path / name), settings=settings)
    main, variant = (
        json.loads((tmp_path / name / "ingest_summary.json").read_text())
        for name in ("main", "variant")
    )
    assert main["rejects_by_reason"]["test"]["rapid_guessing"] == 1
    assert "rapid_guessing" not in variant["rejects_by_reason"]["test"]
    assert variant["totals"]["rows_read"] == main["totals"]["rows_read"] == 31
    assert sum(variant["totals"][k] for k in ("kept", "duplicates", "rejected")) == 31


def test_the_typed_table_holds_no_student_ids(tmp_path):
    stages.read_exports(DATA / "cohort", out=tmp_path / "read", settings=SETTINGS)
    tests = io.read_arrow(tmp_path / "read" / "tests.arrow")
    assert "student_id" not in tests.columns
    assert tests["student_key"].astype("str").str.fullmatch("[0-9a-f]{16}").all()
    for part in tmp_path.joinpath("read").iterdir():
        assert b"S1001" not in part.read_bytes()


def test_bad_input_is_reported_by_read_exports_and_nothing_is_written(tmp_path):
    with pytest.raises(InputError) as raised:
        stages.read_exports(DATA / "bad" / "bad_date", out=tmp_path / "read", settings=SETTINGS)
    assert str(raised.value).splitlines()[-1] == (
        f"{DATA}/bad/bad_date/AssessmentResults.csv, line 4, column 'TestStartDate': expected a "
        "date like 9/15/2014, 15-09-2014 or 2014-09-15, alone or with a time like 13:05:00, "
        "found '13/45/2014'"
    )
    assert not (tmp_path / "read").exists()


def test_a_typed_table_that_is_not_one_is_one_line(tmp_path):
    read = tmp_path / "read"
    stages.read_exports(DATA / "minimal", out=read, settings=SETTINGS)
    (read / "tests.arrow").write_bytes(b"not arrow")
    with pytest.raises(InputError, match="tests.arrow: expected an Arrow file written by pl-eval"):
        stages.ingest(read_exports=read, **outputs(tmp_path / "out"), settings=SETTINGS)
