"""The report stage on a small hand-made cohort: files, escaping, suppression, determinism."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.norms import percentile_points

EVIL = "<b>x</b> & y"
FIELDS = [
    "scope", "group", "district", "estimate", "ci_low", "ci_high", "p_value", "p_value_bh",
    "n_treated", "n_comparison", "n_schools", "shrunken_estimate",
]  # fmt: skip


def _estimates() -> pd.DataFrame:
    rows = [
        ("pooled", "all", "", 0.101, 0.042, 0.16, 0.001, None, 300, 600, 4, None),
        ("school", EVIL, "D1", 0.204, 0.106, 0.302, 0.001, 0.004, 150, 300, 1, 0.18),
        ("school", "=SUM(A1)", "D1", -0.061, -0.159, 0.037, 0.22, 0.29, 106, 250, 1, -0.04),
        ("school", "Small School", "D2", 0.333, 0.137, 0.529, 0.001, 0.004, 40, 45, 1, 0.25),
        ("school", "Tiny School", "D2", 0.777, 0.189, 1.365, 0.01, 0.02, 4, 5, 1, 0.3),
        ("sector", "charter", "", 0.121, 0.043, 0.199, 0.003, None, 190, 345, 2, None),
        ("sector", "district", "", 0.052, -0.046, 0.15, 0.3, None, 110, 255, 2, None),
        ("years", "1", "", 0.091, 0.031, 0.151, 0.004, None, 282, 585, 2, None),
        ("years", "2", "", 0.444, 0.317, 0.571, 0.01, None, 13, 10, 1, None),
        ("years", "3+", "", 0.555, 0.411, 0.699, 0.01, None, 5, 5, 1, None),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=FIELDS).astype(
        {"p_value_bh": float, "shrunken_estimate": float}
    )
    points = percentile_points(frame["estimate"])
    return frame.assign(
        subject="math",
        se=0.05,
        percentile_points=points,
        hedges_g=frame["estimate"],
        improvement_index=points,
        note="",
    )


def _write_inputs(d: Path) -> dict:
    io.write_parquet(_estimates(), d / "estimates.parquet")
    io.write_csv(
        pd.DataFrame(
            {"subject": ["math"], "scope": ["sector"], "groups": ["charter, district"],
             "statistic": [1.2], "df": [1], "p_value": [0.27], "note": [""]}
        ),
        d / "tests.csv",
    )  # fmt: skip
    io.write_csv(
        pd.DataFrame(
            {
                "subject": "math",
                "arm": ["treated", "treated", "comparison", "comparison"],
                "season": ["fall", "spring"] * 2,
                "mean_percentile": [40.0, 45.0, 41.0, 42.0],
                "ci_low": [38.0, 43.0, 39.0, 40.0],
                "ci_high": [42.0, 47.0, 43.0, 44.0],
                "n_students": [300, 300, 600, 600],
            }
        ),
        d / "trajectory.csv",
    )
    io.write_csv(
        pd.DataFrame(
            {
                "subject": "math",
                "arm": ["treated"] * 3 + ["comparison"] * 3 + ["unknown"],
                "reason": ["no_valid_test", "no_fall", "paired"] * 2 + ["paired"],
                "n_students": [5, 20, 300, 0, 50, 900, 0],
            }
        ),
        d / "exclusions.csv",
    )
    io.write_parquet(
        pd.DataFrame(
            {
                "district_name": ["D1", "D1", "D2", "D2"],
                "school_name": [EVIL, "=SUM(A1)", "Small School", "Tiny School"],
                "sector": ["charter", "district", "charter", "district"],
            }
        ),
        d / "schools.parquet",
    )
    io.write_csv(
        pd.DataFrame(
            {
                "covariate": ["fall_z", "fall_z", "frl_pct", "frl_pct"],
                "sample": ["all", "matched"] * 2,
                "smd": [0.3, 0.02, -0.2, 0.04],
                "abs_smd": [0.3, 0.02, 0.2, 0.04],
                "var_ratio": [1.1, 1.0, 0.9, 1.0],
                "wwc_verdict": ["not equivalent", "satisfied", "requires adjustment", "satisfied"],
            }
        ),
        d / "balance_math.csv",
    )
    io.write_json(
        {
            "match_rate": 1.0,
            "method": "Nearest neighbour on the propensity score",
            "outside_support": 1,
            "sample_sizes": {
                "treated": {"matched": 300, "matched_ess": 300.0},
                "comparison": {"matched": 600, "matched_ess": 480.0},
            },
        },
        d / "match_summary_math.json",
    )
    io.write_parquet(
        pd.DataFrame(
            {
                "treated": [True] * 3 + [False] * 4,
                "logit": [0.5, 0.7, 0.9, -1.0, 0.4, 0.6, 0.8],
                "weight": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
            }
        ),
        d / "propensity_math.parquet",
    )
    io.write_text("cohort: demo\nreport:\n  min_n: 10\n", d / "config.yaml")
    return {
        "estimates": d / "estimates.parquet",
        "breakout_tests": d / "tests.csv",
        "trajectory": d / "trajectory.csv",
        "exclusions": d / "exclusions.csv",
        "schools": d / "schools.parquet",
        "subjects": ["math"],
        "balance": [d / "balance_math.csv"],
        "match_summary": [d / "match_summary_math.json"],
        "propensity": [d / "propensity_math.parquet"],
        "config": d / "config.yaml",
    }


def _run(inputs: dict, out: Path, **extra) -> Path:
    stages.report(
        **inputs,
        html=out / "report.html",
        figures=out / "figures",
        tables=out / "tables",
        suppression_log=out / "suppression_log.csv",
        settings={"min_n": 10},
        **extra,
    )
    return out


class _Page(HTMLParser):
    """Collects tags, text and img alt attributes of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.alts = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    inputs = _write_inputs(tmp_path_factory.mktemp("inputs"))
    return _run(inputs, tmp_path_factory.mktemp("report"))


