"""Cheap jobs: the pl-eval command imports a library only when the stage that runs uses it."""

import subprocess
import sys

import pytest

#: Libraries that cost a job from 0.1 s to over a second to import.
HEAVY = (
    "pandas",
    "pyarrow",
    "scipy.stats",
    "statsmodels",
    "sklearn",
    "matplotlib",
    "snakemake",
    "pandera",
    "weasyprint",
)


def loaded_after(code: str) -> list[str]:
    """The :data:`HEAVY` modules imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_help_imports_no_heavy_library():
    assert loaded_after("from pl_eval import cli; cli._parser().format_help()") == []


def test_a_stage_process_starts_with_only_the_table_libraries():
    """Before its stage runs, a job has pandas and pyarrow (every stage reads or writes a
    table) and nothing else heavy: modelling, plotting, Snakemake and pandera wait."""
    assert loaded_after("from pl_eval import cli, stages") == ["pandas", "pyarrow"]


def test_version_and_help_still_answer(capsys):
    from pl_eval import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("pl-eval 0.")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "read-exports" in capsys.readouterr().out


def test_a_lazy_module_loads_on_first_use():
    code = (
        "from pl_eval import lazy\nimport sys\n"
        "m = lazy.module('pl_eval.matching')\n"
        "print('pl_eval.matching.api' in sys.modules)\n"
        "m.MatchingError\n"
        "print('pl_eval.matching.api' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True"], done.stderr
