"""Ordinal (WLSMV, Wu & Estabrook 2016) measurement invariance: socap vs lavaan + semTools.

    python benchmarks/bench_ordinal_invariance.py [--sizes 10000,100000] [--r-sizes 3000]

Data: 20 five-point items, four correlated constructs of five items, three groups of equal size
(group 2's thresholds shifted by .1, simulated, seed 1). socap's time is ``ordinal_invariance``
end to end (per-group thresholds, polychorics and NACOV; the four levels by multi-group DWLS;
scaled-shifted tests; the three Satorra 2000 difference tests). Baselines in the same run: the
single-group WLSMV CFA on the same rows (``fit_ordinal_cfa``: one set of sample statistics, one
fit) and, at ``--r-sizes``, lavaan 0.6 + semTools (``measEq.syntax`` + ``cfa(estimator =
"WLSMV")`` per level + ``lavTestLRT``; R's time covers the fits and tests, not reading the csv).
Single-threaded BLAS.
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
from pipeline.measure.sem.ordinal_groups import ordinal_invariance  # noqa: E402

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
a <- commandArgs(TRUE); d <- read.csv(a[1]); items <- setdiff(names(d), "g")
model <- readLines(a[2])
t0 <- proc.time()[["elapsed"]]
fits <- list()
for (ge in list("", "thresholds", c("thresholds", "loadings"),
                c("thresholds", "loadings", "intercepts"))) {
  syn <- measEq.syntax(model, data = d, ordered = items, group = "g", ID.fac = "std.lv",
                       ID.cat = "Wu.Estabrook.2016", parameterization = "delta", group.equal = ge)
  fits[[length(fits) + 1]] <- cfa(as.character(syn), data = d, ordered = items, group = "g",
                                  estimator = "WLSMV", parameterization = "delta")
}
lrt <- sapply(2:4, function(k) lavTestLRT(fits[[k - 1]], fits[[k]],
                                          method = "satorra.2000")[["Chisq diff"]][2])
el <- proc.time()[["elapsed"]] - t0
cat(toJSON(list(time = el, chisq_scaled = sapply(fits, fitMeasures, "chisq.scaled"),
                lrt = lrt), digits = NA, auto_unbox = TRUE))
"""


def simulate(n: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal(np.zeros(4), 0.4 * np.ones((4, 4)) + 0.6 * np.eye(4), size=n)
    g = np.repeat(np.arange(3), -(-n // 3))[:n]
    cols, cons = {"g": np.array(["A", "B", "C"])[g]}, {}
    cuts = np.array([-1.5, -0.5, 0.5, 1.4])
    for j in range(4):
        cons[f"f{j}"] = []
        for k in range(5):
            lam = 0.6 + 0.05 * k
            y = lam * f[:, j] + np.sqrt(1 - lam ** 2) * rng.standard_normal(n) + 0.1 * (g == 1)
            name = f"f{j}_{k}"
            cols[name] = (np.searchsorted(cuts + 0.1 * k, y) + 1).astype(np.int8)
            cons[f"f{j}"].append(name)
    return pd.DataFrame(cols), cons


def best_of(fn, repeats):
    best, res = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def run_r(d, cons):
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, mod, scr = (Path(tmp) / n for n in ("d.csv", "m.txt", "s.R"))
        d.to_csv(csv, index=False)
        mod.write_text("\n".join(f"{c} =~ " + " + ".join(v) for c, v in cons.items()))
        scr.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(scr), str(csv), str(mod)], capture_output=True,
                             text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        if out.returncode != 0:
            print(out.stderr[-2000:])
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--r-sizes", default="3000")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    r_sizes = [int(s) for s in a.r_sizes.split(",") if s]
    rows = []
    for n in sorted(set(sizes) | set(r_sizes)):
        d, cons = simulate(n)
        t_inv, res = best_of(lambda d=d, cons=cons: ordinal_invariance(d, cons, "g"), a.repeats)
        t_one, _ = best_of(lambda d=d, cons=cons: fit_ordinal_cfa(d, cons), a.repeats)
        row = {"n": n, "socap invariance (s)": t_inv, "single-group WLSMV CFA (s)": t_one,
               "ratio": t_inv / t_one, "lavaan+semTools (s)": None, "ratio lavaan": None,
               "max |d chisq_scaled| rel": None, "max |d LRT| rel": None}
        if n in r_sizes:
            r = run_r(d, cons)
            if r is not None:
                ours = [getattr(res, lv).fit["chisq_scaled"] for lv in
                        ("configural", "thresholds", "metric", "scalar")]
                lrt = [getattr(res, lv).chisq_diff for lv in ("thresholds", "metric", "scalar")]
                row["lavaan+semTools (s)"] = r["time"]
                row["ratio lavaan"] = t_inv / r["time"]
                row["max |d chisq_scaled| rel"] = max(abs(x / y - 1) for x, y in
                                                      zip(ours, r["chisq_scaled"]))
                row["max |d LRT| rel"] = max(abs(x / y - 1) for x, y in zip(lrt, r["lrt"]))
        rows.append(row)
        print(row, flush=True)
    frame = pd.DataFrame(rows)
    print()
    print(frame.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
