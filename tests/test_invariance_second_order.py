"""Invariance on the model the CFA reports (a second-order factor included) and the whole
partial-invariance search, against lavaan 0.6 (tests/reference/invariance_second_order.R, which
writes socap's search out in lavaan: lavTestScore, free the largest significant constraint,
refit until the delta-CFI / delta-RMSEA criteria hold).

Cases: Holzinger & Swineford by school with g =~ visual + textual + speed (hs_higher) and
first-order (hs); the bundled example's cleaned items by region, 3 groups, under social_capital
(example); a simulated second-order model whose reciprocity second-order loading and r_2
intercept differ by region (sim_higher), and the same in three groups (sim_higher3); the
first-order non-invariant-loading simulation (sim_loading).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.cfa import _constraint_tests, _fit_groups, measurement_invariance
from pipeline.measure.sem import engine

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "invariance_second_order.json").read_text())
HS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
EX = {"coordination": [f"coord_{i}" for i in range(1, 6)],
      "cooperation": [f"coop_{i}" for i in range(1, 6)],
      "reciprocity": [f"recip_{i}" for i in range(1, 6)],
      "trust": [f"trust_{i}" for i in range(1, 6)]}
SIM = {"coordination": ["c_1", "c_2", "c_3"], "cooperation": ["o_1", "o_2", "o_3"],
       "reciprocity": ["r_1", "r_2", "r_3"], "trust": ["t_1", "t_2", "t_3"]}
LOADING = {"trust": [f"trust_{i}" for i in range(1, 5)],
           "cooperation": [f"coop_{i}" for i in range(1, 5)]}


def _data(name):
    if name in ("hs", "hs_higher"):
        return pd.read_csv(REF / "data" / "holzinger1939.csv"), "school"
    if name == "example":
        return pd.read_csv(REF / "data" / "example_items.csv"), "region"
    if name in ("sim_higher", "sim_higher3"):
        d = pd.read_csv(REF / "data" / "invariance_second_order.csv")
        if name == "sim_higher3":          # north split into north / east by row parity
            north = np.flatnonzero(d["region"] == "north")
            d.loc[north[1::2], "region"] = "east"
        return d, "region"
    d = pd.read_csv(REF / "data" / "invariance_sim.csv")
    return d[d["scenario"] == "loading"].reset_index(drop=True), "region"


MODELS = {"hs_higher": (HS, {"g": list(HS)}), "hs": (HS, None),
          "example": (EX, {"social_capital": list(EX)}),
          "sim_higher": (SIM, {"sc": list(SIM)}), "sim_loading": (LOADING, None),
          "sim_higher3": (SIM, {"sc": list(SIM)})}
CASES = list(MODELS)
_CACHE: dict[str, object] = {}


def _result(name):
    if name not in _CACHE:
        d, group = _data(name)
        cons, higher = MODELS[name]
        _CACHE[name] = measurement_invariance(d, cons, group, higher_order=higher)
    return _CACHE[name]


def _ref(name):
    return FIX[name]


def _none(x):
    return None if x in ({}, [], None) else x


def _freed_list(x):
    x = _none(x)
    return [] if x is None else ([x] if isinstance(x, str) else list(x))


def _check_fit(got: dict, ref: dict):
    for k in ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        assert got[k] == pytest.approx(ref[k], abs=0.002), k
    assert got["rmsea_ci"][0] == pytest.approx(ref["rmsea.ci.lower"], abs=0.002)
    assert got["rmsea_ci"][1] == pytest.approx(ref["rmsea.ci.upper"], abs=0.002)


def _moments(name):
    d, group = _data(name)
    cons, _ = MODELS[name]
    items = [i for its in cons.values() for i in its]
    d = d.dropna(subset=items + [group])
    covs, means, ns = [], [], []
    for g in pd.unique(d[group]):
        mu, cv, n = engine.complete_moments(d.loc[d[group] == g, items].to_numpy(float))
        covs.append(cv)
        means.append(mu)
        ns.append(n)
    return tuple(items), engine.Moments(np.array(covs), np.array(means), np.array(ns))


def _entries(freed, items, cons, higher):
    """lavaan group.partial names -> the engine's (kind, row, col)."""
    lv = list(cons) + list(higher or {})
    out = []
    for name in freed:
        if name.endswith("~1"):
            out.append((engine.NU, items.index(name[:-2]), 0))
        else:
            f, x = name.split("=~")
            if x in lv:
                out.append((engine.BETA, lv.index(x), lv.index(f)))
            else:
                out.append((engine.LAMBDA, items.index(x), lv.index(f)))
    return out


