"""Measurement-stage speed: socap against a naive pandas / pingouin / factor_analyzer pipeline.

The measurement stage is: item moments (one pass), reliability of every construct (alpha, Feldt
interval, item statistics, omega), sampling adequacy (KMO, Bartlett), factor counts (parallel
analysis with 20 simulated data sets, Kaiser, MAP) and a 3-factor ML/oblimin EFA.

The baseline does the same work the way it is usually written in Python, in the same run on the
same data: pandas pairwise ``cov``/``corr``/``mean``/``std`` and listwise ``dropna().cov()``,
``pingouin.cronbach_alpha`` per construct, factor_analyzer's ``calculate_kmo`` and
``calculate_bartlett_sphericity`` (on listwise-complete rows: its KMO fails on missing values) and
``FactorAnalyzer(3, method="ml", rotation="oblimin")``, and parallel analysis by simulating 20
normal n x p data sets and taking ``np.corrcoef`` eigenvalues (what ``psych::fa.parallel`` does).
It computes less than socap (no item statistics, omega, MAP, factor-eigenvalue line), so the ratio
understates the difference. The baseline runs with BLAS limited to one thread, as socap's stage
does internally: on a small shared machine threaded OpenBLAS is many times slower on these
shapes, and the comparison should measure the algorithms, not that pathology.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_measurement.py [--sizes 10000 100000 1000000]
        [--repeat 3] [--items 20] [--missing 0.05] [--no-baseline]

Times are wall-clock seconds: socap's fastest of ``--repeat`` runs (every column from that run),
the baseline's single run. Import costs are measured in fresh
interpreters.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.measure.factors import efa, factor_count, sampling_adequacy
from pipeline.measure.moments import item_moments, single_blas_thread
from pipeline.measure.reliability import scale_reliability


def simulate(n: int, p: int, missing: float, seed: int) -> tuple[pd.DataFrame, dict]:
    """Three correlated constructs of 1-5 Likert items (7 + 7 + 6 for p = 20), MCAR missing."""
    rng = np.random.default_rng(seed)
    k = 3
    phi = np.array([[1, 0.3, 0.2], [0.3, 1, 0.25], [0.2, 0.25, 1]])
    f = rng.standard_normal((n, k)) @ np.linalg.cholesky(phi).T
    groups = np.array_split(np.arange(p), k)
    x = np.empty((n, p))
    constructs = {}
    for c, idx in enumerate(groups):
        constructs[f"construct_{c + 1}"] = [f"q{j + 1}" for j in idx]
        for j in idx:
            lam = 0.55 + 0.25 * rng.random()
            z = lam * f[:, c] + np.sqrt(1 - lam * lam) * rng.standard_normal(n)
            x[:, j] = np.digitize(z, [-1.5, -0.5, 0.5, 1.5]) + 1
    x[rng.random((n, p)) < missing] = np.nan
    return pd.DataFrame(x, columns=[f"q{j + 1}" for j in range(p)]), constructs


def socap_stage(df: pd.DataFrame, constructs: dict, seed: int = 0) -> dict:
    t = {}
    t0 = time.perf_counter()
    m = item_moments(df)
    t["moments"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name, items in constructs.items():
        scale_reliability(m, items, name=name)
    t["reliability"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ad = sampling_adequacy(m)
    t["adequacy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = factor_count(m, seed=seed)
    t["parallel"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    efa(m, n_factors=3, method="ml", rotation="oblimin", adequacy=ad, count=fc)
    t["efa"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def baseline_stage(df: pd.DataFrame, constructs: dict, seed: int = 0) -> dict:
    import warnings

    import pingouin as pg
    from factor_analyzer import FactorAnalyzer
    from factor_analyzer.factor_analyzer import calculate_bartlett_sphericity, calculate_kmo

    warnings.filterwarnings("ignore", category=FutureWarning)  # sklearn's force_all_finite
    with single_blas_thread():
        return _baseline(
            df, constructs, seed, pg, FactorAnalyzer, calculate_kmo, calculate_bartlett_sphericity
        )


def _baseline(
    df, constructs, seed, pg, FactorAnalyzer, calculate_kmo, calculate_bartlett_sphericity
) -> dict:
    t = {}
    t0 = time.perf_counter()
    df.cov()
    corr = df.corr()
    df.mean()
    df.std()
    complete = df.dropna()
    complete.cov()
    t["moments"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for items in constructs.values():
        pg.cronbach_alpha(data=df[items])
    t["reliability"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    calculate_kmo(complete)
    calculate_bartlett_sphericity(complete)
    t["adequacy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n, p = df.shape
    np.linalg.eigvalsh(corr.to_numpy())
    sims = [
        np.linalg.eigvalsh(np.corrcoef(rng.standard_normal((n, p)), rowvar=False))
        for _ in range(20)
    ]
    np.quantile(np.array(sims), 0.95, axis=0)
    t["parallel"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    FactorAnalyzer(n_factors=3, method="ml", rotation="oblimin").fit(complete)
    t["efa"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def import_time(code: str) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t = time.perf_counter(); " + code + "; print(time.perf_counter() - t)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--missing", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    print(
        f"bench_measurement  {_dt.datetime.now().isoformat(timespec='seconds')}  "
        f"python {platform.python_version()}  numpy {np.__version__}  pandas {pd.__version__}  "
        f"cpus {os.cpu_count()}  load {os.getloadavg()[0]:.2f}"
    )
    print(f"{args.items} items (3 constructs, 1-5 Likert), {args.missing:.0%} missing (MCAR)\n")

    imp_socap = min(
        # what the stage imports (SciPy's L-BFGS-B is loaded without scipy.optimize, see
        # pipeline/lbfgsb.py); the baseline's libraries import it themselves
        import_time("import pipeline.measure.moments, pipeline.measure.reliability, pipeline.measure.factors, "
                    "pipeline.measure.sem.lbfgsb; pipeline.measure.sem.lbfgsb._load()")
        for _ in range(3)
    )
    imp_base = min(import_time("import pandas, pingouin, factor_analyzer") for _ in range(2))
    print(
        f"import: socap measurement modules {imp_socap:.2f} s;  "
        f"pandas + pingouin + factor_analyzer {imp_base:.2f} s\n"
    )

    parts = ["moments", "reliability", "adequacy", "parallel", "efa", "total"]
    header = f"{'n':>9} {'impl':>8} " + " ".join(f"{p:>11}" for p in parts) + f" {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        df, constructs = simulate(n, args.items, args.missing, seed=n)
        socap_stage(df.iloc[:1000], constructs)  # warm-up: lazy imports, thread controller
        runs = [socap_stage(df, constructs) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["total"])
        print(f"{n:>9} {'socap':>8} " + " ".join(f"{best[p]:>11.4f}" for p in parts))
        if not args.no_baseline:
            try:
                base = baseline_stage(df, constructs)
                ratio = base["total"] / best["total"]
                print(
                    f"{n:>9} {'naive':>8} "
                    + " ".join(f"{base[p]:>11.4f}" for p in parts)
                    + f" {ratio:>6.1f}x"
                )
            except Exception as exc:  # noqa: BLE001 - a baseline library failing is itself a finding
                print(f"{n:>9} {'naive':>8} failed: {type(exc).__name__}: {exc}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
