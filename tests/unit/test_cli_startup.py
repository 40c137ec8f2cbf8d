"""Cheap jobs: the pl-eval command imports a library only when the stage that runs uses it."""

import subprocess
import sys

import pytest

#: Libraries that cost a job from 0.1 s to over a second to import.
HEAVY = (
    "pandas",
    "pyarrow",
    "scipy.special",
    "scipy.stats",
    "jsonschema",
    "statsmodels",
    "sklearn",
    "matplotlib",
    "snakemake",
    "pandera",
    "weasyprint",
)


def loaded_after(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Those of ``modules`` that ``code`` imports in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_help_imports_no_heavy_library():
    assert loaded_after("from pl_eval import cli; cli._parser().format_help()") == []


def test_a_stage_process_starts_with_no_heavy_library():
    """Before its stage runs, a job has imported nothing heavy, not even pandas, pyarrow or
    the norms' scipy.special (a do-nothing stage cost 1.95 s, most of it those): each stage
    imports its own when it runs."""
    assert loaded_after("from pl_eval import cli, stages") == []


def test_the_estimation_package_defers_scipy_stats_and_statsmodels():
    """combine_estimates and growth_norms import pl_eval.estimation but fit nothing: scipy.stats,
    scipy.optimize, statsmodels and the matching package (0.6 s of a 1.1 s job) wait until a
    model, test, shrinkage or matched sample uses them."""
    deferred = ("scipy.stats", "scipy.optimize", "statsmodels", "pl_eval.matching")
    code = "import pl_eval.estimation, pl_eval.estimation.growth_norms"
    assert loaded_after(code, deferred) == []


def test_growth_norms_imports_no_model_library():
    """The growth_norms job needs one module of the estimation package, not its models'
    scipy.special and scipy.linalg (its 1.2 s job is now 0.5 s)."""
    deferred = ("scipy.special", "scipy.linalg", "pl_eval.estimation.models")
    assert loaded_after("import pl_eval.estimation.growth_norms", deferred) == []


def test_the_estimation_package_still_offers_every_name():
    from pl_eval import estimation

    assert estimation.summarise_validation.__name__ == "summarise"
    assert estimation.attrition.__name__ == "pl_eval.estimation.attrition"
    assert all(getattr(estimation, name) is not None for name in estimation.__all__)
    with pytest.raises(AttributeError):
        estimation.no_such_name  # noqa: B018


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
        "print('pl_eval.matching.errors' in sys.modules)\n"
        "m.MatchingError\n"
        "print('pl_eval.matching.errors' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True"], done.stderr


def test_a_lazy_submodule_imports_its_parent_on_first_use_only():
    code = (
        "from pl_eval import lazy\nimport sys\n"
        "pc = lazy.module('pyarrow.compute')\n"
        "print('pyarrow' in sys.modules)\n"
        "print(pc.sum([1, 2, 3]).as_py())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "6"], done.stderr


def test_a_stage_runs_with_one_blas_thread_in_every_library_it_loads():
    """Stages load numpy and scipy (each with its own OpenBLAS) after pl-eval has limited the
    BLAS threads, so a limit on the libraries loaded at the time reached none of them: run by
    hand, a job used every core and its outputs differed in the last bits from Snakemake's
    (which sets the variables itself; here they are unset)."""
    code = (
        "import os, sys\n"
        "from pl_eval import cli, stages\n"
        "for name in cli.BLAS_THREADS: os.environ.pop(name, None)\n"
        "def probe(**_):\n"
        "    import numpy, scipy.linalg\n"
        "    from threadpoolctl import threadpool_info\n"
        "    blas = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "    print(len(blas), sorted({i['num_threads'] for i in blas}))\n"
        "stages.growth_norms = probe\n"
        "cli.main(['growth-norms', '--panel', 'p', '--subjects', 'math', '--matched', 'm',"
        " '--growth-norms', 'g'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    libraries, threads = done.stdout.split(maxsplit=1)
    assert int(libraries) >= 1 and threads.strip() == "[1]", done.stdout
