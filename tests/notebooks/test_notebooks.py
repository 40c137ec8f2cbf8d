"""The analysts' notebooks: stored without outputs, and run end to end on a processed demo cohort.

The demo cohort is simulated and processed in a scratch folder through the stage functions
(data/processed/<cohort>/ and its main analysis folder, as the workflow lays them out), then
each notebook is executed with nbclient in the ``python3`` kernel, pointed at that folder by
its environment parameters. A probe cell appended to the in-memory copy reports the
notebook's tables as JSON, so the test can check them against the pipeline's own outputs.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from pl_eval import io, stages
from pl_eval.config import analysis_section
from pl_eval.matching import MatchingWarning

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXPLORE = "1.0-explore-cohort.ipynb"
SENSITIVITY = "2.0-model-sensitivity.ipynb"
SUBJECTS = ["math", "reading"]
KEY = "notebook-test-k1"


def storage_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why a notebook is not fit to commit: outputs, execution counts, machine metadata."""
    problems = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if cell.outputs:
            problems.append(f"cell {number} has outputs")
        if cell.execution_count is not None:
            problems.append(f"cell {number} has an execution count")
        if "execution" in cell.metadata:
            problems.append(f"cell {number} has execution timings in its metadata")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("the kernelspec is not python3")
    extra = sorted(set(nb.metadata) - {"kernelspec", "language_info"})
    if extra:
        problems.append(f"notebook metadata beyond the kernelspec: {', '.join(extra)}")
    return problems


@pytest.mark.parametrize("name", [EXPLORE, SENSITIVITY])
def test_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    problems = storage_problems(nb)
    assert not problems, (
        f"{name}: {'; '.join(problems)}. Clear all outputs before committing "
        "(Jupyter: Edit > Clear Outputs of All Cells, then save)."
    )
    first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
    for parameter in ("PL_EVAL_PROCESSED", "PL_EVAL_ANALYSIS", "PL_EVAL_CONFIG"):
        assert parameter in first_code.source, f"{name}: first code cell lacks {parameter}"


def test_storage_check_catches_a_run_notebook():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1 + 1")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    assert storage_problems(nb) == []
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="2\n")]
    nb.cells[1].execution_count = 1
    nb.metadata["widgets"] = {}
    nb.metadata["kernelspec"]["name"] = "pl_eval-venv"
    assert storage_problems(nb) == [
        "cell 2 has outputs",
        "cell 2 has an execution count",
        "the kernelspec is not python3",
        "notebook metadata beyond the kernelspec: widgets",
    ]


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """The demo cohort's main school year simulated, ingested, paired, matched and estimated
    (analysis "main"): the notebooks read only the main analysis's files, built from that
    year's tests alone (simulating and ingesting the two earlier years too was about a
    quarter of this file's CPU)."""
    scratch = tmp_path_factory.mktemp("notebooks")
    raw, cohort = scratch / "raw" / "demo", scratch / "processed" / "demo"
    main = cohort / "main"
    config = io.read_yaml(ROOT / "config" / "config.yaml")

    def section(name: str) -> dict:
        return analysis_section(config, "main", name)

    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setenv("PL_EVAL_KEY", KEY)
        # the demo's PL schools are all urban: the propensity model warns of quasi-separation
        warnings.simplefilter("ignore", MatchingWarning)
        stages.simulate(
            raw, size="demo", seed=config["simulate"]["seed"], school_years=["2022-2023"]
        )
        stages.ingest(
            raw,
            **{k: cohort / f"{k}.parquet" for k in ("scores", "duplicates", "rejects", "schools")},
            summary=cohort / "ingest_summary.json",
            settings=section("ingest"),
        )
        stages.build_panel(
            **{k: cohort / f"{k}.parquet" for k in ("scores", "rejects", "schools", "panel")},
            exclusions=cohort / "exclusions.csv",
            settings=section("panel"),
            school_year="2022-2023",  # the main analysis: the last of the demo's years
        )
        for subject in SUBJECTS:
            stages.match(
                panel=cohort / "panel.parquet",
                subject=subject,
                **{k: main / f"{k}_{subject}.parquet" for k in ("matched", "pairs", "propensity")},
                balance=main / f"balance_{subject}.csv",
                summary=main / f"match_summary_{subject}.json",
                love_plot=main / "figures" / f"love_{subject}.png",
                overlap_plot=main / "figures" / f"overlap_{subject}.png",
                settings=section("match"),
            )
            stages.estimate(
                subjects=[subject],
                matched=[main / f"matched_{subject}.parquet"],
                pairs=[main / f"pairs_{subject}.parquet"],
                **{
                    k: main / f"{k}_{subject}.parquet"
                    for k in ("estimates", "breakout_tests", "trajectory")
                },
                settings=section("estimate"),
            )
        stages.combine_estimates(
            subject_estimates=[main / f"estimates_{s}.parquet" for s in SUBJECTS],
            subject_breakout_tests=[main / f"breakout_tests_{s}.parquet" for s in SUBJECTS],
            subject_trajectories=[main / f"trajectory_{s}.parquet" for s in SUBJECTS],
            estimates=main / "estimates.parquet",
            estimates_csv=main / "estimates.csv",
            breakout_tests=main / "breakout_tests.csv",
            trajectory=main / "trajectory.csv",
            summary=main / "estimate_summary.txt",
        )
    return cohort


def probe(*tables: str) -> str:
    """A cell printing the notebook's named DataFrames and its interpreter as JSON."""
    named = ", ".join(f"{name!r}: {name}" for name in tables)
    return (
        "import json, sys\n"
        f"tables = {{{named}}}\n"
        "print(json.dumps({'python': sys.prefix} | {\n"
        "    name: json.loads(table.reset_index().to_json(orient='records', double_precision=15))\n"
        "    for name, table in tables.items()}))"
    )


