"""pipeline.report.derived: the CFA numbers the report adds to results (loading z, p and CI,
indicator R-squared, residual correlations) against lavaan 0.6.14 (tests/reference/report_cfa.R
on tests/reference/data/cfa_socap.csv)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.measure.cfa import fit_cfa
from pipeline.report.derived import complete_results

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def fitted():
    d = pd.read_csv(REF / "data" / "cfa_socap.csv")
    cons = {c: [f"{c}_{j}" for j in range(1, 5)]
            for c in ("coordination", "cooperation", "reciprocity", "trust")}
    res = fit_cfa(d, cons, {"social_capital": list(cons)})
    results = {"cfa": res.to_dict()}
    complete_results(results, {"cfa": res})
    return results["cfa"], json.loads((REF / "report_cfa.json").read_text())


def test_loading_tests_match_lavaan(fitted):
    cfa, ref = fitted
    n = 0
    for row in ref["loadings"]:
        block = "higher_order" if row["lhs"] == "social_capital" else "loadings"
        cell = cfa[block][row["lhs"]][row["rhs"]]
        if row["se"] == 0:  # the marker: fixed, no test (lavaan prints an empty z and p)
            assert cell["z"] is None and cell["p"] is None and cell["ci_low"] is None
            continue
        assert cell["z"] == pytest.approx(row["z"], abs=2e-3)
        assert cell["p"] == pytest.approx(row["pvalue"], abs=1e-6)
        assert cell["ci_low"] == pytest.approx(row["ci.lower"], abs=1e-4)
        assert cell["ci_high"] == pytest.approx(row["ci.upper"], abs=1e-4)
        n += 1
    assert n == 15


def test_r2_and_residual_correlations_match_lavaan(fitted):
    cfa, ref = fitted
    assert len(ref["r2"]) == 16
    for item, v in ref["r2"].items():
        assert cfa["r2"][item] == pytest.approx(v, abs=1e-4)
    items = ref["items"]
    res = cfa["residual_correlations"]
    for i, a in enumerate(items):
        for j, b in enumerate(items):
            expected = 0.0 if i == j else ref["residual_cor"][i][j]
            assert res[a][b] == pytest.approx(expected, abs=1e-5), (a, b)
    top = cfa["largest_residuals"]
    assert len(top) == 10
    sizes = [abs(t["residual"]) for t in top]
    assert sizes == sorted(sizes, reverse=True)
    worst = max(abs(ref["residual_cor"][i][j]) for i in range(16) for j in range(i))
    assert sizes[0] == pytest.approx(worst, abs=1e-5)


def test_keys_a_stage_wrote_are_kept(fitted):
    """A stage that writes the agreed keys itself wins: nothing is overwritten."""
    cfa = {"loadings": {"f": {"x": {"estimate": 0.5, "se": 0.1, "z": 99.0, "p": 0.5,
                                    "ci_low": -1.0, "ci_high": 2.0}}},
           "residual_variances": {"x": {"estimate": 1.0, "se": 0.1, "std": 0.4}},
           "r2": {"x": 0.123}, "residual_correlations": {"x": {"x": 0.0}}}
    out = complete_results({"cfa": json.loads(json.dumps(cfa))}, {})["cfa"]
    assert out == cfa
