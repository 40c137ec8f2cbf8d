"""``python -m snakemake`` with the Slurm executor's status checks kept at their first interval.

The plugin waits 10 s longer after every status check that finds no job finished (up to 180 s,
fixed in its code): right on a cluster, whose jobs take minutes, but the test's demo jobs take
2-15 s, so each was seen finished 14 s or more after its submission and the Slurm run of the
test took twice the local one (256 against 123 s; test_slurm.py alone 268 s, 195 s with this).
Run with ``--slurm-init-seconds-before-status-checks N``, every check here follows the last by
N s. test_slurm.py runs the Slurm workflow through this file, the local one as `make run` does.
"""

from snakemake.cli import main
from snakemake_executor_plugin_slurm import Executor

# The plugin sets this property after each check; its getter is the interface's own.
backoff = Executor.next_seconds_between_status_checks


def no_backoff(executor: Executor, seconds: float) -> None:
    first = executor.workflow.executor_settings.init_seconds_before_status_checks
    backoff.fset(executor, min(seconds, first))


Executor.next_seconds_between_status_checks = backoff.setter(no_backoff)
main()
