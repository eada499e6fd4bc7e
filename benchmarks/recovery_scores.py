"""Recovery of the catalytic effect with few clusters and few respondents per firm.

Each replication simulates a study (``pipeline.simulate``: 3 regions x 4 clusters = 12 clusters,
25 firms each, ``--respondents-per-firm`` 2 or 5 on average) under one of two truths
(``SimulationSpec.truth``): ``sample`` -- firm social capital is the mean of the sampled
respondents' latent social capital -- or ``latent`` -- it is the firm's latent mean, so the few
respondents measure it with sampling error. The full analysis (clean, CFA, factor scores,
aggregation, network, models; no report) runs on the written files, and the interaction
``degree:social_capital`` (truth b_cat = 0.15) and the main effect ``social_capital`` (b_sc =
0.20, at the moderator's mean) are compared with the truth for four estimators:

- ``oracle``: the model fitted on the true firm social capital (what perfect measurement gives);
- ``uncorrected``: the pipeline's headline model on the firms' mean factor scores;
- ``calib-latent``: regression-calibrated unit scores, error = within-firm variance / n_j
  (score_correction: {method: latent});
- ``calib-meas``: regression-calibrated unit scores, error = the CFA's measurement error / n_j
  (score_correction: {method: measurement}).

Each estimator's 95% interval for the interaction is judged under the inference the model
reports (``se: cluster`` -- its ``se_type``/``df_method`` are printed) and, where the model
carries one, the wild cluster bootstrap interval (``wild_bootstrap``).

Usage (from the repository root):
    .venv/bin/python benchmarks/recovery_scores.py [--seeds 100] [--jobs 2]
Prints one table row per setting and estimator: mean estimate, bias as % of the truth (with its
Monte Carlo SE, also in %), SD over seeds, coverage of the 95% CI (and of the wild-bootstrap CI when present). With 100 seeds the
Monte Carlo SE of a coverage near .95 is ~.022 and of a mean estimate SD / 10.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TERM = "degree:social_capital"
MAIN = "social_capital"
FORMULA = "new_products ~ degree * social_capital + log_employees"
def _two_models() -> str:
    """analysis.models: the bundled example's catalytic model twice, under the names the table
    uses, one per score_correction method."""
    from pipeline.simulate import EXAMPLE_MODELS  # noqa: PLC0415

    item = EXAMPLE_MODELS.split("\n", 1)[1]  # "    - name: catalytic ..."
    return "  models:\n" + "".join(
        item.replace("name: catalytic", f"name: {name}")
        + f"\n      score_correction: {{method: {method}}}\n"
        for name, method in (("latent", "latent"), ("meas", "measurement")))


MODELS_YAML = _two_models()


def _models_block(yaml_text: str, models: str = MODELS_YAML) -> str:
    """study.yaml with its analysis.models replaced by ``models`` (the two models above)."""
    start = yaml_text.index("  models:\n")
    rest = yaml_text[start + len("  models:\n"):]
    m = re.search(r"^(?!    |\s*$)", rest, flags=re.M)  # first line not indented under models
    end = start + len("  models:\n") + (m.start() if m else len(rest))
    return yaml_text[:start] + models + yaml_text[end:]


def _ci(c: dict) -> tuple[float, float, float, float]:
    return (c["estimate"], c.get("se") or np.nan, c.get("ci_low"), c.get("ci_high"))


def analyse_simulated(seed: int, truth: str, rpf: float, models: str = MODELS_YAML):
    """One simulated study (12 clusters x 25 firms, csv survey) analysed with its
    analysis.models replaced by ``models`` (no EFA or invariance: they do not change the
    models): ``(sim, results, artefacts)`` of :func:`pipeline.run.analyse`."""
    from pipeline.config.study import read_study
    from pipeline.run import Stages, analyse, read_inputs
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    spec = SimulationSpec(seed=seed, regions=3, clusters_per_region=4, firms_per_cluster=25,
                          respondents_per_firm=rpf, survey_format="csv", truth=truth)
    sim = simulate_study(spec)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        write_study(sim, folder)
        y = folder / "study.yaml"
        text = _models_block(y.read_text(encoding="utf-8"), models)
        text = re.sub(r"^  efa: .*$", "  efa: false", text, flags=re.M)
        text = re.sub(r"^  invariance: .*$", "  invariance: false", text, flags=re.M)
        y.write_text(text, encoding="utf-8")
        results, artefacts = analyse(read_inputs(read_study(folder)), Stages())
    return sim, results, artefacts


def run_settings(replicate, default_seeds: int, default_first_seed: int):
    """Parse the benchmarks' common options and run ``replicate(seed, truth, rpf)`` over every
    setting on ``--jobs`` processes: ``(args, rows, wall seconds)``."""
    ap = argparse.ArgumentParser(description=sys.modules[replicate.__module__].__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=default_seeds)
    ap.add_argument("--first-seed", type=int, default=default_first_seed)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--respondents", type=float, nargs="+", default=[2.0, 5.0])
    ap.add_argument("--truths", nargs="+", default=["sample", "latent"])
    args = ap.parse_args()
    from joblib import Parallel, delayed

    tasks = [(s, t, r) for t in args.truths for r in args.respondents
             for s in range(args.first_seed, args.first_seed + args.seeds)]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs, batch_size=4)(delayed(replicate)(*t) for t in tasks)
    return args, rows, time.perf_counter() - t0


def replicate(seed: int, truth: str, rpf: float) -> dict:
    from pipeline.models import fit_model

    t0 = time.perf_counter()
    sim, results, _ = analyse_simulated(seed, truth, rpf)
    lat, meas = results["models"]["latent"], results["models"]["meas"]
    oracle = fit_model(sim.latent.merge(sim.firms, on="firm_id"), name="oracle", formula=FORMULA,
                       family="poisson", se="cluster", cluster="cluster", focal="degree",
                       moderator="social_capital", standardize=["degree", "social_capital"],
                       seed=seed).to_dict()
    out = {"seed": seed, "truth": truth, "rpf": rpf, "sec": time.perf_counter() - t0,
           "se_type": lat.get("se_type"), "df_method": lat.get("df_method")}
    fits = {"oracle": (oracle["coefficients"], oracle.get("wild_bootstrap")),
            "uncorrected": (lat["coefficients"], lat.get("wild_bootstrap"))}
    for name, m in (("calib-latent", lat), ("calib-meas", meas)):
        sc = m.get("score_correction")
        fits[name] = (sc["coefficients"], sc.get("wild_bootstrap")) if sc else (None, None)
    for name, (coefs, wb) in fits.items():
        if coefs is None:
            out[name] = None
            continue
        out[name] = {"inter": _ci(coefs[TERM]), "main": coefs[MAIN]["estimate"],
                     "wild": (wb.get("ci_low"), wb.get("ci_high"))
                     if wb and wb.get("term") == TERM else None}
    return out


def summarise(rows: list[dict], b_cat: float, b_sc: float) -> list[dict]:
    table = []
    for truth in ("sample", "latent"):
        for rpf in sorted({r["rpf"] for r in rows}):
            sub = [r for r in rows if r["truth"] == truth and r["rpf"] == rpf]
            if not sub:
                continue
            for est in ("oracle", "uncorrected", "calib-latent", "calib-meas"):
                got = [r[est] for r in sub if r.get(est)]
                if not got:
                    continue
                inter = np.array([g["inter"][0] for g in got])
                lo = np.array([g["inter"][2] for g in got], float)
                hi = np.array([g["inter"][3] for g in got], float)
                main = np.array([g["main"] for g in got])
                wild = [g["wild"] for g in got if g["wild"] and None not in g["wild"]]
                table.append({
                    "truth": truth, "rpf": rpf, "estimator": est, "n": len(got),
                    "inter_mean": inter.mean(), "inter_bias_pct": 100 * (inter.mean() - b_cat) / b_cat,
                    "inter_sd": inter.std(ddof=1),
                    "coverage": float(np.mean((lo <= b_cat) & (b_cat <= hi))),
                    "wild_coverage": (float(np.mean([w[0] <= b_cat <= w[1] for w in wild]))
                                      if wild else None),
                    "main_mean": main.mean(), "main_bias_pct": 100 * (main.mean() - b_sc) / b_sc,
                    "inter_mcse_pct": 100 * inter.std(ddof=1) / np.sqrt(len(got)) / b_cat,
                    "main_mcse_pct": 100 * main.std(ddof=1) / np.sqrt(len(got)) / b_sc,
                })
    return table


def main() -> None:
    from pipeline.simulate import SimulationSpec

    args, rows, wall = run_settings(replicate, 100, 5000)
    spec = SimulationSpec()
    table = summarise(rows, spec.b_cat, spec.b_sc)
    print(f"12 clusters x 25 firms; {args.seeds} seeds per setting; truth b_cat = {spec.b_cat}, "
          f"b_sc = {spec.b_sc}; inference: se_type {rows[0]['se_type']}, df {rows[0]['df_method']}")
    print(f"{'truth':<7} {'resp':>4} {'estimator':<13} {'n':>4} {'inter':>7} {'bias%':>7} "
          f"{'(MCSE)':>6} {'SD':>6} {'cover':>6} {'wild':>6} {'main':>7} {'bias%':>7} {'(MCSE)':>6}")
    for r in table:
        wild = f"{r['wild_coverage']:.2f}" if r["wild_coverage"] is not None else "-"
        print(f"{r['truth']:<7} {r['rpf']:>4.0f} {r['estimator']:<13} {r['n']:>4} "
              f"{r['inter_mean']:>7.4f} {r['inter_bias_pct']:>7.1f} {r['inter_mcse_pct']:>6.1f} "
              f"{r['inter_sd']:>6.3f} {r['coverage']:>6.2f} {wild:>6} {r['main_mean']:>7.4f} "
              f"{r['main_bias_pct']:>7.1f} {r['main_mcse_pct']:>6.1f}")
    secs = np.array([r["sec"] for r in rows])
    print(f"{len(rows)} replications in {wall:.0f} s wall with {args.jobs} workers "
          f"(median {np.median(secs):.2f} s per replication in a worker).")


if __name__ == "__main__":
    main()
