"""The simulator across school years: students move up a grade under the same key, adoption is
staggered, winter tests come from the winter districts only, and every truth in truth.json is
recomputed by hand from the written files (an independent mini-ingest: screen, pair by key)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.norms import Norms
from pl_eval.simulate import SimulationSettings, simulate_cohort

YEARS = ("2020-2021", "2021-2022", "2022-2023")
COURSES = {"Math K-12": "math", "Reading": "reading"}


@pytest.fixture(scope="module")
def norms() -> Norms:
    return Norms.from_frame(io.read_norms_table(), 2020, io.read_norms_week_means())


@pytest.fixture(scope="module")
def settings() -> SimulationSettings:
    return SimulationSettings(n_comparison_schools=30)


@pytest.fixture(scope="module")
def cohort(settings, norms):
    return simulate_cohort(settings, norms)


def _stack(cohort, prefix: str) -> pd.DataFrame:
    """Every export of one kind, with its school year (from the folder) and season."""
    frames = [
        t.assign(year=name.split("/")[0])
        for name, t in cohort.exports.items()
        if name.split("/")[1].startswith(prefix)
    ]
    out = pd.concat(frames, ignore_index=True)
    return out.assign(season=out["TermName"].str.split(" ").str[0])


@pytest.fixture(scope="module")
def rosters(cohort) -> pd.DataFrame:
    r = _stack(cohort, "StudentsBySchool_")
    return r.assign(grade=r["Grade"].replace("K", "0").astype(int))


@pytest.fixture(scope="module")
def valid(cohort, rosters) -> pd.DataFrame:
    """Valid math and reading tests (duration >= 6 min, rapid guessing < 30 %), one per
    student × subject × season × year, with the roster's grade and the school's start year."""
    t = _stack(cohort, "AssessmentResults_")
    t = t[
        t["Course"].isin(list(COURSES))
        & (t["TestDurationMinutes"].astype(int) >= 6)
        & (t["RapidGuessingPercentage"].astype(float) < 30)
    ]
    t = t.drop_duplicates(["year", "season", "DistrictName", "StudentID", "Course"])
    keys = ["year", "season", "DistrictName", "StudentID"]
    t = t.merge(rosters[[*keys, "grade"]], on=keys, how="left", validate="m:1")
    start = cohort.schools.set_index(["district_name", "school_name"])["pl_start_year"]
    at = pd.MultiIndex.from_frame(t[["DistrictName", "SchoolName"]])
    return t.assign(
        subject=t["Course"].map(COURSES),
        start=pd.to_numeric(start.reindex(at).to_numpy()),
        fall_year=t["year"].str[:4].astype(int),
    )


# ------------------------------------------------------------------------ students, schools ---


def test_students_move_up_a_grade_under_the_same_key(rosters, settings):
    first = rosters.drop_duplicates(["year", "DistrictName", "StudentID"])
    facts = ["Student_StateID", "StudentDateOfBirth", "StudentLastName", "StudentFirstName"]
    by_year = {y: first[first["year"] == y].set_index(["DistrictName", "StudentID"]) for y in YEARS}
    for before, after in zip(YEARS, YEARS[1:], strict=False):
        a, b = by_year[before], by_year[after]
        both = a.join(b, how="inner", suffixes=("_a", "_b"))
        # most students stay (leavers ≈ 8 %, grade 12, district movers, full next-level schools)
        assert 0.7 < len(both) / len(a) < 0.92
        assert (both["grade_b"] == both["grade_a"] + 1).all()
        for fact in facts:  # the same person, not a reused ID
            assert (both[f"{fact}_a"] == both[f"{fact}_b"]).all()
        assert not (a.loc[both.index, "grade"] == 12).any()
        # arrivals fill the entry grades mostly
        new = b.loc[~b.index.isin(a.index), "grade"]
        assert new.isin([0, 6, 9]).mean() > 0.5
    # no key comes back after a year away: every student of both years 1 and 3 is in year 2
    one, three = by_year[YEARS[0]].index, by_year[YEARS[2]].index
    assert one.intersection(three).isin(by_year[YEARS[1]].index).all()
    # a key is one person in every year (no ID is reused), and within a district a person has
    # one StudentID (a move to another district gives a new one there)
    assert (first.groupby(["DistrictName", "StudentID"])["Student_StateID"].nunique() == 1).all()
    assert (first.groupby(["DistrictName", "Student_StateID"])["StudentID"].nunique() == 1).all()


def test_elementary_leavers_go_to_a_school_teaching_grade_6(rosters):
    fall = rosters[rosters["season"] == "Fall"]
    # charters' kinds: Elementary Academy, Community Academy K-8, Preparatory Academy (6-8)
    kind = fall["SchoolName"].str.extract(r"(Elementary|K-8|Middle|Preparatory|High)", expand=False)
    kind = kind.replace({"Preparatory": "Middle"})
    fall = fall.assign(kind=kind).set_index(["DistrictName", "StudentID"])
    for before, after in zip(YEARS, YEARS[1:], strict=False):
        a = fall[(fall["year"] == before) & (fall["grade"] == 5) & (fall["kind"] == "Elementary")]
        b = fall[fall["year"] == after]
        moved = a.join(b, how="inner", suffixes=("", "_b"))
        assert len(moved) > 20
        assert moved["kind_b"].isin(["Middle", "K-8"]).all() and (moved["grade_b"] == 6).all()


def test_adoption_is_staggered(cohort, settings):
    start = cohort.schools["pl_start_year"].dropna().astype(int)
    assert start.value_counts().to_dict() == {2022: 17, 2021: 15, 2020: 3, 2019: 3, 2018: 2}
    counts = {y: cohort.truth["years"][y]["counts"]["treated_schools"] for y in YEARS}
    assert counts == {"2020-2021": 8, "2021-2022": 23, "2022-2023": 40}
    assert cohort.truth["school_years"] == list(YEARS)
    # a "3+" school's years of implementation in 2022-2023 are 3, 4 or 5
    by_school = cohort.truth["effects"]["math"]["by_school"].values()
    assert sorted({c["years"] for c in by_school}) == [1, 2, 3, 4, 5]


def test_winter_tests_come_from_the_winter_districts_between_fall_and_spring(cohort):
    tests = _stack(cohort, "AssessmentResults_")
    districts = tests.groupby(["year", "season"])["DistrictName"].agg(set)
    for year in YEARS:
        winter = districts[(year, "Winter")]
        assert winter < districts[(year, "Fall")] and winter == districts[(YEARS[0], "Winter")]
        rows = tests[(tests["year"] == year) & tests["DistrictName"].isin(winter)]
        date = pd.to_datetime(rows["TestStartDate"], format="%m/%d/%Y")
        season = rows["season"]
        assert date[season == "Fall"].max() < date[season == "Winter"].min()
        assert date[season == "Winter"].max() < date[season == "Spring"].min()
        assert (rows.loc[season == "Winter", "TermName"] == f"Winter {year}").all()
        assert rows.loc[season == "Winter", "FallToSpringObservedGrowth"].isna().all()
    n = cohort.truth["counts"]
    assert 0 < n["winter_districts"] < n["districts"]


def test_every_year_keeps_the_realism_of_one_year(cohort, rosters):
    """Retests, invalid tests, movers, missing terms and growth fields, in each year's files."""
    tests = _stack(cohort, "AssessmentResults_")
    for year in YEARS:
        t = tests[tests["year"] == year]
        duration = t["TestDurationMinutes"].astype(int)
        assert 0.008 < (duration < 6).mean() < 0.025
        assert 0.03 < t["GrowthMeasureYN"].eq("FALSE").mean() < 0.08  # retests
        spring = t[(t["season"] == "Spring") & t["Course"].isin(list(COURSES))]
        assert 0.85 < spring["FallToSpringObservedGrowth"].notna().mean() < 0.99
        r = rosters[(rosters["year"] == year) & (rosters["season"] != "Winter")]
        school = r.pivot_table(
            index=["DistrictName", "StudentID"], columns="season", values="SchoolName",
            aggfunc="first",
        )  # fmt: skip
        assert 0.03 < school["Fall"].isna().mean() < 0.08  # no fall test
        assert 0.05 < school["Spring"].isna().mean() < 0.12  # no spring test
        moved = school.dropna()
        assert 0.01 < (moved["Fall"] != moved["Spring"]).mean() < 0.035


