"""Ties -> graph -> unit (firm) measures and group (cluster) measures.

Engine and why
--------------
The graph measures come from python-igraph (compiled C), called the way the matching R igraph
function is called, so that every value can be checked against R to 1e-6:

========================  =====================================================================
column                    computation (undirected graph; directed analogues below)
========================  =====================================================================
``degree``                distinct partners: ``degree(g)`` on the merged (simple) graph
``strength``              summed tie weights: ``strength(g)``
``degree_<type>``         distinct partners over ties of that type (a merged tie counts for every
                          type among its rows)
``betweenness``           unweighted, unnormalised: ``betweenness(g, weights = NA)``
``closeness``             harmonic, unweighted, normalised by ``n - 1``:
                          ``harmonic_centrality(g, weights = NA, normalized = TRUE)``
``eigenvector``           unweighted, scaled to max 1: ``eigen_centrality(g, weights = NA)$vector``
``clustering``            local, 0 below two partners:
                          ``transitivity(g, "local", isolates = "zero")``
``constraint``            Burt, weighted, NaN for isolates: ``constraint(g)``
``effective_size``        Burt, unweighted, NaN for isolates: ``d - 2 t / d`` with ``d`` partners
                          and ``t`` ties among them (triangles through the node)
========================  =====================================================================

igraph has no effective size, and networkx's is wrong on weighted and directed graphs and builds
a dense matrix; here it comes from the triangle count of each node, recovered exactly from
igraph's compiled local transitivity (``t = C d (d - 1) / 2``, rounded), so it costs no more than
the clustering coefficient. On large graphs (below) the triangles are listed once, vectorised
(:func:`triangles`), and clustering, effective size and constraint all come from them.

Directed networks (``network.directed: true``)
----------------------------------------------
A tie ``a -> b`` means ``a`` named ``b``. The measures about *who one is connected to* use the
undirected skeleton ``s = as.undirected(g, mode = "collapse")`` (a pair tied in either or both
directions is one partnership); the measures about *paths* respect direction:

* ``degree`` = distinct partners in either direction (``degree(s)``), plus ``in_degree`` and
  ``out_degree`` (``degree(g, mode = "in" / "out")``);
* ``strength`` = weights of ties in both directions (``strength(g, mode = "all")``), plus
  ``in_strength`` and ``out_strength``;
* ``degree_<type>``, ``eigenvector``, ``clustering``, ``effective_size``: on the skeleton
  (``eigen_centrality(s, weights = NA)``, ``transitivity(s, "local", isolates = "zero")``);
* ``betweenness``: directed shortest paths (``betweenness(g, directed = TRUE, weights = NA)``);
* ``closeness``: harmonic over *outgoing* paths, R's default mode
  (``harmonic_centrality(g, mode = "out", weights = NA, normalized = TRUE)``);
* ``constraint``: on the directed weighted graph, where igraph uses ``a_ij + a_ji``
  (``constraint(g)``).

Node ids
--------
Ids are compared as text (:func:`pipeline.ids.node_ids`): ``"0012"`` and ``"12"`` are
different firms; whole numbers are written without ``.0``. Nodes of the tie list that are not
survey units (a university, a ministry) are *institutions*: they are part of the graph (they
carry paths, count as partners and in ``nodes``) but get no row in ``unit_measures``. Units with
no tie are isolates: 0 for degree, strength, betweenness, closeness, eigenvector and clustering,
NaN for constraint and effective size.

Large graphs
------------
Exact betweenness and closeness cost one breadth-first search per node (O(n m)). Above
``exact_max_nodes`` nodes (20,000 by default) both are *estimated* from a seeded uniform sample of
source nodes and scaled to the whole graph (Brandes & Pich 2007; Eppstein & Wang 2004): with ``k``
of ``n`` nodes as sources, ``betweenness(v) ~ (n / k) sum_{s in S} delta_s(v)`` and ``closeness(v)
~ (n / k) sum_{s in S} 1 / d(v, s) / (n - 1)``; both are unbiased. The searches run eight sources
at a time as sparse-matrix products (SciPy), restricted to each level's frontier -- about twice as
fast as igraph's subset betweenness here and yielding the closeness distances in the same pass. A
warning says that the two columns are estimates and how many sources were used. On that path
nodes are first renumbered by reverse Cuthill-McKee so that neighbours sit close in memory (this
alone makes the searches several times faster on large graphs); results are returned in the
original order. Up to ``exact_max_nodes`` igraph computes both exactly. Clustering, Burt's
constraint (:func:`burt_constraint`) and effective size come from one vectorised triangle list for
every graph (equal to igraph's to rounding, tested): igraph's constraint costs ``sum_j d_j^2``
operations -- over a minute on a million-node network whose institutions have tens of thousands of
ties. Exact values on large graphs are slow (O(n m)): raising ``exact_max_nodes`` above
20,000 is for patient users; ``benchmarks/bench_network.py --exact-at N`` measures the cost.

References
----------
Brandes, U. (2001). A faster algorithm for betweenness centrality. *Journal of Mathematical
Sociology*, 25(2), 163-177.
Brandes, U., & Pich, C. (2007). Centrality estimation in large networks. *International Journal
of Bifurcation and Chaos*, 17(7), 2303-2318.
Eppstein, D., & Wang, J. (2004). Fast approximation of centrality. *Journal of Graph Algorithms
and Applications*, 8(1), 39-45.
Schank, T., & Wagner, D. (2005). Finding, counting and listing all triangles in large graphs, an
experimental study. *WEA 2005*, LNCS 3503, 606-609.
Burt, R. S. (1992). *Structural holes: The social structure of competition*. Harvard University
Press.
Borgatti, S. P. (1997). Structural holes: Unpacking Burt's redundancy measures. *Connections*,
20(1), 35-38.
Freeman, L. C. (1978). Centrality in social networks: Conceptual clarification. *Social
Networks*, 1(3), 215-239.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import StudyError
from pipeline.ids import node_ids as ids_of_nodes
from pipeline.ingest.ties import TieList, tie_list, type_slug

from pipeline.jsonvalues import number as _num

__all__ = [
    "NetworkResult",
    "burt_constraint",
    "network_measures",
    "sampled_path_measures",
    "triangles",
]

DEFAULT_EXACT_MAX_NODES = 20_000
#: Work budget of the estimated path measures when ``sample_sources`` is None: about
#: ``SAMPLE_BUDGET / (adjacency entries)`` sources, between the two bounds below.
SAMPLE_BUDGET = 1.2e9
SAMPLE_MIN, SAMPLE_MAX = 64, 2000
BATCH = 8


MEASURES_METHOD_UNDIRECTED = {
    "degree": "distinct partners on the merged graph; R igraph degree(g)",
    "strength": "sum of merged tie weights; R igraph strength(g)",
    "degree_<type>": "distinct partners over ties of that type",
    "betweenness": "unweighted, unnormalised shortest-path betweenness; R igraph "
                   "betweenness(g, weights = NA)",
    "closeness": "harmonic closeness, unweighted, normalised by n - 1 (n = all nodes, "
                 "institutions and isolates included); R igraph harmonic_centrality(g, "
                 "weights = NA, normalized = TRUE)",
    "eigenvector": "unweighted eigenvector centrality scaled to max 1 (isolates 0); R igraph "
                   "eigen_centrality(g, weights = NA)$vector",
    "clustering": "local clustering coefficient, 0 below two partners; R igraph "
                  "transitivity(g, 'local', isolates = 'zero')",
    "constraint": "Burt's constraint with tie weights, NaN for isolates; R igraph constraint(g)",
    "effective_size": "Burt's effective size, unweighted: degree - 2 x ties among partners / "
                      "degree, from triangle counts; NaN for isolates",
}
MEASURES_METHOD_DIRECTED = {
    "degree": "distinct partners in either direction; R igraph degree(as.undirected(g, "
              "'collapse'))",
    "in_degree": "distinct partners naming the unit; R igraph degree(g, mode = 'in')",
    "out_degree": "distinct partners the unit names; R igraph degree(g, mode = 'out')",
    "strength": "sum of weights of ties in both directions; R igraph strength(g, mode = 'all')",
    "in_strength": "sum of weights of incoming ties; R igraph strength(g, mode = 'in')",
    "out_strength": "sum of weights of outgoing ties; R igraph strength(g, mode = 'out')",
    "degree_<type>": "distinct partners in either direction over ties of that type",
    "betweenness": "unweighted, unnormalised betweenness over directed shortest paths; R igraph "
                   "betweenness(g, directed = TRUE, weights = NA)",
    "closeness": "harmonic closeness over outgoing paths, unweighted, normalised by n - 1; R "
                 "igraph harmonic_centrality(g, mode = 'out', weights = NA, normalized = TRUE)",
    "eigenvector": "unweighted eigenvector centrality of the undirected skeleton, max 1; R igraph "
                   "eigen_centrality(as.undirected(g, 'collapse'), weights = NA)$vector",
    "clustering": "local clustering of the undirected skeleton, 0 below two partners; R igraph "
                  "transitivity(as.undirected(g, 'collapse'), 'local', isolates = 'zero')",
    "constraint": "Burt's constraint on the directed weighted graph (igraph uses a_ij + a_ji), "
                  "NaN for isolates; R igraph constraint(g)",
    "effective_size": "Burt's effective size of the undirected skeleton, unweighted: degree - 2 x "
                      "ties among partners / degree; NaN for isolates",
}
GROUP_METHOD = (
    "per group of units: participants = units with at least one tie; ties, density, mean_degree "
    "and centralization within the subgraph of the group's units (institutions and other groups "
    "left out; density = ties / possible pairs, ordered pairs when directed; mean_degree = mean "
    "distinct partners within; centralization = Freeman degree centralisation of the undirected "
    "within-group subgraph, sum(max - d) / ((u - 1)(u - 2)), R igraph centr_degree(sub, loops = "
    "FALSE)$centralization); institution_share and boundary_share = share of all ties touching "
    "the group's units that lead to an institution / to a unit outside the group"
)


@dataclass(frozen=True)
class NetworkResult:
    """Network measures of the units and the groups.

    Attributes
    ----------
    unit_measures
        One row per unit (index = unit id as text, sorted, name ``unit``); columns as in the module
        notes, in that order.
    groups
        One row per group (index = group label as text): ``participants, units, ties, density,
        mean_degree, centralization, institution_share, boundary_share``; None without groups.
    nodes, edges, units, institutions
        Graph size: all nodes (units, isolates included, and institutions), merged ties (ordered
        pairs when directed), survey units, non-unit nodes.
    density, components, largest_component, mean_degree
        Whole graph: ties / possible pairs, weakly connected components (isolates count), nodes
        in the largest component, mean distinct partners over all nodes.
    approximate
        Whether betweenness and closeness are sampled estimates; ``sample_sources`` says how many
        sources were used.
    notes
        What reading and cleaning the tie list did.
    warnings
        Caveats, one sentence each.
    """

    unit_measures: pd.DataFrame
    directed: bool
    nodes: int
    edges: int
    units: int
    institutions: int
    density: float
    components: int
    largest_component: int
    mean_degree: float
    self_loops_dropped: int
    duplicates_merged: int
    groups: pd.DataFrame | None
    measures_method: Mapping[str, str]
    approximate: bool = False
    sample_sources: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The ``network`` part of results.json."""
        groups: dict[str, Any] = {}
        if self.groups is not None:
            for g, row in self.groups.iterrows():
                groups[str(g)] = {
                    "participants": int(row["participants"]),
                    "units": int(row["units"]),
                    "ties": int(row["ties"]),
                    "density": _num(row["density"]),
                    "mean_degree": _num(row["mean_degree"]),
                    "centralization": _num(row["centralization"]),
                    "institution_share": _num(row["institution_share"]),
                    "boundary_share": _num(row["boundary_share"]),
                }
        return {
            "nodes": int(self.nodes),
            "edges": int(self.edges),
            "units": int(self.units),
            "institutions": int(self.institutions),
            "directed": bool(self.directed),
            "density": _num(self.density),
            "components": int(self.components),
            "largest_component": int(self.largest_component),
            "mean_degree": _num(self.mean_degree),
            "self_loops_dropped": int(self.self_loops_dropped),
            "duplicates_merged": int(self.duplicates_merged),
            "groups": groups,
            "measures_method": dict(self.measures_method),
            "approximate": bool(self.approximate),
            "sample_sources": self.sample_sources,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# Sampled betweenness and harmonic closeness (large graphs)
# --------------------------------------------------------------------------------------------


def sampled_path_measures(
    out_adj, in_adj, sources: np.ndarray, *, directed: bool, batch: int = BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """Sums over ``sources`` of Brandes dependencies and of inverse distances to each source.

    Parameters
    ----------
    out_adj, in_adj
        ``scipy.sparse`` CSR adjacency: row ``v`` of ``out_adj`` lists the nodes ``v`` has a tie
        to, row ``w`` of ``in_adj`` the nodes with a tie to ``w`` (the same matrix when
        undirected). Unweighted (values ignored).
    sources
        Source nodes (distinct).
    directed
        Whether paths follow tie direction.
    batch
        Sources searched together (memory ~ 4 x n x batch x 8 bytes).

    Returns
    -------
    dependency, inverse_distance
        ``sum_{s in S} delta_s(v)`` (Brandes' dependency of ``s`` on ``v``, summed over ordered
        pairs: halve it for undirected betweenness) and ``sum_{s in S} 1 / d(v, s)`` (0 when
        ``s`` cannot be reached from ``v``; ``d(v, s)`` along outgoing ties when directed).

    Notes
    -----
    With all nodes as sources, ``dependency / 2`` (undirected) or ``dependency`` (directed) is the
    exact betweenness of R ``betweenness(g, weights = NA)`` and ``inverse_distance / (n - 1)``
    the exact ``harmonic_centrality(g, mode = "out", weights = NA, normalized = TRUE)``.
    Breadth-first search levels are computed for ``batch`` sources at once; each level touches
    only the ties of its frontier. Path counts are float64 as in igraph.
    """
    n = out_adj.shape[0]
    sources = np.asarray(sources, dtype=np.int64)
    out_t = out_adj  # row slices of these, transposed, spread a frontier to its neighbours
    in_t = in_adj
    mark = np.zeros(n, dtype=bool)

    def spread(adj, rows: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns reached from ``rows`` and ``sum_r adj[r, c] vals[r]`` there."""
        sub = adj[rows]
        mark[sub.indices] = True
        reached = np.flatnonzero(mark)
        mark[reached] = False
        return reached, (sub.T @ vals)[reached]

    dep = np.zeros(n)
    inv = np.zeros(n)
    for start in range(0, sources.size, batch):
        src = sources[start:start + batch]
        k = src.size
        cols = np.arange(k)
        sigma = np.zeros((n, k))
        depth = np.full((n, k), -1, dtype=np.int32)
        sigma[src, cols] = 1.0
        depth[src, cols] = 0
        levels = [np.sort(src)]
        d = 0
        while True:
            d += 1
            rows = levels[-1]
            front = np.where(depth[rows] == d - 1, sigma[rows], 0.0)
            cand, val = spread(out_t, rows, front)   # paths into w from v -> w
            new = (val > 0) & (depth[cand] < 0)
            keep = new.any(axis=1)
            if not keep.any():
                break
            cand, val, new = cand[keep], val[keep], new[keep]
            depth[cand] = np.where(new, d, depth[cand])
            sigma[cand] += np.where(new, val, 0.0)
            if not directed:
                inv[cand] += new.sum(axis=1) / d
            levels.append(cand)
        # Backward accumulation of dependencies, level by level.
        delta = np.zeros((n, k))
        for d in range(len(levels) - 1, 0, -1):
            rows = levels[d]
            lev = depth[rows] == d
            w = np.where(lev, (1.0 + delta[rows]) / np.where(lev, sigma[rows], 1.0), 0.0)
            prev = levels[d - 1]
            # sum over w at level d with v -> w, for v among the previous level's rows
            back = (in_t[rows].T @ w)[prev]
            pm = depth[prev] == d - 1
            delta[prev] += np.where(pm, sigma[prev] * back, 0.0)
        delta[src, cols] = 0.0
        dep += delta.sum(axis=1)
        if directed:
            # d(v, s) along outgoing ties = search from s along incoming ties.
            seen = np.zeros((n, k), dtype=bool)
            seen[src, cols] = True
            rows = np.sort(src)
            front = np.zeros((rows.size, k))
            front[np.searchsorted(rows, src), cols] = 1.0
            d = 0
            while rows.size:
                d += 1
                cand, val = spread(in_t, rows, front)
                new = (val > 0) & ~seen[cand]
                keep = new.any(axis=1)
                cand, new = cand[keep], new[keep]
                seen[cand] |= new
                inv[cand] += new.sum(axis=1) / d
                rows, front = cand, new.astype(float)
    return dep, inv


def triangles(n: int, lo: np.ndarray, hi: np.ndarray, chunk: int = 1 << 22):
    """Every triangle of a simple undirected graph, as node and edge indices.

    Parameters
    ----------
    n
        Number of nodes.
    lo, hi
        The edges (``lo[e] < hi[e]`` not required, no duplicates, no self-loops).
    chunk
        Wedges examined at once (bounds memory).

    Returns
    -------
    a, b, c, e_ab, e_ac, e_bc
        Nodes of each triangle and the indices of its three edges.

    Notes
    -----
    Forward algorithm: edges point from the lower- to the higher-degree node, every pair of
    out-neighbours of a node is a wedge, and a wedge closed by an edge is a triangle. Work is the
    number of wedges, at most ``O(m^1.5)`` and far below ``sum_i d_i^2`` when hubs are present
    (Schank & Wagner 2005). Vectorised in chunks; the closing edge is found by binary search in
    the sorted edge keys.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    m = lo.size
    empty = np.zeros(0, dtype=np.int64)
    if m == 0:
        return (empty,) * 6
    deg = np.bincount(np.r_[lo, hi], minlength=n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), deg))] = np.arange(n)
    node_of_rank = np.argsort(rank)
    ra, rb = rank[lo], rank[hi]
    u, v = np.minimum(ra, rb), np.maximum(ra, rb)
    order = np.lexsort((v, u))
    u, v, eid = u[order], v[order], order.astype(np.int64)
    key = u * n + v                           # ascending
    cnt = np.bincount(u, minlength=n)
    start = np.cumsum(cnt) - cnt
    npairs = cnt[u] - 1 - (np.arange(m) - start[u])
    cum = np.cumsum(npairs)
    out = [[] for _ in range(6)]
    s0 = 0
    while s0 < m:
        base = cum[s0 - 1] if s0 else 0
        s1 = max(int(np.searchsorted(cum, base + chunk, side="right")), s0 + 1)
        c = npairs[s0:s1]
        tot = int(c.sum())
        if tot:
            first = np.repeat(np.arange(s0, s1), c)
            second = first + 1 + (np.arange(tot) - np.repeat(np.cumsum(c) - c, c))
            k2 = v[first] * n + v[second]
            idx = np.minimum(np.searchsorted(key, k2), m - 1)
            hit = key[idx] == k2
            f, sc, ix = first[hit], second[hit], idx[hit]
            out[0].append(node_of_rank[u[f]])
            out[1].append(node_of_rank[v[f]])
            out[2].append(node_of_rank[v[sc]])
            out[3].append(eid[f])
            out[4].append(eid[sc])
            out[5].append(eid[ix])
        s0 = s1
    return tuple(np.concatenate(x) if x else empty for x in out)


