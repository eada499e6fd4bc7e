"""EFA, sampling adequacy and factor counts against psych fixtures (tests/reference/efa_*.R)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline.measure.factors as factors_mod
from pipeline.errors import StudyError
from pipeline.measure.factors import EFAResult, efa, factor_count, sampling_adequacy
from pipeline.measure.moments import item_moments

ROOT = Path(__file__).parent.parent
REF = ROOT / "tests" / "reference"
FIXTURES = ["efa_hs39", "efa_bfi", "efa_mixed"]

# Project tolerances are 0.01 for loadings and 1e-3 for KMO/Bartlett; the port reproduces R to
# ~1e-12, so tighter bounds are used to catch regressions that would still pass the loose ones.
TOL_LOAD = 1e-4
TOL_EXACT = 1e-8


@functools.cache
def load(name):
    return json.loads((REF / f"{name}.json").read_text())


@functools.cache
def moments(name):
    ref = load(name)
    d = pd.read_csv(ROOT / ref["data"])
    for item in ref.get("reversed", []) or []:
        d[item] = 6 - d[item]
    return item_moments(d, ref["items"])


@functools.cache
def count(name, seed=1, n_iter=20):
    return factor_count(moments(name), seed=seed, n_iter=n_iter)


def fit_cases():
    out = []
    for name in FIXTURES:
        for i, f in enumerate(load(name)["fits"]):
            out.append(
                pytest.param(name, i, id=f"{name}-{f['method']}-{f['rotation']}-{f['nfactors']}")
            )
    return out


@pytest.mark.parametrize("name", FIXTURES)
def test_adequacy_matches_psych(name):
    ref = load(name)
    ad = sampling_adequacy(moments(name))
    assert ad.n == ref["n"]
    assert ad.kmo == pytest.approx(ref["kmo"], abs=TOL_EXACT)
    np.testing.assert_allclose(ad.kmo_items, ref["kmo_items"], atol=TOL_EXACT)
    assert ad.df == ref["bartlett"]["df"]
    assert ad.chi2 == pytest.approx(ref["bartlett"]["chi2"], rel=1e-10)
    assert ad.p == pytest.approx(ref["bartlett"]["p"], rel=1e-6, abs=1e-300)


@pytest.mark.parametrize("name", FIXTURES)
def test_eigenvalues_kaiser_map_match_psych(name):
    ref = load(name)
    fc = count(name)
    np.testing.assert_allclose(fc.eigenvalues, ref["eigenvalues"], atol=TOL_EXACT)
    np.testing.assert_allclose(fc.factor_eigenvalues, ref["fa_values"], atol=1e-6)
    want_map = np.array(ref["map"], dtype=float)
    np.testing.assert_allclose(fc.map, want_map, atol=1e-10, equal_nan=True)
    assert fc.suggested["kaiser"] == ref["kaiser"]
    assert fc.suggested["map"] == ref["map_best"]


@pytest.mark.parametrize("name", FIXTURES)
def test_parallel_suggestion_equals_r(name):
    """R's suggestion was the same for seeds 1..10; ours must equal it for any seed we try."""
    ref = load(name)
    r_ncomp = {s["ncomp"] for s in ref["parallel_by_seed"]}
    r_nfact = {s["nfact"] for s in ref["parallel_by_seed"]}
    assert len(r_ncomp) == 1 and len(r_nfact) == 1  # a clear structure in R
    for seed in (0, 1, 2, 3):
        fc = count(name, seed=seed)
        assert fc.suggested["parallel"] in r_ncomp
        assert fc.suggested["parallel_fa"] in r_nfact


