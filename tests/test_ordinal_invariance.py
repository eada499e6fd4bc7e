"""pipeline.measure.sem.ordinal_groups against lavaan 0.6 + semTools (tests/reference/
ordinal_invariance.R -> .json): multi-group WLSMV with Wu & Estabrook (2016) identification for
the configural, threshold, metric and scalar levels (fit measures, loadings, thresholds, the
other parameters) and lavTestLRT(method = "satorra.2000") between consecutive levels; and the
bad-input paths (a category unused in a group, a tiny group)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.sem import ordinal_groups as og

REF = Path(__file__).parent / "reference"
HS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
R_LEVEL = {"configural": "configural", "thresholds": "thresholds", "metric": "loadings",
           "scalar": "intercepts"}
REL = {"chisq": "chisq", "chisq_scaled": "chisq_scaled", "baseline_chisq": "baseline_chisq",
       "baseline_chisq_scaled": "baseline_chisq_scaled", "scaling_factor": "chisq_scaling_factor"}
ABS = {"cfi": "cfi", "tli": "tli", "rmsea": "rmsea", "cfi_scaled": "cfi_scaled",
       "tli_scaled": "tli_scaled", "rmsea_scaled": "rmsea_scaled", "srmr": "srmr",
       "pvalue_scaled": "pvalue_scaled"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "ordinal_invariance.json").read_text())


def _example_data():
    ex = pd.read_csv(REF / "data" / "ordinal_invariance_example.csv")
    cons = {c: [x for x in ex.columns if x.startswith(pre)]
            for c, pre in (("coordination", "coord_"), ("cooperation", "coop_"),
                           ("reciprocity", "recip_"), ("trust", "trust_"))}
    return ex, cons


@pytest.fixture(scope="module")
def fitted():
    out = {}
    hs = pd.read_csv(REF / "data" / "hs_ordinal_school.csv")
    out["hs"] = (og.ordinal_invariance(hs, HS, "school"), hs, HS, "school")
    hb = _binary(hs)
    out["hs_binary"] = (og.ordinal_invariance(hb, HS, "school"), hb, HS, "school")
    ex, cons = _example_data()
    out["example"] = (og.ordinal_invariance(ex, cons, "region"), ex, cons, "region")
    return out


def _binary(hs: pd.DataFrame) -> pd.DataFrame:
    """x1, x4, x7 dichotomised as ordinal_invariance.R does (category >= 3 -> 2, else 1)."""
    out = hs.copy()
    for v in ("x1", "x4", "x7"):
        out[v] = np.where(hs[v] >= 3, 2, 1)
    return out


@pytest.mark.parametrize("data", ["hs", "hs_binary", "example"])
@pytest.mark.parametrize("level", og.LEVELS)
def test_fit_measures_match_lavaan(fitted, ref, data, level):
    res = fitted[data][0]
    lv = getattr(res, level)
    fr = ref[data][R_LEVEL[level]]["fit"]
    assert lv.converged and ref[data][R_LEVEL[level]]["converged"]
    assert lv.fit["df"] == fr["df"] and lv.fit["npar"] == fr["npar"]
    assert lv.fit["baseline_df"] == fr["baseline_df"]
    for k, kr in REL.items():
        assert lv.fit[k] == pytest.approx(fr[kr], rel=1e-3), k
    for k, kr in ABS.items():
        assert lv.fit[k] == pytest.approx(fr[kr], abs=0.002), k
    # robust (Savalei 2021) indices: lavaan gives them for the configural model only
    for k in ("cfi_robust", "tli_robust", "rmsea_robust"):
        if fr[k] is None:
            assert lv.fit[k] is None, k
        else:
            assert lv.fit[k] == pytest.approx(fr[k], abs=0.002), k
    assert (fr["cfi_robust"] is None) == (level != "configural")


@pytest.mark.parametrize("data", ["hs", "hs_binary", "example"])
@pytest.mark.parametrize("level", og.LEVELS[1:])
def test_difference_tests_match_lavTestLRT(fitted, ref, data, level):
    lv = getattr(fitted[data][0], level)
    r = ref[data]["lrt"][R_LEVEL[level]]
    assert lv.df_diff == r["df_diff"]
    assert lv.chisq_diff == pytest.approx(r["chisq_diff"], rel=1e-3)
    assert lv.p_diff == pytest.approx(r["p"], rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("data", ["hs", "hs_binary", "example"])
@pytest.mark.parametrize("level", og.LEVELS)
def test_parameters_match_lavaan(fitted, ref, data, level):
    res, frame, cons, group = fitted[data]
    items = tuple(dict.fromkeys(i for v in cons.values() for i in v))
    gs_groups = list(res.groups)
    # refit the level alone to get its estimates table (the result keeps fit measures only)
    est = _estimates(frame, cons, group, level, data)
    r = pd.DataFrame(ref[data][R_LEVEL[level]]["params"])
    r["rhs"] = r["rhs"].fillna("")
    r.loc[r["op"] == "~1", "rhs"] = ""
    m = r.merge(est, on=["lhs", "op", "rhs", "group"], suffixes=("_r", "_py"))
    # every loading, threshold, intercept, scaling factor, latent mean and (co)variance
    ops = {"=~", "|", "~1", "~*~", "~~"}
    assert set(m["op"]) == ops
    n_r = len(r[r["op"].isin(ops) & ~((r["op"] == "~~") & (r["lhs"].isin(items)))])
    assert len(m) == n_r
    load = m[m["op"].isin(["=~", "|"])]
    assert np.max(np.abs(load["est_r"] - load["est_py"])) < 0.01
    other = m[~m["op"].isin(["=~", "|"])]
    assert np.max(np.abs(other["est_r"] - other["est_py"])) < 0.01
    assert gs_groups == ref[data]["groups"]
    # robust (sandwich) standard errors of the free parameters
    free = m[m["se_r"] > 0]
    assert len(free) >= ref[data][R_LEVEL[level]]["fit"]["npar"]
    assert np.max(np.abs(free["se_py"] / free["se_r"] - 1)) < 1e-3


_CACHE: dict = {}


def _estimates(frame, cons, group, level, name):
    if name not in _CACHE:
        _CACHE[name] = _all_estimates(frame, cons, group)
    return _CACHE[name][(group, level)]


def _all_estimates(frame, cons, group):
    items = tuple(dict.fromkeys(i for v in cons.values() for i in v))
    from pipeline.measure.sem import ordinal as o

    codes, levels = o.codes_from_frame(frame, items)
    keep = (codes >= 0).all(axis=1)
    codes, levels = o.drop_rows(codes, levels, keep)
    gv = frame[group].to_numpy()[keep]
    groups = list(pd.unique(frame[group]))
    gidx = np.array([groups.index(g) for g in gv])
    gs = og.group_stats(codes, levels, gidx, groups, items)
    lv = list(cons)
    pattern = np.array([[it in cons[c] for c in lv] for it in items])
    prev = None
    out = {}
    for name in og.LEVELS:
        prev = og.fit_level(name, gs, lv, pattern, prev)
        out[(group, name)] = prev.estimates(items, lv, groups)
    return out


def test_levels_and_sentence(fitted):
    hs = fitted["hs"][0]
    # the scalar model's scaled CFI falls by .053: scalar invariance fails, metric holds
    assert hs.thresholds.holds and hs.metric.holds and not hs.scalar.holds
    assert hs.level_reached == "metric"
    assert hs.latent_means.empty
    assert any("partial invariance" in w for w in hs.warnings)
    d = hs.to_dict()
    assert d["estimator"] == "WLSMV" and d["identification"] == "Wu & Estabrook 2016"
    assert d["thresholds"]["df_diff"] == 6 and d["partial"]["not_searched"] is True
    assert d["comparable"] == {"relationships": True, "means": False}
    ex = fitted["example"][0]
    assert ex.level_reached == "scalar" and ex.means_comparable
    lm = ex.latent_means
    assert len(lm) == 2 * 4 and np.all(lm["se"] > 0)


def test_unused_category_in_one_group_is_merged_with_a_warning():
    hs = pd.read_csv(REF / "data" / "hs_ordinal_school.csv")
    bad = hs.copy()
    # nobody at Grant-White answers the top category of x2
    gw = (bad["school"] == "Grant-White") & (bad["x2"] == 4)
    bad.loc[gw, "x2"] = 3
    res = og.ordinal_invariance(bad, HS, "school")
    assert "x2" in res.collapsed
    assert res.collapsed["x2"][0]["group"] == "Grant-White"
    assert any("'x2'" in w and "Grant-White" in w and "merged" in w for w in res.warnings)
    assert res.configural is not None and res.configural.converged
    # x2 now has 3 categories: 2 thresholds per group instead of 3
    full = og.ordinal_invariance(hs, HS, "school")
    assert res.configural.fit["npar"] == full.configural.fit["npar"] - 2


def test_too_small_group_is_left_out_with_a_warning():
    hs = pd.read_csv(REF / "data" / "hs_ordinal_school.csv")
    small = pd.concat([hs, hs.head(8).assign(school="Tiny")], ignore_index=True)
    res = og.ordinal_invariance(small, HS, "school")
    assert "Tiny" not in res.groups and len(res.groups) == 2
    assert any("'Tiny'" in w and "left out" in w for w in res.warnings)
    assert res.level_reached == "metric"
    one = og.ordinal_invariance(hs[hs["school"] == "Pasteur"].head(12), HS, "school")
    assert one.level_reached == "none" and one.configural is None
    assert any("at least two groups" in w for w in one.warnings)


def test_item_constant_in_the_pooled_data_is_left_out():
    hs = pd.read_csv(REF / "data" / "hs_ordinal_school.csv")
    bad = hs.copy()
    bad.loc[bad["school"] == "Grant-White", "x9"] = 1
    bad.loc[bad["school"] == "Pasteur", "x9"] = 1
    res = og.ordinal_invariance(bad, HS, "school")
    assert "x9" not in res.constructs["speed"]
    assert any("'x9'" in w for w in res.warnings)
    assert res.configural is not None


# ----------------------------------------------------------------------------------------------
# the pipeline: analysis.cfa: {estimator: wlsmv} with analysis.invariance -> the ordinal levels


def test_run_with_wlsmv_uses_the_ordinal_levels_and_reports_them(study_copy):
    import re

    from pipeline.cli import main

    yml = study_copy / "study.yaml"
    text = yml.read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^  cfa: .*$", "  cfa: {estimator: wlsmv}", text)
    assert n == 1
    if not re.search(r"(?m)^  invariance: ", text):
        text = text.replace("analysis:\n", "analysis:\n  invariance: true\n", 1)
    else:
        text = re.sub(r"(?m)^  invariance: .*$", "  invariance: true", text)
    yml.write_text(text, encoding="utf-8")
    assert main(["run", str(study_copy), "--quiet"]) == 0
    res = json.loads((study_copy / "reports" / "results.json").read_text(encoding="utf-8"))
    inv = res["invariance"]
    assert inv["estimator"] == "WLSMV" and inv["identification"] == "Wu & Estabrook 2016"
    for name in og.LEVELS:
        assert inv[name]["chisq_scaled"] > 0 and inv[name]["df"] > 0
    assert inv["thresholds"]["df"] > inv["configural"]["df"]
    assert inv["thresholds"]["difference_test"].startswith("satorra.2000")
    assert inv["level_reached"] in ("none", *og.LEVELS)
    assert inv["partial"]["not_searched"] is True
    html = (study_copy / "reports" / "report.html").read_text(encoding="utf-8")
    assert "Measurement Invariance of Ordered Items (WLSMV)" in html
    assert "Identification of confirmatory factor analysis models of different levels" in html
    assert "Satorra, A. (2000)" in html
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((study_copy / "reports" / "results.schema.json").read_text("utf-8"))
    v = jsonschema.Draft202012Validator(schema)
    assert [e.message for e in v.iter_errors(res)] == []
    bad = copy_with(inv, thresholds={"chisq": "x"})
    assert list(v.iter_errors({**res, "invariance": bad}))


def copy_with(d: dict, **kw) -> dict:
    import copy

    out = copy.deepcopy(d)
    for k, v in kw.items():
        out[k] = {**out[k], **v}
    return out


def test_report_table_and_methods_say_wlsmv(fitted):
    from pipeline.report.methods import methods
    from pipeline.report.tables import _invariance_tables

    inv = fitted["hs"][0].to_dict()
    out: list = []
    _invariance_tables({"invariance": inv}, out)
    tables = [t for t in out if t.key == "invariance_fit"]
    assert len(tables) == 1
    t = tables[0]
    assert list(t.frame["model"]) == list(og.LEVELS)
    assert t.frame["holds"].tolist() == ["yes", "yes", "yes", "no"]
    assert t.frame["\u0394df"].tolist()[1:] == [6, 6, 6]
    assert "Wu & Estabrook" in t.note and "Satorra (2000)" in t.note
    assert "No partial invariance" in t.note
    m = methods({"invariance": inv})
    text = " ".join(p for _, p in m.paragraphs)
    assert "Wu & Estabrook 2016" in text and "threshold invariance" in text
    assert any(r.startswith("Wu, H., & Estabrook, R. (2016)") for r in m.references)
    assert any(r.startswith("Satorra, A. (2000)") for r in m.references)


def test_reproduce_r_refits_the_ordinal_levels_with_measEq_syntax(fitted):
    from pipeline.report.rcode import _invariance_code

    inv = fitted["hs"][0].to_dict()
    inv["collapsed"] = {"x2": [{"group": "Grant-White", "value": 4.0, "merged_with": 3.0}]}
    code = "\n".join(_invariance_code(inv))
    assert code.count("semTools::measEq.syntax(") == 4
    assert 'ID.cat = "Wu.Estabrook.2016"' in code and 'estimator = "WLSMV"' in code
    assert 'group.equal = c("thresholds", "loadings", "intercepts")' in code
    assert code.count('method = "satorra.2000"') == 3
    assert 'inv_data[["x2"]][inv_data[["x2"]] == 4.0] <- 3.0' in code
    # the numbers checked are socap's: the scalar level's scaled chi-square
    assert f"{inv['scalar']['chisq_scaled']:.6g}"[:6] in code
    assert "group.partial = c(" not in code
