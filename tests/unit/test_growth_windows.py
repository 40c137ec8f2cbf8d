"""Growth windows (config panel.window): which tests pair under each window, the winter test
at the winter norms, the prior spring as a baseline, and the window in the panel's records."""

import pandas as pd
import pyarrow as pa
import pytest
from test_growth_ingest import COHORT, KEY, read

from pl_eval import io, stages
from pl_eval.errors import ConfigError
from pl_eval.estimation.growth_norms import growth_norms
from pl_eval.ingest import pipeline
from pl_eval.norms import Norms
from pl_eval.panel import build_panel
from pl_eval.windows import Window

NORMS = Norms.from_frame(io.read_norms_table(), 2020)
YEAR = "2022-2023"


@pytest.fixture(scope="module")
def ingested() -> pipeline.IngestResult:
    inventory, raw = read(COHORT)
    return pipeline.build(raw, inventory, pipeline.IngestSettings.from_dict({}), KEY)


def panel_of(ingested, window):
    return build_panel(
        ingested.scores.to_pandas(), ingested.schools, NORMS,
        rejects=ingested.rejects.to_pandas(), school_year=YEAR,
        window=window,
    )  # fmt: skip


def flow(panel) -> dict[tuple[str, str], int]:
    ex = panel.exclusions[panel.exclusions["n_students"] > 0]
    return {(r.arm, r.reason): r.n_students for r in ex.itertuples()}


def test_fall_to_spring_pairs_fall_and_spring_with_fall_to_spring_growth(ingested):
    panel = panel_of(ingested, "fall_to_spring")
    data = panel.data.set_index("fall_rit").sort_index()
    assert list(data.index) == [180, 184, 186, 189, 192]  # S6 has no spring test
    assert list(data["spring_rit"]) == [190, 193, 197, 199, 206]
    assert list(data["growth_met"].astype(object)) == [True, pd.NA, False, False, True]
    assert list(data["growth_cgp"].fillna(-1)) == [55, -1, 45, 30, 60]
    assert flow(panel) == {("treated", "paired"): 3, ("comparison", "paired"): 2,
                           ("comparison", "no_spring"): 1}  # fmt: skip
    assert set(panel.exclusions["window"]) == {"fall_to_spring"}


def test_fall_to_winter_pairs_the_winter_test_normed_at_the_winter_norms(ingested):
    panel = panel_of(ingested, "fall_to_winter")
    data = panel.data.set_index("fall_rit").sort_index()
    assert list(data.index) == [186, 189, 191, 192]  # S3, S5 have no winter test
    assert list(data["spring_rit"]) == [193, 195, 197, 200]
    # grade 3 math, 2020 winter norms: mean 196.23, SD 13.63 (nwea_formats.md §2.1)
    assert data.loc[192, "spring_z"] == pytest.approx((200 - 196.23) / 13.63, abs=1e-9)
    assert data.loc[192, "fall_z"] == pytest.approx((192 - 188.48) / 13.46, abs=1e-9)
    assert data.loc[192, "spring_week"] == 20.0
    assert (
        data.loc[192, "days_between"]
        == (pd.Timestamp("2023-01-17") - pd.Timestamp("2022-09-12")).days
    )
    assert list(data["growth_cgp"]) == [45, 35, 51, 52]  # FallToWinter*, from the Combined file
    assert flow(panel) == {("treated", "paired"): 2, ("treated", "no_spring"): 1,
                           ("comparison", "paired"): 2, ("comparison", "no_spring"): 1}  # fmt: skip
    assert set(panel.exclusions["window"]) == {"fall_to_winter"}
    assert panel.summary().startswith("Panel fall to winter 2022-2023 (fall_to_winter, 2020 norms)")


def test_spring_to_spring_takes_the_prior_spring_as_baseline(ingested):
    panel = panel_of(ingested, "spring_to_spring")
    data = panel.data.set_index("fall_rit").sort_index()
    assert list(data.index) == [183, 185, 188, 190]  # spring 2021-2022; S3, S6 have none
    assert list(data["spring_rit"]) == [193, 197, 199, 206]
    # the baseline at grade 2 spring norms (189.42, 13.44), the outcome at grade 3 spring
    assert data.loc[190, "fall_z"] == pytest.approx((190 - 189.42) / 13.44, abs=1e-9)
    assert data.loc[190, "spring_z"] == pytest.approx((206 - 201.08) / 14.09, abs=1e-9)
    assert data.loc[190, "fall_week"] == 32.0
    assert set(data["grade"]) == {3}  # this year's grade, not the baseline's
    assert data.loc[190, "days_between"] == 370
    assert list(data["growth_cgp"]) == [35, 20, 52, 70]  # SpringToSpring*
    assert list(data["treated"]) == [False, True, False, True]
    # S6 has neither spring test: the window's terms never see it
    assert flow(panel) == {("treated", "paired"): 2, ("treated", "no_fall"): 1,
                           ("comparison", "paired"): 2}  # fmt: skip
    assert panel.summary().startswith("Panel spring 2021-2022 to spring 2022-2023")


def test_winter_test_at_its_instructional_week(ingested):
    from pl_eval.norms import SchoolCalendar, instructional_weeks

    panel = build_panel(ingested.scores.to_pandas(), ingested.schools, NORMS, school_year=YEAR,
                        calendar=SchoolCalendar(), window="fall_to_winter")  # fmt: skip
    row = panel.data.set_index("fall_rit").loc[192]
    week = instructional_weeks(pd.Series([pd.Timestamp("2023-01-17")]), "winter")[0]
    assert row["spring_week"] == pytest.approx(week) and 17 < week < 20
    mean, sd = NORMS.at_week(pd.Series(["math"]), pd.Series([3]), [week])
    assert row["spring_z"] == pytest.approx((200 - mean[0]) / sd[0])


