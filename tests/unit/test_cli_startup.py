"""Cheap jobs: the pl-eval command imports a library only when the stage that runs uses it."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

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


def test_the_ingest_and_matching_packages_still_offer_every_name():
    """Their names load on first use: each is its module's own object, a submodule is one by
    name, ``matching.balance`` stays the function though its submodule has been imported."""
    import pl_eval.matching.api  # noqa: F401  (imports the balance submodule)
    from pl_eval import ingest, matching
    from pl_eval.ingest import growth, pipeline
    from pl_eval.matching import balance, cohort

    assert balance is matching.balance and callable(balance) and balance.__name__ == "balance"
    assert matching.MatchConfig is cohort.MatchConfig and ingest.screen is pipeline.screen
    assert ingest.growth is growth
    assert all(getattr(p, n) is not None for p in (ingest, matching) for n in p.__all__)
    with pytest.raises(AttributeError):
        matching.no_such_name  # noqa: B018


def test_the_snakefile_reads_simulation_settings_without_the_simulation():
    """workflow/rules/common.smk imports SimulationSettings in Snakemake's own process, before
    the first job can start: the simulation and its scipy.optimize (0.26-0.35 s) wait."""
    deferred = ("scipy.optimize", "pl_eval.simulate.cohort", "pandas")
    code = "from pl_eval.simulate.settings import SimulationSettings"
    assert loaded_after(code, deferred) == []


def test_the_simulate_package_still_offers_every_name():
    from pl_eval import simulate
    from pl_eval.simulate import cohort, labels, settings

    assert simulate.simulate_cohort is cohort.simulate_cohort
    assert simulate.SimulationSettings is settings.SimulationSettings
    assert simulate.labels is labels
    assert all(getattr(simulate, name) is not None for name in simulate.__all__)
    with pytest.raises(AttributeError):
        simulate.no_such_name  # noqa: B018


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


#: Each workflow job type and the modules it imported though it never used them: the ingest
#: pipeline and the matcher (through their packages' imports), the model library (combine and
#: the report only join and show tables), tqdm (jobs log to a file), PyYAML (settings come as
#: JSON).
NOT_USED = {
    "read_exports": ("tqdm", "yaml"),
    "ingest": ("tqdm", "yaml"),
    "build_panel": ("pl_eval.ingest.pipeline", "tqdm", "yaml"),
    "match": ("pl_eval.ingest.pipeline", "tqdm", "yaml"),
    "estimate": (
        "pl_eval.ingest.pipeline", "pl_eval.matching.api", "pl_eval.matching.cohort",
        "pl_eval.panel", "tqdm", "yaml",
    ),
    "combine_estimates": (
        "pl_eval.estimation.models", "scipy.special", "scipy.linalg", "tqdm", "yaml",
    ),
    "sensitivity_analysis": ("pl_eval.ingest.pipeline", "tqdm", "yaml"),
    "robustness": (
        "pl_eval.ingest.pipeline", "pl_eval.matching.api", "pl_eval.matching.cohort", "tqdm",
        "yaml",
    ),
    "growth_norms": ("pl_eval.ingest.pipeline", "tqdm", "yaml"),
    "report": ("pl_eval.estimation.models", "scipy.linalg", "pl_eval.ingest.pipeline", "tqdm",
               "yaml"),
}  # fmt: skip
SMALL_COHORT = Path(__file__).parents[1] / "data" / "small_cohort"
SUBJECTS = ("math", "reading")


@pytest.fixture(scope="module")
def small_jobs(tmp_path_factory) -> dict[str, list[str]]:
    """Each job type's ``pl-eval`` arguments, as the workflow gives them, on the small test
    cohort; the jobs whose outputs others read are run here, in the workflow's order."""
    from pl_eval import cli, stages
    from pl_eval.config import analysis_section

    out = tmp_path_factory.mktemp("jobs")
    config = stages._load_config(Path(__file__).parents[2] / "config" / "config.yaml")
    estimate = analysis_section(config, "main", "estimate")

    def paths(option: str, *names: str) -> list[str]:
        return [option, *(str(out / name) for name in names)]

    def per_subject(option: str, name: str, subjects=SUBJECTS) -> list[str]:
        stem, suffix = name.split(".")
        return paths(option, *(f"{stem}_{s}.{suffix}" for s in subjects))

    def settings(section: dict, option: str = "--settings") -> list[str]:
        return [option, json.dumps(section)]

    def match(subject: str) -> list[str]:
        return ["match", *paths("--panel", "panel.parquet"), "--subject", subject] + [
            x for option, name in (
                ("--matched", "matched.parquet"), ("--pairs", "pairs.parquet"),
                ("--propensity", "propensity.parquet"), ("--balance", "balance.csv"),
                ("--summary", "match_summary.json"), ("--love-plot", "love.png"),
                ("--overlap-plot", "overlap.png"),
            ) for x in per_subject(option, name, [subject])
        ] + settings(config["match"])  # fmt: skip

    def estimated(subject: str) -> list[str]:
        return ["estimate", "--subjects", subject] + [
            x for option, name in (
                ("--matched", "matched.parquet"), ("--pairs", "pairs.parquet"),
                ("--estimates", "estimates.parquet"), ("--breakout-tests", "tests.parquet"),
                ("--trajectory", "trajectory.parquet"),
            ) for x in per_subject(option, name, [subject])
        ] + settings(estimate)  # fmt: skip

    chain = [
        x for option, name in (
            ("--matched", "s_matched.parquet"), ("--pairs", "s_pairs.parquet"),
            ("--propensity", "s_propensity.parquet"), ("--balance", "s_balance.csv"),
            ("--match-summary", "s_match_summary.json"), ("--love-plot", "s_love.png"),
            ("--overlap-plot", "s_overlap.png"), ("--subject-estimates", "s_estimates.parquet"),
            ("--subject-breakout-tests", "s_tests.parquet"),
            ("--subject-trajectories", "s_trajectory.parquet"),
            ("--subject-school-trajectories", "s_schools.parquet"),
        ) for x in per_subject(option, name)
    ] + [
        x for option, name in (
            ("--estimates", "s.parquet"), ("--estimates-csv", "s.csv"),
            ("--breakout-tests", "s_tests.csv"), ("--trajectory", "s_trajectory.csv"),
            ("--school-trajectory", "s_schools.parquet"), ("--summary", "s.txt"),
        ) for x in paths(option, name)
    ]  # fmt: skip
    jobs = {
        "read_exports": ["read-exports", str(SMALL_COHORT), *paths("--out", "read_exports"),
                         *settings(config["ingest"])],
        "ingest": ["ingest", *paths("--read-exports", "read_exports"),
                   *paths("--scores", "scores.parquet"),
                   *paths("--duplicates", "duplicates.parquet"),
                   *paths("--rejects", "rejects.parquet"), *paths("--schools", "schools.parquet"),
                   *paths("--summary", "ingest.json"), *settings(config["ingest"])],
        "build_panel": ["build-panel", *paths("--scores", "scores.parquet"),
                        *paths("--rejects", "rejects.parquet"),
                        *paths("--schools", "schools.parquet"), *paths("--panel", "panel.parquet"),
                        *paths("--exclusions", "exclusions.csv"),
                        *paths("--lost-students", "lost.parquet"), *settings(config["panel"])],
        "match": match("math"),
        "estimate": estimated("math"),
        "combine_estimates": ["combine-estimates",
                              *per_subject("--subject-estimates", "estimates.parquet"),
                              *per_subject("--subject-breakout-tests", "tests.parquet"),
                              *per_subject("--subject-trajectories", "trajectory.parquet"),
                              *paths("--estimates", "estimates.parquet"),
                              *paths("--estimates-csv", "estimates.csv"),
                              *paths("--breakout-tests", "tests.csv"),
                              *paths("--trajectory", "trajectory.csv"),
                              *paths("--summary", "summary.txt")],
        "sensitivity_analysis": ["sensitivity-analysis", *paths("--panel", "panel.parquet"),
                                 "--subjects", *SUBJECTS, *chain,
                                 *settings(config["match"], "--match-settings"),
                                 *settings(estimate, "--estimate-settings")],
        "robustness": ["robustness", "--subjects", *SUBJECTS,
                       *per_subject("--matched", "matched.parquet"),
                       *per_subject("--pairs", "pairs.parquet"),
                       *paths("--estimates", "estimates.parquet"),
                       *paths("--panel", "panel.parquet"),
                       *paths("--lost-students", "lost.parquet"),
                       *paths("--exclusions", "exclusions.csv"),
                       *paths("--confounding", "confounding.csv"),
                       *paths("--attrition", "attrition.csv"),
                       *paths("--attrition-baseline", "attrition_baseline.csv"),
                       *paths("--lee-bounds", "lee_bounds.csv"), *settings(estimate)],
        "growth_norms": ["growth-norms", *paths("--panel", "panel.parquet"), "--subjects",
                         *SUBJECTS, *per_subject("--matched", "matched.parquet"),
                         *paths("--growth-norms", "growth_norms.csv"),
                         *settings(config["panel"])],
        "report": ["report", *paths("--estimates", "estimates.parquet"),
                   *paths("--breakout-tests", "tests.csv"),
                   *paths("--trajectory", "trajectory.csv"),
                   *paths("--exclusions", "exclusions.csv"),
                   *paths("--schools", "schools.parquet"), "--subjects", *SUBJECTS,
                   *per_subject("--balance", "balance.csv"),
                   *per_subject("--match-summary", "match_summary.json"),
                   *per_subject("--propensity", "propensity.parquet"),
                   "--config", json.dumps(config), *paths("--html", "report.html"),
                   *paths("--figures", "figures"), *paths("--tables", "tables"),
                   *paths("--suppression-log", "suppression_log.csv"),
                   *settings(config["report"])],
    }  # fmt: skip
    inputs = [jobs["read_exports"], jobs["ingest"], jobs["build_panel"]]
    inputs += [match(s) for s in SUBJECTS] + [estimated(s) for s in SUBJECTS]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PL_EVAL_KEY", "small-cohort-key")
        for argv in [*inputs, jobs["combine_estimates"]]:
            args = cli._parser().parse_args(argv)
            stage = getattr(stages, args.stage)
            wanted = inspect.signature(stage).parameters
            stage(**{k: v for k, v in vars(args).items() if k in wanted})
        yield jobs


@pytest.mark.parametrize("job", NOT_USED)
def test_a_workflow_job_imports_only_what_its_stage_uses(job, small_jobs, monkeypatch):
    """Each job type run as the workflow runs it, in a fresh process: it imports none of the
    modules its stage never uses (they cost the one-year national run's 24 jobs 0.03 to 0.25
    CPU s each)."""
    monkeypatch.setenv("PL_EVAL_KEY", "small-cohort-key")
    code = f"from pl_eval import cli\nassert cli.main({small_jobs[job]!r}) == 0"
    assert loaded_after(code, NOT_USED[job]) == []
