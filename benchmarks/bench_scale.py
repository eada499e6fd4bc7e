"""socap at national scale against R and the usual Python libraries (prints tables; no asserts
except that the xlsx readers agree).

    python benchmarks/bench_scale.py [--sizes 2000,200000,1000000] [--formats csv,parquet]
                                     [--repeat 3] [--no-r] [--no-naive] [--xlsx-rows 100000]
                                     [--work DIR] [--keep]

For each size a study is written by ``socap simulate`` (1 region, 7 clusters of 7 firms: 49 units,
``--respondents-per-firm size/49``; the simulator adds its problem rows, so the export holds ~5%
more responses than ``size``), once per format from the same seed (the same responses as csv and
as parquet). Then, on the same folder, each of these runs in a fresh process, ``--repeat`` times,
best wall time shown (wall and peak RSS are those of the process, imports included, measured
with ``os.wait4``, i.e. as a user experiences them):

- socap      ``python -m pipeline run STUDY``: every stage, report, tables.xlsx, figures and the
             processed parquet files included; stage times from its ``results.json``;
- naive      ``benchmarks/bench_scale_naive.py``: pandas + pingouin + factor_analyzer + semopy +
             statsmodels as their documentation shows (see that file);
- R          ``benchmarks/bench_scale_r.R`` (data.table::fread, psych, lavaan, multilevel,
             sandwich, lmtest), when ``Rscript`` is installed; R reads the csv export, once per
             size: the parquet rows compare with that same R run (no R parquet reader is
             installed here).

The baselines compute alpha per construct, KMO and Bartlett, a k-factor ML EFA (k = constructs),
the CFA with the second-order factor, ICC(1)/ICC(2) per construct and the clustered Poisson
moderation model; socap computes all of that and more (parallel analysis, omega and item
statistics, exclusion rules, factor scores, rwg(j), network measures, simple slopes and
Johnson-Neyman, the report). pingouin imports matplotlib, which socap does not need (and hides
from python-igraph, which would import it whenever it is installed): the benchmark installs it
with ``pip install --no-deps --target`` into a private folder that only the naive baseline's
process adds to its ``sys.path``, so that it is there whatever the environment holds.

The xlsx table compares reading a ``--xlsx-rows`` export: socap's reader (python-calamine) against
``pandas.read_excel(engine="openpyxl")``, asserting identical values.

The machine's load average is printed beside each measurement: other processes slow every tool
alike, but the ratios of one run are what the targets are stated in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
UNITS = (1, 7, 7)  # regions, clusters per region, firms per cluster: 49 units


def run_measured(cmd: list[str], cwd: Path | None = None, env=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one command in a fresh process."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    if env is None:  # as installed: bytecode cached (a session may have switched it off)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           f"{stdout[-2000:]}\n{err.read().decode(errors='replace')[-4000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def best_of(fn, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        res = fn()
        res["load"] = load
        runs.append(res)
    best = min(runs, key=lambda r: r["wall"])
    best["rss"] = max(r["rss"] for r in runs)
    best["walls"] = [round(r["wall"], 2) for r in runs]
    return best


def make_study(work: Path, size: int, fmt: str, seed: int) -> Path:
    folder = work / f"study_{size}_{fmt}"
    if folder.exists():
        return folder
    per_firm = max(2, round(size / (UNITS[0] * UNITS[1] * UNITS[2])))
    subprocess.run([PY, "-m", "pipeline", "simulate", str(folder), "--seed", str(seed),
                    "--format", fmt, "--regions", str(UNITS[0]),
                    "--clusters-per-region", str(UNITS[1]), "--firms-per-cluster", str(UNITS[2]),
                    "--respondents-per-firm", str(per_firm)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return folder


def baseline_spec(study: Path, work: Path) -> Path:
    """The instrument and study settings the baselines need, as JSON."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config.instrument import read_instrument
    from pipeline.config.study import read_study

    st = read_study(study)
    cfg = st.config
    inst = read_instrument(st.path(cfg.instrument))
    constructs = {c: list(items) for c, items in inst.construct_items().items()}
    higher = dict(inst.higher_order)
    model = cfg.analysis.models[0]
    items = inst.item_ids
    sc = inst.item(items[0]).scale
    spec = {
        "survey": str(Path(cfg.survey.files[0])),
        "constructs": constructs,
        "reverse": [i for i in items if inst.item(i).reverse],
        "missing": [str(m) for m in list(inst.missing) + list(cfg.survey.missing)],
        "min": sc.min, "max": sc.max,
        "higher_name": next(iter(higher)),
        "unit": cfg.survey.unit, "unit_id": cfg.units.id,
        "units_file": cfg.units.file, "ties_file": cfg.network.edges,
        "formula": model.formula, "cluster": model.cluster,
    }
    path = work / f"spec_{study.name}.json"
    path.write_text(json.dumps(spec))
    return path


