"""socap power: Monte Carlo power against the analytic noncentral F, engines giving identical
results, resuming, the power: section's errors, and the outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config.instrument import default_instrument_path, read_instrument
from pipeline.power import (CHUNK, Design, cache_path, design_grid, likert_alpha,
                            likert_covariance, likert_variance, loading_for_alpha,
                            ols_design_matrix, ols_scenario, power_study, replication_table,
                            run_power, smallest_designs, study_scenario, summarise)
from pipeline.simulate import THRESHOLDS, SimulationSpec, draw_study

ROOT = Path(__file__).resolve().parents[1]

SMALL_POWER = """
power:
  clusters: [4, 6]
  firms_per_cluster: 8
  respondents_per_firm: 3
  effect: 0.3
  replications: 24
"""


def make_study(folder: Path, power: str = SMALL_POWER, model: str | None = None) -> Path:
    """The bundled example's study.yaml and instrument with a power: section (power reads no
    data)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "instruments", folder / "instruments")
    text = (ROOT / "study.yaml").read_text(encoding="utf-8")
    if model is not None:
        start = text.index("  models:\n")
        end = text.index("\n\n", start)
        text = text[:start] + model.rstrip("\n") + text[end:]
    (folder / "study.yaml").write_text(text + power, encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# Against the analytic power of an OLS interaction
# ---------------------------------------------------------------------------------------------


def analytic_ols_power(design: Design, entropy: int, alpha: float) -> float:
    """P(F > F_crit) for F ~ noncentral F(1, n - 4, lambda), lambda = b^2 / (sigma^2
    [(X'X)^-1]_{xw,xw}) over the design's fixed predictors (sigma = 1): the exact power of the
    t test of the interaction in OLS with classical SEs."""
    from scipy import stats

    t = ols_design_matrix(design, entropy)
    x, w = t["x"].to_numpy(), t["w"].to_numpy()
    X = np.column_stack([np.ones_like(x), x, w, x * w])
    n, p = X.shape
    lam = design.effect**2 / np.linalg.inv(X.T @ X)[3, 3]
    crit = stats.f.ppf(1 - alpha, 1, n - p)
    return float(stats.ncf.sf(crit, 1, n - p, lam))


OLS_DESIGNS = [Design(4, 10, 1.0, 0.30, 0.4, 0.8), Design(4, 15, 1.0, 0.30, 0.4, 0.8),
               Design(5, 20, 1.0, 0.25, 0.4, 0.8), Design(6, 20, 1.0, 0.35, 0.4, 0.8)]


def test_ols_monte_carlo_power_matches_noncentral_f():
    """Gaussian outcome, classical SEs, no clustering: MC power within 3 MC SE of the exact
    noncentral-F power on 4 designs (300 replications each)."""
    reps, alpha, entropy = 300, 0.05, 20261204
    out = run_power(ols_scenario(), OLS_DESIGNS, replications=reps, alpha=alpha, target=0.8,
                    entropy=entropy, jobs=1, progress=False)
    powers = []
    for design, row in zip(OLS_DESIGNS, out["designs"]):
        exact = analytic_ols_power(design, entropy, alpha)
        se = np.sqrt(exact * (1 - exact) / reps)
        powers.append(exact)
        assert row["replications"] == reps and row["share_converged"] == 1.0
        assert abs(row["power"] - exact) <= 3 * se, (design, row["power"], exact, se)
        assert abs(row["mc_se"] - np.sqrt(row["power"] * (1 - row["power"]) / reps)) < 1e-12
    assert min(powers) < 0.6 < max(powers)  # the grid spans low and high power


def test_study_model_at_null_effect_rejects_at_alpha(tmp_path):
    """The study path (socap simulate's generator, mean scores, the unit table), gaussian
    outcome with classical SEs, no main effects and b_cat = 0: the interaction's t test is exact,
    so the rejection rate is alpha within 3 MC SE."""
    model = """  models:
    - name: catalytic
      level: unit
      formula: "new_products ~ degree * social_capital + log_employees"
      family: gaussian
      se: classical
      focal: degree
      moderator: social_capital
      standardize: [degree, social_capital]"""
    power = """
power:
  clusters: 6
  firms_per_cluster: 8
  respondents_per_firm: 2
  effect: 0
  replications: 160
  simulation: {b_degree: 0, b_sc: 0}
"""
    folder = make_study(tmp_path / "null", power, model)
    out = power_study(folder, jobs=1, progress=False)
    row = out["designs"][0]
    se = np.sqrt(0.05 * 0.95 / 160)
    assert row["share_converged"] == 1.0
    assert abs(row["power"] - 0.05) <= 3 * se, row["power"]


def test_study_power_grows_with_effect_and_sample(tmp_path):
    folder = make_study(tmp_path / "s", """
power:
  clusters: [4, 12]
  firms_per_cluster: 10
  respondents_per_firm: 2
  effect: [0, 0.4]
  replications: 30
""")
    out = power_study(folder, jobs=1, progress=False)
    by = {(r["design"]["clusters"], r["design"]["effect"]): r["power"] for r in out["designs"]}
    assert by[(12, 0.4)] > by[(12, 0.0)] + 0.3
    assert by[(12, 0.4)] >= by[(4, 0.4)]
    # estimates centre on the generated effect (poisson, standardised predictors)
    big = next(r for r in out["designs"] if r["design"] == {
        "clusters": 12, "firms_per_cluster": 10, "respondents_per_firm": 2.0, "effect": 0.4,
        "icc": 0.4, "reliability": 0.8})
    assert 0.2 < big["mean_estimate"] < 0.5


# ---------------------------------------------------------------------------------------------
# The pieces: reliability, degree, unit table
# ---------------------------------------------------------------------------------------------


def test_likert_covariance_is_the_bivariate_normal_one():
    from scipy import stats

    t = np.asarray(THRESHOLDS)
    rho = 0.45
    mvn = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])
    cdf = stats.norm.cdf(t)
    expected = sum(mvn.cdf([a, b]) - ca * cb for a, ca in zip(t, cdf) for b, cb in zip(t, cdf))
    assert likert_covariance(rho, t) == pytest.approx(expected, abs=2e-6)
    assert likert_covariance(0.999999, t) == pytest.approx(likert_variance(t), rel=1e-3)


