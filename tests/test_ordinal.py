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
    _valid(study_copy, res)


# ---- EFA / parallel analysis on polychorics; categorical omega (tests/reference/efa_poly.R)


@pytest.fixture(scope="module")
def poly_ref() -> dict:
    return json.loads((REF / "efa_poly.json").read_text())


def _max_loading_diff(got: np.ndarray, want: np.ndarray) -> float:
    """Largest loading difference after matching factors (columns) and their signs."""
    from itertools import permutations

    best = np.inf
    for perm in permutations(range(want.shape[1])):
        g = got[:, perm]
        sign = np.sign((g * want).sum(axis=0))
        best = min(best, float(np.max(np.abs(g * sign - want))))
    return best


def _poly_efa(data, nf, method):
    from pipeline.measure.factors import efa, polychoric_moments
    from pipeline.measure.moments import item_moments

    items = list(data.columns)
    m = polychoric_moments(item_moments(data, items), data)
    return m, efa(m, n_factors=nf, method=method, rotation="oblimin", seed=1)


@pytest.mark.parametrize("method", ["ml", "minres"])
def test_polychoric_efa_matches_psych(poly_ref, socap, method):
    data = socap.drop(columns="id")
    m, res = _poly_efa(data, 4, method)
    ref = poly_ref["socap"]
    np.testing.assert_allclose(m.cor_pairwise, np.array(ref["rho"]), atol=1e-3)
    assert _max_loading_diff(res.loadings, np.array(ref[method]["loadings"])) < 0.01


def test_polychoric_efa_on_hs_matches_psych_on_the_ml_polychorics(poly_ref, hs):
    """psych::polychoric of all nine HS items departs from the ML estimates for pairs with empty
    cells (its own two-item call agrees with lavaan and socap); the EFA itself is compared with
    psych::fa on lavaan's polychoric matrix."""
    m, res = _poly_efa(hs[HS_ITEMS], 3, "ml")
    assert _max_loading_diff(res.loadings, np.array(poly_ref["hs_on_lavaan_rho"]["loadings"])) \
        < 0.01


def test_polychoric_parallel_analysis_matches_psych(poly_ref, socap, hs):
    from pipeline.measure.factors import factor_count, polychoric_moments
    from pipeline.measure.moments import item_moments

    data = socap.drop(columns="id")
    m = polychoric_moments(item_moments(data, list(data.columns)), data)
    fc = factor_count(m, seed=1)
    np.testing.assert_allclose(fc.eigenvalues, poly_ref["socap"]["pc_values"], atol=1e-3)
    assert fc.suggested["parallel"] == poly_ref["socap"]["ncomp"] == 4
    m = polychoric_moments(item_moments(hs[HS_ITEMS], HS_ITEMS), hs[HS_ITEMS])
    assert factor_count(m, seed=1).suggested["parallel"] == poly_ref["hs"]["ncomp"] == 3


def test_categorical_omega_and_ave_match_semtools(poly_ref, fits):
    for c, v in poly_ref["omega_hs"].items():
        assert fits["hs"].composite_reliability[c] == pytest.approx(v, abs=1e-5), c
    for c, v in poly_ref["ave_hs"].items():
        assert fits["hs"].ave[c] == pytest.approx(v, abs=1e-5), c
    for c, v in poly_ref["omega_socap_first"].items():
        assert fits["socap"].composite_reliability[c] == pytest.approx(v, abs=1e-5), c
    assert 0 < fits["socap"].composite_reliability["social_capital"] < 1


def test_run_with_polychoric_efa(study_copy):
    from pipeline.cli import main

    yml = study_copy / "study.yaml"
    text = yml.read_text(encoding="utf-8")
    assert "rotation: oblimin}" in text
    yml.write_text(text.replace("rotation: oblimin}", "rotation: oblimin, correlation: polychoric}"),
                   encoding="utf-8")
    assert main(["run", str(study_copy), "--quiet"]) == 0
    res = json.loads((study_copy / "reports" / "results.json").read_text(encoding="utf-8"))
    assert res["efa"]["correlation"] == "polychoric"
    assert "polychoric correlation matrix" in res["efa"]["n_factors_reason"]
    _valid(study_copy, res)


def _valid(folder, res):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((folder / "reports" / "results.schema.json").read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(res)]
    assert errors == []


# ---- bad input: statistical trouble is a warning, never a crash


def _ordinal_frame(n=400, seed=5, p=6, cats=5):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n)
    cols = {}
    for k in range(p):
        y = 0.7 * f + np.sqrt(1 - 0.49) * rng.standard_normal(n)
        cols[f"i{k}"] = np.searchsorted(np.linspace(-1.2, 1.2, cats - 1), y) + 1.0
    return pd.DataFrame(cols)


