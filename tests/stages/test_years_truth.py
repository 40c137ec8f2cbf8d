"""The planted truth of a three-year simulated cohort recovered by the years analyses: every
span's pooled effect and every exposure group's within its 95% interval, the placebo's
interval covering zero, and the placebo flagging a simulation that plants selection on
pre-adoption growth (``pre_adoption_selection``).

Reduced simulations (100 comparison schools, as ``pl-eval validate``) run through the stage
functions the workflow runs, with the shipped config's main analysis; one seed each, so the
test is deterministic (its coverage over seeds is what ``validate`` measures).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.config import analysis_section
from pl_eval.simulate import SimulationSettings
from pl_eval.years import parse_analysis

ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = ["math", "reading"]
SPANS = ["2020-2022", "2021-2023", "2020-2023"]
PLACEBOS = ["2020-2021", "2021-2022"]


def _config() -> dict:
    return stages._load_config(ROOT / "config" / "config.yaml")


def _ingest(settings: SimulationSettings, folder: Path) -> tuple[dict, Path]:
    raw, out = folder / "raw", folder / "processed"
    stages._write_cohort(settings, raw)
    stages.ingest(
        raw,
        **{k: out / f"{k}.parquet" for k in ("scores", "duplicates", "rejects", "schools")},
        summary=out / "ingest_summary.json",
        settings=_config()["ingest"],
    )
    return io.read_json(raw / "truth.json"), out


def _estimate(out: Path, name: str, *, fall: str, spring: str, placebo: bool = False):
    """One analysis's main chain (panel, match per subject, estimate): its estimates."""
    config = _config()
    here = out / name
    stages.build_panel(
        **{k: out / f"{k}.parquet" for k in ("scores", "rejects", "schools")},
        panel=here / "panel.parquet", exclusions=here / "exclusions.csv",
        settings=config["panel"], school_year=fall, spring_year=spring, placebo=placebo,
    )  # fmt: skip
    for subject in SUBJECTS:
        stages.match(
            panel=here / "panel.parquet", subject=subject,
            settings=analysis_section(config, "main", "match"),
            **{k: here / f"{k}_{subject}.{ext}" for k, ext in (
                ("matched", "parquet"), ("pairs", "parquet"), ("propensity", "parquet"),
                ("balance", "csv"), ("summary", "json"))},
            love_plot=None, overlap_plot=None,  # figures nobody here reads are not drawn
        )  # fmt: skip
    stages.estimate(
        subjects=SUBJECTS,
        matched=[here / f"matched_{s}.parquet" for s in SUBJECTS],
        pairs=[here / f"pairs_{s}.parquet" for s in SUBJECTS],
        estimates=here / "estimates.parquet", breakout_tests=here / "tests.parquet",
        trajectory=here / "trajectory.parquet",
        settings=analysis_section(config, "main", "estimate"),
    )  # fmt: skip
    return io.read_parquet(here / "estimates.parquet")


def _settings(**changes) -> SimulationSettings:
    return replace(SimulationSettings.preset("demo", 20141), n_comparison_schools=100, **changes)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The reduced demo's truth and the estimates of its main year, spans and placebos."""
    truth, out = _ingest(_settings(), tmp_path_factory.mktemp("years_truth"))
    runs = {"main": _estimate(out, "main", fall="2022-2023", spring="2022-2023")}
    for label in SPANS:
        analysis = parse_analysis(f"demo@{label}")
        runs[label] = _estimate(out, label, fall=analysis.fall, spring=analysis.spring)
    for year in PLACEBOS:
        runs[f"placebo {year}"] = _estimate(out, f"p{year}", fall=year, spring=year, placebo=True)
    return truth, runs


def _pooled(estimates: pd.DataFrame, subject: str) -> pd.Series:
    rows = estimates[(estimates["scope"] == "pooled") & (estimates["subject"] == subject)]
    return rows.iloc[0]


@pytest.mark.parametrize("label", SPANS)
def test_each_span_recovers_its_planted_effect(demo, label):
    truth, runs = demo
    for subject in SUBJECTS:
        tau = truth["spans"][label][subject]["pooled"]["tau"]
        row = _pooled(runs[label], subject)
        assert row["ci_low"] < tau < row["ci_high"], (label, subject, tau, row["estimate"])


def test_longer_spans_accumulate_more_effect(demo):
    truth, runs = demo
    for subject in SUBJECTS:
        planted = [truth["spans"][label][subject]["pooled"]["tau"] for label in SPANS]
        found = [_pooled(runs[label], subject)["estimate"] for label in SPANS]
        assert planted[2] > max(planted[:2]) and found[2] > min(found[:2])


def test_each_exposure_group_recovers_its_planted_effect(demo):
    truth, runs = demo
    estimates = runs["main"]
    for subject in SUBJECTS:
        groups = estimates[(estimates["scope"] == "exposure") & (estimates["subject"] == subject)]
        assert list(groups["group"]) == ["1", "2", "3+"]
        for row in groups.itertuples():
            tau = truth["exposure"]["2022-2023"][subject][row.group]["tau"]
            assert row.ci_low < tau < row.ci_high, (subject, row.group, tau, row.estimate)


@pytest.mark.parametrize("year", PLACEBOS)
def test_placebo_interval_covers_zero_when_nothing_is_planted(demo, year):
    truth, runs = demo
    assert truth["placebo"][year]["selection"] == 0.0
    for subject in SUBJECTS:
        row = _pooled(runs[f"placebo {year}"], subject)
        assert row["n_treated"] > 0 and row["ci_low"] < 0 < row["ci_high"], (year, subject)


def test_placebo_flags_selection_on_pre_adoption_growth(tmp_path):
    selection = 0.3
    truth, out = _ingest(_settings(pre_adoption_selection=selection), tmp_path)
    assert truth["placebo"]["2021-2022"]["selection"] == selection
    estimates = _estimate(out, "placebo", fall="2021-2022", spring="2021-2022", placebo=True)
    for subject in SUBJECTS:
        row = _pooled(estimates, subject)
        assert row["ci_low"] > 0, (subject, row["estimate"], row["ci_low"])
        assert row["ci_low"] < selection < row["ci_high"]
