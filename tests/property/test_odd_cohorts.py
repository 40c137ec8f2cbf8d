"""Generated small and odd cohorts go through ingest -> panel -> match -> estimate -> report.

Each example is a cohort drawn by :mod:`cohort_strategies` (1-4 districts, 1-50 PL schools,
0-12 comparison schools, sparse grades, both sectors, 1-5 years of PL or none yet, 1-40
students a school, missing terms, a subject without PL students, duplicates, invalid tests,
blank grades, students missing from the roster, schools missing from schools.csv), written as
NWEA exports and run through the stage functions as the workflow runs them. It must end
either in every output written with its rows accounted for, or in an InputError, NotReady or
ConfigError of one short line per problem. Any other exception fails the test.

Profiles (tests/property/conftest.py): ``default`` in ``make test``, ``bench`` in ``make bench``.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cohort_strategies import CohortSpec, Expected, SchoolSpec, cohort_specs, write_cohort
from hypothesis import event, example, given, note
from hypothesis import strategies as st
from report_text import miscounted, unfilled
from snakemake.utils import validate as snakemake_validate

from pl_eval import io, stages
from pl_eval.config import analysis_section, check_config
from pl_eval.errors import ConfigError, InputError, NotReady

pytestmark = pytest.mark.property

ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = ("math", "reading")
#: The clean ends of a run: what the CLI prints as one line per problem and exits 1 on.
CLEAN_ERRORS = (InputError, NotReady, ConfigError)
#: Longest line a clean error may print (a line per problem, a short excerpt of the input).
MAX_LINE = 300
#: Estimate columns that are numbers together: all finite, or the row says why not.
EFFECT = ["estimate", "se", "ci_low", "ci_high", "p_value"]
#: The doubly-robust variant's weighting covariates (config/config.yaml).
DOUBLY_ROBUST_COVARIATES = ["fall_z", "frl_pct", "locale_group", "gender", "days_between"]
#: Breakout groups the estimate table has a row for, per subject, whatever the sample.
BREAKOUT_GROUPS = {
    "pooled": {"all"},
    "sector": {"charter", "district"},
    "years": {"1", "2", "3+"},
    "grade_band": {"K-5", "6-8", "9-12"},
    "baseline_quintile": {"Q1", "Q2", "Q3", "Q4", "Q5"},
}


@pytest.fixture(scope="module", autouse=True)
def _pseudonym_key():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PL_EVAL_KEY", "property-tests16")
        yield


@pytest.fixture(scope="module")
def base_config() -> dict:
    """config/config.yaml checked and with the schema's defaults filled in, as the CLI loads it."""
    settings = io.read_yaml(ROOT / "config" / "config.yaml")
    schema = ROOT / "config" / "schema.yaml"
    check_config(settings, io.read_yaml(schema))
    snakemake_validate(settings, str(schema))
    return settings


@st.composite
def run_settings(draw) -> dict:
    """The analysis choices an evaluator may make for a small cohort (partial overrides)."""
    return {
        "panel": {"norms_year": draw(st.sampled_from([2020, 2015]))},
        "match": {
            "method": draw(st.sampled_from(["propensity", "vcg", "entropy"])),
            "ratio": draw(st.sampled_from([5, 1])),
            "replace": draw(st.booleans()),
            "strata": draw(st.sampled_from([[], ["grade_band"]])),
            "caliper": draw(st.sampled_from([0.2, None])),
        },
        "estimate": {"model": draw(st.sampled_from(["ols_cluster", "ols_cluster", "mixed"]))},
        "report": {"min_n": draw(st.sampled_from([10, 1, 3]))},
    }


def _as_run(run: dict) -> dict:
    """A drawn run as the analyses ship it: entropy weights, as the doubly-robust variant,
    balance the test window too and weight the cohort whole (no match strata)."""
    if run["match"]["method"] != "entropy":
        return run
    weighted = run["match"] | {"strata": [], "covariates": DOUBLY_ROBUST_COVARIATES}
    return run | {"match": weighted}


