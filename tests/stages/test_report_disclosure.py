"""The attacker test: no suppressed count can be worked out from a rendered report.

A hand-made math cohort in which the suppression before issue 14 leaked: a 3-student charter
school ("Tiny Charter") hidden with the smallest other school of the subject (a district
school), while the charter breakout and the years group still showed totals, so
charter − Oak − Elm = 3. A sample-flow group with 4 students without a valid test is the same
kind of leak across tables (in files − valid). Sensitivity variants repeat the main counts
(one reuses the main students) and a robustness section repeats them again.
"""

from __future__ import annotations

from pathlib import Path

import attacker
import numpy as np
import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.norms import percentile_points
from pl_eval.report import render

MIN_N = 10
SCHOOLS = [
    # school, sector, PL start, PL students, comparison students
    ("Tiny Charter", "charter", 2013, 3, 9),
    ("Oak Charter", "charter", 2013, 40, 80),
    ("Elm Charter", "charter", 2014, 50, 100),
    ("Pine District", "district", 2014, 60, 120),
    ("Ash District", "district", 2014, 12, 24),
]
START = {("D1", s[0]): s[2] for s in SCHOOLS}


@pytest.fixture(autouse=True)
def _figures_undrawn():
    """Every report here is read by the attacker, which reads no image: none is drawn."""
    with attacker.figures_undrawn():
        yield


def _row(scope, group, n_t, n_c, district="", estimate=0.1):
    return {
        "subject": "math", "scope": scope, "group": group, "district": district,
        "estimate": estimate, "se": 0.05, "ci_low": estimate - 0.1, "ci_high": estimate + 0.1,
        "p_value": 0.04, "p_value_bh": np.nan, "n_treated": n_t, "n_comparison": n_c,
        "n_schools": 1, "shrunken_estimate": np.nan, "note": "", "df": 10.0,
    }  # fmt: skip


def estimates(schools=SCHOOLS) -> pd.DataFrame:
    """Pooled, breakouts and schools of ``schools`` (as :data:`SCHOOLS`)."""
    frame = pd.DataFrame([s[:5] for s in schools],
                         columns=["school", "sector", "start", "n_t", "n_c"])  # fmt: skip
    rows = [_row("pooled", "all", frame.n_t.sum(), frame.n_c.sum())]
    rows.append(_row("pooled_schools", "all", frame.n_t.sum(), frame.n_c.sum()))
    for sector, part in frame.groupby("sector"):
        rows.append(_row("sector", sector, part.n_t.sum(), part.n_c.sum()))
    years = (2014 - frame["start"] + 1).astype(str)
    for label, part in frame.groupby(years):
        rows.append(_row("years", label, part.n_t.sum(), part.n_c.sum()))
    rows.append(_row("grade_band", "3-5", frame.n_t.sum(), frame.n_c.sum()))
    rows += [_row("school", r.school, r.n_t, r.n_c, "D1", 0.2) for r in frame.itertuples()]
    out = pd.DataFrame(rows)
    points = percentile_points(out["estimate"])
    mde = 2.8 * out["se"]
    return out.assign(
        percentile_points=points, hedges_g=out["estimate"], improvement_index=points,
        comparison_percentile=50.0, percentile_ci_low=percentile_points(out["ci_low"]),
        percentile_ci_high=percentile_points(out["ci_high"]),
        percentile_points_median=np.where(out["scope"] == "pooled", points, np.nan),
        mde=mde, mde_percentile_points=percentile_points(mde),
    )  # fmt: skip


