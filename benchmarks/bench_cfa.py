"""CFA speed: socap's moment-based ML engine against semopy on the same data.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_cfa.py            # 10^4, 10^5, 10^6 rows
    /work/venv/bin/python benchmarks/bench_cfa.py --sizes 10000 100000

Data: 20 five-point items, five correlated constructs of four items (simulated, seed 1), 2%
missing answers at random. socap's time is ``fit_cfa`` end to end (item matrix, listwise
covariance pass, ML fit, SEs, standardised solution, fit measures, modification indices, CR/AVE/
HTMT), split into the covariance pass and the rest; then ``factor_scores`` for every row. semopy
(``Model.fit`` with its default ML objective on the listwise-complete rows) is the baseline.
Also printed: import times, and a 2,000-respondent study's CFA + factor scores + 3-region
invariance.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONSTRUCTS = {f"c{k}": [f"c{k}_{j}" for j in range(1, 5)] for k in range(1, 6)}


def simulate(n: int, seed: int = 1, groups: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = len(CONSTRUCTS)
    phi = 0.4 * np.ones((k, k)) + 0.6 * np.eye(k)
    eta = rng.standard_normal((n, k)) @ np.linalg.cholesky(phi).T
    cols = {}
    cuts = np.array([-1.5, -0.5, 0.5, 1.4])
    for j, (c, items) in enumerate(CONSTRUCTS.items()):
        for i, item in enumerate(items):
            lam = 0.55 + 0.1 * i
            y = lam * eta[:, j] + np.sqrt(1 - lam ** 2) * rng.standard_normal(n)
            x = (np.searchsorted(cuts, y) + 1).astype(float)
            x[rng.random(n) < 0.02] = np.nan
            cols[item] = x
    out = pd.DataFrame(cols)
    if groups:
        out["region"] = rng.choice([f"r{g}" for g in range(groups)], size=n)
    return out


def timed(fn, repeat: int = 1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT)}, check=False)
    return float(out.stdout.strip()) if out.returncode == 0 else float("nan")


def semopy_fit(data: pd.DataFrame):
    import semopy

    desc = "\n".join(f"{c} =~ {' + '.join(items)}" for c, items in CONSTRUCTS.items())
    model = semopy.Model(desc)
    items = [i for its in CONSTRUCTS.values() for i in its]
    model.fit(data[items].dropna())
    return semopy.calc_stats(model)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-semopy", action="store_true")
    args = parser.parse_args()

    from pipeline.measure.cfa import _one_blas_thread, factor_scores, fit_cfa, measurement_invariance
    from pipeline.measure.sem.engine import complete_moments

    print("import time (fresh interpreter):")
    for mod in ("pipeline.measure.cfa", "semopy"):
        print(f"  {mod:<14} {import_time(mod):6.2f} s")

    items = [i for its in CONSTRUCTS.values() for i in its]
    print("\nCFA, 20 items / 5 constructs (times in s, best of 3 below 10^6 rows):")
    head = (f"{'rows':>9} {'complete':>9} {'cov pass':>9} {'fit_cfa':>9} {'scores':>8} "
            f"{'semopy':>8} {'semopy/socap':>13} {'chi2 socap':>11} {'chi2 semopy':>12}")
    print(head)
    print("-" * len(head))
    for n in args.sizes:
        data = simulate(n)
        rep = 3 if n < 1_000_000 else 1
        x = data[items].to_numpy(float, na_value=np.nan)
        with _one_blas_thread():       # as inside fit_cfa
            t_cov, _ = timed(partial(complete_moments, x), rep)
        t_fit, res = timed(partial(fit_cfa, data, CONSTRUCTS), rep)
        t_sc, _ = timed(partial(factor_scores, res, data), rep)
        if args.no_semopy:
            t_sem, x2_sem = float("nan"), float("nan")
        else:
            t_sem, stats = timed(partial(semopy_fit, data), 1)
            x2_sem = float(stats["chi2"].iloc[0])
        print(f"{n:>9} {res.n:>9} {t_cov:>9.3f} {t_fit:>9.3f} {t_sc:>8.3f} {t_sem:>8.2f} "
              f"{t_sem / t_fit:>13.1f} {res.fit['chisq']:>11.2f} {x2_sem:>12.2f}")

    print("\nA 2,000-respondent study (CFA + factor scores + invariance over 3 regions):")
    data = simulate(2_000, seed=3, groups=3)
    t_all, _ = timed(lambda: (factor_scores(fit_cfa(data, CONSTRUCTS), data),
                              measurement_invariance(data, CONSTRUCTS, "region")), 3)
    t_cfa, _ = timed(lambda: factor_scores(fit_cfa(data, CONSTRUCTS), data), 3)
    print(f"  fit_cfa + factor_scores: {t_cfa:.3f} s;  with measurement_invariance: {t_all:.3f} s")


if __name__ == "__main__":
    main()