def _merged(base: dict, override: dict) -> dict:
    return {k: {**v, **override.get(k, {})} if isinstance(v, dict) else v for k, v in base.items()}


def _cohort(*schools: SchoolSpec, **changes) -> CohortSpec:
    """A plain cohort (both terms, math and reading, no quirks) of ``schools``."""
    plain = {
        "fall_year": 2021, "layout": "C", "n_districts": 1, "terms": ("fall", "spring"),
        "subjects": ("math", "reading"), "pl_free_subject": None, "missing_term_rate": 0.0,
        "mover_rate": 0.0, "duplicate_rate": 0.0, "invalid_rate": 0.0, "no_grade_rate": 0.0,
        "no_roster_rate": 0.0, "blank_gender_rate": 0.0, "split_by_district": False,
        "subfolders": False, "tab_delimited": False, "fault": None, "seed": 1,
    }  # fmt: skip
    return CohortSpec(schools=schools, **(plain | changes))


def _school(name: str, years_pl: int, n: int, *, grades=(3, 4), sector="charter", frl=50.0):
    return SchoolSpec(0, name, sector, years_pl, frl, 11, grades, n)


RUN = {
    "panel": {"norms_year": 2020},
    "match": {"method": "propensity", "ratio": 5, "replace": True, "strata": [], "caliper": 0.2},
    "estimate": {"model": "ols_cluster"},
    "report": {"min_n": 10},
}
COMPARISON = tuple(_school(f"Comparison {i}", 0, 30, sector="district") for i in range(3))
#: Cohorts that crashed a stage when the suite was written (/work/brief/crashes.md), kept as
#: explicit examples so they run first, every time, whatever the generator draws.
REGRESSIONS = {
    "one PL student, no comparison school": (
        _cohort(_school("PL", 1, 1, grades=(3,), frl=None)),
        RUN,
    ),
    "one PL school of one student": (_cohort(_school("PL", 1, 1), *COMPARISON), RUN),
    "one PL school of twenty": (_cohort(_school("PL", 1, 20), *COMPARISON), RUN),
    "two PL schools, one of one student": (
        _cohort(_school("PL A", 1, 20), _school("PL B", 2, 1), *COMPARISON),
        RUN | {"report": {"min_n": 1}},
    ),
    "three PL schools, grades 3-4 only": (
        _cohort(
            _school("PL A", 1, 20),
            _school("PL B", 2, 20),
            _school("PL C", 3, 20, sector="district"),
            *COMPARISON,
        ),
        RUN,
    ),
    "reading without PL students": (
        _cohort(
            _school("PL A", 1, 20), _school("PL B", 2, 20), *COMPARISON, pl_free_subject="reading"
        ),
        RUN,
    ),
    "PL grades no comparison school tests": (
        _cohort(
            _school("PL A", 1, 20, grades=(9,)), _school("PL B", 2, 20, grades=(9,)), *COMPARISON
        ),
        RUN,
    ),
    "fall tests only": (_cohort(_school("PL", 1, 20), *COMPARISON, terms=("fall",)), RUN),
}
#: Tiny cohorts for the robustness checks, the MDE, the school-weighted effect and the
#: doubly-robust weights (issue 12): each must end in numbers or notes, never a crash.
ENTROPY = RUN | {"match": {"method": "entropy", "strata": []}}
REGRESSIONS |= {
    "doubly robust, one PL school": (_cohort(_school("PL", 1, 20), *COMPARISON), ENTROPY),
    "doubly robust, two PL schools": (
        _cohort(_school("PL A", 1, 20), _school("PL B", 2, 20), *COMPARISON),
        ENTROPY,
    ),
    "one comparison school": (
        _cohort(_school("PL A", 1, 20), _school("PL B", 2, 20), COMPARISON[0]),
        RUN,
    ),
    "doubly robust, one comparison school": (
        _cohort(_school("PL A", 1, 20), _school("PL B", 2, 20), COMPARISON[0]),
        ENTROPY,
    ),
    "students lost in both arms": (
        _cohort(_school("PL A", 1, 20), _school("PL B", 2, 20), *COMPARISON, missing_term_rate=0.4),
        RUN,
    ),
    # PL schools only: PL students lost, no comparison students' rate (printed as "<NA>%")
    "PL students lost, no comparison school": (
        _cohort(_school("PL A", 1, 30), _school("PL B", 2, 30), missing_term_rate=0.4),
        RUN,
    ),
}


