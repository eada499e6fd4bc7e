"""Speed of the restricted wild cluster bootstrap and of CR2 (pipeline/models/wild.py, clustered.py).

Run from the repository root:  .venv/bin/python benchmarks/bench_wild.py [--large]

Prints one table.  Wild bootstrap: 9,999 Webb draws (all 2^G Rademacher vectors when G <= 12)
for a 300-unit linear model and a Poisson model, p-value and CI by test inversion, against the
baseline of one per-draw refit loop (numpy lstsq + CR1 of each bootstrap sample) measured on
200 draws in the same run and scaled to the draw count.  CR2 with Satterthwaite df: low-rank
(lm) and dense / rational (GLM) paths, against CR1 (sandwich) of the same fit in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.models.clustered import cr2  # noqa: E402
from pipeline.models.estimation import fit_glm, fit_lm, sandwich  # noqa: E402
from pipeline.models.wild import wild_cluster_bootstrap  # noqa: E402


def data(n, G, seed=1):
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, G, n))
    g = np.unique(g, return_inverse=True)[1]
    x = rng.normal(size=n) + rng.normal(size=G)[g] * 0.5
    w = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, w, rng.normal(size=n), x * w])
    eta = 0.2 + 0.3 * x + 0.1 * w + 0.1 * x * w + rng.normal(0, 0.3, G)[g]
    y = eta + rng.normal(size=n)
    yc = rng.poisson(np.exp(eta)).astype(float)
    return X, y, yc, g


def best(f, reps=3):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out)


def refit_loop(X, y, g, draws):
    rng = np.random.default_rng(0)
    G = g.max() + 1
    Xr = X[:, :-1]
    br = np.linalg.lstsq(Xr, y, rcond=None)[0]
    fit = Xr @ br
    e = y - fit
    Bi = np.linalg.inv(X.T @ X)
    for _ in range(draws):
        v = rng.choice([-1.0, 1.0], G)[g]
        ys = fit + v * e
        b = np.linalg.lstsq(X, ys, rcond=None)[0]
        r = ys - X @ b
        U = np.zeros((G, X.shape[1]))
        np.add.at(U, g, X * r[:, None])
        _ = b[-1] / np.sqrt((Bi @ U.T @ U @ Bi)[-1, -1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="also CR2 at n = 10^6")
    a = ap.parse_args()
    rows = []
    for n, G in ((300, 12), (300, 30), (300, 100), (300, 300)):
        X, y, yc, g = data(n, G)
        b = np.linalg.lstsq(X, y, rcond=None)[0]
        t_ols = best(lambda: wild_cluster_bootstrap(X, y, g, 4, draws=9999, seed=1, estimate=b[4], se=0.1))
        pf = fit_glm(X, yc, "poisson")
        t_pois = best(lambda: wild_cluster_bootstrap(X, yc, g, 4, family="poisson", draws=9999, seed=1,
                                                     estimate=pf.coef[4], se=0.1, eta0=pf.eta), reps=1)
        draws = 2 ** G if G <= 12 else 9999
        t_loop = best(lambda: refit_loop(X, y, g, 200), reps=1) * draws / 200
        rows.append((f"wild bootstrap, n = {n}, G = {G}", draws, t_ols, t_pois, t_loop))
    print(f"{'case':38s} {'draws':>6s} {'OLS p+CI s':>11s} {'Poisson p+CI s':>15s} {'refit loop s':>13s} {'loop/OLS':>9s}")
    for name, d, t1, t2, t3 in rows:
        print(f"{name:38s} {d:6d} {t1:11.3f} {t2:15.3f} {t3:13.2f} {t3 / t1:9.0f}")
    print()
    sizes = [(10_000, 20), (10_000, 1000), (100_000, 30)] + ([(1_000_000, 40), (1_000_000, 5000)] if a.large else [])
    print(f"{'CR2 + Satterthwaite df':38s} {'path':>9s} {'CR2 s':>8s} {'CR1 s':>8s} {'ratio':>7s}")
    for n, G in sizes:
        X, y, yc, g = data(n, G)
        for fam in ("gaussian", "poisson"):
            if fam == "poisson" and n > 100_000:
                continue
            fit = fit_lm(X, y) if fam == "gaussian" else fit_glm(X, yc, "poisson")
            res = {}

            def run():
                o = cr2(fit, X, g)
                o.df(np.eye(X.shape[1]))
                res["m"] = o.method
            t2 = best(run, reps=1 if n >= 100_000 else 3)
            t1 = best(lambda: sandwich(fit, X, "cluster", g), reps=3)
            print(f"{fam + f', n = {n:,}, G = {G:,}':38s} {res['m']:>9s} {t2:8.3f} {t1:8.3f} {t2 / t1:7.1f}")


if __name__ == "__main__":
    main()
