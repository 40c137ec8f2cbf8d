"""A tiny, odd cohort through every stage function, ingest to report.

``tests/data/small_cohort``: two PL schools (14 students each, math only; one named like
markup, one like a spreadsheet formula) and one comparison school (40 students, math and
reading), grade 5 only. So reading has no PL students, math rests on two PL schools and one
comparison school, and every breakout but one sector group is empty. The run must end in a
report that says so, not in a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from report_text import unfilled, words

from pl_eval import stages
from pl_eval.config import analysis_section

DATA = Path(__file__).parents[1] / "data" / "small_cohort"
CONFIG = Path(__file__).parents[2] / "config" / "config.yaml"
SUBJECTS = ["math", "reading"]
MARKUP = 'A$x^2$ <b>&"Academy"'
FORMULA = '=HYPERLINK("x")'
ROBUSTNESS = ("confounding", "attrition", "attrition_baseline", "lee_bounds")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """Every stage in the workflow's order, with the shipped configuration."""
    out = tmp_path_factory.mktemp("small_cohort")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PL_EVAL_KEY", "small-cohort-key")
        _run_stages(out, stages._load_config(CONFIG))
    return out


def _run_stages(out: Path, config: dict) -> None:

    def at(name: str) -> Path:
        return out / name

    stages.ingest(
        DATA,
        **{k: at(f"{k}.parquet") for k in ("scores", "duplicates", "rejects", "schools")},
        summary=at("ingest_summary.json"),
        settings=config["ingest"],
    )
    stages.build_panel(
        **{k: at(f"{k}.parquet") for k in ("scores", "rejects", "schools", "panel")},
        exclusions=at("exclusions.csv"),
        settings=config["panel"],
        lost_students=at("lost_students.parquet"),
    )
    for subject in SUBJECTS:
        stages.match(
            panel=at("panel.parquet"),
            subject=subject,
            matched=at(f"matched_{subject}.parquet"),
            pairs=at(f"pairs_{subject}.parquet"),
            propensity=at(f"propensity_{subject}.parquet"),
            balance=at(f"balance_{subject}.csv"),
            summary=at(f"match_summary_{subject}.json"),
            love_plot=at(f"figures/love_{subject}.png"),
            overlap_plot=at(f"figures/overlap_{subject}.png"),
            settings=config["match"],
        )
        stages.estimate(
            subjects=[subject],
            matched=[at(f"matched_{subject}.parquet")],
            pairs=[at(f"pairs_{subject}.parquet")],
            estimates=at(f"estimates_{subject}.parquet"),
            breakout_tests=at(f"breakout_tests_{subject}.parquet"),
            trajectory=at(f"trajectory_{subject}.parquet"),
            settings=analysis_section(config, "main", "estimate"),
        )
    stages.combine_estimates(
        subject_estimates=[at(f"estimates_{s}.parquet") for s in SUBJECTS],
        subject_breakout_tests=[at(f"breakout_tests_{s}.parquet") for s in SUBJECTS],
        subject_trajectories=[at(f"trajectory_{s}.parquet") for s in SUBJECTS],
        estimates=at("estimates.parquet"),
        estimates_csv=at("estimates.csv"),
        breakout_tests=at("breakout_tests.csv"),
        trajectory=at("trajectory.csv"),
        summary=at("estimates_summary.txt"),
    )
    stages.robustness(
        subjects=SUBJECTS,
        matched=[at(f"matched_{s}.parquet") for s in SUBJECTS],
        pairs=[at(f"pairs_{s}.parquet") for s in SUBJECTS],
        estimates=at("estimates.parquet"),
        panel=at("panel.parquet"),
        lost_students=at("lost_students.parquet"),
        exclusions=at("exclusions.csv"),
        **{k: at(f"{k}.csv") for k in ROBUSTNESS},
        settings=analysis_section(config, "main", "estimate"),
    )
    stages.report(
        estimates=at("estimates.parquet"),
        breakout_tests=at("breakout_tests.csv"),
        trajectory=at("trajectory.csv"),
        exclusions=at("exclusions.csv"),
        schools=at("schools.parquet"),
        subjects=SUBJECTS,
        balance=[at(f"balance_{s}.csv") for s in SUBJECTS],
        match_summary=[at(f"match_summary_{s}.json") for s in SUBJECTS],
        propensity=[at(f"propensity_{s}.parquet") for s in SUBJECTS],
        config=CONFIG,
        html=at("report/report.html"),
        figures=at("report/figures"),
        tables=at("report/tables"),
        suppression_log=at("report/suppression_log.csv"),
        settings=config["report"],
        **{k: at(f"{k}.csv") for k in ROBUSTNESS},
    )


