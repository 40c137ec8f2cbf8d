"""Sensitivity and cross-cohort tables on hand-made estimates: marks, suppression, wording."""

from __future__ import annotations

import pandas as pd
import pytest

from pl_eval.errors import ConfigError
from pl_eval.report import across_cohorts, describe_overrides, sensitivity
from pl_eval.report.compare import range_finding
from pl_eval.report.figures import comparison_plot

COLUMNS = [
    "subject", "scope", "group", "estimate", "ci_low", "ci_high", "n_treated", "n_comparison",
]  # fmt: skip
#: The configuration's analyses, as the lead's config.yaml has them.
OVERRIDES = {
    "main": {},
    "vcg": {"match": {"method": "vcg"}},
    "caliper_0.1": {"match": {"caliper": 0.1}},
    "one_to_one": {"match": {"ratio": 1}},
    "no_covariates": {"estimate": {"covariates": []}},
    "random_intercepts": {"estimate": {"model": "mixed"}},
    "no_rapid_guessing_screen": {"ingest": {"screens": {"max_rapid_guessing_pct": None}}},
}


def _estimates(shift: float = 0.0, district_n: int = 110, width: float = 0.06) -> pd.DataFrame:
    """Math and reading pooled, sector and one school row; estimates moved by ``shift``."""
    rows = []
    for subject, base in (("math", 0.10), ("reading", 0.02)):
        rows += [
            (subject, "pooled", "all", base, 300, 600),
            (subject, "sector", "district", base - 0.05, district_n, 255),
            (subject, "sector", "charter", base + 0.02, 300 - district_n, 345),
            (subject, "school", "A School", 0.5, 40, 80),
        ]
    frame = pd.DataFrame(
        [(s, sc, g, e + shift, e + shift - width, e + shift + width, t, c)
         for s, sc, g, e, t, c in rows],
        columns=COLUMNS,
    )  # fmt: skip
    return frame.assign(
        percentile_points=10 * frame["estimate"], p_value=0.04, n_schools=5, note="",
        comparison_percentile=30.0, mde=2.8 * width, mde_percentile_points=3.0,
    )  # fmt: skip


def test_overrides_are_described_in_words():
    described = {name: describe_overrides(o, name == "main") for name, o in OVERRIDES.items()}
    assert described == {
        "main": "main specification",
        "vcg": "matching: virtual comparison group (VCG)",
        "caliper_0.1": "caliper (SD of the logit): 0.1",
        "one_to_one": "comparison students per PL student: 1",
        "no_covariates": "model covariates: none",
        "random_intercepts": "model: school random intercepts by arm (pooled estimate only)",
        "no_rapid_guessing_screen": "rapid-guessing screen (max %): off",
    }
    # settings without plain words keep their key; several overrides are joined
    assert describe_overrides({"match": {"order": "random", "replace": False}}) == (
        "match.order: random; comparison students reused: no"
    )
    assert describe_overrides({}) == "same settings as the main specification"


def test_sensitivity_table_marks_main_and_suppresses_a_small_sector():
    analyses = {
        "main": _estimates(),
        "vcg": _estimates(shift=0.05),
        "one_to_one": _estimates(shift=-0.09, district_n=6),  # 6 district PL students
    }
    before = analyses["main"].copy()
    out = sensitivity(analyses, OVERRIDES, min_n=10)
    pd.testing.assert_frame_equal(analyses["main"], before)  # inputs untouched
    table = out.table
    # per subject, analyses in the given order, pooled before the sectors (alphabetical)
    math = table[table["subject"] == "math"]
    assert list(zip(math["analysis"], math["group"], strict=True)) == [
        (a, g) for a in ("main", "vcg", "one_to_one") for g in ("all", "charter", "district")
    ]
    assert set(table.loc[table["main"], "analysis"]) == {"main"}
    assert (table["main"] == (table["analysis"] == "main")).all()
    assert set(table.loc[table["analysis"] == "vcg", "changes"]) == {
        "matching: virtual comparison group (VCG)"
    }
    assert "school" not in set(table["scope"])
    # one_to_one's district (6 students) is suppressed, and charter with it: pooled minus
    # charter would give district's count away. Its pooled row and every other row stay.
    hidden = table.loc[out.hidden, ["analysis", "subject", "group"]]
    assert sorted(map(tuple, hidden.to_numpy())) == [
        ("one_to_one", s, g) for s in ("math", "reading") for g in ("charter", "district")
    ]
    assert table.loc[out.hidden, ["estimate", "ci_low", "n_treated", "p_value"]].isna().all().all()
    # each row's minimum detectable effect and the percentile its points are taken at: kept
    # beside the estimate, hidden with it
    scales = ["mde", "mde_percentile_points", "comparison_percentile"]
    assert table.loc[out.hidden, scales].isna().all().all()
    main_math = table[(table["analysis"] == "main") & (table["subject"] == "math")]
    assert main_math["mde"].tolist() == pytest.approx([0.168] * 3)
    assert main_math["comparison_percentile"].tolist() == [30.0] * 3
    shown = out.shown()
    assert len(shown) == 14 and shown["estimate"].notna().all()
    assert set(out.log["row"]) == {
        f"one_to_one / {s} / sector / {g}"
        for s in ("math", "reading")
        for g in ("charter", "district")
    }
    assert set(out.log["table"]) == {"sensitivity"}


