"""Regression calibration of aggregated unit scores (pipeline/models/calibration.py).

Reference: tests/reference/calibration_lmer.R -- with equal respondents per unit the latent
calibration of a unit mean is lme4's empirical-Bayes prediction of score ~ 1 + (1 | unit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.models import fit_model
from pipeline.models.calibration import calibrate_unit_scores, corrected_model

REF = Path(__file__).parent / "reference"


def _units(resp: pd.DataFrame, y=None) -> pd.DataFrame:
    t = resp.groupby("unit", sort=True)["score"].mean().rename("score").reset_index()
    t["y"] = np.arange(len(t), dtype=float) if y is None else y
    return t


def test_latent_calibration_is_lmer_empirical_bayes_prediction():
    ref = json.loads((REF / "calibration_lmer.json").read_text())
    resp = pd.read_csv(REF / "data" / "calibration_units.csv")
    table = _units(resp)
    cal = calibrate_unit_scores(table, resp, unit="unit", scores=["score"], formula="y ~ score",
                                small_sample=False)
    got = cal.table.set_index("unit")["score"].reindex(ref["units"]).to_numpy()
    np.testing.assert_allclose(got, ref["calibrated"], atol=1e-6)
    st = cal.scores["score"]
    assert st["var_true"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert st["within_variance"] == pytest.approx(ref["sigma2"], rel=1e-6)
    lam = ref["tau2"] / (ref["tau2"] + ref["sigma2"] / 3)
    assert st["reliability_mean"] == pytest.approx(lam, rel=1e-6)
    # the unit means themselves are untouched elsewhere; the observed means are the input
    np.testing.assert_allclose(table.set_index("unit")["score"].reindex(ref["units"]), ref["means"],
                               atol=1e-9)


def _covariate_case():
    """60 units of 1-5 respondents, the unit value T correlated with an error-free z."""
    rng = np.random.default_rng(4)
    k = 60
    n = rng.integers(1, 6, k)
    z = rng.normal(size=k)
    t = 0.6 * z + rng.normal(0, 0.5, k)
    unit = np.repeat([f"u{i}" for i in range(k)], n)
    resp = pd.DataFrame({"unit": unit, "score": np.repeat(t, n) + rng.normal(0, 0.9, n.sum())})
    table = _units(resp)
    table["z"] = z[table["unit"].str[1:].astype(int)]
    return table, resp


@pytest.mark.parametrize("small_sample", [False, True])
def test_calibration_with_a_covariate_is_the_conditional_shrinkage(small_sample):
    """E[T | xbar, z] = a + b z + lam_z (xbar - a - b z), lam_z = V(T|z) / (V(T|z) + W/n_j): the
    same prediction written through the regression on z (an independent formula), with unequal
    respondents per unit. With the small-sample adjustment V_T is V_T + a_adj,
    a_adj = 2 S_x|z Dbar / ((k - d) (S_x|z - Dbar))."""
    table, resp = _covariate_case()
    k = len(table)
    cal = calibrate_unit_scores(table, resp, unit="unit", scores=["score"], formula="y ~ score + z",
                                small_sample=small_sample)
    x = table["score"].to_numpy()
    nj = resp.groupby("unit", sort=True).size().to_numpy()
    dev = resp["score"] - resp.groupby("unit")["score"].transform("mean")
    w = (dev**2).sum() / (len(resp) - k)
    sxx, szz = np.var(x, ddof=1), np.var(table["z"], ddof=1)
    sxz = np.cov(x, table["z"])[0, 1]
    dbar = np.mean(w / nj)
    s_cond = sxx - sxz**2 / szz
    adj = 2 * s_cond * dbar / ((k - 2) * (s_cond - dbar)) if small_sample else 0.0
    st = cal.scores["score"]
    assert st["small_sample_adjustment"] == pytest.approx(adj, rel=1e-10, abs=0)
    assert st["var_true"] - st["var_true_unadjusted"] == pytest.approx(adj, rel=1e-8, abs=1e-15)
    vt = sxx - dbar + adj
    b = sxz / szz
    a = x.mean() - b * table["z"].mean()
    vt_z = vt - sxz**2 / szz
    lam = vt_z / (vt_z + w / nj)
    expect = a + b * table["z"] + lam * (x - a - b * table["z"])
    np.testing.assert_allclose(cal.table["score"], expect, atol=1e-10)
    assert cal.covariates == ("z",)


def test_measurement_calibration_uses_the_respondent_error_variance():
    resp = pd.read_csv(REF / "data" / "calibration_units.csv")
    table = _units(resp)
    v = 0.3
    cal = calibrate_unit_scores(table, resp, unit="unit", scores=["score"], formula="y ~ score",
                                method="measurement", small_sample=False,
                                reliabilities={"score": {"error_variance": v, "reliability": 0.7}})
    x = table["score"].to_numpy()
    vt = np.var(x, ddof=1) - v / 3
    np.testing.assert_allclose(cal.table["score"], x.mean() + vt / (vt + v / 3) * (x - x.mean()),
                               atol=1e-10)
    assert cal.scores["score"]["respondent_reliability"] == 0.7
    missing = calibrate_unit_scores(table, resp, unit="unit", scores=["score"],
                                    formula="y ~ score", method="measurement", reliabilities={})
    assert missing.table is None and "reliability" in missing.warnings[0]


def test_no_between_unit_variance_leaves_scores_uncorrected_with_a_warning():
    rng = np.random.default_rng(1)
    resp = pd.DataFrame({"unit": np.repeat([f"u{i}" for i in range(30)], 2),
                         "score": rng.normal(size=60)})
    # unit means forced equal: between-unit variance 0 < W / n
    resp["score"] -= resp.groupby("unit")["score"].transform("mean")
    cal = calibrate_unit_scores(_units(resp), resp, unit="unit", scores=["score"],
                                formula="y ~ score")
    assert cal.table is None and "no true between-unit" in cal.warnings[0]


def test_corrected_estimator_removes_the_attenuation_of_few_respondents():
    """Units' true value T; two respondents each with within-unit SD 1 (reliability of the mean
    ~ .33): the uncorrected slope is attenuated to ~ .33 b, the corrected one recovers b, also
    for the interaction with an error-free moderator and the standardised scale."""
    rng = np.random.default_rng(20)
    k = 4000
    t = rng.normal(0, 0.5, k)
    d = 0.5 * t + rng.normal(size=k)          # error-free predictor correlated with T
    unit = np.repeat([f"u{i:04d}" for i in range(k)], 2)
    resp = pd.DataFrame({"unit": unit, "score": np.repeat(t, 2) + rng.normal(0, 1, 2 * k)})
    table = resp.groupby("unit", sort=True)["score"].mean().reset_index()
    table["d"] = d
    zt, zd = t / t.std(ddof=1), (d - d.mean()) / d.std(ddof=1)
    table["y"] = 1 + 0.4 * zt + 0.3 * zd + 0.2 * zt * zd + rng.normal(0, 0.5, k)
    kw = dict(name="m", formula="y ~ d * score", standardize=["d", "score"])
    unc = fit_model(table, **kw)
    out, fitted, warns = corrected_model(table, resp, unc, kw, unit="unit", scores=["score"])
    assert warns == []
    sc = out["score_correction"]
    assert out["coefficients"]["score"]["estimate"] < 0.3        # attenuated, headline unchanged
    assert sc["uncorrected"]["score"]["estimate"] == out["coefficients"]["score"]["estimate"]
    assert sc["coefficients"]["score"]["estimate"] == pytest.approx(0.4, abs=0.04)
    assert sc["coefficients"]["d:score"]["estimate"] == pytest.approx(0.2, abs=0.04)
    assert sc["coefficients"]["d"]["estimate"] == pytest.approx(0.3, abs=0.04)
    assert abs(unc.coefficients["d"]["estimate"] - 0.3) > 0.05  # confounded through T
    assert sc["scores"]["score"]["reliability_mean"] == pytest.approx(0.25 / (0.25 + 0.5), abs=0.03)
    # headline: the corrected fit becomes the model's coefficients, the uncorrected stay beside
    out_h, fitted_h, _ = corrected_model(table, resp, unc, kw, unit="unit", scores=["score"],
                                         headline=True)
    assert out_h["coefficients"]["score"]["estimate"] == sc["coefficients"]["score"]["estimate"]
    assert out_h["score_correction"]["headline"] is True
    assert fitted_h is not unc


def _run(folder: Path, edit=None) -> tuple[dict, str]:
    from pipeline.cli import main

    if edit:
        y = folder / "study.yaml"
        y.write_text(edit(y.read_text(encoding="utf-8")), encoding="utf-8")
    assert main(["run", str(folder), "--quiet"]) == 0
    return (json.loads((folder / "reports" / "results.json").read_text(encoding="utf-8")),
            (folder / "reports" / "report.html").read_text(encoding="utf-8"))


def _default_correction(text: str) -> str:
    """The example's study.yaml without its score_correction line (the default then applies)."""
    out = "".join(line for line in text.splitlines(keepends=True)
                  if not line.lstrip().startswith("score_correction:"))
    assert out != text
    return out


