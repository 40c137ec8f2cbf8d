"""The brief's wording rules, its reference estimates, what it says the study cannot tell, its
figure, and the colours of the report (WCAG AA contrast, computed)."""

from __future__ import annotations

import itertools
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from pl_eval.report import brief, figures
from pl_eval.report.robustness import robustness

CONFIG = {
    "panel": {"norms_year": 2015},
    "match": {"method": "propensity", "covariates": ["fall_z", "frl_pct"], "exact": ["grade"]},
    "estimate": {"covariates": ["match"]},
}


def row(estimate, low, high, note="", n_treated=300, n_schools=12) -> pd.Series:
    return pd.Series(
        {"estimate": estimate, "ci_low": low, "ci_high": high, "note": note,
         "n_treated": n_treated, "n_schools": n_schools}
    )  # fmt: skip


# 100·(Φ(d) − 0.5), by hand (scipy.stats.norm.cdf): 0.05 → 1.994, −0.02 → −0.798,
# 0.12 → 4.776, 0.09 → 3.586, 0.01 → 0.399, 0.17 → 6.749.


def test_an_interval_covering_zero_reads_as_not_distinguishable_with_its_range():
    text = brief.finding_text("Math", row(0.05, -0.02, 0.12))
    assert text == (
        "Math: the difference between PL students and similar students elsewhere is not "
        "distinguishable from zero (2.0 points, 95% CI \u22120.8 to 4.8); the data are "
        "consistent with anything from a loss of 0.8 to a gain of 4.8 points."
    )


def test_an_interval_above_zero_reads_as_a_gain_and_below_as_a_loss():
    assert brief.finding_text("Reading", row(0.09, 0.01, 0.17)) == (
        "Reading: PL students gained more than similar students elsewhere, by 3.6 percentile "
        "points (95% CI 0.4 to 6.7)."
    )
    assert brief.finding_text("Reading", row(-0.09, -0.17, -0.01)) == (
        "Reading: PL students gained less than similar students elsewhere, by 3.6 percentile "
        "points (95% CI \u22126.7 to \u22120.4)."
    )


def test_wording_is_never_stronger_than_the_interval():
    grid = [-0.3, -0.1, -0.01, 0.0, 0.01, 0.1, 0.3]
    for low, high in itertools.combinations(grid, 2):
        for note in ("", "few PL schools (4): CR2 small-sample df 3.1"):
            r = row((low + high) / 2, low, high, note=note, n_schools=4 if note else 12)
            kind, text = brief.verdict(r), brief.finding_text("Math", r)
            gained = "gained" in text
            if note:
                assert kind == "few schools" and not gained and "confident" in text
            elif low > 0 or high < 0:
                assert gained and ("more" if low > 0 else "less") in text
            else:  # an interval touching or covering zero never reads as an effect
                assert kind == "covers zero" and not gained
                assert "not distinguishable from zero" in text


def test_rows_without_numbers_say_why():
    assert brief.finding_text("Math", row(np.nan, np.nan, np.nan, n_treated=pd.NA), 10) == (
        "Math: too few students to report (fewer than 10 in a group)."
    )
    assert brief.finding_text("Math", row(np.nan, np.nan, np.nan, note="one cluster")) == (
        "Math: no estimate (one cluster)."
    )
    assert brief.verdict(row(0.2, np.nan, np.nan)) == "no interval"
    assert "not a finding" in brief.finding_text("Math", row(0.2, np.nan, np.nan))