def burt_constraint(n: int, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray,
                    tri: tuple[np.ndarray, ...]) -> np.ndarray:
    """Burt's constraint of every node from the weighted skeleton and its triangles.

    Parameters
    ----------
    n
        Number of nodes.
    lo, hi, weight
        Undirected simple edges with ``a_ij + a_ji`` as weight (the sum of the weights of the
        ties between the two nodes in either direction).
    tri
        The output of :func:`triangles` for these edges.

    Returns
    -------
    numpy.ndarray
        Constraint per node (NaN for isolates).

    Notes
    -----
    ``p_ij = w_ij / sum_k w_ik`` and ``C_i = sum_{j in N(i)} (p_ij + sum_q p_iq p_qj)^2`` where
    ``q`` runs over the partners of ``i`` tied to ``j`` -- the indirect paths of length two from
    ``i`` to a partner ``j`` are exactly the triangles through the tie ``i-j``. This is what R
    ``igraph::constraint(g)`` computes (including directed graphs, whose ``a_ij + a_ji`` it uses),
    but in time proportional to the triangles rather than to ``sum_j d_j^2``.

    References
    ----------
    Burt, R. S. (1992). *Structural holes*. Harvard University Press, p. 55.
    """
    m = lo.size
    degw = np.bincount(lo, weights=weight, minlength=n) + np.bincount(hi, weights=weight,
                                                                       minlength=n)
    owner = np.r_[lo, hi]                       # half-edge h: e = lo->hi, e + m = hi->lo
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.r_[weight, weight] / degw[owner]
    a, b, c, e_ab, e_ac, e_bc = tri
    if a.size:
        def half(i: np.ndarray, e: np.ndarray) -> np.ndarray:   # half-edge leaving i along e
            return np.where(lo[e] == i, e, e + m)

        ab, ba = half(a, e_ab), half(b, e_ab)
        ac, ca = half(a, e_ac), half(c, e_ac)
        bc, cb = half(b, e_bc), half(c, e_bc)
        idx = np.concatenate([ab, ba, ac, ca, bc, cb])
        val = np.concatenate([p[ac] * p[cb], p[bc] * p[ca], p[ab] * p[bc],
                              p[cb] * p[ba], p[ba] * p[ac], p[ca] * p[ab]])
        indirect = np.bincount(idx, weights=val, minlength=2 * m)
    else:
        indirect = np.zeros(2 * m)
    out = np.bincount(owner, weights=(p + indirect) ** 2, minlength=n).astype(float)
    deg = np.bincount(owner, minlength=n)
    out[deg == 0] = np.nan
    return out