def test_run_reports_the_corrected_model_beside_the_uncorrected(study_copy):
    """By default the unit-level model is also fitted on calibrated scores: results.json's
    score_correction (schema-valid), a report table with both, the methods paragraph; the headline
    coefficients stay the uncorrected ones."""
    from test_report import Page, shown, table

    # the example (simulated with --truth sample) asks for method: measurement; without that line
    # the default applies
    res, html = _run(study_copy, _default_correction)
    m = res["models"]["catalytic"]
    sc = m["score_correction"]
    assert sc["method"] == "latent" and sc["headline"] is False
    assert set(sc["scores"]) == {"social_capital"} and sc["covariates"] == ["degree", "log_employees", "degree^2"]
    # few clusters: jackknife inference, so the corrected fit's wild bootstrap is labelled
    assert sc["jackknife_clusters"] == sc["wild_bootstrap"]["clusters"] >= 3
    assert "treats the calibrated scores as known" in sc["wild_bootstrap_note"]
    assert sc["small_sample"] is True and sc["scores"]["social_capital"]["small_sample_adjustment"] > 0
    assert sc["uncorrected"]["degree:social_capital"]["estimate"] == m["coefficients"][
        "degree:social_capital"]["estimate"]
    st = sc["scores"]["social_capital"]
    assert 0 < st["reliability_min"] <= st["reliability_mean"] <= st["reliability_max"] < 1
    # the latent ICC(1) from the within variance is close to levels' ANOVA ICC(1)
    assert st["icc1"] == pytest.approx(res["aggregation"]["social_capital"]["icc1"], abs=0.05)
    # the corrected main effect of social capital is larger (attenuation removed)
    assert abs(sc["coefficients"]["social_capital"]["estimate"]) > abs(
        m["coefficients"]["social_capital"]["estimate"])
    jsonschema = pytest.importorskip("jsonschema")
    from pipeline.report.schema import schema

    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(res)) == []
    page = Page()
    page.feed(html)
    rows = {r["term"]: r for r in table(page, "scorecorr_catalytic")}
    for term, c in sc["coefficients"].items():
        shown(rows[term]["B corrected"], c["estimate"], term)
        shown(rows[term]["B uncorrected"], sc["uncorrected"][term]["estimate"], term)
    assert "regression-calibrated unit scores" in html and "Croon" in html