def test_reliability_gives_that_alpha_in_simulated_items():
    inst = read_instrument(default_instrument_path())
    spec = SimulationSpec(regions=1, clusters_per_region=100, firms_per_cluster=200,
                          respondents_per_firm=5)  # 10^5 respondents: SE of alpha ~ .0013
    lam = {c: loading_for_alpha(0.75, len(ids), THRESHOLDS)
           for c, ids in inst.construct_items().items()}
    d = draw_study(spec, inst, np.random.default_rng(3), loadings=lam, ties_table=False)
    for c, ids in inst.construct_items().items():
        assert likert_alpha(lam[c], len(ids), THRESHOLDS) == pytest.approx(0.75, abs=1e-9)
        x = d.codes[:, [d.items.index(i) for i in ids]]
        k = x.shape[1]
        cov = np.cov(x, rowvar=False)
        alpha = k / (k - 1) * (1 - np.trace(cov) / cov.sum())
        assert alpha == pytest.approx(0.75, abs=0.006), c


def test_unreachable_reliability_is_a_study_error(tmp_path):
    folder = make_study(tmp_path / "r", SMALL_POWER.replace("effect: 0.3", "effect: 0.3\n  reliability: 0.999"))
    assert main(["power", str(folder), "-j", "1", "-q"]) == 2


def test_generator_degree_is_the_network_stage_degree():
    from pipeline.network import network_measures

    inst = read_instrument(default_instrument_path())
    spec = SimulationSpec(regions=2, clusters_per_region=3, firms_per_cluster=12)
    d = draw_study(spec, inst, np.random.default_rng(5))
    net = network_measures(d.ties, directed=False, units=list(d.firm_ids))
    got = net.unit_measures["degree"].reindex(d.firm_ids).to_numpy(float)
    assert (got == d.degree).all()
    d2 = draw_study(spec, inst, np.random.default_rng(5), ties_table=False)
    assert d2.ties is None and (d2.degree == d.degree).all()
    assert d2.firms.equals(d.firms)


