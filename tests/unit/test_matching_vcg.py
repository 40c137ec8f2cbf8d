"""Virtual comparison groups: each tolerance, the seeded draw of up to 51, and the weights."""

import numpy as np
import pandas as pd
import pytest

from pl_eval.matching import MatchingError, VCGSettings, match
from pl_eval.matching import vcg as vcg_module
from pl_eval.matching.vcg import vcg_groups

DAY = pd.Timestamp("2022-09-15")


def student(label, treated, grade, rit, frl, locale="city", days=0):
    return {
        "label": label,
        "treated": treated,
        "grade": grade,
        "fall_rit": float(rit),
        "frl_pct": float(frl),
        "locale_group": locale,
        "fall_date": DAY + pd.Timedelta(days=days),
        "spring_date": DAY + pd.Timedelta(days=230),
    }


# Tolerances: RIT +-3, FRL +-10 points, dates +-21 days (all inclusive)
ROWS = [
    student("T1", True, 3, 200, 50),
    student("T4", True, 3, 203, 52),
    student("T2", True, 4, 210, 50),
    student("T3", True, 5, 220, 50),  # no grade-5 comparison rows at all
    student("c1", False, 3, 202, 55),  # passes for T1 and T4
    student("c2", False, 3, 204, 50),  # RIT 4 from T1: out; 1 from T4: in
    student("c3", False, 4, 209, 50),  # the only candidate for T2 (other grade for T1)
    student("c4", False, 3, 199, 65),  # FRL 15 from T1: out
    student("c5", False, 3, 200, 50, locale="suburb"),  # other locale group
    student("c6", False, 3, 201, 50, days=22),  # test date 22 days later: out
    student("c7", False, 3, 197, 40, days=21),  # every tolerance exactly at its edge: in
]
SETTINGS = VCGSettings(baseline_tolerance=3, frl_band=10, date_window_days=21, min_matches=2)


@pytest.fixture
def df():
    return pd.DataFrame(ROWS).set_index("label")


def groups(result):
    return result.pairs.groupby("treated")["control"].apply(sorted).to_dict()


def test_each_tolerance_filters_candidates(df):
    result = match(df, "treated", [], exact="grade", method="vcg", vcg=SETTINGS)
    assert groups(result) == {"T1": ["c1", "c7"], "T4": ["c1", "c2"]}
    reasons = dict(zip(result.unmatched["treated"], result.unmatched["reason"], strict=True))
    assert reasons == {"T2": "too_few_matches", "T3": "no_stratum_controls"}
    assert result.unmatched.set_index("treated").loc["T3", "stratum"] == (
        "grade=5, locale_group=city"
    )


def test_weights_count_each_group_as_one_unit(df):
    result = match(df, "treated", [], exact="grade", method="vcg", vcg=SETTINGS)
    # raw: c1 = 1/2 + 1/2, c2 = 1/2, c7 = 1/2 (sum 2); rescaled to 3 distinct controls
    expected = {
        "T1": 1,
        "T4": 1,
        "T2": 0,
        "T3": 0,
        "c1": 1.5,
        "c2": 0.75,
        "c3": 0,
        "c4": 0,
        "c5": 0,
        "c6": 0,
        "c7": 0.75,
    }
    assert result.weights.to_dict() == pytest.approx(expected)


def test_min_matches_one_keeps_a_single_match(df):
    loose = VCGSettings(baseline_tolerance=3, frl_band=10, date_window_days=21, min_matches=1)
    result = match(df, "treated", [], exact="grade", method="vcg", vcg=loose)
    assert groups(result)["T2"] == ["c3"]


def test_criteria_can_be_switched_off(df):
    wide = VCGSettings(baseline_tolerance=3, frl=None, locale=None, dates=(), min_matches=1)
    result = match(df, "treated", [], exact="grade", method="vcg", vcg=wide)
    # without FRL, locale and dates: every grade-3 control within 3 RIT points
    assert groups(result)["T1"] == ["c1", "c4", "c5", "c6", "c7"]


