"""Matching by grade band through the stages and the CLI: one match-stratum job per band, then
match --parts, writes the same bytes as one match job with match.strata set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pl_eval import cli, io, stages
from pl_eval.errors import ConfigError
from pl_eval.estimation.cohort import subsample

OUTPUTS = {
    "matched": "matched_math.parquet",
    "pairs": "pairs_math.parquet",
    "propensity": "propensity_math.parquet",
    "balance": "balance_math.csv",
    "summary": "match_summary_math.json",
    "love_plot": "figures/love_math.png",
    "overlap_plot": "figures/overlap_math.png",
}
STRATA = ("K-5", "6-8", "9-12")
COVARIATES = ["fall_z", "frl_pct", "gender"]
PROPENSITY = {"strata": ["grade_band"], "covariates": COVARIATES, "ratio": 3}
VCG = PROPENSITY | {"method": "vcg", "vcg": {"baseline_tolerance": 5, "min_matches": 1}}


def banded_panel(seed: int = 4) -> pd.DataFrame:
    """Two PL and four comparison schools in grades 3-4 (K-5) and 7-8 (6-8), both subjects,
    and one comparison high school (grade 10): a band with no PL students."""
    rng = np.random.default_rng(seed)
    schools = pd.DataFrame(
        {
            "school": ["PL A", "PL B", "C1", "C2", "C3", "C4", "High"],
            "treated": [True, True, False, False, False, False, False],
            "frl_pct": [85.0, 75.0, 80.0, 70.0, 40.0, 90.0, 65.0],
            "locale_group": ["city", "city", "city", "suburb", "city", "city", "rural"],
            "grades": [(3, 4, 7, 8)] * 6 + [(10,)],
        }
    )
    frames = []
    for s in schools.itertuples():
        n = 40 if s.treated else 90
        grade = rng.choice(s.grades, n)
        for subject in ("math", "reading"):
            frames.append(
                pd.DataFrame(
                    {
                        "student_key": [f"{s.school}-{i}" for i in range(n)],
                        "subject": subject,
                        "district": "D",
                        "school": s.school,
                        "grade": grade,
                        "grade_band": np.where(
                            grade <= 5, "K-5", np.where(grade <= 8, "6-8", "9-12")
                        ),
                        "gender": rng.choice(["F", "M"], n),
                        "treated": s.treated,
                        "frl_pct": s.frl_pct,
                        "locale_group": s.locale_group,
                        # Older PL students start further behind, so the bands' models differ.
                        "fall_z": rng.normal(-0.05 * grade if s.treated else 0.0, 1.0, n),
                        "fall_rit": rng.normal(200, 10, n).round(),
                        "spring_z": rng.normal(0, 1, n),
                        "fall_date": pd.Timestamp("2022-09-15"),
                        "spring_date": pd.Timestamp("2023-05-01"),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def panel(tmp_path):
    path = tmp_path / "panel.parquet"
    io.write_parquet(banded_panel(), path)
    return path


def outputs(folder):
    return {key: folder / name for key, name in OUTPUTS.items()}


@pytest.mark.parametrize("settings", [PROPENSITY, VCG], ids=["propensity", "vcg"])
def test_fan_out_writes_the_same_files_as_one_job(tmp_path, panel, settings):
    one_job = outputs(tmp_path / "one_job")
    stages.match(panel=panel, subject="math", settings=settings, **one_job)

    parts = [tmp_path / "parts" / stratum for stratum in STRATA]
    for stratum, part in zip(STRATA, parts, strict=True):
        stages.match_stratum(
            panel=panel, subject="math", stratum=stratum, part=part, settings=settings
        )
    fan_out = outputs(tmp_path / "fan_out")
    stages.match(parts=parts[::-1], subject="math", settings=settings, **fan_out)

    for key in OUTPUTS:
        assert fan_out[key].read_bytes() == one_job[key].read_bytes(), key
    summary = json.loads(one_job["summary"].read_text())
    assert [s["stratum"] for s in summary["strata"]] == list(STRATA)
    assert summary["strata"][2]["method"] == "not matched: no PL students"
    assert summary["sample_sizes"]["comparison"]["all"] == 4 * 90 + 90  # the high school's too


def test_merged_weights_follow_the_pairs_over_the_whole_subject(tmp_path, panel):
    out = outputs(tmp_path)
    stages.match(panel=panel, subject="math", settings=PROPENSITY, **out)
    matched = pd.read_parquet(out["matched"])
    pairs = pd.read_parquet(out["pairs"])
    # The estimation stage's rule, applied to all the pairs at once.
    expected = subsample(matched, pairs, pd.Index(pairs["treated_key"].unique()))
    weights = matched.set_index("student_key")["weight"]
    np.testing.assert_allclose(weights.loc[expected["student_key"]], expected["weight"], rtol=1e-12)
    comparison = matched[~matched["treated"]]
    assert comparison["weight"].sum() == pytest.approx(len(comparison))
    # Rescaling band by band would give other weights: each band's comparison weights would
    # sum to its own number of comparison students.
    by_band = comparison.groupby("grade_band")["weight"].agg(["sum", "size"])
    assert not np.allclose(by_band["sum"], by_band["size"])
    propensity = pd.read_parquet(out["propensity"])
    assert sorted(propensity.loc[propensity["weight"] > 0, "weight"]) == pytest.approx(
        sorted(matched["weight"])
    )


def test_cli_fans_out_and_explains_mistakes(tmp_path, panel, capsys):
    settings = json.dumps(PROPENSITY)
    parts = []
    for stratum in STRATA:
        parts.append(str(tmp_path / "parts" / stratum))
        argv = ["match-stratum", "--panel", str(panel), "--subject", "reading"]
        argv += ["--stratum", stratum, "--part", parts[-1], "--settings", settings]
        assert cli.main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "parts" / "K-5").iterdir()) == [
        "matched.parquet", "pairs.parquet", "part.json", "participants.parquet",
        "schools.parquet",
    ]  # fmt: skip
    out = [f"--{key.replace('_', '-')}={path}" for key, path in outputs(tmp_path).items()]
    merge = ["match", "--subject", "reading", "--settings", settings, *out]
    assert cli.main([*merge, "--parts", *parts]) == 0
    assert json.loads((tmp_path / OUTPUTS["summary"]).read_text())["subject"] == "reading"
    capsys.readouterr()

    assert cli.main([*merge, "--parts", *parts[:2]]) == 1
    assert capsys.readouterr().err.strip() == (
        "pl-eval match: error: reading needs one part per stratum of match.strata "
        "(K-5, 6-8, 9-12); got K-5, 6-8"
    )
    assert cli.main([*merge, "--parts", str(tmp_path)]) == 1
    assert "not a match part folder (no part.json)" in capsys.readouterr().err
    argv = ["match-stratum", "--panel", str(panel), "--subject", "math", "--stratum", "K5"]
    assert cli.main([*argv, "--part", str(tmp_path / "x"), "--settings", settings]) == 1
    assert capsys.readouterr().err.strip() == (
        "pl-eval match-stratum: error: stratum 'K5' is not one of K-5, 6-8, 9-12 "
        "(match.strata: grade_band)"
    )
    with pytest.raises(SystemExit):
        cli.main([*merge, "--panel", str(panel), "--parts", *parts])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="give either --panel or --parts"):
        stages.match(subject="math", settings=PROPENSITY, **outputs(tmp_path))
