"""Measurement-invariance speed: the second-order model against the first-order one.

Run from the repository root::

    .venv/bin/python benchmarks/bench_invariance.py                 # 2,000, 10^5, 10^6 rows
    .venv/bin/python benchmarks/bench_invariance.py --sizes 2000 100000

Data: bench_cfa.py's 20 five-point items of five correlated constructs (2% missing at random)
in 3 regions. ``measurement_invariance`` end to end (item matrix, per-group moments, configural /
metric / scalar fits, fit measures, score tests): on the first-order model (the baseline, same
run, same data) and with a second-order factor over the five constructs (one more model: the
second-order scalar level). Both rest on one pass over the rows for the groups' moments, so the
ratio should stay near 1 + (model fits) / (total) at any size.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cfa import CONSTRUCTS, simulate, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[2_000, 100_000, 1_000_000])
    args = parser.parse_args()
    from pipeline.measure.cfa import measurement_invariance

    higher = {"sc": list(CONSTRUCTS)}
    head = (f"{'rows':>9} {'first-order s':>14} {'second-order s':>15} {'ratio':>6} "
            f"{'levels (second-order)':>34}")
    print("measurement_invariance, 20 items / 5 constructs / 3 regions (best of 3 below 10^6):")
    print(head)
    print("-" * len(head))
    for n in args.sizes:
        data = simulate(n, seed=3, groups=3)
        rep = 3 if n < 1_000_000 else 1
        t1, r1 = timed(partial(measurement_invariance, data, CONSTRUCTS, "region"), rep)
        t2, r2 = timed(partial(measurement_invariance, data, CONSTRUCTS, "region",
                               higher_order=higher), rep)
        levels = f"{r2.level_reached}" + (" + 2nd-order scalar" if r2.second_order_scalar
                                          and r2.second_order_scalar.holds else "")
        print(f"{n:>9} {t1:>14.3f} {t2:>15.3f} {t2 / t1:>6.2f} {levels:>34}")


if __name__ == "__main__":
    main()