@pytest.mark.parametrize("name", FIXTURES)
def test_parallel_reproducible(name):
    a = factor_count(moments(name), seed=42)
    b = factor_count(moments(name), seed=42)
    c = factor_count(moments(name), seed=43)
    np.testing.assert_allclose(a.parallel_eigenvalues, b.parallel_eigenvalues, rtol=1e-12)
    np.testing.assert_allclose(a.parallel_factor_eigenvalues, b.parallel_factor_eigenvalues,
                               rtol=1e-12)
    assert a.suggested == b.suggested
    assert not np.array_equal(a.parallel_eigenvalues, c.parallel_eigenvalues)


@pytest.mark.parametrize("name", ["efa_hs39", "efa_mixed"])
def test_simulated_eigenvalues_distribution_matches_r(name):
    """Our Wishart-based draws have the distribution of R's cor(matrix(rnorm(n * p), n)).

    R ran fa.parallel with n.iter = 200. Against 4000 of our draws, R's 200-draw mean of each
    simulated eigenvalue must lie within 4.5 standard errors (a real test: a wrong chi-square df
    or scaling moves the means by many standard errors at these sample sizes).
    """
    long = load(name)["parallel_long"]
    m = moments(name)
    sims = factors_mod._simulated_correlations(np.random.default_rng(8), m.n_rows, m.n_items, 4000)
    vals = np.linalg.eigvalsh(sims)[:, ::-1]
    se = vals.std(axis=0) / np.sqrt(long["n_iter"])
    assert np.all(np.abs(vals.mean(axis=0) - long["pc_sim_mean"]) < 4.5 * se)
    q = np.quantile(vals, 0.95, axis=0)
    assert np.all(np.abs(q - long["pc_sim_q95"]) < 2.5 * vals.std(axis=0) / np.sqrt(40))


def test_simulated_factor_eigenvalues_match_r():
    """The factor-eigenvalue line (one-factor minres on each simulated matrix) as R's."""
    long = load("efa_hs39")["parallel_long"]
    n_iter = 300
    fc = factor_count(moments("efa_hs39"), seed=9, n_iter=n_iter)
    m = moments("efa_hs39")
    sims = factors_mod._simulated_correlations(
        np.random.default_rng(9), m.n_rows, m.n_items, n_iter
    )
    with factors_mod.single_blas_thread():
        draws = np.stack(
            [
                factors_mod._reduced_eigenvalues(s, factors_mod.extract(s, 1, "minres"))
                for s in sims
            ]
        )
    # same seed, same draws: factor_count's mean line is the mean of these
    np.testing.assert_allclose(fc.parallel_factor_eigenvalues_mean, draws.mean(axis=0), atol=1e-12)
    se = draws.std(axis=0) * np.sqrt(1 / long["n_iter"] + 1 / n_iter)
    assert np.all(np.abs(draws.mean(axis=0) - long["fa_sim_mean"]) < 4.5 * se)


