"""Test timing no longer moves the unadjusted estimate (issue 12, defect 1): with z-scores at
each test's instructional week, PL schools that test 30 days further apart than the comparison
schools get the same unadjusted pooled estimate as when they test on the same schedule; at the
seasons' default weeks (``panel.norms_week: default``) the extra weeks show up as growth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.estimation import estimate_effect
from pl_eval.matching import MatchConfig, match_cohort
from pl_eval.simulate import SimulationSettings

CONFIG = io.read_yaml(Path(__file__).parents[2] / "config" / "config.yaml")
#: The shipped match on the pretest without the locale and gender strata, which a cohort of six
#: PL schools (all city but one) cannot fill.
MATCH = MatchConfig.from_config(
    CONFIG["match"] | {"covariates": ["fall_z", "frl_pct"], "exact": ["grade"]}
)
#: A small cohort: 6 PL and 12 comparison schools of about 60 students.
SMALL = dict(
    school_years=("2022-2023",),  # one year: the test is about test dates within a year
    n_treated_schools=6,
    n_treated_charter=4,
    treated_years=(2, 2, 2),
    n_treated_charter_in_districts=1,
    n_treated_rural=1,
    n_comparison_schools=12,
    elementary_size=60.0,
    secondary_size=60.0,
    size_sd=5.0,
)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory) -> dict[int, Path]:
    """The same small cohort ingested with PL schools testing 0 and 30 extra days apart."""
    out = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PL_EVAL_KEY", "week-norms-key16")
        for shift in (0, 30):
            root = tmp_path_factory.mktemp(f"shift_{shift}")
            stages._write_cohort(SimulationSettings(**SMALL, treated_days_shift=shift), root)
            stages.ingest(
                root,
                **{
                    k: root / f"{k}.parquet" for k in ("scores", "duplicates", "rejects", "schools")
                },
                summary=root / "ingest_summary.json",
                settings=CONFIG["ingest"],
            )
            out[shift] = root
    return out


def panel(root: Path, panel_settings: dict) -> pd.DataFrame:
    """The cohort's panel under ``panel_settings``, through the build_panel stage."""
    path = root / f"panel_{panel_settings['norms_week']}.parquet"
    stages.build_panel(
        **{k: root / f"{k}.parquet" for k in ("scores", "rejects", "schools")},
        panel=path,
        exclusions=root / "exclusions.csv",
        settings=panel_settings,
    )
    return io.read_parquet(path)


def timing(cohorts: dict[int, Path], panel_settings: dict, subject: str) -> tuple[float, float]:
    """How far 30 extra days between a PL school's tests move the unadjusted pooled estimate
    and the PL students' mean fall-to-spring growth in z, on one matched sample (the students
    and weights of the match without the shift), so that only the test dates differ."""
    same = panel(cohorts[0], panel_settings)
    matched = match_cohort(same, subject, MATCH).matched
    estimate, growth = [], []
    for shift in (0, 30):
        scores = panel(cohorts[shift], panel_settings).query("subject == @subject")
        sample = matched.drop(columns=["fall_z", "spring_z"]).merge(
            scores[["student_key", "fall_z", "spring_z"]], on="student_key", validate="1:1"
        )
        assert len(sample) == len(matched)
        estimate.append(estimate_effect(sample, "spring_z", "treated", weights="weight").estimate)
        pl = sample[sample["treated"]]
        growth.append((pl["spring_z"] - pl["fall_z"]).mean())
    return estimate[1] - estimate[0], growth[1] - growth[0]


@pytest.mark.parametrize("subject", ["math", "reading"])
def test_test_timing_by_arm_does_not_move_the_unadjusted_estimate(cohorts, subject):
    at_week = CONFIG["panel"]
    assert at_week["norms_week"] == "test_date"  # the shipped setting
    estimate, growth = timing(cohorts, at_week, subject)
    assert abs(estimate) < 0.005 and abs(growth) < 0.005  # two roundings of each RIT
    # at the default weeks the 30 extra days (15 earlier in fall, 15 later in spring) count as
    # growth
    estimate, growth = timing(cohorts, at_week | {"norms_week": "default"}, subject)
    assert growth > 0.01 and estimate > 0.002  # the spring half: 15 days late in the school year
