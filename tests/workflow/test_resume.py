"""A run killed with SIGKILL is picked up by plain `make run` (workflow/run.py, which the Makefile's
run target calls), with outputs byte-identical to a run that was never killed; and `make run`
never removes the lock of a run that is still going on."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from small_cohort import small_settings

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "workflow" / "run.py"
#: The Makefile's run target, for cohort "small" (the Makefile calls the same script).
MAKE_RUN = ["--profile", str(ROOT / "profiles/default"), "-s", str(ROOT / "Snakefile"),
            "--cores", "2", "--config", "cohorts=[small]"]  # fmt: skip


def test_makefile_run_target_goes_through_the_resuming_script():
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/python workflow/run.py --profile profiles/default" in recipe


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_memory_budget_is_three_quarters_of_the_machine_and_at_least_2800_mb():
    # a MEM_MB of the caller's (its environment, or `make test MEM_MB=...` via MAKEFLAGS) is
    # not the default
    env = {k: v for k, v in os.environ.items() if k not in ("MEM_MB", "MAKEFLAGS", "MFLAGS")}

    def budget(*args: str) -> int:
        shown = subprocess.run(
            ["make", "-s", "-n", "-C", str(ROOT), "run", *args],
            capture_output=True, text=True, check=True, env=env,
        ).stdout  # fmt: skip
        return int(re.search(r"--resources mem_mb=(\d+)", shown).group(1))

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # bytes
    assert budget() == max(2800, total * 3 // 4 // 2**20)
    assert budget("MEM_MB=2800") == 2800
    assert budget("PYTHON=/nonexistent/python3") == 2800  # no Python to ask: the floor


def make_run(workdir: Path, *args: str, **popen) -> subprocess.Popen:
    """`make run` in ``workdir``, in a process group of its own (to be killed whole)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PL_EVAL_KEY": "resume-test-key1", "PATH": path}
    return subprocess.Popen(
        [sys.executable, str(RUN), *MAKE_RUN, *args], cwd=workdir, env=env,
        start_new_session=True, text=True, **popen,
    )  # fmt: skip


def digests(workdir: Path) -> dict[str, str]:
    """sha256 of every file under data/processed/ and reports/ (temporaries too), by path."""
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for top in ("data/processed", "reports")
        for path in sorted((workdir / top).rglob("*"))
        if path.is_file()
    }


def small_cohort(workdir: Path) -> None:
    """A simulated cohort, smaller than demo, as a folder of exports; main analysis only."""
    from pl_eval import stages

    stages._write_cohort(small_settings(), workdir / "data/raw/small")
    shutil.copytree(ROOT / "config", workdir / "config")
    path = workdir / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["analyses"] = {"main": config["analyses"]["main"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def running_jobs(workdir: Path, rules: tuple[str, ...]) -> list[str]:
    """The ``pl-eval <rule>`` jobs running in ``workdir``."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = process.info["cmdline"] or []
        names = [Path(arg).name for arg in cmdline[:3]]
        if process.info["cwd"] == str(workdir) and "pl-eval" in names:
            found += [arg for arg in cmdline if arg in rules]
    return found


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def cut_short(workdir: Path) -> bool:
    """Whether a match job in ``workdir`` has written some of its outputs and is still running."""
    main = workdir / "data/processed/small/main"
    written = main.is_dir() and any(p.is_file() for p in main.rglob("*"))
    return written and "match" in running_jobs(workdir, ("match",))


@pytest.mark.workflow
def test_killed_run_resumes_with_plain_make_run_and_writes_the_same_bytes(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    small_cohort(clean)
    shutil.copytree(clean, killed)
    started: list[subprocess.Popen] = []
    try:
        # The run that is never killed, alongside (it mostly waits on one-core jobs).
        with open(tmp_path / "clean.log", "w") as log:
            started.append(reference := make_run(clean, stdout=log, stderr=subprocess.STDOUT))
        started.append(
            first := make_run(killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        wait_for(lambda: cut_short(killed), 600, "a match job half done")
        os.killpg(first.pid, signal.SIGKILL)  # Snakemake and its jobs, as a kill -9 of make
        first.wait()
        assert list((killed / ".snakemake/locks").glob("*.lock"))  # left behind by the kill

        started.append(again := make_run(killed, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        # Meanwhile, a second `make run` in the same folder refuses, and leaves the first alone.
        wait_for(lambda: "snakemake" in psutil.Process(again.pid).cmdline(), 120, "Snakemake")
        started.append(second := make_run(killed, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        assert second.communicate(timeout=120) == (
            "",
            f"make run: another `make run` is running in {killed}; wait for it to finish (or "
            "stop it) and run again\n",
        )
        assert second.returncode == 1
        out, err = again.communicate(timeout=900)
        assert again.returncode == 0, err[-3000:]
        assert err.startswith(
            "make run: an earlier run was killed; removing its lock and rerunning its unfinished "
            "jobs\n"
        )
        assert reference.wait(timeout=900) == 0, (tmp_path / "clean.log").read_text()[-3000:]
    finally:
        for run in started:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
    resumed, expected = digests(killed), digests(clean)
    assert "reports/small/report.pdf" in expected
    assert sorted(resumed) == sorted(expected)  # no temporary left over, nothing missing
    assert [name for name in expected if resumed[name] != expected[name]] == []


def test_lock_of_a_live_snakemake_is_never_removed(tmp_path):
    """A snakemake started by hand (not through `make run`) holds its lock: make run leaves it
    and says so. Here a stand-in process whose command line is snakemake's, in that folder."""
    locks = tmp_path / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("data/raw/small/schools.csv\n")
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "-m", "snakemake"], cwd=tmp_path
    )
    try:
        done = subprocess.run(
            [sys.executable, str(RUN), *MAKE_RUN], cwd=tmp_path, capture_output=True, text=True,
            check=False, timeout=120,
        )  # fmt: skip
    finally:
        stand_in.kill()
        stand_in.wait()
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"make run: Snakemake (pid {stand_in.pid}) is running in {tmp_path}; wait for it to "
        "finish (or stop it) and run again\n",
    )
    assert (locks / "0.input.lock").read_text() == "data/raw/small/schools.csv\n"