@pytest.mark.parametrize("name,i", fit_cases())
def test_efa_matches_psych(name, i):
    ref = load(name)
    f = ref["fits"][i]
    rotation = {"geominQ": "geomin"}.get(f["rotation"], f["rotation"])
    res = efa(
        moments(name),
        n_factors=f["nfactors"],
        method=f["method"],
        rotation=rotation,
        count=count(name),
    )
    p, k = len(ref["items"]), f["nfactors"]
    want = np.array(f["loadings"], dtype=float).reshape(p, k)
    np.testing.assert_allclose(res.loadings, want, atol=TOL_LOAD)
    if f["Phi"] is not None:
        np.testing.assert_allclose(
            res.factor_correlations, np.array(f["Phi"]).reshape(k, k), atol=TOL_LOAD
        )
    else:
        np.testing.assert_array_equal(res.factor_correlations, np.eye(k))
    np.testing.assert_allclose(res.communalities, f["communality"], atol=TOL_LOAD)
    np.testing.assert_allclose(res.uniquenesses, f["uniquenesses"], atol=TOL_LOAD)
    np.testing.assert_allclose(res.ss_loadings, np.ravel(f["ss_loadings"]), atol=TOL_LOAD)
    np.testing.assert_allclose(res.proportion, np.ravel(f["proportion"]), atol=TOL_LOAD)
    np.testing.assert_allclose(res.cumulative, np.ravel(f["cumulative"]), atol=TOL_LOAD)
    assert res.converged
    assert res.factors == tuple(f"F{j + 1}" for j in range(k))
    want_fit = f["fit"]
    assert res.fit["df"] == want_fit["df"]
    # results.json names (chisq, pvalue: lavaan's fitMeasures spelling) against the
    # fixture's (chi2, p)
    for key, theirs in (("chisq", "chi2"), ("tli", "tli"), ("rmsea", "rmsea"), ("bic", "bic")):
        if want_fit[theirs] is None:
            assert res.fit[key] is None, key
        else:  # fit indices: project tolerance 0.002; chi2 and BIC relative
            assert res.fit[key] == pytest.approx(want_fit[theirs], rel=1e-6, abs=2e-6), key
    if want_fit["p"] is not None:
        assert res.fit["pvalue"] == pytest.approx(want_fit["p"], rel=1e-5, abs=1e-300)
    for got, want in zip(res.fit["rmsea_ci"], want_fit["rmsea_ci"], strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, abs=1e-5)
    assert not any("Heywood" in w for w in res.warnings)


@pytest.mark.parametrize("rotation", ["oblimin", "promax", "geomin"])
def test_phi_belongs_to_the_loadings(rotation):
    """diag(L Phi L') is rotation-invariant: it equals the communalities only if Phi was
    reordered and sign-flipped together with the loadings (factor_analyzer's Phi is not)."""
    res = efa(
        moments("efa_bfi"), n_factors=5, method="ml", rotation=rotation, count=count("efa_bfi")
    )
    implied = np.einsum("ij,jk,ik->i", res.loadings, res.factor_correlations, res.loadings)
    np.testing.assert_allclose(implied, res.communalities, atol=1e-8)
    assert np.all(np.diff(res.ss_loadings) <= 1e-12)  # variance order
    assert np.all(res.loadings.sum(axis=0) > 0)  # psych's sign convention


def test_auto_uses_parallel_analysis():
    ref = load("efa_bfi")
    res = efa(moments("efa_bfi"), n_factors="auto", seed=3)
    assert res.n_factors == ref["parallel_by_seed"][0]["ncomp"]
    assert "parallel analysis suggested" in res.n_factors_reason
    assert "seed 3" in res.n_factors_reason
    fixed = efa(moments("efa_bfi"), n_factors=5, count=res.count)
    assert "configuration" in fixed.n_factors_reason


def test_to_dict_contract_keys_and_json():
    res = efa(moments("efa_mixed"), n_factors=3, count=count("efa_mixed"))
    assert isinstance(res, EFAResult)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    for key in (
        "kmo",
        "kmo_items",
        "bartlett",
        "suggested",
        "n_factors",
        "n_factors_reason",
        "method",
        "rotation",
        "loadings",
        "communalities",
        "variance",
        "factor_correlations",
        "eigenvalues",
        "parallel_eigenvalues",
        "converged",
        "warnings",
    ):
        assert key in d, key
    assert set(d["bartlett"]) == {"chi2", "df", "p"}
    assert {"parallel", "kaiser", "map"} <= set(d["suggested"])
    assert list(d["variance"]) == ["F1", "F2", "F3"]
    assert set(d["variance"]["F1"]) == {"ss_loadings", "proportion", "cumulative"}
    assert list(d["loadings"]) == list(res.items)
    assert list(d["loadings"]["host_1"]) == ["F1", "F2", "F3"]
    assert d["factor_correlations"]["F2"]["F2"] == pytest.approx(1.0)
    assert len(d["eigenvalues"]) == len(d["parallel_eigenvalues"]) == len(res.items)
    frame = res.loadings_frame()
    assert list(frame.columns) == ["item", "F1", "F2", "F3", "communality", "uniqueness"]