def test_a_sector_difference_resting_on_few_schools_is_never_a_finding():
    sectors = pd.DataFrame(
        [{"group": "charter", **row(0.09, 0.01, 0.17)},
         {"group": "district", **row(-0.2, -0.5, 0.1, note="few PL schools (3)", n_schools=3)}]
    )  # fmt: skip
    test = pd.Series({"p_value": 0.01, "note": "few PL schools (3): CR2 small-sample df 2.0"})
    found = brief.sector_text("math", sectors, test)
    assert not found.significant and "is not a confident finding" in found.text
    assert "district schools \u22127.9 points (95% CI \u221219.1 to 4.0, few PL schools)" in (
        found.text
    )
    strong = brief.sector_text("math", sectors, pd.Series({"p_value": 0.01, "note": ""}))
    assert strong.significant and strong.text.startswith("In math, the effect differed")
    none = brief.sector_text("math", sectors, pd.Series({"p_value": 0.4, "note": ""}))
    assert not none.significant and "not statistically distinguishable (p = 0.400)" in none.text


def test_a_sector_estimate_without_an_interval_says_so_instead_of_printing_nan():
    # one PL school in each sector: an estimate, but no school-clustered interval
    sectors = pd.DataFrame(
        [{"group": "charter", **row(-0.005, np.nan, np.nan, n_schools=1)},
         {"group": "district", **row(0.09, np.nan, np.nan, n_schools=1)}]
    )  # fmt: skip
    found = brief.sector_text("math", sectors, pd.Series({"p_value": np.nan, "note": ""}))
    assert found.text == (
        "In math, charter schools \u22120.2 points (no interval); district schools 3.6 points "
        "(no interval); whether they differed could not be tested."
    )


def test_schools_differ_only_when_some_are_above_and_some_below_after_correction():
    both = {"math": {"n": 40, "positive": 5, "negative": 2, "positive_bh": 3, "negative_bh": 1}}
    one = {"math": {"n": 40, "positive": 5, "negative": 2, "positive_bh": 3, "negative_bh": 0}}
    assert brief.school_text(both).text.startswith("Schools differed:")
    assert brief.school_text(one).text.startswith("School by school:")
    assert "5 of 40 in math significantly above and 2 below (3 and 0" in brief.school_text(one).text
    assert brief.school_text({"math": {"n": 0}}) is None


def test_rand_reference_points_are_rands_published_percentile_points():
    # rand_method.md: d = 0.07 → 2.8, 0.09 → 3.6, 0.19 → 7.5, 0.27 → 10.6 at the national median
    points = {(r.study, r.subject): round(r.points, 1) for r in brief.RAND}
    assert points == {
        ("RAND 2015", "math"): 10.6, ("RAND 2015", "reading"): 7.5,
        ("RAND 2017", "math"): 3.6, ("RAND 2017", "reading"): 2.8,
    }  # fmt: skip
    assert all("RAND Corporation RR-" in r.source for r in brief.RAND)


def _sample() -> pd.DataFrame:
    return pd.DataFrame(
        {"subject": "math", "group": ["all", "charter", "district"],
         "n_treated": [300, 190, 110], "n_comparison": [600, 345, 255], "n_schools": [12, 9, 3]}
    )  # fmt: skip


def test_what_the_study_cannot_tell_comes_from_the_config_and_the_shown_counts():
    items = dict(brief.cannot_tell(CONFIG, _sample(), ["math"]))
    assert list(items) == [
        "Whether PL caused the differences.",
        "Whether it was PL or the resources that came with it.",
        "Anything beyond math test scores over one school year.",
        "Whether the results hold for other schools.",
    ]
    assert "adjusted for fall score, school FRL share and grade" in items[list(items)[0]]
    assert (
        "(2015 national norms)" in items["Anything beyond math test scores over one school year."]
    )
    assert (
        "The 12 PL schools (9 charter, 3 district)"
        in (items["Whether the results hold for other schools."])
    )


def test_suppressed_school_counts_are_never_named_in_what_the_study_cannot_tell():
    sample = _sample().assign(n_schools=[12, pd.NA, pd.NA])
    items = dict(brief.cannot_tell(CONFIG, sample, ["math"]))
    assert items["Whether the results hold for other schools."].startswith(
        "The 12 PL schools were not"
    )


