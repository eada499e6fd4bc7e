"""FIML (missing = "ml") and MLR (robust SEs, Yuan-Bentler-Mplus scaled test, robust
CFI/TLI/RMSEA, cluster-robust SEs) against lavaan 0.6: tests/reference/cfa_robust.R ->
tests/reference/cfa_robust.json, on HolzingerSwineford1939 with seeded MCAR/MAR missingness
(tests/reference/data/hs_missing.csv) and the socap example instrument with 5% MCAR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.measure.cfa import choose_estimator, factor_scores, fit_cfa

REF = Path(__file__).parent / "reference"
ITEMS = [f"x{i}" for i in range(1, 10)]
HS = {"visual": ITEMS[:3], "textual": ITEMS[3:6], "speed": ITEMS[6:]}
SOCAP = {c: [f"{c}_{j}" for j in range(1, 5)]
         for c in ("coordination", "cooperation", "reciprocity", "trust")}
FIT = {"chisq": "chisq", "df": "df", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
       "rmsea": "rmsea", "srmr": "srmr", "logl": "loglik", "unrestricted.logl":
       "unrestricted_loglik", "aic": "aic", "bic": "bic", "baseline.chisq": "baseline_chisq",
       "npar": "npar", "ntotal": "ntotal"}
ROBUST = {"chisq.scaled": "chisq_scaled", "pvalue.scaled": "pvalue_scaled",
          "chisq.scaling.factor": "scaling_factor",
          "baseline.chisq.scaling.factor": "baseline_scaling_factor",
          "cfi.robust": "cfi_robust", "tli.robust": "tli_robust", "rmsea.robust": "rmsea_robust"}


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "cfa_robust.json").read_text())


def _missing():
    return pd.read_csv(REF / "data" / "hs_missing.csv")


def _full():
    d = pd.read_csv(REF / "data" / "holzinger1939.csv")
    d["classroom"] = _missing()["classroom"]
    return d


CASES = {
    "fiml_ml": (_missing, HS, None, {"missing": "fiml"}),
    "mlr_complete": (_full, HS, None, {"estimator": "mlr"}),
    "mlr_listwise": (_missing, HS, None, {"estimator": "mlr"}),
    "mlr_fiml": (_missing, HS, None, {"estimator": "mlr", "missing": "fiml"}),
    "mlr_cluster": (_full, HS, None, {"estimator": "mlr", "cluster": "classroom"}),
    "mlr_cluster_fiml": (_missing, HS, None, {"estimator": "mlr", "missing": "fiml",
                                              "cluster": "classroom"}),
    "socap_ml_fiml": (lambda: pd.read_csv(REF / "data" / "cfa_socap_missing.csv"), SOCAP,
                      {"social_capital": list(SOCAP)}, {"missing": "fiml"}),
    "socap_mlr_fiml": (lambda: pd.read_csv(REF / "data" / "cfa_socap_missing.csv"), SOCAP,
                       {"social_capital": list(SOCAP)}, {"estimator": "mlr", "missing": "fiml"}),
}
_FITS: dict = {}


def _fit(name):
    if name not in _FITS:
        load, cons, higher, kw = CASES[name]
        _FITS[name] = fit_cfa(load(), cons, higher, **kw)
    return _FITS[name]


@pytest.mark.parametrize("name", list(CASES))
def test_estimates_and_ses_match_lavaan(ref, name):
    r = _fit(name)
    assert r.converged
    pe = pd.DataFrame(ref[name]["params"])
    m = r.parameters.merge(pe, on=["lhs", "op", "rhs"], suffixes=("", "_r"))
    assert (m["se_r"] > 0).sum() == (pe["se"] > 0).sum()   # every free parameter compared
    np.testing.assert_allclose(m["estimate"], m["est"], atol=1e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], atol=1e-3)   # observed-information / robust
    np.testing.assert_allclose(m["std"], m["std_r"], atol=1e-3)
    assert r.n == ref[name]["nobs"]


@pytest.mark.parametrize("name", list(CASES))
def test_fit_measures_match_lavaan(ref, name):
    r = _fit(name)
    f, rf = r.fit, ref[name]["fit"]
    keys = dict(FIT, **(ROBUST if r.estimator == "MLR" else {}))
    for k, v in keys.items():
        tol = 0.002 * (max(1.0, abs(rf[k])) if k in ("chisq", "chisq.scaled", "baseline.chisq",
                                                      "logl", "unrestricted.logl", "aic", "bic")
                       else 1.0)
        assert f[v] == pytest.approx(rf[k], abs=tol), (k, f[v], rf[k])
    assert f["rmsea_ci"] == pytest.approx([rf["rmsea.ci.lower"], rf["rmsea.ci.upper"]], abs=0.002)
    if r.estimator == "MLR":
        assert f["rmsea_robust_ci"] == pytest.approx(
            [rf["rmsea.ci.lower.robust"], rf["rmsea.ci.upper.robust"]], abs=0.002)
        assert r.se == ("cluster:classroom" if "cluster" in name else "robust.huber.white")
    else:
        assert r.se == "standard"


def test_results_record_estimator_missing_and_se():
    d = _fit("mlr_cluster_fiml").to_dict()
    assert (d["estimator"], d["missing"], d["se"]) == ("MLR", "fiml", "cluster:classroom")
    assert d["fit"]["scaling_factor"] > 0 and d["fit"]["cfi_robust"] is not None
    d = fit_cfa(_full(), HS).to_dict()    # the default: lavaan::cfa's ML + listwise
    assert (d["estimator"], d["missing"], d["se"]) == ("ML", "listwise", "standard")
    assert "chisq_scaled" not in d["fit"]


def test_fiml_scores_incomplete_rows_as_lavpredict(ref):
    d = _missing()
    scores = factor_scores(_fit("fiml_ml"), d)
    want = np.array(ref["fiml_ml"]["scores"], dtype=float)
    keep = ~d[ITEMS].isna().all(axis=1).to_numpy()
    assert len(want) == len(d) and np.isnan(want[~keep]).all()   # lavaan: NA for empty rows
    got = scores.to_numpy()
    # socap leaves a construct's score missing when none of its own items was answered
    # (lavaan predicts it from the other factors); everywhere else the two agree
    none_own = np.column_stack([d[its].isna().all(axis=1) for its in HS.values()])
    assert (np.isnan(got[keep]) == none_own[keep]).all()
    ok = keep[:, None] & ~none_own
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-3)
    assert scores.to_numpy()[~keep].shape[0] == 2 and np.isnan(scores.to_numpy()[~keep]).all()


def test_fiml_uses_incomplete_rows_listwise_does_not():
    r_fiml, r_lw = _fit("fiml_ml"), fit_cfa(_missing(), HS)
    assert r_fiml.n == 299 and r_lw.n == 132
    assert any("answered none" in w for w in r_fiml.warnings)


def test_auto_chooses_and_says_why():
    est, miss, why = choose_estimator(_full(), HS)
    assert (est, miss) == ("mlr", "fiml") and "more than 7" in why
    d = pd.read_csv(REF / "data" / "cfa_socap.csv")
    est, miss, why = choose_estimator(d, SOCAP)
    assert (est, miss) == ("wlsmv", "listwise") and "at most 5" in why
    r = fit_cfa(_missing(), HS, estimator="auto")
    assert (r.estimator, r.missing) == ("MLR", "fiml") and "automatically" in r.estimator_reason
    assert r.to_dict()["estimator_reason"] == r.estimator_reason


def test_bad_input_is_a_warning_or_a_clear_error():
    d = _missing()
    d.loc[:, "x3"] = np.nan          # an item nobody answered
    r = fit_cfa(d, HS, missing="fiml")
    assert r.converged and any("'x3'" in w for w in r.warnings)
    with pytest.raises(StudyError, match="classroom") as err:
        fit_cfa(_missing().drop(columns="classroom"), HS, estimator="mlr", cluster="classroom")
    assert err.value.problems[0].key == "analysis.cfa.cluster"
    tiny = _missing().head(6)
    r = fit_cfa(tiny, HS, estimator="mlr", missing="fiml")   # far too few rows: no crash
    assert r.warnings


def test_fiml_patterns_are_sufficient_statistics():
    """Per-pattern moments from the sorted blocks equal the direct computation."""
    from pipeline.measure.sem.fiml import missing_patterns

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:4] = np.nan
    pat = missing_patterns(x, small=10)
    n_empty = int(np.isnan(x).all(axis=1).sum())
    assert n_empty >= 4 and pat.n_empty == n_empty and pat.n_total == 3000 - n_empty
    for k in range(len(pat.n)):
        rows = x[(~np.isnan(x) == pat.mask[k]).all(axis=1)]
        o = pat.mask[k]
        np.testing.assert_allclose(pat.mean[k, o], rows[:, o].mean(axis=0), atol=1e-12)
        c = np.cov(rows[:, o].T, bias=True).reshape(o.sum(), o.sum())
        np.testing.assert_allclose(pat.cov[k][np.ix_(o, o)], c, atol=1e-12)


def test_run_with_mlr_fiml_cluster_reports_and_validates(study_copy):
    """socap run with analysis.cfa: {estimator: mlr, missing: fiml, cluster: ...}: results.json
    records estimator, missing, SE type and the scaled/robust fit and meets its schema; the
    report states them; reproduce.R refits with the same lavaan options."""
    import re

    jsonschema = pytest.importorskip("jsonschema")
    from pipeline.cli import main

    yaml = (study_copy / "study.yaml").read_text(encoding="utf-8")
    yaml, k = re.subn(r"(?m)^  cfa: true.*$",
                      "  cfa: {estimator: mlr, missing: fiml, cluster: cluster}", yaml)
    if not k:
        yaml = yaml.replace("analysis:\n", "analysis:\n  cfa: {estimator: mlr, missing: fiml, "
                                           "cluster: cluster}\n", 1)
    (study_copy / "study.yaml").write_text(yaml, encoding="utf-8")
    assert main(["run", str(study_copy), "--quiet"]) == 0
    rep = study_copy / "reports"
    results = json.loads((rep / "results.json").read_text(encoding="utf-8"))
    schema = json.loads((rep / "results.schema.json").read_text(encoding="utf-8"))
    errs = list(jsonschema.Draft202012Validator(schema).iter_errors(results))
    assert errs == []
    cfa = results["cfa"]
    assert (cfa["estimator"], cfa["missing"], cfa["se"]) == ("MLR", "fiml", "cluster:cluster")
    assert cfa["fit"]["chisq_scaled"] > 0 and cfa["fit"]["scaling_factor"] > 0
    html = (rep / "report.html").read_text(encoding="utf-8")
    assert "full-information ML (FIML)" in html and "cluster-robust over cluster" in html
    import html as html_module

    text = html_module.unescape(html)
    assert "Standard errors are cluster-robust over the clusters of 'cluster'" in text
    assert "SEs: cluster:cluster" not in html and "are cluster:cluster" not in html
    r_code = (rep / "reproduce.R").read_text(encoding="utf-8")
    assert 'estimator = "MLR", missing = "ml", cluster = "cluster"' in r_code
    assert "chisq.scaled" in r_code
    head = (rep / "reproduce" / "responses.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert '"cluster"' in head or ",cluster" in head or head.startswith("cluster")


def test_run_rejects_an_unknown_cluster_column(study_copy):
    from pipeline.cli import main

    yaml = (study_copy / "study.yaml").read_text(encoding="utf-8")
    import re

    yaml, k = re.subn(r"(?m)^  cfa: true.*$", "  cfa: {estimator: mlr, cluster: schol}", yaml)
    if not k:
        yaml = yaml.replace("analysis:\n", "analysis:\n  cfa: {estimator: mlr, cluster: schol}\n",
                            1)
    (study_copy / "study.yaml").write_text(yaml, encoding="utf-8")
    assert main(["run", str(study_copy), "--quiet"]) == 2


def test_auto_dispatches_ordinal_items_to_wlsmv_and_records_why():
    """estimator: auto on 5-point items goes to the ordinal (WLSMV) CFA of
    pipeline.measure.sem.ordinal, with the reason in the result."""
    d = pd.read_csv(REF / "data" / "cfa_socap.csv")
    r = fit_cfa(d, SOCAP, estimator="auto")
    assert r.estimator == "WLSMV" and r.missing == "listwise"
    assert "at most 5 answer categories" in r.estimator_reason
    assert r.to_dict()["estimator_reason"] == r.estimator_reason
    with pytest.raises(StudyError, match="fiml"):
        fit_cfa(d, SOCAP, estimator="wlsmv", missing="fiml")


def test_singular_or_degenerate_data_warn_without_numpy_warnings():
    """Linearly dependent items under FIML: EM stops (lavaan's ridge), the CFA is not fitted,
    one warning says why; no RuntimeWarning escapes, no exception."""
    import warnings

    d = _missing()
    d["x2"] = d["x1"] * 2 + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kw in ({"missing": "fiml"}, {"estimator": "mlr", "missing": "fiml"},
                   {"estimator": "mlr"}):
            r = fit_cfa(d, HS, **kw)
            assert not r.converged and any("singular" in w for w in r.warnings), kw


@pytest.mark.parametrize("name", list(CASES))
def test_modification_indices_match_lavaan(ref, name):
    """modindices(): from the expected information whatever the SEs (lavaan gives the same MIs
    for ML, MLR and information = "observed"); under FIML the FIML expected information."""
    got = {(m["lhs"], m["op"], m["rhs"]): m for m in _fit(name).modification_indices}
    want = ref[name]["modindices"]
    assert len(want) >= 5
    for w in want[:8]:
        key = (w["lhs"], w["op"], w["rhs"])
        assert key in got, key
        assert got[key]["mi"] == pytest.approx(w["mi"], abs=0.01, rel=1e-3), key
        assert got[key]["epc"] == pytest.approx(w["epc"], abs=1e-3), key


@pytest.mark.parametrize("setting, words", [
    ("{estimator: mlr, missing: fiml, cluster: cluster}",
     ["CFA: MLR", "FIML (lavaan's missing = \"ml\")", "cluster-robust SEs over 'cluster'"]),
    ("{estimator: auto}", ["CFA: WLSMV", "Estimator chosen automatically", "at most 5"]),
])
def test_validate_says_what_the_cfa_will_do(study_copy, capsys, setting, words):
    import re

    from pipeline.cli import main

    yaml = (study_copy / "study.yaml").read_text(encoding="utf-8")
    (study_copy / "study.yaml").write_text(
        re.sub(r"(?m)^  cfa: true.*$", f"  cfa: {setting}", yaml), encoding="utf-8")
    assert main(["validate", str(study_copy)]) == 0
    out = capsys.readouterr().out
    for w in words:
        assert w in out, (w, out)