# --------------------------------------------------------------------------------- truths ---


def test_each_years_sector_truth_is_the_planted_sector_effect(cohort, settings):
    for year in YEARS:
        effects = cohort.truth["years"][year]["effects"]
        for k, subject in enumerate(("math", "reading")):
            sectors = effects[subject]["by_sector"]
            assert sectors["charter"]["tau"] == pytest.approx(settings.charter_effect[k], abs=1e-6)
            if sectors["district"]["n"]:
                assert sectors["district"]["tau"] == pytest.approx(
                    settings.district_effect[k], abs=1e-6
                )
    assert cohort.truth["effects"] == cohort.truth["years"]["2022-2023"]["effects"]


def test_last_years_crude_adjusted_difference_is_near_its_planted_effect(
    cohort, valid, norms, settings
):
    """Earlier years' effects sit in the PL students' fall z of the last year; adjusting for
    the fall z as a one-year analysis does leaves about that year's planted effect."""
    last = valid[valid["year"] == YEARS[-1]]
    keys = ["DistrictName", "StudentID", "subject"]
    fall, spring = (last[last["season"] == s] for s in ("Fall", "Spring"))
    both = fall.merge(spring, on=keys, suffixes=("_f", "_s"))
    both = both[both["SchoolName_f"] == both["SchoolName_s"]]
    z = {
        term: norms.z_score(
            both[f"TestRITScore_{term}"].astype(int), both["subject"], both["grade_f"],
            [season] * len(both),
        )
        for term, season in (("f", "fall"), ("s", "spring"))
    }  # fmt: skip
    rho = np.where(
        both["subject"] == "math",
        np.asarray(settings.rho_math)[both["grade_f"]],
        np.asarray(settings.rho_reading)[both["grade_f"]],
    )
    both = both.assign(residual=z["s"] - rho * z["f"], pl=both["start_f"] <= 2022)
    for subject in ("math", "reading"):
        rows = both[both["subject"] == subject]
        crude = rows.groupby("pl")["residual"].mean()
        assert crude[True] - crude[False] == pytest.approx(
            cohort.truth["effects"][subject]["pooled"]["tau"], abs=0.03
        )