def write_inputs(d: Path, *, variants: bool = True, schools=SCHOOLS) -> dict:
    est = estimates(schools)
    n_t, n_c = int(est.n_treated[0]), int(est.n_comparison[0])
    io.write_parquet(est, d / "estimates.parquet")
    io.write_csv(pd.DataFrame({"subject": ["math"], "scope": ["sector"],
                               "groups": ["charter, district"], "statistic": [1.2], "df": [1],
                               "p_value": [0.27], "note": [""]}), d / "tests.csv")  # fmt: skip
    io.write_csv(
        pd.DataFrame({
            "subject": "math", "arm": ["treated", "treated", "comparison", "comparison"],
            "season": ["fall", "spring"] * 2, "mean_percentile": [40.0, 45.0, 41.0, 42.0],
            "ci_low": [38.0, 43.0, 39.0, 40.0], "ci_high": [42.0, 47.0, 43.0, 44.0],
            "n_students": [n_t, n_t, n_c, n_c],
        }),
        d / "trajectory.csv",
    )  # fmt: skip
    io.write_csv(
        pd.DataFrame({
            "subject": "math", "arm": ["treated"] * 3 + ["comparison"] * 3,
            "reason": ["no_valid_test", "no_fall", "paired"] * 2,
            "n_students": [4, 20, n_t + 5, 0, 50, 900],
        }),
        d / "exclusions.csv",
    )  # fmt: skip
    io.write_parquet(
        pd.DataFrame({
            "district_name": "D1", "school_name": [s[0] for s in schools],
            "sector": [s[1] for s in schools], "pl_start_year": [s[2] for s in schools],
        }),
        d / "schools.parquet",
    )  # fmt: skip
    io.write_csv(
        pd.DataFrame({"covariate": ["fall_z", "fall_z"], "sample": ["all", "matched"],
                      "smd": [0.3, 0.02], "abs_smd": [0.3, 0.02], "var_ratio": [1.1, 1.0],
                      "wwc_verdict": ["not equivalent", "satisfied"]}),
        d / "balance_math.csv",
    )  # fmt: skip
    io.write_json(
        {"match_rate": 0.97, "method": "Nearest neighbour", "outside_support": 0,
         "sample_sizes": {"treated": {"matched": n_t, "matched_ess": float(n_t), "all": n_t},
                          "comparison": {"matched": n_c, "matched_ess": float(n_c)}}},
        d / "match_summary_math.json",
    )  # fmt: skip
    io.write_parquet(
        pd.DataFrame({"treated": [True, False], "logit": [0.5, 0.4], "weight": [1.0, 1.0]}),
        d / "propensity_math.parquet",
    )
    config = "report:\n  min_n: 10\nanalyses:\n  main: {}\n"
    extra: dict = {}
    if variants:
        config += "  no_covariates: {estimate: {covariates: []}}\n  vcg: {match: {method: vcg}}\n"
        io.write_parquet(est, d / "no_covariates.parquet")  # the same students
        vcg = est.assign(n_treated=est["n_treated"] + 1, n_comparison=est["n_comparison"] * 2)
        io.write_parquet(vcg[vcg["scope"] != "school"], d / "vcg.parquet")
        extra = {
            "analyses": ["main", "no_covariates", "vcg"],
            "analysis_estimates": [d / "estimates.parquet", d / "no_covariates.parquet",
                                   d / "vcg.parquet"],
        }  # fmt: skip
    io.write_text(config, d / "config.yaml")
    return {
        "estimates": d / "estimates.parquet", "breakout_tests": d / "tests.csv",
        "trajectory": d / "trajectory.csv", "exclusions": d / "exclusions.csv",
        "schools": d / "schools.parquet", "subjects": ["math"],
        "balance": [d / "balance_math.csv"], "match_summary": [d / "match_summary_math.json"],
        "propensity": [d / "propensity_math.parquet"], "config": d / "config.yaml", **extra,
    }  # fmt: skip


def render_report(inputs: dict, out: Path, min_n: int = MIN_N, round_to: int = 5) -> Path:
    stages.report(
        **inputs, html=out / "report.html", figures=out / "figures", tables=out / "tables",
        suppression_log=out / "suppression_log.csv",
        settings={"min_n": min_n, "round_counts_to": round_to},
    )  # fmt: skip
    return out


def attack(
    inputs: dict, tmp: Path, truth: Path | None = None, **settings
) -> tuple[dict, attacker.Published]:
    """What the attacker recovers from the report, and what it read; ``truth``: a min_n 1
    render of the same inputs to read again rather than render anew (seconds of CPU)."""
    truth = attacker.read_report(truth or render_report(inputs, tmp / "truth", min_n=1, round_to=1))
    shown = attacker.read_report(render_report(inputs, tmp / "shown", **settings))
    rels = attacker.relations(truth, START)
    return attacker.recovered(shown, truth, rels, MIN_N), shown


@pytest.fixture
def inputs(tmp_path) -> dict:
    folder = tmp_path / "inputs"
    folder.mkdir()
    return write_inputs(folder)


def test_the_attacker_recovers_the_tiny_school_from_per_table_suppression(
    inputs, tmp_path, monkeypatch
):
    # the suppression before issue 14: each table's own complement (the smallest other row)
    monkeypatch.setattr(render, "disclose", lambda *a, **k: None)
    found, shown = attack(inputs, tmp_path)
    assert found["main|math|school|Tiny Charter|D1|n_treated"] == 3
    assert found["main|math|school|Tiny Charter|D1|n_comparison"] == 9
    assert found["exclusion|math|treated|no_valid_test"] == 4
    # what it used: the charter breakout and the charter schools shown
    assert shown.cells["main|math|sector|charter|n_treated"] == 93
    assert shown.cells["main|math|school|Ash District|D1|n_treated"] is None


def test_no_suppressed_count_can_be_recovered(inputs, tmp_path):
    found, shown = attack(inputs, tmp_path)
    assert found == {}
    hidden = sorted(c for c, v in shown.cells.items() if v is None)
    # the tiny school and one more charter school (the smallest that protects it); the flow
    # group's 4 students without a valid test and the smallest flow cell protecting them
    assert "main|math|school|Tiny Charter|D1|n_treated" in hidden
    assert "main|math|school|Oak Charter|D1|n_treated" in hidden
    assert "main|math|school|Ash District|D1|n_treated" not in hidden
    assert "exclusion|math|treated|no_valid_test" in hidden
    assert shown.cells["main|math|sector|charter|n_treated"] == 93  # breakouts stay exact
    # every "N students" in the page's text is a published count (or the threshold)
    values = {v if isinstance(v, int) else v[1] for v in shown.cells.values() if v is not None}
    for text in shown.text_counts:
        assert int(text.strip("\u2248").replace(",", "")) in values | {MIN_N}, text


