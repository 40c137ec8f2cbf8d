"""make test's file order: the long files (workflow, property) first, the rest as xdist has it."""

from __future__ import annotations

from suite_order import long_files_first


def test_long_files_go_first_and_each_group_keeps_its_order():
    xdist_order = [
        "tests/unit/test_estimation_models.py",  # most tests
        "tests/workflow/test_workflow.py",
        "tests/stages/test_ingest_stage.py",
        "tests/workflow/test_resume.py",
        "tests/unit/test_bench_peers.py",
        "tests/property/test_odd_cohorts.py",  # one test: last in xdist's order
    ]
    assert long_files_first(xdist_order) == [
        "tests/workflow/test_workflow.py",
        "tests/workflow/test_resume.py",
        "tests/property/test_odd_cohorts.py",
        "tests/unit/test_estimation_models.py",
        "tests/stages/test_ingest_stage.py",
        "tests/unit/test_bench_peers.py",
    ]
