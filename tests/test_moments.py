"""Item moments against direct numpy/pandas computations and R's base functions (fixtures)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import pipeline.measure.moments as moments_mod
from pipeline.errors import StudyError
from pipeline.measure.moments import ItemMoments, MomentsAccumulator, item_moments

REF = Path(__file__).parent / "reference"


def likert(rng, n, p, missing=0.1, lo=1, hi=5):
    x = rng.integers(lo, hi + 1, size=(n, p)).astype(float)
    x[rng.random((n, p)) < missing] = np.nan
    return x


def pair_cov_direct(x, i, j):
    """R's cov(x, use = "pairwise") for one pair: two-pass over that pair's complete rows."""
    ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
    a, b = x[ok, i], x[ok, j]
    if ok.sum() < 2:
        return np.nan, np.nan
    da, db = a - a.mean(), b - b.mean()
    cov = np.sum(da * db) / (ok.sum() - 1)
    den = np.sqrt(np.sum(da * da) * np.sum(db * db))
    return cov, (np.sum(da * db) / den if den > 0 else np.nan)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    x = likert(rng, 700, 6, missing=0.15)
    # correlated columns so correlations are not all ~0
    x[:, 1] = np.where(np.isnan(x[:, 1]), np.nan, np.clip(np.round(x[:, 0] * 0.7 + 1), 1, 5))
    x[rng.random(700) < 0.1, 1] = np.nan
    return pd.DataFrame(x, columns=[f"q{i}" for i in range(6)])


def test_matches_pandas(frame):
    m = item_moments(frame)
    assert m.items == tuple(frame.columns)
    assert m.n_rows == len(frame)
    obs = frame.notna().to_numpy().astype(int)
    np.testing.assert_array_equal(m.n_pairwise, obs.T @ obs)
    np.testing.assert_array_equal(m.n_valid, obs.sum(axis=0))
    np.testing.assert_allclose(m.means, frame.mean().to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.sds, frame.std().to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.cov_pairwise, frame.cov().to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.cor_pairwise, frame.corr().to_numpy(), rtol=0, atol=1e-12)
    cc = frame.dropna()
    assert m.n_complete == len(cc)
    np.testing.assert_allclose(m.mean_complete, cc.mean().to_numpy(), atol=1e-12)
    np.testing.assert_allclose(m.cov_complete, cc.cov().to_numpy(), atol=1e-12)
    np.testing.assert_allclose(m.missing_share, frame.isna().mean().to_numpy(), atol=1e-15)


def test_missingness_patterns(frame):
    m = item_moments(frame)
    assert m.pattern_counts.sum() == len(frame)
    expected = frame.notna().value_counts()
    got = {tuple(bool(b) for b in row): int(c) for row, c in zip(m.patterns, m.pattern_counts)}
    assert got == {tuple(bool(b) for b in k): int(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    "name", ["reliability_hs39", "reliability_mixed", "reliability_bfi", "reliability_pingouin"]
)
def test_matches_r_base(name):
    """cov/cor(use = "pairwise"), pairwiseCount, colMeans, sd, cov(na.omit(x)) from R."""
    ref = json.loads((REF / f"{name}.json").read_text())
    mo = ref["moments"]
    data = pd.read_csv(Path(__file__).parent.parent / ref["data"])
    m = item_moments(data, mo["items"])
    assert m.n_rows == mo["n_rows"]
    assert m.n_complete == mo["n_complete"]
    np.testing.assert_array_equal(m.n_valid, mo["n_valid"])
    np.testing.assert_array_equal(m.n_pairwise, np.array(mo["n_pairwise"]))
    for key in ("means", "sds", "cov_pairwise", "cor_pairwise", "mean_complete", "cov_complete"):
        want = np.array(mo[key], dtype=float)
        got = getattr(m, key)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=key)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=key)


def test_precision_one_million_likert_rows():
    """Centring first keeps 10^6 rows of 1-5 data within 1e-10 of R's two-pass algorithm."""
    rng = np.random.default_rng(11)
    n, p = 1_000_000, 4
    base = rng.integers(1, 6, size=n)
    x = np.column_stack(
        [np.clip(base + rng.integers(-1, 2, size=n), 1, 5) for _ in range(p)]
    ).astype(float)
    x[rng.random(x.shape) < 0.05] = np.nan
    m = item_moments(x)
    for i in range(p):
        for j in range(i, p):
            cov, cor = pair_cov_direct(x, i, j)
            assert m.cov_pairwise[i, j] == pytest.approx(cov, rel=1e-10, abs=1e-12)
            assert m.cor_pairwise[i, j] == pytest.approx(cor, rel=1e-10, abs=1e-12)