def test_counts_are_rounded_when_only_totals_could_protect_a_cell(tmp_path):
    # the only charter school is tiny: the charter breakout is as small and hidden, and the
    # pooled count less the district breakout (or less the district schools) would give it:
    # no school's hiding helps, so the pooled count (and the one grade band's, equal to it) is
    # shown rounded to 5, estimates kept
    schools = [SCHOOLS[0], SCHOOLS[3], SCHOOLS[4]]
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = write_inputs(folder, variants=False, schools=schools)
    found, shown = attack(inputs, tmp_path)
    assert found == {}
    assert shown.cells["main|math|sector|charter|n_treated"] is None
    assert shown.cells["main|math|pooled|all|n_treated"] == ("\u2248", 75)
    assert shown.cells["main|math|grade_band|3-5|n_treated"] == ("\u2248", 75)
    assert shown.cells["main|math|sector|district|n_treated"] == 72  # pooled rounded is enough
    assert shown.cells["main|math|school|Pine District|D1|n_treated"] == 60  # schools stay
    headline = pd.read_csv(tmp_path / "shown/tables/headline.csv")
    assert headline.loc[0, "n_treated"] == "\u224875"
    assert headline.loc[0, "estimate"] == pytest.approx(0.1)
    page = (tmp_path / "shown/report.html").read_text()
    assert "\u224875 PL students in" in page  # the finding says it is rounded
    log = pd.read_csv(tmp_path / "shown/suppression_log.csv")
    assert "rounded to a multiple of 5" in " ".join(log["reason"])
    # with rounding off (round_counts_to: 1) the pooled counts are hidden instead
    found, shown = attack(inputs, tmp_path / "hide", truth=tmp_path / "truth", round_to=1)
    assert found == {}
    assert shown.cells["main|math|pooled|all|n_treated"] is None


def _prefixed(published: attacker.Published, rels: list[dict], prefix: str):
    cells = {f"{prefix}{k}": v for k, v in published.cells.items()}
    return cells, [{f"{prefix}{k}": v for k, v in r.items()} for r in rels]


def _combined(inputs: dict, reports: Path, min_n: int, round_to: int):
    """The cohort's report and a combined report of it, as read by the attacker."""
    cohort = reports / "2014-2015"
    render_report(inputs, cohort, min_n=min_n, round_to=round_to)
    stages.combined_report(
        cohorts=["2014-2015"], estimates=[inputs["estimates"]], schools=[inputs["schools"]],
        school_years=["2014-2015"], config=inputs["config"], html=reports / "combined/report.html",
        tables=reports / "combined/tables", figures=reports / "combined/figures",
        suppression_log=reports / "combined/log.csv",
        settings={"min_n": min_n, "round_counts_to": round_to},
    )  # fmt: skip
    return attacker.read_report(cohort), attacker.read_report(reports / "combined")


@pytest.mark.parametrize("solved", [True, False])
def test_the_combined_report_and_the_cohort_report_together_give_nothing_away(
    tmp_path, monkeypatch, solved
):
    # the tiny charter school alone in its sector: the cohort report rounds its pooled count;
    # a combined report showing that count exactly (as one deciding on its own table did)
    # gives the school away with the cohort report's district schools: 75 - 60 - 12 = 3
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = write_inputs(folder, variants=False, schools=[SCHOOLS[0], SCHOOLS[3], SCHOOLS[4]])
    if not solved:
        monkeypatch.setattr(render, "_cohort_decisions", lambda *a, **k: None)
    truth_cohort, truth_combined = _combined(inputs, tmp_path / "truth", 1, 1)
    cohort, combined = _combined(inputs, tmp_path / "shown", MIN_N, 5)
    truth = attacker.Published()
    shown = attacker.Published()
    rels = []
    for part, true, prefix in ((cohort, truth_cohort, "2014-2015/"), (combined, truth_combined,
                                                                      "")):  # fmt: skip
        true_cells, relations = _prefixed(true, attacker.relations(true, START), prefix)
        shown_cells, _ = _prefixed(part, [], prefix)
        for name, value in true_cells.items():
            truth.put(name, value if isinstance(value, int) else None)
        for name, value in shown_cells.items():
            shown.put(name, value if not isinstance(value, tuple) else f"\u2248{value[1]}")
        rels += relations
    found = attacker.recovered(shown, truth, rels, MIN_N)
    pooled = "2014-2015/main|math|pooled|all|n_treated"
    if solved:
        assert found == {}
        assert combined.cells[pooled] == ("\u2248", 75)
    else:
        assert found["2014-2015/main|math|school|Tiny Charter|D1|n_treated"] == 3
        assert combined.cells[pooled] == 75
