"""The Snakemake workflow end to end on the demo cohort, in a scratch working directory."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pdf_layout import (
    captions_apart,
    normalise,
    overflowing,
    read_pages,
    sparse_pages,
    split_rows,
)
from report_text import miscounted, unfilled
from scipy.stats import norm
from small_cohort import small_settings
from threadpoolctl import threadpool_limits

SUBJECTS = ("math", "reading")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

OUTPUTS = [
    "scores.parquet",
    "duplicates.parquet",
    "rejects.parquet",
    "schools.parquet",
    "ingest_summary.json",
    "panel.parquet",
    "exclusions.csv",
    "main/matched_math.parquet",
    "main/pairs_reading.parquet",
    "main/balance_math.csv",
    "main/estimates.parquet",
    "main/estimates.csv",
    "main/breakout_tests.csv",
    "main/trajectory.csv",
    "main/school_trajectory.parquet",
    "lost_students.parquet",
    "main/confounding.csv",
    "main/attrition.csv",
    "main/attrition_baseline.csv",
    "main/lee_bounds.csv",
    "main/growth_norms.csv",
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    # Rules call `pl-eval` from PATH, as `make run` arranges: the one installed beside this Python.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PL_EVAL_KEY": "workflow-test-k1", "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
         "--cores", "2", *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def text_values(node):
    """Every string in a JSON document (keys and values); counts are not identifiers."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from text_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from text_values(value)
    elif isinstance(node, str):
        yield node


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    shutil.copytree(ROOT / "config", workdir / "config")
    done = snakemake(workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_demo_run_writes_every_output(demo_run):
    processed = demo_run / "data/processed/demo"
    for name in OUTPUTS:
        assert (processed / name).stat().st_size > 0, name
    panel = pd.read_parquet(processed / "panel.parquet")
    assert set(panel["subject"]) == {"math", "reading"}
    assert panel.groupby("subject")["treated"].sum().min() > 1000
    assert (demo_run / "logs/demo/ingest.log").exists()


def test_rerun_is_byte_identical_and_unchanged_config_reruns_nothing(demo_run):
    processed = demo_run / "data/processed/demo"
    before = digests(processed)
    dry = snakemake(demo_run, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    # The main chain from ingest again (the variants run the same stages on the same inputs;
    # rerunning all of them doubles the test for nothing), then the rest marked current.
    again = snakemake(demo_run, "--forcerun", "ingest", "--", *(f"data/processed/demo/{name}"
                      for name in OUTPUTS))  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert digests(processed) == before
    assert snakemake(demo_run, "--touch").returncode == 0
    assert planned_jobs(snakemake(demo_run, "-n")) == {}


def test_no_student_identifiers_leave_ingest(demo_run):
    raw = demo_run / "data/raw/demo/exports"
    rosters = sorted(raw.rglob("StudentsBySchool*"))[:3]  # exports/<YYYY-YYYY>/
    roster = pd.concat(pd.read_csv(p, dtype=str) for p in rosters)
    secrets = set(roster["StudentLastName"]) | set(roster["StudentDateOfBirth"])
    ids = set(roster["StudentID"]) | set(roster["Student_StateID"].dropna())
    for name in OUTPUTS:
        path = demo_run / "data/processed/demo" / name
        if path.suffix == ".json":
            values = set(text_values(json.loads(path.read_text())))
        else:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
            assert not {c.lower() for c in frame.columns} & {"studentid", "studentlastname"}
            text = frame.select_dtypes(exclude=["number", "bool", "datetime"])
            values = set(text.astype(str).to_numpy().ravel())
        assert not values & secrets, name
        assert not values & ids, name


def test_bad_input_stops_with_one_line_and_no_outputs(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    raw = tmp_path / "data/raw/broken"
    raw.mkdir(parents=True)
    (raw / "AssessmentResults_fall.csv").write_text(
        "TermName,DistrictName,SchoolName,StudentID,MeasurementScale,TestStartDate,"
        "TestRITScore,TestStandardError\n"
        "Fall 2014-2015,D1,S1,1,Mathematics,09/15/2014,abc,3.1\n"
    )
    (raw / "schools.csv").write_text(
        "district_name,school_name,sector,pl_start_year,frl_pct,locale\nD1,S1,charter,2014,80,11\n"
    )
    done = snakemake(tmp_path, "--config", "cohorts=[broken]")
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert "AssessmentResults_fall.csv, line 2, column 'TestRITScore'" in done.stdout + done.stderr
    assert not (tmp_path / "data/processed/broken/scores.parquet").exists()


def test_a_workbook_or_an_archive_in_the_cohort_folder_is_an_input_of_read_exports(tmp_path):
    # Ingest lists a workbook as unread, saying how to export CSV, and reads a zip's exports:
    # adding one must re-read the exports (and so re-run ingest, which screens what
    # read_exports read). The job asks memory for what the zip holds, not for its size.
    shutil.copytree(ROOT / "config", tmp_path / "config")
    raw = tmp_path / "data/raw/books"
    raw.mkdir(parents=True)
    for name in ("AssessmentResults.csv", "StudentsBySchool.xlsx", "schools.csv"):
        (raw / name).write_text("x\n")
    with zipfile.ZipFile(raw / "Spring.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AssessmentResults.csv", "x" * 100 * 2**20)  # 100 MB in 0.1 MB
    dry = snakemake(tmp_path, "-n", "--config", "cohorts=[books]")
    assert dry.returncode == 0, dry.stderr[-3000:]
    read = (dry.stdout + dry.stderr).split("rule read_exports:", 1)[1].split("rule ", 1)[0]
    assert "data/raw/books/StudentsBySchool.xlsx" in read
    assert "data/raw/books/Spring.zip" in read
    assert "mem_mb=391," in read  # 300 + 0.9 per MB of 100 MB and the files beside it


def test_misspelt_config_key_is_named(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    done = snakemake(tmp_path, "-n", "--config", "cohrts=[demo]")
    assert done.returncode != 0
    assert "cohrts: unknown key; did you mean 'cohorts'?" in done.stdout + done.stderr


def test_demo_estimates_recover_the_planted_truth(demo_run):
    estimates = pd.read_parquet(demo_run / "data/processed/demo/main/estimates.parquet")
    truth = json.loads((demo_run / "data/raw/demo/truth.json").read_text())["effects"]
    for subject in ("math", "reading"):
        rows = estimates[estimates["subject"] == subject]
        pooled = rows[rows["scope"] == "pooled"].iloc[0]
        planted = truth[subject]["pooled"]["tau"]
        assert pooled["ci_low"] < planted < pooled["ci_high"], (subject, pooled, planted)
        for scope, key in (("sector", "by_sector"), ("years", "by_years")):
            for group, cell in truth[subject][key].items():
                row = rows[(rows["scope"] == scope) & (rows["group"] == group)].iloc[0]
                # close: within three standard errors of the group's planted effect
                assert abs(row["estimate"] - cell["tau"]) < 3 * row["se"], (subject, scope, group)
    # The demo plants RAND's headline, about +3 points in math at the national median; the
    # estimate is one draw around it, which the interval above must cover.
    assert 2 < 100 * (norm.cdf(truth["math"]["pooled"]["tau"]) - 0.5) < 5


def test_validate_smoke_reports_bias_and_coverage(tmp_path):
    out = tmp_path / "validation"
    env = {**os.environ, "PL_EVAL_KEY": "validate-test-k1"}
    done = subprocess.run(
        [sys.executable, "-m", "pl_eval", "validate", str(out), "--reps", "10",
         "--comparison-schools", "60", "--config", str(ROOT / "config/config.yaml"),
         "--no-gates"],  # 10 replications cannot meet the 93-97% coverage gate
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # each warning once, with how many replications gave it, never once per replication
    warned = [line for line in done.stderr.splitlines() if "Warning: " in line]
    assert all(" of 10 replications warned: " in line for line in warned), warned
    assert len(warned) == len(set(warned))
    table = pd.read_csv(out / "validation.csv").set_index(["subject", "scope"])
    assert set(table.index.get_level_values("scope")) == {"pooled", "sector", "years", "school"}
    pooled = table.xs("pooled", level="scope")
    assert (pooled["n_estimates"] == 10).all()
    assert (pooled["bias"].abs() < 0.04).all()  # a broken estimator misses by ~0.09 (the effect)
    assert (pooled["coverage"] >= 0.7).all()
    assert table["coverage"].between(0, 1).all()


def planned_jobs(done: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule in a dry run's "Job stats" table ({} when nothing is to be done)."""
    output = done.stdout + done.stderr
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:] if line.strip()]
    return {rule: int(count) for rule, count in rows}


def merged(base: dict, change: dict) -> dict:
    out = dict(base)
    for key, value in change.items():
        out[key] = merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


CHANGE_STAGES = [
    ({"report": {"min_n": 5}}, {"report"}),
    (
        {"estimate": {"se": "CR1"}},
        {
            "estimate",
            "combine_estimates",
            "sensitivity_analysis",
            "year_analysis",
            "robustness",
            "report",
        },
    ),
    (
        {"match": {"caliper": 0.3}},
        {
            "match",
            "estimate",
            "combine_estimates",
            "sensitivity_analysis",
            "year_analysis",
            "robustness",
            "growth_norms",
            "report",
        },
    ),  # fmt: skip
    (  # a screen applies to the typed table: the exports are not read again
        {"ingest": {"screens": {"min_duration_minutes": 5}}},
        {
            "ingest",
            "build_panel",
            "match",
            "estimate",
            "combine_estimates",
            "sensitivity_analysis",
            "year_analysis",
            "robustness",
            "growth_norms",
            "report",
        },
    ),  # fmt: skip
    (  # other column names: the exports are read again, once for every analysis
        {"ingest": {"column_aliases": {"StudentID": ["Local_ID"]}}},
        {
            "read_exports",
            "ingest",
            "build_panel",
            "match",
            "estimate",
            "combine_estimates",
            "sensitivity_analysis",
            "year_analysis",
            "robustness",
            "growth_norms",
            "report",
        },
    ),
]


def test_a_cohort_is_read_once_for_every_analysis(tmp_path):
    """The shipped no_rapid_guessing_screen variant screens main's typed table: one
    read_exports job for the cohort, one ingest job per way of screening it."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    jobs = planned_jobs(snakemake(tmp_path, "-n"))
    assert (jobs["read_exports"], jobs["ingest"]) == (1, 2)


def _case_id(value) -> str:
    """A test id that is the same in every process (a set prints in hash order, which
    pytest-xdist's workers, each with its own hash seed, would collect differently)."""
    return str(sorted(value) if isinstance(value, set) else value)[:40]


@pytest.mark.parametrize(("change", "stages"), CHANGE_STAGES, ids=_case_id)
def test_dry_run_reruns_only_the_stages_a_changed_key_feeds(demo_run, tmp_path, change, stages):
    config = yaml.safe_load((demo_run / "config/config.yaml").read_text())
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(merged(config, change)))
    dry = snakemake(demo_run, "-n", "--configfile", str(changed))
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = planned_jobs(dry)
    assert set(jobs) - {"all"} == stages
    if "match" in change:  # main matches again, one job per subject; of the five variants
        # matching on their own (vcg, caliper_0.1, one_to_one, doubly_robust,
        # no_rapid_guessing_screen: one sensitivity_analysis job each, both subjects),
        # caliper_0.1 sets its own caliper, so its matches stay; each year, span and placebo of
        # the demo runs the main analysis, so matches again, in its one job for both subjects
        from pl_eval.years import year_analyses

        years = year_analyses("demo", config["school_years"]["demo"])
        assert jobs["match"] == 2
        assert jobs["sensitivity_analysis"] == 4
        assert jobs["year_analysis"] == len(years)
    assert planned_jobs(snakemake(demo_run, "-n")) == {}


def test_per_subject_estimate_jobs_equal_one_job_for_every_subject(demo_run, tmp_path):
    from pl_eval import stages
    from pl_eval.config import analysis_section

    main = demo_run / "data/processed/demo/main"
    subjects = ["math", "reading"]
    parts = {name: tmp_path / f"{name}.parquet" for name in ("estimates", "tests", "trajectory")}
    with threadpool_limits(limits=1):  # as pl-eval and Snakemake jobs run: one BLAS thread
        stages.estimate(
            subjects=subjects,
            matched=[main / f"matched_{s}.parquet" for s in subjects],
            pairs=[main / f"pairs_{s}.parquet" for s in subjects],
            estimates=parts["estimates"],
            breakout_tests=parts["tests"],
            trajectory=parts["trajectory"],
            settings=analysis_section(
                yaml.safe_load((demo_run / "config/config.yaml").read_text()), "main", "estimate"
            ),
        )
    names = ["estimates.parquet", "estimates.csv", "breakout_tests.csv", "trajectory.csv",
             "estimate_summary.txt"]  # fmt: skip
    out = tmp_path / "one_job"
    stages.combine_estimates(
        subject_estimates=[parts["estimates"]],
        subject_breakout_tests=[parts["tests"]],
        subject_trajectories=[parts["trajectory"]],
        **{key: out / name for key, name in zip(
            ["estimates", "estimates_csv", "breakout_tests", "trajectory", "summary"], names,
            strict=True)},
    )  # fmt: skip
    for name in names:
        assert (out / name).read_bytes() == (main / name).read_bytes(), name


@pytest.mark.parametrize(
    ("cohort", "analysis"), [("demo@2020-2022", "main"), ("demo", "one_to_one")], ids=str
)
def test_one_analysis_job_writes_what_separate_match_and_estimate_jobs_would(
    demo_run, tmp_path, cohort, analysis
):
    # A span's match, estimate and combine_estimates run in one year_analysis job, and a
    # variant matching on its own in one sensitivity_analysis job: their files are those the
    # three stages write as separate jobs (as they do for main).
    from pl_eval import stages
    from pl_eval.config import analysis_section

    config = yaml.safe_load((demo_run / "config/config.yaml").read_text())
    span = demo_run / "data/processed" / cohort
    out = tmp_path / "separate"
    with threadpool_limits(limits=1):  # as pl-eval and Snakemake jobs run: one BLAS thread
        for s in SUBJECTS:
            stages.match(
                panel=span / "panel.parquet", subject=s, settings=analysis_section(
                    config, analysis, "match"), matched=out / f"matched_{s}.parquet",
                pairs=out / f"pairs_{s}.parquet", propensity=out / f"propensity_{s}.parquet",
                balance=out / f"balance_{s}.csv", summary=out / f"match_summary_{s}.json",
                love_plot=out / f"figures/love_{s}.png",
                overlap_plot=out / f"figures/overlap_{s}.png",
            )  # fmt: skip
            stages.estimate(
                subjects=[s], matched=[out / f"matched_{s}.parquet"],
                pairs=[out / f"pairs_{s}.parquet"], estimates=out / f"estimates_{s}.parquet",
                breakout_tests=out / f"breakout_tests_{s}.parquet",
                trajectory=out / f"trajectory_{s}.parquet",
                school_trajectory=out / f"school_trajectory_{s}.parquet",
                settings=analysis_section(config, analysis, "estimate"),
            )  # fmt: skip
        stages.combine_estimates(
            subject_estimates=[out / f"estimates_{s}.parquet" for s in SUBJECTS],
            subject_breakout_tests=[out / f"breakout_tests_{s}.parquet" for s in SUBJECTS],
            subject_trajectories=[out / f"trajectory_{s}.parquet" for s in SUBJECTS],
            subject_school_trajectories=[out / f"school_trajectory_{s}.parquet" for s in SUBJECTS],
            estimates=out / "estimates.parquet", estimates_csv=out / "estimates.csv",
            breakout_tests=out / "breakout_tests.csv", trajectory=out / "trajectory.csv",
            school_trajectory=out / "school_trajectory.parquet",
            summary=out / "estimate_summary.txt",
        )  # fmt: skip
    separate = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    one_job = {
        p.relative_to(span / analysis): p.read_bytes()
        for p in (span / analysis).rglob("*")
        if p.is_file() and not p.name.startswith(".")  # Snakemake's timestamp files
    }
    assert sorted(one_job) == sorted(separate)
    assert [str(name) for name in separate if separate[name] != one_job[name]] == []


def test_grade_band_match_jobs_merge_to_the_single_job_match(demo_run, tmp_path):
    from pl_eval import stages

    workdir = tmp_path / "strata"
    shutil.copytree(demo_run, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["match"]["strata"] = ["grade_band"]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    target = "data/processed/demo/main/matched_math.parquet"
    done = snakemake(workdir, target)
    assert done.returncode == 0, done.stderr[-3000:]
    parts = workdir / "data/processed/demo/main/match_parts/math"
    assert sorted(p.name for p in parts.iterdir()) == ["6-8", "9-12", "K-5"]  # one job each
    names = {"matched": "matched_math.parquet", "pairs": "pairs_math.parquet",
             "propensity": "propensity_math.parquet", "balance": "balance_math.csv",
             "summary": "match_summary_math.json", "love_plot": "figures/love_math.png",
             "overlap_plot": "figures/overlap_math.png"}  # fmt: skip
    one_job = tmp_path / "one_job"
    with threadpool_limits(limits=1):  # as pl-eval and Snakemake jobs run: one BLAS thread
        stages.match(
            panel=workdir / "data/processed/demo/panel.parquet",
            subject="math",
            settings=config["match"],
            **{key: one_job / name for key, name in names.items()},
        )
    for name in names.values():
        fanned = (workdir / "data/processed/demo/main" / name).read_bytes()
        assert fanned == (one_job / name).read_bytes(), name


def test_demo_runs_each_school_year_span_and_placebo_afresh(demo_run):
    # The shipped config lists the demo's three years: its main analysis is 2022-2023, and
    # each other year, span and placebo has its own panel, match and estimates (main only).
    from pl_eval.years import year_analyses

    config = yaml.safe_load((demo_run / "config/config.yaml").read_text())
    analyses = year_analyses("demo", config["school_years"]["demo"])
    assert len(analyses) == 7
    processed = demo_run / "data/processed"
    main = pd.read_parquet(processed / "demo/panel.parquet")
    assert (main["spring_date"].dt.year == 2023).all() and (main["fall_date"].dt.year == 2022).all()
    for analysis in analyses:
        out = processed / analysis.name
        panel = pd.read_parquet(out / "panel.parquet")
        assert (panel["fall_date"].dt.year == int(analysis.fall[:4])).all(), analysis.name
        assert (panel["spring_date"].dt.year == int(analysis.spring[5:])).all(), analysis.name
        estimates = pd.read_parquet(out / "main/estimates.parquet")
        assert set(estimates["scope"]) >= {"pooled", "sector", "exposure"}, analysis.name
        assert not (out / "vcg").exists()
    # a span's students are those tested at both ends; the placebo's PL schools adopt next year
    span = pd.read_parquet(processed / "demo@2020-2023/panel.parquet")
    assert span.loc[span["treated"], "exposure"].isin(["1", "2", "3+"]).all()
    placebo = pd.read_parquet(processed / "demo@placebo-2021-2022/panel.parquet")
    assert (placebo.loc[placebo["treated"], "pl_start_year"] == 2022).all()
    assert placebo.loc[~placebo["treated"], "pl_start_year"].isna().all()
    flow = pd.read_csv(processed / "demo@placebo-2021-2022/exclusions.csv")
    excluded = flow[
        (flow["arm"] == "placebo_excluded") & (flow["reason"] == "school_pl_other_year")
    ]
    assert excluded["n_students"].min() > 0
    html = (demo_run / "reports/demo/report.html").read_text()
    assert '<section id="years">' in html and "Falsification check" in html


def test_several_cohorts_run_in_one_invocation_with_a_combined_report(demo_run, tmp_path):
    # A second cohort, "next", small and of one school year (2023-2024); run both, main
    # analysis only.
    from pl_eval import stages

    workdir = tmp_path / "two_cohorts"
    shutil.copytree(demo_run, workdir, symlinks=True)
    stages._write_cohort(small_settings(7, "2023-2024"), workdir / "data/raw/next")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config.update(analyses={"main": {}})  # --config merges mappings: it cannot drop variants
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(workdir, "--config", "cohorts=[demo,next]")
    assert done.returncode == 0, done.stderr[-3000:]
    html = (workdir / "reports/combined/report.html").read_text()
    # Reports describe the configuration the run used, command-line overrides included.
    assert "['demo', 'next']" in unescape((workdir / "reports/next/report.html").read_text())
    assert "configuration (effective, as JSON)" in html
    for cohort in ("demo", "next"):
        assert (workdir / f"reports/{cohort}/report.html").exists()
        assert f'href="../{cohort}/report.html"' in html
        estimates = pd.read_parquet(workdir / f"data/processed/{cohort}/main/estimates.parquet")
        pooled = estimates[(estimates["scope"] == "pooled") & (estimates["subject"] == "math")]
        assert _shown(pooled["estimate"].item(), 2) in unescape(html)
    assert "2022-2023" in html and "2023-2024" in html  # each cohort's year, from its exports
    assert not (workdir / "data/processed/next/vcg").exists()


class _ReportPage:
    """The demo report parsed with the stdlib: section ids, table cells by row, all text."""

    def __init__(self, html: str):
        from html.parser import HTMLParser

        page = self
        self.sections, self.rows, self.text = [], [], []

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                if tag == "section":
                    page.sections.append(attrs.get("id"))
                elif tag == "tr":
                    page.rows.append({"attrs": attrs, "cells": {}, "texts": []})
                elif tag in ("td", "th") and page.rows:
                    self.cell = attrs.get("class") or len(page.rows[-1]["texts"])
                    page.rows[-1]["texts"].append("")

            def handle_endtag(self, tag):
                if tag in ("td", "th"):
                    self.cell = None

            def handle_data(self, data):
                page.text.append(data)
                if getattr(self, "cell", None) is not None:
                    page.rows[-1]["texts"][-1] += data
                    page.rows[-1]["cells"][self.cell] = page.rows[-1]["texts"][-1].strip()

        Parser().feed(html)


def _shown(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace("-", "\u2212")


def test_demo_report_shows_the_estimates_and_no_student_key(demo_run):
    from pl_eval.norms import percentile_points

    html = (demo_run / "reports/demo/report.html").read_text()
    page = _ReportPage(html)
    # the two-page brief first, the technical sections, and the school results in an appendix
    assert page.sections == [
        "brief",
        "headline",
        "breakouts",
        "years",
        "trajectory",
        "growth-norms",
        "quality",
        "sensitivity",
        "confounding",
        "attrition",
        "methods",
        "provenance",
        "schools",
    ]
    estimates = pd.read_parquet(demo_run / "data/processed/demo/main/estimates.parquet")
    pooled = estimates[estimates["scope"] == "pooled"].set_index("subject")
    headline = {
        r["attrs"]["data-subject"]: r["cells"] for r in page.rows if "data-subject" in r["attrs"]
    }
    assert set(headline) == {"math", "reading"}
    for subject, cells in headline.items():
        row = pooled.loc[subject]
        assert cells["estimate"] == _shown(row["estimate"], 2)
        assert cells["ci"] == f"{_shown(row['ci_low'], 2)} to {_shown(row['ci_high'], 2)}"
        # at the comparison group's average, the interval's ends converted at the same point
        at = row["comparison_percentile"]
        assert cells["points"] == _shown(percentile_points(row["estimate"], at=at), 1)
        low, high = (percentile_points(row[end], at=at) for end in ("ci_low", "ci_high"))
        assert cells["points-ci"] == f"{_shown(low, 1)} to {_shown(high, 1)}"
        assert cells["points-median"] == _shown(percentile_points(row["estimate"]), 1)
        assert cells["mde"] == _shown(row["mde"], 2)
        assert cells["p"] == _shown(row["p_value"], 3)
        assert cells["n-treated"] == f"{row['n_treated']:,}"
        assert cells["n-comparison"] == f"{row['n_comparison']:,}"
        assert cells["n-schools"] == str(row["n_schools"])
    keys = pd.read_parquet(demo_run / "data/processed/demo/panel.parquet", columns=["student_key"])
    assert keys["student_key"].str.fullmatch(r"[0-9a-f]{16}").all()
    for path in (demo_run / "reports/demo").rglob("*"):
        if path.suffix in (".html", ".csv", ".svg"):
            # every run of 16+ hex digits in the file (base64 images included), against every key
            found = set(re.findall(r"(?=([0-9a-f]{16}))", path.read_text()))
            assert not found & set(keys["student_key"]), path
    for name in ("figures/forest_math.png", "figures/trajectory.svg", "tables/headline.csv"):
        assert (demo_run / "reports/demo" / name).stat().st_size > 0


def test_demo_report_suppresses_a_small_school(demo_run, tmp_path):
    from pl_eval import stages

    processed = demo_run / "data/processed/demo"
    main = processed / "main"
    estimates = pd.read_parquet(main / "estimates.parquet")
    schools = estimates[(estimates["scope"] == "school") & (estimates["subject"] == "math")]
    smallest = schools.nsmallest(1, "n_treated").iloc[0]
    subjects = ["math", "reading"]
    with _attacker().figures_undrawn():  # the page's table and log are read, no image
        stages.report(
            estimates=main / "estimates.parquet",
            breakout_tests=main / "breakout_tests.csv",
            trajectory=main / "trajectory.csv",
            exclusions=processed / "exclusions.csv",
            schools=processed / "schools.parquet",
            subjects=subjects,
            balance=[main / f"balance_{s}.csv" for s in subjects],
            match_summary=[main / f"match_summary_{s}.json" for s in subjects],
            propensity=[main / f"propensity_{s}.parquet" for s in subjects],
            config=demo_run / "config/config.yaml",
            html=tmp_path / "report.html",
            figures=tmp_path / "figures",
            tables=tmp_path / "tables",
            suppression_log=tmp_path / "suppression_log.csv",
            settings={"min_n": int(smallest["n_treated"]) + 1},
        )
    page = _ReportPage((tmp_path / "report.html").read_text())
    row = next(r["texts"] for r in page.rows if r["texts"][:2] == ["math", smallest["group"]])
    assert any("suppressed" in cell for cell in row)
    shown = _shown(smallest["estimate"], 2)
    assert shown not in [cell.strip() for cell in row]
    log = pd.read_csv(tmp_path / "suppression_log.csv")
    assert f"math / {smallest['group']} / {smallest['district']}" in set(log["row"])


def test_demo_has_one_page_per_pl_school_with_the_school_tables_values(demo_run):
    from pypdf import PdfReader

    report = demo_run / "reports/demo"
    frame = pd.read_parquet(demo_run / "data/processed/demo/schools.parquet")
    pl = frame[frame["pl_start_year"].notna()]
    pages = sorted((report / "schools").glob("*.html"))
    assert len(pages) == len(pl) > 0  # every PL school, no comparison school
    table = pd.read_csv(report / "tables/schools.csv")
    for path in pages:
        assert re.fullmatch(r"[a-z0-9-]+", path.stem)
        assert len(PdfReader(path.with_suffix(".pdf")).pages) == 1, path.name
        page = _ReportPage(path.read_text())
        school = unescape(re.search(r'data-school="([^"]*)"', path.read_text()).group(1))
        cells = {r["attrs"]["class"]: r["texts"][1:] for r in page.rows
                 if r["attrs"].get("class")}  # fmt: skip
        mine = table[table["school"] == school].sort_values("subject")
        assert cells["n-treated"] == [f"{n:,}" for n in mine["n_treated"]]
        assert cells["estimate"] == [
            f"{_shown(e, 2)} ({_shown(lo, 2)} to {_shown(hi, 2)})"
            for e, lo, hi in zip(mine["estimate"], mine["ci_low"], mine["ci_high"], strict=True)
        ]
        assert cells["shrunken"] == [_shown(e, 2) for e in mine["shrunken_estimate"]]
        others = set(table["school"]) - {school}
        assert not any(other in " ".join(page.text) for other in others)
        assert unfilled(path) == [] and miscounted(path) == [], path.name
    assert unfilled(report / "report.html") == [] and miscounted(report / "report.html") == []


def _attacker():
    """tests/stages/attacker.py (the attacker test's reader and solver)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("attacker", ROOT / "tests/stages/attacker.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("attacker", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_truth(demo_run, tmp_path_factory) -> Path:
    """The demo's report rendered with nothing suppressed (min_n 1), its figures undrawn: the
    attacker's truth, the same for every min_n, so rendered once; tests only read it."""
    out = tmp_path_factory.mktemp("demo_truth")
    return _attacker().render_cohort(demo_run, "demo", out, {"min_n": 1})


@pytest.mark.parametrize("min_n", [pytest.param(None, id="shipped"), 150])
def test_no_suppressed_demo_count_can_be_recovered(demo_run, demo_truth, tmp_path, min_n):
    # the report the workflow wrote, with the shipped settings (min_n 10: nothing under it),
    # and the demo's rendered again with min_n 150, which puts three math and three reading
    # schools and four exclusion counts under it: the suppression before issue 14 let the
    # attacker recover all ten (schools from the pooled total, exclusion counts from in files
    # less valid); now none
    attacker = _attacker()
    processed = demo_run / "data/processed/demo"
    truth = attacker.read_report(demo_truth)
    if min_n is None:
        min_n = yaml.safe_load((demo_run / "config/config.yaml").read_text())["report"]["min_n"]
        shown = attacker.read_report(demo_run / "reports/demo")
    else:
        settings = {"min_n": min_n, "round_counts_to": 5}
        shown = attacker.read_report(
            attacker.render_cohort(demo_run, "demo", tmp_path / "shown", settings)
        )
    starts = attacker.start_years(pd.read_parquet(processed / "schools.parquet"))
    relations = attacker.relations(truth, starts)
    assert len(relations) > 50 and len(truth.cells) > 300
    assert attacker.recovered(shown, truth, relations, min_n) == {}
    hidden = [c for c, v in shown.cells.items() if v is None]
    assert len(hidden) >= (10 if min_n == 150 else 0)


def test_demo_report_sets_every_analysis_side_by_side(demo_run):
    import yaml

    analyses = list(yaml.safe_load((demo_run / "config/config.yaml").read_text())["analyses"])
    report = demo_run / "reports/demo"
    table = pd.read_csv(report / "tables/sensitivity.csv")
    assert list(pd.unique(table["analysis"])) == analyses
    assert table.loc[table["main"], "analysis"].unique().tolist() == ["main"]
    for analysis in analyses:  # each row is that analysis' own pooled estimate
        own = pd.read_parquet(demo_run / f"data/processed/demo/{analysis}/estimates.parquet")
        own = own[own["scope"] == "pooled"].set_index("subject")["estimate"]
        shown = table[(table["analysis"] == analysis) & (table["scope"] == "pooled")]
        assert shown.set_index("subject")["estimate"].to_dict() == pytest.approx(own.to_dict())
    page = _ReportPage((report / "report.html").read_text())
    labelled = [r["attrs"] for r in page.rows if "data-label" in r["attrs"]]
    assert [a["data-label"] for a in labelled if a["data-group"] == "pooled"] == analyses * 2
    assert {a["data-label"] for a in labelled if a.get("class") == "main"} == {"main"}
    assert (report / "figures/sensitivity.png").stat().st_size > 0


def test_demo_report_pdf_has_every_section_and_the_headline(demo_run):
    from pypdf import PdfReader

    from pl_eval.norms import percentile_points

    pdf = PdfReader(demo_run / "reports/demo/report.pdf")
    assert pdf.pages[0].mediabox.width == pytest.approx(595.3, abs=0.5)  # A4 portrait
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pdf.pages))
    html = (demo_run / "reports/demo/report.html").read_text()
    headings = [unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", html)]
    assert [h.split(".")[0] for h in headings] == [str(i) for i in range(1, 12)]
    for heading in headings:
        assert heading in text
    math = pd.read_parquet(demo_run / "data/processed/demo/main/estimates.parquet")
    math = math[(math["scope"] == "pooled") & (math["subject"] == "math")].iloc[0]
    at = math["comparison_percentile"]
    low, high = percentile_points(math["ci_low"], at=at), percentile_points(math["ci_high"], at=at)
    row = (
        f"Math {_shown(math['estimate'], 2)} {_shown(math['ci_low'], 2)} to"
        f" {_shown(math['ci_high'], 2)} {_shown(math['percentile_points'], 1)}"
        f" {_shown(low, 1)} to {_shown(high, 1)}"
    )
    assert row in text


def test_demo_brief_is_two_pages_and_no_page_is_left_mostly_empty(demo_run):
    report = demo_run / "reports/demo"
    pages = read_pages(report / "report.pdf")
    html = (report / "report.html").read_text()
    first, second, third = pages[:3]
    assert "What was studied" in first.text and "The answer" in first.text
    assert len(first.images) == 1  # the brief's one figure, with its caption
    assert "Dashed and dotted lines are RAND's published estimates" in first.text
    assert second.first_line == "Findings"
    assert "What this study cannot tell" in second.text
    assert "RAND's published estimates, for reference" in second.text
    assert third.first_line == "Contents"  # the brief is exactly two pages
    # pages may end early only before a forced page break (the brief's second page, the
    # contents, the breakouts and several-school-years sections and the appendix) or at the end
    forced = [
        unescape(re.search(rf'<section id="{name}">\s*<h2>(.*?)</h2>', html).group(1))
        for name in ("breakouts", "years")
    ]
    starts = ("Findings", "Contents", *forced, "Appendix A. School results")
    assert sparse_pages(pages, starts) == []
    captions = [
        unescape(re.sub(r"<[^>]+>", "", c))
        for c in re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    ]
    assert len(captions) == sum(len(p.images) for p in pages)
    assert captions_apart(pages, captions) == []
    assert split_rows(html) == []
    assert overflowing(html) == []  # no table wider than the page, no word off its edge


def test_demo_brief_counts_are_the_suppressed_tables_counts(demo_run):
    report = demo_run / "reports/demo"
    text = read_pages(report / "report.pdf")[0].text
    headline = pd.read_csv(report / "tables/headline.csv").set_index("subject")
    breakouts = pd.read_csv(report / "tables/breakouts.csv")
    sector = breakouts[breakouts["scope"] == "sector"].set_index(["subject", "group"])
    cells = [
        f"{int(headline.loc[s, 'n_treated']):,} ({int(sector.loc[(s, 'charter'), 'n_treated']):,},"
        f" {int(sector.loc[(s, 'district'), 'n_treated']):,})"
        for s in ("math", "reading")
    ]
    assert normalise("PL students (charter, district) " + " ".join(cells)) in text


# Writes into the page, once it has loaded, what a person would notice: broken images, script
# errors and a page wider than the window. Chromium's --dump-dom then hands the page back.
PROBE = """<script>
const plEvalErrors = [];
window.addEventListener("error", (e) => plEvalErrors.push(String(e.message || e.type)), true);
const plEvalConsoleError = console.error;
console.error = (...args) => { plEvalErrors.push(args.join(" ")); plEvalConsoleError(...args); };
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const out = document.createElement("pre");
  out.id = "pl-eval-probe";
  out.textContent = JSON.stringify({
    images: images.length,
    broken: images.filter((img) => !img.complete || img.naturalWidth === 0).length,
    errors: plEvalErrors,
    scroll_width: document.documentElement.scrollWidth,
  });
  document.body.appendChild(out);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium at 1280 px wide, isolated from the network and any user profile."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium); browser test skipped")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,2000",
         "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def probe(html: str, tmp_path: Path, name: str) -> dict:
    """Load ``html`` (with PROBE injected) in Chromium; what PROBE found."""
    page = tmp_path / name
    page.write_text(html.replace("<head>", f"<head>\n{PROBE}", 1), encoding="utf-8")
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="pl-eval-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    return json.loads(unescape(found.group(1)))


@pytest.mark.browser
def test_probe_sees_a_broken_image_an_error_and_a_wide_page(tmp_path):
    broken = (
        "<!DOCTYPE html><html><head></head><body>"
        '<img src="data:image/png;base64,AAAA" alt="broken">'
        '<div style="width:2000px">wide</div><script>throw new Error("planted")</script>'
        "</body></html>"
    )
    found = probe(broken, tmp_path, "broken.html")
    assert found["images"] == 1 and found["broken"] == 1
    assert any("planted" in error for error in found["errors"])
    assert found["scroll_width"] >= 2000


@pytest.mark.browser
def test_demo_report_renders_in_a_browser(demo_run, tmp_path):
    report = demo_run / "reports/demo/report.html"
    html = report.read_text()
    found = probe(html, tmp_path, "report.html")
    assert found["images"] == html.count("<img ") > 0
    assert found["broken"] == 0
    assert found["errors"] == []
    assert found["scroll_width"] <= 1280  # no horizontal scrolling at 1280 px
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, "--hide-scrollbars", f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a blank 1280x2000 page compresses to a few KB


def test_snakemake_report_has_the_figures_with_captions(demo_run, tmp_path):
    import zipfile

    done = snakemake(demo_run, "--report", str(tmp_path / "report.zip"))
    assert done.returncode == 0, done.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = {Path(name).name for name in archive.namelist()}
        page = archive.read("report/report.html").decode()
    flagged = {"report.html", "report.pdf", "love_math.png", "overlap_reading.png"}
    assert flagged | {"forest_math.png", "trajectory.png"} <= names
    assert "Love plot for math" in page and "Propensity-score overlap for reading" in page
    assert "Figures of the funder report for cohort demo" in page


AXE = ROOT / "tests/axe/node_modules/axe-core/axe.min.js"
# Runs axe-core on the page once it has loaded and writes its violations into the page, where
# Chromium's --dump-dom hands them back.
AXE_RUN = """<script>
window.addEventListener("load", () => {
  const write = (value) => {
    const out = document.createElement("pre");
    out.id = "pl-eval-axe";
    out.textContent = JSON.stringify(value);
    document.body.appendChild(out);
  };
  axe.run(document, {resultTypes: ["violations"]}).then(
    (r) => write(r.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                          html: v.nodes.slice(0, 2).map((n) => n.html)}))),
    (e) => write({error: String(e)}));
});
</script>"""


def axe_violations(html: str, tmp_path: Path, name: str) -> list[dict]:
    """axe-core's violations of ``html`` in headless Chromium (skipped without either)."""
    if not AXE.exists():
        pytest.skip(
            "axe-core is not installed: it needs node and npm (npm ci --prefix tests/axe); "
            "accessibility test skipped"
        )
    script = AXE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    page = tmp_path / name
    injected = f"<script>{script}</script>{AXE_RUN}"
    page.write_text(html.replace("<head>", f"<head>\n{injected}", 1), encoding="utf-8")
    done = chromium(tmp_path, "--virtual-time-budget=60000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="pl-eval-axe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    result = json.loads(unescape(found.group(1)))
    assert "error" not in result, result
    return result


@pytest.mark.browser
def test_axe_finds_planted_violations(tmp_path):
    planted = (
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main>'
        '<img src="data:image/png;base64,AAAA"><p style="color:#aaa">faint text</p>'
        '<div style="overflow-x:auto;width:50px"><table><tr><td>wide wide wide wide wide</td>'
        "</tr></table></div></main></body></html>"
    )
    found = {v["id"]: v["impact"] for v in axe_violations(planted, tmp_path, "planted.html")}
    assert found.get("image-alt") == "critical"
    assert found.get("color-contrast") == "serious"


@pytest.mark.browser
def test_demo_report_has_no_serious_or_critical_accessibility_violations(demo_run, tmp_path):
    html = (demo_run / "reports/demo/report.html").read_text()
    violations = axe_violations(html, tmp_path, "report.html")
    assert [v for v in violations if v["impact"] in ("serious", "critical")] == []


def test_the_workflow_profile_changes_nothing_profiles_slurm_sets():
    # Snakemake applies profiles/default over any --profile, and its values win: a
    # latency-wait of 5 s there had cut profiles/slurm's 60 s (NFS caches) on a cluster.
    local = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert {k: v for k, v in local.items() if k in slurm and slurm[k] != v} == {}
    assert slurm["latency-wait"] == 60 and "resources" not in local


def planned_memory(done: subprocess.CompletedProcess, rule: str) -> dict[str, int]:
    """mem_mb of each planned job of ``rule`` in a dry run, by its cohort wildcard."""
    output = done.stdout + done.stderr
    jobs = re.findall(
        rf"rule {rule}:\n(?:    .*\n)*?    wildcards: cohort=(\S+?)[,\n](?:    .*\n)*?"
        r"    resources: .*?mem_mb=(\d+)",
        output,
    )
    return {cohort: int(mb) for cohort, mb in jobs}


def test_heavy_jobs_ask_memory_by_input_size_and_slurm_keeps_its_requests(demo_run):
    # ingest asks 300 MB + 1.5 MB per MB of the typed exports it screens (the one-year
    # national cohort's 676 MB took 1.3 GB), so the cap of make run lets two run side by
    # side there but not beside a panel, while the demo's small ones ask little.
    typed = demo_run / "data/processed/demo/read_exports"
    names = ("tests.arrow", "roster_rejects.arrow", "schools.arrow", "files.json")
    size_mb = sum((typed / name).stat().st_size / 1024 / 1024 for name in names)  # as Snakemake
    local = snakemake(demo_run, "-n", "--forcerun", "ingest", "--resources", "mem_mb=2800")
    assert local.returncode == 0, local.stderr[-3000:]
    assert planned_memory(local, "ingest")["demo"] == math.ceil(300 + 1.5 * size_mb)
    # profiles/slurm's requests stand: a cap in the workflow profile (profiles/default, which
    # Snakemake applies over any --profile) had cut every Slurm job's --mem to it
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    slurm = snakemake(
        demo_run, "-n", "--forcerun", "ingest", "--profile", str(ROOT / "profiles/slurm")
    )
    assert slurm.returncode == 0, slurm.stderr[-3000:]
    wanted = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert planned_memory(slurm, "ingest")["demo"] == wanted["set-resources"]["ingest"]["mem_mb"]
