"""FIML CFA speed: socap (``fit_cfa(..., missing="fiml")``) against lavaan 0.6
(``cfa(model, data, missing = "ml")``) on the same data.

Run from the repository root::

    .venv/bin/python benchmarks/bench_fiml.py                       # socap 10^4..10^6, lavaan 10^4, 10^5
    .venv/bin/python benchmarks/bench_fiml.py --sizes 10000 100000 --lavaan 10000
    .venv/bin/python benchmarks/bench_fiml.py --mlr                 # also estimator = "mlr"

Data: 20 five-point items, five correlated constructs of four items (simulated, seed 1);
every cell missing with probability 5% (MCAR) and the last item of each construct also missing
with probability up to 30% depending on the first item (MAR), so about half the rows are
incomplete, spread over some hundreds of missing-data patterns. socap's time is ``fit_cfa``
end to end (item matrix, pattern statistics, EM saturated model, FIML fit, observed-information
SEs, standardised solution, fit measures, CR/AVE/HTMT). lavaan's is ``system.time(cfa(...))``
inside R (its EM, fit, SEs and test; reading the csv not counted); lavaan is timed only where
it finishes in reasonable time, and the ratio at larger n compares socap with lavaan's time
extrapolated linearly in n from its largest timed size (lavaan's FIML cost is linear in n:
it loops over patterns but evaluates each row's contribution), which the table says.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONSTRUCTS = {f"c{k}": [f"c{k}_{j}" for j in range(1, 5)] for k in range(1, 6)}
ITEMS = [i for its in CONSTRUCTS.values() for i in its]


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = len(CONSTRUCTS)
    phi = 0.4 * np.ones((k, k)) + 0.6 * np.eye(k)
    eta = rng.standard_normal((n, k)) @ np.linalg.cholesky(phi).T
    cols = {}
    cuts = np.array([-1.5, -0.5, 0.5, 1.4])
    for j, (c, items) in enumerate(CONSTRUCTS.items()):
        first = None
        for i, item in enumerate(items):
            lam = 0.55 + 0.1 * i
            y = lam * eta[:, j] + np.sqrt(1 - lam ** 2) * rng.standard_normal(n)
            x = (np.searchsorted(cuts, y) + 1).astype(float)
            if i == 0:
                first = x.copy()
            if i == len(items) - 1:     # MAR: depends on the (complete) first item
                x[rng.random(n) < 0.3 * (first - 1) / 4] = np.nan
            x[rng.random(n) < 0.05] = np.nan
            cols[item] = x
    return pd.DataFrame(cols)


R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
model <- paste(sapply(1:5, function(k) paste0("c", k, " =~ ", paste0("c", k, "_", 1:4,
               collapse = " + "))), collapse = "\n")
est <- if (length(args) > 1) args[2] else "ML"
t <- system.time(fit <- cfa(model, data = d, missing = "ml", estimator = est))[["elapsed"]]
cat(t, fitMeasures(fit, "chisq"), "\n")
"""


def lavaan_time(data: pd.DataFrame, estimator: str = "ML") -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False, na_rep="NA")
        script = Path(tmp) / "b.R"
        script.write_text(R_CODE)
        out = subprocess.run(["Rscript", str(script), str(csv), estimator], capture_output=True,
                             text=True, check=False)
    if out.returncode != 0:
        return float("nan"), float("nan")
    t, chisq = out.stdout.split()[:2]
    return float(t), float(chisq)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--lavaan", type=int, nargs="*", default=[10_000, 100_000],
                    help="sizes at which lavaan is timed (it is extrapolated above them)")
    ap.add_argument("--mlr", action="store_true", help="also time estimator = mlr")
    ap.add_argument("--lavaan-cache", type=Path, default=None,
                    help="json file of lavaan timings by n (same seeded data): read if present, "
                         "written after timing, so that socap can be re-timed alone")
    args = ap.parse_args()
    from pipeline.measure.cfa import fit_cfa
    from pipeline.measure.sem.fiml import missing_patterns

    have_r = subprocess.run(["Rscript", "-e", "library(lavaan)"], capture_output=True,
                            check=False).returncode == 0 if _which("Rscript") else False
    print(f"FIML CFA, 20 items, 5 factors; machine: {os.cpu_count()} cores (shared)")
    print(f"{'n':>9} {'patterns':>8} {'incomplete':>10} {'socap s':>8} {'chisq':>11} "
          f"{'lavaan s':>9} {'lavaan chisq':>12} {'ratio':>7}  note")
    last_lav = None
    import json  # noqa: PLC0415

    cache = {}
    if args.lavaan_cache and args.lavaan_cache.exists():
        cache = json.loads(args.lavaan_cache.read_text())
    for n in args.sizes:
        data = simulate(n)
        pat = missing_patterns(data[ITEMS].to_numpy(float))
        t = time.perf_counter()
        r = fit_cfa(data, CONSTRUCTS, missing="fiml")
        t_socap = time.perf_counter() - t
        note = ""
        t_lav = chisq_lav = float("nan")
        if str(n) in cache and n in args.lavaan:
            t_lav, chisq_lav = cache[str(n)]
            last_lav = (n, t_lav)
            note = "lavaan timed (earlier run of this script, same data)"
        elif have_r and n in args.lavaan:
            t_lav, chisq_lav = lavaan_time(data)
            last_lav = (n, t_lav)
            note = "lavaan timed"
            if args.lavaan_cache:
                cache[str(n)] = [t_lav, chisq_lav]
                args.lavaan_cache.write_text(json.dumps(cache))
        elif last_lav is not None:
            t_lav = last_lav[1] * n / last_lav[0]
            note = f"lavaan extrapolated linearly from n = {last_lav[0]}"
        ratio = t_socap / t_lav if np.isfinite(t_lav) else float("nan")
        incomplete = 1 - float(data[ITEMS].notna().all(axis=1).mean())
        print(f"{n:>9} {len(pat.n):>8} {incomplete:>10.2f} {t_socap:>8.2f} "
              f"{r.fit['chisq']:>11.3f} {t_lav:>9.2f} {chisq_lav:>12.3f} {ratio:>7.3f}  {note}")
        if args.mlr:
            t = time.perf_counter()
            rm = fit_cfa(data, CONSTRUCTS, estimator="mlr", missing="fiml")
            t_m = time.perf_counter() - t
            print(f"{'':>9} MLR + FIML: socap {t_m:.2f} s, scaled chisq "
                  f"{rm.fit['chisq_scaled']:.3f}, scaling factor {rm.fit['scaling_factor']:.4f}")


def _which(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


if __name__ == "__main__":
    main()