def _with_regressions(test):
    for spec, run in REGRESSIONS.values():
        test = example(spec=spec, run=run)(test)
    return test


@_with_regressions
@given(spec=cohort_specs(), run=run_settings())
def test_odd_cohort_ends_in_accounted_outputs_or_one_clear_error(base_config, spec, run):
    config = _merged(base_config, _as_run(run))
    note(spec.describe())  # a failing example's cohort in one line
    with tempfile.TemporaryDirectory(prefix="pl_eval_property_") as scratch:
        raw, out = Path(scratch) / "raw", Path(scratch) / "out"
        expected = write_cohort(spec, raw)
        check_cohort(spec, expected, config, raw, out)


def check_cohort(spec: CohortSpec, expected: Expected, config: dict, raw: Path, out: Path):
    """Run every stage; check each one's outputs, or that it stopped with a clean error."""
    runner = Stages(raw, out, config)
    if expected.faulty or not expected.test_rows:
        with pytest.raises(InputError) as stopped:
            runner.ingest()
        assert_clean_message(stopped.value)
        assert not any(out.glob("*")), "a failed ingest left outputs behind"
        event(f"input error at ingest ({spec.fault or 'no test rows'})")
        return
    if not expected.seasons():  # every test rejected: one line names the commonest reason
        with pytest.raises(InputError, match="test rows that pass the screens") as stopped:
            runner.ingest()
        assert_clean_message(stopped.value)
        assert not any(out.glob("*")), "a failed ingest left outputs behind"
        event("input error at ingest (every test rejected)")
        return
    runner.ingest()
    check_ingest(expected, out)
    if expected.seasons() != {"fall", "spring"}:  # nothing can be paired: one line says why
        with pytest.raises(InputError, match="fall and spring tests") as stopped:
            runner.build_panel()
        assert_clean_message(stopped.value)
        event("input error at build_panel (a missing term)")
        return
    for stage, check in (
        (runner.build_panel, lambda: check_panel(spec, expected, config, out)),
        (runner.match, lambda: check_match(out)),
        (runner.estimate, lambda: check_estimates(out)),
        (runner.robustness, lambda: check_robustness(out)),
        (runner.report, lambda: check_report(spec, out)),
    ):
        try:
            stage()
        except CLEAN_ERRORS as exc:
            assert_clean_message(exc)
            event(f"clean error at {stage.__name__}: {type(exc).__name__}")
            return
        check()
    event("all outputs written")


