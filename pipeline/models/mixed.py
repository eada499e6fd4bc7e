"""Random-intercept linear mixed model by REML, as ``lme4::lmer(y ~ x + (1 | g), REML = TRUE)``.

Hand-written rather than statsmodels' MixedLM (~2 s to import, and a general optimiser over a
general covariance): with one random intercept the REML criterion profiles to a function of the
single relative standard deviation ``theta = sigma_u / sigma``, and every quantity it needs comes
from group means and the within-group cross-products of ``[X, y]`` -- one pass over the data, then
``O(J p^2)`` per evaluation, so 10^6 rows cost well under a second.

Notes
-----
With ``V = sigma^2 (I + theta^2 Z Z')`` and ``m_j = n_j / (1 + theta^2 n_j)``::

    X'V~^-1 X = W_xx + sum_j m_j xbar_j xbar_j'      (W: within-group cross-products)
    -2 l_R(theta) = (n-p) [1 + log(2 pi r2 / (n-p))] + sum_j log(1 + theta^2 n_j) + log|X'V~^-1 X|

where ``r2 = y'V~^-1 y - b'(X'V~^-1 X) b`` is the penalised residual sum of squares -- exactly
lme4's ``REMLcrit`` (log|L_theta|^2 + log|R_X|^2 + (n-p)(1 + log(2 pi r2/(n-p)))).  theta is
found on a log grid, then refined by bounded Brent; theta = 0 is checked as a boundary candidate
(a singular fit, as ``lme4::isSingular`` with tolerance 1e-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MixedFit", "fit_lmer"]


@dataclass
class MixedFit:
    coef: np.ndarray
    vcov: np.ndarray
    sigma2: float
    tau2: float
    theta: float
    reml_criterion: float
    n: int
    p: int
    n_groups: int
    singular: bool
    converged: bool
    fitted_fixed: np.ndarray   # X b

    @property
    def loglik(self) -> float:
        return -0.5 * self.reml_criterion

    @property
    def n_params(self) -> int:
        return self.p + 2

    @property
    def aic(self) -> float:
        return self.reml_criterion + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return self.reml_criterion + math.log(self.n) * self.n_params

    @property
    def icc(self) -> float:
        return self.tau2 / (self.tau2 + self.sigma2)


def fit_lmer(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> MixedFit:
    """Fit ``y ~ X + (1 | groups)`` by REML.

    Parameters
    ----------
    X
        Fixed-effects design (n, p).
    y
        Outcome (n,).
    groups
        Integer group codes 0..J-1 (n,).

    Notes
    -----
    Matches ``lme4::lmer(y ~ ... + (1 | g), REML = TRUE)``: fixed effects, ``vcov(fit)``
    (``sigma^2 (X'V~^-1 X)^-1``), ``VarCorr`` and ``REMLcrit``.
    """
    from scipy.optimize import minimize_scalar

    n, p = X.shape
    J = int(groups.max()) + 1
    nj = np.bincount(groups, minlength=J).astype(float)
    Z = np.column_stack([X, y])
    q = Z.shape[1]
    sums = np.empty((J, q))
    for k in range(q):
        sums[:, k] = np.bincount(groups, weights=Z[:, k], minlength=J)
    means = sums / nj[:, None]
    D = Z - means[groups]
    Wzz = D.T @ D
    dfr = n - p

    def parts(theta: float):
        m = nj / (1.0 + theta * theta * nj)
        M = Wzz + (means * m[:, None]).T @ means
        A = M[:p, :p]
        bvec = M[:p, p]
        L = np.linalg.cholesky(A)
        beta = np.linalg.solve(A, bvec)
        r2 = float(M[p, p] - bvec @ beta)
        logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
        crit = dfr * (1.0 + math.log(2.0 * math.pi * r2 / dfr)) + float(np.sum(np.log1p(theta * theta * nj))) + logdet
        return crit, beta, A, r2

    def crit(theta: float) -> float:
        try:
            return parts(theta)[0]
        except np.linalg.LinAlgError:
            return float("inf")

    grid = np.concatenate([[0.0], np.logspace(-4, 3, 36)])
    vals = np.array([crit(t) for t in grid])
    k = int(np.argmin(vals))
    lo = grid[max(k - 1, 0)]
    hi = grid[min(k + 1, len(grid) - 1)]
    converged = True
    if k == len(grid) - 1:
        converged = False
    res = minimize_scalar(crit, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10 * max(1.0, hi), "maxiter": 500})
    theta = float(res.x)
    if vals[0] <= res.fun:
        theta = 0.0
    if not res.success:
        converged = False
    c, beta, A, r2 = parts(theta)
    sigma2 = r2 / dfr
    vcov = sigma2 * np.linalg.inv(A)
    return MixedFit(beta, vcov, sigma2, theta * theta * sigma2, theta, c, n, p, J,
                    singular=theta < 1e-4, converged=converged, fitted_fixed=X @ beta)
