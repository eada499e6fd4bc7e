"""pipeline.models against R (lm, glm, MASS::glm.nb, sandwich, lmtest::coeftest, lme4::lmer, car::vif).

Reference values: tests/reference/models_public.R (public data shipped with statsmodels) and
tests/reference/models_firms.R (simulated firm data with clusters).  Tolerances: estimates 1e-4
(relative to max(1, |value|) where values are large), SEs 1e-3 relative, fit indices 1e-6
relative, Johnson-Neyman bounds 1e-3 relative.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.models import fit_model

REF = Path(__file__).parent / "reference"
PUBLIC = json.loads((REF / "models_public.json").read_text())
FIRMS = json.loads((REF / "models_firms.json").read_text()) if (REF / "models_firms.json").exists() else {"cases": []}


def _table(case) -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / case["data"])
    if case["args"].get("weight_expr") == "1 + (occupation % 3)":
        df["wt"] = 1 + (df["occupation"] % 3)
    return df


def _close(got, want, rel, what, absolute=0.0):
    assert got is not None, f"{what}: got None, want {want}"
    tol = rel * max(abs(want), 1e-300) + absolute
    assert abs(got - want) <= tol, f"{what}: got {got!r}, want {want!r} (tol {tol:.3g})"


def _fit(case, se):
    a = case["args"]
    return fit_model(_table(case), name=case["id"], formula=a["formula"], family=a["family"], se=se,
                     cluster=a.get("cluster") if se == "cluster" else None, focal=a.get("focal"),
                     moderator=a.get("moderator"), weight=a.get("weight"), center=a.get("center") or (),
                     random=a.get("random"))


CASES = [(c, se) for c in PUBLIC["cases"] + FIRMS["cases"] for se in c["coefficients"]]


@pytest.mark.parametrize("case,se", CASES, ids=[f"{c['id']}-{se}" for c, se in CASES])
def test_coefficients_match_r(case, se):
    res = _fit(case, se).to_dict()
    want = case["coefficients"][se]
    assert list(res["coefficients"]) == list(want), "term names and order as R prints them"
    for term, w in want.items():
        g = res["coefficients"][term]
        scale = max(1.0, abs(w["estimate"]))
        _close(g["estimate"], w["estimate"], 0, f"{term} estimate", absolute=1e-4 * max(abs(w["estimate"]), w["se"]))
        _close(g["se"], w["se"], 1e-3, f"{term} se")
        _close(g["z_or_t"], w["stat"], 1e-3, f"{term} z_or_t", absolute=1e-4)
        _close(g["p"], w["p"], 2e-3, f"{term} p", absolute=1e-6)
        _close(g["ci_low"], w["ci_low"], 0, f"{term} ci_low", absolute=1e-3 * w["se"] * 3 + 1e-4 * scale * 0)
        _close(g["ci_high"], w["ci_high"], 0, f"{term} ci_high", absolute=1e-3 * w["se"] * 3)
    probe = (case.get("probe") or {}).get(se)
    if probe:
        for g, w in zip(res["simple_slopes"], probe["slopes"]):
            assert g["at"] == w["at"]
            _close(g["moderator_value"], w["moderator_value"], 1e-9, "moderator value", absolute=1e-12)
            _close(g["slope"], w["slope"], 0, f"slope {w['at']}", absolute=1e-4 * max(abs(w["slope"]), w["se"]))
            _close(g["se"], w["se"], 1e-3, f"slope se {w['at']}")
            _close(g["p"], w["p"], 2e-3, f"slope p {w['at']}", absolute=1e-6)
        jn = res["johnson_neyman"]
        want_b = probe["jn"]["bounds"]
        want_b = [want_b] if isinstance(want_b, (int, float)) else want_b
        assert len(jn["bounds"]) == len(want_b)
        for g, w in zip(jn["bounds"], want_b):
            _close(g, w, 1e-3, "Johnson-Neyman bound")
        if len(want_b) == 2:
            assert jn["inside_significant"] == probe["jn"]["inside_significant"]
        _close(jn["critical_value"], probe["jn"]["critical_value"], 1e-9, "critical value")
    ames = (case.get("ame") or {}).get(se)
    if ames:
        for g, w in zip(res["marginal_effects"], ames):
            _close(g["ame"], w["ame"], 1e-4, "AME", absolute=1e-7)
            _close(g["se"], w["se"], 1e-3, "AME se")


FIT_CASES = [c for c in PUBLIC["cases"] + FIRMS["cases"] if "fit" in c]


@pytest.mark.parametrize("case", FIT_CASES, ids=[c["id"] for c in FIT_CASES])
def test_fit_statistics_match_r(case):
    se = next(iter(case["coefficients"]))
    res = _fit(case, se).to_dict()
    f = case["fit"]
    assert res["n"] == f["n"]
    for key in ("aic", "bic", "loglik", "deviance", "null_deviance", "adj_r2", "theta"):
        if key in f:
            _close(res[key], f[key], 1e-6, key)
    if "r2" in f:
        _close(res["r2"], f["r2"], 1e-6, "r2")
    if "theta_se" in f:
        _close(res["theta_se"], f["theta_se"], 1e-3, "theta_se")
    if "df_residual" in f:
        assert res["df_residual"] == f["df_residual"]
    if "dispersion_ratio" in f:
        _close(res["diagnostics"]["dispersion"]["ratio"], f["dispersion_ratio"], 1e-5, "Pearson dispersion")
    if "vif" in case:
        for term, v in case["vif"].items():
            _close(res["diagnostics"]["vif"][term], v, 1e-4, f"VIF {term}")
    if "condition_number" in case:
        _close(res["diagnostics"]["condition_number"], case["condition_number"], 1e-6, "condition number")
    if "breusch_pagan" in case:
        bp = res["diagnostics"]["breusch_pagan"]
        _close(bp["statistic"], case["breusch_pagan"]["statistic"], 1e-6, "BP statistic")
        assert bp["df"] == case["breusch_pagan"]["df"]
        _close(bp["p"], case["breusch_pagan"]["p"], 1e-5, "BP p", absolute=1e-12)
    if "residuals" in case:
        for k, v in case["residuals"].items():
            _close(res["diagnostics"]["residuals"][k], v, 1e-6, k)
    if "beta" in case:
        for term, v in case["beta"].items():
            _close(res["coefficients"][term]["beta"], v, 1e-4, f"beta {term}", absolute=1e-6)
    if "random" in case:
        r, w = res["random"], case["random"]
        _close(r["variance"]["intercept"], w["tau2"], 1e-4, "random intercept variance")
        _close(r["variance"]["residual"], w["sigma2"], 1e-5, "residual variance")
        _close(r["reml_criterion"], w["reml_criterion"], 1e-7, "REML criterion")
        _close(r["icc"], w["icc"], 1e-4, "ICC")
        assert r["singular"] == w["singular"] and r["n_groups"] == w["n_groups"]
        _close(res["r2"], w["r2_marginal"], 1e-4, "marginal R2")
        _close(res["r2_conditional"], w["r2_conditional"], 1e-4, "conditional R2")
