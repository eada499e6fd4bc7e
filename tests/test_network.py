"""Tests of pipeline/network.py against R igraph (tests/reference/network_igraph.*)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.ingest.ties import read_ties
from pipeline.network import network_measures, sampled_path_measures

REF = Path(__file__).parent / "reference"
DATA = REF / "data"
R = json.loads((REF / "network_igraph.json").read_text())
TOL = 1e-6
CASES = {
    "directed": ("network_directed", True),
    "undirected": ("network_undirected", False),
    "random_directed": ("network_random", True),
    "random_undirected": ("network_random", False),
}


def load(case: str):
    stem, directed = CASES[case]
    ties = read_ties(DATA / f"{stem}_ties.csv", directed=directed)
    units = pd.read_csv(DATA / f"{stem}_units.csv", dtype=str, keep_default_na=False)
    groups = {u: (g if g else None) for u, g in zip(units["unit"], units["group"])}
    return ties, list(units["unit"]), groups, directed


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    ties, units, groups, directed = load(request.param)
    res = network_measures(ties, directed=directed, units=units, unit_groups=groups)
    return request.param, res, R[request.param]


def test_unit_measures_match_igraph(case):
    name, res, ref = case
    um = res.unit_measures
    exp_cols = [c for c in ref["unit_measures"] if not c.startswith("r_default")]
    assert set(um.columns) == set(exp_cols)
    units = sorted(ref["unit_measures"]["degree"])
    assert list(um.index) == units
    for col in exp_cols:
        exp = pd.Series(ref["unit_measures"][col], dtype=float).reindex(units).to_numpy()
        got = um[col].to_numpy(dtype=float)
        np.testing.assert_allclose(got, exp, atol=TOL, rtol=0, equal_nan=True,
                                   err_msg=f"{name}: {col}")


def test_whole_network_and_groups_match_igraph(case):
    name, res, ref = case
    d = res.to_dict()
    for key in ("nodes", "edges", "units", "institutions", "components", "largest_component",
                "self_loops_dropped", "duplicates_merged", "directed"):
        assert d[key] == ref[key], (name, key)
    for key in ("density", "mean_degree"):
        assert d[key] == pytest.approx(ref[key], abs=TOL), (name, key)
    assert set(d["groups"]) == set(ref["groups"])
    for g, exp in ref["groups"].items():
        got = d["groups"][g]
        for key, val in exp.items():
            if val is None:
                assert got[key] is None, (name, g, key)
            else:
                assert got[key] == pytest.approx(val, abs=TOL), (name, g, key)


def test_column_order_and_dict(case):
    _, res, _ = case
    cols = list(res.unit_measures.columns)
    assert cols[0] == "degree"
    assert cols[-6:] == ["betweenness", "closeness", "eigenvector", "clustering", "constraint",
                         "effective_size"]
    d = res.to_dict()
    assert {"nodes", "edges", "units", "institutions", "directed", "density", "components",
            "largest_component", "mean_degree", "self_loops_dropped", "duplicates_merged",
            "groups", "measures_method", "warnings"} <= set(d)
    json.dumps(d)
    assert not res.approximate and d["sample_sources"] is None


def test_ids_stay_text_and_isolates():
    ties, units, groups, _ = load("directed")
    res = network_measures(ties, directed=True, units=units, unit_groups=groups)
    um = res.unit_measures
    assert "0012" in um.index and "12" in um.index and "007" in um.index
    iso = um.loc["A15"]
    assert iso["degree"] == 0 and iso["betweenness"] == 0 and iso["eigenvector"] == 0
    assert np.isnan(iso["constraint"]) and np.isnan(iso["effective_size"])
    assert any("have no ties (isolates)" in w for w in res.warnings)


def test_dataframe_input_and_merging_to_undirected():
    # A raw table gives the same as the file; a directed TieList folds to undirected.
    raw = pd.read_csv(DATA / "network_undirected_ties.csv", dtype=str, keep_default_na=False)
    units = pd.read_csv(DATA / "network_undirected_units.csv", dtype=str)["unit"]
    a = network_measures(raw, directed=False, units=units)
    ties, *_ = load("undirected")
    b = network_measures(ties, directed=False, units=units)
    pd.testing.assert_frame_equal(a.unit_measures, b.unit_measures)
    tl_dir = read_ties(DATA / "network_random_ties.csv", directed=True)
    ref = R["random_undirected"]
    runits = sorted(ref["unit_measures"]["degree"])
    c = network_measures(tl_dir, directed=False, units=runits)
    assert c.duplicates_merged == ref["duplicates_merged"]
    exp = pd.Series(ref["unit_measures"]["constraint"], dtype=float).reindex(runits)
    np.testing.assert_allclose(c.unit_measures["constraint"], exp, atol=TOL)


def test_numeric_unit_ids_match_text_ids():
    edges = pd.DataFrame({"source": ["1", "2"], "target": ["2", "3"]})
    res = network_measures(edges, directed=False, units=[1, 2.0, 3, 4])
    assert list(res.unit_measures.index) == ["1", "2", "3", "4"]
    assert res.unit_measures.loc["2", "degree"] == 2 and res.institutions == 0


def test_leading_zero_mismatch_warns():
    edges = pd.DataFrame({"source": ["12", "13"], "target": ["13", "0014"]})
    res = network_measures(edges, directed=False, units=["0012", "0013", "0014"])
    assert any("leading zeros" in w for w in res.warnings)


def test_type_name_collision_is_study_error():
    edges = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "type": ["R&D", "r d"]})
    with pytest.raises(StudyError, match="degree_r_d"):
        network_measures(edges, directed=False, units=["a", "b", "c"])


def test_sampled_paths_exact_with_all_sources():
    # With every node as a source the batched searches give igraph's exact values.
    import igraph
    from scipy import sparse

    for directed in (False, True):
        g = igraph.Graph.Erdos_Renyi(n=300, m=900, directed=directed)
        g.add_vertices(3)  # isolates
        n = g.vcount()
        el = np.array(g.get_edgelist())
        if directed:
            out = sparse.csr_matrix((np.ones(len(el)), (el[:, 0], el[:, 1])), shape=(n, n))
            inn = out.T.tocsr()
        else:
            out = sparse.csr_matrix((np.ones(2 * len(el)), (np.r_[el[:, 0], el[:, 1]],
                                                            np.r_[el[:, 1], el[:, 0]])),
                                    shape=(n, n))
            inn = out
        dep, inv = sampled_path_measures(out, inn, np.arange(n), directed=directed)
        bet = dep if directed else dep / 2
        np.testing.assert_allclose(bet, g.betweenness(directed=directed), atol=1e-8)
        np.testing.assert_allclose(inv / (n - 1), g.harmonic_centrality(mode="out",
                                                                        normalized=True),
                                   atol=1e-12)


def test_approximation_path_is_unbiased_and_flagged():
    ties, units, groups, _ = load("random_undirected")
    exact = network_measures(ties, directed=False, units=units, unit_groups=groups)
    # Force the large-graph path on a small graph: every node as source -> exact.
    n = exact.nodes
    full = network_measures(ties, directed=False, units=units, exact_max_nodes=10,
                            sample_sources=n)
    np.testing.assert_allclose(full.unit_measures["betweenness"],
                               exact.unit_measures["betweenness"], atol=1e-8)
    np.testing.assert_allclose(full.unit_measures["closeness"],
                               exact.unit_measures["closeness"], atol=1e-12)
    assert full.approximate and any("estimates" in w for w in full.warnings)
    assert "ESTIMATED" in full.to_dict()["measures_method"]["betweenness"]
    # A sample of 40 of 155 sources: averaged over seeds, close to exact (unbiased).
    est = np.mean([network_measures(ties, directed=False, units=units, exact_max_nodes=10,
                                    sample_sources=40, seed=s).unit_measures["betweenness"]
                   for s in range(30)], axis=0)
    top = exact.unit_measures["betweenness"].nlargest(10).index
    ratio = est[exact.unit_measures.index.get_indexer(top)].sum() / \
        exact.unit_measures.loc[top, "betweenness"].sum()
    assert 0.9 < ratio < 1.1
    # Same seed -> same numbers.
    a = network_measures(ties, directed=False, units=units, exact_max_nodes=10,
                         sample_sources=20, seed=3)
    b = network_measures(ties, directed=False, units=units, exact_max_nodes=10,
                         sample_sources=20, seed=3)
    pd.testing.assert_frame_equal(a.unit_measures, b.unit_measures)


def test_effective_size_against_networkx_on_undirected_unweighted():
    # networkx's effective_size is right for undirected unweighted graphs (Borgatti's formula).
    nx = pytest.importorskip("networkx")

    g = nx.gnm_random_graph(120, 500, seed=4)
    edges = pd.DataFrame(list(g.edges()), columns=["source", "target"]).astype(str)
    res = network_measures(edges, directed=False, units=[str(i) for i in g.nodes()])
    ref = nx.effective_size(g)
    got = res.unit_measures["effective_size"]
    np.testing.assert_allclose(got.loc[[str(i) for i in ref]].to_numpy(),
                               np.array(list(ref.values()), dtype=float), atol=1e-12)


def test_no_ties_at_all():
    edges = pd.DataFrame({"source": pd.Series([], dtype=str), "target": pd.Series([], dtype=str)})
    res = network_measures(edges, directed=False, units=["a", "b"], unit_groups={"a": "x"})
    assert (res.unit_measures["degree"] == 0).all()
    assert (res.unit_measures["eigenvector"] == 0).all()
    assert res.to_dict()["groups"]["x"]["participants"] == 0


def test_approximation_path_directed_all_sources_is_exact():
    ties, units, _, _ = load("random_directed")
    exact = network_measures(ties, directed=True, units=units)
    full = network_measures(ties, directed=True, units=units, exact_max_nodes=10,
                            sample_sources=exact.nodes)
    for col in ("betweenness", "closeness"):
        np.testing.assert_allclose(full.unit_measures[col], exact.unit_measures[col], atol=1e-8)


@pytest.mark.parametrize("name", list(CASES))
def test_sampled_path_with_every_source_matches_igraph(name):
    # The estimated path (nodes renumbered by reverse Cuthill-McKee, socap's batched search) with
    # every node as a source is exact: the same values as R's igraph.
    ties, units, groups, directed = load(name)
    n = network_measures(ties, directed=directed, units=units, unit_groups=groups).nodes
    res = network_measures(ties, directed=directed, units=units, unit_groups=groups,
                           exact_max_nodes=0, sample_sources=n)
    ref = R[name]
    assert res.approximate and res.sample_sources == n
    assert "ESTIMATED" in res.to_dict()["measures_method"]["betweenness"]
    idx = res.unit_measures.index
    for col in res.unit_measures.columns:
        exp = pd.Series(ref["unit_measures"][col], dtype=float).reindex(idx).to_numpy()
        np.testing.assert_allclose(res.unit_measures[col].to_numpy(dtype=float), exp, atol=TOL,
                                   rtol=0, equal_nan=True, err_msg=f"{name}: {col}")
    assert res.to_dict()["components"] == ref["components"]


@pytest.mark.parametrize("directed", [False, True])
def test_triangles_and_constraint_against_igraph_with_hubs(directed):
    import igraph

    from pipeline.network import burt_constraint, triangles

    rng = np.random.default_rng(11)
    g = igraph.Graph.Barabasi(600, 5, directed=directed)   # hubs
    extra = rng.integers(0, 600, size=(300, 2))             # mutual ties when directed
    g.add_edges([(int(a), int(b)) for a, b in extra] + [(int(b), int(a)) for a, b in extra[:50]])
    g.simplify()
    g.add_vertices(3)
    w = rng.gamma(2.0, 1.0, g.ecount())
    g.es["weight"] = w.tolist()
    n = g.vcount()
    el = np.array(g.get_edgelist())
    lo, hi = el.min(axis=1), el.max(axis=1)
    uk, inv = np.unique(lo * n + hi, return_inverse=True)
    ws = np.bincount(inv, weights=w)
    L, H = uk // n, uk % n
    tri = triangles(n, L, H, chunk=1000)   # small chunks: exercise the chunking
    skel = igraph.Graph(n=n, edges=np.column_stack([L, H]).tolist())
    assert len(tri[0]) == len(skel.list_triangles())
    per_node = np.bincount(np.concatenate(tri[:3]), minlength=n)
    d = np.asarray(skel.degree(), dtype=float)
    c = np.asarray(skel.transitivity_local_undirected(mode="zero"))
    np.testing.assert_array_equal(per_node, np.rint(c * d * (d - 1) / 2))
    np.testing.assert_allclose(burt_constraint(n, L, H, ws, tri),
                               g.constraint(weights="weight"), atol=1e-12, equal_nan=True)


def test_import_cost_rules():
    # Importing the stages loads no heavy library; igraph comes only with a network, without
    # pulling in matplotlib.pyplot, and matplotlib stays usable afterwards.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import pipeline.levels, pipeline.network, pipeline.ingest.ties\n"
        "heavy = [m for m in ('igraph', 'scipy.stats', 'scipy.sparse', 'statsmodels', "
        "'pingouin', 'factor_analyzer', 'semopy', 'matplotlib', 'networkx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import pandas as pd\n"
        "from pipeline.network import network_measures\n"
        "r = network_measures(pd.DataFrame({'source': ['a'], 'target': ['b']}), directed=False,"
        " units=['a', 'b'])\n"
        "assert 'igraph' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('matplotlib') is not None:  # still importable\n"
        "    import matplotlib\n"
        "    matplotlib.use('Agg')\n"
        "    import matplotlib.pyplot as plt\n"
        "    plt.figure(); plt.close('all')\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=root,
                         capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_eigenvector_centrality_is_the_same_in_every_run():
    """igraph's ARPACK starts from a random vector; socap seeds it, so that two runs of a study
    write the same units.parquet (unseeded, the last digits differed from call to call). Same
    process and machine: exact equality is the promise here."""
    rng = np.random.default_rng(5)
    n = 400
    src, dst = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    keep = src != dst
    ties = pd.DataFrame({"source": [f"f{i}" for i in src[keep]],
                         "target": [f"f{i}" for i in dst[keep]]})
    units = [f"f{i}" for i in range(n)]
    runs = [network_measures(ties, directed=False, units=units, seed=3).unit_measures["eigenvector"]
            for _ in range(4)]
    for other in runs[1:]:
        assert np.array_equal(runs[0].to_numpy(), other.to_numpy())
