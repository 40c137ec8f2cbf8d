"""Balance statistics against hand computation on a seven-row frame; the two figures."""

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pl_eval.matching import MatchingError, balance, love_plot, match, overlap_plot

# treated x = 1, 2, 3; comparison x = 2, 4, 6, 8 with match weights 2, 1, 1, 0
DF = pd.DataFrame(
    {
        "treat": [1, 1, 1, 0, 0, 0, 0],
        "x": [1.0, 2, 3, 2, 4, 6, 8],
        "b": [1, 0, 1, 0, 0, 1, 1],
        "region": ["n", "s", "n", "s", "s", "n", "s"],
    }
)
WEIGHTS = np.array([1, 1, 1, 2, 1, 1, 0.0])
LOGIT = np.array([0.5, 1.0, 3.0, 0.0, 1.0, 2.0, 2.5])


@pytest.fixture(scope="module")
def bal():
    return balance(DF, "treat", ["x", "b", "region"], WEIGHTS, LOGIT)


def row(bal, covariate, sample):
    t = bal.table
    return t[(t["covariate"] == covariate) & (t["sample"] == sample)].iloc[0]


def test_continuous_before_matching(bal):
    r = row(bal, "x", "all")
    assert (r["mean_treated"], r["mean_comparison"]) == pytest.approx((2, 5))
    assert r["smd"] == pytest.approx(-3.0)  # (2 - 5) / sd_treated (1)
    assert r["var_ratio"] == pytest.approx(1 / (20 / 3))
    # eCDF gaps at 1, 2, 3, 4, 6, 8: 1/3, 5/12, 3/4, 1/2, 1/4, 0
    assert r["ecdf_mean"] == pytest.approx(27 / 72)
    assert r["ecdf_max"] == pytest.approx(0.75)
    # Hedges' g: omega = 1 - 3/(4*7 - 9) = 16/19; pooled SD sqrt((2*1 + 3*20/3) / 5)
    assert r["effect_size"] == pytest.approx(16 / 19 * -3 / np.sqrt(22 / 5))
    assert r["effect_size_type"] == "hedges_g"
    assert r["wwc_verdict"] == "not equivalent"


def test_continuous_after_matching_uses_weights(bal):
    r = row(bal, "x", "matched")
    # comparison weighted mean (2*2 + 4 + 6) / 4 = 3.5; reliability-weighted variance:
    # sum w d^2 = 2*2.25 + 0.25 + 6.25 = 11, times 4 / (16 - 6) = 4.4
    assert r["mean_comparison"] == pytest.approx(3.5)
    assert r["sd_comparison"] ** 2 == pytest.approx(4.4)
    assert r["smd"] == pytest.approx(-1.5)  # still over the unmatched treated SD (1)
    assert r["var_ratio"] == pytest.approx(1 / 4.4)
    # weighted eCDF gaps at 1, 2, 3, 4, 6: 1/3, 1/6, 1/2, 1/4, 0
    assert r["ecdf_mean"] == pytest.approx(0.25)
    assert r["ecdf_max"] == pytest.approx(0.5)
    omega = 1 - 3 / (4 * 6 - 9)  # 3 treated + 3 comparison rows with weight > 0
    pooled = np.sqrt((2 * 1 + 2 * 4.4) / 4)
    assert r["effect_size"] == pytest.approx(omega * -1.5 / pooled)
    assert (r["n_treated"], r["n_comparison"]) == (3, 3)


def test_binary_uses_raw_difference_and_cox_index(bal):
    before, after = row(bal, "b", "all"), row(bal, "b", "matched")
    assert before["type"] == "binary"
    assert before["smd"] == pytest.approx(2 / 3 - 1 / 2)
    assert after["smd"] == pytest.approx(2 / 3 - 1 / 4)  # weighted p = 1 / 4
    assert np.isnan(before["var_ratio"])
    assert before["ecdf_mean"] == before["ecdf_max"] == pytest.approx(1 / 6)
    # Cox index: omega * (logit(2/3) - logit(1/2)) / 1.65
    assert before["effect_size"] == pytest.approx(16 / 19 * np.log(2) / 1.65)
    assert before["effect_size_type"] == "cox_index"


def test_categorical_levels_and_verdict_thresholds(bal):
    assert {"region_n", "region_s"} <= set(bal.table["covariate"])
    from pl_eval.matching.balance import _verdict

    assert [_verdict(g) for g in (0.05, -0.0501, 0.25, 0.2501, np.nan)] == [
        "satisfied",
        "requires adjustment",
        "requires adjustment",
        "not equivalent",
        "not computable",
    ]


def test_samples_support_and_score_distribution(bal):
    s = bal.samples.set_index(["sample", "arm"])
    assert s.loc[("matched", "comparison"), "ess"] == pytest.approx(16 / 6)
    assert s.loc[("all", "comparison"), "ess"] == pytest.approx(4)
    assert s.loc[("matched", "comparison"), "n"] == 3
    assert bal.outside_support == 1  # treated logit 3.0 above the comparison maximum 2.5
    by_arm = bal.score_by_arm.set_index(["sample", "arm"])
    assert by_arm.loc[("all", "treated"), "median"] == pytest.approx(1.0)
    assert by_arm.loc[("matched", "comparison"), "max"] == pytest.approx(2.0)
    assert bal.to_frame()["covariate"].iloc[0] == "propensity (logit)"