def test_exposure_groups_are_the_years_with_a_test_at_a_pl_school(cohort, valid):
    """Exposure counted from the files (years with any valid math/reading test at a school PL
    that year, as the panel counts it from scores.parquet) gives the truth's groups and counts
    for the last year's analysable students."""
    pl = valid[valid["start"] <= valid["fall_year"]]
    exposure = pl.groupby(["DistrictName", "StudentID"])["year"].nunique()
    last = valid[valid["year"] == YEARS[-1]]
    fall, spring = (last[last["season"] == s] for s in ("Fall", "Spring"))
    keys = ["DistrictName", "StudentID", "subject"]
    both = fall.merge(spring, on=keys, suffixes=("_f", "_s"))
    both = both[(both["SchoolName_f"] == both["SchoolName_s"]) & (both["start_f"] <= 2022)]
    label = exposure.reindex(pd.MultiIndex.from_frame(both[keys[:2]])).clip(upper=3)
    both = both.assign(group=label.map({1: "1", 2: "2", 3: "3+"}).to_numpy())
    truth = cohort.truth["exposure"][YEARS[-1]]
    for subject in ("math", "reading"):
        counts = both[both["subject"] == subject]["group"].value_counts().to_dict()
        assert counts == {g: cell["n"] for g, cell in truth[subject].items()}
        assert truth[subject]["1"]["tau"] < truth[subject]["2"]["tau"] < truth[subject]["3+"]["tau"]
    assert set(cohort.truth["exposure"][YEARS[0]]["math"]) == {"1", "2", "3+"}
    assert cohort.truth["exposure"][YEARS[0]]["math"]["2"]["n"] == 0  # nobody has 2 years yet


