"""Speed of reading and cleaning survey exports (prints a table; no asserts).

    python benchmarks/bench_ingest.py [--rows 100000] [--repeat 3]

For each layout a simulated export of ``--rows`` responses (20 items, 8 other columns) is written
once, then read ``--repeat`` times; the best time is shown next to a baseline measured in the
same run on the same file: ``pandas.read_csv(path)`` for text files and
``pandas.read_excel(path, engine="calamine")`` for workbooks (plain parsing, no typing, no
header interpretation, no checks). ``clean`` adds item mapping, recoding of label texts, missing
codes, reverse keying and the quality rules.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from ingest_writers import qualtrics_rows, study, write

    from pipeline.clean import clean_responses
    from pipeline.ingest.survey import read_survey
    from pipeline.ingest.plain import read_export
    from pipeline.config.instrument import default_instrument_path, read_instrument
    from pipeline.simulate import SimulationSpec, simulate_study
    from pipeline.config.study import read_study

    inst = read_instrument(default_instrument_path())
    firms = max(1, args.rows // 5)
    spec = SimulationSpec(seed=1, regions=1, clusters_per_region=10,
                          firms_per_cluster=max(2, firms // 10), respondents_per_firm=5)
    frame = simulate_study(spec, inst).survey.iloc[:args.rows]
    n = len(frame)
    tmp = Path(tempfile.mkdtemp(prefix="socap-bench-"))
    files = {}
    t0 = time.perf_counter()
    files["plain csv"] = tmp / "plain.csv"
    frame.to_csv(files["plain csv"], index=False)
    files["qualtrics csv (text answers)"] = write(tmp / "qualtrics.csv", qualtrics_rows(frame, inst))
    files["plain xlsx"] = tmp / "plain.xlsx"
    write(files["plain xlsx"], [list(frame.columns)] + frame.values.tolist())
    files["qualtrics xlsx (text answers)"] = write(tmp / "qualtrics.xlsx", qualtrics_rows(frame, inst))
    print(f"wrote {len(files)} exports of {n} responses in {time.perf_counter() - t0:.0f} s "
          f"({tmp})\n")

    rows = []
    for name, path in files.items():
        if path.suffix == ".csv":
            base = best(lambda: pd.read_csv(path, low_memory=False), args.repeat)
        else:
            base = best(lambda: pd.read_excel(path, engine="calamine"), args.repeat)
        read = best(lambda: read_export(path, known_names=inst.item_ids), args.repeat)
        folder = study(tmp / name.replace(" ", "_").replace("(", "").replace(")", ""),
                       [path.name], id_column="ResponseId")
        target = folder / "data" / "raw" / path.name
        if not target.exists():
            target.symlink_to(path)
        st = read_study(folder)
        raw = read_survey(st, inst)
        clean = best(lambda: clean_responses(raw, inst, st.config), args.repeat)
        rows.append({"export": name, "rows": n, "baseline s": round(base, 2),
                     "socap read s": round(read, 2), "read / baseline": round(read / base, 2),
                     "clean s": round(clean, 2), "read + clean s": round(read + clean, 2)})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
