"""Numbers the report shows that the stage dictionaries may not carry yet, added to results
before results.json is written (so every number of the report is still in results.json).

Each addition fills a key only where it is absent -- a stage that writes the key itself (the
agreed names of the results.json interface) always wins -- and each is computed from the
fitted object of the run, never re-estimated here:

* ``cfa.loadings.<c>.<item>`` and ``cfa.higher_order.<h>.<c>``: ``z`` and ``p`` from the
  engine's parameter table (estimate / SE, normal distribution, as lavaan's
  ``parameterEstimates()``) and the Wald 95% interval ``ci_low``, ``ci_high`` (estimate +-
  1.959964 SE, lavaan's ``ci.lower``/``ci.upper``); a fixed loading (SE 0) gets none;
* ``cfa.r2.<item>``: the indicator's R-squared, 1 - its standardised residual variance
  (``lavInspect(fit, "r2")``);
* ``cfa.residual_correlations``: observed minus model-implied correlations of the items
  (``residuals(fit, type = "cor")``, Bollen's definition, lavaan's default) and
  ``cfa.largest_residuals`` (the ten largest in absolute value).
"""

from __future__ import annotations

import math

import numpy as np

Z975 = 1.959963984540054  # qnorm(0.975)


def complete_results(results: dict, artefacts: dict) -> dict:
    """``results`` with the additions of the module docstring (changed in place, returned)."""
    cfa = results.get("cfa")
    if isinstance(cfa, dict):
        _loading_tests(cfa, artefacts.get("cfa"))
        _r2(cfa)
        _residual_correlations(cfa, artefacts.get("cfa"))
    return results


def _loading_tests(cfa: dict, fitted) -> None:
    table = getattr(fitted, "parameters", None)
    by_key = {}
    if table is not None and len(table):
        for row in table.itertuples(index=False):
            if row.op == "=~":
                by_key[(row.lhs, row.rhs)] = row
    for block in ("loadings", "higher_order"):
        for factor, items in (cfa.get(block) or {}).items():
            for item, cell in (items or {}).items():
                if not isinstance(cell, dict):
                    continue
                est, se = cell.get("estimate"), cell.get("se")
                fixed = se is not None and se == 0
                if "z" not in cell:
                    row = by_key.get((factor, item))
                    z = getattr(row, "z", None) if row is not None else None
                    cell["z"] = None if fixed or z is None or not math.isfinite(z) else float(z)
                if "p" not in cell:
                    row = by_key.get((factor, item))
                    p = getattr(row, "pvalue", None) if row is not None else None
                    cell["p"] = None if fixed or p is None or not math.isfinite(p) else float(p)
                if "ci_low" not in cell:
                    ok = not fixed and est is not None and se is not None and math.isfinite(se)
                    cell["ci_low"] = est - Z975 * se if ok else None
                    cell["ci_high"] = est + Z975 * se if ok else None


def _r2(cfa: dict) -> None:
    if "r2" in cfa:
        return
    resid = cfa.get("residual_variances") or {}
    r2 = {}
    for item, v in resid.items():
        std = (v or {}).get("std")
        r2[item] = None if std is None else 1.0 - std
    if r2:
        cfa["r2"] = r2


def _residual_correlations(cfa: dict, fitted) -> None:
    if "residual_correlations" in cfa:
        return
    model = getattr(fitted, "_model", None)
    state = getattr(model, "fitted", None)
    if model is None or state is None:
        return
    try:
        s = np.asarray(state.mom.cov[0], dtype=float)
        sigma = np.asarray(model.sigma, dtype=float)
    except (AttributeError, IndexError, TypeError):
        return
    items = list(model.items)
    if s.shape != sigma.shape or s.shape[0] != len(items):
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        ds, dm = np.sqrt(np.diag(s)), np.sqrt(np.diag(sigma))
        res = s / np.outer(ds, ds) - sigma / np.outer(dm, dm)
    np.fill_diagonal(res, 0.0)
    cfa["residual_correlations"] = {a: {b: float(res[i, j]) for j, b in enumerate(items)}
                                    for i, a in enumerate(items)}
    if "largest_residuals" not in cfa:
        pairs = [(abs(res[i, j]), i, j) for i in range(len(items)) for j in range(i)
                 if math.isfinite(res[i, j])]
        pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
        cfa["largest_residuals"] = [{"lhs": items[i], "rhs": items[j],
                                     "residual": float(res[i, j])} for _, i, j in pairs[:10]]
