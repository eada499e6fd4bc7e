"""Tests of pipeline/levels.py against R's multilevel package (reference/levels_multilevel.*)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.levels import aggregate, one_way_icc, rwg_j

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "levels_multilevel.json").read_text())
ITEMS = {
    "leadership": [f"LEAD{i:02d}" for i in range(1, 12)],
    "task_significance": [f"TSIG{i:02d}" for i in range(1, 4)],
    "hostility": [f"HOSTIL{i:02d}" for i in range(1, 6)],
}
SCALES = {"leadership": (1, 5), "task_significance": (1, 5), "hostility": (0, 4)}
SCORES = [*ITEMS, "social_capital"]
TOL = 1e-3


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "levels_lq2002.csv", dtype={"firm_id": str})


def run(data, **kw):
    return aggregate(data, unit="firm_id", scores=SCORES, construct_items=ITEMS, scales=SCALES,
                     group="cluster", **kw)


def check_level(stats: dict, ref: dict, units_key: str) -> None:
    for s in SCORES:
        got, exp = stats[s], ref[s]
        for key in ("icc1", "icc2", "f", "p", "mean_group_size"):
            assert got[key] == pytest.approx(exp[key], abs=TOL), (s, key)
        assert got["df1"] == exp["df1"] and got["df2"] == exp["df2"]
        assert got[units_key] == exp["n_units"]
        if s in ITEMS:
            for key in ("rwg_j_mean", "rwg_j_median", "rwg_j_share_70"):
                assert got[key] == pytest.approx(exp[key], abs=TOL), (s, key)
        else:  # higher-order score: ICC only
            assert got["rwg_j_mean"] is None and got["rwg_j_median"] is None


@pytest.mark.parametrize("case,min_resp", [("all", 1), ("min3", 3)])
def test_matches_multilevel(data, case, min_resp):
    res = run(data, min_respondents=min_resp)
    d = res.to_dict()
    ref = R[case]
    check_level(d, ref["unit_level"], "n_units")
    check_level(d["group_level"], ref["group_level"], "n_groups")
    # Unit table: sorted text ids (leading zeros kept), means and respondent counts.
    exp_ids = sorted(ref["units"]["n_respondents"])
    assert list(res.units.index) == exp_ids
    assert res.units.index.name == "firm_id"
    assert res.units["n_respondents"].to_dict() == ref["units"]["n_respondents"]
    for s in SCORES:
        exp = pd.Series(ref["units"][s], dtype=float).reindex(exp_ids)
        np.testing.assert_allclose(res.units[s].to_numpy(), exp.to_numpy(), atol=1e-9)
    # rwg(j) per unit, including NaN for single-respondent units.
    for s in ITEMS:
        exp = pd.Series(ref["unit_level"][s]["rwg_j"], dtype=float)
        got = res.rwg_j[s]
        assert got.notna().sum() == exp.notna().sum()
        np.testing.assert_allclose(got.reindex(exp.index).to_numpy(), exp.to_numpy(), atol=TOL)
        gexp = pd.Series(ref["group_level"][s]["rwg_j"], dtype=float)
        np.testing.assert_allclose(res.group_rwg_j[s].reindex(gexp.index).to_numpy(),
                                   gexp.to_numpy(), atol=TOL)
    # Each unit carries its (single) cluster.
    first = data.groupby("firm_id")["cluster"].first()
    assert (res.units["cluster"] == first.reindex(res.units.index)).all()


def test_to_dict_shape_and_warnings(data):
    res = run(data)
    d = res.to_dict()
    assert set(d) == {*SCORES, "group_level", "units", "respondents_per_unit", "warnings"}
    assert set(d["leadership"]) == {"icc1", "icc2", "rwg_j_mean", "rwg_j_median", "rwg_j_share_70",
                                    "n_units", "mean_group_size", "f", "df1", "df2", "p"}
    counts = np.array(list(R["all"]["units"]["n_respondents"].values()))
    assert d["units"] == counts.size
    assert d["respondents_per_unit"] == {"min": counts.min(), "median": np.median(counts),
                                         "max": counts.max()}
    assert d["group_level"]["groups"] == 5
    json.dumps(d)  # plain types only
    text = " ".join(d["warnings"])
    # task_significance: ICC(2) .2487 and mean rwg(j) .5075 in R -> both caveats.
    assert "ICC(2) of 'task_significance' across units is 0.249" in text
    assert "Mean rwg(j) of 'task_significance' across units is 0.508" in text
    assert "units have fewer than 3 respondents" in text
    # leadership agrees well (mean rwg(j) .88 in R): no agreement caveat for it
    assert "Mean rwg(j) of 'leadership' across units" not in text


def test_min_respondents_warning(data):
    res = run(data, min_respondents=3)
    n_small = sum(v < 3 for v in R["all"]["units"]["n_respondents"].values())
    assert any(w.startswith(f"{n_small} unit(s) with fewer than 3 respondents were dropped")
               for w in res.warnings)
    assert res.units["n_respondents"].min() >= 3


def test_unit_in_two_groups_is_study_error(data):
    bad = data.copy()
    rows = bad.index[bad["firm_id"] == "0013"][:2]
    bad.loc[rows, "cluster"] = "C9"
    bad.loc[bad.index[bad["firm_id"] == "0041"][:1], "cluster"] = "C8"
    with pytest.raises(StudyError) as e:
        run(bad)
    msg = str(e.value)
    assert "unit '0013' is in more than one group" in msg and "'C9' (2 respondents)" in msg
    assert "unit '0041'" in msg  # every offending unit is reported
    assert "column 'cluster'" in msg


def test_missing_unit_column_and_reserved_name(data):
    with pytest.raises(StudyError, match="survey.unit"):
        aggregate(data, unit="firm", scores=SCORES, construct_items=ITEMS, scales=SCALES)
    d2 = data.rename(columns={"hostility": "units"})
    with pytest.raises(StudyError, match="rename 'units'"):
        aggregate(d2, unit="firm_id", scores=["units"], construct_items={}, scales={})


def test_respondents_without_unit_are_left_out(data):
    d2 = data.copy()
    d2.loc[:4, "firm_id"] = np.nan
    res = aggregate(d2, unit="firm_id", scores=SCORES, construct_items=ITEMS, scales=SCALES)
    assert any(w.startswith("5 respondent(s) have no unit id") for w in res.warnings)
    assert res.units["n_respondents"].sum() == len(d2) - 5


def test_near_zero_icc_warning():
    rng = np.random.default_rng(1)
    n = 2000
    df = pd.DataFrame({"u": rng.integers(0, 100, n).astype(str), "x": rng.normal(size=n)})
    res = aggregate(df, unit="u", scores=["x"], construct_items={}, scales={})
    icc1 = res.constructs["x"].icc1
    assert icc1 < 0.01
    assert any("near zero or negative" in w for w in res.warnings)


def test_icc_agrees_with_statsmodels_anova():
    # Independent cross-check of the ANOVA parts on unbalanced groups.
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    rng = np.random.default_rng(7)
    g = rng.integers(0, 40, 900)
    y = rng.normal(size=40)[g] * 0.5 + rng.normal(size=900)
    tab = sm.stats.anova_lm(ols("y ~ C(g)", pd.DataFrame({"y": y, "g": g})).fit())
    res = one_way_icc(y, g, 40)
    msb, msw = tab["mean_sq"].iloc[0], tab["mean_sq"].iloc[1]
    assert res["f"] == pytest.approx(tab["F"].iloc[0], rel=1e-10)
    assert res["p"] == pytest.approx(tab["PR(>F)"].iloc[0], rel=1e-8)
    assert res["icc2"] == pytest.approx((msb - msw) / msb, rel=1e-10)


def test_rwg_j_edge_cases():
    # Perfect agreement -> 1; variance above the null is capped -> 0; one respondent -> NaN.
    items = np.array([[3, 3], [3, 3], [1, 1], [5, 5], [2, 4]], dtype=float)
    codes = np.array([0, 0, 1, 1, 2])
    r = rwg_j(items, codes, 3, ranvar=2.0)
    assert r[0] == 1.0 and r[1] == 0.0 and np.isnan(r[2])


def test_large_input_is_vectorised():
    # 200k respondents in 5k units: finishes quickly only if there is no loop over units.
    rng = np.random.default_rng(3)
    n, k = 200_000, 5_000
    u = rng.integers(0, k, n)
    items = np.clip(np.round(3 + rng.normal(size=k)[u, None] * 0.5
                             + rng.normal(size=(n, 4))), 1, 5)
    df = pd.DataFrame(items, columns=list("abcd"))
    df["unit"] = u
    df["s"] = items.mean(axis=1)
    res = aggregate(df, unit="unit", scores=["s"], construct_items={"s": list("abcd")},
                    scales={"s": (1, 5)})
    assert res.units.shape[0] == k
    assert 0 < res.constructs["s"].icc1 < 1
    assert 0 < res.constructs["s"].rwg_j_mean < 1


def test_unit_ids_become_text_like_the_tie_list():
    df = pd.DataFrame({"u": [12.0, 12.0, 3.0, np.nan], "x": [1.0, 2.0, 3.0, 4.0]})
    res = aggregate(df, unit="u", scores=["x"], construct_items={}, scales={})
    assert list(res.units.index) == ["12", "3"]
    assert res.units.loc["12", "x"] == 1.5
    assert any(w.startswith("1 respondent(s) have no unit id") for w in res.warnings)