def test_window_names_and_terms():
    assert Window.named(None).terms(YEAR) == {"fall": ("fall", YEAR), "spring": ("spring", YEAR)}
    assert Window.named("spring_to_spring").terms(YEAR)["fall"] == ("spring", "2021-2022")
    assert Window.named("fall_to_winter").describe(YEAR) == "fall to winter 2022-2023"
    with pytest.raises(ConfigError, match="panel.window must be one of"):
        Window.named("winter_to_spring")


def test_a_missing_baseline_term_is_one_line_naming_cohort_and_window(tmp_path, ingested):
    scores = ingested.scores.to_pandas()
    later = pa.Table.from_pandas(scores[scores["school_year"] == YEAR], preserve_index=False)
    paths = {name: tmp_path / f"{name}.parquet" for name in ("scores", "rejects", "schools")}
    io.write_parquet_text(later, paths["scores"])
    io.write_parquet_text(ingested.rejects, paths["rejects"])
    io.write_parquet(ingested.schools, paths["schools"])
    out = {"panel": tmp_path / "panel.parquet", "exclusions": tmp_path / "exclusions.csv"}
    with pytest.raises(ConfigError) as error:
        stages.build_panel(**paths, **out, settings={"window": "spring_to_spring"},
                           school_year=YEAR, cohort="maple")  # fmt: skip
    assert str(error.value) == (
        "cohort maple: panel.window spring_to_spring pairs the prior spring test and the "
        "spring test; there is no Spring 2021-2022 test of math or reading (the exports hold "
        "Fall 2022-2023, Winter 2022-2023, Spring 2022-2023)"
    )
    assert not out["panel"].exists()
    stages.build_panel(**paths, **out, settings={"window": "fall_to_winter"}, school_year=YEAR)
    assert set(pd.read_csv(out["exclusions"])["window"]) == {"fall_to_winter"}
    assert len(io.read_parquet(out["panel"])) == 4


def test_panel_without_growth_columns_in_old_scores(ingested):
    scores = ingested.scores.to_pandas()
    old = scores.drop(columns=[c for c in scores if c.startswith("growth_f")])
    panel = build_panel(old, ingested.schools, NORMS, school_year=YEAR)
    assert panel.data["growth_cgp"].isna().all() and len(panel.data) == 5


@pytest.mark.parametrize(
    ("window", "treated", "comparison"),
    [
        # S1 Yes 60, S2 No* 45, S3 Yes* 55 | S4 No 30 (S5 blank: left out)
        ("fall_to_spring", (3, 2 / 3, 160 / 3), (1, 0.0, 30.0)),
        # S1 yes 52, S2 no* 45 | S4 No 35, S6 Yes* 51 (the Combined winter file)
        ("fall_to_winter", (2, 1 / 2, 97 / 2), (2, 1 / 2, 43.0)),
        # S1 Yes 70, S2 No 20 | S4 Yes* 52, S5 No 35
        ("spring_to_spring", (2, 1 / 2, 45.0), (2, 1 / 2, 43.5)),
    ],
)
def test_growth_against_norms_from_the_fixture_exports(ingested, window, treated, comparison):
    data = panel_of(ingested, window).data
    table = growth_norms(data, {"math": data.assign(weight=1.0)}, window)
    rows = table[table["sample"] == "all"].set_index("arm")
    for arm, (n, share, cgp) in (("treated", treated), ("comparison", comparison)):
        assert rows.loc[arm, "n_students"] == n
        assert rows.loc[arm, "share_met"] == pytest.approx(share)
        assert rows.loc[arm, "mean_cgp"] == pytest.approx(cgp)


def test_a_district_without_winter_tests_is_outside_the_fall_to_winter_study(ingested):
    # Birch USD: a copy of Pine Elementary's fall and spring tests (and the fixture's rejects
    # none), with no winter export
    scores = ingested.scores.to_pandas()
    scores = scores.astype({c: object for c in ("district", "school", "student_key")})
    birch = scores[(scores["school"] == "Pine Elementary") & (scores["season"] != "winter")]
    birch = birch.assign(district="Birch USD", school="Birch Elementary",
                         student_key=birch["student_key"] + "b")  # fmt: skip
    both = pd.concat([scores, birch], ignore_index=True)
    pine = ingested.schools.iloc[[1]]
    birch_school = pine.assign(district_name="Birch USD", school_name="Birch Elementary")
    schools = pd.concat([ingested.schools, birch_school], ignore_index=True)
    winter = build_panel(both, schools, NORMS, school_year=YEAR, window="fall_to_winter")
    assert flow(winter) == {
        ("treated", "paired"): 2, ("treated", "no_spring"): 1,
        ("comparison", "paired"): 2, ("comparison", "no_spring"): 1,
    }  # fmt: skip
    assert winter.untested == 3 and "3 student × subject rows of districts" in winter.summary()
    assert winter.lost_students["district"].eq("Maple USD").all()
    spring = build_panel(both, schools, NORMS, school_year=YEAR)  # fall to spring: every district
    assert flow(spring)[("comparison", "paired")] == 4 and spring.untested == 0