def rows_of(study: Path) -> int:
    raw = study / "data" / "raw"
    f = next(raw.glob("survey.*"))
    if f.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(f).metadata.num_rows
    with open(f, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 24), b"")) - 1


def run_socap(study: Path) -> dict:
    wall, rss, out = run_measured([PY, "-m", "pipeline", "run", str(study)], cwd=ROOT)
    res = json.loads((study / "reports" / "results.json").read_text())
    # results.json is written by the report stage, so its record stops before it: the stage
    # times are read from the progress lines, "(0.42 s)" after each stage, in order
    shown = [float(m) for m in re.findall(r"\((\d+\.\d+) s\)$", out, flags=re.M)]
    names = list(res["run"]["seconds"]) + ["report"]
    return {"wall": wall, "rss": rss, "stages": dict(zip(names, shown)),
            "n": res["sample"]["respondents"]}


def run_naive(study: Path, spec: Path, site: Path | None) -> dict:
    cmd = [PY, str(ROOT / "benchmarks" / "bench_scale_naive.py"), str(study), str(spec)]
    if site:
        cmd += ["--site", str(site)]
    wall, rss, out = run_measured(cmd, cwd=ROOT)
    res = json.loads(out.strip().splitlines()[-1])
    return {"wall": wall, "rss": rss, "stages": res["times"], "n": res["n"]}


def run_r(study: Path, spec: Path) -> dict:
    spec_data = json.loads(spec.read_text())
    if not spec_data["survey"].endswith(".csv"):  # R reads the csv twin
        csv_twin = study.parent / study.name.replace("_parquet", "_csv")
        study = csv_twin
    wall, rss, out = run_measured(["Rscript", str(ROOT / "benchmarks" / "bench_scale_r.R"),
                                   str(study), str(spec)], cwd=ROOT)
    res = json.loads(out.strip().splitlines()[-1])
    return {"wall": wall, "rss": rss, "stages": res["times"], "n": res["n"]}


def naive_site(work: Path) -> Path | None:
    """A private folder with matplotlib for pingouin's import (None when the venv has it)."""
    probe = subprocess.run([PY, "-c", "import matplotlib"], capture_output=True)
    if probe.returncode == 0:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "socap-bench-site"
    if not (cache / "matplotlib").exists():
        print(f"installing matplotlib for the naive baseline into {cache} (pip --target) ...",
              flush=True)
        subprocess.run([PY, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                        str(cache), "matplotlib", "contourpy", "cycler", "kiwisolver",
                        "fonttools", "pyparsing"], check=True)
    return cache