def test_span_truth_is_the_hand_accumulated_effect(norms):
    """All PL schools charters in their own LEAs, PL since 2020, flat multipliers, no gradient,
    no measurement error and no moves within a year: a span student's planted effect is the
    charter effect c each year, carried by the norms' ρ of each later grade:
    c·(1 + ρ_g) over two years, c·(1 + ρ_g + ρ_(g-1)·ρ_g) over three (g the last grade)."""
    s = SimulationSettings(
        n_treated_schools=6,
        n_treated_charter=6,
        n_treated_charter_in_districts=0,
        n_treated_rural=1,
        treated_years=(0, 0, 6),
        early_implementation_years=(3,),
        n_comparison_schools=12,
        elementary_size=80.0,
        secondary_size=80.0,
        size_sd=5.0,
        years_multipliers=(1.0, 1.0, 1.0),
        exposure_multipliers=(1.0, 1.0, 1.0),
        baseline_gradient=0.0,
        measurement_error=False,
        mover_rate=0.0,
    )
    cohort = simulate_cohort(s, norms)
    rosters = _stack(cohort, "StudentsBySchool_")
    rosters = rosters.assign(grade=rosters["Grade"].replace("K", "0").astype(int))
    t = _stack(cohort, "AssessmentResults_")
    t = t[
        t["Course"].isin(list(COURSES))
        & (t["TestDurationMinutes"].astype(int) >= 6)
        & (t["RapidGuessingPercentage"].astype(float) < 30)
    ].drop_duplicates(["year", "season", "DistrictName", "StudentID", "Course"])
    keys = ["year", "season", "DistrictName", "StudentID"]
    t = t.merge(rosters[[*keys, "grade"]], on=keys, validate="m:1")
    pl = set(cohort.schools.dropna(subset=["pl_start_year"])["school_name"])
    assert (cohort.schools["pl_start_year"].dropna() == "2020").all()
    for (first, last), span in (
        ((0, 1), "2020-2022"),
        ((1, 2), "2021-2023"),
        ((0, 2), "2020-2023"),
    ):
        fall = t[(t["year"] == YEARS[first]) & (t["season"] == "Fall") & t["SchoolName"].isin(pl)]
        spring = t[(t["year"] == YEARS[last]) & (t["season"] == "Spring")]
        both = fall.merge(spring, on=["DistrictName", "StudentID", "Course"], suffixes=("", "_s"))
        assert both["SchoolName_s"].isin(pl).all()  # PL students stay in PL schools
        for k, subject in enumerate(("math", "reading")):
            rows = both[both["Course"].map(COURSES) == subject]
            rho = np.asarray(s.rho_math if k == 0 else s.rho_reading)
            g = rows["grade_s"].to_numpy()
            carried = rho[g] if last - first == 1 else rho[g] + rho[g - 1] * rho[g]
            expected = s.charter_effect[k] * (1 + carried)
            cell = cohort.truth["spans"][span][subject]["pooled"]
            assert cell["n"] == len(rows) > 50
            assert cell["tau"] == pytest.approx(expected.mean(), abs=1e-6)
    # one-year truths in such a cohort are the charter effect itself
    assert cohort.truth["years"]["2021-2022"]["effects"]["math"]["pooled"]["tau"] == pytest.approx(
        s.charter_effect[0]
    )


