"""A tour through the common mistakes, each through the entry point a person meets it at (the
``pl-eval`` command, the config check the Snakefile runs): each ends in one sentence that says
what to change, exit status 1 and no traceback."""

import copy
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io
from pl_eval.cli import main
from pl_eval.config import check_config, check_workflow_config
from pl_eval.errors import ConfigError
from pl_eval.panel import PANEL_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = io.read_yaml(ROOT / "config" / "schema.yaml")
CONFIG = io.read_yaml(ROOT / "config" / "config.yaml")
MINIMAL = ROOT / "tests" / "data" / "ingest" / "minimal"
COLUMNS = ", ".join(PANEL_COLUMNS)


def run(capsys, *argv: str) -> tuple[int, list[str]]:
    status = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err.splitlines()


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A working directory with data/raw/demo and data/raw/national, as after `make run`."""
    for name in ("demo", "national"):
        (tmp_path / "data" / "raw" / name).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_wrong_cohort_name(workspace, capsys):
    sentence = (
        "cohorts: 'demoo' has no folder data/raw/demoo/; folders there: demo, national "
        "(did you mean 'demo'?)"
    )
    config = copy.deepcopy(CONFIG) | {"cohorts": ["demoo"]}  # make run COHORT=demoo
    with pytest.raises(SystemExit) as stopped:
        check_workflow_config(config, SCHEMA)
    assert str(stopped.value.code) == sentence

    status, lines = run(capsys, "check-inputs", "demoo")
    assert (status, lines) == (
        1,
        [
            "pl-eval check-inputs: error: cohort 'demoo' has no folder data/raw/demoo/; folders "
            "there: demo, national (did you mean 'demo'?)"
        ],
    )


def test_misspelt_config_key(tmp_path, capsys):
    config = copy.deepcopy(CONFIG)
    config["analyses"] = {"main": {}, "vcg": {"match": {"methd": "vcg"}}}
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA)
    assert str(caught.value) == (
        "config/config.yaml: analyses.vcg.match.methd: unknown key; did you mean 'method'?"
    )

    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "schema.yaml", tmp_path / "config" / "schema.yaml")
    io.write_json(config, tmp_path / "config" / "config.yaml")
    status, lines = run(
        capsys, "check-inputs", str(MINIMAL), "--config", str(tmp_path / "config" / "config.yaml")
    )
    assert (status, lines) == (
        1,
        [
            f"pl-eval check-inputs: error: {tmp_path}/config/config.yaml: "
            "analyses.vcg.match.methd: unknown key; did you mean 'method'?"
        ],
    )


def test_schools_csv_missing_a_treated_school(tmp_path, capsys):
    raw = tmp_path / "2014-2015"
    shutil.copytree(MINIMAL, raw)
    (raw / "schools.csv").write_text(
        "district_name,school_name,nces_id,sector,pl_start_year,frl_pct,locale\n"
        "Riverside USD,Jefferson Middle,,district,,62,21\n"
    )
    status, lines = run(capsys, "check-inputs", str(raw))
    assert (status, lines) == (
        1,
        [
            f"pl-eval check-inputs: error: {raw}/schools.csv: no row for school "
            "'Lincoln Elementary' of district 'Riverside USD', where the exports test 2 students "
            "in fall or spring 2014-2015 (first at AssessmentResults.csv, line 2); add one with "
            "its sector, pl_start_year, frl_pct and locale",
            "pl-eval check-inputs: error: 1 problem; the folder is not ready",
        ],
    )


def test_covariate_not_in_the_panel(tmp_path, capsys):
    sentence = (
        f"match.covariates: 'frl' is not a panel column; did you mean 'frl_pct'? panel columns: "
        f"{COLUMNS}"
    )
    config = copy.deepcopy(CONFIG)
    config["match"]["covariates"] = ["fall_z", "frl"]
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA)
    assert str(caught.value) == f"config/config.yaml: {sentence}"

    panel = pd.DataFrame({name: [1.0] for name in PANEL_COLUMNS})
    io.write_parquet(panel, tmp_path / "panel.parquet")
    outputs = ("matched", "pairs", "propensity", "balance", "summary", "love-plot", "overlap-plot")
    status, lines = run(
        capsys,
        "match",
        "--panel", str(tmp_path / "panel.parquet"),
        "--subject", "math",
        *[arg for name in outputs for arg in (f"--{name}", str(tmp_path / "out" / name))],
        "--settings", json.dumps({"covariates": ["fall_z", "frl"]}),
    )  # fmt: skip
    assert (status, lines) == (1, [f"pl-eval match: error: {sentence}"])
    assert not (tmp_path / "out").exists()

    io.write_parquet(panel.assign(weight=1.0, distance=0.0), tmp_path / "matched.parquet")
    io.write_parquet(pd.DataFrame({"treated_key": ["a"]}), tmp_path / "pairs.parquet")
    status, lines = run(
        capsys,
        "estimate",
        "--subjects", "math",
        "--matched", str(tmp_path / "matched.parquet"),
        "--pairs", str(tmp_path / "pairs.parquet"),
        *[arg for name in ("estimates", "breakout-tests", "trajectory")
          for arg in (f"--{name}", str(tmp_path / "out" / name))],
        "--settings", json.dumps({"covariates": ["fall_z", "frl_pc"]}),
    )  # fmt: skip
    assert (status, lines) == (
        1,
        [
            "pl-eval estimate: error: estimate.covariates: 'frl_pc' is not a panel column; did "
            f"you mean 'frl_pct'? panel columns: {COLUMNS}, weight, distance"
        ],
    )
