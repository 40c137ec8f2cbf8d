"""The Snakemake workflow end to end on the demo cohort, in a scratch working directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

OUTPUTS = [
    "scores.parquet",
    "duplicates.parquet",
    "rejects.parquet",
    "schools.parquet",
    "ingest_summary.json",
    "panel.parquet",
    "exclusions.csv",
    "matched_math.parquet",
    "pairs_reading.parquet",
    "balance_math.csv",
    "estimates.parquet",
    "estimates.csv",
    "breakout_tests.csv",
    "trajectory.csv",
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    # Rules call `pl-eval` from PATH, as `make run` arranges: the one installed beside this Python.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PL_EVAL_KEY": "workflow-test-k1", "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
         "--cores", "2", *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def text_values(node):
    """Every string in a JSON document (keys and values); counts are not identifiers."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from text_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from text_values(value)
    elif isinstance(node, str):
        yield node


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    shutil.copytree(ROOT / "config", workdir / "config")
    done = snakemake(workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_demo_run_writes_every_output(demo_run):
    processed = demo_run / "data/processed/demo"
    for name in OUTPUTS:
        assert (processed / name).stat().st_size > 0, name
    panel = pd.read_parquet(processed / "panel.parquet")
    assert set(panel["subject"]) == {"math", "reading"}
    assert panel.groupby("subject")["treated"].sum().min() > 1000
    assert (demo_run / "logs/demo/ingest.log").exists()


def test_rerun_is_byte_identical_and_unchanged_config_reruns_nothing(demo_run):
    processed = demo_run / "data/processed/demo"
    before = digests(processed)
    dry = snakemake(demo_run, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    again = snakemake(demo_run, "--forcerun", "ingest")
    assert again.returncode == 0, again.stderr[-3000:]
    assert digests(processed) == before


def test_no_student_identifiers_leave_ingest(demo_run):
    raw = demo_run / "data/raw/demo/exports"
    roster = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(raw.glob("StudentsBySchool*"))[:3])
    secrets = set(roster["StudentLastName"]) | set(roster["StudentDateOfBirth"])
    ids = set(roster["StudentID"]) | set(roster["Student_StateID"].dropna())
    for name in OUTPUTS:
        path = demo_run / "data/processed/demo" / name
        if path.suffix == ".json":
            values = set(text_values(json.loads(path.read_text())))
        else:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
            assert not {c.lower() for c in frame.columns} & {"studentid", "studentlastname"}
            text = frame.select_dtypes(exclude=["number", "bool", "datetime"])
            values = set(text.astype(str).to_numpy().ravel())
        assert not values & secrets, name
        assert not values & ids, name


def test_bad_input_stops_with_one_line_and_no_outputs(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    raw = tmp_path / "data/raw/broken"
    raw.mkdir(parents=True)
    (raw / "AssessmentResults_fall.csv").write_text(
        "TermName,DistrictName,SchoolName,StudentID,MeasurementScale,TestStartDate,"
        "TestRITScore,TestStandardError\n"
        "Fall 2014-2015,D1,S1,1,Mathematics,09/15/2014,abc,3.1\n"
    )
    (raw / "schools.csv").write_text(
        "district_name,school_name,sector,pl_start_year,frl_pct,locale\nD1,S1,charter,2014,80,11\n"
    )
    done = snakemake(tmp_path, "--config", "cohort=broken")
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert "AssessmentResults_fall.csv, line 2, column 'TestRITScore'" in done.stdout + done.stderr
    assert not (tmp_path / "data/processed/broken/scores.parquet").exists()


def test_misspelt_config_key_is_named(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    done = snakemake(tmp_path, "-n", "--config", "cohrt=demo")
    assert done.returncode != 0
    assert "cohrt: unknown key; did you mean 'cohort'?" in done.stdout + done.stderr


def test_demo_estimates_recover_the_planted_truth(demo_run):
    estimates = pd.read_parquet(demo_run / "data/processed/demo/estimates.parquet")
    truth = json.loads((demo_run / "data/raw/demo/truth.json").read_text())["effects"]
    for subject in ("math", "reading"):
        rows = estimates[estimates["subject"] == subject]
        pooled = rows[rows["scope"] == "pooled"].iloc[0]
        planted = truth[subject]["pooled"]["tau"]
        assert pooled["ci_low"] < planted < pooled["ci_high"], (subject, pooled, planted)
        for scope, key in (("sector", "by_sector"), ("years", "by_years")):
            for group, cell in truth[subject][key].items():
                row = rows[(rows["scope"] == scope) & (rows["group"] == group)].iloc[0]
                # close: within three standard errors of the group's planted effect
                assert abs(row["estimate"] - cell["tau"]) < 3 * row["se"], (subject, scope, group)
    math = estimates[(estimates["subject"] == "math") & (estimates["scope"] == "pooled")]
    assert 2 < math["percentile_points"].item() < 5  # RAND's headline: about +3 points in math


def test_validate_smoke_reports_bias_and_coverage(tmp_path):
    out = tmp_path / "validation"
    env = {**os.environ, "PL_EVAL_KEY": "validate-test-k1"}
    done = subprocess.run(
        [sys.executable, "-m", "pl_eval", "validate", str(out), "--reps", "10",
         "--comparison-schools", "60", "--config", str(ROOT / "config/config.yaml")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out / "validation.csv").set_index(["subject", "scope"])
    assert set(table.index.get_level_values("scope")) == {"pooled", "sector", "years", "school"}
    pooled = table.xs("pooled", level="scope")
    assert (pooled["n_estimates"] == 10).all()
    assert (pooled["bias"].abs() < 0.04).all()  # a broken estimator misses by ~0.09 (the effect)
    assert (pooled["coverage"] >= 0.7).all()
    assert table["coverage"].between(0, 1).all()


def test_two_year_span_runs_match_and_estimate_afresh(demo_run):
    # A later cohort of the same students (same seed: same districts, IDs and keys), 2023-2024.
    from dataclasses import replace

    from pl_eval import simulate, stages

    settings = replace(simulate.SimulationSettings.preset("demo"), school_year="2023-2024")
    stages._write_cohort(settings, demo_run / "data/raw/next")
    span = '[{"name": "demo-2yr", "fall_cohort": "demo", "spring_cohort": "next"}]'
    done = snakemake(demo_run, "--config", f"spans={span}")
    assert done.returncode == 0, done.stderr[-3000:]
    out = demo_run / "data/processed/demo-2yr"
    panel = pd.read_parquet(out / "panel.parquet")
    demo_panel = pd.read_parquet(demo_run / "data/processed/demo/panel.parquet")
    # The same students at the same schools pair across the two years.
    assert len(panel) == pytest.approx(len(demo_panel), rel=0.02)
    assert (panel["spring_date"].dt.year == 2024).all() and (
        panel["fall_date"].dt.year == 2022
    ).all()
    estimates = pd.read_parquet(out / "estimates.parquet")
    assert set(estimates["scope"]) >= {"pooled", "school", "sector", "years"}
    assert (out / "matched_math.parquet").exists()
