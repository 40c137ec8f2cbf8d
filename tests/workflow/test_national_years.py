"""The simulated national cohort runs as the three-year study it is simulated as, like the demo:
a Snakemake dry run in a scratch directory (nothing is simulated or read) plans its main
analysis of 2022-2023 beside the one-year analyses of the two earlier years, the three spans
and the two placebos, and simulates the three years; also when ``school_years`` does not list
it (a simulated cohort is analysed in the years the simulate rule writes for it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

YEARS = ["2020-2021", "2021-2022", "2022-2023"]
#: build_panel's cohort wildcards: main (2022-2023) and its re-ingested no_rapid_guessing_screen
#: variant; year_analysis's (panel, match and estimate in one job): the other years, the spans
#: and the placebos.
PANELS = {"national", "national~no_rapid_guessing_screen"}
YEAR_ANALYSES = {
    "national@2020-2021",
    "national@2021-2022",
    "national@2020-2022",
    "national@2021-2023",
    "national@2020-2023",
    "national@placebo-2020-2021",
    "national@placebo-2021-2022",
}


def dry_run(workdir: Path) -> str:
    """A dry run of the national cohort with its shell commands (stdout and stderr)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
         "--cores", "2", "-n", "-p", "--config", "cohorts=[national]"],
        capture_output=True, text=True, check=False, env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def rule_wildcards(output: str, rule: str) -> set[str]:
    """The cohort wildcard of every job of ``rule`` a dry run plans."""
    jobs = output.split(f"rule {rule}:")[1:]
    return {re.search(r"wildcards: cohort=(\S+)", job)[1] for job in jobs}


@pytest.mark.parametrize("listed", [True, False], ids=["shipped config", "not listed"])
def test_national_runs_its_three_simulated_years(tmp_path, listed):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    config_file = tmp_path / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    assert config["school_years"]["national"] == YEARS  # shipped as a three-year study
    if not listed:
        del config["school_years"]["national"]
        config_file.write_text(yaml.safe_dump(config))
    output = dry_run(tmp_path)
    assert rule_wildcards(output, "build_panel") == PANELS
    assert rule_wildcards(output, "year_analysis") == YEAR_ANALYSES
    main = next(job for job in output.split("rule build_panel:")[1:] if "cohort=national\n" in job)
    assert "--school-year 2022-2023" in main
    assert f"--school-years {' '.join(YEARS)}" in output.split("rule simulate:")[1]
    report = output.split("rule report:")[1].split("rule ")[0]
    assert "--year-analyses national@2020-2021 national@2021-2022 national@2020-2022" in report


def test_the_longest_analyses_start_first_after_the_panels_and_year_analyses(tmp_path):
    """The doubly_robust job (entropy weights keep every comparison student) outranks the vcg
    one, which outranks the propensity matches; all rank below the year analyses and panels."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    output = dry_run(tmp_path)

    def priorities(rule: str) -> dict[str, float]:
        jobs = output.split(f"rule {rule}:")[1:]
        return {
            re.search(r"wildcards: (.*)", job)[1]: float(
                (re.search(r"^\s+priority: (\S+)", job.split("\nrule ")[0], re.M) or [0, 0])[1]
            )
            for job in jobs
        }

    analyses = {w.split("analysis=")[1]: p for w, p in priorities("sensitivity_analysis").items()}
    assert analyses == {
        "doubly_robust": 0.5, "vcg": 0.25,
        "caliper_0.1": 0, "one_to_one": 0, "no_rapid_guessing_screen": 0,
    }  # fmt: skip
    assert set(priorities("year_analysis").values()) == {1}
    assert set(priorities("build_panel").values()) == {2}
