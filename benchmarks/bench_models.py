"""Speed of pipeline.models: model fits at 10^4-10^6 rows and the mediation bootstrap.

Run from the repository root:  /work/venv/bin/python benchmarks/bench_models.py [--max-rows N]

Prints one table: each fit's wall time (best of a few runs), with the time of one NumPy QR of the
same design matrix measured in the same run as the baseline (ratio = fit / QR), and the
mediation bootstrap at n = 2,000 (5,000 draws; PROCESS models 4 and 7).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.models import fit_model


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    G = max(20, n // 50)
    cl = rng.integers(0, G, n)
    u = rng.normal(0, 0.3, G)[cl]
    degree = rng.poisson(4, n).astype(float)
    sc = rng.normal(3.2, 0.6, n)
    emp = rng.normal(3, 1, n)
    eta = -1.0 + 0.06 * degree + 0.2 * sc + 0.04 * degree * sc + 0.2 * emp + u
    mu = np.exp(eta)
    y = rng.negative_binomial(2, 2 / (2 + mu))
    growth = 1 + 0.2 * degree + 0.3 * sc + 0.08 * degree * sc + 0.2 * emp + u + rng.normal(size=n)
    part = 0.5 + 0.6 * sc + 0.1 * degree + rng.normal(0, 0.7, n)
    return pd.DataFrame({"cluster": cl, "degree": degree, "social_capital": sc, "log_employees": emp,
                         "new_products": y, "innovated": (y > 0).astype(int), "growth": growth + 0.4 * part,
                         "participation": part})


def best(f, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-rows", type=int, default=1_000_000)
    ap.add_argument("--glmer-max-rows", type=int, default=100_000,
                    help="largest table for the Laplace GLMM (about 10 s per 10^5 rows)")
    args = ap.parse_args()
    formula_g = "growth ~ degree * social_capital + log_employees"
    formula_c = "new_products ~ degree * social_capital + log_employees"
    configs = [
        ("gaussian, classical", dict(formula=formula_g)),
        ("gaussian, cluster", dict(formula=formula_g, se="cluster", cluster="cluster")),
        ("gaussian, random intercept", dict(formula=formula_g, random="cluster")),
        ("poisson, cluster", dict(formula=formula_c, family="poisson", se="cluster", cluster="cluster")),
        ("negbin, hc3", dict(formula=formula_c, family="negbin", se="hc3")),
        ("logit, cluster", dict(formula="innovated ~ degree * social_capital + log_employees", family="logit",
                                se="cluster", cluster="cluster")),
        ("poisson, random intercept", dict(formula=formula_c, family="poisson", random="cluster")),
    ]
    print(f"{'rows':>9}  {'model':<28} {'fit s':>8} {'QR s':>8} {'ratio':>7}")
    for n in (10_000, 100_000, 1_000_000):
        if n > args.max_rows:
            break
        t = simulate(n)
        X = np.column_stack([np.ones(n), t.degree, t.social_capital, t.degree * t.social_capital, t.log_employees])
        reps = 3 if n < 1_000_000 else 1
        qr = best(lambda: np.linalg.qr(X), reps)
        for label, cfg in configs:
            if cfg.get("random") and cfg.get("family") == "poisson" and n > args.glmer_max_rows:
                continue
            el = best(lambda: fit_model(t, name="b", focal="degree", moderator="social_capital", **cfg), reps)
            print(f"{n:>9}  {label:<28} {el:8.3f} {qr:8.3f} {el / qr:7.1f}")
    n = 2000
    t = simulate(n, seed=2)
    for label, spec in [("mediation model 4, 5000 draws", {"x": "social_capital", "m": ["participation"], "y": "growth",
                                                            "covariates": ["log_employees"]}),
                        ("mediation model 7, 5000 draws", {"x": "social_capital", "m": ["participation"], "y": "growth",
                                                            "moderator": "degree", "covariates": ["log_employees"]})]:
        full = best(lambda: fit_model(t, name="b", formula=formula_g, mediation=spec, n_boot=5000), 3)
        base = best(lambda: fit_model(t, name="b", formula=formula_g), 3)
        print(f"{n:>9}  {label:<28} {full - base:8.3f} {'':>8} {'':>7}   (model fit alone {base:.3f} s)")


if __name__ == "__main__":
    main()
