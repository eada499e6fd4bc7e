"""pipeline.measure.cfa.fit_cfa and factor_scores against lavaan / semTools fixtures.

Fixtures (R scripts beside them, run from the repository root):
  tests/reference/cfa_hs.json       Holzinger & Swineford (1939), 3 factors
  tests/reference/cfa_missing.json  5-point items with missing answers and reverse-keyed items
  tests/reference/cfa_socap.json    4 social-capital constructs + second-order social_capital
                                    (also first-order only, and trust outside the second order)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.cfa import CFAResult, _regression_scores, factor_scores, fit_cfa
from pipeline.errors import StudyError

REF = Path(__file__).parent / "reference"

# lavaan fitMeasures() name -> socap name
FIT_NAMES = {
    "chisq": "chisq", "df": "df", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
    "rmsea": "rmsea", "rmsea.pvalue": "rmsea_pvalue", "srmr": "srmr", "aic": "aic",
    "bic": "bic", "bic2": "bic2", "logl": "loglik", "unrestricted.logl": "unrestricted_loglik",
    "npar": "npar", "ntotal": "ntotal", "baseline.chisq": "baseline_chisq",
    "baseline.df": "baseline_df",
}

HS_ITEMS = [f"x{i}" for i in range(1, 10)]
HS_MODEL = {"visual": HS_ITEMS[:3], "textual": HS_ITEMS[3:6], "speed": HS_ITEMS[6:]}
SOCAP = ["coordination", "cooperation", "reciprocity", "trust"]
SOCAP_MODEL = {c: [f"{c}_{j}" for j in range(1, 5)] for c in SOCAP}
MISSING_MODEL = {
    "trust": ["trust_1", "trust_2", "trust_3", "trust_4"],
    "cooperation": ["coop_1", "coop_2", "coop_3", "coop_4"],
    "reciprocity": ["recip_1", "recip_2", "recip_3"],
}


def _load(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _missing_data() -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / "cfa_missing.csv")
    for v in ("trust_2", "trust_4", "coop_3"):      # reverse-keyed on a 1..5 scale
        d[v] = 6 - d[v]
    return d


def _case(name: str):
    """(data, constructs, higher_order, fixture part) for each reference data set."""
    if name == "hs":
        return (pd.read_csv(REF / "data" / "holzinger1939.csv"), HS_MODEL, None,
                _load("cfa_hs"))
    if name == "missing":
        return _missing_data(), MISSING_MODEL, None, _load("cfa_missing")
    ref = _load("cfa_socap")
    data = pd.read_csv(REF / "data" / "cfa_socap.csv")
    if name == "socap_first":
        return data, SOCAP_MODEL, None, ref["first_order"]
    if name == "socap_mixed":
        return data, SOCAP_MODEL, {"social_capital": SOCAP[:3]}, ref["mixed"]
    return data, SOCAP_MODEL, {"social_capital": SOCAP}, ref


CASES = ["hs", "missing", "socap_first", "socap", "socap_mixed"]
_FITS: dict[str, tuple] = {}


def _fitted(name: str):
    if name not in _FITS:
        data, cons, higher, ref = _case(name)
        _FITS[name] = (fit_cfa(data, cons, higher), data, ref)
    return _FITS[name]


# ----------------------------------------------------------------------------------------------
# agreement with lavaan / semTools


@pytest.mark.parametrize("name", CASES)
def test_fit_measures_match_lavaan(name):
    res, _, ref = _fitted(name)
    assert res.converged
    for r_name, ours in FIT_NAMES.items():
        expected = ref["fit"][r_name]
        got = res.fit[ours]
        if r_name in ("pvalue", "rmsea.pvalue", "baseline.pvalue") and expected < 1e-6:
            assert got < 1e-6
        else:
            assert got == pytest.approx(expected, abs=0.002), r_name
    lo, hi = res.fit["rmsea_ci"]
    assert lo == pytest.approx(ref["fit"]["rmsea.ci.lower"], abs=0.002)
    assert hi == pytest.approx(ref["fit"]["rmsea.ci.upper"], abs=0.002)


@pytest.mark.parametrize("name", CASES)
def test_fit_measures_agree_closely(name):
    """The engine reaches lavaan's optimum, not just the tolerance: chi2 to 1e-4 relative."""
    res, _, ref = _fitted(name)
    assert res.fit["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=1e-5)
    assert res.fit["srmr"] == pytest.approx(ref["fit"]["srmr"], abs=1e-5)
    assert res.fit["cfi"] == pytest.approx(ref["fit"]["cfi"], abs=1e-6)
    # RMSEA and TLI to 1e-6: the brief's 0.002 would hide N - 1 for N (a 1/(2N) relative change)
    assert res.fit["tli"] == pytest.approx(ref["fit"]["tli"], abs=1e-6)
    assert res.fit["rmsea"] == pytest.approx(ref["fit"]["rmsea"], abs=1e-6)
    lo, hi = res.fit["rmsea_ci"]
    assert lo == pytest.approx(ref["fit"]["rmsea.ci.lower"], abs=1e-6)
    assert hi == pytest.approx(ref["fit"]["rmsea.ci.upper"], abs=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_parameters_match_lavaan(name):
    res, _, ref = _fitted(name)
    r = pd.DataFrame(ref["params"])
    m = res.parameters.merge(r, on=["lhs", "op", "rhs"], suffixes=("", "_r"))
    assert len(m) == len(r) == len(res.parameters)
    np.testing.assert_allclose(m["estimate"], m["est"], atol=1e-3)
    np.testing.assert_allclose(m["std"], m["std_r"], atol=1e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], atol=1e-3)
    np.testing.assert_allclose(m["std_se"], m["std_se_r"], atol=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_loadings_in_to_dict(name):
    res, _, ref = _fitted(name)
    d = res.to_dict()
    r = pd.DataFrame(ref["params"])
    for row in r[r["op"] == "=~"].itertuples(index=False):
        part = d["loadings"] if row.lhs in d["loadings"] else d["higher_order"]
        cell = part[row.lhs][row.rhs]
        assert cell["estimate"] == pytest.approx(row.est, abs=1e-3)
        assert cell["std"] == pytest.approx(row.std, abs=1e-3)
        assert cell["se"] == pytest.approx(row.se, abs=1e-3)
        assert cell["std_se"] == pytest.approx(row.std_se, abs=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_factor_correlations_match_lavaan(name):
    res, _, ref = _fitted(name)
    np.testing.assert_allclose(res.factor_correlations.to_numpy(), np.array(ref["cov_lv"]),
                               atol=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_cr_ave_match_semtools(name):
    res, _, ref = _fitted(name)
    assert set(res.composite_reliability) == set(ref["comp_rel"])
    for c, v in ref["comp_rel"].items():
        assert res.composite_reliability[c] == pytest.approx(v, abs=1e-3), c
    assert set(res.ave) == set(ref["ave"])
    for c, v in ref["ave"].items():
        assert res.ave[c] == pytest.approx(v, abs=1e-3), c


@pytest.mark.parametrize("name", ["hs", "missing", "socap"])
def test_htmt_matches_semtools(name):
    res, _, ref = _fitted(name)
    np.testing.assert_allclose(res.htmt.to_numpy(), np.array(ref["htmt"]), atol=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_modification_hints_match_modindices(name):
    res, _, ref = _fitted(name)
    hints = res.modification_hints
    expected = [r for r in ref["modindices"] if r["mi"] >= 3.841458820694124][:10]
    assert len(hints) == len(expected)
    for h, r in zip(hints[:5], expected[:5], strict=True):
        assert (h["lhs"], h["op"], h["rhs"]) == (r["lhs"], r["op"], r["rhs"])
        assert h["mi"] == pytest.approx(r["mi"], rel=0.01)
        assert h["epc"] == pytest.approx(r["epc"], abs=1e-3)
        assert h["sepc_all"] == pytest.approx(r["sepc.all"], abs=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_all_modification_indices_match(name):
    """Every listed candidate of lavaan's modindices() (top 40) has the same mi (1% rel)."""
    from pipeline.measure.cfa import _candidate_entries
    from pipeline.measure.sem import indices

    res, _, ref = _fitted(name)
    fit = res._model.fitted
    cand = _candidate_entries(fit.spec)
    mi, epc = indices.modification_indices(fit, cand)
    ours = {}
    for i in range(len(cand)):
        lhs, op, rhs = fit.spec.label(int(cand.kind[i]), int(cand.row[i]), int(cand.col[i]))
        ours[(lhs, op, rhs)] = (mi[i], epc[i])
    for r in ref["modindices"]:
        key = (r["lhs"], r["op"], r["rhs"])
        if key not in ours:                   # lavaan writes item pairs in model order
            key = (r["rhs"], r["op"], r["lhs"])
        got_mi, got_epc = ours[key]
        assert got_mi == pytest.approx(r["mi"], rel=0.01, abs=1e-3), key
        assert got_epc == pytest.approx(r["epc"], abs=1e-3), key


@pytest.mark.parametrize("name", CASES)
def test_factor_scores_match_lavpredict(name):
    res, data, ref = _fitted(name)
    scores = factor_scores(res, data)
    expected = np.array(ref["scores"])
    if name == "missing":
        rows = np.array(ref["complete_rows"]) - 1          # R is 1-based
        got = scores.to_numpy()[rows]
    else:
        got = scores.to_numpy()
    assert list(scores.columns) == list(res.constructs) + list(res.higher_order)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# missing values and reverse-keyed items


def test_listwise_counts_match_lavaan():
    res, _, ref = _fitted("missing")
    assert res.n == ref["n"] == 325
    assert res.n_dropped_listwise == ref["n_rows"] - ref["n"]
    assert any("Listwise deletion dropped" in w for w in res.warnings)


def test_reverse_keying_matters():
    """Unreversed items load negatively: the fixture's fit is only reproduced after reversal."""
    raw = pd.read_csv(REF / "data" / "cfa_missing.csv")
    res = fit_cfa(raw, MISSING_MODEL)
    trust = res.loadings.set_index("item")
    assert trust.loc["trust_2", "std"] < 0 and trust.loc["coop_3", "std"] < 0
    ok, _, _ = _fitted("missing")
    assert ok.loadings.set_index("item").loc["trust_2", "std"] > 0


def test_incomplete_row_scores_use_the_conditional_expectation():
    """With lavaan's FIML matrices, the per-pattern formula reproduces lavPredict(missing = "ml")
    on every row, complete or not -- except that socap leaves a construct's score missing when
    none of its own items was answered (lavaan predicts it from the other constructs' items)."""
    ref = _load("cfa_missing")["ml"]
    data = _missing_data()
    items = [i for its in MISSING_MODEL.values() for i in its]
    lam = np.array(ref["lambda"])
    psi = np.array(ref["psi"])
    theta = np.array(ref["theta"])
    sigma = lam @ psi @ lam.T + theta
    latent_items = [[items.index(i) for i in its] for its in MISSING_MODEL.values()]
    got = _regression_scores(data[items].to_numpy(float), np.array(ref["nu"]), lam, psi, sigma,
                             latent_items, np.array(ref["alpha"]))
    expected = np.array(ref["scores"])
    none_answered = np.column_stack([data[its].isna().all(axis=1)
                                     for its in MISSING_MODEL.values()])
    assert np.array_equal(np.isnan(got), none_answered)
    assert none_answered.sum() >= 12
    np.testing.assert_allclose(got[~none_answered], expected[~none_answered], atol=1e-6)


def test_scores_for_rows_with_gaps():
    res, data, _ = _fitted("missing")
    scores = factor_scores(res, data)
    coop = MISSING_MODEL["cooperation"]
    skipped = data[coop].isna().all(axis=1)
    assert skipped.sum() >= 12
    assert scores.loc[skipped, "cooperation"].isna().all()
    answered_trust = skipped & data[MISSING_MODEL["trust"]].notna().any(axis=1)
    assert scores.loc[answered_trust, "trust"].notna().all()
    partial = data[coop].isna().any(axis=1) & data[coop].notna().any(axis=1)
    assert partial.any()
    assert scores.loc[partial, "cooperation"].notna().all()
    # every respondent with at least one answer to a construct gets a score for it
    assert scores["trust"].notna().sum() == data[MISSING_MODEL["trust"]].notna().any(axis=1).sum()


def test_second_order_scores_and_new_data():
    res, data, ref = _fitted("socap")
    new = data.iloc[:10].copy()
    new.loc[new.index[0], "trust_1"] = np.nan
    s = factor_scores(res, new)
    assert list(s.index) == list(new.index)
    np.testing.assert_allclose(s.to_numpy()[1:], np.array(ref["scores"])[1:10], atol=1e-3)
    assert s.iloc[0].notna().all()
    with pytest.raises(StudyError, match="trust_2"):
        factor_scores(res, data.drop(columns=["trust_2"]))


# ----------------------------------------------------------------------------------------------
# results.json part


def test_to_dict_contract_keys_and_json():
    res, _, _ = _fitted("socap")
    d = res.to_dict()
    for key in ("estimator", "n", "n_dropped_listwise", "fit", "loadings", "higher_order",
                "factor_correlations", "composite_reliability", "ave", "htmt",
                "modification_hints", "converged", "warnings"):
        assert key in d, key
    assert d["estimator"] == "ML"
    for key in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic"):
        assert key in d["fit"], key
    assert set(d["loadings"]) == set(SOCAP)
    assert set(d["loadings"]["trust"]) == set(SOCAP_MODEL["trust"])
    assert set(d["loadings"]["trust"]["trust_1"]) == {"estimate", "se", "std", "std_se"}
    assert set(d["higher_order"]["social_capital"]) == set(SOCAP)
    assert set(d["htmt"]["trust"]) == set(SOCAP)
    for h in d["modification_hints"]:
        assert set(h) == {"lhs", "op", "rhs", "mi", "epc", "sepc_all"}
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d


def test_first_order_result_has_no_higher_order_key():
    res, _, _ = _fitted("hs")
    assert "higher_order" not in res.to_dict()
    assert "chi2(24)" in res.summary()


# ----------------------------------------------------------------------------------------------
# cross-check with semopy (a second implementation)


def test_semopy_agrees_on_chisq_and_loadings():
    semopy = pytest.importorskip("semopy")
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    desc = "\n".join(f"{f} =~ {' + '.join(i)}" for f, i in HS_MODEL.items())
    model = semopy.Model(desc)
    model.fit(data[HS_ITEMS])
    stats = semopy.calc_stats(model)
    res, _, _ = _fitted("hs")
    assert res.fit["chisq"] == pytest.approx(float(stats["chi2"].iloc[0]), rel=1e-4)
    assert res.fit["cfi"] == pytest.approx(float(stats["CFI"].iloc[0]), abs=1e-4)
    # semopy's RMSEA divides by N - 1 where lavaan divides by N
    x2, df, n = res.fit["chisq"], res.fit["df"], res.n
    assert float(stats["RMSEA"].iloc[0]) == pytest.approx(math.sqrt((x2 - df) / (df * (n - 1))),
                                                          abs=1e-6)
    ins = model.inspect()
    load = ins[(ins["op"] == "~") & ins["rval"].isin(list(HS_MODEL))]
    ours = res.loadings.set_index(["construct", "item"])["estimate"]
    for row in load.itertuples(index=False):
        # semopy stops earlier than lavaan: agreement to the loading tolerance only
        assert ours[(row.rval, row.lval)] == pytest.approx(row.Estimate, abs=0.01)


# ----------------------------------------------------------------------------------------------
# recovering known loadings


def _simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    lam = {"a": [1.0, 0.8, 1.2, 0.9], "b": [1.0, 1.1, 0.7, 0.6], "c": [1.0, 0.9, 1.3]}
    phi = np.array([[1.0, 0.4, 0.3], [0.4, 0.8, 0.5], [0.3, 0.5, 1.2]])
    eta = rng.multivariate_normal(np.zeros(3), phi, size=n)
    cols = {}
    truth = {}
    for j, (f, ls) in enumerate(lam.items()):
        for k, l in enumerate(ls):
            name = f"{f}{k + 1}"
            cols[name] = 2.0 + l * eta[:, j] + rng.normal(0, 0.7, n)
            truth[(f, name)] = l
    data = pd.DataFrame(cols)
    model = {f: [f"{f}{k + 1}" for k in range(len(ls))] for f, ls in lam.items()}
    return data, model, truth


def test_recovers_known_loadings():
    data, model, truth = _simulate(20_000, seed=11)
    res = fit_cfa(data, model)
    t = res.loadings.set_index(["construct", "item"])
    z = []
    for key, value in truth.items():
        row = t.loc[key]
        if row["se"] == 0:
            assert row["estimate"] == 1.0
            continue
        z.append((row["estimate"] - value) / row["se"])
    z = np.abs(np.array(z))
    assert np.mean(z < 1.959964) >= 0.75          # 8 free loadings; 95% CIs
    assert np.all(z < 3.290527)                     # none outside its 99.9% CI
    assert res.fit["rmsea"] < 0.01


@pytest.mark.slow
def test_loading_ci_coverage():
    """95% Wald CIs of the free loadings cover the truth in ~95% of 200 replications."""
    hits = []
    for seed in range(200):
        data, model, truth = _simulate(400, seed=1000 + seed)
        t = fit_cfa(data, model).loadings.set_index(["construct", "item"])
        for key, value in truth.items():
            row = t.loc[key]
            if row["se"] > 0:
                hits.append(abs(row["estimate"] - value) < 1.959964 * row["se"])
    assert 0.93 <= np.mean(hits) <= 0.97


# ----------------------------------------------------------------------------------------------
# caveats become warnings, user mistakes StudyErrors


def _cov_data(cov: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """n rows with exactly the covariance matrix ``cov`` (divisor n)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, cov.shape[0]))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return z @ np.linalg.cholesky(cov).T


def test_heywood_case_is_a_warning():
    # r12 r13 / r23 = 1.20 > 1: the ML loading of item 1 is standardised above 1
    r = np.array([[1, .85, .85, .1, .1, .1], [.85, 1, .6, .1, .1, .1], [.85, .6, 1, .1, .1, .1],
                  [.1, .1, .1, 1, .5, .5], [.1, .1, .1, .5, 1, .5], [.1, .1, .1, .5, .5, 1]])
    data = pd.DataFrame(_cov_data(r, 300), columns=list("abcdef"))
    res = fit_cfa(data, {"f": ["a", "b", "c"], "g": ["d", "e", "f"]})
    assert any("Heywood" in w and "'a'" in w for w in res.warnings)
    assert res.to_dict()["loadings"]["f"]["a"]["std"] > 1


def test_non_positive_definite_latent_covariance_is_a_warning():
    # items correlate more across the two constructs (.5) than within them (.3)
    r = np.full((6, 6), 0.5)
    r[:3, :3] = 0.3
    r[3:, 3:] = 0.3
    np.fill_diagonal(r, 1.0)
    data = pd.DataFrame(_cov_data(r, 500), columns=list("abcdef"))
    res = fit_cfa(data, {"f": ["a", "b", "c"], "g": ["d", "e", "f"]})
    assert any("not positive definite" in w for w in res.warnings)
    assert abs(res.factor_correlations.loc["f", "g"]) > 1


def test_constant_item_is_dropped_with_a_warning():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    data["x10"] = 3.0
    res = fit_cfa(data, {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6", "x10"]})
    assert any("'x10'" in w and "no variance" in w for w in res.warnings)
    assert "x10" not in res.to_dict()["loadings"]["textual"]
    assert res.converged


def test_single_item_construct_is_left_out():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    res = fit_cfa(data, {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
                         "lonely": ["x7"]})
    assert "lonely" not in res.to_dict()["loadings"]
    assert any("'lonely'" in w for w in res.warnings)


def test_too_few_rows_is_a_warning_not_a_crash():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv").iloc[:6]
    res = fit_cfa(data, HS_MODEL)
    assert not res.converged
    assert any("singular" in w for w in res.warnings)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert factor_scores(res, data).isna().all().all()


def test_fewer_rows_than_parameters_is_a_warning():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv").iloc[:18]
    res = fit_cfa(data, HS_MODEL)
    assert any("free parameters" in w for w in res.warnings)
    # lavaan does not converge on these rows either (and reports no fit measures)
    assert not res.converged
    d = res.to_dict()
    assert d["fit"]["chisq"] is None and d["fit"]["rmsea_ci"] == [None, None]
    json.dumps(d, allow_nan=False)


def test_unidentified_model_is_a_warning():
    data = pd.read_csv(REF / "data" / "cfa_socap.csv")
    model = {c: SOCAP_MODEL[c] for c in SOCAP[:2]}
    res = fit_cfa(data, model, {"social_capital": SOCAP[:2]})
    assert any("not be identified" in w for w in res.warnings)
    json.dumps(res.to_dict(), allow_nan=False)


def test_more_parameters_than_moments_is_a_warning():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    res = fit_cfa(data, {"pair": ["x1", "x2"]})
    assert any("not identified" in w for w in res.warnings)
    assert not res.converged
    json.dumps(res.to_dict(), allow_nan=False)


def test_just_identified_model_fits_perfectly():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    res = fit_cfa(data, {"visual": ["x1", "x2", "x3"]})
    assert res.converged and res.fit["df"] == 0
    assert res.fit["chisq"] == pytest.approx(0.0, abs=1e-8)
    assert res.fit["cfi"] == pytest.approx(1.0) and res.fit["rmsea"] == 0.0
    assert res.fit["tli"] == 1.0
    assert res.to_dict()["fit"]["pvalue"] is None        # lavaan: NA for df = 0


def test_non_convergence_is_a_warning(monkeypatch):
    from pipeline.measure.sem import engine

    real = engine.estimate

    def stuck(spec, mom, *a, **k):
        est = real(spec, mom, *a, **k)
        est.converged = False
        return est

    monkeypatch.setattr(engine, "estimate", stuck)
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    res = fit_cfa(data, HS_MODEL)
    assert not res.converged
    assert any("did not converge" in w for w in res.warnings)


def test_missing_item_column_is_a_study_error():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    with pytest.raises(StudyError) as err:
        fit_cfa(data, {"visual": ["x1", "x2", "x33"], "speed": ["x7", "x8", "x99"]})
    msg = str(err.value)
    assert "x33" in msg and "x99" in msg and "did you mean" in msg


def test_non_numeric_item_is_a_study_error():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    data["x2"] = data["x2"].astype(object)
    data.loc[3, "x2"] = "Agree"
    with pytest.raises(StudyError, match="x2"):
        fit_cfa(data, HS_MODEL)


def test_higher_order_must_name_constructs():
    data = pd.read_csv(REF / "data" / "holzinger1939.csv")
    with pytest.raises(StudyError, match="visul"):
        fit_cfa(data, HS_MODEL, {"g": ["visul", "textual", "speed"]})


def test_nullable_integer_columns_work():
    data = pd.read_csv(REF / "data" / "cfa_missing.csv").astype(
        {c: "Int64" for c in ["trust_1", "trust_2", "trust_3", "trust_4", "coop_1", "coop_2",
                              "coop_3", "coop_4", "recip_1", "recip_2", "recip_3"]})
    for v in ("trust_2", "trust_4", "coop_3"):
        data[v] = 6 - data[v]
    res = fit_cfa(data, MISSING_MODEL)
    ref = _load("cfa_missing")
    assert res.fit["chisq"] == pytest.approx(ref["fit"]["chisq"], abs=0.002)


def test_default_path_imports_no_heavy_library():
    code = (
        "import sys, pandas as pd\n"
        "from pipeline.measure.cfa import fit_cfa, factor_scores, measurement_invariance\n"
        "d = pd.read_csv('tests/reference/data/holzinger1939.csv')\n"
        "m = {'v': ['x1','x2','x3'], 't': ['x4','x5','x6'], 's': ['x7','x8','x9']}\n"
        "r = fit_cfa(d, m); factor_scores(r, d); measurement_invariance(d, m, 'school')\n"
        "heavy = [k for k in ('scipy.stats', 'statsmodels', 'semopy', 'factor_analyzer',\n"
        "                     'pingouin', 'scipy.optimize') if k in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(root)})
    assert out.stdout.strip() == ""


def test_result_is_frozen():
    res, _, _ = _fitted("hs")
    assert isinstance(res, CFAResult)
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        res.n = 3  # type: ignore[misc]
    assert math.isclose(res.fit["df"], 24)


# ----------------------------------------------------------------------------------------------
# national-survey sample size: the optimum must be precise enough for chi2 = n F at n = 10^6


def test_engine_matches_lavaan_at_one_million_rows():
    from pipeline.measure.sem import engine, indices

    mom_csv = pd.read_csv(REF / "data" / "cfa_large_n_cov.csv")
    ref = _load("cfa_large_n")
    items = list(mom_csv["item"])
    n = int(mom_csv["n"].iloc[0])
    cov = mom_csv[items].to_numpy() * (n - 1) / n         # lavaan rescales sample.cov so too
    model = {f"c{j}": [f"c{j}_{i}" for i in range(1, 5)] for j in range(1, 6)}
    spec = engine.cfa_spec(items, model)
    mom = engine.Moments(cov[None], mom_csv["mean"].to_numpy()[None], np.array([n]))
    fit = indices.fitted(spec, mom, engine.estimate(spec, mom))
    fm = indices.fit_measures(fit)
    assert fit.est.converged
    assert fm["chisq"] == pytest.approx(ref["fit"]["chisq"], abs=0.002)
    for key in ("cfi", "tli", "rmsea", "srmr"):
        assert fm[key] == pytest.approx(ref["fit"][key], abs=1e-5), key
    lam = engine.matrices(spec, fit.theta).lam[0]
    for row in ref["params"]:
        if row["op"] == "=~":
            j, i = spec.lv.index(row["lhs"]), items.index(row["rhs"])
            assert lam[i, j] == pytest.approx(row["est"], abs=1e-4)


# ----------------------------------------------------------------------------------------------
# never a crash on awkward data


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 60),
    missing=st.floats(0.0, 0.6),
    constant=st.booleans(),
    duplicate=st.booleans(),
    higher=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_awkward_data_gives_warnings_not_crashes(n, missing, constant, duplicate, higher, seed):
    from pipeline.measure.cfa import measurement_invariance

    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 3))
    cols = {}
    for j in range(3):
        for i in range(3):
            cols[f"f{j}_{i}"] = np.round(2 + 0.8 * f[:, j] + rng.normal(size=n))
    data = pd.DataFrame(cols)
    if constant:
        data["f0_1"] = 3.0
    if duplicate:
        data["f1_2"] = data["f1_1"]
    data = data.mask(rng.random(data.shape) < missing)
    data["g"] = rng.choice(["a", "b"], size=n)
    model = {f"f{j}": [f"f{j}_{i}" for i in range(3)] for j in range(3)}
    res = fit_cfa(data, model, {"top": ["f0", "f1", "f2"]} if higher else None)
    json.dumps(res.to_dict(), allow_nan=False)
    scores = factor_scores(res, data)
    assert scores.shape[0] == n
    inv = measurement_invariance(data, model, "g")
    json.dumps(inv.to_dict(), allow_nan=False)


@pytest.mark.parametrize("name", CASES)
def test_fit_from_the_reliability_moments_is_the_same(name):
    # the run passes the reliability stage's ItemMoments: their complete-row moments replace a
    # second pass over the data, with the same result (and lavaan's, above)
    from pipeline.measure.moments import item_moments

    data, cons, higher, _ = _case(name)
    items = list(dict.fromkeys(i for its in cons.values() for i in its))
    base = _fitted(name)[0]
    shuffled = items[::-1]  # the moments' item order need not be the model's
    reused = fit_cfa(data, cons, higher, moments=item_moments(data[shuffled], shuffled))
    for key in ("chisq", "cfi", "rmsea", "srmr", "ntotal"):
        assert reused.fit[key] == pytest.approx(base.fit[key], rel=1e-9, abs=1e-12)
    for col in ("estimate", "se", "std"):
        np.testing.assert_allclose(reused.parameters[col].to_numpy(float),
                                   base.parameters[col].to_numpy(float), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(reused.htmt.to_numpy(float), base.htmt.to_numpy(float),
                               rtol=1e-9, atol=1e-12)
    # moments over other items (other complete rows) are not used
    other = fit_cfa(data, cons, higher, moments=item_moments(data[items[:-1]], items[:-1]))
    assert other.fit["ntotal"] == base.fit["ntotal"]


def test_score_reliability_matches_lavaan_and_semtools():
    """Reliability of respondent scores under the CFA (what unit-score calibration divides by):
    mean scores as semTools::compRelSEM(obs.var = FALSE), regression factor scores as the squared
    determinacy from lavPredict(fsm = TRUE) (tests/reference/score_reliability.R)."""
    from pipeline.measure.cfa import score_reliability

    ref = _load("score_reliability")
    data = pd.read_csv(REF / "data" / "cfa_socap.csv")
    res = fit_cfa(data[[i for c in SOCAP for i in SOCAP_MODEL[c]]], SOCAP_MODEL,
                  {"social_capital": SOCAP})
    for scoring in ("mean", "factor"):
        got = score_reliability(res, scoring)
        for name, r in ref[scoring].items():
            assert got[name]["reliability"] == pytest.approx(r, abs=1e-6), (scoring, name)
            assert got[name]["error_variance"] == pytest.approx(
                (1 - got[name]["reliability"]) * got[name]["score_variance"], rel=1e-12)
    fac = score_reliability(res, "factor")
    for name, v in ref["factor_score_variance"].items():
        assert fac[name]["score_variance"] == pytest.approx(v, rel=1e-3)
