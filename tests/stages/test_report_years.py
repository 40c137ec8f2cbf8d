"""The report's section on several school years, on a hand-made multi-year cohort: one-year
effects and spans side by side, the exposure breakout, the placebo in plain words, small
cells suppressed by the report's one solve, text escaped; absent for a one-year cohort."""

from __future__ import annotations

from pathlib import Path

import attacker
import pandas as pd
import pytest
from test_report_stage import EVIL, FIELDS, _estimates, _Page, _run, _scales, _write_inputs

from pl_eval import io, stages

#: name -> (estimate, ci_low, ci_high, n_treated, n_comparison, n_schools, note)
YEARS = {
    "demo@2020-2021": (0.08, 0.01, 0.15, 4, 300, 1, ""),  # 4 PL students: suppressed
    "demo@2021-2022": (0.09, 0.02, 0.16, 250, 500, 3, EVIL),
    "demo@2020-2022": (0.18, 0.07, 0.29, 200, 400, 3, ""),
    "demo@2021-2023": (0.2, 0.1, 0.3, 210, 420, 4, ""),
    "demo@2020-2023": (0.27, 0.12, 0.42, 150, 300, 2, ""),
    "demo@placebo-2020-2021": (0.01, -0.06, 0.08, 120, 240, 2, ""),
    "demo@placebo-2021-2022": (0.15, 0.05, 0.25, 90, 180, 1, ""),
    # no school adopts in 2023-2024 (a fourth year, for the wording only)
    "demo@placebo-2022-2023": (None, None, None, 0, 300, 0, "no PL students"),
}
#: The main year's exposure groups: they add up to its pooled 300 / 600 students.
EXPOSURE = [("1", 0.06, 150, 400, 4), ("2", 0.12, 145, 195, 3), ("3+", 0.3, 5, 5, 1)]


def _pooled(estimate, low, high, n_treated, n_comparison, n_schools, note) -> pd.DataFrame:
    row = ("pooled", "all", "", estimate, low, high, 0.01, None, n_treated, n_comparison,
           n_schools, None)  # fmt: skip
    frame = pd.DataFrame([row], columns=FIELDS).astype(
        {"p_value_bh": float, "shrunken_estimate": float}
    )
    return _scales(frame.assign(subject="math", se=0.05, hedges_g=estimate, note=note,
                                improvement_index=0.0))  # fmt: skip


def _multi_year_inputs(d: Path) -> dict:
    inputs = _write_inputs(d)
    main = _estimates()
    exposure = pd.DataFrame(
        [("exposure", g, "", e, e - 0.1, e + 0.1, 0.2, None, t, c, s, None)
         for g, e, t, c, s in EXPOSURE], columns=FIELDS,
    ).astype({"p_value_bh": float, "shrunken_estimate": float})  # fmt: skip
    exposure = _scales(exposure.assign(subject="math", se=0.05, hedges_g=exposure["estimate"],
                                       improvement_index=0.0, note=""))  # fmt: skip
    io.write_parquet(pd.concat([main, exposure], ignore_index=True), d / "estimates.parquet")
    tests = pd.read_csv(inputs["breakout_tests"])
    exposure_test = {"subject": "math", "scope": "exposure", "groups": "1, 2, 3+",
                     "statistic": 4.1, "df": 2, "p_value": 0.031, "note": ""}  # fmt: skip
    io.write_csv(pd.concat([tests, pd.DataFrame([exposure_test])]), inputs["breakout_tests"])
    paths = []
    for name, values in YEARS.items():
        path = d / f"{name}.parquet"
        io.write_parquet(_pooled(*values), path)
        paths.append(path)
    return inputs | {"year_analyses": list(YEARS), "year_estimates": paths}


@pytest.fixture(scope="module")
def years_report(tmp_path_factory) -> Path:
    inputs = _multi_year_inputs(tmp_path_factory.mktemp("inputs"))
    io.write_text("school_years: {demo: [2020-2021, 2021-2022, 2022-2023]}\n", inputs["config"])
    return _run(inputs, tmp_path_factory.mktemp("report"), cohort="demo")


def test_years_section_sits_after_the_breakouts(years_report):
    page = _Page.of(years_report / "report.html")
    assert page.sections.index("years") == page.sections.index("breakouts") + 1
    assert "3. Several school years" in page.headings
    alt = next(a for a in page.alts if a.startswith("Dot plot of pooled effects"))
    # the 2020-2021 row is suppressed: five periods are drawn, without sectors
    assert alt.startswith("Dot plot of pooled effects in SD units with 95% intervals for 5 periods")
    assert alt.endswith("from 0.09 (2021-2022) to 0.27 (2020-2021 to 2022-2023).")


