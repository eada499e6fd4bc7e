"""Scale and speed of the network stage (prints tables; no asserts).

1. A synthetic firm network of 10^6 nodes and 5 x 10^6 raw ties (clustered, heavy-tailed activity,
   institutions as hubs, shuffled text ids), written as csv, read with ``read_ties`` and measured
   with ``network_measures`` -- betweenness and closeness are sampled estimates there (the graph
   is above ``exact_max_nodes``). Wall time per step and peak memory (max RSS) are printed.
2. Baseline: networkx on a 10^4-node network of the same kind, computing the same measures
   exactly, against socap on the same network (exact path), with the time ratio and the largest
   differences between the two.

Usage (from the repository root)::

    /work/venv/bin/python benchmarks/bench_network.py                # full run
    /work/venv/bin/python benchmarks/bench_network.py --nodes 100000 --ties 500000
    /work/venv/bin/python benchmarks/bench_network.py --skip-large   # baseline only
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ingest.ties import read_ties
from pipeline.network import network_measures


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def firm_network(n_nodes: int, n_ties: int, seed: int = 1):
    """Synthetic firm network: ~1,000 firms per cluster, 0.5% institutions, 1% isolated firms.

    Ties: the source is drawn by activity (Pareto, exponent 2.5, capped); 75% of ties go to a firm
    of the same cluster, 20% to a firm anywhere, 5% to an institution (drawn by activity, so a
    few institutions are large hubs). Ids are text in shuffled order (no memory locality).
    """
    rng = np.random.default_rng(seed)
    n_inst = max(n_nodes // 200, 5)
    n_iso = n_nodes // 100
    n_active = n_nodes - n_inst - n_iso
    n_clusters = max(n_active // 1000, 2)
    cluster = rng.integers(0, n_clusters, n_active)
    act = np.minimum(rng.pareto(1.5, n_active) + 1.0, 500.0)
    inst_act = np.minimum(rng.pareto(1.0, n_inst) + 1.0, 5000.0)
    p = act / act.sum()
    src = rng.choice(n_active, size=n_ties, p=p)
    kind = rng.random(n_ties)
    order = np.argsort(cluster, kind="stable")
    cs = cluster[order]
    starts = np.searchsorted(cs, np.arange(n_clusters))
    ends = np.searchsorted(cs, np.arange(n_clusters), side="right")
    cum = np.cumsum(act[order])
    tc = cluster[src]
    lo_c = np.where(starts[tc] > 0, cum[np.maximum(starts[tc] - 1, 0)], 0.0)
    hi_c = cum[ends[tc] - 1]
    same = order[np.minimum(np.searchsorted(cum, lo_c + rng.random(n_ties) * (hi_c - lo_c)),
                            n_active - 1)]
    anywhere = rng.choice(n_active, size=n_ties, p=p)
    inst = n_active + rng.choice(n_inst, size=n_ties, p=inst_act / inst_act.sum())
    tgt = np.where(kind < 0.75, same, np.where(kind < 0.95, anywhere, inst))
    # text ids in shuffled order
    perm = rng.permutation(n_nodes)
    firm_ids = np.array([f"F{i:07d}" for i in range(n_active + n_iso)], dtype=object)
    inst_ids = np.array([f"I{i:05d}" for i in range(n_inst)], dtype=object)
    label = np.concatenate([firm_ids, inst_ids])
    shuffled = label[perm]
    node_of = np.r_[np.arange(n_active), n_active + n_iso + np.arange(n_inst)]
    edges = pd.DataFrame({
        "source": shuffled[node_of[src]],
        "target": shuffled[node_of[tgt]],
        "weight": np.round(rng.gamma(2.0, 1.0, n_ties), 2),
        "type": rng.choice(np.array(["supply", "R&D", "other"], dtype=object), n_ties,
                           p=[0.6, 0.3, 0.1]),
    })
    unit_nodes = np.arange(n_active + n_iso)
    units = shuffled[unit_nodes]
    groups = dict(zip(units[:n_active], (f"C{c:04d}" for c in cluster)))
    return edges, list(units), groups


def large_run(n_nodes: int, n_ties: int, sources: int | None) -> None:
    print(f"## socap on a synthetic firm network: {n_nodes:,} nodes, {n_ties:,} raw ties")
    t0 = time.perf_counter()
    edges, units, groups = firm_network(n_nodes, n_ties)
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ties.csv"
        edges.to_csv(path, index=False)
        del edges
        t0 = time.perf_counter()
        tl = read_ties(path, directed=False)
        t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = network_measures(tl, directed=False, units=units, unit_groups=groups,
                           sample_sources=sources)
    t_net = time.perf_counter() - t0
    rows = [
        ("generate network (not socap)", t_gen),
        ("read_ties (csv -> merged TieList)", t_read),
        ("network_measures (unit + group measures)", t_net),
        ("socap total (read + measures)", t_read + t_net),
    ]
    print("| step | wall time (s) |\n| --- | ---: |")
    for name, t in rows:
        print(f"| {name} | {t:,.1f} |")
    d = res.to_dict()
    print(f"\nnodes {d['nodes']:,}, merged ties {d['edges']:,}, units {d['units']:,}, "
          f"institutions {d['institutions']:,}, groups {len(d['groups']):,}, components "
          f"{d['components']:,}, duplicates merged {d['duplicates_merged']:,}, self-loops "
          f"{d['self_loops_dropped']:,}")
    print(f"approximate paths: {d['approximate']} ({d['sample_sources']} sampled sources)")
    print(f"peak memory (max RSS): {peak_rss_mb():,.0f} MB\n")


def networkx_measures(edges: pd.DataFrame, nodes: list[str]) -> pd.DataFrame:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(nodes)
    for s, t, w in edges[["source", "target", "weight"]].itertuples(index=False):
        if s == t:
            continue
        if g.has_edge(s, t):
            g[s][t]["weight"] += w
        else:
            g.add_edge(s, t, weight=w)
    n = g.number_of_nodes()
    out = pd.DataFrame(index=pd.Index(nodes))
    out["degree"] = pd.Series(dict(g.degree()))
    out["strength"] = pd.Series(dict(g.degree(weight="weight")))
    out["betweenness"] = pd.Series(nx.betweenness_centrality(g, normalized=False))
    out["closeness"] = pd.Series(nx.harmonic_centrality(g)) / (n - 1)
    ev = pd.Series(nx.eigenvector_centrality(g, max_iter=10_000, tol=1e-12))
    out["eigenvector"] = ev.abs() / ev.abs().max()
    out["clustering"] = pd.Series(nx.clustering(g))
    out["constraint"] = pd.Series(nx.constraint(g, weight="weight"))
    out["effective_size"] = pd.Series(nx.effective_size(g))   # unweighted: right here
    return out


def baseline(n_nodes: int) -> None:
    n_ties = 3 * n_nodes
    print(f"## baseline: networkx vs socap, same {n_nodes:,}-node network ({n_ties:,} raw "
          "ties), exact measures")
    edges, units, groups = firm_network(n_nodes, n_ties, seed=2)
    t0 = time.perf_counter()
    res = network_measures(edges, directed=False, units=units, unit_groups=groups,
                           exact_max_nodes=n_nodes)  # exact, like networkx, at any size
    t_socap = time.perf_counter() - t0
    nodes = sorted(set(units) | set(edges["source"]) | set(edges["target"]))
    t0 = time.perf_counter()
    nxm = networkx_measures(edges, nodes)
    t_nx = time.perf_counter() - t0
    print("| engine | wall time (s) | ratio |\n| --- | ---: | ---: |")
    print(f"| networkx {__import__('networkx').__version__} | {t_nx:,.1f} | 1.0 |")
    print(f"| socap (igraph {__import__('igraph').__version__}) | {t_socap:,.2f} | "
          f"{t_socap / t_nx:.4f} ({t_nx / t_socap:,.0f}x faster) |")
    um = res.unit_measures
    ref = nxm.loc[um.index]
    diffs = {c: float(np.nanmax(np.abs(um[c].to_numpy(float) - ref[c].to_numpy(float))))
             for c in ref.columns}
    print("\nlargest |socap - networkx| over units: "
          + ", ".join(f"{c} {v:.1e}" for c, v in diffs.items()))
    print(f"peak memory (max RSS): {peak_rss_mb():,.0f} MB\n")


def exact_at_threshold(n_nodes: int) -> None:
    """Worst case of the exact path: a graph just at ``exact_max_nodes``."""
    n_ties = 5 * n_nodes
    print(f"## socap exact path at the threshold: {n_nodes:,} nodes, {n_ties:,} raw ties")
    edges, units, groups = firm_network(n_nodes, n_ties, seed=4)
    t0 = time.perf_counter()
    res = network_measures(edges, directed=False, units=units, unit_groups=groups,
                           exact_max_nodes=n_nodes)
    t = time.perf_counter() - t0
    print("| nodes | merged ties | approximate | wall time (s) |\n| ---: | ---: | --- | ---: |")
    print(f"| {res.nodes:,} | {res.edges:,} | {res.approximate} | {t:,.1f} |")
    print(f"peak memory (max RSS): {peak_rss_mb():,.0f} MB\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--ties", type=int, default=5_000_000)
    ap.add_argument("--sources", type=int, default=None,
                    help="sampled sources for the estimated paths (default: automatic)")
    ap.add_argument("--baseline-nodes", type=int, default=10_000)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--exact-at", type=int, default=0, metavar="NODES",
                    help="also time the exact path on a graph of NODES nodes (e.g. 20000, the "
                         "default exact_max_nodes; takes minutes)")
    args = ap.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__},"
          f" {platform.machine()}, {__import__('os').cpu_count()} cores\n")
    if not args.skip_baseline:
        baseline(args.baseline_nodes)
    if not args.skip_large:
        large_run(args.nodes, args.ties, args.sources)
    if args.exact_at:
        exact_at_threshold(args.exact_at)


if __name__ == "__main__":
    main()
