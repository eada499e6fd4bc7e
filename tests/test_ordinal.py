"""pipeline.measure.sem.ordinal against lavaan 0.6 (tests/reference/ordinal_cfa.R -> .json):
thresholds, polychorics, their NACOV, the WLSMV CFA (estimates, robust SEs, std.all), the
scaled-shifted test and every fit index, listwise and pairwise; and the bad-input paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.sem import ordinal as o

REF = Path(__file__).parent / "reference"
HS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
HS_ITEMS = [f"x{i}" for i in range(1, 10)]
SOCAP = {c: [f"{c}_{j}" for j in range(1, 5)]
         for c in ("coordination", "cooperation", "reciprocity", "trust")}
FIT_KEYS = {"chisq": "chisq", "pvalue": "pvalue", "chisq_scaled": "chisq.scaled",
            "pvalue_scaled": "pvalue.scaled", "scaling_factor": "chisq.scaling.factor",
            "baseline_chisq": "baseline.chisq", "baseline_chisq_scaled": "baseline.chisq.scaled",
            "cfi": "cfi", "tli": "tli", "cfi_scaled": "cfi.scaled", "tli_scaled": "tli.scaled",
            "cfi_robust": "cfi.robust", "tli_robust": "tli.robust", "rmsea": "rmsea",
            "rmsea_scaled": "rmsea.scaled", "rmsea_robust": "rmsea.robust", "srmr": "srmr"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "ordinal_cfa.json").read_text())


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "hs_ordinal.csv")


@pytest.fixture(scope="module")
def hs_missing() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "hs_ordinal_missing.csv")


@pytest.fixture(scope="module")
def socap() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "cfa_socap.csv")


@pytest.fixture(scope="module")
def fits(hs, hs_missing, socap):
    return {
        "hs": o.fit_ordinal_cfa(hs, HS),
        "hs_listwise": o.fit_ordinal_cfa(hs_missing, HS),
        "hs_pairwise": o.fit_ordinal_cfa(hs_missing, HS, missing="pairwise"),
        "socap": o.fit_ordinal_cfa(socap, SOCAP, {"social_capital": list(SOCAP)}),
    }


def test_bivariate_normal_cdf_matches_scipy():
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(3)
    h = rng.normal(0, 1.5, 300)
    k = rng.normal(0, 1.5, 300)
    r = np.r_[rng.uniform(-0.999, 0.999, 290), -0.95, 0.95, 0.5, -0.5, 0.0, 0.2, 0.8, -0.8,
              0.93, -0.93]
    got = o.bvn_cdf(h, k, r)
    want = [multivariate_normal(cov=[[1, rr], [rr, 1]]).cdf([hh, kk])
            for hh, kk, rr in zip(h, k, r)]
    np.testing.assert_allclose(got, want, atol=2e-7)
    assert o.bvn_cdf(np.inf, 0.3, 0.5) == pytest.approx(0.6179114, abs=1e-6)
    assert o.bvn_cdf(-np.inf, 0.3, 0.5) == 0.0


@pytest.mark.parametrize("key, missing", [("hs", "listwise"), ("hs_listwise", "listwise"),
                                          ("hs_pairwise", "pairwise")])
def test_thresholds_polychorics_and_nacov_match_lavaan(ref, hs, hs_missing, key, missing):
    data = hs if key == "hs" else hs_missing
    st = o.ordinal_stats(data[HS_ITEMS].to_numpy(float), HS_ITEMS, missing=missing)
    r = ref[key]
    assert st.n == r["ntotal"]
    np.testing.assert_allclose(np.concatenate(st.thresholds), list(r["th"].values()), atol=1e-6)
    np.testing.assert_allclose(st.cor, np.array(r["cor"]), atol=1e-6)
    np.testing.assert_allclose(st.nacov, np.array(r["gamma"]), atol=1e-6, rtol=1e-6)


def test_socap_nacov_diagonal_matches_lavaan(ref, socap):
    items = [i for its in SOCAP.values() for i in its]
    st = o.ordinal_stats(socap[items].to_numpy(float), items)
    np.testing.assert_allclose(st.cor, np.array(ref["socap"]["cor"]), atol=1e-6)
    np.testing.assert_allclose(np.diag(st.nacov), ref["socap"]["gamma_diag"], rtol=1e-6)


def _param_diffs(res, r):
    pe = pd.DataFrame(r["params"])
    pe = pe[pe["op"].isin(["=~", "~~", "|"])]
    mine = res.parameters.set_index(["lhs", "op", "rhs"])
    worst = dict.fromkeys(("estimate", "se", "std", "std_se"), 0.0)
    for row in pe.itertuples(index=False):
        key = (row.lhs, row.op, row.rhs)
        if key not in mine.index:
            key = (row.rhs, row.op, row.lhs)
        got = mine.loc[key]
        for col, rc in (("estimate", "est"), ("se", "se"), ("std", "std"), ("std_se", "std_se")):
            worst[col] = max(worst[col], abs(float(got[col]) - float(getattr(row, rc))))
    return worst, len(pe), len(res.parameters)


@pytest.mark.parametrize("key", ["hs", "hs_listwise", "hs_pairwise", "socap"])
def test_wlsmv_estimates_match_lavaan(fits, ref, key):
    res = fits[key]
    assert res.converged and res.estimator == "WLSMV"
    worst, n_ref, n_mine = _param_diffs(res, ref[key])
    assert n_ref == n_mine
    assert worst["estimate"] < 1e-4 and worst["std"] < 1e-4, worst
    assert worst["se"] < 1e-4 and worst["std_se"] < 1e-4, worst
    th = {it: list(v) for it, v in res.thresholds.items()}
    want = ref[key]["th"]
    for it, vals in th.items():
        np.testing.assert_allclose(vals, [want[f"{it}|t{m + 1}"] for m in range(len(vals))],
                                   atol=1e-6)


@pytest.mark.parametrize("key", ["hs", "hs_listwise", "hs_pairwise", "socap"])
def test_wlsmv_fit_measures_match_lavaan(fits, ref, key):
    f, r = fits[key].fit, ref[key]
    assert f["df"] == int(r["fit"]["df"]) and f["df_scaled"] == f["df"]
    assert f["npar"] == int(r["fit"]["npar"]) and f["ntotal"] == r["ntotal"]
    for mine, theirs in FIT_KEYS.items():
        want = r["fit"][theirs]
        tol = 1e-4 * max(1.0, abs(want)) if "chisq" in mine else 1e-5
        assert f[mine] == pytest.approx(want, abs=tol), mine
    assert f["shift_parameter"] == pytest.approx(r["shift_parameter"], abs=1e-5)
    assert f["scaling_factor"] == pytest.approx(r["scaling_factor"], abs=1e-6)
    lo, hi = f["rmsea_robust_ci"]
    assert lo == pytest.approx(r["fit"]["rmsea.ci.lower.robust"], abs=1e-4)
    assert hi == pytest.approx(r["fit"]["rmsea.ci.upper.robust"], abs=1e-4)


def test_wlsmv_to_dict_has_thresholds_and_lavaan_names(fits):
    d = fits["socap"].to_dict()
    assert d["estimator"] == "WLSMV"
    assert len(d["thresholds"]["trust_1"]) == 4
    assert d["fit"]["df_scaled"] == d["fit"]["df"] == 100
    for k in ("chisq_scaled", "pvalue_scaled", "scaling_factor", "shift_parameter",
              "cfi_robust", "tli_robust", "rmsea_robust", "srmr"):
        assert isinstance(d["fit"][k], float), k
    assert set(d["loadings"]) == set(SOCAP)
    assert set(d["higher_order"]["social_capital"]) == set(SOCAP)


def test_wlsmv_recovers_loadings_that_ml_attenuates(fits, ref):
    """The reason for the estimator: on 5-point items ML understates the loadings."""
    wlsmv = float(fits["socap"].loadings["std"].mean())
    assert wlsmv - ref["socap_ml_mean_std_loading"] > 0.02
    lav = pd.DataFrame(ref["socap"]["params"])
    lav = lav[(lav["op"] == "=~") & ~lav["rhs"].isin(list(SOCAP))]
    assert wlsmv == pytest.approx(lav["std"].mean(), abs=1e-5)


def test_run_with_cfa_estimator_wlsmv(study_copy):
    """analysis.cfa: {estimator: wlsmv} routes the CFA stage to the ordinal fit; the report and
    results.json carry WLSMV, thresholds and the scaled/robust fit; scores fall back to means."""
    from pipeline.cli import main

    yml = study_copy / "study.yaml"
    text = yml.read_text(encoding="utf-8")
    assert "  cfa: true" in text
    yml.write_text(text.replace("  cfa: true", "  cfa: {estimator: wlsmv}"), encoding="utf-8")
    assert main(["run", str(study_copy), "--quiet"]) == 0
    res = json.loads((study_copy / "reports" / "results.json").read_text(encoding="utf-8"))
    cfa = res["cfa"]
    assert cfa["estimator"] == "WLSMV" and cfa["se"] == "robust.sem"
    assert cfa["converged"] and cfa["fit"]["chisq_scaled"] is not None
    assert all(len(v) >= 1 for v in cfa["thresholds"].values())
    html = (study_copy / "reports" / "report.html").read_text(encoding="utf-8")
    assert "WLSMV" in html and "polychoric" in html
    assert any("WLSMV" in w["message"] and w["stage"] == "scores" for w in res["warnings"])
