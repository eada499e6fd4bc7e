"""Simple slopes, Johnson-Neyman bounds and average marginal effects of a focal predictor.

All three work from the fitted coefficients ``b``, their covariance ``V`` (classical, HC3 or
cluster-robust: whichever the model reports) and the design's structure, so they hold for any
formula in which the focal predictor and the moderator share a term.

Notes
-----
The conditional slope of the focal predictor ``x`` at moderator value ``w`` is ``g(w)'b`` with
``g(w) = d x_row / d x`` (the derivative of the design row with respect to the focal variable,
other variables held at their means over the model's rows, dummy columns at their proportions).
For ``y ~ x * w + c`` this is ``b_x + b_xw w``; its variance is ``g(w)' V g(w)``.

Johnson-Neyman: ``g(w) = g0 + w g1`` is affine in ``w``, so the bounds solve
``(a + c w)^2 = q^2 (v0 + 2 v01 w + v1 w^2)`` with ``a = g0'b, c = g1'b, v0 = g0'Vg0,
v01 = g0'Vg1, v1 = g1'Vg1`` and ``q`` the two-sided critical value (t with the residual df for
gaussian models, normal otherwise).  The slope is significant where
``A w^2 + B w + C > 0`` (``A = c^2 - q^2 v1``, ``B = 2(ac - q^2 v01)``, ``C = a^2 - q^2 v0``):
between the roots when ``A < 0`` (``inside_significant = True``), outside them when ``A > 0``.
R has no single reference function; the tests write this arithmetic out in R
(``tests/reference/models_*.R``), as ``interactions::johnson_neyman`` does.

Average marginal effects (count and logit models) are computed counterfactually: every row's
moderator is set to ``w``, the derivative ``d mu_i / d x = h'(eta_i) g_i'b`` is taken at the row's
own covariate values (``h`` the inverse link) and averaged (weighted by the prior weights when
the model has them).  The delta-method gradient is analytic:
``d AME / d b = mean_i [h''(eta_i) (g_i'b) x_i + h'(eta_i) g_i]``.  This is what
``marginaleffects::avg_slopes(fit, variables = "x", newdata = datagrid(w = w, grid_type =
"counterfactual"))`` reports (up to its numerical derivatives).

References
----------
Aiken, L. S., & West, S. G. (1991). Multiple regression: Testing and interpreting interactions.
Johnson, P. O., & Neyman, J. (1936). Tests of certain linear hypotheses and their application to
some educational problems. Statistical Research Memoirs, 1, 57-93.
Bauer, D. J., & Curran, P. J. (2005). Probing interactions in fixed and multilevel regression.
Multivariate Behavioral Research, 40(3), 373-400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from pipeline.models.formula import ParsedColumn, build_matrix

__all__ = ["average_marginal_effects", "johnson_neyman", "slope_gradient"]


def slope_gradient(columns: list[ParsedColumn], values: Mapping[int, np.ndarray], focal: int,
                   n: int) -> np.ndarray:
    """Rows of d(design row)/d(focal) at the given atom values, shape (n, p)."""
    G = np.zeros((n, len(columns)))
    for j, col in enumerate(columns):
        atoms = [a for a, _ in col.factors]
        if focal not in atoms:
            continue
        acc = np.ones(n)
        for a, lev in col.factors:
            if a == focal:
                continue
            v = values[a]
            acc = acc * (v if lev is None else v[:, lev])
        G[:, j] = acc
    return G


def johnson_neyman(a: float, c: float, v0: float, v01: float, v1: float, q: float,
                   lo: float, hi: float) -> dict:
    """Johnson-Neyman bounds for slope a + c w with variance v0 + 2 v01 w + v1 w^2.

    Returns a dict with ``bounds`` (0-2 real roots, ascending), ``inside_significant``
    (True: significant between the bounds; False: outside them; None: no bounds),
    ``significant_regions`` (intervals of [lo, hi] where the slope is significant) and a
    plain-language ``summary``.
    """
    A = c * c - q * q * v1
    B = 2.0 * (a * c - q * q * v01)
    C = a * a - q * q * v0
    scale = max(abs(A), abs(B), abs(C), 1e-300)
    roots: list[float] = []
    inside: bool | None = None
    if abs(A) <= 1e-12 * scale:
        if abs(B) > 1e-12 * scale:
            roots = [-C / B]
    else:
        disc = B * B - 4.0 * A * C
        if disc >= 0:
            sq = math.sqrt(disc)
            qq = -0.5 * (B + math.copysign(sq, B))
            r1 = qq / A
            r2 = C / qq if qq != 0 else r1
            roots = sorted([r1, r2])
            inside = bool(A < 0)

    def sig(w: float) -> bool:
        return A * w * w + B * w + C > 0

    # significant regions within the observed range
    cuts = [lo] + [r for r in roots if lo < r < hi] + [hi]
    regions = []
    for left, right in zip(cuts[:-1], cuts[1:]):
        if right > left and sig(0.5 * (left + right)):
            if regions and abs(regions[-1][1] - left) < 1e-15:
                regions[-1][1] = right
            else:
                regions.append([left, right])
    if not regions:
        summary = "the slope is not significant anywhere in the observed range of the moderator"
    elif len(regions) == 1 and regions[0][0] == lo and regions[0][1] == hi:
        summary = "the slope is significant over the whole observed range of the moderator"
    else:
        parts = [f"from {r[0]:.4g} to {r[1]:.4g}" for r in regions]
        summary = "the slope is significant " + " and ".join(parts) + " (observed range)"
    return {"bounds": roots, "inside_significant": inside, "significant_regions": regions,
            "summary": summary, "A": A, "B": B, "C": C}


def _inv_link_derivs(family: str, eta: np.ndarray):
    if family in ("poisson", "negbin"):
        mu = np.exp(eta)
        return mu, mu, mu
    if family == "logit":
        mu = 1.0 / (1.0 + np.exp(-eta))
        d1 = mu * (1.0 - mu)
        return mu, d1, d1 * (1.0 - 2.0 * mu)
    one = np.ones_like(eta)
    return eta, one, np.zeros_like(eta)


def average_marginal_effects(columns: list[ParsedColumn], values: Mapping[int, np.ndarray],
                             focal: int, moderator: int, at: np.ndarray, coef: np.ndarray,
                             vcov: np.ndarray, family: str, offset: np.ndarray | None,
                             weights: np.ndarray | None, n: int) -> list[tuple[float, float]]:
    """(AME, delta-method SE) of the focal predictor at each moderator value in ``at``."""
    out = []
    for w in at:
        vals = dict(values)
        vals[moderator] = np.full(n, float(w))
        X = build_matrix(columns, vals, n)
        G = slope_gradient(columns, vals, focal, n)
        eta = X @ coef + (0.0 if offset is None else offset)
        _, d1, d2 = _inv_link_derivs(family, eta)
        s = G @ coef
        wt = np.ones(n) if weights is None else weights
        tot = float(np.sum(wt))
        ame = float(np.sum(wt * d1 * s) / tot)
        jac = ((wt * d2 * s) @ X + (wt * d1) @ G) / tot
        se = float(math.sqrt(max(jac @ vcov @ jac, 0.0)))
        out.append((ame, se))
    return out