def test_chunked_accumulation_equals_one_pass(frame):
    x = frame.to_numpy()
    whole = item_moments(x)
    acc = MomentsAccumulator(whole.items)
    for start in range(0, len(x), 97):
        acc.add(x[start : start + 97])
    parts = acc.moments()
    for key in (
        "n_valid",
        "n_pairwise",
        "means",
        "sds",
        "cov_pairwise",
        "cor_pairwise",
        "mean_complete",
        "cov_complete",
    ):
        np.testing.assert_allclose(
            getattr(parts, key), getattr(whole, key), rtol=1e-12, atol=1e-12, err_msg=key
        )
    assert parts.n_complete == whole.n_complete
    assert sorted(parts.pattern_counts.tolist()) == sorted(whole.pattern_counts.tolist())


def test_block_boundaries(frame, monkeypatch):
    """Small internal blocks give the same answer as one block."""
    x = np.tile(frame.to_numpy(), (5, 1))
    one = item_moments(x)
    monkeypatch.setattr(moments_mod, "BLOCK_ROWS", 64)
    many = item_moments(x)
    np.testing.assert_allclose(many.cov_pairwise, one.cov_pairwise, rtol=1e-12)
    np.testing.assert_allclose(many.cov_complete, one.cov_complete, rtol=1e-12)
    np.testing.assert_array_equal(many.pattern_counts.sum(), len(x))


def test_accumulator_shift_set_late_is_exact():
    """An item unobserved in the first chunk gets its shift later without error."""
    rng = np.random.default_rng(3)
    x = likert(rng, 300, 3, missing=0.05)
    x[:100, 2] = np.nan
    acc = MomentsAccumulator(["a", "b", "c"])
    acc.add(x[:100])
    acc.add(x[100:])
    m = acc.moments()
    df = pd.DataFrame(x)
    np.testing.assert_allclose(m.cov_pairwise, df.cov().to_numpy(), atol=1e-12)


def test_subset_pairwise_exact_and_listwise_honest(frame):
    m = item_moments(frame)
    # q0 and q1 carry their own missingness; rows complete on (q0, q1) outnumber full-complete rows
    sub = m.subset(["q1", "q0"])
    direct = item_moments(frame[["q1", "q0"]])
    np.testing.assert_allclose(sub.cov_pairwise, direct.cov_pairwise, atol=1e-12)
    np.testing.assert_array_equal(sub.n_pairwise, direct.n_pairwise)
    assert sub.n_complete == direct.n_complete == len(frame[["q1", "q0"]].dropna())
    assert sub.n_complete > m.n_complete
    assert sub.cov_complete is None and sub.mean_complete is None
    assert sub.pattern_counts.sum() == len(frame)
    # a subset whose complete rows are the parent's keeps exact listwise statistics
    y = frame.copy()
    y.loc[y["q5"].isna(), ["q0", "q1", "q2", "q3", "q4"]] = np.nan
    my = item_moments(y)
    keep = my.subset(["q5", "q2"])
    mask = y[["q0", "q1", "q2", "q3", "q4", "q5"]].notna().all(axis=1)
    if keep.n_complete == int(mask.sum()):
        np.testing.assert_allclose(
            keep.cov_complete, y.loc[mask, ["q5", "q2"]].cov().to_numpy(), atol=1e-12
        )


def test_r_na_conventions():
    """Constant item -> NaN correlations (diagonal too); pairs with < 2 joint rows -> NaN."""
    x = np.array(
        [
            [1, 2, 1, np.nan],
            [2, 2, np.nan, 1],
            [3, 2, 2, np.nan],
            [np.nan, 2, 3, 4],
            [5, 2, 1, np.nan],
        ],
        dtype=float,
    )
    m = item_moments(x)
    assert m.items == ("V1", "V2", "V3", "V4")
    assert np.isnan(m.cor_pairwise[1]).all() and np.isnan(m.cor_pairwise[:, 1]).all()
    assert m.cov_pairwise[1, 1] == 0.0
    # V1 and V4 share one row only
    assert np.isnan(m.cov_pairwise[0, 3]) and np.isnan(m.cor_pairwise[0, 3])
    assert m.n_complete == 0 and m.mean_complete is None and m.cov_complete is None
    assert m.cor_pairwise[0, 0] == 1.0


