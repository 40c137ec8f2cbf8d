"""`make test` installs no system packages: the Slurm test, whose cluster needs slurm-wlm, munge,
slurmdbd and MariaDB, runs only when PL_EVAL_SLURM_TESTS=1 (CI sets it after installing them);
otherwise it is skipped with one line saying how to run it, and nothing is installed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ("apt-get", "apt", "dpkg", "yum", "dnf")


def test_slurm_test_is_skipped_with_one_line_and_installs_nothing(tmp_path):
    # Package managers that only record that they were called, first on PATH.
    stubs, calls = tmp_path / "bin", tmp_path / "calls"
    stubs.mkdir()
    for name in INSTALLERS:
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit 1\n')
        (stubs / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PL_EVAL_SLURM_TESTS", "CI")}
    env |= {"PATH": f"{stubs}{os.pathsep}{env['PATH']}", "PL_EVAL_SLURM_DIR": str(tmp_path / "s")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         str(ROOT / "tests/workflow/test_slurm.py")],
        capture_output=True, text=True, check=False, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert not calls.exists(), calls.read_text()
    assert done.returncode == 5, done.stdout[-3000:]  # 5: no test ran, none failed
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1
    assert skipped[0].endswith(
        ": set PL_EVAL_SLURM_TESTS=1 and install slurm-wlm munge slurmdbd mariadb-server (as "
        "root: bash tests/slurm/cluster.sh install) to run the Slurm test"
    )


def test_ci_opts_in_after_installing_the_packages():
    script = (ROOT / ".ci/run").read_text()
    install = script.index("bash tests/slurm/cluster.sh install")
    assert install < script.index("export PL_EVAL_SLURM_TESTS=1") < script.index("make test")
