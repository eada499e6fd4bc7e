"""The simulator: reproducible, complete, and faithful to its own truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipeline.config.instrument import default_instrument_path
from pipeline.simulate import SimulationSpec, _category_correlation, simulate_study, write_study
from pipeline.config.study import read_study


def test_same_seed_same_study_other_seed_differs():
    spec = SimulationSpec(seed=3, regions=1, clusters_per_region=2, firms_per_cluster=10)
    a, b = simulate_study(spec), simulate_study(spec)
    pd.testing.assert_frame_equal(a.survey, b.survey)
    pd.testing.assert_frame_equal(a.ties, b.ties)
    assert a.truth == b.truth
    c = simulate_study(SimulationSpec(seed=4, regions=1, clusters_per_region=2, firms_per_cluster=10))
    assert not a.survey.equals(c.survey)


def test_structure_and_truth():
    spec = SimulationSpec(seed=11)
    sim = simulate_study(spec)
    t = sim.truth
    assert t["sizes"]["firms"] == 300 and t["sizes"]["clusters"] == 12
    assert len(sim.firms) == 300 and sim.firms["firm_id"].is_unique
    assert t["sizes"]["responses_total"] == len(sim.survey)
    inj = t["injected"]
    assert t["sizes"]["respondents_valid"] + inj["straightliners"] + inj["speeders"] + \
        inj["incomplete"] == len(sim.survey)
    assert (sim.survey["Finished"] == False).sum() == inj["incomplete"]  # noqa: E712
    # every firm has at least one respondent; ties connect firms and institutions
    assert set(sim.survey["firm_id"]) == set(sim.firms["firm_id"])
    assert set(sim.ties["type"]) == {"supplier", "customer", "service", "university", "government"}
    inst = set(sim.ties["target"]) - set(sim.firms["firm_id"])
    assert inst and all(i.split("_")[0] in ("SRV", "UNI", "GOV") for i in inst)
    assert (sim.ties["source"] != sim.ties["target"]).all()
    assert (sim.ties["weight"] >= 1).all()
    coefs = t["catalytic_model"]["coefficients"]
    assert coefs["degree:social_capital"] == spec.b_cat
    # social capital raises participation (degree), as the model says
    assert t["network"]["corr_degree_social_capital"] > 0.2
    # personal data present in the raw export (ingest must drop it)
    assert sim.survey["email"].str.contains("@").all()


def test_items_follow_the_measurement_model():
    """Item correlations within a construct are close to the implied lambda_i * lambda_j * c^2."""
    sim = simulate_study(SimulationSpec(seed=5, firms_per_cluster=200, respondents_per_firm=3,
                                        missing_share=0, straightliners_share=0,
                                        speeders_share=0, incomplete_share=0))
    lam = sim.truth["measurement"]["loadings_std_likert_approx"]["trust"]
    x = sim.survey[list(lam)].astype(float).copy()
    x["trust_2"] = 6 - x["trust_2"]  # reverse-worded item answered in reverse
    r = np.corrcoef(x.to_numpy().T)
    lam_v = np.array(list(lam.values()))
    implied = np.outer(lam_v, lam_v)
    off = ~np.eye(len(lam_v), dtype=bool)
    assert np.abs(r[off] - implied[off]).max() < 0.05


def test_category_correlation_matches_monte_carlo():
    rng = np.random.default_rng(0)
    f = rng.standard_normal(400_000)
    y = 0.7 * f + np.sqrt(1 - 0.49) * rng.standard_normal(f.size)
    codes = 1 + (y[:, None] > np.array([-1.6, -0.75, 0.05, 1.15])).sum(1)
    assert abs(np.corrcoef(codes, f)[0, 1] - _category_correlation(0.7, (-1.6, -0.75, 0.05, 1.15))) < 0.005


def test_written_study_is_valid_and_uses_the_packaged_instrument(tmp_path):
    sim = simulate_study(SimulationSpec(seed=2, regions=1, clusters_per_region=2, firms_per_cluster=8))
    write_study(sim, tmp_path)
    assert (tmp_path / "instruments" / "social_capital.yaml").read_bytes() == \
        default_instrument_path().read_bytes()
    study = read_study(tmp_path)
    assert study.config.network.edges == "data/raw/ties.csv"
    assert study.config.analysis.models[0].standardize == ["degree", "social_capital"]
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["spec"]["seed"] == 2
    for f in ("survey.xlsx", "firms.csv", "ties.csv"):
        assert (tmp_path / "data" / "raw" / f).stat().st_size > 0


def test_truth_latent_makes_firm_social_capital_the_firm_latent_mean():
    """--truth latent: the outcome depends on the firm's latent mean, not on its sampled
    respondents' mean, so with few respondents the two differ by within-firm sampling error."""
    kw = dict(seed=5, regions=1, clusters_per_region=4, firms_per_cluster=50)
    few_s = simulate_study(SimulationSpec(respondents_per_firm=2, **kw))
    few_l = simulate_study(SimulationSpec(respondents_per_firm=2, truth="latent", **kw))
    assert few_s.truth["truth"] == "sample" and few_l.truth["truth"] == "latent"
    r_few = np.corrcoef(few_s.latent["social_capital"], few_l.latent["social_capital"])[0, 1]
    # var(sample mean) = tau_b + (1 - tau_b)/n: corr = sqrt(tau_b / (tau_b + 0.6/n)) ~ .76 at n ~ 2
    assert 0.6 < r_few < 0.9
    many_s = simulate_study(SimulationSpec(respondents_per_firm=200, **kw))
    many_l = simulate_study(SimulationSpec(respondents_per_firm=200, truth="latent", **kw))
    r_many = np.corrcoef(many_s.latent["social_capital"], many_l.latent["social_capital"])[0, 1]
    assert r_many > 0.99
    # the firm's latent mean has variance tau_cluster + tau_firm, whatever the respondents
    v = np.var(many_l.latent["social_capital"], ddof=1)
    assert abs(v - (0.10 + 0.30)) < 0.12
    try:
        simulate_study(SimulationSpec(truth="firm", **kw))
    except ValueError as exc:
        assert "truth" in str(exc)
    else:
        raise AssertionError("an unknown truth was accepted")


def test_cli_simulate_truth_option_recorded(tmp_path):
    from pipeline.cli import main

    assert main(["simulate", str(tmp_path / "s"), "--truth", "latent", "--regions", "1",
                 "--clusters-per-region", "2", "--firms-per-cluster", "5", "--format", "csv"]) == 0
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())
    assert truth["truth"] == "latent" and truth["spec"]["truth"] == "latent"