def test_summary_names_imbalanced_covariates(bal):
    text = bal.summary()
    assert "Treated rows outside the comparison score range: 1" in text
    assert "after matching: propensity" not in text  # the score is not a covariate
    assert "x, b, region_n, region_s" in text


def test_summary_columns_stay_apart_when_a_statistic_is_not_computable(bal):
    # binary covariates have no variance ratio: "not computable" once ran into the SMD beside it
    lines = bal.summary().splitlines()[:6]

    def cells(line):  # cells are separated by two spaces or more
        return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", line)]

    header = cells(lines[0])
    assert [c[0] for c in header][1:] == ["SMD all", "SMD match", "VR match", "eCDF max",
                                          "WWC (matched)"]  # fmt: skip
    table = {cells(line)[0][0]: cells(line) for line in lines[1:]}
    assert [c[0] for c in table["b"]] == [
        "b", "0.167", "0.417", "not computable", "0.417", "not equivalent"
    ]  # fmt: skip
    assert table["x"][3][0] == "0.227"
    for row in table.values():  # names and verdicts start, numbers end, with their header
        assert [c[1] for c in row][::5] == [c[1] for c in header][::5]
        assert [c[2] for c in row][1:5] == [c[2] for c in header][1:5]


def test_figures_are_returned_not_saved(bal, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    love = love_plot(bal)
    overlap = overlap_plot(bal)
    assert isinstance(love, Figure) and isinstance(overlap, Figure)
    assert list(tmp_path.iterdir()) == []
    ax = love.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["propensity (logit)", "x"]
    # threshold line at 0.1, and before/after differ by marker, not only colour
    assert any(np.allclose(line.get_xdata(), 0.1) for line in ax.get_lines())
    markers = {c.get_paths()[0].vertices.shape for c in ax.collections}
    assert len(markers) == 2
    assert "Love plot of 5 covariates" in love.get_label()  # incl. the score
    assert "1 treated rows lie outside" in overlap.get_label()


def test_vcg_balance_has_no_score_and_overlap_plot_says_so():
    df = pd.DataFrame({"treated": [True, False, False], "fall_rit": [200.0, 201, 199], "grade": 3})
    from pl_eval.matching import VCGSettings

    result = match(
        df,
        "treated",
        ["fall_rit"],
        method="vcg",
        vcg=VCGSettings(frl=None, locale=None, dates=(), min_matches=1),
    )
    with pytest.raises(MatchingError, match="needs propensity scores"):
        overlap_plot(result.balance())


# -- degenerate samples: say "not computable", never warn or crash ---------------------------


@pytest.mark.filterwarnings("error")
def test_one_student_per_arm_after_matching_is_not_computable_with_its_reason():
    # matched: only treated x=1 and comparison x=2 (weights 1); before: 3 treated, 4 comparison
    weights = np.array([1, 0, 0, 1, 0, 0, 0.0])
    table = balance(DF, "treat", ["x", "b"], weights, LOGIT).table.set_index(
        ["covariate", "sample"]
    )
    x = table.loc[("x", "matched")]
    assert (x["n_treated"], x["n_comparison"]) == (1, 1)
    assert x["smd"] == pytest.approx(-1.0)  # (1 - 2) over the unmatched treated SD (1)
    assert np.isnan(x["sd_treated"]) and np.isnan(x["var_ratio"]) and np.isnan(x["effect_size"])
    assert x["ecdf_max"] == pytest.approx(1.0)  # F_T = 1 at x=1 where F_C = 0
    assert x["wwc_verdict"] == "not computable"
    assert x["note"] == "effect size not computable: 1 student in an arm"
    assert table.loc[("x", "all"), "note"] == ""  # before matching every number is known


@pytest.mark.filterwarnings("error")
def test_no_spread_among_pl_students_and_an_empty_arm():
    flat = DF.assign(x=[2.0, 2, 2, 1, 2, 3, 4])  # every treated x is 2
    table = balance(flat, "treat", ["x"], WEIGHTS).table.set_index("sample")
    assert np.isnan(table.loc["all", "smd"])
    assert table.loc["all", "note"] == "SMD not computable: no spread among PL students"
    # nobody matched: every matched-sample statistic missing, no warning
    empty = balance(DF, "treat", ["x"], np.zeros(7), LOGIT)
    matched = empty.table.set_index(["covariate", "sample"]).loc[("x", "matched")]
    assert matched[["smd", "ecdf_max", "effect_size"]].isna().all()
    assert (matched["wwc_verdict"], matched["note"]) == ("not computable", "no PL students")
    assert empty.samples.set_index(["sample", "arm"]).loc[("matched", "treated"), "ess"] == 0.0
    assert (
        empty.score_by_arm.set_index(["sample", "arm"]).loc[("matched", "treated")].isna()["median"]
    )
    assert "not computable" in empty.summary()
    fig = love_plot(empty)
    assert "after matching: not computable" in [t.get_text() for t in fig.axes[0].texts]
    assert fig.get_label().endswith(
        "difference is 3.00 before and not computable after matching; none exceeds 0.1 after "
        "matching. 2 not computable after matching."
    )
