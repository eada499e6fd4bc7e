"""Speed of the report stage (pipeline.report) and of the whole run it finishes.

Run from the repository root:  /work/venv/bin/python benchmarks/bench_report.py [--nodes N]

Prints three tables:

1. the report stage for a simulated 2,000-respondent study, part by part (best of 5), with the
   same parts done the way the skeleton did them -- matplotlib figures and openpyxl for the
   workbook -- measured in the same run as the baseline (ratio = socap / baseline); the
   baseline's import cost is measured in a fresh interpreter that has loaded what a run loads
   before the report (an import is paid once; socap imports python-igraph with matplotlib
   hidden, so no run pays matplotlib's import);
2. the whole ``socap run`` of that study in a fresh interpreter (wall time, best of 3);
3. the network drawing of random clustered networks up to ``--nodes`` nodes (sampling to 1,500
   nodes, igraph layout, SVG + PNG), best of 3.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(f, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def fresh(code: str, reps: int = 3) -> float:
    """Best wall time of ``code`` in a fresh interpreter (imports included)."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def import_time(before: str, imports: str, reps: int = 3) -> float:
    """Best time of ``imports`` in a fresh interpreter that has already run ``before``."""
    code = (f"{before}\nimport time\nt = time.perf_counter()\n{imports}\n"
            "print(time.perf_counter() - t)")
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                                    capture_output=True, text=True).stdout)
               for _ in range(reps))


def study(folder: Path) -> Path:
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    spec = SimulationSpec(seed=11, regions=3, clusters_per_region=4, firms_per_cluster=34,
                          respondents_per_firm=5)
    write_study(simulate_study(spec), folder)
    return folder


def analysed(folder: Path):
    from pipeline.run import Stages, analyse, provenance, read_inputs, read_study

    s = read_study(folder)
    inputs = read_inputs(s)
    stages = Stages()
    results, artefacts = analyse(inputs, stages)
    return provenance(inputs, datetime.now(timezone.utc), stages.times) | results, artefacts


def mpl_scree(efa: dict, out: Path) -> None:
    """The skeleton's matplotlib scree figure (SVG + PNG), as the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ev = efa["eigenvalues"]
    x = list(range(1, len(ev) + 1))
    ax.plot(x, ev, "o-")
    ax.plot(x, efa["parallel_eigenvalues"], "s--")
    ax.axhline(1, ls=":")
    ax.legend(["observed", "parallel"])
    fig.savefig(out / "scree.svg", format="svg", metadata={"Date": None})
    fig.savefig(out / "scree.png", format="png", dpi=150)
    plt.close(fig)


def openpyxl_tables(tables, path: Path) -> None:
    """The skeleton's openpyxl workbook of the same tables, as the baseline."""
    from openpyxl import Workbook

    from pipeline.report.xlsx import cell_value

    wb = Workbook()
    wb.remove(wb.active)
    for t in tables:
        ws = wb.create_sheet(t.key)
        ws.append([str(c) for c in t.frame.columns])
        for rec in t.frame.itertuples(index=False, name=None):
            ws.append([cell_value(v) for v in rec])
        ws.freeze_panes = "A2"
    wb.save(path)