def test_score_correction_headline_and_off(study_copy, tmp_path):
    import shutil

    other = tmp_path / "off"
    shutil.copytree(study_copy, other)
    res, _ = _run(study_copy, lambda y: _default_correction(y).replace(
        "standardize: [degree, social_capital]",
        "standardize: [degree, social_capital]\n      score_correction: {method: measurement, headline: true}"))
    m = res["models"]["catalytic"]
    sc = m["score_correction"]
    assert sc["headline"] is True and sc["method"] == "measurement"
    assert m["coefficients"]["social_capital"]["estimate"] == sc["coefficients"]["social_capital"]["estimate"]
    assert m["coefficients"]["social_capital"]["estimate"] != sc["uncorrected"]["social_capital"]["estimate"]
    # measurement error only: a smaller correction than the latent one, reliability from the CFA
    assert sc["scores"]["social_capital"]["reliability_mean"] > 0.7
    assert 0 < sc["scores"]["social_capital"]["respondent_reliability"] < 1
    res_off, html = _run(other, lambda y: _default_correction(y).replace(
        "standardize: [degree, social_capital]",
        "standardize: [degree, social_capital]\n      score_correction: false"))
    assert "score_correction" not in res_off["models"]["catalytic"]
    assert "t-scorecorr_catalytic" not in html


def test_clustered_corrected_model_uses_the_cluster_jackknife_of_both_steps():
    """With few clusters the corrected coefficients' SE is the delete-one-cluster jackknife of
    calibration + fit: recomputed here with numpy least squares on each jackknife sample's
    calibrated scores (calibration itself is tested against lme4 above)."""
    rng = np.random.default_rng(12)
    G, per = 8, 25
    k = G * per
    cl = np.repeat([f"c{g}" for g in range(G)], per)
    t = rng.normal(0, 0.5, k) + np.repeat(rng.normal(0, 0.2, G), per)
    d = 0.4 * t + rng.normal(size=k)
    unit = np.repeat([f"u{i:03d}" for i in range(k)], 3)
    resp = pd.DataFrame({"unit": unit, "score": np.repeat(t, 3) + rng.normal(0, 0.8, 3 * k)})
    table = resp.groupby("unit", sort=True)["score"].mean().reset_index()
    table["d"], table["cluster"] = d, cl
    table["y"] = 0.5 * t + 0.3 * d + rng.normal(0, 0.5, k)
    kw = dict(name="m", formula="y ~ d + score", se="cluster", cluster="cluster")
    unc = fit_model(table, **kw)
    out, _, warns = corrected_model(table, resp, unc, kw, unit="unit", scores=["score"])
    sc = out["score_correction"]
    assert sc["jackknife_clusters"] == G and "jackknife" in sc["inference"]
    est = []
    for g in range(G):
        sub = table[table["cluster"] != f"c{g}"]
        cal = calibrate_unit_scores(sub, resp, unit="unit", scores=["score"], formula="y ~ d + score")
        X = np.column_stack([np.ones(len(sub)), cal.table["d"], cal.table["score"]])
        est.append(np.linalg.lstsq(X, cal.table["y"], rcond=None)[0])
    est = np.array(est)
    se = np.sqrt((G - 1) / G * ((est - est.mean(0)) ** 2).sum(0))
    for j, term in enumerate(["(Intercept)", "d", "score"]):
        c = sc["coefficients"][term]
        assert c["se"] == pytest.approx(se[j], rel=1e-8)
        assert c["df"] == G - 1
        assert c["se_fit"] != c["se"]
    # without clusters: the fit's own SEs, no jackknife
    kw2 = dict(name="m", formula="y ~ d + score")
    out2, _, _ = corrected_model(table, resp, fit_model(table, **kw2), kw2, unit="unit",
                                 scores=["score"])
    assert out2["score_correction"]["jackknife_clusters"] is None
    assert "se_fit" not in out2["score_correction"]["coefficients"]["score"]