def _sample_size(n: int, nnz: int, requested: int | None) -> int:
    if requested is not None:
        return int(min(max(requested, 1), n))
    k = int(SAMPLE_BUDGET / max(nnz, 1))
    return int(min(max(k, SAMPLE_MIN), SAMPLE_MAX, n))


# --------------------------------------------------------------------------------------------
# network_measures()
# --------------------------------------------------------------------------------------------


def _as_tie_list(edges: pd.DataFrame | TieList, directed: bool) -> TieList:
    if isinstance(edges, TieList):
        if edges.directed == directed:
            return edges
        if edges.directed and not directed:
            merged = tie_list(edges.edges, directed=False, file=edges.file)
            return TieList(
                edges=merged.edges, directed=False, types=edges.types, weighted=edges.weighted,
                rows_read=edges.rows_read, self_loops_dropped=edges.self_loops_dropped,
                duplicates_merged=merged.duplicates_merged, notes=edges.notes + merged.notes,
                file=edges.file,
            )
        raise ValueError("an undirected tie list cannot be analysed as a directed network; "
                         "read it with directed=True")
    return tie_list(edges, directed=directed)


def edge_codes(e: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct ids of a merged edge table and the codes of its source and target."""
    s, t = e["source"], e["target"]
    if (isinstance(s.dtype, pd.CategoricalDtype) and isinstance(t.dtype, pd.CategoricalDtype)
            and s.cat.categories.equals(t.cat.categories)
            and s.cat.categories.is_monotonic_increasing):
        return (np.asarray(s.cat.categories, dtype=object),
                s.cat.codes.to_numpy().astype(np.int64), t.cat.codes.to_numpy().astype(np.int64))
    codes, uniques = pd.factorize(pd.concat([s.astype(object), t.astype(object)],
                                            ignore_index=True), sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    return np.asarray(uniques, dtype=object), codes[:len(s)], codes[len(s):]


def _skeleton(a: np.ndarray, b: np.ndarray, w: np.ndarray, n: int):
    """Undirected simple pairs (lo, hi) with summed weights and the inverse index."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n + hi
    ukey, inv = np.unique(key, return_inverse=True)
    ws = np.bincount(inv, weights=w, minlength=ukey.size)
    return ukey // n, ukey % n, ws, inv


def import_igraph():
    """Import python-igraph without its plotting back end.

    ``import igraph`` imports ``matplotlib.pyplot`` for igraph's own plotting (about 1 s here,
    most of the stage's cost on a small study). socap never plots with igraph, so matplotlib is
    hidden from igraph while it is imported (igraph then installs a stub for its plotting only);
    matplotlib itself stays fully usable for the report.
    """
    import sys

    if "igraph" in sys.modules:
        return sys.modules["igraph"]
    saved = sys.modules.get("matplotlib", _MISSING)
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # makes `import matplotlib` fail
    try:
        import igraph
    finally:
        if saved is _MISSING:
            del sys.modules["matplotlib"]
        else:
            sys.modules["matplotlib"] = saved
    return igraph


_MISSING = object()


def network_measures(
    edges: pd.DataFrame | TieList,
    *,
    directed: bool,
    units: Sequence[Any],
    unit_groups: Mapping[Any, Any] | None = None,
    exact_max_nodes: int = DEFAULT_EXACT_MAX_NODES,
    sample_sources: int | None = None,
    seed: int = 0,
) -> NetworkResult:
    """Unit and group network measures of the survey's firms.

    Parameters
    ----------
    edges
        The tie list: a :class:`~pipeline.ingest.ties.TieList` from ``read_ties`` or a table
        with columns ``source``, ``target``, optional ``weight`` and ``type`` (cleaned and
        merged here by the same rules).
    directed
        Whether ties have a direction.
    units
        Ids of the survey units (firms); every one gets a row, isolates included.
    unit_groups
        Optional map unit id -> group (cluster, region) for the group measures; units missing
        from it (or mapped to a missing value) belong to no group.
    exact_max_nodes
        Above this many nodes, betweenness and closeness are estimated from sampled sources.
    sample_sources
        Number of sampled sources for the estimate (default: as many as a fixed work budget
        allows for the graph's size, between 64 and 2,000).
    seed
        Seed of the source sample.

    Returns
    -------
    NetworkResult

    Raises
    ------
    StudyError
        Bad rows in a tie table given directly, or two tie types that give the same
        ``degree_<type>`` column name.

    Notes
    -----
    See the module notes for each measure, the R igraph call it matches and the directed
    analogues. Group measures: see ``measures_method["groups"]`` of the result.
    """
    igraph = import_igraph()  # compiled; imported only when a study has a network

    tl = _as_tie_list(edges, directed)
    e = tl.edges
    warn: list[str] = []

    unit_ids = pd.unique(ids_of_nodes(list(units)).to_numpy(dtype=object))
    unit_ids = np.sort(unit_ids[unit_ids != ""]).astype(object)
    n_units = unit_ids.size
    # Edge endpoints as codes into the tie list's sorted ids, then into nodes: units first (in
    # unit order), institutions after them (sorted). Only the distinct ids are looked up.
    names, src_code, tgt_code = edge_codes(e)
    where_unit = pd.Index(unit_ids).get_indexer(names) if names.size else np.zeros(0, np.int64)
    is_inst = where_unit < 0
    inst_ids = names[is_inst].astype(object)
    name_pos = np.where(is_inst, n_units + np.cumsum(is_inst) - 1, where_unit).astype(np.int64)
    src = name_pos[src_code]
    tgt = name_pos[tgt_code]
    node_ids = np.concatenate([unit_ids, inst_ids])
    n = node_ids.size
    w = e["weight"].to_numpy(dtype=float)
    m = int(src.size)

    # Tie-type columns, named safely for formulas.
    slugs: dict[str, str] = {}
    for t in tl.types:
        s = type_slug(t)
        if s in slugs.values():
            other = next(k for k, v in slugs.items() if v == s)
            raise StudyError(
                f"tie types '{other}' and '{t}' would both become the column 'degree_{s}'",
                file=tl.file, column="type",
                fix="spell each tie type one way (types are compared ignoring case and "
                    "punctuation)",
            )
        slugs[t] = s

    # On the sampled path nodes are renumbered for memory locality (reverse Cuthill-McKee on the
    # skeleton; scipy.sparse is imported only there).
    approximate = n > exact_max_nodes
    lo, hi, ws, _ = _skeleton(src, tgt, w, max(n, 1))
    if approximate and lo.size:
        from scipy import sparse
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        sym = sparse.csr_matrix(
            (np.ones(2 * lo.size, dtype=np.int8), (np.r_[lo, hi], np.r_[hi, lo])), shape=(n, n))
        order = np.asarray(reverse_cuthill_mckee(sym, symmetric_mode=True), dtype=np.int64)
        del sym
    else:
        order = np.arange(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)          # internal id of node i
    isrc, itgt = pos[src], pos[tgt]
    ilo, ihi = pos[lo], pos[hi]

    def back(x: np.ndarray) -> np.ndarray:   # internal order -> node order
        return np.asarray(x)[pos]

    # Degree, strength, per-type degree (NumPy on the merged pairs).
    degree = np.bincount(np.r_[lo, hi], minlength=n).astype(np.int64)
    strength = np.bincount(np.r_[src, tgt], weights=np.r_[w, w], minlength=n)
    cols: dict[str, np.ndarray] = {"degree": degree}
    if directed:
        cols["in_degree"] = np.bincount(tgt, minlength=n).astype(np.int64)
        cols["out_degree"] = np.bincount(src, minlength=n).astype(np.int64)
    cols["strength"] = strength
    if directed:
        cols["in_strength"] = np.bincount(tgt, weights=w, minlength=n)
        cols["out_strength"] = np.bincount(src, weights=w, minlength=n)
    for t, s in slugs.items():
        has = e[f"ties_{t}"].to_numpy() > 0
        tl_lo, tl_hi, _, _ = _skeleton(src[has], tgt[has], w[has], max(n, 1))
        cols[f"degree_{s}"] = np.bincount(np.r_[tl_lo, tl_hi], minlength=n).astype(np.int64)

    # igraph graphs on internal ids: the undirected skeleton always; the directed graph for
    # exact betweenness and closeness of directed networks
    g_s = igraph.Graph(n=n, edges=np.column_stack([ilo, ihi]) if lo.size else [],
                       directed=False)
    g = g_s
    if directed and not approximate:
        g = igraph.Graph(n=n, edges=np.column_stack([isrc, itgt]) if m else [], directed=True)

    k_used: int | None = None
    if not approximate:
        bet = np.asarray(g.betweenness(directed=directed, weights=None), dtype=float)
        if n > 1:
            clo = np.asarray(g.harmonic_centrality(mode="out", weights=None, normalized=True),
                             dtype=float)
        else:
            clo = np.zeros(n)
    else:
        # Estimates from socap's batched search over sampled sources (about twice as fast as
        # igraph's subset betweenness, and the closeness distances come in the same pass).
        from scipy import sparse

        adj_out = sparse.csr_matrix((np.ones(m if directed else 2 * lo.size),
                                     (np.r_[isrc] if directed else np.r_[ilo, ihi],
                                      np.r_[itgt] if directed else np.r_[ihi, ilo])),
                                    shape=(n, n))
        adj_in = adj_out.T.tocsr() if directed else adj_out
        k_used = _sample_size(n, adj_out.nnz, sample_sources)
        rng = np.random.default_rng(seed)
        sources = pos[np.sort(rng.choice(n, size=k_used, replace=False))]  # drawn in node order
        dep, inv = sampled_path_measures(adj_out, adj_in, sources, directed=directed)
        del adj_out, adj_in
        scale = n / sources.size
        bet = dep * scale * (1.0 if directed else 0.5)
        clo = inv * scale / (n - 1)
        warn.append(
            f"The network has {n:,} nodes (more than {exact_max_nodes:,}): betweenness and "
            f"closeness are estimates from {k_used:,} randomly chosen source nodes (seed "
            f"{seed}), scaled to the whole network (unbiased; precise for central firms, "
            "noisy for firms with small values)."
        )

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        if g_s.ecount() > 0:
            # ARPACK starts from igraph's random vector: seeded, so that two runs of the same
            # study write the same units.parquet (the last digit differed before)
            import random as _random  # noqa: PLC0415

            igraph.set_random_number_generator(_random.Random(seed))
            try:
                eig = np.asarray(g_s.eigenvector_centrality(weights=None), dtype=float)
            finally:
                igraph.set_random_number_generator(_random)
        else:
            eig = np.zeros(n)
    # Triangles once, vectorised: clustering, constraint and effective size from them, for every
    # graph (equal to igraph's to rounding, tested; igraph's constraint costs sum_j d_j^2,
    # minutes with hub institutions).
    tri = triangles(n, ilo, ihi)
    tri_int = np.bincount(np.concatenate(tri[:3]), minlength=n).astype(float)
    d_int = np.bincount(np.r_[ilo, ihi], minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        clust = np.where(d_int >= 2, tri_int / (d_int * (d_int - 1.0) / 2.0), 0.0)
    cons = burt_constraint(n, ilo, ihi, ws, tri)
    del tri

    cols["betweenness"] = back(bet)
    cols["closeness"] = back(clo)
    eig_n = back(eig)
    eig_n[degree == 0] = 0.0
    cols["eigenvector"] = eig_n
    clust_n = back(clust)
    cols["clustering"] = clust_n
    cols["constraint"] = back(cons)
    d = degree.astype(float)
    tri_n = back(tri_int)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["effective_size"] = np.where(degree > 0, d - 2.0 * tri_n / d, np.nan)
    for c in ("constraint",):
        cols[c] = np.where(degree > 0, cols[c], np.nan)

    unit_measures = pd.DataFrame({k: v[:n_units] for k, v in cols.items()},
                                 index=pd.Index(unit_ids, name="unit"))

    # Whole-network figures.
    comps = g_s.connected_components()
    sizes = np.asarray(comps.sizes(), dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    pairs = n * (n - 1) / (1 if directed else 2)
    density = m / pairs if pairs > 0 else float("nan")
    mean_degree = float(degree.mean()) if n else float("nan")

    iso = int((degree[:n_units] == 0).sum())
    if n_units and iso:
        warn.append(
            f"{iso} of {n_units} units have no ties (isolates): they get 0 for degree, strength, "
            "betweenness, closeness, eigenvector and clustering, and no constraint or effective "
            "size."
        )
    if n_units and iso == n_units and m:
        sample_u = ", ".join(f"'{u}'" for u in unit_ids[:3])
        sample_e = ", ".join(f"'{x}'" for x in inst_ids[:3])
        warn.append(
            f"None of the {n_units} units appears in the tie list (units such as {sample_u}; tie "
            f"list ids such as {sample_e}): check that both use the same firm ids -- ids are "
            "compared as text, so '0012' and '12' differ."
        )
    elif inst_ids.size and n_units:
        stripped = pd.Index([u.lstrip("0") or "0" for u in unit_ids])
        look = [x for x in inst_ids[:100_000] if (x.lstrip("0") or "0") in stripped]
        if look:
            warn.append(
                f"{len(look)} tie-list id(s) match a unit id only when leading zeros are "
                f"ignored (e.g. '{look[0]}'): ids are compared as text, so they are treated as "
                "institutions, not as those units; correct the ids if they are the same firms."
            )
    if sizes.size > 1 and n_units:
        comp_of = np.asarray(comps.membership, dtype=np.int64)
        big = int(np.argmax(sizes))
        outside = int(((comp_of[pos[:n_units]] != big) & (degree[:n_units] > 0)).sum())
        if outside:
            warn.append(
                f"The network falls into {sizes.size} components: eigenvector centrality is "
                f"concentrated on the largest one, so the {outside} tied unit(s) outside it get "
                "values near 0 whatever their position in their own component."
            )
    for c in caught:
        text = str(c.message).split(" Location:")[0]
        if "nearly zero" in text or "disconnected" in text:
            continue  # covered by the component warning above
        warn.append(f"igraph: {text}")

    # Group measures.
    groups_df = None
    if unit_groups is not None:
        groups_df = _group_measures(unit_groups, unit_ids, n, src, tgt, lo, hi, degree,
                                    directed)
        if groups_df is not None and groups_df.empty:
            warn.append("No unit has a group, so there are no group network measures.")

    method = dict(MEASURES_METHOD_DIRECTED if directed else MEASURES_METHOD_UNDIRECTED)
    if approximate:
        for c in ("betweenness", "closeness"):
            method[c] = (f"ESTIMATED from {k_used} sampled source nodes (seed {seed}), scaled by "
                         f"n / k; otherwise " + method[c])
    method["groups"] = GROUP_METHOD
    return NetworkResult(
        unit_measures=unit_measures,
        directed=directed,
        nodes=n,
        edges=m,
        units=n_units,
        institutions=int(inst_ids.size),
        density=density,
        components=int(sizes.size),
        largest_component=int(sizes.max()) if sizes.size else 0,
        mean_degree=mean_degree,
        self_loops_dropped=tl.self_loops_dropped,
        duplicates_merged=tl.duplicates_merged,
        groups=groups_df,
        measures_method=method,
        approximate=approximate,
        sample_sources=k_used,
        notes=tl.notes,
        warnings=tuple(warn),
    )


def _group_measures(unit_groups: Mapping[Any, Any], unit_ids: np.ndarray, n: int,
                    src: np.ndarray, tgt: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    degree: np.ndarray, directed: bool) -> pd.DataFrame:
    """Group table (see GROUP_METHOD); vectorised over ties with bincount."""
    keys = ids_of_nodes(list(unit_groups.keys())).to_numpy(dtype=object)
    vals = pd.Series(list(unit_groups.values()), dtype=object)
    has = vals.notna().to_numpy()
    labels = (ids_of_nodes(vals[has]).to_numpy(dtype=object) if has.any()
              else np.array([], dtype=object))
    gmap = pd.Series(labels, index=pd.Index(keys[has]))
    gmap = gmap[~gmap.index.duplicated(keep="last")]
    gmap = gmap[gmap != ""]
    n_units = unit_ids.size
    unit_group = gmap.reindex(pd.Index(unit_ids)).to_numpy(dtype=object)
    known = pd.notna(unit_group)
    glabels = np.sort(pd.unique(unit_group[known]).astype(object)) if known.any() else \
        np.array([], dtype=object)
    cols = ["participants", "units", "ties", "density", "mean_degree", "centralization",
            "institution_share", "boundary_share"]
    if glabels.size == 0:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="group"))
    G = glabels.size
    gidx = pd.Index(glabels)
    # node -> group code: >= 0 group, -1 unit without group, -2 institution
    node_g = np.full(n, -2, dtype=np.int64)
    ucode = np.full(n_units, -1, dtype=np.int64)
    ucode[known] = gidx.get_indexer(unit_group[known])
    node_g[:n_units] = ucode
    units_in = np.bincount(ucode[ucode >= 0], minlength=G)
    part = np.bincount(ucode[(ucode >= 0) & (degree[:n_units] > 0)], minlength=G)

    # Ties as counted (ordered pairs when directed) for ties/density/shares.
    ga, gb = node_g[src], node_g[tgt]
    within = (ga >= 0) & (ga == gb)
    ties_in = np.bincount(ga[within], minlength=G)
    inst = np.zeros(G)
    bound = np.zeros(G)
    for x, y in ((ga, gb), (gb, ga)):
        mine = (x >= 0) & (x != y)
        inst += np.bincount(x[mine & (y == -2)], minlength=G)
        bound += np.bincount(x[mine & (y != -2)], minlength=G)
    touching = ties_in + inst + bound
    # Within-group skeleton degrees for mean degree and centralisation.
    sa, sb = node_g[lo], node_g[hi]
    sw = (sa >= 0) & (sa == sb)
    wdeg = np.bincount(np.r_[lo[sw], hi[sw]], minlength=n)[:n_units]
    frame = pd.DataFrame({"g": ucode, "d": wdeg})
    frame = frame[frame["g"] >= 0]
    dmax = frame.groupby("g")["d"].max().reindex(range(G)).to_numpy(dtype=float)
    dsum = frame.groupby("g")["d"].sum().reindex(range(G)).to_numpy(dtype=float)
    u = units_in.astype(float)
    possible = u * (u - 1.0) / (1.0 if directed else 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(possible > 0, ties_in / possible, np.nan)
        mean_deg = np.where(u > 0, dsum / u, np.nan)
        central = np.where(u > 2, (u * dmax - dsum) / ((u - 1.0) * (u - 2.0)), np.nan)
        inst_share = np.where(touching > 0, inst / touching, np.nan)
        bound_share = np.where(touching > 0, bound / touching, np.nan)
    return pd.DataFrame({
        "participants": part.astype(np.int64),
        "units": units_in.astype(np.int64),
        "ties": ties_in.astype(np.int64),
        "density": density,
        "mean_degree": mean_deg,
        "centralization": central,
        "institution_share": inst_share,
        "boundary_share": bound_share,
    }, index=pd.Index(glabels, name="group"))
