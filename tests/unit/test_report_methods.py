"""The report says how students were matched and what the model adjusted for from the
configuration in effect (issue 12: it used to say "adjusted for the fall score" whatever ran)."""

from __future__ import annotations

import copy
from pathlib import Path

from pl_eval import io
from pl_eval.report.methods import method_text
from pl_eval.report.render import environment

CONFIG = io.read_yaml(Path(__file__).parents[2] / "config" / "config.yaml")


def test_the_shipped_main_specification_in_words():
    text = method_text(CONFIG)
    assert text.matching == (
        "Each PL student is matched to the 5 nearest students of non-PL schools in the same "
        "grade, gender and locale group on a propensity score (the modelled chance of attending "
        "a PL school given fall score, school FRL share, locale group and gender), each with a "
        "propensity score within 0.2 SD, a fall score within 0.1 SD and a school FRL share "
        "within 0.2 SD of the PL student's; a comparison student may serve several PL students. "
        "PL students with no such comparison student are left out."
    )
    assert text.adjustment == (
        "adjusted for fall score, school FRL share, locale group, gender, grade and number of "
        "days between the tests"
    )
    assert text.norming == (
        "Fall and spring scores are converted to national z-scores and percentiles with NWEA's "
        "2020 national norms at each test's own week of instruction (weeks from the first day "
        "of school, 15 August, to the test date, less school breaks), as NWEA norms a score, so "
        "a school that tests earlier in the fall or later in the spring is not credited with "
        "the growth the norms expect over the extra weeks."
    )


def test_the_norming_sentence_follows_the_panel_settings():
    config = copy.deepcopy(CONFIG)
    config["panel"] |= {"norms_week": "default", "norms_year": 2025}
    assert method_text(config).norming == (
        "Fall and spring scores are converted to national z-scores and percentiles with NWEA's "
        "2025 national norms at NWEA's default weeks of instruction (week 4 in the fall, 32 in "
        "the spring), whatever the test date."
    )
    config = copy.deepcopy(CONFIG)
    config["panel"]["calendar"] = {"first_day": "09-02"}
    config["analyses"]["season_weeks"] = {"panel": {"norms_week": "default"}}
    assert "first day of school, 2 September," in method_text(config).norming
    assert "at NWEA's default weeks" in method_text(config, "season_weeks").norming


def test_the_words_follow_the_settings():
    config = copy.deepcopy(CONFIG)
    config["match"] |= {"ratio": 1, "replace": False, "caliper": None, "covariate_calipers": {}}
    config["match"]["exact"] = []
    config["estimate"]["covariates"] = ["fall_z"]
    text = method_text(config)
    assert text.matching.startswith("Each PL student is matched to the 1 nearest student of ")
    assert "within" not in text.matching and "same grade" not in text.matching
    assert "each comparison student serves at most one PL student" in text.matching
    assert text.adjustment == "adjusted for fall score"
    assert method_text(CONFIG, "no_covariates").adjustment == "not adjusted for any covariate"
    assert method_text(CONFIG, "vcg").matching.startswith(
        "Each PL student is compared with a virtual comparison group: up to 51 students"
    )
    assert method_text(CONFIG, "doubly_robust").matching.startswith(
        "PL students are not matched: every student of a non-PL school in the same grade, "
        "gender and locale group is weighted so that the weighted comparison students have the "
        "PL students' averages of fall score, school FRL share, locale group, gender and number "
        "of days between the tests, and the same spread of those that are numbers (entropy "
        "balancing)"
    )
    ipw = CONFIG | {"match": CONFIG["match"] | {"method": "ipw"}}
    assert method_text(ipw).matching.startswith(
        "PL students are not matched: every student of a non-PL school in the same grade, "
        "gender and locale group is weighted by the odds of attending a PL school"
    )


def test_the_methods_paragraph_prints_them_escaped():
    macros = environment().get_template("macros.html.j2").module
    html = str(macros.matching_method(method_text(CONFIG)))
    assert "a fall score within 0.1 SD" in html
    assert html.startswith('<p id="matching-method">Fall and spring scores are converted to')
    assert "at each test&#39;s own week of instruction" in html  # escaped like any text
    assert "comparison students, adjusted for fall score, school FRL share" in html
    config = copy.deepcopy(CONFIG)
    config["estimate"]["covariates"] = ["match", "<b>x</b>"]
    html = str(macros.matching_method(method_text(config)))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html