def _check_scores(ours: dict, ref_rows: list):
    # lavaan names one constraint per group after group 1's parameter: with 3 groups a
    # parameter has two tests; compare them as sorted lists per parameter
    ref: dict[str, list] = {}
    for r in ref_rows:
        ref.setdefault(r["param"], []).append(r["X2"])
    assert set(ours) == set(ref)
    for p, vals in ref.items():
        got = ours[p]
        assert sorted(got) == pytest.approx(sorted(vals), rel=1e-3, abs=1e-3), p


def _score_lists(fit):
    out: dict[str, list] = {}
    for t in _constraint_tests(fit, (engine.LAMBDA, engine.BETA, engine.NU)):
        out.setdefault(t["parameter"], []).append(t["chisq"])
    return out


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("level", ["configural", "metric", "scalar"])
def test_levels_match_lavaan(name, level):
    d = _result(name).to_dict()
    _check_fit(d[level], _ref(name)[level]["fit"])
    assert d[level]["converged"]
    assert d["model"] == ("second-order" if MODELS[name][1] else "first-order")


@pytest.mark.parametrize("name", CASES)
def test_difference_tests_match_lavtestlrt(name):
    d = _result(name).to_dict()
    lrt = _ref(name)["lrt"]
    for level, i in (("metric", 1), ("scalar", 2)):
        assert d[level]["chisq_diff"] == pytest.approx(lrt["chisq_diff"][i], abs=0.002)
        assert d[level]["df_diff"] == lrt["df_diff"][i]
        assert d[level]["p_diff"] == pytest.approx(lrt["p"][i], abs=1e-4)


@pytest.mark.parametrize("name", ["hs_higher", "example", "sim_higher", "sim_higher3"])
@pytest.mark.parametrize("level", ["metric", "scalar"])
def test_second_order_score_tests_match_lavtestscore(name, level):
    """Including the second-order loadings' constraints (g=~textual ...)."""
    items, mom = _moments(name)
    cons, higher = MODELS[name]
    equal = ("loadings",) if level == "metric" else ("loadings", "intercepts")
    fit, _ = _fit_groups(items, cons, mom, equal, (), higher)
    ours = _score_lists(fit)
    assert any(p.startswith(tuple(higher)) for p in ours)       # second-order loadings tested
    _check_scores(ours, _ref(name)[level]["score"])


@pytest.mark.parametrize("name", CASES)
def test_partial_search_frees_what_lavaan_frees(name):
    ref = _ref(name)
    d = _result(name).to_dict()
    assert d["level_reached"] == ref["level_reached"]
    assert d["partial"]["level_reached"] == _none(ref["partial_level"])
    for which in ("metric", "scalar"):
        r = _none(ref[f"partial_{which}"])
        got = d["partial"][which]
        if r is None or not _freed_list(r["freed"]):
            assert got is None
            continue
        assert got["freed"] == _freed_list(r["freed"]), which
        assert got["holds"] == bool(r["holds"])
        _check_fit(got, r["fit"])


@pytest.mark.parametrize("name", ["hs_higher", "sim_higher", "sim_loading", "sim_higher3"])
def test_score_tests_at_every_step_of_the_search_match_lavtestscore(name):
    items, mom = _moments(name)
    cons, higher = MODELS[name]
    ref = _ref(name)
    n = 0
    for which, equal in (("metric", ("loadings",)), ("scalar", ("loadings", "intercepts"))):
        r = _none(ref[f"partial_{which}"])
        if r is None:
            continue
        for step in r["steps"]:
            partial = _entries(_freed_list(step["freed"]), items, cons, higher)
            fit, fm = _fit_groups(items, cons, mom, equal, partial, higher)
            assert fm["chisq"] == pytest.approx(step["chisq"], abs=0.002)
            assert fm["cfi"] == pytest.approx(step["cfi"], abs=0.002)
            _check_scores(_score_lists(fit), step["score"])
            n += 1
    assert n >= 2


@pytest.mark.parametrize("name", ["hs_higher", "hs", "sim_higher", "sim_loading", "example",
                                  "sim_higher3"])
