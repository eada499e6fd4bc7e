"""pipeline.measure.cfa.measurement_invariance and group_means against lavaan fixtures.

Fixtures (R scripts beside them, run from the repository root):
  tests/reference/invariance_hs.json   Holzinger & Swineford (1939) by school
  tests/reference/invariance_sim.json  simulated two-region surveys: invariant, one non-invariant
                                       intercept (trust_3), one non-invariant loading (coop_2)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.cfa import _constraint_tests, _fit_groups, group_means, measurement_invariance
from pipeline.errors import StudyError
from pipeline.measure.sem import engine

REF = Path(__file__).parent / "reference"
HS_ITEMS = [f"x{i}" for i in range(1, 10)]
HS_MODEL = {"visual": HS_ITEMS[:3], "textual": HS_ITEMS[3:6], "speed": HS_ITEMS[6:]}
SIM_MODEL = {"trust": [f"trust_{i}" for i in range(1, 5)],
             "cooperation": [f"coop_{i}" for i in range(1, 5)]}
LEVEL_KEYS = {"chisq": "chisq", "df": "df", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
              "rmsea": "rmsea", "srmr": "srmr", "aic": "aic", "bic": "bic"}


def _load(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _hs() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "holzinger1939.csv")


def _sim(scenario: str) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / "invariance_sim.csv")
    return d[d["scenario"] == scenario].reset_index(drop=True)


_CACHE: dict[str, object] = {}


def _result(name: str):
    if name not in _CACHE:
        if name == "hs":
            _CACHE[name] = measurement_invariance(_hs(), HS_MODEL, "school")
        else:
            _CACHE[name] = measurement_invariance(_sim(name), SIM_MODEL, "region")
    return _CACHE[name]


def _ref(name: str) -> dict:
    return _load("invariance_hs") if name == "hs" else _load("invariance_sim")[name]


def _check_level(got: dict, ref_fit: dict) -> None:
    for ours, theirs in LEVEL_KEYS.items():
        if theirs == "pvalue" and ref_fit[theirs] < 1e-6:
            assert got[ours] < 1e-6
            continue
        assert got[ours] == pytest.approx(ref_fit[theirs], abs=0.002), ours
    assert got["rmsea_ci"][0] == pytest.approx(ref_fit["rmsea.ci.lower"], abs=0.002)
    assert got["rmsea_ci"][1] == pytest.approx(ref_fit["rmsea.ci.upper"], abs=0.002)


# ----------------------------------------------------------------------------------------------
# agreement with lavaan


@pytest.mark.parametrize("name", ["hs", "invariant", "intercept", "loading"])
@pytest.mark.parametrize("level", ["configural", "metric", "scalar"])
def test_level_fit_matches_lavaan(name, level):
    d = _result(name).to_dict()
    _check_level(d[level], _ref(name)[level]["fit"])
    assert d[level]["converged"]


@pytest.mark.parametrize("name", ["hs", "invariant", "intercept", "loading"])
def test_chisq_difference_tests_match_lavtestlrt(name):
    d = _result(name).to_dict()
    lrt = _ref(name)["lrt"]
    for level, i in (("metric", 1), ("scalar", 2)):
        assert d[level]["chisq_diff"] == pytest.approx(lrt["chisq_diff"][i], abs=0.002)
        assert d[level]["df_diff"] == lrt["df_diff"][i]
        assert d[level]["p_diff"] == pytest.approx(lrt["p"][i], abs=1e-4)
        ref_fit, base_fit = _ref(name)[level]["fit"], _ref(name)[
            "configural" if level == "metric" else "metric"]["fit"]
        assert d[level]["delta_cfi"] == pytest.approx(ref_fit["cfi"] - base_fit["cfi"], abs=0.002)
        assert d[level]["delta_rmsea"] == pytest.approx(ref_fit["rmsea"] - base_fit["rmsea"],
                                                        abs=0.002)


def _mom(data, group, items):
    labels = list(pd.unique(data[group]))
    covs, means, ns = [], [], []
    for g in labels:
        mu, cv, n = engine.complete_moments(data.loc[data[group] == g, items].to_numpy(float))
        covs.append(cv)
        means.append(mu)
        ns.append(n)
    return engine.Moments(np.array(covs), np.array(means), np.array(ns))


def _score_table(tests):
    return {t["parameter"]: t["chisq"] for t in tests}


@pytest.mark.parametrize("name,level", [
    ("hs", "metric"), ("hs", "scalar"), ("invariant", "metric"), ("invariant", "scalar"),
    ("intercept", "scalar"), ("loading", "metric"), ("loading", "scalar"),
])
def test_score_tests_match_lavtestscore(name, level):
    data, group, model = ((_hs(), "school", HS_MODEL) if name == "hs"
                          else (_sim(name), "region", SIM_MODEL))
    items = [i for its in model.values() for i in its]
    mom = _mom(data, group, items)
    equal = ("loadings",) if level == "metric" else ("loadings", "intercepts")
    fit, _ = _fit_groups(tuple(items), model, mom, equal)
    ours = {}
    for kind in (engine.LAMBDA, engine.NU):
        ours.update(_score_table(_constraint_tests(fit, kind)))
    ref = _ref(name)[level]["score"]
    assert len(ref) == len(ours)
    for row in ref:
        assert ours[row["param"]] == pytest.approx(row["X2"], rel=0.01, abs=1e-3), row["param"]


def test_score_tests_after_freeing_x3_match_lavaan():
    data = _hs()
    mom = _mom(data, "school", HS_ITEMS)
    partial = [(engine.NU, 2, 0)]
    fit, fm = _fit_groups(tuple(HS_ITEMS), HS_MODEL, mom, ("loadings", "intercepts"), partial)
    ref = _load("invariance_hs")["partial_x3"]
    assert fm["chisq"] == pytest.approx(ref["fit"]["chisq"], abs=0.002)
    assert fm["cfi"] == pytest.approx(ref["fit"]["cfi"], abs=0.002)
    ours = {}
    for kind in (engine.LAMBDA, engine.NU):
        ours.update(_score_table(_constraint_tests(fit, kind)))
    for row in ref["score"]:
        assert ours[row["param"]] == pytest.approx(row["X2"], rel=0.01, abs=1e-3), row["param"]


# ----------------------------------------------------------------------------------------------
# verdicts and partial invariance


def test_hs_reaches_metric_then_partial_scalar_freeing_x3_and_x7():
    res = _result("hs")
    d = res.to_dict()
    assert d["level_reached"] == "metric"
    assert d["configural"]["holds"] and d["metric"]["holds"] and not d["scalar"]["holds"]
    assert d["partial"]["level_reached"] == "partial scalar"
    assert d["partial"]["scalar"]["freed"] == ["x3~1", "x7~1"]
    assert [s["parameter"] for s in d["partial"]["suggestions"][:2]] == ["x3~1", "x7~1"]
    ref = _load("invariance_hs")["partial_scalar"]["fit"]
    _check_level(d["partial"]["scalar"], ref)
    assert d["comparable"] == {"relationships": True, "means": True}
    assert "x3~1" in d["defensible_comparisons"]
    assert any("moderately" in w for w in d["warnings"])     # configural RMSEA .097


def test_hs_latent_means_from_partial_scalar_model_match_lavaan():
    res = _result("hs")
    ref = pd.DataFrame(_load("invariance_hs")["partial_scalar"]["latent_means"])
    ref = ref[ref["group"] == 2].set_index("lhs")
    got = res.latent_means.set_index("construct")
    assert set(got["group"]) == {"Grant-White"}
    for c in HS_MODEL:
        assert got.loc[c, "estimate"] == pytest.approx(ref.loc[c, "est"], abs=1e-3)
        assert got.loc[c, "se"] == pytest.approx(ref.loc[c, "se"], abs=1e-3)
        assert got.loc[c, "ci_low"] == pytest.approx(ref.loc[c, "ci.lower"], abs=1e-3)
        assert got.loc[c, "pvalue"] == pytest.approx(ref.loc[c, "pvalue"], abs=1e-3)


def test_hs_full_scalar_latent_means_match_lavaan():
    from pipeline.measure.cfa import _latent_means

    data = _hs()
    mom = _mom(data, "school", HS_ITEMS)
    fit, _ = _fit_groups(tuple(HS_ITEMS), HS_MODEL, mom, ("loadings", "intercepts"))
    got = _latent_means(fit, ["Pasteur", "Grant-White"], list(HS_MODEL)).set_index("construct")
    ref = pd.DataFrame(_load("invariance_hs")["scalar"]["latent_means"])
    ref = ref[ref["group"] == 2].set_index("lhs")
    for c in HS_MODEL:
        assert got.loc[c, "estimate"] == pytest.approx(ref.loc[c, "est"], abs=1e-3)
        assert got.loc[c, "se"] == pytest.approx(ref.loc[c, "se"], abs=1e-3)


def test_invariant_regions_pass():
    d = _result("invariant").to_dict()
    assert d["level_reached"] == "scalar"
    assert d["partial"]["level_reached"] is None
    assert d["partial"]["suggestions"] == []
    assert d["comparable"] == {"relationships": True, "means": True}
    assert set(d["latent_means"]["south"]) == {"trust", "cooperation"}
    # the simulated shifts (+0.3, -0.2 in SD units of a latent with variance ~0.64) are recovered
    assert d["latent_means"]["south"]["trust"]["estimate"] > 0
    assert d["latent_means"]["south"]["cooperation"]["estimate"] < 0


def test_non_invariant_intercept_is_flagged_and_named():
    d = _result("intercept").to_dict()
    assert d["level_reached"] == "metric"
    assert not d["scalar"]["holds"]
    assert d["partial"]["suggestions"][0]["parameter"] == "trust_3~1"
    assert d["partial"]["suggestions"][0]["group"] == "south"
    assert d["partial"]["level_reached"] == "partial scalar"
    assert d["partial"]["scalar"]["freed"] == ["trust_3~1"]
    _check_level(d["partial"]["scalar"], _ref("intercept")["partial"]["scalar"]["fit"])
    assert "trust_3~1" in d["defensible_comparisons"]


def test_non_invariant_loading_is_flagged_and_named():
    d = _result("loading").to_dict()
    assert d["level_reached"] == "configural"
    assert not d["metric"]["holds"]
    assert d["partial"]["suggestions"][0]["parameter"] == "cooperation=~coop_2"
    assert d["partial"]["metric"]["freed"] == ["cooperation=~coop_2"]
    assert d["partial"]["metric"]["holds"]
    ref = _ref("loading")["partial"]
    _check_level(d["partial"]["metric"], ref["metric"]["fit"])
    _check_level(d["partial"]["scalar"], ref["scalar"]["fit"])
    assert d["partial"]["level_reached"] == "partial scalar"


def test_to_dict_contract_keys_and_json():
    d = _result("hs").to_dict()
    for key in ("configural", "metric", "scalar", "level_reached", "partial",
                "defensible_comparisons", "warnings"):
        assert key in d
    for key in ("chisq", "df", "pvalue", "cfi", "rmsea", "srmr"):
        assert key in d["configural"]
    for key in ("delta_cfi", "delta_rmsea", "chisq_diff", "df_diff", "p_diff"):
        assert key in d["metric"] and key in d["scalar"]
    assert d["level_reached"] in ("none", "configural", "metric", "scalar")
    assert d["groups"] == ["Pasteur", "Grant-White"]
    assert d["n"] == {"Pasteur": 156, "Grant-White": 145}
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    table = _result("hs").fit_table
    assert list(table["model"]) == ["configural", "metric", "scalar", "partial scalar"]
    assert table.loc[3, "freed"] == "x3~1, x7~1"


# ----------------------------------------------------------------------------------------------
# edge cases


def test_missing_group_column_is_a_study_error():
    with pytest.raises(StudyError, match="regoin"):
        measurement_invariance(_hs(), HS_MODEL, "regoin")


def test_one_group_is_a_warning():
    data = _hs()
    data["one"] = "all"
    res = measurement_invariance(data, HS_MODEL, "one")
    d = res.to_dict()
    assert d["level_reached"] == "none"
    assert d["configural"] is None
    assert any("at least two groups" in w for w in d["warnings"])
    json.dumps(d, allow_nan=False)


def test_tiny_group_is_left_out_with_a_warning():
    data = _hs()
    data.loc[data.index[:5], "school"] = "Tiny"
    res = measurement_invariance(data, HS_MODEL, "school")
    assert "Tiny" not in res.groups
    assert any("'Tiny'" in w for w in res.warnings)
    assert res.configural is not None


def test_rows_with_missing_items_or_group_are_dropped():
    data = _hs()
    data.loc[0, "x1"] = np.nan
    data.loc[1, "school"] = None
    res = measurement_invariance(data, HS_MODEL, "school")
    assert sum(res.n.values()) == 299


# ----------------------------------------------------------------------------------------------
# group means


def test_observed_group_means_match_t_test():
    data = _hs()
    gm = group_means(data[["x1"]], data["school"])
    ref = _load("invariance_hs")["x1_by_school"]
    t = gm.table.set_index("group")
    for school, r in ref.items():
        assert t.loc[school, "n"] == r["n"]
        assert t.loc[school, "mean"] == pytest.approx(r["mean"], abs=1e-9)
        assert t.loc[school, "sd"] == pytest.approx(r["sd"], abs=1e-9)
        assert t.loc[school, "ci_low"] == pytest.approx(r["ci"][0], abs=1e-6)
        assert t.loc[school, "ci_high"] == pytest.approx(r["ci"][1], abs=1e-6)
    assert not gm.means_comparable
    assert any("not tested" in w for w in gm.warnings)


def test_group_means_follow_the_invariance_level():
    from pipeline.measure.cfa import factor_scores, fit_cfa

    data = _sim("intercept")
    scores = factor_scores(fit_cfa(data, SIM_MODEL), data)
    inv = _result("intercept")
    gm = group_means(scores, data["region"], inv)
    d = gm.to_dict()
    assert d["means_comparable"] and d["basis"] == "partial scalar"
    assert d["reference_group"] == "north"
    assert set(d["latent_means"]["south"]) == {"trust", "cooperation"}
    assert set(d["groups"]) == {"north", "south"}
    assert d["groups"]["south"]["trust"]["n"] == 450
    json.dumps(d, allow_nan=False)

    metric_only = measurement_invariance(data, SIM_MODEL, "region", partial=False)
    assert metric_only.level_reached == "metric" and not metric_only.means_comparable
    assert metric_only.suggestions[0]["parameter"] == "trust_3~1"
    gm2 = group_means(scores, data["region"], metric_only)
    assert gm2.latent_means.empty and gm2.basis is None
    assert any("cannot be read" in w for w in gm2.warnings)
    assert "construct means cannot" in gm2.defensible_comparisons


# ----------------------------------------------------------------------------------------------
# more than two groups


def _three_groups() -> pd.DataFrame:
    d = _sim("intercept")
    north = np.flatnonzero(d["region"].to_numpy() == "north")
    d.loc[north[1::2], "region"] = "east"
    return d


def test_three_groups_match_lavaan():
    ref = _load("invariance_sim")["three_groups"]
    res = measurement_invariance(_three_groups(), SIM_MODEL, "region")
    d = res.to_dict()
    assert d["groups"] == ref["groups"] == ["north", "east", "south"]
    assert list(d["n"].values()) == ref["nobs"]
    for level in ("configural", "metric", "scalar"):
        _check_level(d[level], ref[level]["fit"])          # includes RMSEA's sqrt(G) convention
    assert d["level_reached"] == "metric"
    assert d["partial"]["suggestions"][0]["parameter"] == "trust_3~1"
    assert d["partial"]["suggestions"][0]["group"] == "south"


@pytest.mark.parametrize("level", ["metric", "scalar"])
def test_three_group_score_tests_match_lavtestscore(level):
    ref = _load("invariance_sim")["three_groups"][level]["score"]
    data = _three_groups()
    items = [i for its in SIM_MODEL.values() for i in its]
    mom = _mom(data, "region", items)
    equal = ("loadings",) if level == "metric" else ("loadings", "intercepts")
    fit, _ = _fit_groups(tuple(items), SIM_MODEL, mom, equal)
    ours = {}
    for kind in (engine.LAMBDA, engine.NU):
        for t in _constraint_tests(fit, kind):
            ours[(t["parameter"], t["group"] + 1)] = t["chisq"]      # lavaan groups are 1-based
    assert len(ours) == len(ref)
    for row in ref:
        got = ours[(row["param"], row["group_rhs"])]
        assert got == pytest.approx(row["X2"], rel=0.01, abs=1e-3), row["param"]