def test_unused_category_is_collapsed_with_a_warning():
    d = _ordinal_frame()
    d.loc[d["i1"] == 3, "i1"] = 2            # nobody chose 3 on item i1
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    assert res.converged
    assert len(res.thresholds["i1"]) == 3 and len(res.thresholds["i0"]) == 4
    assert any("'i1'" in w and "never" in w and "3" in w for w in res.warnings)
    # lavaan does the same: thresholds of the observed categories only
    cum = np.cumsum(d["i1"].value_counts().sort_index().to_numpy())[:-1] / len(d)
    from scipy.special import ndtri
    np.testing.assert_allclose(res.thresholds["i1"], ndtri(cum), atol=1e-12)


def test_empty_cells_give_finite_estimates_and_one_warning():
    d = _ordinal_frame(n=120, seed=9)
    # make many empty cells: extreme categories rare
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    st = o.ordinal_stats(d.to_numpy(float), list(d.columns))
    assert any((t == 0).any() for t in st.tables)
    assert np.all(np.isfinite(st.cor)) and np.all(np.isfinite(st.nacov))
    assert res.converged and all(np.isfinite(v) for v in (res.fit["chisq_scaled"],
                                                          res.fit["cfi_robust"]))


def test_binary_items_with_empty_cells_follow_lavaan_zero_add():
    """2 x 2 tables: one empty cell gets 0.5 added keeping the margins; two empty cells give
    +-1 with a warning (lavaan's zero.add = c(0.5, 0))."""
    a = np.r_[np.ones(30), np.full(70, 2.0)]
    b = a.copy()
    b[:5] = 2.0                              # table of b x a: [[25, 0], [5, 70]]
    st = o.ordinal_stats(np.c_[a, b], ["a", "b"], nacov=False)
    np.testing.assert_allclose(st.tables[0], [[24.5, 0.5], [5.5, 69.5]])
    # lavaan::lavCor(data.frame(a, b), ordered = c("a", "b")) on these data
    assert st.cor[0, 1] == pytest.approx(0.9871987, abs=1e-6)
    st2 = o.ordinal_stats(np.c_[a, a], ["a", "a2"], nacov=False)
    assert st2.cor[0, 1] == 1.0 and any("two empty cells" in w for w in st2.warnings)


def test_constant_item_and_too_few_rows_are_warnings():
    d = _ordinal_frame()
    d["i5"] = 3.0
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    assert res.converged and "i5" not in res.constructs["F"]
    assert any("'i5'" in w and "fewer than two answer categories" in w for w in res.warnings)
    tiny = o.fit_ordinal_cfa(_ordinal_frame(n=8), {"F": [f"i{k}" for k in range(6)]})
    assert not tiny.converged and tiny.estimator == "WLSMV"
    assert any("too few" in w for w in tiny.warnings)
    assert tiny.to_dict()["fit"]["chisq"] is None


def test_non_numeric_item_is_a_study_error():
    from pipeline.errors import StudyError

    d = _ordinal_frame().astype(object)
    d.loc[3, "i2"] = "agree"
    with pytest.raises(StudyError) as err:
        o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    assert "i2" in str(err.value)


def test_non_convergence_is_a_warning(monkeypatch):
    d = _ordinal_frame()
    real = o._dwls
    monkeypatch.setattr(o, "_dwls", lambda model, r, w, x0, max_iter=500:
                        real(model, r, w, x0, max_iter=1))
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    assert not res.converged
    assert any("did not converge" in w for w in res.warnings)
    assert res.fit["chisq"] is None and res.fit["npar"] is not None


def test_items_never_answered_together_and_no_complete_rows_are_warnings():
    d = _ordinal_frame(n=200)
    d.loc[:99, "i0"] = np.nan
    d.loc[100:, "i1"] = np.nan
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)}, missing="pairwise")
    assert not res.converged
    assert any("never answered together" in w for w in res.warnings)
    res = o.fit_ordinal_cfa(d, {"F": list(d.columns)})
    assert not res.converged and res.n == 0
    assert any("answered every item" in w for w in res.warnings)
    from pipeline.measure.factors import polychoric_moments
    from pipeline.measure.moments import item_moments

    m = polychoric_moments(item_moments(d, list(d.columns)), d)
    assert np.isnan(m.cor_pairwise[0, 1]) and np.isfinite(m.cor_pairwise[2, 3])


def test_report_residual_correlations_of_an_ordinal_fit_are_polychoric_minus_implied(fits, hs):
    from pipeline.measure.cfa import factor_scores
    from pipeline.report.derived import complete_results

    res = fits["hs"]
    d = res.to_dict()
    results = {"cfa": d}
    complete_results(results, {"cfa": res})
    rc = results["cfa"]["residual_correlations"]
    st = o.ordinal_stats(hs[HS_ITEMS].to_numpy(float), HS_ITEMS, nacov=False)
    implied = res._model.sigma
    assert rc["x5"]["x4"] == pytest.approx(st.cor[4, 3] - implied[4, 3], abs=1e-9)
    # the srmr is the root mean square of these residuals over p(p+1)/2 elements
    r = np.array([[rc[a][b] for b in HS_ITEMS] for a in HS_ITEMS])
    assert np.sqrt((np.tril(r, -1) ** 2).sum() / 45) == pytest.approx(d["fit"]["srmr"], abs=1e-9)
    assert factor_scores(res, hs).isna().all().all()