class Stages:
    """The workflow's stage calls for one cohort, with its file names (workflow/rules/)."""

    def __init__(self, raw: Path, out: Path, config: dict):
        self.raw, self.out, self.config = raw, out, config

    def at(self, name: str) -> Path:
        return self.out / name

    def ingest(self) -> None:
        stages.ingest(
            self.raw,
            **{k: self.at(f"{k}.parquet") for k in ("scores", "duplicates", "rejects", "schools")},
            summary=self.at("ingest_summary.json"),
            settings=self.config["ingest"],
        )

    def build_panel(self) -> None:
        stages.build_panel(
            **{k: self.at(f"{k}.parquet") for k in ("scores", "rejects", "schools", "panel")},
            exclusions=self.at("exclusions.csv"),
            settings=self.config["panel"],
            lost_students=self.at("lost_students.parquet"),
        )

    def match(self) -> None:
        for s in SUBJECTS:
            stages.match(
                panel=self.at("panel.parquet"),
                subject=s,
                **{k: self.at(f"{k}_{s}.parquet") for k in ("matched", "pairs", "propensity")},
                balance=self.at(f"balance_{s}.csv"),
                summary=self.at(f"match_summary_{s}.json"),
                love_plot=self.at(f"love_{s}.png"),
                overlap_plot=self.at(f"overlap_{s}.png"),
                settings=self.config["match"],
            )

    def estimate(self) -> None:
        for s in SUBJECTS:  # one job per subject, then joined, as the workflow does
            stages.estimate(
                subjects=[s],
                matched=[self.at(f"matched_{s}.parquet")],
                pairs=[self.at(f"pairs_{s}.parquet")],
                estimates=self.at(f"estimates_{s}.parquet"),
                breakout_tests=self.at(f"breakout_tests_{s}.parquet"),
                trajectory=self.at(f"trajectory_{s}.parquet"),
                settings=analysis_section(self.config, "main", "estimate"),
                school_trajectory=self.at(f"school_trajectory_{s}.parquet"),
            )
        stages.combine_estimates(
            subject_estimates=[self.at(f"estimates_{s}.parquet") for s in SUBJECTS],
            subject_breakout_tests=[self.at(f"breakout_tests_{s}.parquet") for s in SUBJECTS],
            subject_trajectories=[self.at(f"trajectory_{s}.parquet") for s in SUBJECTS],
            estimates=self.at("estimates.parquet"),
            estimates_csv=self.at("estimates.csv"),
            breakout_tests=self.at("breakout_tests.csv"),
            trajectory=self.at("trajectory.csv"),
            summary=self.at("estimate_summary.txt"),
            subject_school_trajectories=[
                self.at(f"school_trajectory_{s}.parquet") for s in SUBJECTS
            ],
            school_trajectory=self.at("school_trajectory.parquet"),
        )

    def robustness(self) -> None:
        """The main analysis's robustness tables, as workflow/rules/robustness.smk runs them."""
        stages.robustness(
            subjects=list(SUBJECTS),
            matched=[self.at(f"matched_{s}.parquet") for s in SUBJECTS],
            pairs=[self.at(f"pairs_{s}.parquet") for s in SUBJECTS],
            estimates=self.at("estimates.parquet"),
            panel=self.at("panel.parquet"),
            lost_students=self.at("lost_students.parquet"),
            exclusions=self.at("exclusions.csv"),
            **{name: self.at(f"{name}.csv") for name in ROBUSTNESS_TABLES},
            settings=analysis_section(self.config, "main", "estimate"),
        )

    def report(self) -> None:
        """The HTML report, its figures and tables and the school pages; the PDFs (WeasyPrint,
        seconds) are left out."""
        stages.report(
            estimates=self.at("estimates.parquet"),
            breakout_tests=self.at("breakout_tests.csv"),
            trajectory=self.at("trajectory.csv"),
            exclusions=self.at("exclusions.csv"),
            schools=self.at("schools.parquet"),
            subjects=list(SUBJECTS),
            balance=[self.at(f"balance_{s}.csv") for s in SUBJECTS],
            match_summary=[self.at(f"match_summary_{s}.json") for s in SUBJECTS],
            propensity=[self.at(f"propensity_{s}.parquet") for s in SUBJECTS],
            config=self.config,
            html=self.at("report/report.html"),
            figures=self.at("report/figures"),
            tables=self.at("report/tables"),
            suppression_log=self.at("report/suppression_log.csv"),
            settings=self.config["report"],
            **{name: self.at(f"{name}.csv") for name in ROBUSTNESS_TABLES},
            school_trajectory=self.at("school_trajectory.parquet"),
            school_pages=self.at("report/schools"),
            ingest_summary=self.at("ingest_summary.json"),  # the school year, as the rule reads it
        )


def assert_clean_message(exc: BaseException) -> None:
    """One short line per problem: no traceback, no empty lines, nothing over MAX_LINE."""
    text = str(exc)
    lines = text.splitlines()
    assert lines, f"{type(exc).__name__} with an empty message"
    for line in lines:
        assert line.strip(), f"blank line in {text!r}"
        assert len(line) < MAX_LINE, f"line of {len(line)} characters: {line[:120]}..."
        assert "Traceback" not in line and 'File "' not in line, line
    if isinstance(exc, InputError):
        assert len(lines) == min(len(exc.problems), 21)


