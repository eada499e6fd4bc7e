"""Mediation (PROCESS models 4 and 7) against R's regressions and a B = 20,000 R bootstrap.

Point estimates must equal R's ``lm`` coefficients (1e-6 relative).  Bootstrap intervals are
random: at B = 5,000 a 2.5% / 97.5% quantile has Monte Carlo SD ~ sqrt(.025 * .975 / B) /
phi(1.96) ~ 0.038 bootstrap SDs; R's B = 20,000 reference adds ~0.019.  We accept CI ends within
0.17 bootstrap SDs (~4 combined Monte Carlo SDs) and bootstrap SEs within 6% (the SE of an SD
estimate at B = 5,000 is ~1%).  Reproducibility (same seed -> same numbers, independent of the
batching) is checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.models import fit_model, mediation_effects
from pipeline.models.mediation import _ci, bootstrap_counts
from tests.tolerance import assert_tree_close

REF = Path(__file__).parent / "reference"
FIRMS = json.loads((REF / "models_firms.json").read_text())
TABLE = pd.read_csv(REF / "data" / "models_firms.csv")
FORMULA = "growth ~ degree * social_capital + log_employees"


def _listify(x):
    return [x] if isinstance(x, str) else list(x)


def _run(case, **kw):
    a = case["args"]
    spec = {"x": a["x"], "m": _listify(a["m"]), "y": a["y"], "covariates": _listify(a.get("covariates") or [])}
    if a.get("moderator"):
        spec["moderator"] = a["moderator"]
    return fit_model(TABLE, name="med", formula=FORMULA, mediation=spec, **kw).mediation


def _boot_close(got, want, what):
    sd = want["boot_se"]
    for k in ("ci_percentile", "ci_bias_corrected"):
        for g, w in zip(got[k], want[k], strict=True):
            assert abs(g - w) <= 0.17 * sd, f"{what} {k}: {g} vs R {w} (boot SD {sd})"
    assert abs(got["boot_se"] - sd) <= 0.06 * sd, f"{what} boot_se {got['boot_se']} vs {sd}"


@pytest.mark.parametrize("case", FIRMS["mediation"], ids=[c["id"] for c in FIRMS["mediation"]])
def test_mediation_matches_r(case):
    res = _run(case, n_boot=5000, seed=11)
    d = res.to_dict()
    assert d["n"] == case["n"]
    ms = _listify(case["args"]["m"])
    for m in ms:
        for path in ("a", "b"):
            g, w = d["paths"][path][m], case["paths"][path][m]
            assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6)
            assert g["se"] == pytest.approx(w["se"], rel=1e-6)
            assert g["p"] == pytest.approx(w["p"], rel=1e-5, abs=1e-12)
    assert d["direct_effect"]["estimate"] == pytest.approx(case["direct"]["estimate"], rel=1e-6)
    assert d["total_effect"]["estimate"] == pytest.approx(case["total"]["estimate"], rel=1e-6)
    assert d["total_effect"]["se"] == pytest.approx(case["total"]["se"], rel=1e-6)
    if "indirect" in case:
        for m, w in case["indirect"].items():
            g = d["indirect"][m]
            assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6)
            _boot_close(g, w, f"indirect {m}")
    if "index" in case:
        for m, w in case["index"].items():
            g = d["index_of_moderated_mediation"][m]
            assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6)
            _boot_close(g, w, f"index {m}")
        for m, rows in case["conditional"].items():
            for g, w in zip(d["conditional_indirect"][m], rows, strict=True):
                assert g["at"] == w["at"]
                assert g["moderator_value"] == pytest.approx(w["moderator_value"], rel=1e-9)
                assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6)
                _boot_close(g, w, f"conditional {m} {w['at']}")


def test_bootstrap_reproducible_and_independent_of_batching():
    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=n)
    w = rng.normal(size=n)
    m = 0.5 * x + 0.3 * x * w + rng.normal(size=n)
    y = 0.4 * m + 0.2 * x + rng.normal(size=n)
    runs = [mediation_effects(x, m[:, None], y, w=w, n_boot=700, seed=3, batch_blocks=b) for b in (1, 3, 50)]
    for r in runs[1:]:  # batches change BLAS call shapes: equal to 1e-12, not bit for bit
        assert runs[0].boot_draws.keys() == r.boot_draws.keys()
        for k, v in runs[0].boot_draws.items():
            np.testing.assert_allclose(r.boot_draws[k], v, rtol=1e-12, atol=1e-15)
        assert_tree_close(r.to_dict(), runs[0].to_dict(), rtol=1e-12, atol=1e-15)
    other = mediation_effects(x, m[:, None], y, w=w, n_boot=700, seed=4)
    assert other.to_dict()["index_of_moderated_mediation"] != runs[0].to_dict()["index_of_moderated_mediation"]


def test_bootstrap_draws_are_resamples_of_rows():
    c = bootstrap_counts(seed=9, n=50, n_boot=130)
    assert c.shape == (130, 50)
    assert np.all(c.sum(axis=1) == 50)
    assert np.all(c >= 0) and np.all(c == np.round(c))
    # each draw's multiplicities are those of a with-replacement sample: mean 1, var ~ (1 - 1/n)
    assert abs(c.var() - (1 - 1 / 50)) < 0.05


def test_bootstrap_statistic_equals_refit_on_resample():
    """One draw of the vectorised bootstrap equals OLS refitted on the explicitly resampled rows."""
    rng = np.random.default_rng(2)
    n = 120
    x = rng.normal(size=n)
    cov = rng.normal(size=(n, 2))
    m = 0.6 * x + cov @ [0.2, -0.1] + rng.normal(size=n)
    y = 0.5 * m + 0.1 * x + rng.normal(size=n)
    res = mediation_effects(x, m[:, None], y, covariates=cov, n_boot=5, seed=21)
    counts = bootstrap_counts(seed=21, n=n, n_boot=5)
    for k in range(5):
        idx = np.repeat(np.arange(n), counts[k].astype(int))
        Ra = np.column_stack([np.ones(n), x, cov])[idx]
        a = np.linalg.lstsq(Ra, m[idx], rcond=None)[0][1]
        Rb = np.column_stack([np.ones(n), x, m, cov])[idx]
        b = np.linalg.lstsq(Rb, y[idx], rcond=None)[0][2]
        assert res.boot_draws["m1"][k] == pytest.approx(a * b, rel=1e-9)


def test_default_covariates_are_the_formulas_other_predictors():
    res = fit_model(TABLE, name="m", formula=FORMULA, n_boot=200,
                    mediation={"x": "social_capital", "m": "participation", "y": "growth"}).mediation
    assert res.covariates == ("degree", "log_employees")


def test_mediation_settings_errors():
    with pytest.raises(StudyError) as e:
        fit_model(TABLE, name="m", formula=FORMULA, mediation={"x": "social_capital", "m": "participaton", "y": "growth"})
    assert "participation" in str(e.value) and "mediation.m" in str(e.value)
    with pytest.raises(StudyError) as e:
        fit_model(TABLE, name="m", formula=FORMULA, mediation={"x": "social_capital", "m": ["participation"], "y": "growth",
                                                               "moderater": "degree"})
    assert "moderator" in str(e.value)
    with pytest.raises(StudyError):
        fit_model(TABLE, name="m", formula=FORMULA, mediation={"x": "social_capital", "y": "growth"})


def test_effects_table_lists_every_bootstrap_effect():
    case = next(c for c in FIRMS["mediation"] if c["id"] == "moderated")
    res = _run(case, n_boot=300, seed=1)
    tab = res.effects_table()
    assert list(tab["effect"]) == ["index of moderated mediation"] + ["conditional indirect"] * 3
    assert tab["estimate"].iloc[0] == res.index_of_moderated_mediation["participation"]["estimate"]
    assert (tab["ci_percentile_low"] <= tab["ci_percentile_high"]).all()


@pytest.mark.parametrize("spec", [
    {"x": "social_capital", "m": ["participation"], "y": "growth", "covariates": ["participation"]},
    {"x": "social_capital", "m": ["social_capital"], "y": "growth"},
    {"x": "social_capital", "m": ["participation"], "y": "growth", "n_boot": 0},
    {"x": "social_capital", "m": ["participation"], "y": "growth", "ci_level": 95},
])
def test_mediation_role_and_setting_errors(spec):
    with pytest.raises(StudyError) as e:
        fit_model(TABLE, name="m", formula=FORMULA, mediation=spec)
    assert e.value.problems[0].key.startswith("analysis.models[0].mediation")


def test_bias_corrected_interval_formula_on_fixed_draws():
    """Efron's (1982) bias-corrected percentile interval, computed by hand: z0 = Phi^-1(share of
    draws below the estimate); the ends are the type-7 quantiles at Phi(2 z0 -/+ z_.975). The
    draws are fixed (no randomness), so the formula itself is tested, not the bootstrap."""
    from scipy.stats import norm

    draws = np.linspace(-1.0, 3.0, 1001) ** 3 / 10  # skewed, 1001 distinct values
    est = float(np.quantile(draws, 0.30))  # 30% of the draws lie below the estimate
    got = _ci(draws, est, 0.95)
    share = np.mean(draws < est)
    assert share == pytest.approx(0.30, abs=1e-3)
    z0 = norm.ppf(share)
    lo_p, hi_p = norm.cdf(2 * z0 - 1.959963984540054), norm.cdf(2 * z0 + 1.959963984540054)
    want = np.quantile(draws, [lo_p, hi_p])
    assert got["ci_bias_corrected"] == pytest.approx(list(want), rel=1e-12)
    assert got["ci_percentile"] == pytest.approx(list(np.quantile(draws, [0.025, 0.975])), rel=1e-12)
    # z0 instead of 2 z0 (a plausible slip) gives a different interval on these draws
    wrong = np.quantile(draws, [norm.cdf(z0 - 1.959963984540054), norm.cdf(z0 + 1.959963984540054)])
    assert abs(want[0] - wrong[0]) > 0.005 and abs(want[1] - wrong[1]) > 0.05
    assert got["boot_se"] == pytest.approx(np.std(draws, ddof=1), rel=1e-12)
    # every draw on one side: no bias-corrected interval
    assert _ci(draws, float(draws.max()) + 1, 0.95)["ci_bias_corrected"] == [None, None]


def test_fixture_exercises_every_branch():
    """The R fixture holds cases with indirect effects and with moderated mediation (a fixture
    regenerated without them would otherwise silently test less)."""
    assert sum("indirect" in c for c in FIRMS["mediation"]) >= 2
    assert sum("index" in c for c in FIRMS["mediation"]) >= 1


# ---- clustering (issue 20): cluster-robust paths, a bootstrap of whole clusters -------------
CLUSTER = json.loads((REF / "mediation_cluster.json").read_text())


@pytest.mark.parametrize("se,kind", [("cluster", "CR2"), ("cr1", "CR1")])
@pytest.mark.parametrize("case", CLUSTER["cases"], ids=[c["id"] for c in CLUSTER["cases"]])
def test_mediation_paths_are_cluster_robust_when_the_model_is_clustered(case, se, kind):
    """The a/b paths, direct and total effect take the model's cluster-robust SEs: se: cluster
    with 30 clusters is CR2 with Satterthwaite df as clubSandwich::coef_test(fit, vcov = "CR2",
    test = "Satterthwaite"); se: cr1 is CR1 with t(G - 1) as lmtest::coeftest(fit, vcov =
    sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1"), df = G - 1)
    (tests/reference/mediation_cluster.R)."""
    res = _run(case, n_boot=200, seed=11, se=se, cluster="cluster")
    d = res.to_dict()
    assert d["n"] == case["n"] and d["clusters"] == case["clusters"]
    assert d["resampling"] == "clusters" and d["path_se"] == kind
    blocks = [(d["paths"]["a"], case["paths"]["a"]), (d["paths"]["b"], case["paths"]["b"])]
    if "a_interaction" in case["paths"]:
        blocks.append((d["paths"]["a_interaction"], case["paths"]["a_interaction"]))
    pairs = [(g[m], w[m]) for g, w in blocks for m in w] + [
        (d["direct_effect"], case["direct"]), (d["total_effect"], case["total"])]
    for g, w in pairs:
        want = w["cr2"] if kind == "CR2" else {**w, "df": case["clusters"] - 1}
        assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6)
        assert g["se"] == pytest.approx(want["se"], rel=1e-6)
        assert g["t"] == pytest.approx(want["t"], rel=1e-6)
        assert g["df"] == pytest.approx(want["df"], rel=1e-6)
        assert g["p"] == pytest.approx(want["p"], rel=1e-5, abs=1e-12)
    # without clustering the same paths keep their classical SEs and a bootstrap of rows
    plain = _run(case, n_boot=200, seed=11).to_dict()
    assert plain["resampling"] == "rows" and plain["clusters"] is None
    for m, w in case["paths"]["a"].items():
        assert plain["paths"]["a"][m]["se"] == pytest.approx(w["se_classical"], rel=1e-6)


def test_cluster_bootstrap_draws_whole_clusters():
    rng = np.random.default_rng(3)
    cl = rng.integers(0, 12, 90)
    c = bootstrap_counts(seed=4, n=90, n_boot=300, clusters=cl)
    assert c.shape == (300, 90)
    for g in range(12):  # every row of a cluster is drawn as often as its cluster
        rows = c[:, cl == g]
        assert np.all(rows == rows[:, :1])
    per_cluster = np.stack([c[:, np.flatnonzero(cl == g)[0]] for g in range(12)], axis=1)
    assert np.all(per_cluster.sum(axis=1) == 12)  # G clusters per resample
    assert abs(per_cluster.var() - (1 - 1 / 12)) < 0.1
    # not a resample of rows: row totals vary with the drawn clusters' sizes
    assert c.sum(axis=1).std() > 0


def test_cluster_bootstrap_statistic_and_intervals_on_its_draws():
    """Each draw equals OLS refitted on the explicitly materialised resample of whole clusters,
    and the percentile / bias-corrected intervals are R's type-7 quantiles of those draws."""
    rng = np.random.default_rng(8)
    G, n = 15, 150
    cl = rng.integers(0, G, n)
    u = rng.normal(size=G)[cl]
    x = rng.normal(size=n) + u
    cov = rng.normal(size=(n, 1))
    m = 0.6 * x + 0.2 * cov[:, 0] + u + rng.normal(size=n)
    y = 0.5 * m + 0.1 * x + u + rng.normal(size=n)
    res = mediation_effects(x, m[:, None], y, covariates=cov, n_boot=400, seed=21, clusters=cl)
    counts = bootstrap_counts(seed=21, n=n, n_boot=400, clusters=cl)
    draws = np.empty(400)
    for k in range(400):
        idx = np.repeat(np.arange(n), counts[k].astype(int))
        a = np.linalg.lstsq(np.column_stack([np.ones(n), x, cov])[idx], m[idx], rcond=None)[0][1]
        b = np.linalg.lstsq(np.column_stack([np.ones(n), x, m, cov])[idx], y[idx], rcond=None)[0][2]
        draws[k] = a * b
    np.testing.assert_allclose(res.boot_draws["m1"], draws, rtol=1e-9)
    rec = res.to_dict()["indirect"]["m1"]
    est = rec["estimate"]
    assert rec["ci_percentile"] == pytest.approx(list(np.quantile(draws, [0.025, 0.975])), rel=1e-12)
    from scipy.stats import norm

    z0 = norm.ppf(np.mean(draws < est))
    probs = norm.cdf(2 * z0 + norm.ppf([0.025, 0.975]))
    assert rec["ci_bias_corrected"] == pytest.approx(list(np.quantile(draws, probs)), rel=1e-12)
    assert rec["boot_se"] == pytest.approx(np.std(draws, ddof=1), rel=1e-12)
    # resampling clusters, not rows: the draws differ from a row bootstrap with the same seed
    rows = mediation_effects(x, m[:, None], y, covariates=cov, n_boot=400, seed=21)
    assert not np.allclose(rows.boot_draws["m1"], draws)
    assert res.resampling == "clusters" and any("15 clusters" in w for w in res.warnings)


def test_report_says_the_mediation_bootstrap_resampled_clusters():
    from pipeline.report.methods import methods
    from pipeline.report.tables import _mediation_table

    spec = {"x": "social_capital", "m": ["participation"], "y": "growth"}
    res = fit_model(TABLE, name="med", formula=FORMULA, mediation=spec, n_boot=200, se="cluster",
                    cluster="cluster").to_dict()
    out: list = []
    _mediation_table("med", res["mediation"], out)
    # 30 clusters: the model and its paths use CR2 with Satterthwaite df
    assert "whole clusters" in out[0].note and "CR2" in out[0].note and "30 clusters" in out[0].note
    results = {"sample": {}, "models": {"med": res}, "config": {"analysis": {"models": [
        {"name": "med", "se": "cluster", "cluster": "cluster"}]}}}
    text = " ".join(p for _, p in methods(results).paragraphs)
    assert "bootstrap resamples of whole clusters (30 clusters" in text
    assert "CR2 standard errors and Satterthwaite df" in text
    plain = fit_model(TABLE, name="med", formula=FORMULA, mediation=spec, n_boot=200).to_dict()
    out = []
    _mediation_table("med", plain["mediation"], out)
    assert "whole clusters" not in out[0].note
