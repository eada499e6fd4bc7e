"""What personal-data detection by content costs at ingest (issue 18A).

    python benchmarks/bench_personal.py [ROWS,ROWS,...]      (default 10000,100000,1000000)

For each size, writes a csv export (respondent id, firm id, 20 Likert items, a department, a
free-text column of mostly distinct sentences with digits in them -- the slowest case for the
phone test -- and an e-mail column), then times, in this process, best of 3:

* ``read``: :func:`pipeline.ingest.plain.read_export` as a run calls it (parse, type, detect, drop);
* ``by content``: :func:`pipeline.ingest.personal.find_personal` on the read frame's columns
  (what detection by content adds; by name costs microseconds);

and prints a table with the share of the read the detection takes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ingest.personal import find_personal  # noqa: E402
from pipeline.ingest.plain import read_export  # noqa: E402


def export(n: int, folder: Path) -> Path:
    rng = np.random.default_rng(1)
    words = np.array(["the", "firm", "network", "we", "cooperate", "with", "suppliers", "2019",
                      "often", "R&D", "5", "10", "good", "slow", "15", "1.5"])
    frame = pd.DataFrame({"ResponseId": [f"R_{i:07d}" for i in range(n)],
                          "firm_id": [f"F{i:05d}" for i in rng.integers(0, max(n // 5, 1), n)]})
    for k in range(20):
        frame[f"item_{k + 1}"] = rng.integers(1, 6, n)
    frame["department"] = rng.choice(["Sales", "R&D", "Production", "Admin"], n)
    text = rng.choice(words, (n, 10))
    frame["comments"] = [" ".join(r) + f" {i}" for i, r in enumerate(text)]
    frame["contact"] = [f"person{i}@firm{i % 97}.example.org" for i in range(n)]
    path = folder / f"survey_{n}.csv"
    frame.to_csv(path, index=False)
    return path


def best(f, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    sizes = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "10000,100000,1000000").split(",")]
    items = [f"item_{k + 1}" for k in range(20)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = export(n, Path(tmp))
            t_read, exp = best(lambda: read_export(path, known_names=items,
                                                   keep=["ResponseId", "firm_id"]))
            assert "contact" in exp.personal_data_dropped
            frame = pd.read_csv(path, dtype={"comments": str})  # the same cells, for the timing
            cols = [c for c in frame.columns if c not in items]
            t_content, found = best(lambda: find_personal(cols, frame, keep=["ResponseId",
                                                                             "firm_id"]))
            rows.append((n, t_read, t_content, [f.column for f in found]))
    print("| rows | read_export s | detection by content s | share of the read | dropped |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for n, t_read, t_content, dropped in rows:
        print(f"| {n:,} | {t_read:.3f} | {t_content:.3f} | {t_content / t_read:.0%} | "
              f"{', '.join(dropped)} |")


if __name__ == "__main__":
    main()