def check_ingest(expected: Expected, out: Path) -> None:
    """Every row read lands once, per file, as the rows written say it must."""
    summary = json.loads((out / "ingest_summary.json").read_text())
    assert set(summary["files"]) == set(expected.files)
    for name, counts in expected.files.items():
        got = summary["files"][name]
        assert {k: got[k] for k in counts} == counts, name
    totals = summary["totals"]
    assert totals["rows_read"] == expected.test_rows
    assert totals["rows_read"] == totals["kept"] + totals["duplicates"] + totals["rejected"]
    rejects = io.read_parquet(out / "rejects.parquet")
    scores = io.read_parquet(out / "scores.parquet")
    assert len(scores) == totals["kept"]
    assert set(scores["gender"].dropna()) <= {"M", "F"}  # however a district spelt it
    assert len(io.read_parquet(out / "duplicates.parquet")) == totals["duplicates"]
    assert int(rejects["record"].eq("test").sum()) == totals["rejected"]
    assert rejects["reason"].notna().all()


def check_panel(spec: CohortSpec, expected: Expected, config: dict, out: Path) -> None:
    """The sample flow is the one the rows written imply, and the panel holds the paired."""
    flow = pd.read_csv(out / "exclusions.csv")
    got = Counter(
        {(r.subject, r.arm, r.reason): r.n_students for r in flow.itertuples() if r.n_students}
    )
    want = expected.flow(spec, config["panel"]["norms_year"])
    assert got == want
    panel = io.read_parquet(out / "panel.parquet")
    assert len(panel) == sum(n for (_, _, reason), n in want.items() if reason == "paired")
    assert not panel.duplicated(["student_key", "subject"]).any()


def check_match(out: Path) -> None:
    """Matched samples hold only panel students, in their own arm; summaries say why not."""
    panel = io.read_parquet(out / "panel.parquet")
    for s in SUBJECTS:
        students = panel[panel["subject"] == s].set_index("student_key")["treated"]
        matched = io.read_parquet(out / f"matched_{s}.parquet")
        assert matched["student_key"].isin(students.index).all(), s
        arm = students.reindex(matched["student_key"]).to_numpy()
        assert (arm == matched["treated"].astype(bool).to_numpy()).all(), s
        summary = json.loads((out / f"match_summary_{s}.json").read_text())
        treated = summary["sample_sizes"]["treated"]
        unmatched = sum(summary["unmatched_by_reason"].values())
        assert treated["matched"] + unmatched == int(students.sum()), (s, summary)
        assert (out / f"balance_{s}.csv").is_file()


def check_estimates(out: Path) -> None:
    """One row per subject x scope x group, each with finite numbers or a note saying why."""
    estimates = io.read_parquet(out / "estimates.parquet")
    for s in SUBJECTS:
        rows = estimates[estimates["subject"] == s]
        for scope, groups in BREAKOUT_GROUPS.items():
            assert sorted(rows.loc[rows["scope"] == scope, "group"]) == sorted(groups), (s, scope)
        matched = io.read_parquet(out / f"matched_{s}.parquet")
        schools = matched.loc[matched["treated"].astype(bool), ["district", "school"]]
        want = sorted(map(tuple, schools.drop_duplicates().astype(str).to_numpy()))
        got = rows.loc[rows["scope"] == "school", ["district", "group"]].astype(str)
        assert sorted(map(tuple, got.to_numpy())) == want, s
    # df is +inf where an interval is normal (a school's own estimate): a reference
    # distribution, not a number that overflowed
    numbers = estimates.select_dtypes("number").drop(columns="df", errors="ignore")
    assert not np.isinf(numbers.to_numpy(float)).any(), "infinite estimate cells"
    unexplained = estimates[EFFECT].isna().any(axis=1) & estimates["note"].fillna("").eq("")
    assert not unexplained.any(), estimates.loc[unexplained, ["subject", "scope", "group"]]
    done = estimates.dropna(subset=EFFECT)
    assert done["estimate"].between(done["ci_low"], done["ci_high"]).all()
    assert done["p_value"].between(0, 1).all() and (done["se"] >= 0).all()
    for name in ("breakout_tests.csv", "trajectory.csv"):
        table = pd.read_csv(out / name).select_dtypes("number")
        assert not np.isinf(table.to_numpy(float)).any(), name


