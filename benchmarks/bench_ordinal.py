"""Ordinal (WLSMV) CFA at 10^4 - 10^6 respondents x 20 five-point items: socap vs lavaan.

    python benchmarks/bench_ordinal.py [--sizes 10000,100000,1000000] [--r-sizes 10000,50000]

socap's ``fit_ordinal_cfa`` (thresholds, polychorics, NACOV, DWLS, robust SEs, scaled-shifted
test, all fit indices) against ``lavaan::cfa(..., ordered = items, estimator = "WLSMV")`` on the
same csv (R's time covers the fit only, not reading the csv). lavaan is run only at the sizes in
``--r-sizes`` (its casewise score loops make 10^6 rows take far too long for a shared machine);
the 10^6 ratio is then against lavaan's time extrapolated linearly from its largest size (its
cost is linear in N: one pass of casewise scores per item pair plus crossprod(SC)), and the table
says so. Both run single-threaded BLAS. The script also prints the largest difference of the
scaled chi-square and the standardised loadings between the two at the common sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.measure.sem.ordinal import fit_ordinal_cfa  # noqa: E402

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
items <- setdiff(names(d), "id")
model <- paste(sapply(0:3, function(j) paste0("f", j, " =~ ",
               paste0("f", j, "_", 0:4, collapse = " + "))), collapse = "\n")
t <- system.time(fit <- cfa(model, data = d, ordered = items, estimator = "WLSMV"))[["elapsed"]]
fm <- fitMeasures(fit, c("chisq.scaled", "cfi.robust", "rmsea.robust"))
st <- standardizedSolution(fit)
cat(jsonlite::toJSON(list(seconds = t, fit = as.list(fm),
    std = st$est.std[st$op == "=~"]), digits = NA, auto_unbox = TRUE))
"""


def simulate(n: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal(np.zeros(4), 0.4 * np.ones((4, 4)) + 0.6 * np.eye(4), size=n)
    cols, cons = {}, {}
    cuts = np.array([-1.5, -0.5, 0.5, 1.4])
    for j in range(4):
        cons[f"f{j}"] = []
        for k in range(5):
            lam = 0.6 + 0.05 * k
            y = lam * f[:, j] + np.sqrt(1 - lam ** 2) * rng.standard_normal(n)
            name = f"f{j}_{k}"
            cols[name] = (np.searchsorted(cuts + 0.1 * k, y) + 1).astype(np.int8)
            cons[f"f{j}"].append(name)
    return pd.DataFrame(cols), cons


def run_socap(d, cons, repeats):
    best, res = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fit_ordinal_cfa(d, cons)
        best = min(best, time.perf_counter() - t)
    return best, res


def run_lavaan(d, folder: Path):
    csv = folder / f"ord_{len(d)}.csv"
    d.to_csv(csv, index_label="id")
    script = folder / "bench_ordinal.R"
    script.write_text(R_SCRIPT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--r-sizes", default="10000,50000")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    r_sizes = [int(s) for s in a.r_sizes.split(",")] if a.r_sizes else []
    have_r = shutil.which("Rscript") is not None
    rows = []
    r_times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(set(sizes) | set(r_sizes if have_r else [])):
            d, cons = simulate(n)
            t_s, res = (run_socap(d, cons, a.repeats if n < 10 ** 6 else 1)
                        if n in sizes else (np.nan, None))
            lav = run_lavaan(d, Path(tmp)) if have_r and n in r_sizes else None
            if lav:
                r_times[n] = lav["seconds"]
            diff = ""
            if lav and res is not None:
                mine = res.loadings["std"].to_numpy()
                d_std = float(np.max(np.abs(mine - np.array(lav["std"]))))
                d_chi = abs(res.fit["chisq_scaled"] - lav["fit"]["chisq.scaled"])
                diff = f"max |d std| {d_std:.1e}, |d chisq_scaled| {d_chi:.1e}"
            rows.append((n, t_s, lav["seconds"] if lav else np.nan, diff))
    big = max(r_times) if r_times else None
    print(f"{'n':>9} {'socap s':>9} {'lavaan s':>10} {'ratio':>7}  note")
    for n, t_s, t_r, diff in rows:
        if np.isfinite(t_r):
            ratio, note = t_s / t_r, diff
        elif big and np.isfinite(t_s):
            est = r_times[big] * n / big
            ratio, note = t_s / est, (f"lavaan extrapolated linearly from n = {big:,}: "
                                      f"{est:,.0f} s")
            t_r = est
        else:
            ratio, note = np.nan, ""
        print(f"{n:>9,} {t_s:>9.2f} {t_r:>10.2f} {ratio:>7.3f}  {note}")


if __name__ == "__main__":
    main()