def _text(path: Path) -> str:
    """The visible text of a page, whitespace collapsed (tags dropped, entities decoded)."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())).split())


def test_reading_without_pl_students_is_matched_as_nothing_and_said_so(run):
    summary = json.loads((run / "match_summary_reading.json").read_text())
    assert summary["note"] == "nothing matched in reading: no PL students"
    assert summary["method"] == "not matched: no PL students"
    assert summary["match_rate"] is None and summary["unmatched_by_reason"] == {}
    assert summary["sample_sizes"]["comparison"]["all"] == 40
    assert pd.read_parquet(run / "matched_reading.parquet").empty
    balance = pd.read_csv(run / "balance_reading.csv")
    assert set(balance["wwc_verdict"]) == {"not computable"}
    assert set(balance["note"]) == {"no PL students"}


def test_math_on_two_pl_schools_and_one_comparison_school_is_matched(run):
    summary = json.loads((run / "match_summary_math.json").read_text())
    assert summary["note"] == ""
    assert summary["sample_sizes"]["treated"]["all"] == 28
    matched = pd.read_parquet(run / "matched_math.parquet")
    assert set(matched.loc[~matched["treated"], "school"]) == {"Cedar Elementary"}
    assert set(matched.loc[matched["treated"], "school"]) == {MARKUP, FORMULA}


def test_the_run_ends_in_a_report_that_says_what_could_not_be_estimated(run):
    estimates = pd.read_parquet(run / "estimates.parquet")
    reading = estimates[estimates["subject"] == "reading"]
    assert reading["estimate"].isna().all() and set(reading["note"]) == {"no PL students"}
    pooled = estimates[(estimates["subject"] == "math") & (estimates["scope"] == "pooled")]
    assert pooled["note"].iloc[0].startswith("few PL schools (2)")

    text = _text(run / "report/report.html")
    assert "In reading, no effect could be estimated: no PL students." in text
    assert "Reading no estimate: no PL students 0 0 0" in text
    assert "Reading: nothing matched in reading: no PL students." in text
    assert "but it rests on only 2 PL schools: school-clustered inference rests on few PL " in text
    assert "gained more" not in text and "gained less" not in text
    assert "School-clustered inference rests on few PL schools for math pooled (2 PL schools)" in (
        text
    )
    # 11 of its 14 PL students have a comparison student within the calipers on fall z and FRL
    assert f"{MARKUP} Valley USD charter 11" in text
    html = (run / "report/report.html").read_text()
    assert "A$x^2$ &lt;b&gt;&amp;&#34;Academy&#34;" in html and "<b>" not in html
    # one PL school per sector: sector estimates without an interval, said in words
    assert "charter schools \u22120.2 points (no interval); district schools 9.2 points" in text
    assert unfilled(run / "report/report.html") == []
    assert "math PL school not yet PL 0 math PL grade without norms 0" in words(
        run / "report/report.html"
    )  # the reasons students were left out, PL in capitals
    schools = pd.read_csv(run / "report/tables/schools.csv")
    assert set(schools["school"]) == {MARKUP, "'" + FORMULA}
    for name in ("forest_math", "breakouts_reading", "forest_reading", "love_reading"):
        assert (run / f"report/figures/{name}.svg").stat().st_size > 0


def test_the_report_answers_confounding_and_attrition_without_claiming_more(run):
    """Every student was tested in both terms at one school: no attrition, Lee bounds equal to
    the estimate; the pooled math estimate (2 PL schools, CR2 df about 1) is not significant,
    so RV at 5% is 0; FRL is not in the outcome model (estimate.covariates) and has no bound."""
    attrition = pd.read_csv(run / "attrition.csv").set_index("subject")
    assert attrition.loc["math", ["treated_rate", "comparison_rate"]].tolist() == [0.0, 0.0]
    assert attrition.loc["math", "wwc_attrition"] == "low"
    assert attrition.loc["reading", "note"] == "no PL students tested in the fall"
    assert pd.read_parquet(run / "lost_students.parquet").empty
    lee = pd.read_csv(run / "lee_bounds.csv").set_index("subject")
    assert lee.loc["math", "lower"] == lee.loc["math", "upper"]
    assert lee.loc["math", "lower"] == pytest.approx(lee.loc["math", "estimate"], abs=1e-12)
    assert lee.loc["math", "note"] == "no interval: 2 PL schools are too few for a school bootstrap"
    confounding = pd.read_csv(run / "confounding.csv")
    pooled = confounding[(confounding["subject"] == "math") & (confounding["scope"] == "pooled")]
    assert (pooled["rv_alpha"] == 0).all() and (pooled["rv"] > 0).all()
    assert set(pooled["benchmark"]) == {"fall_z", "frl_pct"}  # both in the outcome model
    assert not pooled["note"].fillna("").str.contains("not in the outcome model").any()

    text = _text(run / "report/report.html")
    for heading in ("Sensitivity to unobserved confounding", "Attrition"):
        assert f". {heading} " in text
    assert "the estimate is not statistically significant at the 5% level as it stands" in text
    assert "A robustness value does not show that there is no such confounder." in text
    assert (
        "Math: 0.0% of PL students tested in the fall had no spring test at the same school, "
        "against 0.0% of students in comparison schools" in text
    )
    assert "Math: both groups kept the same share; Lee bounds equal the estimate." in text
    assert "Unobserved confounding: the robustness values (math " in text
    assert "Attrition: students without a spring test at the same school are not in the " in text
    for name in ROBUSTNESS:
        assert (run / f"report/tables/{name}.csv").is_file()