#: The robustness stage's tables (workflow/rules/robustness.smk), by stage argument name.
ROBUSTNESS_TABLES = ("confounding", "attrition", "attrition_baseline", "lee_bounds")
#: Per table, columns that are numbers together: all finite, or the row's note says why not.
ROBUSTNESS_NUMBERS = {
    "confounding": ["estimate", "rv"],
    "attrition": ["treated_rate", "comparison_rate", "differential"],
    "attrition_baseline": ["smd"],
    "lee_bounds": ["lower", "upper"],
}


def check_robustness(out: Path) -> None:
    """Every subject has its rows, each with its numbers or a note saying why not; Lee bounds
    hold the estimate; no infinite cell; the MDE sits beside every estimate that has an SE."""
    estimates = io.read_parquet(out / "estimates.parquet")
    tables = {name: pd.read_csv(out / f"{name}.csv") for name in ROBUSTNESS_TABLES}
    wanted = estimates[estimates["scope"].isin(["pooled", "sector"])]
    assert len(tables["confounding"].drop_duplicates(["subject", "scope", "group"])) == len(wanted)
    for name, table in tables.items():
        numbers = table.select_dtypes("number")
        assert not np.isinf(numbers.to_numpy(float)).any(), name
        unexplained = table[ROBUSTNESS_NUMBERS[name]].isna().any(axis=1) & table["note"].fillna(
            ""
        ).eq("")
        assert not unexplained.any(), (name, table[unexplained].to_dict("records"))
    lee = tables["lee_bounds"].dropna(subset=["lower", "upper"])
    assert (lee["lower"] <= lee["estimate"] + 1e-9).all()
    assert (lee["estimate"] <= lee["upper"] + 1e-9).all()
    # equal retention in both arms: nothing to trim, the bounds are the estimate
    equal = lee["treated_retention"] == lee["comparison_retention"]
    np.testing.assert_allclose(lee.loc[equal, "lower"], lee.loc[equal, "estimate"], atol=1e-8)
    np.testing.assert_allclose(lee.loc[equal, "upper"], lee.loc[equal, "estimate"], atol=1e-8)
    conf = tables["confounding"]
    with_se = conf["se"].notna() & conf["df"].notna()
    assert conf.loc[with_se, "mde"].notna().all() and conf.loc[~with_se, "mde"].isna().all()


def check_report(spec: CohortSpec, out: Path) -> None:
    """The page, its tables and figures, the suppression log and a page for each school of the
    report's school table, PL schools only, are all written, and no missing number reaches a
    page as "nan"."""
    pages = [out / "report" / "report.html", *sorted((out / "report" / "schools").iterdir())]
    paged = set()
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert html.rstrip().endswith("</html>"), page.name
        assert unfilled(page) == [] and miscounted(page) == [], page.name
        paged |= {unescape(name) for name in re.findall(r'data-school="([^"]*)"', html)}
    assert paged <= {school.name for school in spec.schools if school.years_pl}
    table = pd.read_csv(out / "report" / "tables" / "schools.csv", keep_default_na=False)
    neutralised = table["school"].str.startswith("'")  # a spreadsheet formula, made text
    assert set(table["school"].mask(neutralised, table["school"].str[1:])) <= paged
    assert any((out / "report" / "tables").glob("*.csv"))
    assert any((out / "report" / "figures").glob("*.png"))
    assert (out / "report" / "suppression_log.csv").is_file()