def xlsx_comparison(work: Path, rows: int, repeat: int) -> list[str]:
    """socap's xlsx read (python-calamine) against pandas' openpyxl engine, same values."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np
    import pandas as pd
    from ingest_writers import write

    from pipeline.ingest.tables import read_grid
    from pipeline.config.instrument import default_instrument_path, read_instrument
    from pipeline.simulate import SimulationSpec, simulate_study

    path = work / f"survey_{rows}.xlsx"
    if not path.exists():
        inst = read_instrument(default_instrument_path())
        spec = SimulationSpec(seed=3, regions=1, clusters_per_region=10,
                              firms_per_cluster=max(2, rows // 50), respondents_per_firm=5)
        frame = simulate_study(spec, inst).survey.iloc[:rows]
        write(path, [list(frame.columns)] + frame.values.tolist())

    def timed(fn):
        best, value = float("inf"), None
        for _ in range(repeat):
            t0 = time.perf_counter()
            value = fn()
            best = min(best, time.perf_counter() - t0)
        return best, value

    t_socap, grid = timed(lambda: read_grid(path).cells)
    t_cal, cal = timed(lambda: pd.read_excel(path, header=None, engine="calamine"))
    t_opx, opx = timed(lambda: pd.read_excel(path, header=None, engine="openpyxl"))

    def norm(frame):
        vals = frame.to_numpy(dtype=object)
        out = np.empty(vals.shape, dtype=object)
        for idx, v in np.ndenumerate(vals):
            if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
                out[idx] = None
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                out[idx] = float(v)
            else:
                out[idx] = v
        return out

    a, b = norm(grid), norm(opx)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = int(sum(1 for x, y in zip(a.ravel(), b.ravel()) if x != y))
    assert diff == 0, f"{diff} cells differ between python-calamine and openpyxl"
    n = len(grid) - 1
    return [
        f"xlsx export of {n:,} responses x {grid.shape[1]} columns "
        f"({path.stat().st_size / 2**20:.1f} MB), best of {repeat}; every cell identical "
        f"(numbers compared as floats, blanks as missing):",
        "",
        "| reader | seconds | ratio to openpyxl |",
        "| --- | ---: | ---: |",
        f"| socap `read_grid` (python-calamine) | {t_socap:.2f} | {t_socap / t_opx:.3f} |",
        f"| `pandas.read_excel(engine=\"calamine\")` | {t_cal:.2f} | {t_cal / t_opx:.3f} |",
        f"| `pandas.read_excel(engine=\"openpyxl\")` | {t_opx:.2f} | 1 |",
    ]


def small_runs(work: Path, repeat: int) -> list[str]:
    """``socap --help`` and the bundled example study (1,616 responses in an xlsx export, 300
    firms, a network of 318 nodes, invariance across 3 regions): wall and peak RSS."""
    example = work / "example"
    if not example.exists():
        example.mkdir()
        shutil.copy(ROOT / "study.yaml", example / "study.yaml")
        shutil.copytree(ROOT / "instruments", example / "instruments")
        shutil.copytree(ROOT / "data" / "raw", example / "data" / "raw")
    help_ = best_of(lambda: dict(zip(("wall", "rss"), run_measured(
        [PY, "-m", "pipeline", "--help"], cwd=ROOT)[:2])), max(repeat, 5))
    ex = best_of(lambda: run_socap(example), max(repeat, 5))
    return [
        f"best of {max(repeat, 5)}:",
        "",
        "| command | wall s | peak MB | load |",
        "| --- | ---: | ---: | ---: |",
        f"| `socap --help` | {help_['wall']:.2f} | {help_['rss']:.0f} | {help_['load']:.1f} |",
        f"| `socap run` bundled example (1,616 responses, xlsx) | {ex['wall']:.2f} | "
        f"{ex['rss']:.0f} | {ex['load']:.1f} |",
        "",
        "example stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in ex["stages"].items()),
    ]


def fmt_mb(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,200000,1000000")
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--parquet-min", type=int, default=200_000,
                    help="parquet rows only for sizes at least this (default 200000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--xlsx-rows", type=int, default=100_000, help="0 to skip")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated studies")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="socap-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    formats = [f for f in args.formats.split(",") if f]
    have_r = shutil.which("Rscript") is not None and not args.no_r
    site = None if args.no_naive else naive_site(work)
    print(f"# socap scale benchmark, {datetime.now().isoformat(timespec='minutes')}")
    print(f"machine: {os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; work folder {work}")
    print(f"best of {args.repeat} runs per cell (of at least 5 below 10,000 responses); RSS = "
          "the largest peak of those runs\n",
          flush=True)

    summary, socap_rows, base_rows = [], [], []
    r_done: dict[int, dict] = {}
    for size in sizes:
        for fmt in formats:
            if fmt == "parquet" and size < args.parquet_min:
                continue
            if fmt == "parquet" and have_r:
                make_study(work, size, "csv", args.seed)
            study = make_study(work, size, fmt, args.seed)
            rows = rows_of(study)
            spec = baseline_spec(study, work)
            # small studies run in a few seconds, where one busy moment of the machine weighs
            # most: at least 5 runs below 10,000 responses
            rep = args.repeat if size >= 10_000 else max(args.repeat, 5)
            res = {"socap": best_of(lambda: run_socap(study), rep)}
            print(f"{rows:>9,} {fmt:7} socap {res['socap']['wall']:.2f} s "
                  f"{res['socap']['rss']:.0f} MB (load {res['socap']['load']:.1f})", flush=True)
            if not args.no_naive:
                res["naive"] = best_of(lambda: run_naive(study, spec, site), rep)
                print(f"{'':>17} naive {res['naive']['wall']:.2f} s "
                      f"{res['naive']['rss']:.0f} MB", flush=True)
            if have_r:
                if size not in r_done:  # R reads the csv export: once per size
                    r_done[size] = best_of(lambda: run_r(study, spec), rep)
                res["R"] = r_done[size]
                print(f"{'':>17} R     {res['R']['wall']:.2f} s {res['R']['rss']:.0f} MB",
                      flush=True)
            s = res["socap"]
            line = f"| {rows:,} | {fmt} | {s['wall']:.2f} | {fmt_mb(s['rss'])} |"
            for tool in ("naive", "R"):
                if tool in res:
                    b = res[tool]
                    other = " (R read the csv)" if tool == "R" and fmt != "csv" else ""
                    line += (f" {b['wall']:.2f} | {fmt_mb(b['rss'])} | "
                             f"{s['wall'] / b['wall']:.3f}{other} |")
                else:
                    line += " - | - | - |"
            line += f" {s['load']:.1f} |"
            summary.append(line)
            st = s["stages"]
            socap_rows.append(f"| {rows:,} | {fmt} | " + " | ".join(
                f"{st.get(k, 0):.2f}" for k in ("read", "clean", "reliability", "efa", "cfa",
                                                 "levels", "models", "report"))
                + f" | {s['wall']:.2f} | {s['wall'] - sum(st.values()):.2f} |")
            for tool in ("naive", "R"):
                if tool in res and not (tool == "R" and fmt != "csv"):
                    b = res[tool]["stages"]
                    base_rows.append(f"| {rows:,} | {fmt} | {tool} | " + " | ".join(
                        f"{b.get(k, 0):.2f}" for k in ("read", "clean", "alpha", "kmo", "efa",
                                                       "cfa", "icc", "model"))
                        + f" | {res[tool]['wall']:.2f} |")

    print("\n## Whole runs (wall seconds and peak RSS in MB of the process; ratio = socap / "
          "baseline)\n")
    print("| responses | format | socap s | socap MB | naive s | naive MB | socap/naive "
          "| R s | R MB | socap/R | load |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(summary))
    print("\n## socap stage times (seconds; `other` = wall - stages: interpreter start, imports "
          "before the first stage, CLI)\n")
    print("| responses | format | read | clean | reliability | efa | cfa | levels | models "
          "| report | wall | other |")
    print("| ---: | --- | " + "---: | " * 10)
    print("\n".join(socap_rows))
    if base_rows:
        print("\n## Baseline stage times (seconds, in-process; imports of each library fall in "
              "its first stage)\n")
        print("| responses | format | tool | read | clean | alpha | kmo+bartlett | efa | cfa "
              "| icc | model | wall |")
        print("| ---: | --- | --- | " + "---: | " * 9)
        print("\n".join(base_rows))
    print("\n## Small runs\n")
    print("\n".join(small_runs(work, args.repeat)))
    if args.xlsx_rows:
        print("\n## xlsx reading\n")
        print("\n".join(xlsx_comparison(work, args.xlsx_rows, args.repeat)))
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