def test_placebo_truth_is_zero_and_records_the_planted_selection(cohort, settings):
    placebo = cohort.truth["placebo"]
    assert list(placebo) == ["2020-2021", "2021-2022"]  # next years have new adopters
    assert placebo["2020-2021"]["schools"] == 15 and placebo["2021-2022"]["schools"] == 17
    for cell in placebo.values():
        assert cell["selection"] == 0.0 and cell["math"]["pooled"]["tau"] == 0.0
        assert cell["math"]["pooled"]["n"] > 1000


def test_selection_variant_changes_only_the_pre_adoption_growth_of_adopters(norms):
    base = SimulationSettings(n_comparison_schools=12)
    plain = simulate_cohort(base, norms)
    selected = simulate_cohort(replace(base, pre_adoption_selection=0.3), norms)
    assert selected.truth["placebo"]["2020-2021"]["selection"] == 0.3

    def first_year(cohort) -> pd.DataFrame:
        t = _stack(cohort, "AssessmentResults_")
        t = t[(t["year"] == YEARS[0]) & t["GrowthMeasureYN"].eq("TRUE")]
        return t.set_index(["season", "DistrictName", "StudentID", "Course", "SchoolName"])

    a, b = first_year(plain), first_year(selected)
    assert a.index.equals(b.index)  # the same tests
    shift = b["TestRITScore"].astype(int) - a["TestRITScore"].astype(int)
    start = plain.schools.set_index(["district_name", "school_name"])["pl_start_year"]
    at = a.index.droplevel(["season", "StudentID", "Course"])
    adopter = start.reindex(at).isin(["2021", "2022"]).to_numpy()
    season = a.index.get_level_values("season")
    spring = season == "Spring"
    assert (shift[season == "Fall"] == 0).all()  # fall is the same everywhere
    assert (shift[spring & ~adopter] == 0).mean() > 0.97  # others: only movers' halves
    moved = shift[spring & adopter]
    assert 2.5 < moved.mean() < 5.5  # ≈ 0.3 SD of spring RIT (σ ≈ 12-18)
    # planted effects are the same: the one-year truths of the first year do not move
    assert plain.truth["years"][YEARS[0]] == selected.truth["years"][YEARS[0]]


def test_same_seed_writes_byte_identical_files(tmp_path):
    s = SimulationSettings(
        n_treated_schools=6,
        n_treated_charter=4,
        treated_years=(2, 2, 2),
        n_treated_charter_in_districts=1,
        n_treated_rural=1,
        n_comparison_schools=6,
        elementary_size=40.0,
        secondary_size=40.0,
        size_sd=5.0,
    )
    for run in ("a", "b"):
        stages._write_cohort(s, tmp_path / run)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert {f.parts[0] for f in files} == {"exports", "schools.csv", "truth.json"}
    assert {f.parts[1] for f in files if f.parts[0] == "exports"} == set(YEARS)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = tmp_path / "c"
    stages._write_cohort(replace(s, seed=7), other)
    assert (other / "truth.json").read_bytes() != (tmp_path / "a" / "truth.json").read_bytes()


def test_cli_simulates_the_listed_school_years_or_says_why_not(tmp_path, capsys):
    from pl_eval import cli

    argv = ["simulate", str(tmp_path / "one"), "--size", "demo", "--school-years", "2021-2022"]
    assert cli.main(argv) == 0
    assert [p.name for p in (tmp_path / "one/exports").iterdir()] == ["2021-2022"]
    truth = io.read_json(tmp_path / "one/truth.json")
    assert truth["school_years"] == ["2021-2022"] and truth["school_year"] == "2021-2022"
    capsys.readouterr()
    bad = ["simulate", str(tmp_path / "bad"), "--size", "demo", "--school-years"]
    assert cli.main([*bad, "2020-2021", "2022-2023"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "pl-eval simulate: error: simulate settings: school_years: expected consecutive years, "
        "found ['2020-2021', '2022-2023']"
    ]
    assert not (tmp_path / "bad").exists()
