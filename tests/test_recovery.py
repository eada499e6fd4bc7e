"""The pipeline recovers the parameters that generated a simulated study (truth.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.run import run_study
from pipeline.simulate import SimulationSpec, simulate_study, write_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled example study, run in a copy (the repository is not written to)."""
    folder = tmp_path_factory.mktemp("bundled") / "example"
    folder.mkdir()
    for name in ("study.yaml", "truth.json"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "instruments", folder / "instruments")
    shutil.copytree(ROOT / "data" / "raw", folder / "data" / "raw")
    outcome = run_study(folder)
    # the run leaves every raw file byte-identical to the committed one
    for path in (ROOT / "data" / "raw").iterdir():
        assert (folder / "data" / "raw" / path.name).read_bytes() == path.read_bytes(), path.name
    return outcome.results, json.loads((folder / "truth.json").read_text())


def test_cfa_recovers_the_generating_loadings(bundled):
    """Standardised loadings of the Likert items lie within their 95% CIs of the true values.

    The true standardised loading of a 5-point item is lambda * corr(Likert(y*), y*), which the
    simulator computes from the thresholds (truth.json: loadings_std_likert_approx).
    """
    results, truth = bundled
    true = truth["measurement"]["loadings_std_likert_approx"]
    z = {item: (est["std"] - true[construct][item]) / est["std_se"]
         for construct, items in results["cfa"]["loadings"].items() for item, est in items.items()}
    assert len(z) == 20
    # 95% CIs: by chance about 1 of 20 misses (binomial: P(more than 2 miss) = 0.075)
    assert sum(abs(v) > 1.96 for v in z.values()) <= 2, z
    assert max(abs(v) for v in z.values()) < 3.29, z  # none outside its 99.9% CI
    second = truth["measurement"]["second_order_loadings"]
    for construct, est in results["cfa"]["higher_order"]["social_capital"].items():
        # the first-order factors are measured by Likert items, so their correlations are those
        # of the latent (continuous) factors: the second-order loadings are the true gammas
        assert abs(est["std"] - second[construct]) < 1.96 * est["std_se"], construct
    fit = results["cfa"]["fit"]
    assert fit["cfi"] > 0.95 and fit["rmsea"] < 0.06 and fit["srmr"] < 0.08


def test_example_finds_four_factors_and_the_catalytic_effect(bundled):
    results, truth = bundled
    assert results["efa"]["n_factors"] == 4
    coef = results["models"]["catalytic"]["coefficients"]["degree:social_capital"]
    true = truth["catalytic_model"]["coefficients"]["degree:social_capital"]
    assert coef["ci_low"] <= true <= coef["ci_high"]
    assert results["invariance"]["level_reached"] == "scalar"  # simulated without bias


def test_catalytic_effect_within_its_ci_on_a_large_study(tmp_path):
    """A large simulated study (1,500 firms in 30 clusters, ~30,000 respondents): the estimated
    interaction, main effects and size effect lie within their 95% CIs of truth.json's values.

    The truth is defined on the latent scale (the firm's mean latent social capital); the
    pipeline estimates it from Likert answers, so its unit scores carry measurement error. With
    20 respondents per firm that error moves the interaction estimate by about +0.005 on average
    (sd 0.009 over seeds 300-305, against standard errors of 0.007-0.013), so the check holds for
    most seeds, not all: seed 304 misses by 0.007. benchmarks/recovery_catalytic.py prints the
    bias and the coverage over many seeds.
    """
    spec = SimulationSpec(seed=300, regions=3, clusters_per_region=10, firms_per_cluster=50,
                          respondents_per_firm=20, survey_format="csv")
    write_study(simulate_study(spec), tmp_path)
    results = run_study(tmp_path).results
    truth = json.loads((tmp_path / "truth.json").read_text())["catalytic_model"]["coefficients"]
    coefs = results["models"]["catalytic"]["coefficients"]
    for term in ("degree:social_capital", "degree", "social_capital", "log_employees"):
        c = coefs[term]
        assert c["ci_low"] <= truth[term] <= c["ci_high"], (term, c, truth[term])
    assert coefs["degree:social_capital"]["ci_high"] - coefs["degree:social_capital"]["ci_low"] < 0.1
