"""Bad input gives a clear MatchingError or a counted exclusion, never a crash."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pl_eval.matching import MatchingError, MatchingWarning, match


@pytest.fixture
def df():
    rng = np.random.default_rng(4)
    n = 300
    return pd.DataFrame(
        {
            "treat": (rng.random(n) < 0.25).astype(int),
            "baseline_z": rng.normal(size=n),
            "frl_school": rng.uniform(size=n),
            "grade": rng.integers(3, 6, n),
            "school": rng.choice(["a", "b", "c"], n),
        }
    )


def with_missing(df):
    """Missing values in both arms (one arm alone would be quasi-separation)."""
    out = df.copy()
    t = df.index[df["treat"] == 1]
    c = df.index[df["treat"] == 0]
    out.loc[[t[0], c[0]], "baseline_z"] = np.nan
    out.loc[[t[1], c[1]], "frl_school"] = np.nan
    out.loc[[t[2], c[2]], "school"] = None
    return out


def missing_rows(df):
    t = df.index[df["treat"] == 1]
    c = df.index[df["treat"] == 0]
    return sorted([t[0], c[0], t[1], c[1], t[2], c[2]])


def test_missing_covariates_error_names_columns_and_counts(df):
    with pytest.raises(MatchingError) as caught:
        match(with_missing(df), "treat", ["baseline_z", "frl_school", "school"])
    message = str(caught.value)
    assert "baseline_z (2 rows), frl_school (2 rows), school (2 rows)" in message
    assert "missing='drop'" in message and "\n" not in message


def test_missing_drop_counts_rows_as_missing_covariate(df):
    data = with_missing(df)
    result = match(data, "treat", ["baseline_z", "frl_school", "school"], missing="drop")
    dropped = missing_rows(df)
    assert list(result.excluded.index) == dropped
    assert (result.weights.loc[dropped] == 0).all()
    assert result.distance.loc[dropped].isna().all()
    treated_dropped = [i for i in dropped if data.loc[i, "treat"] == 1]
    got = result.unmatched[result.unmatched["reason"] == "missing_covariate"]["treated"]
    assert list(got) == treated_dropped
    sizes = result.sample_sizes()
    assert sizes.loc["discarded"].tolist() == [3, 3]  # comparison, treated
    assert (result.to_frame().loc[dropped, "reason"] == "missing_covariate").all()
    assert "Missing values: baseline_z 2, frl_school 2, school 2 (rows left out)" in (
        result.summary()
    )
    # the fit equals one on the complete rows only
    kept = match(data.drop(index=dropped), "treat", ["baseline_z", "frl_school", "school"])
    np.testing.assert_allclose(result.distance.dropna(), kept.distance, atol=1e-12)


def test_missing_impute_means_and_indicator(df):
    data = with_missing(df)
    result = match(data, "treat", ["baseline_z", "frl_school"], missing="impute")
    coefs = result.propensity.coefficients.index.tolist()
    assert coefs == [
        "(Intercept)",
        "baseline_z",
        "baseline_z_missing",
        "frl_school",
        "frl_school_missing",
    ]
    filled = data.assign(
        baseline_z_missing=data["baseline_z"].isna().astype(float),
        frl_school_missing=data["frl_school"].isna().astype(float),
        baseline_z=data["baseline_z"].fillna(data["baseline_z"].mean()),
        frl_school=data["frl_school"].fillna(data["frl_school"].mean()),
    )
    x = sm.add_constant(filled[coefs[1:]])
    ref = sm.GLM(filled["treat"], x, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100)
    np.testing.assert_allclose(result.distance, x @ ref.params, atol=1e-8)
    assert "baseline_z_missing" in set(result.balance().table["covariate"])
    assert len(result.excluded) == 0


def test_missing_impute_gives_categoricals_a_missing_level(df):
    result = match(with_missing(df), "treat", ["baseline_z", "school"], missing="impute")
    assert "school_(missing)" in result.propensity.coefficients.index


def test_missing_exact_value_is_dropped_even_when_imputing(df):
    data = df.astype({"grade": "Int64"})
    data.loc[3, "grade"] = pd.NA
    with pytest.raises(MatchingError, match=r"grade \(1 row\)"):
        match(data, "treat", ["baseline_z"], exact="grade")
    result = match(data, "treat", ["baseline_z"], exact="grade", missing="impute")
    assert list(result.excluded.index) == [3]


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([0, 1, 2], "found 2"),
        (["yes", "no", "no"], "found text 'yes', 'no'"),
        ([0.0, 0.5, 1.0], "found 0.5"),
    ],
)
def test_treatment_must_be_zero_one(values, shown):
    df = pd.DataFrame({"t": values, "x": [1.0, 2.0, 3.0]})
    with pytest.raises(MatchingError, match=f"column 't' must hold 0/1.*{shown}"):
        match(df, "t", ["x"])


def test_treatment_bool_and_missing_treatment():
    df = pd.DataFrame({"t": [True, False, False, True, False], "x": [1.0, 1.2, 3.0, 2.9, 2.0]})
    assert match(df, "t", ["x"]).n_matched_treated == 2
    nullable = df.astype({"t": "boolean"})
    nullable.loc[2, "t"] = pd.NA
    with pytest.raises(MatchingError, match="1 missing value"):
        match(nullable, "t", ["x"])


def test_empty_frame_and_one_armed_frames():
    empty = pd.DataFrame({"t": pd.Series([], dtype=int), "x": pd.Series([], dtype=float)})
    with pytest.raises(MatchingError, match="the frame is empty"):
        match(empty, "t", ["x"])
    with pytest.raises(MatchingError, match="no comparison rows"):
        match(pd.DataFrame({"t": [1, 1], "x": [1.0, 2.0]}), "t", ["x"])
    with pytest.raises(MatchingError, match="no treated rows"):
        match(pd.DataFrame({"t": [0, 0], "x": [1.0, 2.0]}), "t", ["x"])


def test_caliper_nobody_fits(df):
    with pytest.warns(MatchingWarning, match="no treated row was matched"):
        result = match(df, "treat", ["baseline_z", "frl_school"], caliper=1e-9)
    assert result.n_matched_treated == 0 and result.weights.sum() == 0
    assert set(result.unmatched["reason"]) == {"outside_caliper"}
    assert len(result.unmatched) == df["treat"].sum()
    text = result.summary()
    assert "No treated row was matched" in text and "Widen the caliper" in text
    # balance after matching: no matched students, so every matched-sample statistic is
    # missing and says why (it used to raise)
    matched = result.balance().table.query("sample == 'matched'")
    assert matched["smd"].isna().all() and matched["n_treated"].eq(0).all()
    assert set(matched["wwc_verdict"]) == {"not computable"}
    assert set(matched["note"]) == {"no PL students"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(ratio=0), "ratio must be a whole number"),
        (dict(ratio=1.5), "ratio must be a whole number"),
        (dict(caliper=-0.2), "caliper must be a positive number"),
        (dict(caliper=float("nan")), "caliper must be a positive number"),
        (dict(order="closest"), "order must be one of"),
        (dict(method="optimal"), "method must be one of"),
        (dict(missing="ignore"), "missing must be one of"),
        (dict(exact="district"), r"exact column\(s\) not in the frame: 'district'"),
    ],
)
def test_bad_options(df, options, message):
    with pytest.raises(MatchingError, match=message):
        match(df, "treat", ["baseline_z"], **options)


def test_bad_columns_and_index(df):
    with pytest.raises(MatchingError, match=r"covariate column\(s\) not in the frame: 'fall_z'"):
        match(df, "treat", ["fall_z"])
    with pytest.raises(MatchingError, match="treatment column 'arm' is not in the frame"):
        match(df, "arm", ["baseline_z"])
    with pytest.raises(MatchingError, match="at least one covariate"):
        match(df, "treat", [])
    with pytest.raises(MatchingError, match="duplicate labels"):
        match(pd.concat([df, df]), "treat", ["baseline_z"])
    dated = df.assign(when=pd.Timestamp("2022-09-01"))
    with pytest.raises(MatchingError, match="covariate 'when' is a date"):
        match(dated, "treat", ["when"])
    with pytest.raises(MatchingError, match="2 infinite"):
        match(df.assign(x=np.r_[np.inf, -np.inf, np.zeros(len(df) - 2)]), "treat", ["x"])
    with pytest.raises(MatchingError, match="expected a pandas DataFrame"):
        match(df.to_numpy(), "treat", ["baseline_z"])
