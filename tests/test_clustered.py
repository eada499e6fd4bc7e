"""CR2 / Satterthwaite / CR1 cluster-robust inference against clubSandwich 0.5.8.

Reference: tests/reference/cr2_models.R -> cr2_models.json (the example study's unit table,
Grunfeld, simulated firms, fair).  Tolerances: SEs and covariances 1e-4 relative, df 1e-3
relative (the brief's), simple slopes' SE and df likewise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.models import fit_model

REF = Path(__file__).parent / "reference"
CR2 = json.loads((REF / "cr2_models.json").read_text())


def table_for(case) -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / case["data"])
    if case["data"] == "cr2_units.csv":
        df["wt"] = 1 + (np.arange(1, len(df) + 1) % 4) / 2
        df["any"] = (df["new_products"] > 0).astype(float)
    if case["id"] == "grunfeld_lm_gm":
        df["gm"] = (df["firm"] == "General Motors").astype(float)
    return df


def fit_case(case, se="cr2", **kw):
    a = case["args"]
    return fit_model(table_for(case), name=case["id"], formula=a["formula"], family=a["family"], se=se,
                     cluster=a["cluster"], weight=a.get("weight"), standardize=a.get("standardize") or (),
                     focal=kw.get("focal"), moderator=kw.get("moderator"))


CASES = CR2["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cr2_vcov_and_satterthwaite_df_match_clubsandwich(case):
    res = fit_case(case).to_dict()
    assert res["se_type"] == "CR2" and res["df_method"] == "Satterthwaite" and res["test"] == "t"
    coefs = res["coefficients"]
    assert list(coefs) == [t.replace("z_degree", "degree").replace("z_sc", "social_capital") for t in case["terms"]]
    for k, (term, c) in enumerate(coefs.items()):
        np.testing.assert_allclose(c["estimate"], case["estimate"][k], rtol=1e-6, atol=1e-8, err_msg=term)
        np.testing.assert_allclose(c["se"], case["cr2"]["se"][k], rtol=1e-4, err_msg=f"{term} CR2 se")
        np.testing.assert_allclose(c["df"], case["cr2"]["df"][k], rtol=1e-3, err_msg=f"{term} Satterthwaite df")
        np.testing.assert_allclose(c["p"], case["cr2"]["p"][k], rtol=1e-3, atol=1e-6, err_msg=f"{term} p")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cr2_full_matrix_and_cr1_match_clubsandwich(case):
    from pipeline.models.clustered import cr2

    res = fit_case(case, se="cr1").to_dict()
    assert res["se_type"] == "CR1" and res["df_method"] == "G-1"
    V1 = np.array(case["vcovCL"])
    se1 = np.sqrt(np.diag(V1))
    G = len(set(table_for(case)[case["args"]["cluster"]]))
    for k, c in enumerate(res["coefficients"].values()):
        np.testing.assert_allclose(c["se"], se1[k], rtol=1e-4)
        assert c["df"] == G - 1
    # the full CR2 matrix, off-diagonals included, through the module's own entry point
    V2 = cr2_of(case).vcov
    want = np.array(case["cr2"]["vcov"])
    np.testing.assert_allclose(V2, want, rtol=1e-4, atol=1e-7 * np.abs(want).max())


def cr2_of(case):
    """clustered.cr2 on the case's fit (design built by fit_model's own formula code)."""
    from pipeline.models import formula as fm
    from pipeline.models.clustered import cr2
    from pipeline.models.estimation import fit_glm, fit_lm, fit_negbin

    a = case["args"]
    t = table_for(case)
    form = fm.parse_formula(a["formula"])
    t = t.dropna(subset=form.columns).reset_index(drop=True)
    for v in a.get("standardize") or ():
        t[v] = (t[v] - t[v].mean()) / t[v].std()
    vals = fm.atom_values(form, t)
    levels = {i: None for i in vals}
    X = fm.build_matrix(fm.columns_for(form, levels), vals, len(t))
    y = t[form.response.label].to_numpy(float)
    w = t[a["weight"]].to_numpy(float) if a.get("weight") else None
    fam = a["family"]
    fit = (fit_lm(X, y, w) if fam == "gaussian" else fit_negbin(X, y, w) if fam == "negbin"
           else fit_glm(X, y, fam, w))
    codes = pd.factorize(t[a["cluster"]], sort=True)[0]
    return cr2(fit, X, codes)


@pytest.mark.parametrize("case", [c for c in CASES if c["contrasts"]], ids=[c["id"] for c in CASES if c["contrasts"]])
def test_simple_slopes_use_cr2_and_satterthwaite_df(case):
    res = fit_case(case, focal="degree", moderator="social_capital").to_dict()
    slopes = res["simple_slopes"]
    assert [s["at"] for s in slopes] == ["-1 SD", "mean", "+1 SD"]
    for s, want in zip(slopes, case["contrasts"]):
        np.testing.assert_allclose(s["moderator_value"], want["contrast"][4], atol=1e-12)
        np.testing.assert_allclose(s["slope"], want["estimate"], rtol=1e-6)
        np.testing.assert_allclose(s["se"], want["se"], rtol=1e-4)
        np.testing.assert_allclose(s["df"], want["df"], rtol=1e-3)
    inter = res["coefficients"]["degree:social_capital"]
    from scipy import stats
    assert res["johnson_neyman"]["critical_value"] == pytest.approx(stats.t.ppf(0.975, inter["df"]), rel=1e-10)


def test_rational_inverse_square_root_equals_dense_eigendecomposition():
    """The large-cluster GLM path (Hale-Higham-Trefethen quadrature with Woodbury solves) against
    the dense eigendecomposition clubSandwich uses, on one block with a wide spread of variances."""
    from pipeline.models.clustered import _glm_block_psi_rational, _phi_half

    rng = np.random.default_rng(5)
    n, p = 400, 4
    Zall = rng.normal(size=(3 * n, p))
    Mu = np.linalg.inv(Zall.T @ Zall)
    Z = Zall[:n]
    s2 = np.exp(rng.normal(0, 1.5, n))                 # Theta spans ~4 orders of magnitude
    H = Z @ Mu @ Z.T
    B = s2[:, None] * (np.eye(n) - H) * s2[None, :]
    ev, Q = np.linalg.eigh(B)
    want = s2[:, None] * (Q @ (_phi_half(ev)[:, None] * (Q.T @ Z)))
    lam = np.linalg.eigvalsh(np.linalg.cholesky(Mu).T @ Z.T @ Z @ np.linalg.cholesky(Mu))[-1]
    got = _glm_block_psi_rational(s2, Z, Mu, lam)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * np.abs(want).max())


def _clustered_table(G, m=8, seed=4):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    w = rng.normal(size=G * m)
    y = 1 + 0.3 * x + 0.2 * w + 0.2 * x * w + rng.normal(size=G)[g] * 0.5 + rng.normal(size=G * m)
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": [f"c{i:03d}" for i in g]})


@pytest.mark.parametrize("G, se, want_se, want_df, wild", [
    (12, "cluster", "CR2", "Satterthwaite", "Rademacher"),
    (60, "cluster", "CR1", "G-1", None),
    (12, "cr1", "CR1", "G-1", None),
    (60, "cr2", "CR2", "Satterthwaite", None),
    (60, "wild", "CR2", "Satterthwaite", "Webb"),
])
def test_se_cluster_chooses_by_the_number_of_clusters(G, se, want_se, want_df, wild):
    res = fit_model(_clustered_table(G), name="m", formula="y ~ x * w", se=se, cluster="g", focal="x",
                    moderator="w", seed=11, wild_draws=999).to_dict()
    assert res["se_type"] == want_se and res["df_method"] == want_df and res["test"] == "t"
    assert str(G) in res["inference_reason"]
    dfs = [c["df"] for c in res["coefficients"].values()]
    if want_df == "G-1":
        assert dfs == [G - 1] * len(dfs)
        assert all(s["df"] == G - 1 for s in res["simple_slopes"])
        assert res["johnson_neyman"]["distribution"] == f"t({G - 1})"
    else:
        assert all(0 < d < G for d in dfs) and len(set(np.round(dfs, 6))) > 1
    if wild is None:
        assert "wild_bootstrap" not in res
    else:
        wb = res["wild_bootstrap"]
        assert wb["term"] == "x:w" and wb["weights"] == wild and wb["clusters"] == G
        assert wb["draws"] == (2 ** G if wild == "Rademacher" else 999)
        assert wb["ci_low"] < res["coefficients"]["x:w"]["estimate"] < wb["ci_high"]
    if se == "cr1" and G < 50:
        assert any("CR1 standard errors rest on only" in w for w in res["warnings"])


def test_five_clusters_wild_bootstrap_says_it_cannot_reject():
    res = fit_model(_clustered_table(5, m=20), name="m", formula="y ~ x * w", se="cluster", cluster="g",
                    focal="x", moderator="w").to_dict()
    wb = res["wild_bootstrap"]
    assert wb["draws"] == 32 and wb["min_p"] == pytest.approx(2 / 32) and wb["p"] >= 2 / 32
    assert wb["ci_low"] is None and wb["ci_high"] is None
    assert any("cannot give a p-value below 0.062" in w for w in res["warnings"])