def test_all_missing_item_and_empty_data():
    x = np.array([[1.0, np.nan], [2.0, np.nan], [4.0, np.nan]])
    m = item_moments(x, items=["a", "b"])
    assert m.n_valid.tolist() == [3, 0]
    assert np.isnan(m.means[1]) and np.isnan(m.sds[1])
    assert m.means[0] == pytest.approx(7 / 3)
    empty = item_moments(np.zeros((0, 2)))
    assert empty.n_rows == 0 and np.isnan(empty.means).all()


def test_nullable_and_integer_columns():
    df = pd.DataFrame({"a": pd.array([1, 2, None, 4], dtype="Int64"), "b": [1, 1, 2, 3]})
    m = item_moments(df)
    assert m.n_valid.tolist() == [3, 4]
    np.testing.assert_allclose(m.cov_pairwise, df.astype(float).cov().to_numpy(), atol=1e-12)


def test_user_errors_name_the_column():
    df = pd.DataFrame({"trust_1": [1, 2, 3], "trust_2": ["1", "x", "3"]})
    with pytest.raises(StudyError) as e:
        item_moments(df)
    assert "trust_2" in str(e.value) and "row 3" in str(e.value)
    with pytest.raises(StudyError) as e:
        item_moments(df, ["trust_1", "trust_3"])
    assert "trust_3" in str(e.value) and "did you mean" in str(e.value)
    with pytest.raises(StudyError):
        item_moments(np.array([[1.0, np.inf]]))
    m = item_moments(df[["trust_1"]])
    with pytest.raises(StudyError):
        m.subset(["nope"])


def test_frozen():
    m = item_moments(np.ones((3, 2)))
    assert isinstance(m, ItemMoments)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.n_rows = 5  # type: ignore[misc]


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(0, 40), st.integers(1, 5)),
        elements=st.one_of(st.just(np.nan), st.integers(0, 6).map(float)),
    )
)
def test_property_matches_pandas(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # socap itself must stay silent on degenerate input
        m = item_moments(x)
    df = pd.DataFrame(x)
    warnings.simplefilter("ignore", RuntimeWarning)  # pandas warns on empty/one-row data
    np.testing.assert_allclose(m.cov_pairwise, df.cov().to_numpy(), atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(m.cor_pairwise, df.corr().to_numpy(), atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(m.means, df.mean().to_numpy(), atol=1e-12, equal_nan=True)
    assert m.n_complete == len(df.dropna())
    assert m.pattern_counts.sum() == len(df)


def test_rows_sorted_by_value_keep_precision():
    # the shift is the first block's mean: with rows sorted by value (an export ordered by a
    # score, or a trend) that block is unrepresentative; the moments stay exact to ~1e-10
    rng = np.random.default_rng(5)
    n = 300_000
    base = np.sort(rng.normal(1e4, 50.0, n))
    x = np.column_stack([base, base * 0.5 + rng.normal(0, 5, n), np.arange(n, dtype=float)])
    x[rng.random(x.shape) < 0.05] = np.nan
    m = item_moments(x)
    for i in range(3):
        for j in range(3):
            ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            cov = np.cov(x[ok, i], x[ok, j])[0, 1]
            assert m.cov_pairwise[i, j] == pytest.approx(cov, rel=1e-10)
    ok = ~np.isnan(x).any(axis=1)
    np.testing.assert_allclose(m.cov_complete, np.cov(x[ok].T), rtol=1e-10)


def test_item_constant_over_a_pairs_rows_has_no_correlation():
    """Found by hypothesis: column 2 is 0 on the three rows where column 1 is observed, so R's
    cor(use = "pairwise") is NA (no variance), not the 3e-10 the subtraction's rounding left."""
    x = np.array([[np.nan, 0, 0], [np.nan, np.nan, 2], [np.nan, 0, 0], [np.nan, 1, 0],
                  [np.nan, np.nan, 1]])
    m = item_moments(x)
    assert np.isnan(m.cor_pairwise[1, 2]) and np.isnan(m.cor_pairwise[2, 1])
    assert m.cor_pairwise[1, 1] == 1.0 and m.cor_pairwise[2, 2] == 1.0
    assert m.cov_pairwise[1, 2] == pytest.approx(0.0, abs=1e-15)