def clustered_ties(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clusters = max(1, n // 40)
    cl = rng.integers(0, clusters, n)
    order = np.argsort(cl, kind="stable")
    m = 3 * n
    a = rng.integers(0, n, m)
    # most ties inside the cluster: a partner near in cluster order
    near = order[np.clip(np.searchsorted(cl[order], cl[a]) + rng.integers(0, 40, m), 0, n - 1)]
    b = np.where(rng.random(m) < 0.8, near, rng.integers(0, n, m))
    keep = a != b
    ids = np.array([f"F{i}" for i in range(n)])
    return pd.DataFrame({"source": ids[a[keep]], "target": ids[b[keep]]}), \
        pd.DataFrame({"cluster": [f"K{c}" for c in cl], "social_capital": rng.normal(size=n)},
                     index=pd.Index(ids, name="firm_id"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_000_000,
                    help="largest network drawn (10^6 takes ~10 s to build the sample)")
    args = ap.parse_args()

    from pipeline.ingest.ties import tie_list
    from pipeline.report import write_report
    from pipeline.report.figures import (
        interaction_figure,
        johnson_neyman_figure,
        network_figure,
        scree_figure,
    )
    from pipeline.report.html import write_html
    from pipeline.report.jsonout import write_results
    from pipeline.report.tables import report_tables
    from pipeline.report.xlsx import write_xlsx

    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        folder = study(tmp / "study")
        results, artefacts = analysed(folder)
        out = tmp / "out"
        (out / "figures").mkdir(parents=True)
        tables = report_tables(results)
        name, model = next(iter(artefacts["models"].items()))
        m = results["models"][name]
        cfg = results["config"]["analysis"]["models"][0]
        print(f"Study: {results['sample']['respondents']} respondents, "
              f"{results['sample']['units']} units, {results['network']['nodes']} network nodes\n")

        rows = []

        def part(label, f, base=None):
            t = best(f)
            b = best(base) if base else None
            rows.append((label, t, b))

        part("results.json", lambda: write_results(results, out / "results.json"))
        part("tables (build)", lambda: report_tables(results))
        part("tables.xlsx", lambda: write_xlsx(tables, out / "tables.xlsx"),
             lambda: openpyxl_tables(tables, out / "tables_openpyxl.xlsx"))
        part("scree figure (SVG + PNG)",
             lambda: scree_figure(results["efa"])[0].write(out / "figures", "scree"),
             lambda: mpl_scree(results["efa"], out / "figures"))
        part("interaction figure",
             lambda: interaction_figure(m, model.interaction_plot_data(), cfg)[0].write(
                 out / "figures", "i"))
        part("Johnson-Neyman figure",
             lambda: johnson_neyman_figure(m, model.johnson_neyman_plot_data(), cfg)[0].write(
                 out / "figures", "j"))
        part("network figure",
             lambda: network_figure(artefacts, results, seed=1)[0].write(out / "figures", "n"))
        part("report.html", lambda: write_html(results, tables, [], out / "report.html"))
        part("write_report (all, warm)",
             lambda: write_report(results, out / "all", artefacts=artefacts))
        # what the report stage imports beyond what a run without a network has loaded
        before = ("import numpy, pandas, yaml, pipeline.run, pipeline.measure.moments, "
                  "pipeline.measure.reliability, pipeline.measure.factors, pipeline.measure.cfa, pipeline.levels, "
                  "pipeline.models")
        imports_socap = import_time(before, "import pipeline.report.figures, "
                                    "pipeline.report.html, pipeline.report.xlsx, jinja2, "
                                    "PIL.Image, PIL.ImageDraw, PIL.ImageFont")
        imports_base = import_time(before, "import matplotlib; matplotlib.use('Agg'); "
                                   "import matplotlib.pyplot, openpyxl, jinja2")
        python = fresh("pass")
        rows.append(("imports of the report stage (fresh interpreter)", imports_socap,
                     imports_base))

        print("Report stage, 2,000-respondent study (seconds, best of 5)")
        print(f"{'part':48s} {'socap':>8s} {'baseline':>9s} {'ratio':>7s}")
        for label, t, b in rows:
            ratio = f"{b:9.3f} {t / b:7.2f}" if b else ""
            print(f"{label:48s} {t:8.3f} {ratio}")
        print("baseline: matplotlib figures and an openpyxl workbook of the same tables\n")

        run = fresh(f"import sys; sys.argv = ['socap', 'run', {str(folder)!r}, '--quiet']; "
                    "from pipeline.cli import main; main()")
        print(f"Whole `socap run` of the study in a fresh interpreter: {run:.2f} s "
              f"(Python startup {python:.2f} s)\n")

        print("Network drawing (sample of at most 1,500 nodes; best of 3)")
        print(f"{'nodes':>10s} {'ties':>10s} {'seconds':>8s}")
        n = 1000
        while n <= args.nodes:
            edges, units = clustered_ties(n)

            class Cleaned:
                group_column = "cluster"

            # the tie list as the reader builds it (categorical ids over shared sorted
            # categories), which is what the run hands the figure; a plain frame of 10^6 id
            # strings would time a sort of Python strings the run never does
            ties = tie_list(edges, directed=False)
            art = {"ties": ties, "units": units, "cleaned": Cleaned()}
            res = {"scores": {"columns": ["social_capital"]}}
            t = best(lambda: network_figure(art, res, seed=1)[0].write(out / "figures", "big"),
                     reps=3 if n <= 100_000 else 1)
            print(f"{n:10,d} {len(edges):10,d} {t:8.2f}")
            n *= 10
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
