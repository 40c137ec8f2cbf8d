"""The demo workflow through profiles/slurm on a real Slurm cluster gives the local run's outputs.

A single-node cluster on this machine (tests/slurm/cluster.sh: slurmctld, slurmd, munged and
slurmdbd with MariaDB for sacct) runs every job that snakemake-executor-plugin-slurm submits
with sbatch. The same workflow also runs locally through profiles/default; every output file
must be byte-identical.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
# Opt-in: the cluster needs system packages, which the test suite never installs (.ci/run does,
# and sets this variable). Skipped as a module: one line in the summary.
OPT_IN = "PL_EVAL_SLURM_TESTS"
if os.environ.get(OPT_IN) != "1":
    pytest.skip(
        f"set {OPT_IN}=1 and install slurm-wlm munge slurmdbd mariadb-server (as root: "
        "bash tests/slurm/cluster.sh install) to run the Slurm test",
        allow_module_level=True,
    )

# Exit status of cluster.sh when no cluster can be had here: not root, or Slurm's packages are
# not installed.
UNAVAILABLE = 3
# Snakemake as `make run` starts it.
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The workflow's stages; each must have run as a Slurm job.
STAGES = {"simulate", "ingest", "build_panel", "match", "estimate", "report"}


def cluster(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER), command], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def slurm_conf() -> Iterator[str]:
    """SLURM_CONF of a running cluster: this machine's test cluster, started (and later
    stopped) here unless it is already up."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.fail("snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'")
    started = cluster("status").returncode != 0
    if started:
        done = cluster("start")
        if done.returncode == UNAVAILABLE and not os.environ.get("CI"):
            pytest.skip(f"no Slurm cluster: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr[-3000:]
    conf = cluster("env").stdout.strip().removeprefix("export SLURM_CONF=")
    yield conf
    if started:
        assert cluster("stop").returncode == 0


def start_workflow(
    workdir: Path, profile: str, slurm_conf: str, *args: str, snakemake: list[str]
) -> subprocess.Popen:
    """The workflow in ``workdir`` with profiles/<profile>, run by the ``snakemake`` command;
    its output goes to ``workdir``/snakemake.log."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "PL_EVAL_KEY": "slurm-test-key-1", "SLURM_CONF": slurm_conf}
    with open(workdir / "snakemake.log", "w") as log:
        return subprocess.Popen(
            [*snakemake, "-s", str(ROOT / "Snakefile"),
             "--profile", str(ROOT / "profiles" / profile), *args],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def finish(run: subprocess.Popen, workdir: Path) -> str:
    """Snakemake's output of a run, once it has succeeded."""
    run.wait()
    log = (workdir / "snakemake.log").read_text()
    assert run.returncode == 0, log[-5000:]
    return log


def scratch(tmp_path_factory, name: str) -> Path:
    """A working directory with the shipped config, main analysis only, and the demo's last
    two school years: the sensitivity analyses, and a third year's one-year analysis, spans and
    placebo, run the same rules again and would only make the test slower (two years still
    run a one-year analysis, a span and a placebo)."""
    workdir = tmp_path_factory.mktemp(name)
    shutil.copytree(ROOT / "config", workdir / "config")
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["analyses"] = {"main": config["analyses"]["main"]}
    config["school_years"]["demo"] = config["school_years"]["demo"][-2:]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def digests(workdir: Path) -> dict[str, str]:
    """sha256 of every file under data/processed/ and reports/, by relative path."""
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for top in ("data/processed", "reports")
        for path in sorted((workdir / top).rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def runs(slurm_conf, tmp_path_factory) -> dict:
    """Both runs at once (the Slurm run mostly waits for Slurm and its status checks)."""
    local, on_slurm = scratch(tmp_path_factory, "local"), scratch(tmp_path_factory, "slurm")
    # Status checks 2 s apart, not the profile's 40 s and more: demo jobs are short.
    slurm = start_workflow(
        on_slurm, "slurm", slurm_conf, "--slurm-init-seconds-before-status-checks", "2",
        snakemake=[sys.executable, str(ROOT / "tests" / "slurm" / "snakemake_without_backoff.py")],
    )  # fmt: skip
    try:
        local_run = start_workflow(local, "default", slurm_conf, snakemake=SNAKEMAKE)
        local_log = finish(local_run, local)
        slurm_log = finish(slurm, on_slurm)
    finally:
        if slurm.poll() is None:  # the local run failed: Snakemake cancels its jobs on SIGTERM
            slurm.terminate()
            slurm.wait()
    return {"local": local, "slurm": on_slurm, "local_log": local_log, "slurm_log": slurm_log}


def test_slurm_run_writes_the_same_bytes_as_the_local_run(runs):
    local, slurm = digests(runs["local"]), digests(runs["slurm"])
    assert "reports/demo/report.html" in local
    assert any(name.endswith("panel.parquet") for name in local)
    assert sorted(slurm) == sorted(local)
    differing = sorted(name for name in local if slurm[name] != local[name])
    assert differing == []


def test_every_job_ran_as_a_completed_slurm_job_with_its_rules_resources(runs, slurm_conf):
    log = runs["slurm_log"]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    accounting = subprocess.run(
        ["sacct", "--noheader", "--parsable2", "--allocations", "--units=M", "--name", run_id,
         "--starttime", "now-1days", "--format=JobIDRaw,State,Comment,ReqMem,TimelimitRaw,ReqCPUS"],
        capture_output=True, text=True, check=True, env={**os.environ, "SLURM_CONF": slurm_conf},
    ).stdout.split()  # fmt: skip
    jobs = {fields[0]: fields[1:] for fields in (row.split("|") for row in accounting)}
    assert sorted(jobs) == sorted(submitted)
    assert {state for state, *_ in jobs.values()} == {"COMPLETED"}
    # The plugin's comment is rule_<rule>[_wildcards_<values>].
    rules = {
        job: re.match(r"rule_(.+?)(_wildcards_.*)?$", j[1]).group(1) for job, j in jobs.items()
    }
    assert set(rules.values()) >= STAGES
    # The two school years' one-year analysis, span and placebo, each a job of its own.
    analysed = sorted(
        j[1].split("_wildcards_")[1] for job, j in jobs.items() if rules[job] == "year_analysis"
    )
    assert analysed == ["demo@2021-2022", "demo@2021-2023", "demo@placebo-2021-2022"]
    # Every rule of the local run went through Slurm, but those Snakemake runs itself (`all`).
    local_rules = set(re.findall(r"^localrule (\w+):", runs["local_log"], re.M))
    kept_local = set(re.findall(r"^localrule (\w+):", log, re.M))
    assert set(rules.values()) == local_rules - kept_local
    # Each job asked Slurm for its rule's memory, time and cores from the profile.
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    for job, (_, _, memory, minutes, cpus) in jobs.items():
        wanted = {**profile["default-resources"], **profile["set-resources"].get(rules[job], {})}
        assert (memory, minutes, cpus) == (
            f"{wanted['mem_mb']}M",
            str(wanted["runtime"]),
            str(wanted["cpus_per_task"]),
        ), rules[job]
