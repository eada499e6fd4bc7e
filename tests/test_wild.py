"""The restricted wild cluster bootstrap (pipeline/models/wild.py).

With G <= 12 clusters every Rademacher sign vector is enumerated, so the p-value is
deterministic: it is compared here with a brute-force computation that refits OLS on each of
the 2^G bootstrap samples (numpy.linalg.lstsq, CR1 t from the refitted residuals), sharing no
code with the module; the score bootstrap of GLMs is compared with an explicit per-draw loop of
its definition (restricted fit, perturbed scores, one-step estimate, studentisation).
The R loop in tests/reference/wild_bootstrap.R gives the same numbers (wild_bootstrap.json).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.models.wild import bootstrap_weights, wild_cluster_bootstrap

REF = Path(__file__).parent / "reference"


def _data(G=8, m=9, seed=3):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m) + 0.5 * rng.normal(size=G)[g]
    z = rng.normal(size=G * m)
    u = rng.normal(size=G)[g] * 0.7 + rng.normal(size=G * m) * (1 + 0.5 * np.abs(x))
    y = 1 + 0.4 * x - 0.2 * z + 0.25 * x * z + u
    X = np.column_stack([np.ones_like(x), x, z, x * z])
    return X, y, g


def _cr1_t(X, y, g, k, r):
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ b
    Bi = np.linalg.inv(X.T @ X)
    G = g.max() + 1
    U = np.array([X[g == h].T @ e[g == h] for h in range(G)])
    Vc = Bi @ U.T @ U @ Bi
    return (b[k] - r) / np.sqrt(Vc[k, k])


def _restricted_residuals(X, y, k, r):
    """OLS residuals with b_k fixed at r."""
    Xr = np.delete(X, k, axis=1)
    br = np.linalg.lstsq(Xr, y - r * X[:, k], rcond=None)[0]
    return y - Xr @ br - r * X[:, k]


def brute_force_p(X, y, g, k, r):
    G = g.max() + 1
    e = _restricted_residuals(X, y, k, r)
    fitted = y - e
    t0 = abs(_cr1_t(X, y, g, k, r))
    hits = 0
    for signs in itertools.product([-1.0, 1.0], repeat=G):
        v = np.array(signs)[g]
        ts = _cr1_t(X, fitted + v * e, g, k, r)
        hits += abs(ts) >= t0 * (1 - 1e-10)
    return hits / 2 ** G


@pytest.mark.parametrize("null", [0.0, 0.1, 0.4])
def test_rademacher_enumeration_equals_brute_force_refits(null):
    X, y, g = _data()
    res = wild_cluster_bootstrap(X, y, g, 3, null=null, ci=False)
    assert res["enumerated"] and res["draws"] == 2 ** 8 and res["weights"] == "Rademacher"
    want = brute_force_p(X, y, g, 3, null)
    assert round(res["p"] * 2 ** 8) == round(want * 2 ** 8)
    assert 0 < want < 1


def test_observed_statistic_is_the_cr0_t():
    X, y, g = _data()
    res = wild_cluster_bootstrap(X, y, g, 3, null=0.1, ci=False)
    np.testing.assert_allclose(res["statistic"], _cr1_t(X, y, g, 3, 0.1), rtol=1e-10)


def test_ci_inverts_the_bootstrap_test():
    X, y, g = _data()
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    res = wild_cluster_bootstrap(X, y, g, 3, estimate=b[3], se=0.1)
    lo, hi = res["ci_low"], res["ci_high"]
    assert lo < b[3] < hi
    eps = 1e-4 * (hi - lo)
    for bound, outside in ((lo, lo - eps), (hi, hi + eps)):
        assert brute_force_p(X, y, g, 3, outside) < 0.05
        assert brute_force_p(X, y, g, 3, bound + (eps if bound == lo else -eps)) >= 0.05


def test_webb_draws_are_seeded():
    V1, name, enum = bootstrap_weights(20, 999, 7)
    V2, _, _ = bootstrap_weights(20, 999, 7)
    V3, _, _ = bootstrap_weights(20, 999, 8)
    assert name == "Webb" and not enum and V1.shape == (999, 20)
    assert np.array_equal(V1, V2) and not np.array_equal(V1, V3)
    np.testing.assert_allclose(sorted(set(np.round(V1.ravel(), 12))),
                               np.round([-np.sqrt(1.5), -1, -np.sqrt(.5), np.sqrt(.5), 1, np.sqrt(1.5)], 12))
    X, y, g = _data(G=20, m=5)
    a = wild_cluster_bootstrap(X, y, g, 3, draws=999, seed=7, ci=False)
    b = wild_cluster_bootstrap(X, y, g, 3, draws=999, seed=7, ci=False)
    assert a["p"] == b["p"] and a["draws"] == 999 and a["seed"] == 7


def _score_loop_p(X, y, g, k, r, family):
    """The score bootstrap by its definition, one draw at a time."""
    from pipeline.models.estimation import fit_glm

    G = g.max() + 1
    f = fit_glm(np.delete(X, k, axis=1), y, family, None, r * X[:, k])
    res = f.score_residuals()
    Ww = f.working_weights
    H = X.T @ (X * Ww[:, None])
    Hi = np.linalg.inv(H)
    s = [X[g == h].T @ res[g == h] for h in range(G)]
    C = [X[g == h].T @ (X[g == h] * Ww[g == h, None]) for h in range(G)]

    def t_of(v):
        S = sum(v[h] * s[h] for h in range(G))
        step = Hi @ S                                  # one-step estimate of b - b~
        scores = [v[h] * s[h] - C[h] @ step for h in range(G)]
        meat = sum(np.outer(q, q) for q in scores)
        return step[k] / np.sqrt((Hi @ meat @ Hi)[k, k])

    t0 = abs(t_of(np.ones(G)))
    hits = sum(abs(t_of(np.array(v))) >= t0 * (1 - 1e-10) for v in itertools.product([-1.0, 1.0], repeat=G))
    return hits / 2 ** G, t_of(np.ones(G))


@pytest.mark.parametrize("family", ["poisson", "logit"])
def test_score_bootstrap_of_glms_follows_its_definition(family):
    X, y, g = _data(G=7, m=12)
    yy = np.random.default_rng(1).poisson(np.exp(0.2 + 0.3 * X[:, 1])) if family == "poisson" else (y > 1).astype(float)
    res = wild_cluster_bootstrap(X, yy.astype(float), g, 3, family=family, null=0.0, ci=False)
    want_p, want_t = _score_loop_p(X, yy.astype(float), g, 3, 0.0, family)
    np.testing.assert_allclose(res["statistic"], want_t, rtol=1e-8)
    assert round(res["p"] * 2 ** 7) == round(want_p * 2 ** 7)


def test_linearised_score_bootstrap_is_the_wcr_for_the_linear_model():
    """The GLM formula with identity link and unit weights reduces to the OLS WCR."""
    from pipeline.models import wild

    X, y, g = _data()
    r = 0.2
    e = _restricted_residuals(X, y, 3, r)
    n, K = wild._pieces(X, e, np.ones(len(y)), g, 8, 3)
    V, _, _ = bootstrap_weights(8, 0, 0)
    num, den = wild._stats(V, n, K)
    t_obs = n.sum() / np.sqrt(np.sum((n - K.sum(axis=1)) ** 2))
    assert round(wild._pvalue(num, den, t_obs) * 256) == round(brute_force_p(X, y, g, 3, r) * 256)


def test_wild_fixture_from_r_loop():
    path = REF / "wild_bootstrap.json"
    ref = json.loads(path.read_text())
    d = pd.read_csv(REF / "data" / "cr2_units.csv")
    for c in ("degree", "social_capital"):
        d[c] = (d[c] - d[c].mean()) / d[c].std()
    X = np.column_stack([np.ones(len(d)), d.degree, d.social_capital, d.log_employees, d.degree * d.social_capital])
    g = pd.factorize(d.cluster, sort=True)[0]
    for case in ref["cases"]:
        res = wild_cluster_bootstrap(X, d.new_products.to_numpy(float), g, 4, null=case["null"], ci=False)
        assert round(res["p"] * 4096) == round(case["p"] * 4096), case
        np.testing.assert_allclose(res["statistic"], case["t"], rtol=1e-8)


def test_compact_webb_weights_give_the_same_bootstrap():
    """The int8 storage of Webb draws (1 byte per weight) changes nothing but memory."""
    from pipeline.models import wild

    X, y, g = _data(G=20, m=5)
    r = 0.1
    e = _restricted_residuals(X, y, 3, r)
    n, K = wild._pieces(X, e, np.ones(len(y)), g, 20, 3)
    full, _, _ = bootstrap_weights(20, 999, 3)
    compact, _, _ = bootstrap_weights(20, 999, 3, compact=True)
    assert compact.dtype == np.int8 and compact.nbytes * 8 == full.nbytes
    for a, b in zip(wild._stats(full, n, K, chunk=100), wild._stats(compact, n, K, chunk=128)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_factored_k_gives_the_dense_bootstrap():
    """K = Ca L' (rank p) applied as two thin products gives the G x G product's statistics."""
    from pipeline.models import wild

    X, y, g = _data(G=40, m=5)
    e = _restricted_residuals(X, y, 3, 0.1)
    n, K = wild._pieces(X, e, np.ones(len(y)), g, 40, 3)
    n2, KF = wild._pieces(X, e, np.ones(len(y)), g, 40, 3, factored=True)
    assert isinstance(KF, tuple) and KF[0].shape == (40, X.shape[1])
    np.testing.assert_allclose(wild._rowsum(KF), K.sum(axis=1), rtol=1e-10, atol=1e-12)
    V, _, _ = bootstrap_weights(40, 999, 5, compact=True)
    for a, b in zip(wild._stats(V, n, K), wild._stats(V, n2, KF)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_ci_bounds_are_where_the_p_value_crosses_alpha_with_many_clusters(family):
    """Webb draws, 40 clusters (the factored K, Brent on the margin): just inside each bound the
    test does not reject, just outside it rejects -- the definition of the inverted interval."""
    from pipeline.models.estimation import fit_glm

    X, y, g = _data(G=40, m=6, seed=11)
    if family == "poisson":
        y = np.random.default_rng(2).poisson(np.exp(0.1 + 0.3 * X[:, 1] + 0.2 * X[:, 3])).astype(float)
        f = fit_glm(X, y, family)
        b, se, eta = f.coef[3], float(np.sqrt(f.vcov[3, 3])), f.eta
    else:
        b, se, eta = np.linalg.lstsq(X, y, rcond=None)[0][3], 0.1, None
    res = wild_cluster_bootstrap(X, y, g, 3, family=family, draws=999, seed=4, estimate=b,
                                 se=se, eta0=eta)
    lo, hi = res["ci_low"], res["ci_high"]
    assert lo < b < hi
    eps = 1e-3 * se
    for bound, out, inn in ((lo, lo - eps, lo + eps), (hi, hi + eps, hi - eps)):
        p_out = wild_cluster_bootstrap(X, y, g, 3, family=family, null=out, draws=999, seed=4,
                                       ci=False, eta0=eta)["p"]
        p_in = wild_cluster_bootstrap(X, y, g, 3, family=family, null=inn, draws=999, seed=4,
                                      ci=False, eta0=eta)["p"]
        assert p_out < 0.05 <= p_in, (bound, p_out, p_in)