def test_school_names_are_escaped_never_tags(report):
    html = (report / "report.html").read_text()
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html
    assert EVIL not in html
    page = _Page()
    page.feed(html)
    assert "b" not in page.tags
    assert EVIL in "".join(page.text)


def test_small_school_and_its_complement_are_suppressed_and_logged(report):
    html = (report / "report.html").read_text()
    for hidden in ("0.78", "0.33", "1.37", "0.53"):  # Tiny School and Small School estimates
        assert hidden not in html
    assert "0.20" in html and "\u22120.06" in html  # the schools shown
    log = pd.read_csv(report / "suppression_log.csv")
    rows = log.drop_duplicates("row").set_index("row")["reason"]
    assert rows["math / Tiny School / D2"] == "fewer than 10 students"
    assert rows["math / Small School / D2"].startswith("complementary")
    # sample flow: 5 PL students without a valid test, and the 20 without a fall test
    assert rows["math / treated / no_valid_test"] == "fewer than 10 students"
    assert rows["math / treated / no_fall"].startswith("complementary")
    # years of PL: 5 students in year 3+, and year 2 (13) would follow from the pooled total
    assert rows["math / years / 3+"] == "fewer than 10 students"
    assert rows["math / years / 2"].startswith("complementary")
    for hidden in ("0.44", "0.56", "0.32", "0.57", "0.41", "0.70"):
        assert hidden not in html
    exclusions = pd.read_csv(report / "tables/exclusions.csv")
    assert exclusions["n_students"].isna().sum() == 2


def test_every_figure_has_alt_text_and_files(report):
    page = _Page()
    page.feed((report / "report.html").read_text())
    assert len(page.alts) == 5  # breakouts, forest, trajectory, Love and overlap plots
    assert all(alt and len(alt) > 40 for alt in page.alts)
    overlap = [alt for alt in page.alts if alt.startswith("Histograms of the logit propensity")]
    assert len(overlap) == 1 and "1 treated rows lie outside" in overlap[0]
    names = sorted(p.name for p in (report / "figures").iterdir())
    assert names == sorted(
        f"{n}.{ext}"
        for n in ("breakouts_math", "forest_math", "trajectory", "love_math", "overlap_math")
        for ext in ("png", "svg")
    )


def test_csv_tables_neutralise_formulas(report):
    schools = pd.read_csv(report / "tables/schools.csv")
    assert "'=SUM(A1)" in set(schools["school"])
    assert "=SUM(A1)" not in set(schools["school"])


def test_rerun_is_byte_identical_and_run_time_is_shown_only_when_given(report, tmp_path):
    inputs = _write_inputs(tmp_path / "in")
    first = _run(inputs, tmp_path / "a")
    second = _run(inputs, tmp_path / "b", run_time="2026-11-22T08:00Z")
    for name in ("figures/forest_math.png", "figures/forest_math.svg", "tables/schools.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    a, b = (first / "report.html").read_text(), (second / "report.html").read_text()
    assert "not recorded" in a and "2026-11-22T08:00Z" in b
    assert a == b.replace("2026-11-22T08:00Z", "not recorded")
    assert io.sha256(inputs["config"]) in a