def test_latent_means_match_lavaan(name):
    ref = pd.DataFrame(_ref(name)["latent_means"])
    got = _result(name).latent_means
    assert len(got) == len(ref) > 0
    groups = list(_ref(name)["groups"])
    for row in ref.itertuples(index=False):
        g = got[(got["construct"] == row.lhs) & (got["group"] == groups[row.group - 1])]
        assert len(g) == 1
        assert g["estimate"].iloc[0] == pytest.approx(row.est, abs=1e-3)
        assert g["se"].iloc[0] == pytest.approx(row.se, abs=1e-3)


def test_second_order_scalar_is_lavaans_with_the_unidentified_mean_fixed():
    """lavaan's own scalar model of a second-order model frees the second-order mean too: the
    same chi-square, but one parameter that is not identified (so its df is one lower)."""
    d = _result("hs_higher").to_dict()
    naive = _ref("hs_higher")["lavaan_default_scalar"]
    assert d["scalar"]["chisq"] == pytest.approx(naive["chisq"], abs=0.002)
    assert d["scalar"]["df"] == naive["df"] + 1
    # the first-order model is a different model: other metric and scalar df
    assert _result("hs").to_dict()["metric"]["df"] != d["metric"]["df"]


def test_metric_constrains_second_order_loadings():
    """sim_higher: only the second-order loading of reciprocity differs; the first-order model
    cannot see it (its metric level holds), the second-order model's metric level fails."""
    d = _result("sim_higher").to_dict()
    assert not d["metric"]["holds"]
    assert d["partial"]["metric"]["freed"] == ["sc=~reciprocity"]
    first = measurement_invariance(_data("sim_higher")[0], SIM, "region").to_dict()
    assert first["metric"]["holds"] and first["model"] == "first-order"


def test_second_order_factor_with_two_constructs_falls_back_to_first_order():
    d, group = _data("hs")
    two = {"visual": HS["visual"], "textual": HS["textual"]}
    res = measurement_invariance(d, two, group, higher_order={"g": list(two)})
    out = res.to_dict()
    assert out["model"] == "first-order" and out["higher_order"] == {}
    assert any("first-order model" in w for w in out["warnings"])
    ref = measurement_invariance(d, two, group).to_dict()
    assert out["metric"]["chisq"] == pytest.approx(ref["metric"]["chisq"], abs=1e-6)


def test_to_dict_names_the_model():
    out = json.loads(json.dumps(_result("example").to_dict(), allow_nan=False))
    assert out["model"] == "second-order"
    assert out["higher_order"] == {"social_capital": list(EX)}


def test_report_names_the_model_and_the_freed_parameters():
    from pipeline.report import methods, tables

    inv = json.loads(json.dumps(_result("sim_higher").to_dict(), allow_nan=False))
    out: list = []
    tables._invariance_tables({"invariance": inv}, out)
    fit = next(t for t in out if t.key == "invariance_fit")
    assert "Second-Order Model" in fit.title
    assert "second-order model the CFA reports (sc over coordination" in fit.note
    assert "partial metric (holds) frees sc=~reciprocity" in fit.note
    assert "partial scalar (holds) frees sc=~reciprocity, r_2~1" in fit.note
    assert list(fit.frame["model"])[-1] == "second-order scalar"
    assert list(fit.frame["freed"]) == ["", "", "", "sc=~reciprocity", "sc=~reciprocity, r_2~1",
                                        "sc=~reciprocity, r_2~1"]
    assert "Chen, Sousa & West 2005" in fit.note
    means = next(t for t in out if t.key == "latent_means")
    assert "sc's come from the second-order scalar model, which holds" in means.note
    out = []
    tables._invariance_tables({"invariance": json.loads(json.dumps(
        _result("hs_higher").to_dict(), allow_nan=False))}, out)
    means = next(t for t in out if t.key == "latent_means")
    assert "g's means are not compared" in means.note
    assert "g" not in set(means.frame["construct"])
    text = dict(methods.methods({"invariance": inv}).paragraphs)["Measurement invariance"]
    assert "second-order model the CFA reports" in text
    assert "sc=~reciprocity, r_2~1 for partial scalar invariance" in text
    assert "(Chen, Sousa & West 2005)" in text
    refs = methods.methods({"invariance": inv}).references
    assert any(r.startswith("Chen, F. F., Sousa") for r in refs)
    # a first-order model says so
    first = json.loads(json.dumps(_result("hs").to_dict(), allow_nan=False))
    out = []
    tables._invariance_tables({"invariance": first}, out)
    assert "First-Order Model" in out[0].title
    assert "first-order model (correlated constructs)" in out[0].note