def test_unit_table_scores_are_the_aggregated_mean_scores(tmp_path):
    """The replication's unit scores are what the pipeline's scoring: mean and aggregation
    give for the same answers."""
    import pandas as pd

    from pipeline.config.study import PowerConfig, read_study
    from pipeline.levels import aggregate
    from pipeline.measure.scores import mean_scores

    study = read_study(make_study(tmp_path / "u"))
    scenario = study_scenario(study, PowerConfig())
    design = Design(3, 6, 3.0, 0.2, 0.4, 0.8)
    table = replication_table(scenario, design, 1, 0)
    # the same draw, laid out as respondents
    from pipeline.power import simulation_spec, construct_loadings

    spec = simulation_spec(design, {})
    rng = np.random.default_rng(np.random.SeedSequence(1, spawn_key=(design.key, 0)))
    inst = scenario.instrument
    d = draw_study(spec, inst, rng, loadings=construct_loadings(inst, 0.8, THRESHOLDS),
                   ties_table=False)
    codes = d.codes.copy()
    codes[rng.random(codes.shape) < spec.missing_share] = np.nan
    responses = pd.DataFrame(codes, columns=d.items)
    responses["firm_id"] = d.firm_ids[d.resp_firm]
    scores = mean_scores(responses, inst)
    lev = aggregate(pd.concat([responses, scores], axis=1), unit="firm_id",
                    scores=list(scores.columns), construct_items=inst.construct_items(),
                    scales=inst.construct_scales())
    units = lev.units.reindex(table["firm_id"])
    for col in scores.columns:
        np.testing.assert_allclose(table[col].to_numpy(float), units[col].to_numpy(float),
                                   rtol=1e-12)
    assert (table["new_products"] == d.firms["new_products"]).all()


# ---------------------------------------------------------------------------------------------
# Engines, seeds, resuming
# ---------------------------------------------------------------------------------------------


def _records(folder: Path) -> dict:
    out = {}
    for line in cache_path(folder / "reports").read_text().splitlines():
        rec = json.loads(line)
        out[(rec["d"], rec["r"])] = rec
    return out


def _same(a: dict, b: dict) -> None:
    assert [r["design"] for r in a["designs"]] == [r["design"] for r in b["designs"]]
    for x, y in zip(a["designs"], b["designs"]):
        for key in ("replications", "significant", "converged", "seed"):
            assert x[key] == y[key], key
        assert x["mean_estimate"] == pytest.approx(y["mean_estimate"], rel=1e-9)
    assert a["smallest"] == b["smallest"]


def _same_records(fa: Path, fb: Path) -> None:
    ra, rb = _records(fa), _records(fb)
    assert ra.keys() == rb.keys()
    for k in ra:
        assert ra[k]["conv"] == rb[k]["conv"]
        assert ra[k]["p"] == pytest.approx(rb[k]["p"], rel=1e-9, abs=1e-15)
        assert ra[k]["est"] == pytest.approx(rb[k]["est"], rel=1e-9, abs=1e-15)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> tuple[Path, dict]:
    folder = make_study(tmp_path_factory.mktemp("power") / "j1")
    return folder, power_study(folder, jobs=1, progress=False)


def test_two_local_processes_give_the_serial_results(serial, tmp_path):
    folder, one = serial
    two_folder = make_study(tmp_path / "j2")
    two = power_study(two_folder, jobs=2, progress=False)
    assert one["engine"]["workers"] == 1 and two["engine"]["workers"] == 2
    assert two["engine"]["backend"] == "joblib/loky processes"
    _same(one, two)
    _same_records(folder, two_folder)


