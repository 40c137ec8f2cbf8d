"""read_exports keeps the memory it frees for its next allocations; other stages give it back."""

import json
import os
import subprocess
import sys

import pytest

from pl_eval.cli import KEEP_FREED_MEMORY

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc and /proc")

#: A stage replaced by a probe: which Arrow allocator it got, and how much of 400 MB that numpy
#: touched and freed the process still holds.
PROBE = """
import json, sys
from pl_eval import cli, stages

def rss_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

def probe(**_):
    import numpy, pyarrow
    before = rss_mb()
    block = numpy.ones(400 << 20, numpy.uint8)
    del block
    pool = pyarrow.default_memory_pool().backend_name
    print(json.dumps({"pool": pool, "kept_mb": rss_mb() - before}))

stage, argv = sys.argv[1], sys.argv[2:]
setattr(stages, stage, probe)
sys.exit(cli.main(argv))
"""
ARGUMENTS = {
    "read_exports": ["read-exports", "raw", "--out", "out"],
    "growth_norms": ["growth-norms", "--panel", "p", "--subjects", "math", "--matched", "m",
                     "--growth-norms", "g"],
}  # fmt: skip


def probed(stage: str, **environment: str) -> dict:
    """The probe's findings, run as ``stage`` in a fresh pl-eval process."""
    env = {k: v for k, v in os.environ.items() if k not in KEEP_FREED_MEMORY} | environment
    done = subprocess.run(
        [sys.executable, "-c", PROBE, stage, *ARGUMENTS[stage]],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_read_exports_keeps_what_it_frees_and_takes_arrow_buffers_from_malloc():
    found = probed("read_exports")
    assert found["pool"] == "system"
    assert found["kept_mb"] > 300, found  # reused by its next allocations, not cleared anew


def test_other_stages_give_freed_memory_back():
    # Jobs that run side by side: what one keeps, the others cannot have.
    found = probed("growth_norms")
    assert found["pool"] != "system"
    assert found["kept_mb"] < 100, found


def test_the_callers_allocator_settings_are_kept():
    found = probed("read_exports", ARROW_DEFAULT_MEMORY_POOL="mimalloc")
    assert found["pool"] == "mimalloc"