def test_one_year_effects_and_spans_side_by_side(years_report):
    table = pd.read_csv(years_report / "tables" / "years.csv", dtype=str)
    assert table["school_years"].tolist() == [
        "2020-2021", "2021-2022", "2022-2023",
        "2020-2021 to 2021-2022", "2021-2022 to 2022-2023", "2020-2021 to 2022-2023",
    ]  # fmt: skip
    assert table["n_years"].tolist() == ["1", "1", "1", "2", "2", "3"]
    headline = table[table["analysis"] == "demo"].iloc[0]  # the main analysis is its last year
    assert headline["estimate"] == "0.101" and headline["school_years"] == "2022-2023"
    span = table[table["analysis"] == "demo@2020-2023"].iloc[0]
    assert (span["estimate"], span["ci_low"], span["ci_high"]) == ("0.27", "0.12", "0.42")
    assert (span["n_treated"], span["n_comparison"], span["n_schools"]) == ("150", "300", "2")
    html = (years_report / "report.html").read_text()
    assert "2020-2021 to 2022-2023</th><td>3</td>" in html
    assert "0.27</td><td>0.12 to 0.42</td>" in html


def test_small_year_is_suppressed_and_logged_and_notes_escaped(years_report):
    table = pd.read_csv(years_report / "tables" / "years.csv", dtype=str)
    small = table[table["analysis"] == "demo@2020-2021"].iloc[0]
    assert small[["n_treated", "n_comparison", "estimate", "ci_low"]].isna().all()
    log = pd.read_csv(years_report / "suppression_log.csv")
    hidden = log[(log["table"] == "years") & (log["row"] == "demo@2020-2021 / math")]
    assert set(hidden["column"]) >= {"n_treated", "n_comparison", "estimate"}
    assert hidden["reason"].iloc[0] == "fewer than 10 students"
    html = (years_report / "report.html").read_text()
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html and EVIL not in html


def test_exposure_groups_are_suppressed_by_the_one_solve(years_report):
    table = pd.read_csv(years_report / "tables" / "years_exposure.csv", dtype=str)
    three = table[table["group"] == "3+"].iloc[0]
    assert pd.isna(three["n_treated"]) and pd.isna(three["estimate"])  # 5 students
    # 300 = 150 + 145 + 5: with "1" and "2" shown exactly and the pooled 300 exact, the 5
    # could be worked out, so the solve hides or rounds one of them
    shown = table[table["group"] != "3+"]["n_treated"]
    headline = pd.read_csv(years_report / "tables" / "headline.csv", dtype=str)
    exact = [v for v in [*shown, headline["n_treated"].iloc[0]] if isinstance(v, str)
             and not v.startswith("≈")]  # fmt: skip
    assert len(exact) < 3
    html = (years_report / "report.html").read_text()
    assert "difference between exposure groups: p = 0.031" in html


def test_placebo_reads_as_a_falsification_check(years_report):
    html = (years_report / "report.html").read_text()
    assert (
        "Placebo on 2020-2021, math: the check passes: the interval (−0.06 to 0.08 SD) "
        "includes zero." in html
    )
    assert (
        "Placebo on 2021-2022, math: the check fails: the interval (0.05 to 0.25 SD) lies "
        "above zero. In 2021-2022, before adopting PL, the schools that adopted in 2022-2023 "
        "already grew more than comparable never-PL schools" in html
    )
    assert "Placebo on 2022-2023, math: no school adopted PL in 2023-2024: nothing to check." in (
        html
    )
    placebo = pd.read_csv(years_report / "tables" / "years_placebo.csv", dtype=str)
    assert placebo["school_years"].tolist() == ["2020-2021", "2021-2022", "2022-2023"]


def test_brief_counts_the_school_years(years_report):
    html = (years_report / "report.html").read_text()
    assert "test scores over 3 school years" in html


def test_one_year_cohort_has_no_years_section(tmp_path):
    out = _run(_write_inputs(tmp_path), tmp_path / "report")
    page = _Page.of(out / "report.html")
    assert "years" not in page.sections
    assert not (out / "tables" / "years.csv").exists()


def test_no_suppressed_years_count_can_be_worked_out(tmp_path):
    # 3+ years of exposure: 5 PL students, 300 - 150 - 145 if the other groups and the pooled
    # count were all exact; the attacker knows the groups add up to the pooled count
    inputs = _multi_year_inputs(tmp_path)
    io.write_text("school_years: {demo: [2020-2021, 2021-2022, 2022-2023]}\n", inputs["config"])

    def render(out: Path, settings: dict) -> Path:
        with attacker.figures_undrawn():
            stages.report(**inputs, html=out / "report.html", figures=out / "figures",
                          tables=out / "tables", suppression_log=out / "log.csv",
                          settings=settings, cohort="demo")  # fmt: skip
        return out

    truth = attacker.read_report(render(tmp_path / "truth", {"min_n": 1}))
    shown = attacker.read_report(render(tmp_path / "shown", {"min_n": 10, "round_counts_to": 5}))
    assert truth.cells["main|math|exposure|3+|n_treated"] == 5
    assert shown.cells["main|math|exposure|3+|n_treated"] is None
    assert truth.cells["demo@2020-2021|math|pooled|all|n_treated"] == 4
    assert shown.cells["demo@2020-2021|math|pooled|all|n_treated"] is None
    relations = attacker.relations(truth, {})
    assert {"main|math|pooled|all|n_treated": 1, "main|math|exposure|1|n_treated": -1,
            "main|math|exposure|2|n_treated": -1, "main|math|exposure|3+|n_treated": -1,
            } in relations  # fmt: skip
    assert attacker.recovered(shown, truth, relations, 10) == {}