def test_small_sample_adjustment_reduces_the_ratio_bias_of_few_units():
    """150 units of 2 respondents (reliability of a mean given z ~ .42), 300 seeded studies: the
    unadjusted corrected slope overshoots its truth 0.5 by 12% (an estimated reliability in
    the denominator), the adjusted one by 5% (asserted: less than half the unadjusted bias)."""
    rng = np.random.default_rng(7)
    k = 150
    units = np.array([f"u{i:03d}" for i in range(k)])
    est = []
    for _ in range(300):
        z = rng.normal(size=k)
        t = 0.5 * z + rng.normal(0, 0.6, k)
        resp = pd.DataFrame({"unit": np.repeat(units, 2),
                             "score": np.repeat(t, 2) + rng.normal(0, 1.0, 2 * k)})
        table = pd.DataFrame({"unit": units, "score": resp["score"].to_numpy().reshape(k, 2).mean(1),
                              "z": z, "y": 0.5 * t + 0.3 * z + rng.normal(0, 0.7, k)})
        row = []
        for small in (False, True):
            cal = calibrate_unit_scores(table, resp, unit="unit", scores=["score"],
                                        formula="y ~ score + z", small_sample=small)
            X = np.column_stack([np.ones(k), cal.table["score"], z])
            row.append(np.linalg.lstsq(X, table["y"], rcond=None)[0][1])
        est.append(row)
    bias = np.asarray(est).mean(axis=0) - 0.5
    assert bias[0] > 0.05
    assert abs(bias[1]) < 0.5 * bias[0]


def test_a_scores_continuous_interaction_partner_is_conditioned_on_with_its_square():
    """y ~ d * score + b: the calibration conditions on d, b and (d - mean d)^2 (d is the score's
    continuous partner; the 0/1 b is no partner and would have no informative square), and
    equals the conditional shrinkage written through the regression on (d, b, d^2)."""
    rng = np.random.default_rng(9)
    k = 80
    n = rng.integers(1, 5, k)
    d = rng.poisson(3.0, k).astype(float)
    bb = (rng.random(k) < 0.4).astype(float)
    t = 0.3 * np.log1p(d) + rng.normal(0, 0.5, k)
    unit = np.repeat([f"u{i:02d}" for i in range(k)], n)
    resp = pd.DataFrame({"unit": unit, "score": np.repeat(t, n) + rng.normal(0, 0.8, n.sum())})
    table = _units(resp)
    table["d"], table["b"] = d, bb
    cal = calibrate_unit_scores(table, resp, unit="unit", scores=["score"],
                                formula="y ~ d * score + b", small_sample=False)
    assert cal.covariates == ("d", "b", "d^2")
    x = table["score"].to_numpy()
    Z = np.column_stack([d, bb, (d - d.mean()) ** 2])
    nj = resp.groupby("unit", sort=True).size().to_numpy()
    dev = resp["score"] - resp.groupby("unit")["score"].transform("mean")
    w = (dev**2).sum() / (len(resp) - k)
    Zc = Z - Z.mean(axis=0)
    beta = np.linalg.lstsq(Zc, x - x.mean(), rcond=None)[0]
    fitted = x.mean() + Zc @ beta
    vt = np.var(x, ddof=1) - np.mean(w / nj)
    vt_z = vt - np.var(fitted, ddof=1)
    lam = vt_z / (vt_z + w / nj)
    np.testing.assert_allclose(cal.table["score"], fitted + lam * (x - fitted), atol=1e-10)