def test_one_pl_school_is_one_school_in_what_the_study_cannot_tell():
    sample = _sample().assign(n_schools=[1, 1, pd.NA])
    items = dict(brief.cannot_tell(CONFIG, sample, ["math"]))
    assert items["Whether the results hold for other schools."].startswith(
        "The 1 PL school (1 charter) was not a random sample"
    )


def test_attrition_and_confounding_come_from_the_suppressed_robustness_tables():
    attrition = pd.DataFrame(
        {"subject": ["math", "reading"], "n_treated": [300, 8], "n_treated_lost": [51, 2],
         "n_comparison": [900, 700], "n_comparison_lost": [108, 70], "treated_rate": [0.17, 0.25],
         "comparison_rate": [0.12, 0.1], "overall_rate": [0.13, 0.1], "differential": [0.05, 0.15],
         "boundary": "cautious", "max_differential": 0.061, "wwc_attrition": ["low", "high"],
         "note": ""}
    )  # fmt: skip
    checks = robustness(None, attrition, None, None, min_n=10)
    items = dict(brief.cannot_tell(CONFIG, _sample(), ["math", "reading"], checks))
    lost = items["How students with no spring test would have done."]
    assert lost == (
        "They are not in the estimates (math: 17% of PL and 12% of comparison students tested "
        "in the fall)."
    )  # reading's 8 PL students are suppressed, and so is its rate


def test_the_figure_draws_every_group_and_says_which_are_not_shown():
    answer = pd.DataFrame(
        {"subject": ["math"] * 3, "group": ["all", "charter", "district"],
         "points": [3.6, 4.0, np.nan], "points_low": [0.4, 0.5, np.nan],
         "points_high": [6.7, 7.5, np.nan], "verdict": ["above", "above", "no interval"],
         "note": ""}
    )  # fmt: skip
    fig = brief.answer_plot(answer)
    alt = fig.get_label()
    assert "math all PL schools 3.6 points (95% CI 0.4 to 6.7)" in alt
    assert "math district schools: not shown: too few students" in alt
    assert "RAND 2017 math one year 3.6 (0.09 SD)" in alt
    ax = fig.axes[0]
    lines = sorted(round(line.get_xdata()[0], 2) for line in ax.get_lines() if
                   len(set(line.get_xdata())) == 1 and line.get_linestyle() != "None")  # fmt: skip
    assert 3.59 in lines and 10.64 in lines and 0.0 in lines  # RAND references and zero


# -- colours: WCAG 2.x contrast, computed (a six-line formula; no library needed) -----------


def _luminance(colour: str) -> float:
    """WCAG relative luminance of "#rrggbb" or "#rgb"."""
    hex_ = colour.lstrip("#")
    hex_ = "".join(c * 2 for c in hex_) if len(hex_) == 3 else hex_
    rgb = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str = "#ffffff") -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_ratios():
    assert contrast("#000000") == pytest.approx(21.0)
    assert contrast("#767676") == pytest.approx(4.54, abs=0.01)  # the lightest AA grey on white
    assert contrast("#777777") == pytest.approx(4.48, abs=0.01)
    assert contrast("#E69F00") == pytest.approx(2.25, abs=0.01)  # Okabe-Ito orange: fails AA


def test_report_text_colours_keep_aa_contrast_on_every_background():
    css = resources.files("pl_eval.report").joinpath("templates/report.css").read_text()
    texts = set(re.findall(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})\b", css))
    backgrounds = set(re.findall(r"background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})\b", css))
    assert texts and "#fafafa" in backgrounds
    for text, back in itertools.product(texts, backgrounds | {"#fff"}):
        assert contrast(text, back) >= 4.5, (text, back)


def test_figure_colours_keep_aa_contrast_on_white():
    text_colours = [c for c, _ in brief.BRIEF_STYLE.values()]
    text_colours += [c for c, _ in brief.REFERENCE_STYLE.values()]
    text_colours += [c for c, _ in figures.STYLE.values()] + [figures.GREY]
    for colour in text_colours:  # these also colour text (labels), so 4.5:1
        assert contrast(colour) >= 4.5, colour