@pytest.mark.parametrize("name", ["hs_higher", "example", "sim_higher", "sim_higher3"])
def test_second_order_scalar_matches_lavaan(name):
    """Once (partial) scalar holds: the constructs' intercepts held equal too, the second-order
    means free (what comparing the second-order factor's means needs), as lavaan
    ``F ~ c(0, 0)*1; H ~ c(0, NA)*1`` against the (partial) scalar model."""
    ref = _none(_ref(name)["second_order_scalar"])
    d = _result(name).to_dict()
    got = d["second_order_scalar"]
    assert ref is not None and got is not None
    _check_fit(got, ref["fit"])
    assert got["holds"] == bool(ref["holds"])
    assert got["freed"] == _freed_list(ref["freed"])
    higher = list(MODELS[name][1])
    has_h = any(c in higher for cs in (d["latent_means"] or {}).values() for c in cs)
    assert has_h == bool(ref["holds"])
    sentence = d["defensible_comparisons"]
    assert ("can be compared too" in sentence) == bool(ref["holds"])
    assert ("cannot be compared" in sentence) == (not ref["holds"])


def test_first_order_models_have_no_second_order_scalar_level():
    assert _result("hs").to_dict()["second_order_scalar"] is None


def test_group_means_warn_when_second_order_means_are_not_comparable():
    from pipeline.measure.cfa import factor_scores, fit_cfa, group_means

    d, group = _data("hs_higher")
    cfa = fit_cfa(d, HS, {"g": list(HS)})
    scores = factor_scores(cfa, d)
    gm = group_means(scores, d[group], _result("hs_higher"))       # g: second-order scalar fails
    assert gm.means_comparable
    assert any("'g' cannot be read" in w for w in gm.warnings)
    d2, group2 = _data("sim_higher")
    cfa2 = fit_cfa(d2, SIM, {"sc": list(SIM)})
    gm2 = group_means(factor_scores(cfa2, d2), d2[group2], _result("sim_higher"))    # holds
    assert not any("cannot be read" in w for w in gm2.warnings)
    assert "sc" in set(gm2.latent_means["construct"])


def test_reproduce_r_refits_the_invariance_levels_with_lavaan():
    from pipeline.report.rcode import _invariance_code

    inv = json.loads(json.dumps(_result("sim_higher").to_dict(), allow_nan=False))
    code = "\n".join(_invariance_code(inv))
    assert 'group.partial = c("sc=~reciprocity")' in code
    assert 'group.partial = c("sc=~reciprocity", "r_2~1")' in code
    assert "sc ~ c(0, 0)*1" in code and "sc ~ c(0, NA)*1" in code and "trust ~ c(0, 0)*1" in code
    assert code.count("f <- lavaan::cfa(") == 6     # 3 levels, 2 partial, second-order scalar
    assert _invariance_code({}) == []


@pytest.mark.skipif(__import__("shutil").which("Rscript") is None,
                    reason="R is not installed (CI has no R)")
def test_reproduce_r_invariance_code_agrees_in_r(tmp_path):
    import subprocess

    from pipeline.report.rcode import _invariance_code

    inv = json.loads(json.dumps(_result("sim_higher").to_dict(), allow_nan=False))
    script = "\n".join([
        "suppressPackageStartupMessages(library(lavaan))",
        f"responses <- read.csv('{REF / 'data' / 'invariance_second_order.csv'}')",
        "checks <- data.frame(quantity = character(), R = numeric(), report = numeric(),",
        "                     tolerance = numeric())",
        "check <- function(quantity, r, report, tolerance) {",
        "  checks[nrow(checks) + 1, ] <<- list(quantity, r, report, tolerance)",
        "}",
        *_invariance_code(inv),
        "ok <- abs(checks$R - checks$report) <= checks$tolerance",
        "cat(sprintf('%d of %d\\n', sum(ok), nrow(checks)))"])
    path = tmp_path / "inv.R"
    path.write_text(script, encoding="utf-8")
    out = subprocess.run(["Rscript", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("24 of 24"), out.stdout