def test_constant_item_is_left_out_with_a_warning():
    ref = load("efa_mixed")
    d = pd.read_csv(ROOT / ref["data"])
    d["trust_5r"] = 6 - d["trust_5r"]
    m = item_moments(d, ref["items"] + ["coop_5"])
    res = efa(m, n_factors=3, method="ml", rotation="oblimin", count=None)
    assert "coop_5" not in res.items
    assert any("coop_5" in w and "left out" in w for w in res.warnings)
    want = np.array(ref["fits"][0]["loadings"]).reshape(len(ref["items"]), 3)
    np.testing.assert_allclose(res.loadings, want, atol=TOL_LOAD)


def test_heywood_case_is_a_warning():
    rng = np.random.default_rng(5)
    r = np.array(
        [[1, 0.85, 0.85, 0.5], [0.85, 1, 0.6, 0.45], [0.85, 0.6, 1, 0.45], [0.5, 0.45, 0.45, 1]]
    )
    x = rng.multivariate_normal(np.zeros(4), r, size=400)
    res = efa(item_moments(x), n_factors=1, method="ml")
    assert any("Heywood" in w and "V1" in w for w in res.warnings)
    assert res.communalities[0] >= 0.99


def test_non_convergence_is_a_warning(monkeypatch):
    original = factors_mod._rotate

    def unconverged(load, rotation):
        out = original(load, rotation)
        return out[0], out[1], False

    monkeypatch.setattr(factors_mod, "_rotate", unconverged)
    res = efa(moments("efa_hs39"), n_factors=3, count=count("efa_hs39"))
    assert not res.converged
    assert any("did not converge" in w for w in res.warnings)


def test_gpf_reports_non_convergence():
    ref = load("efa_hs39")
    unrot = np.array(ref["fits"][4]["loadings"]).reshape(9, 3)  # ml, rotate = "none"
    _, _, conv = factors_mod._gpf_oblique(unrot, factors_mod._vgq_oblimin, maxit=1)
    assert not conv
    _, _, conv = factors_mod._gpf_oblique(unrot, factors_mod._vgq_oblimin)
    assert conv


def test_user_errors():
    m = moments("efa_hs39")
    with pytest.raises(StudyError) as e:
        efa(m, n_factors=3, method="maximum", count=count("efa_hs39"))
    assert "analysis.efa.method" in str(e.value)
    with pytest.raises(StudyError) as e:
        efa(m, n_factors=3, rotation="oblimn", count=count("efa_hs39"))
    assert "oblimin" in str(e.value)
    with pytest.raises(StudyError):
        efa(m, n_factors=9, count=count("efa_hs39"))
    with pytest.raises(StudyError):
        efa(m, n_factors="many", count=count("efa_hs39"))
    with pytest.raises(StudyError):
        efa(m, n_factors=0, count=count("efa_hs39"))
    with pytest.raises(StudyError):
        efa(item_moments(np.random.default_rng(0).normal(size=(50, 2))), n_factors=1)


def test_negative_degrees_of_freedom_warns():
    res = efa(moments("efa_hs39"), n_factors=6, method="minres", count=count("efa_hs39"))
    assert any("negative degrees of freedom" in w for w in res.warnings)