def test_sensitivity_findings_say_where_the_intervals_lie():
    analyses = {
        "main": _estimates(),  # math 0.04 to 0.16; reading -0.04 to 0.08
        "vcg": _estimates(shift=0.05),  # math above zero; reading 0.01 to 0.13
        "one_to_one": _estimates(shift=-0.09),  # math -0.05 to 0.07; reading below zero
    }
    math, reading = (f.text for f in sensitivity(analyses, OVERRIDES).findings)
    assert math == (
        "The math estimate ranges from +0.01 to +0.15 SD across 3 specifications; its 95% "
        "interval lies above zero in 2 (the main specification, vcg) and includes zero in 1 "
        "(one_to_one), so the conclusion depends on the specification."
    )
    assert reading == (
        "The reading estimate ranges from \u22120.07 to +0.07 SD across 3 specifications; its "
        "95% interval includes zero in 1 (the main specification), lies above zero in 1 (vcg) "
        "and lies below zero in 1 (one_to_one), so the conclusion depends on the specification."
    )
    same = sensitivity({"main": _estimates(), "vcg": _estimates(shift=0.01)}, OVERRIDES)
    assert [f.text.split("; ")[1] for f in same.findings] == [
        "the 95% intervals of both lie above zero.",
        "the 95% intervals of both include zero.",
    ]
    assert [f.significant for f in same.findings] == [True, False]


def test_range_finding_of_one_row_and_of_equal_estimates():
    rows = pd.DataFrame(
        {"subject": ["math"], "cohort": ["2014-2015"], "estimate": [-0.2],
         "ci_low": [-0.3], "ci_high": [-0.1]}
    )  # fmt: skip
    one = range_finding(rows, "cohort", "cohort")
    assert one.text == (
        "The math estimate is \u22120.20 SD in the only cohort shown (2014-2015); its 95% "
        "interval lies below zero."
    )
    assert one.significant
    two = range_finding(pd.concat([rows, rows.assign(cohort="2015-2016")]), "cohort", "cohort")
    assert two.text.startswith("The math estimate is \u22120.20 SD across 2 cohorts;")
    three = range_finding(
        pd.concat([rows, rows.assign(cohort="b"), rows.assign(cohort="c", estimate=-0.25)]),
        "cohort",
        "cohort",
    )
    assert three.text == (
        "The math estimate ranges from \u22120.25 to \u22120.20 SD across 3 cohorts; the 95% "
        "intervals of all 3 lie below zero."
    )
    assert three.significant


def test_analyses_must_be_configured_and_include_main():
    with pytest.raises(ConfigError, match="'extra' have no entry under 'analyses:'"):
        sensitivity({"main": _estimates(), "extra": _estimates()}, OVERRIDES)
    with pytest.raises(ConfigError, match="must include the main specification 'main'"):
        sensitivity({"vcg": _estimates()}, OVERRIDES)


def test_cohorts_side_by_side_keep_their_order_and_school_years():
    out = across_cohorts(
        {"2015-2016": _estimates(shift=0.05), "2014-2015": _estimates(district_n=3)},
        {"2015-2016": "2015-2016"},
    )
    math = out.table[out.table["subject"] == "math"]
    assert list(pd.unique(math["cohort"])) == ["2015-2016", "2014-2015"]
    assert math["school_year"].isna().tolist() == [False] * 3 + [True] * 3  # one not given
    assert sorted(out.log["row"].unique()) == [
        "2014-2015 / math / sector / charter", "2014-2015 / math / sector / district",
        "2014-2015 / reading / sector / charter", "2014-2015 / reading / sector / district",
    ]  # fmt: skip
    assert out.findings[0].text.startswith(
        "The math estimate ranges from +0.10 to +0.15 SD across 2 cohorts; the 95% intervals"
    )
    assert "main" not in out.table.columns


def test_comparison_plot_marks_main_and_describes_the_ranges():
    out = sensitivity({"main": _estimates(), "vcg": _estimates(shift=0.05)}, OVERRIDES)
    fig = comparison_plot(out.shown(), "analysis", "specification", highlight="main")
    labels = {t.get_text(): t.get_fontweight() for t in fig.axes[0].get_yticklabels()}
    assert labels == {"main": "bold", "vcg": "normal"}
    assert [ax.get_title() for ax in fig.axes] == ["Math", "Reading"]
    alt = fig.get_label()
    assert "for 2 specifications" in alt and "main specification (main) has filled" in alt
    assert "math pooled estimates range from 0.10 (main) to 0.15 (vcg)" in alt


def test_a_pooled_estimate_on_few_pl_schools_is_never_part_of_a_confident_sentence():
    few = "few PL schools (3): CR2 small-sample df 2.1"
    vcg = _estimates(shift=0.05)
    vcg.loc[(vcg["subject"] == "math") & (vcg["scope"] == "pooled"), "note"] = few
    math = sensitivity({"main": _estimates(), "vcg": vcg}, OVERRIDES).findings[0]
    assert math.text == (
        "The math estimate ranges from +0.10 to +0.15 SD across 2 specifications; the 95% "
        "intervals of both lie above zero. For vcg, school-clustered inference rests on few PL "
        "schools, so its interval is wide and it is not a confident finding."
    )
    assert not math.significant


def test_cohorts_without_an_estimate_keep_their_row_and_note():
    empty = _estimates().assign(estimate=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    empty = empty.assign(n_treated=0, n_schools=0, note="no PL students")
    out = across_cohorts({"2014-2015": _estimates(), "2015-2016": empty}, {})
    rows = out.to_frame().set_index(["cohort", "subject", "group"])
    assert rows.loc[("2015-2016", "math", "all"), "note"] == "no PL students"
    assert not out.hidden.any()  # 0 students is no small cell
    # the range sentence covers the cohort with an estimate only
    assert out.findings[0].text.startswith("The math estimate is +0.10 SD in the only cohort")
    fig = comparison_plot(out.shown(), "cohort", "cohort")
    assert "math pooled estimates range from 0.10 (2014-2015) to 0.10 (2014-2015)" in (
        fig.get_label()
    )