def test_nces_locale_codes_group_by_first_digit():
    rows = [
        student("T", True, 3, 200, 50),
        student("a", False, 3, 200, 50),
        student("b", False, 3, 200, 50),
        student("c", False, 3, 200, 50),
    ]
    df = pd.DataFrame(rows).set_index("label").assign(locale=[11, 13, 21, 12])
    settings = VCGSettings(locale="locale", locale_from_nces=True, min_matches=1)
    result = match(df, "treated", [], method="vcg", vcg=settings)
    assert groups(result) == {"T": ["a", "c"]}  # 11, 13, 12 are all "city"; 21 is suburb


def pool(n_treated, n_controls):
    rng = np.random.default_rng(0)
    rit = np.r_[np.full(n_treated, 200.0), 200 + rng.uniform(-2, 2, n_controls)]
    return pd.DataFrame(
        {
            "treated": np.r_[np.ones(n_treated), np.zeros(n_controls)].astype(bool),
            "fall_rit": rit,
            "grade": 3,
        }
    )


def test_draw_takes_up_to_max_at_random_and_is_seeded():
    df = pool(2000, 20)
    settings = VCGSettings(frl=None, locale=None, dates=(), max_matches=5, min_matches=1)
    result = match(df, "treated", [], method="vcg", vcg=settings, seed=7)
    sizes = result.pairs.groupby("treated").size()
    assert (sizes == 5).all() and len(sizes) == 2000
    assert sorted(result.pairs["slot"].unique()) == [1, 2, 3, 4, 5]
    # uniform: each of the 20 controls drawn 2000 * 5 / 20 = 500 times (sd ~19)
    counts = result.pairs["control"].value_counts()
    assert len(counts) == 20 and counts.between(400, 600).all()
    # draws differ between students and between seeds, and repeat with the same seed
    assert result.pairs.groupby("treated")["control"].apply(frozenset).nunique() > 1000
    again = match(df, "treated", [], method="vcg", vcg=settings, seed=7)
    other = match(df, "treated", [], method="vcg", vcg=settings, seed=8)
    pd.testing.assert_frame_equal(result.pairs, again.pairs)
    assert not result.pairs.equals(other.pairs)


def test_draw_does_not_depend_on_chunking_or_other_students(monkeypatch):
    df = pool(300, 60)
    settings = VCGSettings(frl=None, locale=None, dates=(), max_matches=7, min_matches=1)
    whole = match(df, "treated", [], method="vcg", vcg=settings, seed=1).pairs
    monkeypatch.setattr(vcg_module, "CHUNK_PAIRS", 50)
    chunked = match(df, "treated", [], method="vcg", vcg=settings, seed=1).pairs
    pd.testing.assert_frame_equal(whole, chunked)
    # a student's group is keyed by its own row: adding a grade-4 cell changes nothing
    extra = pd.concat([df, pool(5, 5).assign(grade=4)], ignore_index=True)
    grown = match(extra, "treated", [], exact="grade", method="vcg", vcg=settings, seed=1).pairs
    pd.testing.assert_frame_equal(grown[grown["treated"] < 360].reset_index(drop=True), whole)


def test_vcg_groups_is_vectorised_over_students_in_one_cell():
    # direct call: positions in, positions out; every student sees the same 3 candidates
    frame = pd.DataFrame({"fall_rit": [200.0, 200.0, 199.0, 201.0, 250.0]})
    treat = np.array([True, True, False, False, False])
    found = vcg_groups(
        frame,
        treat,
        np.zeros(5, int),
        np.arange(5),
        VCGSettings(frl=None, locale=None, dates=(), min_matches=1),
        seed=0,
    )
    assert found.treated.tolist() == [0, 0, 1, 1]
    assert sorted(found.control[:2].tolist()) == [2, 3]


def test_bad_vcg_settings_are_refused(df):
    with pytest.raises(MatchingError, match="min_matches <= max_matches"):
        VCGSettings(min_matches=60)
    with pytest.raises(MatchingError, match="baseline_tolerance must be >= 0"):
        VCGSettings(baseline_tolerance=-1)
    with pytest.raises(MatchingError, match="required column.*'fall_rit'"):
        match(df.drop(columns="fall_rit"), "treated", [], method="vcg")
    with pytest.raises(MatchingError, match="NCES locale codes"):
        match(df, "treated", [], method="vcg", vcg=VCGSettings(locale_from_nces=True))
    with pytest.raises(MatchingError, match="method is not 'vcg'"):
        match(df, "treated", ["fall_rit"], vcg=SETTINGS)