def test_default_path_imports_no_heavy_library():
    code = (
        "import sys, numpy as np\n"
        "from pipeline.measure.moments import item_moments\n"
        "from pipeline.measure.reliability import scale_reliability\n"
        "from pipeline.measure.factors import efa\n"
        "x = np.random.default_rng(0).integers(1, 6, size=(300, 6)).astype(float)\n"
        "m = item_moments(x)\n"
        "scale_reliability(m, ['V1', 'V2', 'V3'])\n"
        "efa(m, n_factors='auto')\n"
        "heavy = ['scipy.stats', 'statsmodels', 'pingouin', 'factor_analyzer', 'semopy', 'sklearn']\n"
        "print([h for h in heavy if h in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_non_positive_definite_pairwise_matrix():
    """ML on a smoothed matrix as psych::fa(cor.smooth(r)); minres on the raw one as psych."""
    ref = load("efa_nonpd")
    assert ref["ml_raw_fails"] and ref["min_eigenvalue"] < 0  # psych::fa(x, fm = "ml") stops
    m = item_moments(pd.read_csv(ROOT / ref["data"]), ref["items"])
    smoothed, changed = factors_mod.cor_smooth(m.cor_pairwise)
    assert changed
    np.testing.assert_allclose(smoothed, np.array(ref["smoothed"]), atol=1e-10)
    ml = efa(m, n_factors=2, method="ml", rotation="oblimin")
    assert any("not positive definite" in w and "smoothed" in w for w in ml.warnings)
    # item b is a Heywood case in both fits (ML: uniqueness at psych's bound .005; minres: an
    # ultra-Heywood loading above 1): the criteria are flat there and R's and scipy's L-BFGS-B
    # stop up to ~1.5e-3 apart -- inside the project tolerance of 0.01 for loadings.
    assert any("Heywood" in w and "b" in w for w in ml.warnings)
    tol = 5e-3
    np.testing.assert_allclose(ml.loadings, np.array(ref["ml"]["loadings"]), atol=tol)
    np.testing.assert_allclose(ml.factor_correlations, np.array(ref["ml"]["Phi"]), atol=tol)
    np.testing.assert_allclose(ml.communalities, ref["ml"]["communality"], atol=tol)
    mr = efa(m, n_factors=2, method="minres", rotation="oblimin", count=ml.count)
    assert not any("smoothed" in w for w in mr.warnings)
    assert any("Heywood" in w for w in mr.warnings)
    np.testing.assert_allclose(mr.loadings, np.array(ref["minres"]["loadings"]), atol=tol)
    np.testing.assert_allclose(mr.factor_correlations, np.array(ref["minres"]["Phi"]), atol=tol)
    # Bartlett's test and KMO are undefined on such a matrix: None with warnings, no crash
    assert ml.adequacy.chi2 is None and ml.adequacy.kmo is None
    assert any("KMO" in w for w in ml.warnings)
    assert json.dumps(ml.to_dict(), allow_nan=False)


def _lbfgsb_problems():
    """The factor extractions' own problems (ml and minres on correlation matrices with 1-3
    factors, bounds active in Heywood-prone ones) and bounded Rosenbrock functions."""
    rng = np.random.default_rng(7)
    problems = []
    for p, k in [(6, 1), (9, 2), (12, 3), (5, 2)]:
        load = rng.uniform(0.3, 0.95, (p, k)) * (rng.random((p, k)) < 0.7)
        r = load @ load.T
        np.fill_diagonal(r, 1.0)
        r = factors_mod._cov2cor(r + np.diag(rng.uniform(0.05, 0.6, p)))
        for method in ("ml", "minres"):
            fg = (factors_mod._ml_value_and_gradient if method == "ml"
                  else factors_mod._minres_value_and_gradient)
            smc = factors_mod.smc(r)
            start = (np.diag(r) - smc) / 0.01

            def scaled(x, fg=fg, r=r, k=k):  # as extract scales the uniquenesses
                value, grad = fg(x * 0.01, r, k)
                return value, grad * 0.01

            problems.append((scaled, start, factors_mod.PSI_LOWER / 0.01,
                             max(float(smc.max()), 1.0) / 0.01,
                             dict(maxcor=5, ftol=1e7 * np.finfo(float).eps, gtol=0.0,
                                  maxiter=100)))

    def rosen(x):
        value = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        grad = np.zeros_like(x)
        grad[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
        grad[1:] += 200 * (x[1:] - x[:-1] ** 2)
        return value, grad

    for n in (2, 5, 8):
        problems.append((rosen, rng.uniform(-2, 2, n), -1.5, 0.8,
                         dict(maxcor=10, ftol=2.2e-9, gtol=1e-5, maxiter=200)))
    problems.append((rosen, np.zeros(4), -np.inf, np.inf, dict(maxcor=3, ftol=1e-12,
                                                                gtol=0.0, maxiter=7)))
    return problems


@pytest.mark.parametrize("fallback", [False, True])
def test_lbfgsb_driver_equals_scipy_minimize(monkeypatch, fallback):
    # pipeline.measure.sem.lbfgsb drives SciPy's compiled L-BFGS-B without importing scipy.optimize (0.2 s);
    # every iterate must be scipy.optimize.minimize's, to the last bit (and the fallback, used
    # when a SciPy release changes the private routine, is minimize itself)
    from scipy.optimize import minimize as scipy_minimize

    import pipeline.measure.sem.lbfgsb as lbfgsb

    if fallback:
        monkeypatch.setattr(lbfgsb, "_setulb", False)
    else:
        assert lbfgsb._load() is not None  # the fast path is the one tested here
    for fun, x0, lo, hi, opts in _lbfgsb_problems():
        ours = lbfgsb.minimize(fun, x0, lo, hi, **opts)
        ref = scipy_minimize(fun, x0, jac=True, method="L-BFGS-B",
                             bounds=[(lo, hi)] * len(x0), options=opts)
        np.testing.assert_array_equal(ours.x, ref.x)
        assert ours.fun == ref.fun and ours.nit == ref.nit and ours.nfev == ref.nfev
        assert ours.success == ref.success and ours.message == ref.message


def test_extraction_does_not_import_scipy_optimize():
    code = ("import sys, numpy as np\n"
            "from pipeline.measure.factors import extract\n"
            "r = np.full((4, 4), 0.5); np.fill_diagonal(r, 1.0)\n"
            "fit = extract(r, 1, 'ml')\n"
            "assert fit.converged and abs(fit.loadings[0, 0] - 0.7071) < 1e-3, fit\n"
            "print('scipy.optimize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_parallel_analysis_decides_on_the_95th_percentile_not_the_mean():
    """A second component whose eigenvalue lies between the mean and the 95th percentile of the
    simulated ones: parallel analysis (psych::fa.parallel, Horn 1965 with Glorfeld's 95th
    percentile) keeps one component; a decision on the mean would keep two."""
    rng = np.random.default_rng(11)
    n, p = 300, 12
    f = rng.standard_normal((n, 2))
    lam = np.zeros((p, 2))
    lam[:6, 0], lam[6:, 1] = 0.7, 0.26
    x = f @ lam.T + rng.standard_normal((n, p)) * np.sqrt(1 - (lam**2).sum(1))
    m = item_moments(x)
    fc = factor_count(m, seed=3, n_iter=100)
    # the thresholds are the quantile and the mean of the simulated eigenvalues (same draws)
    sims = factors_mod._simulated_correlations(np.random.default_rng(3), n, p, 100)
    vals = np.linalg.eigvalsh(sims)[:, ::-1]
    np.testing.assert_allclose(fc.parallel_eigenvalues, np.quantile(vals, 0.95, axis=0),
                               rtol=1e-10)
    np.testing.assert_allclose(fc.parallel_eigenvalues_mean, vals.mean(axis=0), rtol=1e-10)
    # the second observed eigenvalue is well inside the gap (so the case is a real test)
    second = fc.eigenvalues[1]
    assert fc.parallel_eigenvalues_mean[1] + 0.01 < second < fc.parallel_eigenvalues[1] - 0.01
    assert fc.suggested["parallel"] == 1
    assert fc.suggested["parallel_fa"] == 1
    assert factors_mod._leading_above(fc.eigenvalues, fc.parallel_eigenvalues_mean) == 2