def test_dask_local_cluster_gives_the_local_results(serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    folder, one = serial
    dask_folder = make_study(tmp_path / "dask")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with cluster:
        out = power_study(dask_folder, scheduler=cluster.scheduler_address, progress=False)
    assert out["engine"]["name"] == "dask" and out["engine"]["workers"] == 2
    _same(one, out)
    _same_records(folder, dask_folder)


def test_interrupted_run_resumes_to_the_same_result(serial, tmp_path):
    _, fresh = serial
    folder = make_study(tmp_path / "resume")

    def stop(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        power_study(folder, jobs=1, progress=False, after_chunk=stop)
    assert not (folder / "reports" / "power.json").exists()
    sizes = [len(range(24)[i:i + CHUNK]) for i in range(0, 24, CHUNK)] * 2  # tasks, 2 designs
    first_two = sum(sizes[:2])
    assert len(_records(folder)) == first_two
    with open(cache_path(folder / "reports"), "a") as fh:  # a line cut short by the interruption
        fh.write('{"h": "abc", "s": 20')
    out = power_study(folder, jobs=1, progress=False)
    assert out["cache"]["reused"] == first_two
    assert out["cache"]["computed"] == 2 * 24 - first_two
    _same(fresh, out)
    again = power_study(folder, {"alpha": 0.10}, jobs=1, progress=False)
    assert again["cache"]["computed"] == 0 and again["alpha"] == 0.10


def test_adding_a_design_keeps_the_others_seeds(serial, tmp_path):
    _, fresh = serial
    folder = make_study(tmp_path / "more")
    out = power_study(folder, {"clusters": "4,5,6"}, jobs=1, progress=False)
    by = {r["design"]["clusters"]: r for r in out["designs"]}
    for row in fresh["designs"]:
        other = by[row["design"]["clusters"]]
        assert other["significant"] == row["significant"] and other["seed"] == row["seed"]


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def test_power_outputs_and_cli_summary(tmp_path, capsys):
    folder = make_study(tmp_path / "cli")
    assert main(["power", str(folder), "-j", "1", "-q", "--clusters", "4,8",
                 "--replications", "20", "--target", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "Smallest design reaching 0.50" in printed or "No design reaches power 0.50" in printed
    out = json.loads((folder / "reports" / "power.json").read_text())
    for key in ("schema_version", "study", "model", "config", "method", "alpha", "target",
                "replications", "designs", "smallest", "seeds", "engine", "cache", "warnings"):
        assert key in out, key
    row = out["designs"][0]
    for key in ("design", "firms", "expected_respondents", "replications", "significant",
                "power", "mc_se", "power_ci95", "converged", "share_converged",
                "power_converged", "mean_estimate", "reaches_target", "seed"):
        assert key in row, key
    assert out["model"]["interaction"] == "degree:social_capital"
    assert "mean of each construct's valid items" in out["method"]["scores"]
    assert out["engine"]["name"] == "local"
    html = (folder / "reports" / "power.html").read_text()
    assert html.count("<svg") == 1 and "<table>" in html and "src=" not in html
    assert "Power of degree:social_capital" in html
    assert html.count("<tr") == 1 + len(out["designs"])


def test_smallest_design_is_the_cheapest_reaching_the_target():
    designs = [Design(4, 10, 5.0, 0.1, 0.4, 0.8), Design(8, 10, 3.0, 0.1, 0.4, 0.8),
               Design(8, 10, 5.0, 0.1, 0.4, 0.8), Design(8, 10, 5.0, 0.2, 0.4, 0.8)]
    sig = {0: 90, 1: 81, 2: 95, 3: 10}
    rows = [summarise(d, [{"r": r, "p": 0.01 if r < sig[i] else 0.5, "est": 0.1, "conv": True}
                          for r in range(100)], 0.05, 0.8, 1) for i, d in enumerate(designs)]
    small = smallest_designs(rows, 0.8)
    by = {s["effect"]: s for s in small}
    # 4 x 10 x 5 = 200 respondents beats 8 x 10 x 3 = 240
    assert by[0.1]["design"]["clusters"] == 4 and by[0.1]["power"] == 0.9
    assert by[0.2]["design"] is None and by[0.2]["max_power"] == 0.1
    assert rows[0]["mc_se"] == pytest.approx(np.sqrt(0.9 * 0.1 / 100))


def test_design_grid_is_every_combination():
    from pipeline.config.study import PowerConfig

    cfg = PowerConfig(clusters=[12, 8], firms_per_cluster=[10], respondents_per_firm="3, 5",
                      effect=0.1)
    grid = design_grid(cfg)
    assert len(grid) == 4 and {d.clusters for d in grid} == {8, 12}
    assert len({d.key for d in grid}) == 4


# ---------------------------------------------------------------------------------------------
# Errors: exit 2 with key, line and fix
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("power, expected", [
    ("power:\n  clusters: [1, 8]\n", ["key 'power.clusters'", "line", "at least 2 clusters", "Fix:"]),
    ("power:\n  icc: 1.5\n", ["key 'power.icc'", "between 0 and 1"]),
    ("power:\n  replicatons: 10\n", ["unknown key 'replicatons'", "replications"]),
    ("power:\n  alpha: 0\n", ["key 'power.alpha'", "probability"]),
    ("power:\n  model: nope\n", ["key 'power.model'", "catalytic"]),
    ("power:\n  simulation: {b_sx: 1}\n", ["power.simulation", "b_sc"]),
    ("power:\n  simulation: {cluster_share: 1.5}\n", ["power.simulation", "between 0 and 1"]),
    ("power:\n  clusters: 8, x\n", ["power.clusters", "line"]),
])
def test_bad_power_section_exits_2(tmp_path, capsys, power, expected):
    folder = make_study(tmp_path / "bad", "\n" + power)
    assert main(["power", str(folder), "-j", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    assert not (folder / "reports" / "power.json").exists()


@pytest.mark.parametrize("args, expected", [
    (["--clusters", "8,x"], "--clusters"),
    (["--reliability", "1.2"], "--reliability"),
    (["--replications", "0"], "--replications"),
    (["-j", "-3"], "-j"),
])
def test_bad_power_options_exit_2(tmp_path, capsys, args, expected):
    folder = make_study(tmp_path / "opt")
    assert main(["power", str(folder), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Fix:" in err and "Traceback" not in err


def test_model_power_cannot_plan_exits_2(tmp_path, capsys):
    model = """  models:
    - name: catalytic
      level: unit
      formula: "new_products ~ degree * social_capital + exports"
      family: poisson
      focal: degree
      moderator: social_capital"""
    folder = make_study(tmp_path / "cols", SMALL_POWER, model)
    assert main(["power", str(folder), "-j", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert "'exports'" in err and "analysis.models[0].formula" in err
    folder = make_study(tmp_path / "nomod", SMALL_POWER, "  models: []")
    assert main(["power", str(folder), "-j", "1", "-q"]) == 2
    assert "analysis.models" in capsys.readouterr().err


def test_scheduler_unreachable_exits_2(tmp_path, capsys):
    pytest.importorskip("distributed")
    folder = make_study(tmp_path / "sched")
    assert main(["power", str(folder), "-q", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "Dask scheduler" in capsys.readouterr().err


def test_init_template_power_section_is_valid_when_uncommented(tmp_path):
    """The commented power: section `socap init` writes works once uncommented."""
    from pipeline.config.study import read_study

    assert main(["init", str(tmp_path / "new")]) == 0
    text = (tmp_path / "new" / "study.yaml").read_text()
    start = text.index("# power:")
    block = text[start:text.index("\n\n", start)]
    assert "replications" in block and "reliability" in block
    uncommented = "\n".join(line[2:] for line in block.splitlines())
    (tmp_path / "new" / "study.yaml").write_text(text.replace(block, uncommented))
    cfg = read_study(tmp_path / "new").config.power
    assert len(design_grid(cfg)) == 3 * 2 * 2 * 2 and cfg.replications == 500


def test_dask_workers_with_another_socap_are_refused():
    from pipeline.errors import StudyError
    from pipeline.power import check_workers, worker_versions

    class Client:
        def __init__(self, versions):
            self.versions = versions

        def run(self, func):
            assert func is worker_versions
            return self.versions

    check_workers(Client({"tcp://a:1": worker_versions()}), "tcp://s:8786")
    with pytest.raises(StudyError, match="runs socap 0.0.1"):
        check_workers(Client({"tcp://a:1": worker_versions(), "tcp://b:1": ("0.0.1", 1)}),
                       "tcp://s:8786")


def test_replication_fit_is_the_pipelines_fit_of_the_same_study(tmp_path):
    """End to end: a study drawn by the generator, written as an export and run through
    `socap run` (scoring: mean) gives the unit scores, degrees and interaction estimate that
    socap power's in-memory unit table gives for the same draw."""
    import pandas as pd

    from pipeline.config.study import PowerConfig, read_study
    from pipeline.power import draw_unit_table, fit_replication
    from pipeline.simulate import simulate_study, write_study

    spec = SimulationSpec(seed=11, regions=1, clusters_per_region=4, firms_per_cluster=12,
                          respondents_per_firm=3, missing_share=0.0, straightliners_share=0.0,
                          speeders_share=0.0, incomplete_share=0.0, survey_format="csv")
    folder = tmp_path / "e2e"
    write_study(simulate_study(spec), folder)
    text = (folder / "study.yaml").read_text()
    text = text.replace("scoring: factor", "scoring: mean").replace("  cfa: true", "  cfa: false")
    text = text.replace("  efa: {n_factors: auto, method: ml, rotation: oblimin}", "  efa: false")
    text = text.replace("  speeders: 0.5", "  speeders: false")
    (folder / "study.yaml").write_text(text)
    assert main(["run", str(folder), "--quiet"]) == 0
    units = pd.read_parquet(folder / "data" / "processed" / "units.parquet")
    units.index = units.index.astype(str) if units.index.name else units.index
    if "firm_id" in units.columns:
        units = units.set_index("firm_id")
    results = json.loads((folder / "reports" / "results.json").read_text())

    study = read_study(folder)
    scenario = study_scenario(study, PowerConfig())
    inst = scenario.instrument
    d = draw_study(spec, inst, np.random.default_rng(spec.seed))
    table = draw_unit_table(scenario, d, np.random.default_rng(0), 0.0)
    assert (table["n_respondents"].to_numpy() == units.loc[table["firm_id"], "n_respondents"]
            .to_numpy()).all()
    for col in ("social_capital", "trust", "degree"):
        np.testing.assert_allclose(table[col].to_numpy(float),
                                   units.loc[table["firm_id"], col].to_numpy(float), rtol=1e-12)
    ours = fit_replication(scenario, table, 0).coefficients["degree:social_capital"]
    theirs = results["models"]["catalytic"]["coefficients"]["degree:social_capital"]
    assert ours["estimate"] == pytest.approx(theirs["estimate"], rel=1e-8)
    assert ours["p"] == pytest.approx(theirs["p"], rel=1e-6)


def test_validate_tells_the_power_plan(study_copy, capsys):
    text = (study_copy / "study.yaml").read_text()
    (study_copy / "study.yaml").write_text(text + "\npower:\n  clusters: [8, 12]\n  icc: [0.3, 0.4]\n")
    assert main(["validate", str(study_copy)]) == 0
    assert ("Power plan (socap power): 4 designs x 500 replications of model 'catalytic'"
            in capsys.readouterr().out)


def test_power_takes_the_study_lock_a_run_takes(tmp_path, capsys, monkeypatch):
    """`socap power` writes reports/ (its cache and pages), which a run swaps: while another
    socap command holds the study's lock, power waits and then refuses (exit 2, naming it)."""
    import subprocess
    import sys as _sys

    folder = make_study(tmp_path / "locked")
    holder = subprocess.Popen(
        [_sys.executable, "-c",
         "import sys, time; from pipeline.atomic import lock_study; "
         f"l = lock_study({str(folder)!r}); print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("SOCAP_LOCK_WAIT", "0.5")
        capsys.readouterr()
        assert main(["power", str(folder), "-j", "1", "-q"]) == 2
        err = capsys.readouterr().err
        assert str(holder.pid) in err
        assert not (folder / "reports" / "power.json").exists()
    finally:
        holder.kill()
        holder.wait()
    monkeypatch.setenv("SOCAP_LOCK_WAIT", "10")
    assert main(["power", str(folder), "-j", "1", "-q"]) == 0  # the lock is free again
    assert (folder / "reports" / "power.json").exists()
