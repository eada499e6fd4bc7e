"""socap power: replications per second per core, and scaling with workers.

Runs the bundled example's catalytic model (poisson, cluster-robust SEs, mean scores) on two
designs and times the same replications

* in this process (-j 1): replications per second on one core, per design size;
* on local loky processes (-j 2);
* on a dask ``LocalCluster(processes=True)`` with 1 and 2 workers (one thread each), through
  ``--scheduler``'s code path.

Pools and clusters are started and warmed (workers' imports done) by a small run first, so
the table shows the steady rate of a long planning run; each timed run still includes the
client connection and the scenario's transfer.

Every run uses no cache, and all give the same significant counts (checked). Ratios are
against the in-process run of the same work, measured in the same session.

    .venv/bin/python benchmarks/bench_power.py [--replications 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=300, help="per design (default 300)")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from pipeline.config.study import PowerConfig, read_study
    from pipeline.power import Design, run_power, study_scenario

    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "instruments", tmp / "instruments")
    shutil.copy(ROOT / "study.yaml", tmp / "study.yaml")
    study = read_study(tmp)
    scenario = study_scenario(study, PowerConfig())
    R = args.replications
    small = [Design(6, 10, 3.0, 0.15, 0.4, 0.8)]          # 60 firms, ~180 respondents
    example = [Design(12, 25, 5.0, 0.15, 0.4, 0.8)]       # the example's size: 300 firms, ~1,500
    work = small + example

    cpu = {}

    def timed(designs, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        out = run_power(scenario, designs, replications=R, alpha=0.05, target=0.8,
                        entropy=2026, cache=None, progress=False, **kw)
        cpu["last"] = time.process_time() - c0  # this process only (all work with -j 1)
        return time.perf_counter() - t0, out

    rows = []
    for label, designs in (("60 firms, ~180 respondents", small),
                           ("300 firms, ~1,500 respondents", example)):
        run_power(scenario, designs, replications=2, alpha=0.05, target=0.8, entropy=1,
                  cache=None, progress=False, jobs=1)  # warm-up (imports, loadings)
        sec, _ = timed(designs, jobs=1)
        rows.append((f"in-process (-j 1), {label}", R, sec, R / sec, None, R / cpu["last"]))
    base_sec, base = timed(work, jobs=1)
    n = 2 * R
    rows.append(("in-process (-j 1), both designs", n, base_sec, n / base_sec, 1.0,
                 n / cpu["last"]))
    warm = [Design(2, 5, 2.0, 0.1, 0.4, 0.8)]
    run_power(scenario, warm, replications=80, alpha=0.05, target=0.8, entropy=1, cache=None,
              progress=False, jobs=2)  # loky's reusable pool started and its workers warm
    sec, out = timed(work, jobs=2)
    assert [d["significant"] for d in out["designs"]] == [d["significant"] for d in base["designs"]]
    rows.append(("local loky processes (-j 2), both designs", n, sec, n / sec, base_sec / sec,
                 None))
    try:
        import distributed
    except ImportError:
        distributed = None
    if distributed is not None:
        for workers in (1, 2):
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as cluster:
                run_power(scenario, warm, replications=80, alpha=0.05, target=0.8, entropy=1,
                          cache=None, progress=False, scheduler=cluster.scheduler_address)
                sec, out = timed(work, scheduler=cluster.scheduler_address)
            assert [d["significant"] for d in out["designs"]] == [
                d["significant"] for d in base["designs"]]
            rows.append((f"dask LocalCluster, {workers} worker{'s' if workers > 1 else ''}, "
                         "both designs", n, sec, n / sec, base_sec / sec, None))
    shutil.rmtree(tmp, ignore_errors=True)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"socap power: the example's catalytic model (poisson, se: cluster), {R} replications "
          f"per design; {os.cpu_count()} cores, load average {load} at the end")
    print(f"{'engine and work':<50} {'reps':>5} {'seconds':>8} {'reps/s':>7} {'vs -j 1':>8} "
          f"{'reps/CPU-s':>10}")
    for label, reps, sec, rate, ratio, per_cpu in rows:
        print(f"{label:<50} {reps:>5} {sec:>8.2f} {rate:>7.1f} "
              f"{'' if ratio is None else f'{ratio:.2f}x':>8} "
              f"{'' if per_cpu is None else f'{per_cpu:.1f}':>10}")
    print("reps/CPU-s: replications per second of CPU time of this process (the rate of one "
          "free core)")


if __name__ == "__main__":
    main()