def execute(name: str, tables: list[str], processed: Path, monkeypatch) -> tuple[list, dict]:
    """Run a stored notebook with a probe cell; its outputs and the probed tables."""
    monkeypatch.setenv("PL_EVAL_PROCESSED", str(processed))
    monkeypatch.setenv("PL_EVAL_ANALYSIS", "main")
    monkeypatch.setenv("PL_EVAL_CONFIG", str(ROOT / "config" / "config.yaml"))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(probe(*tables)))
    # the kernel inherits this process's environment, hence the parameters above
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [out for cell in nb.cells[:-1] if cell.cell_type == "code" for out in cell.outputs]
    report = json.loads("".join(o.text for o in nb.cells[-1].outputs if o.output_type == "stream"))
    assert report["python"] == sys.prefix  # the python3 kernel runs this interpreter
    return outputs, report


def figures(outputs: list) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs)


def assert_no_student_keys(outputs: list, processed: Path) -> None:
    """No text the notebook shows contains a (pseudonymous) student key."""
    keys = set(io.read_parquet(processed / "panel.parquet", columns=["student_key"])["student_key"])
    texts = [output.get("text", "") for output in outputs]
    texts += [
        output["data"].get(kind, "")
        for output in outputs
        if "data" in output
        for kind in ("text/plain", "text/html")
    ]
    words = set(re.findall(r"[0-9A-Za-z]+", " ".join(texts)))
    assert len(words) > 100  # the notebook did show tables
    assert not keys & words


def test_explore_notebook_runs_on_the_demo_cohort(processed, monkeypatch):
    outputs, report = execute(EXPLORE, ["attrition", "gaps"], processed, monkeypatch)
    assert figures(outputs) >= 6
    assert_no_student_keys(outputs, processed)

    # attrition: the panel's students per arm are the exclusions' "paired" counts
    panel = io.read_parquet(processed / "panel.parquet")
    in_panel = panel.groupby([panel["subject"].astype(str), "treated"]).size()
    exclusions = pd.read_csv(processed / "exclusions.csv")
    seen = exclusions.groupby(["subject", "arm"])["n_students"].sum()
    attrition = pd.DataFrame(report["attrition"]).set_index(["subject", "arm"])
    assert len(attrition) == 4
    for subject in SUBJECTS:
        for arm, treated in (("PL", True), ("comparison", False)):
            row = attrition.loc[(subject, arm)]
            assert row["in_panel"] == in_panel[(subject, treated)]
            assert row["seen"] == seen[(subject, "treated" if treated else "comparison")]
            assert row["share_in_panel"] == pytest.approx(row["in_panel"] / row["seen"])
            assert row["in_panel"] <= row["both_terms"] <= row["seen"]

    # baseline gaps before matching: the fall z SMD is the match stage's (all rows, unweighted)
    gaps = pd.DataFrame(report["gaps"]).set_index(["subject", "covariate"])
    for subject in SUBJECTS:
        stage = pd.read_csv(processed / "main" / f"balance_{subject}.csv")
        stage = stage.set_index(["covariate", "sample"])["smd"]
        assert gaps.loc[(subject, "fall_z"), "smd"] == pytest.approx(stage[("fall_z", "all")])
        assert gaps.loc[(subject, "fall_z"), "smd_matched"] == pytest.approx(
            stage[("fall_z", "matched")]
        )
        assert pd.isna(gaps.loc[(subject, "sector_charter"), "smd_matched"])  # not matched on


def test_sensitivity_notebook_runs_on_the_demo_cohort(processed, monkeypatch):
    outputs, report = execute(SENSITIVITY, ["sensitivity"], processed, monkeypatch)
    assert figures(outputs) == 1  # the dot plot
    assert_no_student_keys(outputs, processed)

    table = pd.DataFrame(report["sensitivity"])
    assert len(table) == 2 * 11  # subjects × specifications
    assert not table.duplicated(["subject", "specification"]).any()
    table = table.set_index(["subject", "specification"])
    pooled = io.read_parquet(processed / "main" / "estimates.parquet")
    pooled = pooled[pooled["scope"] == "pooled"].set_index("subject")
    for subject in SUBJECTS:
        rows = table.loc[subject]
        configured = rows[rows["configured"]]
        assert list(configured.index) == ["CR2 standard errors"]  # config: ols_cluster, CR2
        for column in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert configured[column].iloc[0] == pytest.approx(pooled.loc[subject, column], 1e-10)
        for column in ("n_treated", "n_comparison"):
            assert configured[column].iloc[0] == pooled.loc[subject, column]
        # CR1 and CR2 share the weighted least-squares point estimate, not the SE
        cr1, cr2 = rows.loc["CR1 standard errors"], rows.loc["CR2 standard errors"]
        assert cr1["estimate"] == pytest.approx(cr2["estimate"], abs=1e-12)
        assert cr1["se"] != pytest.approx(cr2["se"], rel=1e-3)
        # re-running the configured match reproduces the pipeline's matched sample
        again = rows.loc["re-match: as configured"]
        assert again["estimate"] == pytest.approx(cr2["estimate"], abs=1e-12)
        assert again["n_comparison"] == cr2["n_comparison"]
        assert rows.loc["school random intercepts", "se_type"] == "model (REML)"
        assert rows.loc["no covariates", "covariates"] == "none"
        assert not rows.loc["unweighted", "weighted"]
        assert rows.loc["re-match: 1:1", "n_comparison"] < cr2["n_comparison"]
