"""The match stage on a small hand-built panel: PL schools never serve as comparisons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pl_eval import io, stages
from pl_eval.errors import ConfigError
from pl_eval.matching import MatchConfig, MatchingError, match_cohort


def small_panel(seed: int = 3) -> pd.DataFrame:
    """Two PL schools and four comparison schools, grades 3 and 4, both subjects."""
    rng = np.random.default_rng(seed)
    schools = pd.DataFrame(
        {
            "school": ["PL A", "PL B", "C1", "C2", "C3", "C4"],
            "treated": [True, True, False, False, False, False],
            "frl_pct": [85.0, 75.0, 80.0, 70.0, 40.0, 90.0],
            "locale_group": ["city", "city", "city", "suburb", "city", "city"],
        }
    )
    rows = []
    for _, s in schools.iterrows():
        n = 30 if s["treated"] else 80
        for subject in ("math", "reading"):
            rows.append(
                pd.DataFrame(
                    {
                        "student_key": [f"{s['school']}-{i}" for i in range(n)],
                        "subject": subject,
                        "district": "D",
                        "school": s["school"],
                        "grade": rng.choice([3, 4], n),
                        "gender": rng.choice(["F", "M"], n),
                        "treated": s["treated"],
                        "frl_pct": s["frl_pct"],
                        "locale_group": s["locale_group"],
                        "fall_z": rng.normal(-0.2 if s["treated"] else 0.0, 1.0, n),
                        "fall_rit": rng.normal(190, 10, n).round(),
                        "spring_z": rng.normal(0, 1, n),
                        "fall_date": pd.Timestamp("2022-09-15"),
                        "spring_date": pd.Timestamp("2023-05-01"),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_pl_schools_never_serve_as_comparisons():
    panel = small_panel()
    result = match_cohort(panel, "math", MatchConfig(ratio=2, caliper=None))
    comparison = result.matched[~result.matched["treated"]]
    assert not comparison["school"].isin(["PL A", "PL B"]).any()
    assert set(result.matched["subject"]) == {"math"}
    # Every treated student is matched (no caliper), each to 2 comparison students of its grade.
    assert result.matched["treated"].sum() == 60
    assert result.schools.set_index("school")["match_rate"].to_dict() == {"PL A": 1.0, "PL B": 1.0}
    pairs = result.result.pairs
    grades = panel.loc[panel["subject"] == "math"].reset_index(drop=True)["grade"]
    treated_grade = grades.loc[pairs["treated"]].to_numpy()
    assert (treated_grade == grades.loc[pairs["control"]].to_numpy()).all()


def test_summary_counts_unmatched_by_reason():
    # A caliper so tight that few treated students find a comparison inside it.
    result = match_cohort(small_panel(), "reading", MatchConfig(ratio=1, caliper=0.001))
    summary = result.to_dict()
    unmatched = summary["unmatched_by_reason"].get("outside_caliper", 0)
    assert unmatched > 0
    assert summary["sample_sizes"]["treated"]["matched"] + unmatched == 60
    assert summary["match_rate"] == pytest.approx((60 - unmatched) / 60)


def test_vcg_method_draws_groups():
    config = MatchConfig.from_config(
        {"method": "vcg", "vcg": {"baseline_tolerance": 5, "min_matches": 1, "max_matches": 51}}
    )
    result = match_cohort(small_panel(), "math", config)
    assert result.result.settings.method == "vcg"
    assert result.matched["treated"].sum() > 0
    # FRL band ±10 around 85 and 75 excludes C3 (40 %); locale excludes C2 (suburb).
    assert set(result.matched.loc[~result.matched["treated"], "school"]) <= {"C1", "C4"}


def test_unknown_covariate_is_named():
    with pytest.raises(MatchingError, match="'frl' is not a panel column"):
        match_cohort(small_panel(), "math", MatchConfig(covariates=("fall_z", "frl")))
    with pytest.raises(MatchingError, match="match.method must be one of propensity, vcg"):
        MatchConfig.from_config({"method": "mahalanobis"})
    assert issubclass(MatchingError, ValueError) and not issubclass(MatchingError, ConfigError)


def test_stage_writes_outputs(tmp_path):
    io.write_parquet(small_panel(), tmp_path / "panel.parquet")
    out = {
        "matched": tmp_path / "matched_math.parquet",
        "pairs": tmp_path / "pairs_math.parquet",
        "propensity": tmp_path / "propensity_math.parquet",
        "balance": tmp_path / "balance_math.csv",
        "summary": tmp_path / "match_summary_math.json",
        "love_plot": tmp_path / "figures/love_math.png",
        "overlap_plot": tmp_path / "figures/overlap_math.png",
    }
    stages.match(panel=tmp_path / "panel.parquet", subject="math", settings={"ratio": 1}, **out)
    matched = pd.read_parquet(out["matched"])
    assert (matched["weight"] > 0).all() and "distance" in matched
    pairs = pd.read_parquet(out["pairs"])
    assert len(pairs) == matched["treated"].sum()  # 1:1 without caliper: one pair each
    assert set(pairs["control_key"]) == set(matched.loc[~matched["treated"], "student_key"])
    balance = pd.read_csv(out["balance"])
    assert {"fall_z", "frl_pct"} <= set(balance["covariate"])
    assert set(balance["sample"]) == {"all", "matched"}
    assert json.loads(out["summary"].read_text())["subject"] == "math"
    assert out["love_plot"].read_bytes().startswith(b"\x89PNG")
    first = {k: p.read_bytes() for k, p in out.items()}
    stages.match(panel=tmp_path / "panel.parquet", subject="math", settings={"ratio": 1}, **out)
    assert {k: p.read_bytes() for k, p in out.items()} == first


# -- nothing to match: every output is written, and the summary says why ----------------------


def _stage_outputs(tmp_path) -> dict:
    names = ("matched", "pairs", "propensity", "balance", "summary", "love_plot", "overlap_plot")
    suffix = {"balance": "csv", "summary": "json", "love_plot": "png", "overlap_plot": "png"}
    return {name: tmp_path / f"{name}.{suffix.get(name, 'parquet')}" for name in names}


def _reading(panel: pd.DataFrame) -> pd.Series:
    return panel["subject"] == "reading"


NOTHING_TO_MATCH = {
    "no PL students": (
        lambda p: p[~(p["treated"] & _reading(p))],
        "nothing matched in reading: no PL students",
        {},
    ),
    "no comparison students": (
        lambda p: p[p["treated"] | ~_reading(p)],
        "nothing matched in reading: no comparison students",
        {"no_comparison_students": 60},
    ),
    "every PL student misses fall_z": (
        lambda p: p.assign(fall_z=p["fall_z"].where(~p["treated"])),
        "nothing matched in reading: every PL student is missing a matching covariate",
        {"missing_covariate": 60},
    ),
    "frl_pct separates the arms": (
        lambda p: p.assign(frl_pct=p["frl_pct"].where(p["treated"], 30.0)),
        "nothing matched in reading: complete separation in the propensity model: frl_pct, "
        "locale_group_suburb separates treated from comparison rows, so no treated row has a "
        "comparable control",
        {"complete_separation": 60},
    ),
    "caliper too tight": (
        lambda p: p,
        "nothing matched in reading: no PL student was matched (no comparison student within "
        "the caliper: 60)",
        {"outside_caliper": 60},
    ),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.filterwarnings("ignore:no treated row was matched")
@pytest.mark.parametrize("strata", [(), ("grade_band",)], ids=["whole", "by band"])
@pytest.mark.parametrize("case", list(NOTHING_TO_MATCH))
def test_nothing_to_match_writes_empty_outputs_and_a_summary_saying_why(tmp_path, case, strata):
    change, note, reasons = NOTHING_TO_MATCH[case]
    panel = change(small_panel()).assign(grade_band="K-5").reset_index(drop=True)
    io.write_parquet(panel, tmp_path / "panel.parquet")
    out = _stage_outputs(tmp_path)
    settings = {"ratio": 1, "strata": list(strata)}
    if case == "caliper too tight":
        settings["caliper"] = 1e-9
    stages.match(panel=tmp_path / "panel.parquet", subject="reading", settings=settings, **out)

    summary = json.loads(out["summary"].read_text())
    n_pl = int((panel["treated"] & _reading(panel)).sum())
    assert summary["sample_sizes"]["treated"]["all"] == n_pl
    assert summary["sample_sizes"]["treated"]["matched"] == 0
    assert summary["match_rate"] == (0.0 if n_pl else None)
    if strata:  # the strata's reasons add up; an empty stratum has no comparison students
        reasons = {"no_stratum_controls" if k == "no_comparison_students" else k: v
                   for k, v in reasons.items()}  # fmt: skip
        assert summary["unmatched_by_reason"] == reasons
        assert summary["note"].startswith("nothing matched in reading: ")
    else:
        assert (summary["note"], summary["unmatched_by_reason"]) == (note, reasons)
    matched, pairs = pd.read_parquet(out["matched"]), pd.read_parquet(out["pairs"])
    assert matched.empty and {"weight", "fall_z", "school", "treated"} <= set(matched.columns)
    assert pairs.empty and list(pairs.columns) == ["treated_key", "slot", "control_key"]
    balance = pd.read_csv(out["balance"])
    after = balance[balance["sample"] == "matched"]
    assert len(after) and set(after["wwc_verdict"]) == {"not computable"}
    assert after["smd"].isna().all() and after["note"].notna().all()
    for figure in ("love_plot", "overlap_plot"):
        assert out[figure].read_bytes().startswith(b"\x89PNG")


def test_a_cohort_with_one_comparison_school_is_matched_where_it_can_be(tmp_path):
    panel = small_panel()
    panel = panel[panel["treated"] | (panel["school"] == "C1")].reset_index(drop=True)
    result = match_cohort(panel, "math", MatchConfig(ratio=1))
    summary = result.to_dict()
    assert summary["note"] == "" and summary["sample_sizes"]["comparison"]["all"] == 80
    assert set(result.matched.loc[~result.matched["treated"], "school"]) == {"C1"}
    # every covariate is constant among the comparison students but fall_z and gender: the
    # school-level ones have a variance ratio that cannot be computed, and say so
    after = result.balance.table.query("sample == 'matched'").set_index("covariate")
    assert np.isnan(after.loc["frl_pct", "var_ratio"])
